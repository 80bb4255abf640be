//! Offsets as the broker reports them, per partition of a topic: the watermarks (how far a
//! partition goes) and the first offset at or after a time. Used by the operating tools
//! (`convo projector status|reset`); nothing here moves anyone's position.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
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

impl Watermarks {
    /// Records between `position` and the high watermark (a position below the low watermark
    /// counts from there: the records before it are gone). `None` when the watermark is below
    /// the position: some brokers (tansu) list watermarks too low, and that is not believed.
    pub fn behind(&self, position: i64) -> Option<i64> {
        (self.high >= position).then(|| self.high - position.max(self.low))
    }
}

/// How far each of `positions` (partition, next offset) is behind its partition's high
/// watermark, for the partitions where the broker reports one it can be believed about; empty
/// when the broker does not answer.
pub async fn behind(
    config: &KafkaConfig,
    topic: &str,
    positions: &BTreeMap<i32, i64>,
) -> BTreeMap<i32, i64> {
    let partitions: Vec<i32> = positions.keys().copied().collect();
    let marks = watermarks(config, topic, &partitions)
        .await
        .unwrap_or_default();
    positions
        .iter()
        .filter_map(|(p, at)| Some((*p, marks.get(p)?.behind(*at)?)))
        .collect()
}

/// The watermarks of `partitions` of `topic`; a partition the broker did not answer for (or
/// answered with nonsense: negative, or low above high) is absent, and so are the ones after a
/// partition it did not answer for in time.
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
                Err(e) => {
                    // A broker that does not answer for one will not for the others either.
                    tracing::warn!(%topic, partition, error = %e, "no watermarks");
                    break;
                }
            }
        }
        Ok(found)
    })
    .await
}

/// Where a time falls in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtTime {
    /// The first record at or after the time.
    Offset(i64),
    /// No record is that recent: the end, with the high watermark the broker reports.
    End { high: i64 },
}

/// Per partition of `partitions`: where the first record whose timestamp is at or after `at_ms`
/// (milliseconds since the epoch) is. The broker's answer is checked against the records around
/// it (some brokers answer with the first offset whatever the time); a wrong one is replaced by
/// reading the partition until the first such record.
pub async fn offsets_at(
    config: &KafkaConfig,
    topic: &str,
    partitions: &[i32],
    at_ms: i64,
) -> Result<BTreeMap<i32, AtTime>, KafkaError> {
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
            let partition = element.partition();
            let (low, high) = consumer.fetch_watermarks(&topic, partition, TIMEOUT)?;
            let at = match element.offset() {
                Offset::Offset(offset) => {
                    let scan = Scan { consumer, topic: &topic, partition, at_ms };
                    if scan.confirms(offset, low)? {
                        AtTime::Offset(offset)
                    } else {
                        tracing::warn!(%topic, partition, offset, "the broker's offset for the time is wrong; reading the partition");
                        scan.first_from(low)?.map_or(AtTime::End { high }, AtTime::Offset)
                    }
                }
                _ => AtTime::End { high },
            };
            found.insert(partition, at);
        }
        Ok(found)
    })
    .await
}

/// Reading one partition for records at or after a time.
struct Scan<'a> {
    consumer: &'a BaseConsumer<LogContext>,
    topic: &'a str,
    partition: i32,
    at_ms: i64,
}

impl Scan<'_> {
    /// Whether `offset` holds the first record at or after the time: its record is that recent,
    /// and the one before it (if any) is not.
    fn confirms(&self, offset: i64, low: i64) -> Result<bool, KafkaError> {
        let here = self.record_time(offset)?;
        let before = if offset > low {
            self.record_time(offset - 1)?
        } else {
            None
        };
        Ok(here.is_some_and(|t| t >= self.at_ms) && before.is_none_or(|t| t < self.at_ms))
    }

    /// The timestamp of the first record at or after `offset` (`None`: none before the end).
    fn record_time(&self, offset: i64) -> Result<Option<i64>, KafkaError> {
        self.read_from(offset, |_| true)
            .map(|found| found.map(|(_, time)| time))
    }

    /// The offset of the first record from `offset` on that is at or after the time.
    fn first_from(&self, offset: i64) -> Result<Option<i64>, KafkaError> {
        let at_ms = self.at_ms;
        self.read_from(offset, |time| time >= at_ms)
            .map(|found| found.map(|(o, _)| o))
    }

    /// Reads from `offset` until a record whose timestamp satisfies `wanted` (its offset and
    /// timestamp) or the end of the partition.
    fn read_from(
        &self,
        offset: i64,
        wanted: impl Fn(i64) -> bool,
    ) -> Result<Option<(i64, i64)>, KafkaError> {
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(self.topic, self.partition, Offset::Offset(offset))?;
        self.consumer.assign(&assignment)?;
        let deadline = std::time::Instant::now() + TIMEOUT * 6;
        while std::time::Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if m.offset() >= offset => {
                    let time = m.timestamp().to_millis().unwrap_or(i64::MIN);
                    if wanted(time) {
                        return Ok(Some((m.offset(), time)));
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => return Ok(None),
                Some(Err(e)) => return Err(e),
                _ => {}
            }
        }
        Err(KafkaError::MessageConsumption(
            rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
        ))
    }
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
            .set("enable.partition.eof", "true")
            .create_with_context(LogContext)?;
        ask(&consumer)
    })
    .await
    .expect("the offsets reader does not panic")
}
