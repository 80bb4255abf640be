//! Projector control (`convo projector status|reset`). A projection is a consumer of the events
//! topic in `partition_claims` (the projector's name: "conversations", "follow-ups"); nothing here knows the
//! names in advance.
//!
//! - [`status`]: per projection and partition, the position, how far behind the broker's high
//!   watermark it is (`None` when the broker does not say, or says something impossible), the
//!   owner and its lease, the parked conversations and when a batch last moved the position.
//! - [`plan_reset`] and [`apply_reset`]: move a stopped projection's positions to the earliest
//!   offsets or to the first offset at or after a time. Refused while any member is live.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use convo_kafka::KafkaConfig;
use convo_kafka::offsets::{self, AtTime, Watermarks};
use convo_partitions::positions::{self, MoveError, Position};
use rdkafka::error::KafkaError;
use serde::Serialize;
use sqlx::PgPool;

use crate::parked;

#[derive(Debug, Clone, Serialize)]
pub struct PartitionStatus {
    pub partition: i32,
    /// The next offset the projection reads.
    pub position: i64,
    /// The high watermark minus the position; `None`: unknown.
    pub behind: Option<i64>,
    pub owner: Option<String>,
    /// Whether the owner's lease still runs.
    pub leased: bool,
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Conversations parked at records of this partition.
    pub parked: i64,
    /// When a batch last moved the position (`None`: never).
    pub applied_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProjectionStatus {
    pub name: String,
    pub topic: String,
    pub live_members: i64,
    /// Every parked conversation of the projection (some may have no partition: -1).
    pub parked: i64,
    pub partitions: Vec<PartitionStatus>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no projection named {name:?} (projections: {known})")]
    Unknown { name: String, known: String },
    #[error(transparent)]
    Move(#[from] MoveError),
    #[error(
        "the broker did not report the offsets of {topic} partition {partition}; nothing was changed"
    )]
    NoOffsets { topic: String, partition: i32 },
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Where every projection stands.
pub async fn status(
    pool: &PgPool,
    kafka: &KafkaConfig,
) -> Result<Vec<ProjectionStatus>, ControlError> {
    let topic = &kafka.topics.events;
    let claims = positions::on_topic(pool, topic).await?;
    let mut numbers: Vec<i32> = claims.iter().map(|c| c.partition).collect();
    numbers.sort_unstable();
    numbers.dedup();
    // A broker that does not answer leaves "behind" unknown; the rest is still worth showing.
    let marks = offsets::watermarks(kafka, topic, &numbers)
        .await
        .unwrap_or_default();
    let parked = parked::counts(pool).await?;
    let mut projections: Vec<ProjectionStatus> = Vec::new();
    for claim in claims {
        if projections.last().is_none_or(|p| p.name != claim.consumer) {
            projections.push(ProjectionStatus {
                live_members: positions::live_members(pool, &claim.consumer, topic).await?,
                parked: parked.total(&claim.consumer),
                name: claim.consumer.clone(),
                topic: topic.clone(),
                partitions: Vec::new(),
            });
        }
        let parked = parked.at(&claim.consumer, claim.partition);
        let behind = behind(&claim, marks.get(&claim.partition));
        if let Some(projection) = projections.last_mut() {
            projection
                .partitions
                .push(partition_status(claim, behind, parked));
        }
    }
    Ok(projections)
}

fn partition_status(claim: Position, behind: Option<i64>, parked: i64) -> PartitionStatus {
    PartitionStatus {
        partition: claim.partition,
        position: claim.next_offset,
        behind,
        owner: claim.owner,
        leased: claim.leased,
        lease_expires_at: claim.lease_expires_at,
        parked,
        applied_at: claim.applied_at,
    }
}

/// Records between the position and the high watermark ([`Watermarks::behind`]); `None` when the
/// watermark is unknown or not believed.
fn behind(claim: &Position, marks: Option<&Watermarks>) -> Option<i64> {
    marks?.behind(claim.next_offset)
}

/// Where to move a projection's positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    Earliest,
    /// The first record at or after this time.
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone, Serialize)]
pub struct Move {
    pub partition: i32,
    pub from: i64,
    pub to: i64,
}

/// What a reset would do (nothing is changed until [`apply_reset`]).
#[derive(Debug, Clone, Serialize)]
pub struct ResetPlan {
    pub name: String,
    pub topic: String,
    pub moves: Vec<Move>,
}

/// The moves that reset `name` to `to`. Refused for an unknown projection and while any of its
/// members is live.
pub async fn plan_reset(
    pool: &PgPool,
    kafka: &KafkaConfig,
    name: &str,
    to: ResetTo,
) -> Result<ResetPlan, ControlError> {
    let topic = &kafka.topics.events;
    let claims = positions::on_topic(pool, topic).await?;
    let mine: Vec<&Position> = claims.iter().filter(|c| c.consumer == name).collect();
    if mine.is_empty() {
        let mut known: Vec<&str> = claims.iter().map(|c| c.consumer.as_str()).collect();
        known.dedup();
        let known = if known.is_empty() {
            "none yet".to_owned()
        } else {
            known.join(", ")
        };
        return Err(ControlError::Unknown {
            name: name.to_owned(),
            known,
        });
    }
    let members = positions::live_members(pool, name, topic).await?;
    if members > 0 {
        let consumer = name.to_owned();
        return Err(MoveError::Live { consumer, members }.into());
    }
    let numbers: Vec<i32> = mine.iter().map(|c| c.partition).collect();
    let targets = targets(kafka, topic, &numbers, to).await?;
    let mut moves = Vec::with_capacity(mine.len());
    for claim in mine {
        let target = targets
            .get(&claim.partition)
            .ok_or_else(|| ControlError::NoOffsets {
                topic: topic.clone(),
                partition: claim.partition,
            })?;
        let to = match *target {
            AtTime::Offset(offset) => offset,
            // Nothing that recent: the end (a watermark below the position is not believed).
            AtTime::End { high } => high.max(claim.next_offset),
        };
        moves.push(Move {
            partition: claim.partition,
            from: claim.next_offset,
            to,
        });
    }
    Ok(ResetPlan {
        name: name.to_owned(),
        topic: topic.clone(),
        moves,
    })
}

/// Where `to` falls in each of `partitions`, as the broker reports it.
async fn targets(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: &[i32],
    to: ResetTo,
) -> Result<BTreeMap<i32, AtTime>, KafkaError> {
    Ok(match to {
        ResetTo::Earliest => offsets::watermarks(kafka, topic, partitions)
            .await?
            .into_iter()
            .map(|(p, marks)| (p, AtTime::Offset(marks.low)))
            .collect(),
        ResetTo::Time(at) => {
            offsets::offsets_at(kafka, topic, partitions, at.timestamp_millis()).await?
        }
    })
}

/// Applies `plan` in one transaction; refused (nothing changed) when a member went live since.
pub async fn apply_reset(pool: &PgPool, plan: &ResetPlan) -> Result<(), ControlError> {
    let positions: Vec<(i32, i64)> = plan.moves.iter().map(|m| (m.partition, m.to)).collect();
    positions::move_positions(pool, &plan.name, &plan.topic, &positions).await?;
    Ok(())
}
