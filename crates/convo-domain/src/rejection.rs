//! Why a command was refused. Each variant says how HTTP and the Kafka outcome topic report it.

use serde::{Deserialize, Serialize};

/// One field that failed validation, in vcita's error shape (`{"field","code","message"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    /// The `invalid` code vcita uses for every field-level error.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self {
            field: field.to_owned(),
            code: "invalid".to_owned(),
            message: message.to_owned(),
        }
    }
}

/// A command the aggregate refuses. Rejections are final: retrying the same command gives the
/// same answer, and a rejected command never emits events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rejection {
    /// The body is not a JSON object, or not JSON at all. HTTP 400 `bad_request`.
    #[error("bad request: {message}")]
    BadRequest { message: String },
    /// The body is larger than [`crate::validate::MAX_BODY_BYTES`]. HTTP 413 `bad_request`.
    #[error("request body too large")]
    TooLarge,
    /// An event the command would store is larger than [`crate::event::MAX_EVENT_BYTES`] (a huge
    /// message text or client record). HTTP 413 `bad_request`; a `rejected` outcome with
    /// `http_status` 413 for upstream commands. Nothing is stored.
    #[error("the {event_type} event would be {bytes} bytes, over the event size limit")]
    EventTooLarge { event_type: String, bytes: usize },
    /// One or more fields are invalid; all of them are listed. HTTP 422.
    #[error("invalid fields: {}", .errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid { errors: Vec<FieldError> },
    /// No such conversation in the caller's business (never started, hard-deleted, or another
    /// business's). HTTP 404 `invalid`/`id` "Invalid conversation_uid".
    #[error("conversation not found")]
    NotFound,
    /// The command contradicts what already exists (starting an existing conversation, merging
    /// into itself or into a cycle, an idempotency key reused with another body). HTTP 409 `conflict`.
    #[error("conflict: {message}")]
    Conflict { message: String },
    /// The conversation was merged into `target`: the handler routes the command there. Never
    /// returned to a client.
    #[error("conversation was merged into {target}")]
    Merged { target: String },
}

impl Rejection {
    /// A 422 with a single field error.
    pub fn invalid(field: &str, message: &str) -> Self {
        Self::Invalid {
            errors: vec![FieldError::invalid(field, message)],
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }

    /// The HTTP status code the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::TooLarge | Self::EventTooLarge { .. } => 413,
            Self::Invalid { .. } => 422,
            Self::NotFound | Self::Merged { .. } => 404,
            Self::Conflict { .. } => 409,
        }
    }

    /// vcita's error list (`errors` of the `ErrorResponse` schema).
    pub fn errors(&self) -> Vec<serde_json::Value> {
        use serde_json::json;
        match self {
            Self::BadRequest { message } => {
                vec![json!({"code": "bad_request", "message": message})]
            }
            Self::TooLarge => vec![json!({
                "code": "bad_request",
                "message": format!("request body exceeds {} bytes", crate::validate::MAX_BODY_BYTES)
            })],
            Self::EventTooLarge { event_type, bytes } => vec![json!({
                "code": "bad_request",
                "message": format!(
                    "the {event_type} event this command would store is {bytes} bytes; \
                     events are limited to {} bytes",
                    crate::event::MAX_EVENT_BYTES
                )
            })],
            Self::Invalid { errors } => errors
                .iter()
                .map(|e| json!({"field": e.field, "code": e.code, "message": e.message}))
                .collect(),
            Self::NotFound | Self::Merged { .. } => vec![json!({
                "code": "invalid", "field": "id", "message": "Invalid conversation_uid"
            })],
            Self::Conflict { message } => vec![json!({"code": "conflict", "message": message})],
        }
    }

    /// vcita's `ErrorResponse` body: `{"success": false, "errors": [...]}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"success": false, "errors": self.errors()})
    }
}
