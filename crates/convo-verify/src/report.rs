//! What `verify` found: counts of what it checked, and every breach.

use serde::Serialize;
use serde_json::Value;

/// How much was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub conversations: usize,
    pub events_stored: usize,
    /// Records on the events topic (in scope), duplicates included.
    pub event_records: usize,
    /// Records on the events topic whose event id was already seen (at-least-once delivery).
    pub event_duplicates: usize,
    pub read_models: usize,
    /// Records on the commands topic (in scope).
    pub commands: usize,
    pub outcomes: usize,
    /// Outcomes identical to one already seen for the same command (redelivery).
    pub outcome_duplicates: usize,
    pub dead_letters: usize,
    pub parked: usize,
}

/// One invariant that does not hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Breach {
    /// A committed event that is not on the events topic.
    MissingOnTopic {
        conversation_uid: String,
        version: u64,
        event_id: String,
    },
    /// A record on the events topic that the store does not hold (under that id, uid and version).
    UnknownOnTopic {
        conversation_uid: String,
        version: u64,
        event_id: String,
        partition: i32,
        offset: i64,
    },
    /// A version that first appears on its partition out of sequence.
    OutOfOrder {
        conversation_uid: String,
        partition: i32,
        offset: i64,
        version: u64,
        after: u64,
    },
    /// A conversation's events on more than one partition.
    SplitAcrossPartitions {
        conversation_uid: String,
        partitions: Vec<i32>,
    },
    /// A record on the events or commands topic that cannot be read as one.
    UnreadableRecord {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
    /// Versions missing from the event store (they must run 1, 2, 3, ... without a hole).
    VersionGap {
        conversation_uid: String,
        missing: Vec<u64>,
    },
    /// A conversation with events and no read-model row.
    ReadModelMissing {
        conversation_uid: String,
        version: u64,
    },
    /// A read-model row that is not the fold of the conversation's events.
    ReadModelDiffers {
        conversation_uid: String,
        expected_version: u64,
        found_version: u64,
        /// What differs: state fields, collaborator or message rows.
        differences: Vec<String>,
    },
    /// A read-model row for a conversation without events.
    ReadModelUnknown { conversation_uid: String },
    /// A command on the commands topic without an outcome (or a dead letter).
    CommandWithoutOutcome {
        command_id: String,
        conversation_uid: String,
        partition: i32,
        offset: i64,
    },
    /// One command id answered with different outcomes.
    ConflictingOutcomes {
        command_id: String,
        outcomes: Vec<Value>,
    },
    /// A conversation the projector parked (its later events wait for an operator).
    Parked { row: Value },
    /// A relay that cannot publish (a record the broker refuses, a position from another
    /// cluster): nothing after its position reaches the events topic until it is fixed.
    RelayStalled {
        relay: String,
        since: String,
        reason: String,
    },
}

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingOnTopic {
                conversation_uid,
                version,
                event_id,
            } => write!(
                f,
                "event {conversation_uid} v{version} ({event_id}) is committed but not on the events topic"
            ),
            Self::UnknownOnTopic {
                conversation_uid,
                version,
                event_id,
                partition,
                offset,
            } => write!(
                f,
                "event {conversation_uid} v{version} ({event_id}) at {partition}@{offset} is on the topic but not in the store"
            ),
            Self::OutOfOrder {
                conversation_uid,
                partition,
                offset,
                version,
                after,
            } => write!(
                f,
                "{conversation_uid}: v{version} at {partition}@{offset} comes right after v{after} (wrong order)"
            ),
            Self::SplitAcrossPartitions {
                conversation_uid,
                partitions,
            } => write!(
                f,
                "{conversation_uid}: events on several partitions {partitions:?}"
            ),
            Self::UnreadableRecord {
                topic,
                partition,
                offset,
                reason,
            } => write!(f, "{topic} {partition}@{offset} cannot be read: {reason}"),
            Self::VersionGap {
                conversation_uid,
                missing,
            } => write!(
                f,
                "{conversation_uid}: versions {missing:?} are missing from the event store"
            ),
            Self::ReadModelMissing {
                conversation_uid,
                version,
            } => write!(
                f,
                "{conversation_uid}: no read model (the store is at v{version})"
            ),
            Self::ReadModelDiffers {
                conversation_uid,
                expected_version,
                found_version,
                differences,
            } => write!(
                f,
                "{conversation_uid}: read model (v{found_version}) differs from the fold of the events (v{expected_version}): {}",
                differences.join(", ")
            ),
            Self::ReadModelUnknown { conversation_uid } => write!(
                f,
                "{conversation_uid}: read model for a conversation without events"
            ),
            Self::CommandWithoutOutcome {
                command_id,
                conversation_uid,
                partition,
                offset,
            } => write!(
                f,
                "command {command_id} ({conversation_uid}, {partition}@{offset}) has no outcome"
            ),
            Self::ConflictingOutcomes {
                command_id,
                outcomes,
            } => write!(
                f,
                "command {command_id} has {} different outcomes: {}",
                outcomes.len(),
                outcomes
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(" vs ")
            ),
            Self::Parked { row } => write!(f, "parked: {row}"),
            Self::RelayStalled {
                relay,
                since,
                reason,
            } => write!(f, "relay {relay} stalled since {since}: {reason}"),
        }
    }
}

/// Everything one run of the checks found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The one conversation checked, or none for everything.
    pub conversation: Option<String>,
    pub checked: Counts,
    pub breaches: Vec<Breach>,
    /// How many times the checks ran before this report (see `verify_until_clean`).
    pub attempts: u32,
}

impl Report {
    pub fn new(conversation: Option<&str>) -> Self {
        Self {
            conversation: conversation.map(str::to_owned),
            checked: Counts::default(),
            breaches: Vec::new(),
            attempts: 1,
        }
    }

    pub fn is_clean(&self) -> bool {
        self.breaches.is_empty()
    }

    pub fn breach(&mut self, breach: Breach) {
        self.breaches.push(breach);
    }
}

/// At most this many breaches are listed in the text report (all are in `--json`).
const SHOWN: usize = 50;

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.checked;
        let scope = self.conversation.as_deref().unwrap_or("all conversations");
        writeln!(f, "verify: {scope}")?;
        writeln!(
            f,
            "  store:       {} conversations, {} events",
            c.conversations, c.events_stored
        )?;
        writeln!(
            f,
            "  events:      {} records on the topic ({} duplicates of an event id)",
            c.event_records, c.event_duplicates
        )?;
        writeln!(f, "  read models: {} rows", c.read_models)?;
        writeln!(
            f,
            "  commands:    {} on the topic, {} outcomes ({} identical repeats), {} dead letters",
            c.commands, c.outcomes, c.outcome_duplicates, c.dead_letters
        )?;
        writeln!(f, "  parked:      {}", c.parked)?;
        if self.is_clean() {
            return write!(f, "OK: no breach (attempt {})", self.attempts);
        }
        for breach in self.breaches.iter().take(SHOWN) {
            writeln!(f, "BREACH {breach}")?;
        }
        if self.breaches.len() > SHOWN {
            writeln!(f, "... and {} more", self.breaches.len() - SHOWN)?;
        }
        write!(
            f,
            "FAILED: {} breaches (attempt {})",
            self.breaches.len(),
            self.attempts
        )
    }
}
