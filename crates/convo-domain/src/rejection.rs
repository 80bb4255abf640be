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
    pub fn errors(&self) -> Vec<ErrorDetail> {
        match self {
            Self::BadRequest { message } => vec![ErrorDetail::new("bad_request", message)],
            Self::TooLarge => vec![ErrorDetail::new(
                "bad_request",
                &format!(
                    "request body exceeds {} bytes",
                    crate::validate::MAX_BODY_BYTES
                ),
            )],
            Self::EventTooLarge { event_type, bytes } => vec![ErrorDetail::new(
                "bad_request",
                &format!(
                    "the {event_type} event this command would store is {bytes} bytes; \
                     events are limited to {} bytes",
                    crate::event::MAX_EVENT_BYTES
                ),
            )],
            Self::Invalid { errors } => errors
                .iter()
                .map(|e| ErrorDetail {
                    field: Some(e.field.clone()),
                    code: e.code.clone(),
                    message: e.message.clone(),
                })
                .collect(),
            Self::NotFound | Self::Merged { .. } => vec![ErrorDetail {
                field: Some("id".to_owned()),
                ..ErrorDetail::new("invalid", "Invalid conversation_uid")
            }],
            Self::Conflict { message } => vec![ErrorDetail::new("conflict", message)],
        }
    }

    /// vcita's `ErrorResponse` body: `{"success": false, "errors": [...]}`.
    pub fn body(&self) -> serde_json::Value {
        ErrorBody::new(self.errors()).to_json()
    }
}

/// vcita's `ErrorResponse`: every error answer of the HTTP API has this body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    pub errors: Vec<ErrorDetail>,
}

impl ErrorBody {
    pub fn new(errors: Vec<ErrorDetail>) -> Self {
        Self {
            success: false,
            errors,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an error body serializes")
    }
}

/// One error of an `ErrorBody`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// The field that failed validation, when the error is about one (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Machine-readable: `invalid`, `bad_request`, `conflict`, `unauthorized`, `forbidden`, ...
    pub code: String,
    /// Human-readable.
    pub message: String,
}

impl ErrorDetail {
    /// An error about the request as a whole (no `field`).
    pub fn new(code: &str, message: &str) -> Self {
        Self {
            field: None,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}
