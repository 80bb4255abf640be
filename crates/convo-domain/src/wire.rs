//! The JSON command format upstream services publish (spec §10), shared by `convo command` and
//! the Kafka intake. One object per command:
//!
//! ```json
//! {"type": "UpdateConversation", "command_id": "c-1", "conversation_uid": "89m2pnabgozdvd9f",
//!  "business_uid": "b1", "staff_uid": "s1", "body": {"archived": true}}
//! ```
//!
//! A message that is not such an object (not JSON, unknown `type`, missing envelope fields) is
//! [`Unparseable`]: it goes to the dead-letter topic. A well-formed command whose update body is
//! invalid is a normal rejected command (422 outcome), like the HTTP request would be.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::command::{Action, Command, RecordMessage, StartConversation};
use crate::rejection::Rejection;
use crate::uid::Uid;
use crate::validate::{MAX_BODY_BYTES, validate_update};

/// Longest accepted command id (uids follow [`Uid`]'s rule).
pub const MAX_ID_LEN: usize = 128;

/// A command as published: the envelope fields every command has, then its own.
#[derive(Debug, Clone, Deserialize)]
pub struct WireCommand {
    pub command_id: String,
    pub conversation_uid: String,
    pub business_uid: String,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(flatten)]
    pub kind: WireKind,
    /// The message as canonical JSON (sorted keys, no whitespace): what "the same command" means
    /// for idempotency.
    #[serde(skip)]
    pub canonical: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
#[allow(clippy::large_enum_variant)]
pub enum WireKind {
    StartConversation(StartConversation),
    RecordMessage(RecordMessage),
    MergeConversation {
        target_uid: String,
    },
    UpdateConversation {
        staff_uid: String,
        body: serde_json::Value,
    },
    DeleteConversation {},
}

impl WireKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::StartConversation(_) => "StartConversation",
            Self::RecordMessage(_) => "RecordMessage",
            Self::MergeConversation { .. } => "MergeConversation",
            Self::UpdateConversation { .. } => "UpdateConversation",
            Self::DeleteConversation {} => "DeleteConversation",
        }
    }

    /// The command type as metrics label it (as [`crate::command::Action::type_label`]).
    pub fn type_label(&self) -> &'static str {
        match self {
            Self::StartConversation(_) => "start",
            Self::RecordMessage(_) => "record_message",
            Self::MergeConversation { .. } => "merge",
            Self::UpdateConversation { .. } => "update",
            Self::DeleteConversation {} => "delete",
        }
    }
}

/// Why a message is not a command at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unparseable(pub String);

/// Parses one command message.
pub fn parse_command(bytes: &[u8]) -> Result<WireCommand, Unparseable> {
    let not_a_command = |e: serde_json::Error| Unparseable(format!("not a command: {e}"));
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(not_a_command)?;
    let canonical = value.to_string();
    let mut command: WireCommand = serde_json::from_value(value).map_err(not_a_command)?;
    command.canonical = canonical;
    let id = &command.command_id;
    if id.is_empty() || id.chars().count() > MAX_ID_LEN {
        return Err(Unparseable(format!(
            "command_id must be 1-{MAX_ID_LEN} characters"
        )));
    }
    for (name, uid) in uids(&command) {
        Uid::parse(uid).map_err(|e| Unparseable(format!("{name}: {e}")))?;
    }
    Ok(command)
}

/// Every uid a command names, by field: all follow the one uid rule ([`Uid`]).
fn uids(command: &WireCommand) -> Vec<(&'static str, &str)> {
    let mut uids = vec![
        ("conversation_uid", command.conversation_uid.as_str()),
        ("business_uid", command.business_uid.as_str()),
    ];
    match &command.kind {
        WireKind::UpdateConversation { staff_uid, .. } => uids.push(("staff_uid", staff_uid)),
        WireKind::MergeConversation { target_uid } => uids.push(("target_uid", target_uid)),
        WireKind::StartConversation(start) => {
            uids.push(("client.uid", &start.client.uid));
            uids.push(("staff.uid", &start.staff.uid));
        }
        WireKind::RecordMessage(message) => uids.extend(
            message
                .staff_uid
                .as_deref()
                .map(|staff| ("staff_uid", staff)),
        ),
        WireKind::DeleteConversation {} => {}
    }
    uids
}

impl WireCommand {
    /// The domain command, decided at `now`; an invalid update body is a rejection (422).
    pub fn to_command(&self, now: DateTime<Utc>) -> Result<Command, Rejection> {
        let action = match &self.kind {
            WireKind::StartConversation(start) => Action::Start(start.clone()),
            WireKind::RecordMessage(message) => Action::RecordMessage(message.clone()),
            WireKind::MergeConversation { target_uid } => Action::MergeInto {
                target_uid: target_uid.clone(),
            },
            WireKind::UpdateConversation { staff_uid, body } => {
                // The cap of an HTTP body holds for the same body on the commands topic.
                if body.to_string().len() > MAX_BODY_BYTES {
                    return Err(Rejection::TooLarge);
                }
                Action::Update {
                    staff_uid: staff_uid.clone(),
                    changes: validate_update(body)?,
                }
            }
            WireKind::DeleteConversation {} => Action::Delete,
        };
        Ok(Command {
            conversation_uid: self.conversation_uid.clone(),
            business_uid: self.business_uid.clone(),
            now,
            action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-01T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn an_update_command_parses_and_validates_its_body() {
        let raw = json!({"type": "UpdateConversation", "command_id": "c1", "conversation_uid": "u1",
            "business_uid": "b1", "staff_uid": "s1", "body": {"archived": "1"}});
        let command = parse_command(raw.to_string().as_bytes()).unwrap();
        let Action::Update { changes, .. } = command.to_command(now()).unwrap().action else {
            panic!("not an update")
        };
        assert_eq!(changes.archived, Some(true));
    }

    #[test]
    fn an_invalid_body_is_a_rejection_not_a_dead_letter() {
        let raw = json!({"type": "UpdateConversation", "command_id": "c1", "conversation_uid": "u1",
            "business_uid": "b1", "staff_uid": "s1", "body": {"archived": "maybe"}});
        let command = parse_command(raw.to_string().as_bytes()).unwrap();
        assert_eq!(
            command.to_command(now()).unwrap_err(),
            Rejection::invalid("archived", "must be a boolean")
        );
    }

    #[test]
    fn every_command_type_parses() {
        for raw in [
            json!({"type": "StartConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b",
                "title": "t", "client": {"uid": "cl"}, "staff": {"uid": "s"}}),
            json!({"type": "RecordMessage", "command_id": "c", "conversation_uid": "u", "business_uid": "b",
                "message_id": "m", "direction": "incoming", "at": "2026-05-01T10:00:00Z"}),
            json!({"type": "MergeConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b",
                "target_uid": "t"}),
            json!({"type": "DeleteConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b"}),
        ] {
            let command = parse_command(raw.to_string().as_bytes()).unwrap();
            assert_eq!(command.kind.type_name(), raw["type"]);
            assert!(command.to_command(now()).is_ok());
        }
    }

    #[test]
    fn an_update_body_over_the_http_cap_is_too_large() {
        let raw = json!({"type": "UpdateConversation", "command_id": "c1", "conversation_uid": "u1",
            "business_uid": "b1", "staff_uid": "s1",
            "body": {"archived": true, "padding": "x".repeat(MAX_BODY_BYTES)}});
        let command = parse_command(raw.to_string().as_bytes()).unwrap();
        assert_eq!(command.to_command(now()).unwrap_err(), Rejection::TooLarge);
    }

    #[test]
    fn garbage_is_unparseable() {
        for raw in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"type": "Explode", "command_id": "c", "conversation_uid": "u", "business_uid": "b"}"#,
            br#"{"type": "DeleteConversation", "command_id": "", "conversation_uid": "u", "business_uid": "b"}"#,
            br#"{"type": "UpdateConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b"}"#,
            br#"{"type": "UpdateConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b", "staff_uid": "", "body": {}}"#,
            br#"{"type": "MergeConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b", "target_uid": ""}"#,
        ] {
            assert!(parse_command(raw).is_err(), "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn every_uid_a_command_names_follows_the_one_rule() {
        let long = "u".repeat(100);
        for raw in [
            json!({"type": "DeleteConversation", "command_id": "c", "conversation_uid": long, "business_uid": "b"}),
            json!({"type": "DeleteConversation", "command_id": "c", "conversation_uid": "u.1", "business_uid": "b"}),
            json!({"type": "DeleteConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b 1"}),
            json!({"type": "MergeConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b",
                "target_uid": "t/1"}),
            json!({"type": "UpdateConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b",
                "staff_uid": "s:1", "body": {}}),
            json!({"type": "StartConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b",
                "title": "t", "client": {"uid": "é"}, "staff": {"uid": "s"}}),
            json!({"type": "StartConversation", "command_id": "c", "conversation_uid": "u", "business_uid": "b",
                "title": "t", "client": {"uid": "cl"}, "staff": {"uid": ""}}),
            json!({"type": "RecordMessage", "command_id": "c", "conversation_uid": "u", "business_uid": "b",
                "message_id": "m", "direction": "outgoing", "at": "2026-05-05T10:00:00Z", "staff_uid": "s 1"}),
        ] {
            let error = parse_command(raw.to_string().as_bytes()).unwrap_err();
            assert!(error.0.contains("a uid is"), "{raw}: {error}");
        }
        // A command id is not a uid: 1-128 characters of anything.
        let raw = json!({"type": "DeleteConversation", "command_id": "order #1: é", "conversation_uid": "u",
            "business_uid": "b"});
        assert!(parse_command(raw.to_string().as_bytes()).is_ok());
    }
}
