//! Spec §3: a raw update body becomes [`UpdateChanges`], or a clear error. One function for
//! HTTP and Kafka. All field errors are collected and returned together.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

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

/// vcita's update body as the caller sent it: every field optional, unknown keys ignored. Each
/// holds the JSON value as sent (absent: `None`, `null`: `Some(Value::Null)`), so that
/// [`validate_update`] can report every bad field at once; the schema says what is valid.
#[derive(Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateBody {
    /// Also `"true"`/`"false"`/`"1"`/`"0"` and `1`/`0`, like every boolean here.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub archived: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub business_unread: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub spam: Option<Value>,
    /// Soft delete (`true`) or restore (`false`).
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub deleted: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub mobile: Option<Value>,
    /// Sets (`true`) or removes (`false`) the requesting staff's follow-up.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub follow_up: Option<Value>,
    /// With a removal: the follow-up counts as completed.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = bool))]
    pub complete_follow_up: Option<Value>,
    /// When the follow-up is due: ISO 8601 or the JavaScript `Date` string the UI sends; must be
    /// in the future.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub follow_up_date: Option<Value>,
    /// At most 5000 characters.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub follow_up_message: Option<Value>,
    /// At most 255 characters; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub campaign: Option<Value>,
    /// At most 255 characters; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub source_type: Option<Value>,
}

/// A present key, `null` included.
fn present<'de, D: Deserializer<'de>>(value: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(value).map(Some)
}

/// Validates an already-parsed update body. Unknown keys are ignored; only present keys count.
pub fn validate_update(body: &Value) -> Result<UpdateChanges, Rejection> {
    let not_an_object = || Rejection::BadRequest {
        message: "the body must be a JSON object".to_owned(),
    };
    if !body.is_object() {
        return Err(not_an_object());
    }
    // Every field takes any JSON value: an object always deserializes.
    let body = UpdateBody::deserialize(body).map_err(|_| not_an_object())?;
    let mut errors = Vec::new();
    let mut boolean = |key: &str, value: &Option<Value>| {
        let parsed = parse_bool(value.as_ref()?);
        if parsed.is_none() {
            errors.push(FieldError::invalid(key, "must be a boolean"));
        }
        parsed
    };
    let mut changes = UpdateChanges {
        archived: boolean("archived", &body.archived),
        business_unread: boolean("business_unread", &body.business_unread),
        spam: boolean("spam", &body.spam),
        deleted: boolean("deleted", &body.deleted),
        mobile: boolean("mobile", &body.mobile),
        follow_up: boolean("follow_up", &body.follow_up),
        complete_follow_up: boolean("complete_follow_up", &body.complete_follow_up)
            .unwrap_or(false),
        follow_up_date: body.follow_up_date.clone(),
        ..UpdateChanges::default()
    };
    changes.campaign = string(
        "campaign",
        body.campaign.as_ref(),
        MAX_SHORT_STRING,
        &mut errors,
    );
    changes.source_type = string(
        "source_type",
        body.source_type.as_ref(),
        MAX_SHORT_STRING,
        &mut errors,
    );
    changes.follow_up_message = string(
        "follow_up_message",
        body.follow_up_message.as_ref(),
        MAX_FOLLOW_UP_MESSAGE,
        &mut errors,
    )
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
    key: &str,
    value: Option<&Value>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    match value? {
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
