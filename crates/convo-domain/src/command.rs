//! Commands: what a caller asks of one conversation. The handler fills in `now` and the
//! authenticated staff/business; the domain never reads a clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::state::{ClientInfo, Source, StaffRef};

/// A request addressed to one conversation stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// The conversation the command is applied to (after merge routing).
    pub conversation_uid: String,
    /// The business the caller acts for; another business's conversation is "not found".
    pub business_uid: String,
    /// The instant the handler accepted the command.
    pub now: DateTime<Utc>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
// Commands live briefly, one at a time: boxing the start would buy nothing measurable.
#[allow(clippy::large_enum_variant)]
pub enum Action {
    /// Creates the conversation (spec §10 `StartConversation`).
    Start(StartConversation),
    /// A message was exchanged (spec §10 `RecordMessage`).
    RecordMessage(RecordMessage),
    /// Merge this conversation into `target_uid`, which the handler has already resolved to the
    /// end of its merge chain (spec §7).
    MergeInto { target_uid: String },
    /// The target side of a merge: absorb `source_uid` and its messages.
    AbsorbMerged {
        source_uid: String,
        message_count: u64,
    },
    /// The PUT/PATCH body of spec §3–§6, on behalf of `staff_uid`.
    Update {
        staff_uid: String,
        changes: UpdateChanges,
    },
    /// Hard delete: the conversation is forgotten and answers 404 afterwards.
    Delete,
}

impl Action {
    /// The command type as metrics label it.
    pub fn type_label(&self) -> &'static str {
        match self {
            Self::Start(_) => "start",
            Self::RecordMessage(_) => "record_message",
            Self::MergeInto { .. } => "merge",
            Self::AbsorbMerged { .. } => "absorb_merged",
            Self::Update { .. } => "update",
            Self::Delete => "delete",
        }
    }

    /// The staff on whose behalf the command runs, when one does.
    pub fn staff_uid(&self) -> Option<&str> {
        match self {
            Self::Start(start) => Some(&start.staff.uid),
            Self::RecordMessage(message) => message.staff_uid.as_deref(),
            Self::Update { staff_uid, .. } => Some(staff_uid),
            Self::MergeInto { .. } | Self::AbsorbMerged { .. } | Self::Delete => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartConversation {
    pub title: String,
    pub client: ClientInfo,
    pub staff: StaffRef,
    #[serde(default)]
    pub source: Source,
    #[serde(default)]
    pub campaign: Option<String>,
    #[serde(default)]
    pub mobile: bool,
    #[serde(default = "yes")]
    pub matter_searchable: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the client to the business.
    Incoming,
    /// From the business to the client.
    Outgoing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordMessage {
    pub message_id: String,
    pub direction: Direction,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub text: String,
    /// When the message was exchanged.
    pub at: DateTime<Utc>,
    /// The staff who sent an outgoing message, if known.
    #[serde(default)]
    pub staff_uid: Option<String>,
}

/// A validated update body (spec §3). `None` means "key absent": only present keys are evaluated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateChanges {
    pub archived: Option<bool>,
    pub business_unread: Option<bool>,
    pub spam: Option<bool>,
    pub deleted: Option<bool>,
    pub mobile: Option<bool>,
    /// `Some(None)` clears the value (JSON `null`).
    pub campaign: Option<Option<String>>,
    pub source_type: Option<Option<String>>,
    pub follow_up: Option<bool>,
    /// Defaults to false; matters only when a follow-up is removed.
    pub complete_follow_up: bool,
    /// Kept raw: it is parsed (and may be rejected) only when a follow-up is created (spec §4).
    pub follow_up_date: Option<serde_json::Value>,
    /// `null` is stored as `""`.
    pub follow_up_message: Option<String>,
}
