//! The read models this service keeps, each fed by its own projector (its own partition claims,
//! positions and parked conversations) and rebuilt by `convo replay` through the same code:
//!
//! - [`ReadModel::Conversations`]: the conversation rows the API lists and renders
//!   (`rm_conversations`, `rm_collaborators`, `rm_messages`, `rm_clients`).
//! - [`ReadModel::FollowUps`]: each staff's follow-ups and completions, for follow-up counts
//!   (`rm_follow_up_conversations`, `rm_follow_ups`, `rm_follow_up_completions`).
//!
//! A model applies the events of a batch grouped by conversation, in version order. It keeps the
//! last applied version of each conversation beside its rows: an event at or below it is
//! skipped (redelivery and replay change nothing), and one beyond the next version is preceded by
//! the missing ones, read from the event store.

pub mod conversations;
pub mod follow_ups;

use convo_domain::Event;
use sqlx::PgConnection;

use crate::project::ProjectError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReadModel {
    Conversations,
    FollowUps,
}

impl ReadModel {
    pub const ALL: [ReadModel; 2] = [ReadModel::Conversations, ReadModel::FollowUps];

    /// The model's name: its projector's name (partition claims, parked conversations) and the
    /// name `convo replay` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Conversations => "conversations",
            Self::FollowUps => "follow-ups",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The tables the model owns, all written by its projector alone.
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Self::Conversations => &[
                "rm_conversations",
                "rm_collaborators",
                "rm_messages",
                "rm_clients",
            ],
            Self::FollowUps => &[
                "rm_follow_up_conversations",
                "rm_follow_ups",
                "rm_follow_up_completions",
            ],
        }
    }

    /// The table and column holding each conversation's last applied version.
    pub(crate) fn versions(self) -> (&'static str, &'static str) {
        match self {
            Self::Conversations => ("rm_conversations", "uid"),
            Self::FollowUps => ("rm_follow_up_conversations", "conversation_uid"),
        }
    }

    /// The column of `table` naming the conversation a row belongs to (`None` for rows shared
    /// by conversations: clients).
    pub(crate) fn conversation_column(self, table: &str) -> Option<&'static str> {
        match table {
            "rm_conversations" => Some("uid"),
            "rm_clients" => None,
            _ => Some("conversation_uid"),
        }
    }

    /// Applies `groups` (each conversation at most once, events in version order).
    pub async fn apply(
        self,
        conn: &mut PgConnection,
        groups: &[Group],
    ) -> Result<Counts, ProjectError> {
        match self {
            Self::Conversations => conversations::apply(conn, groups).await,
            Self::FollowUps => follow_ups::apply(conn, groups).await,
        }
    }

    /// Deletes every row of conversation `uid` (before it is refolded in place).
    pub async fn forget(self, conn: &mut PgConnection, uid: &str) -> Result<(), sqlx::Error> {
        match self {
            Self::Conversations => conversations::forget(conn, uid).await,
            Self::FollowUps => follow_ups::forget(conn, uid).await,
        }
    }
}

impl std::fmt::Display for ReadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The events of one conversation to apply, in version order.
#[derive(Debug, Clone)]
pub struct Group {
    pub uid: String,
    pub items: Vec<Item>,
}

/// One event of a group. It is decoded up front; a decoding failure only matters when the event
/// has to be applied (an already applied one is skipped without looking at it).
#[derive(Debug, Clone)]
pub struct Item {
    pub version: u64,
    pub event: Result<Event, String>,
}

impl Item {
    pub(crate) fn event(&self, uid: &str) -> Result<&Event, ProjectError> {
        self.event
            .as_ref()
            .map_err(|reason| ProjectError::Undecodable {
                conversation_uid: uid.to_owned(),
                version: self.version,
                reason: reason.clone(),
            })
    }
}

/// What applying did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Events applied now.
    pub applied: usize,
    /// Events skipped: versions already applied.
    pub skipped: usize,
}

/// Events of `uid` between `have` (the last applied version) and `next`, read from the event
/// store: those that never reached this projector (a truncated topic, a projector started on a
/// partial topic), or a whole history to refold. An error when the store lacks some of them.
pub(crate) async fn missing(
    conn: &mut PgConnection,
    uid: &str,
    have: u64,
    next: u64,
) -> Result<Vec<(u64, Event)>, ProjectError> {
    let stored = convo_store::events::stream(conn, uid, have, Some(next)).await?;
    let mut events = Vec::with_capacity(stored.len());
    for stored in stored {
        let event = stored.event().map_err(|e| ProjectError::Undecodable {
            conversation_uid: uid.to_owned(),
            version: stored.version,
            reason: e.to_string(),
        })?;
        events.push((stored.version, event));
    }
    if have + events.len() as u64 + 1 != next {
        return Err(ProjectError::Gap {
            conversation_uid: uid.to_owned(),
            from: have + 1,
            to: next - 1,
        });
    }
    Ok(events)
}
