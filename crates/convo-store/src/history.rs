//! A conversation's past: its events and its state at any version or time, folded from the
//! events (snapshots are not used: they hold only the latest state). For `convo history` and
//! `convo state`.

use chrono::{DateTime, Utc};
use convo_domain::{Conversation, Event};
use sqlx::PgConnection;

use crate::error::StoreError;
use crate::events::{self, StoredEvent};

/// Why a past state cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("conversation {0} has no events (unknown uid?)")]
    Unknown(String),
    #[error("conversation {uid} has {last} events: version {asked} does not exist")]
    BeyondLast { uid: String, asked: u64, last: u64 },
    #[error("conversation {uid} started at {started}, after {asked}")]
    BeforeStart {
        uid: String,
        asked: DateTime<Utc>,
        started: DateTime<Utc>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for HistoryError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Which point of a conversation's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// After every event.
    Latest,
    /// After the first N events (N >= 1).
    Version(u64),
    /// After the events that happened at or before this time: the leading run of events, in
    /// version order, whose `occurred_at` is not after it.
    Time(DateTime<Utc>),
}

/// A conversation's events, each decoded in the current shape.
#[derive(Debug, Clone)]
pub struct History {
    pub events: Vec<(StoredEvent, Event)>,
}

impl History {
    /// The events of `uid` (as stored under that uid: merges are not followed), in version order.
    pub async fn load(conn: &mut PgConnection, uid: &str) -> Result<Self, HistoryError> {
        let stored = events::stream(conn, uid, 0, None).await?;
        if stored.is_empty() {
            return Err(HistoryError::Unknown(uid.to_owned()));
        }
        let events = stored
            .into_iter()
            .map(|s| s.event().map(|e| (s, e)))
            .collect::<Result<_, _>>()?;
        Ok(Self { events })
    }

    /// How many events `point` covers.
    pub fn version_at(&self, point: Point) -> Result<u64, HistoryError> {
        let last = self.events.len() as u64;
        let (first, _) = &self.events[0];
        match point {
            Point::Latest => Ok(last),
            Point::Version(n) if (1..=last).contains(&n) => Ok(n),
            Point::Version(n) => Err(HistoryError::BeyondLast {
                uid: first.conversation_uid.clone(),
                asked: n,
                last,
            }),
            Point::Time(t) if t < first.occurred_at => Err(HistoryError::BeforeStart {
                uid: first.conversation_uid.clone(),
                asked: t,
                started: first.occurred_at,
            }),
            Point::Time(t) => Ok(self
                .events
                .iter()
                .take_while(|(s, _)| s.occurred_at <= t)
                .count() as u64),
        }
    }

    /// The state after the first `version` events.
    pub fn state_after(&self, version: u64) -> Conversation {
        let uid = &self.events[0].0.conversation_uid;
        Conversation::fold(
            uid,
            self.events.iter().take(version as usize).map(|(_, e)| e),
        )
    }

    /// The conversation this one was merged into, if it was.
    pub fn merged_into(&self) -> Option<&str> {
        self.events.iter().find_map(|(_, e)| match &e.body {
            convo_domain::EventBody::MergedInto { target_uid } => Some(target_uid.as_str()),
            _ => None,
        })
    }
}
