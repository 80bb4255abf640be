//! The conversation aggregate's state, and `evolve`, which folds one event into it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::command::Direction;
use crate::event::{Event, EventBody};

/// Where the conversation is in its life.
/// The shape version of [`Conversation`]'s JSON, stored beside it in snapshots and read models:
/// bump it when the JSON changes incompatibly, and stored states of another shape are refolded
/// from the events instead of decoded.
///
/// 2: a collaborator record added to an unread conversation starts unread.
pub const STATE_SCHEMA: i32 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Lifecycle {
    /// No event yet: the uid is unknown.
    #[default]
    New,
    Open,
    /// Merged into `into`; commands are routed there.
    Merged {
        into: String,
    },
    /// Hard-deleted: gone for good.
    Deleted,
}

/// The conversation's client: the summary fields vcita renders by default, and the full record
/// rendered with `full_client`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientInfo {
    pub uid: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// The full client record, as the upstream service sent it.
    #[serde(default)]
    pub full: serde_json::Map<String, serde_json::Value>,
}

/// The staff who owns the conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffRef {
    pub uid: String,
    #[serde(default)]
    pub display_name: String,
}

/// Where the conversation came from (rendered in the deep form only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub source_data: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub sourceable_type: Option<String>,
    #[serde(default)]
    pub sourceable_id: Option<String>,
}

/// The most recent message, as vcita's `ConversationLastMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessage {
    pub title: String,
    pub text: String,
    /// "client", "staff" or "system".
    pub message_of: String,
}

/// One staff's record on one conversation: the follow-up reminder and the read state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collaborator {
    pub follow_up: bool,
    pub follow_up_date: Option<DateTime<Utc>>,
    pub follow_up_message: String,
    /// When this staff last completed a follow-up here.
    pub follow_up_completed_at: Option<DateTime<Utc>>,
    pub unread: bool,
}

/// The aggregate. `version` counts the events folded into it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    pub uid: String,
    pub version: u64,
    /// When the latest event happened (the list order of conversations).
    pub updated_at: Option<DateTime<Utc>>,
    pub lifecycle: Lifecycle,
    pub business_uid: String,
    pub created_at: Option<DateTime<Utc>>,
    pub title: String,
    pub client: ClientInfo,
    /// The client's spam flag, as applied through this conversation.
    pub client_spam: bool,
    pub staff: StaffRef,
    pub archived: bool,
    pub spam: bool,
    pub business_unread: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub campaign: Option<String>,
    pub mobile: bool,
    pub source: Source,
    pub matter_searchable: bool,
    pub sent: bool,
    pub received: bool,
    pub message_count: u64,
    pub last_message: Option<LastMessage>,
    pub last_user_action_at: Option<DateTime<Utc>>,
    pub last_client_action_at: Option<DateTime<Utc>>,
    /// Per staff uid.
    pub collaborators: BTreeMap<String, Collaborator>,
    /// Conversations merged into this one.
    pub merged_from: Vec<String>,
}

impl Conversation {
    /// The state of a conversation that has no events yet.
    pub fn new(uid: impl Into<String>) -> Self {
        Self {
            uid: uid.into(),
            ..Self::default()
        }
    }

    /// Folds a sequence of events into a fresh state.
    pub fn fold<'a>(uid: &str, events: impl IntoIterator<Item = &'a Event>) -> Self {
        events
            .into_iter()
            .fold(Self::new(uid), |state, event| state.evolve(event))
    }

    /// The requesting staff's collaborator record, if any.
    pub fn collaborator(&self, staff_uid: &str) -> Option<&Collaborator> {
        self.collaborators.get(staff_uid)
    }

    /// Whether `staff_uid` has an active follow-up here.
    pub fn follow_up_active(&self, staff_uid: &str) -> bool {
        self.collaborator(staff_uid).is_some_and(|c| c.follow_up)
    }

    pub fn is_deleted_softly(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// Applies one event. Never fails: events are facts already decided.
    pub fn evolve(mut self, event: &Event) -> Self {
        self.version += 1;
        self.updated_at = self.updated_at.max(Some(event.at));
        let staff = event.staff_uid.as_deref();
        match &event.body {
            EventBody::ConversationStarted {
                business_uid,
                title,
                client,
                staff,
                source,
                campaign,
                mobile,
                matter_searchable,
            } => {
                self.lifecycle = Lifecycle::Open;
                self.business_uid = business_uid.clone();
                self.created_at = Some(event.at);
                self.title = title.clone();
                self.client = client.clone();
                self.staff = staff.clone();
                self.source = source.clone();
                self.campaign = campaign.clone();
                self.mobile = *mobile;
                self.matter_searchable = *matter_searchable;
            }
            EventBody::Archived => self.archived = true,
            EventBody::Unarchived => self.archived = false,
            EventBody::MarkedSpam => {
                self.spam = true;
                self.client_spam = true;
            }
            EventBody::UnmarkedSpam => {
                self.spam = false;
                self.client_spam = false;
            }
            EventBody::MarkedUnread => self.set_business_unread(true, staff),
            EventBody::MarkedRead => self.set_business_unread(false, staff),
            EventBody::SoftDeleted { deleted_at } => self.deleted_at = Some(*deleted_at),
            EventBody::Restored => self.deleted_at = None,
            EventBody::AttributesChanged { changes } => {
                if let Some(c) = &changes.campaign {
                    self.campaign = c.to.clone();
                }
                if let Some(c) = &changes.source_type {
                    self.source.source_type = c.to.clone();
                }
                if let Some(c) = &changes.mobile {
                    self.mobile = c.to;
                }
            }
            EventBody::CollaboratorAdded => {
                // A new record starts with the conversation's read state: a staff who never read
                // an unread conversation has not read it either.
                let unread = self.business_unread;
                if let Some(staff) = staff {
                    self.collaborators
                        .entry(staff.to_owned())
                        .or_insert_with(|| Collaborator {
                            unread,
                            ..Collaborator::default()
                        });
                }
            }
            EventBody::FollowUpSet { due_at, message } => {
                if let Some(staff) = staff {
                    let c = self.collaborators.entry(staff.to_owned()).or_default();
                    c.follow_up = true;
                    c.follow_up_date = *due_at;
                    c.follow_up_message = message.clone();
                }
            }
            EventBody::FollowUpRemoved => self.end_follow_up(staff, None),
            EventBody::FollowUpCompleted => self.end_follow_up(staff, Some(event.at)),
            EventBody::InternalNoteAdded { text } => {
                self.message_count += 1;
                self.last_message = Some(LastMessage {
                    title: "Follow-up note".to_owned(),
                    text: text.clone(),
                    message_of: "staff".to_owned(),
                });
                self.last_user_action_at = Some(event.at);
            }
            EventBody::MessageRecorded {
                direction,
                title,
                text,
                ..
            } => {
                self.message_count += 1;
                let message_of = match direction {
                    Direction::Incoming => {
                        self.received = true;
                        self.last_client_action_at = Some(event.at);
                        self.set_business_unread(true, None);
                        self.collaborators
                            .values_mut()
                            .for_each(|c| c.unread = true);
                        "client"
                    }
                    Direction::Outgoing => {
                        self.sent = true;
                        self.last_user_action_at = Some(event.at);
                        "staff"
                    }
                };
                self.last_message = Some(LastMessage {
                    title: title.clone(),
                    text: text.clone(),
                    message_of: message_of.to_owned(),
                });
            }
            EventBody::MergedInto { target_uid } => {
                self.lifecycle = Lifecycle::Merged {
                    into: target_uid.clone(),
                };
            }
            EventBody::MergedFrom {
                source_uid,
                message_count,
            } => {
                self.merged_from.push(source_uid.clone());
                self.message_count += message_count;
            }
            EventBody::ConversationDeleted => self.lifecycle = Lifecycle::Deleted,
        }
        self
    }

    fn set_business_unread(&mut self, unread: bool, staff: Option<&str>) {
        self.business_unread = unread;
        if let Some(c) = staff.and_then(|s| self.collaborators.get_mut(s)) {
            c.unread = unread;
        }
    }

    fn end_follow_up(&mut self, staff: Option<&str>, completed_at: Option<DateTime<Utc>>) {
        if let Some(c) = staff.and_then(|s| self.collaborators.get_mut(s)) {
            c.follow_up = false;
            c.follow_up_date = None;
            c.follow_up_message.clear();
            if completed_at.is_some() {
                c.follow_up_completed_at = completed_at;
            }
        }
    }
}
