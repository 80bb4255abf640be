//! Reading a whole topic once, from the beginning to its end, without a consumer group: every
//! partition is assigned explicitly, so no group coordinator is involved and no offsets are
//! committed.
//!
//! "The end" is found without trusting watermarks alone (some brokers report them wrong when the
//! last batch holds several records): a partition is finished when the consumer reached its high
//! watermark or the end of what the broker returned (partition EOF), and then nothing more arrived
//! for `settle`; a partition that never reaches its watermark is finished after `5 × settle` of
//! silence. The whole read gives up after `timeout`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::KafkaConfig;
use crate::context::LogContext;

/// How a whole-topic read ends.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Silence after the end of a partition before it counts as read.
    pub settle: Duration,
    /// For a topic that is being written to: a partition is finished once the consumer read a
    /// record written after the read began (its timestamp), or reached the end of what the broker
    /// had (partition EOF) past the watermark listed when the read began, even while records keep
    /// arriving. (Listed watermarks are not trusted alone: some brokers report them too low.)
    pub stop_at_start_end: bool,
    /// The longest the whole read may take.
    pub timeout: Duration,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            settle: Duration::from_millis(500),
            stop_at_start_end: false,
            timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
    #[error("topic {0} does not exist")]
    NoTopic(String),
    #[error("topic {topic}: partitions {partitions:?} still unread after {timeout:?}")]
    Timeout {
        topic: String,
        partitions: Vec<i32>,
        timeout: Duration,
    },
}

/// Per partition: where reading stands.
#[derive(Debug)]
struct Progress {
    high: i64,
    /// With `stop_at_start_end`: a record written after the read began was read.
    past_start: bool,
    next: i64,
    at_end: bool,
    last_activity: Instant,
}

impl Progress {
    fn finished(&self, now: Instant, limits: &ReadLimits) -> bool {
        if limits.stop_at_start_end && (self.past_start || (self.at_end && self.next >= self.high))
        {
            return true;
        }
        let settle = limits.settle;
        let quiet = now.duration_since(self.last_activity);
        let reached = self.at_end || self.next >= self.high;
        (reached && quiet >= settle) || quiet >= settle * 5
    }
}

/// Every record of `topic`, in offset order per partition (partitions one after another).
pub async fn read_topic(
    config: &KafkaConfig,
    topic: &str,
    limits: ReadLimits,
) -> Result<Vec<OwnedMessage>, ReadError> {
    let (config, topic) = (config.clone(), topic.to_owned());
    // librdkafka's polling blocks: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let mut records: BTreeMap<i32, Vec<OwnedMessage>> = BTreeMap::new();
        read_blocking(&config, &topic, limits, |message| {
            records
                .entry(message.partition())
                .or_default()
                .push(message);
            true
        })?;
        Ok(records.into_values().flatten().collect())
    })
    .await
    .expect("the topic reader does not panic")
}

/// Sends every record of `topic` to `sink` as it is read (offset order within each partition,
/// partitions interleaved), so memory stays flat; returns where each partition ended (the offset
/// after the last record read). Stops early, without error, when `sink` is closed.
pub async fn stream_topic(
    config: &KafkaConfig,
    topic: &str,
    limits: ReadLimits,
    sink: tokio::sync::mpsc::Sender<OwnedMessage>,
) -> Result<BTreeMap<i32, i64>, ReadError> {
    let (config, topic) = (config.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        read_blocking(&config, &topic, limits, |message| {
            sink.blocking_send(message).is_ok()
        })
    })
    .await
    .expect("the topic reader does not panic")
}

/// Each partition's high watermark (the offset the next record will get), as the broker reports
/// it. Some brokers report one below the real end (see the module comment): a reader starting
/// there reads a record again, never skips one.
pub async fn high_watermarks(
    config: &KafkaConfig,
    topic: &str,
    timeout: Duration,
) -> Result<BTreeMap<i32, i64>, ReadError> {
    let (config, topic) = (config.clone(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<LogContext> = config
            .base_config()
            .set(
                "group.id",
                format!("convo-read-{}", uuid::Uuid::new_v4().simple()),
            )
            .create_with_context(LogContext)?;
        Ok(partitions(&consumer, &topic, timeout)?
            .into_iter()
            .map(|(partition, p)| (partition, p.high))
            .collect())
    })
    .await
    .expect("the watermark reader does not panic")
}

/// Reads the whole topic, handing each record to `emit` (which returns false to stop); returns
/// where each partition ended.
fn read_blocking(
    config: &KafkaConfig,
    topic: &str,
    limits: ReadLimits,
    mut emit: impl FnMut(OwnedMessage) -> bool,
) -> Result<BTreeMap<i32, i64>, ReadError> {
    let consumer: BaseConsumer<LogContext> = config
        .base_config()
        .set(
            "group.id",
            format!("convo-read-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        // Records fetched ahead are bounded (16 MB instead of librdkafka's 64 MB): memory stays
        // flat on a topic of any size.
        .set("queued.max.messages.kbytes", "16384")
        .create_with_context(LogContext)?;
    let started = Instant::now();
    let began = chrono::Utc::now().timestamp_millis();
    let mut progress = partitions(&consumer, topic, limits.timeout)?;
    let mut assignment = TopicPartitionList::new();
    for partition in progress.keys() {
        assignment.add_partition_offset(topic, *partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;

    loop {
        let now = Instant::now();
        let unfinished: Vec<i32> = progress
            .iter()
            .filter(|(_, p)| !p.finished(now, &limits))
            .map(|(partition, _)| *partition)
            .collect();
        if unfinished.is_empty() {
            break;
        }
        if now.duration_since(started) > limits.timeout {
            return Err(ReadError::Timeout {
                topic: topic.to_owned(),
                partitions: unfinished,
                timeout: limits.timeout,
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                if let Some(p) = progress.get_mut(&message.partition()) {
                    let written = message.timestamp().to_millis().unwrap_or(i64::MIN);
                    p.past_start |= limits.stop_at_start_end && written >= began;
                    p.next = message.offset() + 1;
                    p.at_end = false;
                    p.last_activity = Instant::now();
                }
                if !emit(message.detach()) {
                    break;
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                if let Some(p) = progress.get_mut(&partition) {
                    p.at_end = true;
                    p.last_activity = Instant::now();
                }
            }
            Some(Err(e)) => {
                tracing::debug!(%topic, error = %e, "reading the topic (retrying)");
            }
            None => {}
        }
    }
    Ok(progress
        .into_iter()
        .map(|(partition, p)| (partition, p.next))
        .collect())
}

/// The partitions of `topic` with their high watermarks (as the broker reports them).
fn partitions(
    consumer: &BaseConsumer<LogContext>,
    topic: &str,
    timeout: Duration,
) -> Result<BTreeMap<i32, Progress>, ReadError> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .ok_or_else(|| ReadError::NoTopic(topic.to_owned()))?;
    let mut progress = BTreeMap::new();
    for partition in found.partitions() {
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
        progress.insert(
            partition.id(),
            Progress {
                high,
                past_start: false,
                next: low,
                at_end: false,
                last_activity: Instant::now(),
            },
        );
    }
    Ok(progress)
}
