//! Offsets as the broker reports them, per partition of a topic: the watermarks (how far a
//! partition goes) and the first offset at or after a time. Used by the operating tools
//! (`convo projector status|reset`); nothing here moves anyone's position.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::context::LogContext;

/// How long one question to the broker may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A partition's low (first kept) and high (next to be written) offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    pub low: i64,
    pub high: i64,
}

/// The watermarks of `partitions` of `topic`; a partition the broker did not answer for (or
/// answered with nonsense: negative, or low above high) is absent.
pub async fn watermarks(
    config: &KafkaConfig,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, Watermarks>, KafkaError> {
    let (topic, partitions) = (topic.to_owned(), partitions.to_vec());
    blocking(config, move |consumer| {
        let mut found = BTreeMap::new();
        for partition in partitions {
            match consumer.fetch_watermarks(&topic, partition, TIMEOUT) {
                Ok((low, high)) if 0 <= low && low <= high => {
                    found.insert(partition, Watermarks { low, high });
                }
                Ok((low, high)) => {
                    tracing::warn!(%topic, partition, low, high, "the broker reports nonsense watermarks")
                }
                Err(e) => tracing::warn!(%topic, partition, error = %e, "no watermarks"),
            }
        }
        Ok(found)
    })
    .await
}

/// Per partition of `partitions`: the first offset whose record's timestamp is at or after `at`
/// (milliseconds since the epoch), or the high watermark when no record is that recent.
pub async fn offsets_at(
    config: &KafkaConfig,
    topic: &str,
    partitions: &[i32],
    at_ms: i64,
) -> Result<BTreeMap<i32, i64>, KafkaError> {
    let (topic, partitions) = (topic.to_owned(), partitions.to_vec());
    blocking(config, move |consumer| {
        let mut query = TopicPartitionList::new();
        for partition in &partitions {
            query.add_partition_offset(&topic, *partition, Offset::Offset(at_ms))?;
        }
        let answer = consumer.offsets_for_times(query, TIMEOUT)?;
        let mut found = BTreeMap::new();
        for element in answer.elements() {
            element.error()?;
            let offset = match element.offset() {
                Offset::Offset(offset) => offset,
                // No record that recent: the end of the partition.
                _ => {
                    consumer
                        .fetch_watermarks(&topic, element.partition(), TIMEOUT)?
                        .1
                }
            };
            found.insert(element.partition(), offset);
        }
        Ok(found)
    })
    .await
}

/// Runs `ask` with a consumer that never joins a group, off the async workers (librdkafka's
/// calls block).
async fn blocking<T: Send + 'static>(
    config: &KafkaConfig,
    ask: impl FnOnce(&BaseConsumer<LogContext>) -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<LogContext> = config
            .base_config()
            .set(
                "group.id",
                format!("convo-offsets-{}", uuid::Uuid::new_v4().simple()),
            )
            .set("enable.auto.commit", "false")
            .create_with_context(LogContext)?;
        ask(&consumer)
    })
    .await
    .expect("the offsets reader does not panic")
}
