//! Spec §3: a raw update body becomes [`UpdateChanges`], or a clear error. One function for
//! HTTP and Kafka. All field errors are collected and returned together.

use serde_json::{Map, Value};

use crate::command::UpdateChanges;
use crate::rejection::{FieldError, Rejection};

/// Largest accepted body (spec §3): more is a 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const MAX_SHORT_STRING: usize = 255;
const MAX_FOLLOW_UP_MESSAGE: usize = 5000;

/// Parses and validates a raw update body (bytes as received).
pub fn parse_update_body(body: &[u8]) -> Result<UpdateChanges, Rejection> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Rejection::TooLarge);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| Rejection::BadRequest {
        message: format!("malformed JSON: {e}"),
    })?;
    validate_update(&value)
}

/// Validates an already-parsed update body. Unknown keys are ignored; only present keys count.
pub fn validate_update(body: &Value) -> Result<UpdateChanges, Rejection> {
    let Value::Object(map) = body else {
        return Err(Rejection::BadRequest {
            message: "the body must be a JSON object".to_owned(),
        });
    };
    let mut errors = Vec::new();
    let mut boolean = |key: &str| match map.get(key) {
        None => None,
        Some(v) => {
            let parsed = parse_bool(v);
            if parsed.is_none() {
                errors.push(FieldError::invalid(key, "must be a boolean"));
            }
            parsed
        }
    };
    let mut changes = UpdateChanges {
        archived: boolean("archived"),
        business_unread: boolean("business_unread"),
        spam: boolean("spam"),
        deleted: boolean("deleted"),
        mobile: boolean("mobile"),
        follow_up: boolean("follow_up"),
        complete_follow_up: boolean("complete_follow_up").unwrap_or(false),
        follow_up_date: map.get("follow_up_date").cloned(),
        ..UpdateChanges::default()
    };
    changes.campaign = string(map, "campaign", MAX_SHORT_STRING, &mut errors);
    changes.source_type = string(map, "source_type", MAX_SHORT_STRING, &mut errors);
    changes.follow_up_message =
        string(map, "follow_up_message", MAX_FOLLOW_UP_MESSAGE, &mut errors)
            .map(Option::unwrap_or_default);

    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(Rejection::Invalid { errors })
    }
}

/// JSON `true`/`false`, the strings `"true"`/`"false"`/`"1"`/`"0"`, or the numbers 1/0.
fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A string of at most `max` characters, or `null` (`Some(None)`: clears).
fn string(
    map: &Map<String, Value>,
    key: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    match map.get(key)? {
        Value::Null => Some(None),
        Value::String(s) if s.chars().count() <= max => Some(Some(s.clone())),
        Value::String(_) => {
            errors.push(FieldError::invalid(
                key,
                &format!("is too long (maximum is {max} characters)"),
            ));
            None
        }
        _ => {
            errors.push(FieldError::invalid(key, "must be a string"));
            None
        }
    }
}
