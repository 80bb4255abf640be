//! A Kafka consumer that reads exactly the partitions its [`Claims`] hold: partitions are
//! assigned (`incremental_assign`, at the offsets stored in PostgreSQL) and unassigned as claims
//! change. It never subscribes, so no broker group coordinator decides anything.

use std::time::Duration;

use convo_kafka::{KafkaConfig, LogContext};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sqlx::PgPool;

use crate::claims::{Claims, Rebalance};

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("topic {0} does not exist (yet) or has no partitions")]
    NoTopic(String),
}

/// One member of a consumer: its claims and the consumer that follows them.
pub struct Member {
    pub claims: Claims,
    consumer: StreamConsumer<LogContext>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl Member {
    /// Joins `consumer` on `topic` (whose partition count is read from the broker). No partition is
    /// held until the first [`Member::rebalance`].
    pub async fn join(
        kafka: &KafkaConfig,
        pool: PgPool,
        consumer: &str,
        topic: &str,
        lease: Duration,
    ) -> Result<Self, MemberError> {
        let partitions = partition_count(kafka, topic).await?;
        let claims = Claims::join(pool, consumer, topic, partitions, lease).await?;
        // librdkafka needs a group id to assign partitions; the group never joins (no subscribe)
        // and commits nothing (positions live in PostgreSQL).
        let consumer: StreamConsumer<LogContext> = kafka
            .consumer(&format!("convo-{consumer}"))
            .set("enable.auto.commit", "false")
            .create_with_context(LogContext)?;
        tracing::info!(
            consumer = claims.consumer(),
            topic,
            partitions,
            member = claims.member(),
            "joined"
        );
        Ok(Self { claims, consumer })
    }

    pub fn consumer(&self) -> &StreamConsumer<LogContext> {
        &self.consumer
    }

    /// Whether records of `partition` are this member's to process.
    pub fn owns(&self, partition: i32) -> bool {
        self.claims.owned().contains(&partition)
    }

    /// Heartbeats: stops reading partitions another member took, starts reading the ones claimed.
    /// Returns the partitions to hand back; the caller stops processing them (stores what it
    /// finished) and then calls [`Member::release`]. A failed heartbeat (database down) changes
    /// nothing here: leases then expire, and a member that lost one learns it at a later beat.
    pub async fn rebalance(&mut self) -> Vec<i32> {
        let change = match self.claims.heartbeat().await {
            Ok(change) => change,
            Err(e) => {
                tracing::warn!(consumer = self.claims.consumer(), error = %e, "heartbeat failed; retrying at the next one");
                return Vec::new();
            }
        };
        if change.is_empty() {
            return Vec::new();
        }
        let Rebalance {
            claimed,
            lost,
            to_release,
        } = change;
        if !lost.is_empty() {
            tracing::warn!(consumer = self.claims.consumer(), partitions = ?lost, "partitions taken over by another member");
            self.unassign(&lost);
        }
        if !claimed.is_empty() {
            let mut list = TopicPartitionList::new();
            for (partition, offset) in &claimed {
                if let Err(e) = list.add_partition_offset(
                    self.claims.topic(),
                    *partition,
                    Offset::Offset(*offset),
                ) {
                    tracing::error!(partition, error = %e, "cannot assign");
                }
            }
            if let Err(e) = self.consumer.incremental_assign(&list) {
                // Give the claims back so that a retry (or another member) starts clean.
                tracing::error!(error = %e, "assigning claimed partitions failed");
                let partitions: Vec<i32> = claimed.iter().map(|(p, _)| *p).collect();
                self.release(&partitions).await;
                return to_release;
            }
            tracing::info!(consumer = self.claims.consumer(), claimed = ?claimed, owned = ?self.claims.owned(), "claimed partitions");
        }
        to_release
    }

    /// Stops reading `partitions` and hands them back.
    pub async fn release(&mut self, partitions: &[i32]) {
        if partitions.is_empty() {
            return;
        }
        self.unassign(partitions);
        match self.claims.release(partitions).await {
            Ok(()) => {
                tracing::info!(consumer = self.claims.consumer(), released = ?partitions, owned = ?self.claims.owned(), "released partitions")
            }
            // The leases expire by themselves.
            Err(e) => tracing::warn!(error = %e, "releasing partitions failed"),
        }
    }

    /// Stops reading partitions this member no longer holds (found out while storing a position).
    pub fn drop_lost(&mut self, partitions: &[i32]) {
        self.claims.forget(partitions);
        self.unassign(partitions);
    }

    fn unassign(&self, partitions: &[i32]) {
        let mut list = TopicPartitionList::new();
        let assigned = self.consumer.assignment().unwrap_or_default();
        for partition in partitions {
            if assigned
                .find_partition(self.claims.topic(), *partition)
                .is_some()
            {
                list.add_partition(self.claims.topic(), *partition);
            }
        }
        if list.count() > 0
            && let Err(e) = self.consumer.incremental_unassign(&list)
        {
            tracing::warn!(error = %e, "unassigning partitions failed");
        }
    }

    /// Leaves the consumer: releases every claim so the others take over at once.
    pub async fn leave(self) {
        let consumer = self.claims.consumer().to_owned();
        if let Err(e) = self.claims.leave().await {
            tracing::warn!(%consumer, error = %e, "leaving failed; the leases expire by themselves");
        }
    }
}

/// The partition count of `topic`, from the broker's metadata.
async fn partition_count(kafka: &KafkaConfig, topic: &str) -> Result<i32, MemberError> {
    let config = kafka.base_config();
    let name = topic.to_owned();
    let count = tokio::task::spawn_blocking(move || -> Result<usize, KafkaError> {
        let client: BaseConsumer<LogContext> = config.create_with_context(LogContext)?;
        let metadata = client.fetch_metadata(Some(&name), Duration::from_secs(10))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.name() == name && t.error().is_none())
            .map(|t| t.partitions().len())
            .sum())
    })
    .await
    .map_err(|_| MemberError::NoTopic(topic.to_owned()))??;
    match i32::try_from(count) {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(MemberError::NoTopic(topic.to_owned())),
    }
}
