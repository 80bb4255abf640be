//! The projector's Kafka side: a consumer group on the events topic. Records are batched
//! (up to `batch_max`, or whatever arrived within `batch_wait`) and applied in one transaction.
//! Each assigned partition starts at its checkpoint stored in PostgreSQL, and offsets are stored
//! for commit only after the transaction committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use convo_kafka::{EventRecord, KafkaConfig, LogContext};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::project::{Incoming, ProjectError, apply_batch, load_checkpoints};

#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// The projector's name: its checkpoint rows are keyed by it.
    pub name: String,
    pub group_id: String,
    pub batch_max: usize,
    pub batch_wait: Duration,
    pub retry_wait: Duration,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            name: "read-models".to_owned(),
            group_id: "convo-projector".to_owned(),
            batch_max: 2000,
            batch_wait: Duration::from_millis(5),
            retry_wait: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
    #[error("read models: {0}")]
    Project(#[from] ProjectError),
}

/// Next offsets per partition, shared between the loop and the rebalance callback.
type Checkpoints = Arc<Mutex<HashMap<i32, i64>>>;

/// Starts every newly assigned partition at its stored checkpoint.
struct CheckpointContext {
    topic: String,
    checkpoints: Checkpoints,
}

impl ClientContext for CheckpointContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        LogContext.log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        LogContext.error(error, reason);
    }
}

impl ConsumerContext for CheckpointContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let checkpoints = self
                    .checkpoints
                    .lock()
                    .map(|c| c.clone())
                    .unwrap_or_default();
                for (partition, next) in checkpoints {
                    if tpl.find_partition(&self.topic, partition).is_some() {
                        let _ =
                            tpl.set_partition_offset(&self.topic, partition, Offset::Offset(next));
                    }
                }
                tracing::info!(partitions = tpl.count(), "projector assigned partitions");
                consumer.assign(tpl)
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => consumer.unassign(),
            other => {
                tracing::warn!(error = ?other, "rebalance error");
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "rebalance failed");
        }
    }
}

/// Projects until `shutdown`.
pub async fn run(
    config: ProjectorConfig,
    kafka: KafkaConfig,
    pool: PgPool,
    shutdown: CancellationToken,
) -> Result<(), ProjectorError> {
    let topic = kafka.topics.events.clone();
    let checkpoints: Checkpoints = Arc::new(Mutex::new(
        load_checkpoints(&pool, &config.name, &topic).await?,
    ));
    let consumer: StreamConsumer<CheckpointContext> = kafka
        .consumer(&config.group_id)
        .create_with_context(CheckpointContext {
            topic: topic.clone(),
            checkpoints: checkpoints.clone(),
        })?;
    consumer.subscribe(&[topic.as_str()])?;
    tracing::info!(%topic, group = %config.group_id, "projector started");

    while let Some(batch) = next_batch(&consumer, &config, &shutdown).await {
        let incoming: Vec<Incoming> = batch
            .iter()
            .filter_map(|m| match EventRecord::from_message(m) {
                Ok(record) => Some(Incoming {
                    partition: m.partition(),
                    offset: m.offset(),
                    record,
                }),
                Err(e) => {
                    tracing::error!(error = %e, partition = m.partition(), offset = m.offset(), "not an event record; skipped");
                    None
                }
            })
            .collect();
        let applied = loop {
            match apply_batch(&pool, &config.name, &topic, &incoming).await {
                Ok(applied) => break applied,
                Err(e) => {
                    tracing::warn!(error = %e, "projection failed; retrying");
                    if tokio::time::timeout(config.retry_wait, shutdown.cancelled())
                        .await
                        .is_ok()
                    {
                        return finish(&consumer);
                    }
                }
            }
        };
        if let Ok(mut shared) = checkpoints.lock() {
            shared.extend(applied.checkpoints.iter().map(|(p, o)| (*p, *o)));
        }
        for message in &batch {
            consumer.store_offset_from_message(message)?;
        }
        tracing::debug!(
            applied = applied.applied,
            skipped = applied.skipped,
            "batch projected"
        );
    }
    finish(&consumer)
}

/// Waits for one record, then takes whatever else arrives within `batch_wait`, up to
/// `batch_max`. `None` on shutdown.
async fn next_batch<'c>(
    consumer: &'c StreamConsumer<CheckpointContext>,
    config: &ProjectorConfig,
    shutdown: &CancellationToken,
) -> Option<Vec<rdkafka::message::BorrowedMessage<'c>>> {
    let mut batch = Vec::with_capacity(config.batch_max);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return None,
            message = consumer.recv() => match message {
                Ok(message) => {
                    batch.push(message);
                    break;
                }
                Err(e) => tracing::warn!(error = %e, "event consumer error"),
            },
        }
    }
    let deadline = tokio::time::Instant::now() + config.batch_wait;
    while batch.len() < config.batch_max {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => batch.push(message),
            Ok(Err(e)) => tracing::warn!(error = %e, "event consumer error"),
            Err(_) => break,
        }
    }
    Some(batch)
}

fn finish(consumer: &StreamConsumer<CheckpointContext>) -> Result<(), ProjectorError> {
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final offset commit");
    }
    tracing::info!("projector stopped");
    Ok(())
}
