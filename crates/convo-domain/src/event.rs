//! Events: facts about one conversation. Each carries what a consumer needs without reading the
//! aggregate: when (`at`), who acted (`staff_uid`), whose conversation (`client_uid`).
//!
//! The JSON form (the payload stored and published) is flat:
//! `{"type": "FollowUpSet", "at": "...", "staff_uid": "...", "client_uid": "...", "due_at": ..., "message": ...}`.
//! Its JSON Schema lives in the repository's `schemas/` folder.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::Direction;
use crate::state::{ClientInfo, Source, StaffRef};
use crate::upcast::{UpcastError, upcast};

/// Payload schema version, stored beside each event. Additive changes keep it; a breaking change
/// bumps it and adds an upcaster ([`crate::upcast`]) from the previous version.
///
/// - 1: the first shape.
/// - 2: `FollowUpSet.date` renamed `due_at`.
pub const SCHEMA_VERSION: i32 = 2;

/// Largest event payload accepted, in bytes of compact JSON: 512 KiB. A command whose events
/// would be larger is refused ([`crate::Rejection::EventTooLarge`], HTTP 413) and stores nothing.
///
/// Why this figure: the relay publishes each event as one Kafka record, and brokers refuse
/// records over their `message.max.bytes` (1 MB by default on Apache Kafka; librdkafka's own
/// client-side default is 1,000,000 bytes). The stored payload is `jsonb`, whose text form adds
/// at most one space per separator (at worst 1.5 times the compact size: 768 KiB), and the
/// CloudEvents headers add under 1 KiB: the record stays under 1,000,000 bytes.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    /// The staff who caused the event, when a staff did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_uid: Option<String>,
    /// The conversation's client.
    pub client_uid: String,
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// The event's type name, as stored and as the CloudEvents `ce_type` suffix.
    pub fn type_name(&self) -> &'static str {
        self.body.type_name()
    }

    /// Decodes a stored or published payload of schema version `schema_version`, upcast to the
    /// current shape first: the one way events are read.
    pub fn decode(schema_version: i32, payload: &str) -> Result<Self, UpcastError> {
        // The current shape needs no upcasting: read straight from the text.
        if schema_version == SCHEMA_VERSION {
            return serde_json::from_str(payload).map_err(UpcastError::Json);
        }
        let value = serde_json::from_str(payload).map_err(UpcastError::Json)?;
        Self::decode_value(schema_version, value)
    }

    /// [`Event::decode`] of a payload already parsed.
    pub fn decode_value(schema_version: i32, payload: Value) -> Result<Self, UpcastError> {
        serde_json::from_value(upcast(schema_version, payload)?).map_err(UpcastError::Json)
    }

    /// Size of the payload as compact JSON, counted without building it.
    pub fn encoded_len(&self) -> usize {
        let mut counter = ByteCounter(0);
        match serde_json::to_writer(&mut counter, self) {
            Ok(()) => counter.0,
            // Events always serialize (string keys only); an error would be a bug: refuse.
            Err(_) => usize::MAX,
        }
    }
}

/// A writer that only counts.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A change of a conversation attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

/// The attributes of `AttributesChanged`; only the changed ones are present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<Change<bool>>,
}

impl AttributeChanges {
    pub fn is_empty(&self) -> bool {
        self.campaign.is_none() && self.source_type.is_none() && self.mobile.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
// The start event is the large one and appears once per conversation; boxing it would make every
// match and constructor noisier for no measurable gain.
#[allow(clippy::large_enum_variant)]
pub enum EventBody {
    ConversationStarted {
        business_uid: String,
        title: String,
        client: ClientInfo,
        staff: StaffRef,
        source: Source,
        campaign: Option<String>,
        mobile: bool,
        matter_searchable: bool,
    },
    Archived,
    Unarchived,
    /// The spam flag applies to the client too (`client_uid`).
    MarkedSpam,
    UnmarkedSpam,
    /// Unread for the business side; `staff_uid` is the requesting staff, whose collaborator
    /// record (if any) takes the same read state.
    MarkedUnread,
    MarkedRead,
    SoftDeleted {
        deleted_at: DateTime<Utc>,
    },
    Restored,
    AttributesChanged {
        changes: AttributeChanges,
    },
    /// `staff_uid` now collaborates on the conversation.
    CollaboratorAdded,
    /// `staff_uid`'s follow-up is active, with an optional reminder date (`date` before schema
    /// version 2).
    FollowUpSet {
        due_at: Option<DateTime<Utc>>,
        message: String,
    },
    /// `staff_uid`'s follow-up was dismissed.
    FollowUpRemoved,
    /// `staff_uid`'s follow-up was done.
    FollowUpCompleted,
    /// An internal text message by `staff_uid` (a follow-up note without a date).
    InternalNoteAdded {
        text: String,
    },
    MessageRecorded {
        message_id: String,
        direction: Direction,
        title: String,
        text: String,
    },
    /// This conversation now lives on as `target_uid`; commands for it are routed there.
    MergedInto {
        target_uid: String,
    },
    /// The target side of a merge: `source_uid` and its messages now belong here.
    MergedFrom {
        source_uid: String,
        message_count: u64,
    },
    /// Hard delete: read models forget the conversation.
    ConversationDeleted,
}

impl EventBody {
    /// Every event type name, as [`EventBody::type_name`] spells them.
    pub const TYPE_NAMES: [&'static str; 19] = [
        "ConversationStarted",
        "Archived",
        "Unarchived",
        "MarkedSpam",
        "UnmarkedSpam",
        "MarkedUnread",
        "MarkedRead",
        "SoftDeleted",
        "Restored",
        "AttributesChanged",
        "CollaboratorAdded",
        "FollowUpSet",
        "FollowUpRemoved",
        "FollowUpCompleted",
        "InternalNoteAdded",
        "MessageRecorded",
        "MergedInto",
        "MergedFrom",
        "ConversationDeleted",
    ];

    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ConversationStarted { .. } => "ConversationStarted",
            Self::Archived => "Archived",
            Self::Unarchived => "Unarchived",
            Self::MarkedSpam => "MarkedSpam",
            Self::UnmarkedSpam => "UnmarkedSpam",
            Self::MarkedUnread => "MarkedUnread",
            Self::MarkedRead => "MarkedRead",
            Self::SoftDeleted { .. } => "SoftDeleted",
            Self::Restored => "Restored",
            Self::AttributesChanged { .. } => "AttributesChanged",
            Self::CollaboratorAdded => "CollaboratorAdded",
            Self::FollowUpSet { .. } => "FollowUpSet",
            Self::FollowUpRemoved => "FollowUpRemoved",
            Self::FollowUpCompleted => "FollowUpCompleted",
            Self::InternalNoteAdded { .. } => "InternalNoteAdded",
            Self::MessageRecorded { .. } => "MessageRecorded",
            Self::MergedInto { .. } => "MergedInto",
            Self::MergedFrom { .. } => "MergedFrom",
            Self::ConversationDeleted => "ConversationDeleted",
        }
    }
}
