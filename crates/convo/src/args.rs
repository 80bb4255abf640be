//! Argument parsers shared by the replay tools: each refuses a bad value with a message that
//! says what is expected, before anything is read.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use convo_domain::{EventBody, Uid};

/// A point in time: RFC 3339 (`2026-05-06T10:31:00Z`, `2026-05-06T13:31:00+03:00`), or a UTC
/// date and time without offset (`2026-05-06T10:31`, `2026-05-06 10:31:00`), or a date (its
/// midnight UTC).
pub fn time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "not a time: {text:?} (use RFC 3339 like 2026-05-06T10:31:00Z, or 2026-05-06 10:31 in UTC, or 2026-05-06)"
    ))
}

/// An aggregate version: 1 (the start) or more.
pub fn version(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("versions start at 1 (the ConversationStarted event)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("not a version: {text:?} (a whole number from 1)")),
    }
}

/// A conversation, business or staff uid (letters, digits, `-`, `_`; 1-64).
pub fn uid(text: &str) -> Result<String, String> {
    Uid::parse(text)
        .map(|uid| uid.as_str().to_owned())
        .map_err(|e| format!("{text:?}: {e}"))
}

/// An event type name, as stored (`FollowUpSet`, ...).
pub fn event_type(text: &str) -> Result<String, String> {
    if EventBody::TYPE_NAMES.contains(&text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "unknown event type {text:?}; the types are: {}",
            EventBody::TYPE_NAMES.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_accepted_form() {
        let t = "2026-05-06T10:31:00Z".parse::<DateTime<Utc>>().unwrap();
        for text in [
            "2026-05-06T10:31:00Z",
            "2026-05-06T13:31:00+03:00",
            "2026-05-06T10:31",
            "2026-05-06 10:31:00",
        ] {
            assert_eq!(time(text), Ok(t), "{text}");
        }
        assert_eq!(
            time("2026-05-06").unwrap(),
            "2026-05-06T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(time("yesterday").is_err());
        assert!(time("2026-13-01").is_err());
    }

    #[test]
    fn uids_and_types_are_checked() {
        assert!(uid("conv-1_a").is_ok());
        assert!(uid("no spaces").is_err());
        assert!(event_type("FollowUpSet").is_ok());
        assert!(event_type("followupset").is_err());
        assert_eq!(version("3"), Ok(3));
        assert!(version("0").is_err() && version("-1").is_err() && version("x").is_err());
    }
}
