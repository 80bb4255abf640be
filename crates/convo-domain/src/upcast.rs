//! Upcasting: an event payload written under an older [`SCHEMA_VERSION`] is turned into the
//! current shape when it is read, one version step at a time, so `evolve`, projectors, replays
//! and exports only ever see the current shape. Stored and published payloads are never
//! rewritten (`schemas/README.md`, "Evolving the schemas"; ADR 0010).

use serde_json::Value;

use crate::event::SCHEMA_VERSION;

/// Why a payload cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum UpcastError {
    #[error("schema version {0} is not one this build reads (1 to {SCHEMA_VERSION})")]
    UnknownVersion(i32),
    #[error("payload is not a JSON object")]
    NotAnObject,
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// One step: turns a payload of version `n` into version `n + 1`. `STEPS[0]` upcasts v1 to v2.
type Step = fn(serde_json::Map<String, Value>) -> serde_json::Map<String, Value>;

const STEPS: [Step; (SCHEMA_VERSION - 1) as usize] = [v1_to_v2];

/// The payload of `schema_version` in the current shape: every step from that version to
/// [`SCHEMA_VERSION`] applied in turn. A current payload is returned as it is.
pub fn upcast(schema_version: i32, payload: Value) -> Result<Value, UpcastError> {
    if !(1..=SCHEMA_VERSION).contains(&schema_version) {
        return Err(UpcastError::UnknownVersion(schema_version));
    }
    if schema_version == SCHEMA_VERSION {
        return Ok(payload);
    }
    let Value::Object(mut object) = payload else {
        return Err(UpcastError::NotAnObject);
    };
    for step in &STEPS[(schema_version - 1) as usize..] {
        object = step(object);
    }
    Ok(Value::Object(object))
}

/// v2 renamed `FollowUpSet.date` to `due_at` (`date` was ambiguous; `due_at` follows `at` and
/// `deleted_at`). Other types are unchanged.
fn v1_to_v2(mut payload: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    if payload.get("type").and_then(Value::as_str) == Some("FollowUpSet")
        && let Some(date) = payload.remove("date")
    {
        payload.insert("due_at".to_owned(), date);
    }
    payload
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{Event, EventBody};

    #[test]
    fn a_v1_follow_up_is_read_as_v2() {
        let v1 = json!({"type": "FollowUpSet", "at": "2026-05-04T16:12:03Z", "staff_uid": "s",
                        "client_uid": "c", "date": "2026-05-06T10:31:21Z", "message": "call back"});
        let current = upcast(1, v1).unwrap();
        assert_eq!(current["due_at"], "2026-05-06T10:31:21Z");
        assert!(current.get("date").is_none());
        let event = Event::decode_value(1, current.clone()).unwrap();
        let EventBody::FollowUpSet { due_at, message } = &event.body else {
            panic!("not a FollowUpSet: {event:?}");
        };
        assert_eq!(due_at.unwrap().to_rfc3339(), "2026-05-06T10:31:21+00:00");
        assert_eq!(message, "call back");
        // What the current version writes is what an upcast v1 payload reads as.
        assert_eq!(serde_json::to_value(&event).unwrap(), current);
    }

    #[test]
    fn a_v1_follow_up_without_a_date_keeps_none() {
        let v1 = r#"{"type": "FollowUpSet", "at": "2026-05-04T16:12:03Z", "staff_uid": "s",
                     "client_uid": "c", "date": null, "message": ""}"#;
        let event = Event::decode(1, v1).unwrap();
        assert!(matches!(
            event.body,
            EventBody::FollowUpSet { due_at: None, .. }
        ));
    }

    #[test]
    fn other_types_and_current_payloads_pass_unchanged() {
        let archived = json!({"type": "Archived", "at": "2026-05-04T16:12:03Z", "client_uid": "c",
                              "date": "kept"});
        assert_eq!(upcast(1, archived.clone()).unwrap(), archived);
        let v2 = json!({"type": "FollowUpSet", "at": "2026-05-04T16:12:03Z", "client_uid": "c",
                        "due_at": null, "message": "", "date": "an unknown field, kept"});
        assert_eq!(upcast(SCHEMA_VERSION, v2.clone()).unwrap(), v2);
    }

    #[test]
    fn the_version_decides_how_a_payload_reads() {
        // Read as current, a v1 payload's date would be silently lost (`due_at` is optional):
        // this is why every reader goes through the version it was written with.
        let v1 = r#"{"type": "FollowUpSet", "at": "2026-05-04T16:12:03Z", "client_uid": "c",
                     "date": "2026-05-06T10:31:21Z", "message": ""}"#;
        let misread = Event::decode(SCHEMA_VERSION, v1).unwrap();
        assert!(matches!(
            misread.body,
            EventBody::FollowUpSet { due_at: None, .. }
        ));
        let read = Event::decode(1, v1).unwrap();
        assert!(matches!(
            read.body,
            EventBody::FollowUpSet {
                due_at: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn unknown_versions_are_refused() {
        for version in [0, -1, SCHEMA_VERSION + 1] {
            assert!(matches!(
                upcast(version, json!({})),
                Err(UpcastError::UnknownVersion(v)) if v == version
            ));
        }
        assert!(matches!(
            upcast(1, json!([])),
            Err(UpcastError::NotAnObject)
        ));
    }
}
