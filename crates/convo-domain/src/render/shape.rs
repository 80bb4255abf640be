//! What [`super::render`] serializes: vcita's `Conversation` (`ConversationDecorator`) as typed
//! structs, so the OpenAPI document (feature `openapi`) describes exactly what goes on the wire.

use serde::Serialize;
use serde_json::{Map, Value};

use super::Depth;

/// vcita's `Conversation`, as the requesting staff sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderedConversation {
    pub uid: String,
    pub title: String,
    /// Whether the requesting staff has a follow-up here.
    pub follow_up: bool,
    /// UTC RFC 3339 with `Z`; `null` without a date or without an active follow-up.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub follow_up_date: Option<String>,
    /// `""` without an active follow-up.
    pub follow_up_message: String,
    /// "Reminder set for Wed, May 6 at 10:31 AM UTC", "Follow-up set", or `""`.
    pub follow_up_text: String,
    pub business_unread: bool,
    pub spam: bool,
    pub archived: bool,
    pub sent: bool,
    pub received: bool,
    /// Soft-deleted.
    pub deleted: bool,
    pub matter_searchable: bool,
    /// UTC RFC 3339 with `Z`; `null` before any business action.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_user_action_at: Option<String>,
    /// "Today, 10:30 AM", "Yesterday, 4:12 PM", "May 4, 2025" (UTC); `""` when there is none.
    pub last_user_action_at_h: String,
    /// UTC RFC 3339 with `Z`; `null` before any client action.
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub last_client_action_at: Option<String>,
    pub last_client_action_at_h: String,
    /// `null` before the first message.
    pub last_message: Option<RenderedMessage>,
    pub depth: Depth,
    pub message_count: u64,
    pub client: RenderedClient,
    pub staff: RenderedStaff,
    /// Always `false`: matters are not modelled.
    pub has_matter: bool,
    /// Always `null`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub matter: Option<Map<String, Value>>,
    /// The fields below are present only in the deep rendering (`full_client`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_attention: Option<bool>,
    /// `""` when unknown (deep only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Deep only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub source_data: Option<Map<String, Value>>,
    /// `""` when unknown (deep only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// `source_type` humanized: "contact_form" is "Contact form" (deep only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_type_h: Option<String>,
    /// `""` when unknown (deep only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sourceable_type: Option<String>,
    /// `""` when unknown (deep only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sourceable_id: Option<String>,
}

/// vcita's `ConversationLastMessage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderedMessage {
    pub title: String,
    pub text: String,
    /// "client", "staff" or "system".
    pub message_of: String,
    /// Always `{}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra_data: Map<String, Value>,
}

/// vcita's `ConversationStaff`: the staff who owns the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderedStaff {
    pub uid: String,
    pub display_name: String,
}

/// The client: the summary fields, and with `full_client` every other field of the full record
/// the upstream service sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderedClient {
    /// The full record's other fields (deep only). Never holds a summary field's name.
    #[serde(flatten)]
    pub full: Map<String, Value>,
    pub uid: String,
    pub first_name: String,
    pub last_name: String,
    /// First and last name, trimmed.
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The client is marked as spam.
    pub spam: bool,
}

impl RenderedClient {
    /// The summary fields' names: [`Self::full`] leaves them out.
    pub const SUMMARY_FIELDS: [&str; 7] = [
        "uid",
        "first_name",
        "last_name",
        "display_name",
        "email",
        "phone",
        "spam",
    ];
}
