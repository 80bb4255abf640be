//! What operators do with dead letters (`convo dead-letters list|show|retry|drop`). A dead letter
//! is a record of the dead-letter topic, named by where it is (`PARTITION:OFFSET`); what became
//! of it is kept in `dead_letter_dispositions`:
//!
//! - retry: the original key and value go back to the commands topic (the command id inside
//!   keeps a command that already ran from running twice); refused for a truncated letter, whose
//!   value is incomplete.
//! - drop: nothing is sent; the letter is only marked as handled.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use convo_kafka::read::{ReadError, ReadLimits, read_topic};
use convo_kafka::{KafkaConfig, LogContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use sqlx::PgPool;

/// Where a dead letter is on the dead-letter topic: `PARTITION:OFFSET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct LetterId {
    pub partition: i32,
    pub offset: i64,
}

impl FromStr for LetterId {
    type Err = DeadLetterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || DeadLetterError::BadId(text.to_owned());
        let (partition, offset) = text.split_once(':').ok_or_else(bad)?;
        let partition: i32 = partition.trim().parse().map_err(|_| bad())?;
        let offset: i64 = offset.trim().parse().map_err(|_| bad())?;
        if partition < 0 || offset < 0 {
            return Err(bad());
        }
        Ok(Self { partition, offset })
    }
}

impl fmt::Display for LetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.partition, self.offset)
    }
}

/// What was done with a dead letter, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disposition {
    /// `retried` or `dropped`.
    pub action: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: LetterId,
    pub key: Option<String>,
    pub reason: String,
    /// Where the command message was read: `topic/partition@offset`.
    pub source: Option<String>,
    /// Bytes of the value the letter carries.
    pub size: usize,
    /// The original size, when the value was cut to fit (`dlq_truncated`).
    pub truncated: Option<u64>,
    pub disposition: Option<Disposition>,
    /// The value, as text (invalid UTF-8 replaced).
    pub value: String,
    #[serde(skip)]
    raw: OwnedMessage,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("{0:?} is not a dead letter id: use PARTITION:OFFSET, e.g. 0:12")]
    BadId(String),
    #[error("no dead letter at {id} on {topic}")]
    NotFound { id: LetterId, topic: String },
    #[error(
        "dead letter {id} was cut to {size} of its {original} bytes: its value is incomplete and cannot be retried (drop it, and have the sender send it again)"
    )]
    Truncated {
        id: LetterId,
        size: usize,
        original: u64,
    },
    #[error("reading the dead-letter topic: {0}")]
    Read(#[from] ReadError),
    #[error("publishing to the commands topic: {0}")]
    Broker(#[from] KafkaError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The dead letters in topic order; handled ones (retried, dropped) only with `all`.
pub async fn list(
    pool: &PgPool,
    kafka: &KafkaConfig,
    limits: ReadLimits,
    all: bool,
) -> Result<Vec<DeadLetter>, DeadLetterError> {
    let topic = &kafka.topics.dead_letters;
    let records = read_topic(kafka, topic, limits).await?;
    let mut dispositions = dispositions(pool, topic).await?;
    Ok(records
        .into_iter()
        .map(|m| letter(m, &mut dispositions))
        .filter(|l| all || l.disposition.is_none())
        .collect())
}

/// The dead letter at `id`.
pub async fn find(
    pool: &PgPool,
    kafka: &KafkaConfig,
    limits: ReadLimits,
    id: LetterId,
) -> Result<DeadLetter, DeadLetterError> {
    list(pool, kafka, limits, true)
        .await?
        .into_iter()
        .find(|l| l.id == id)
        .ok_or_else(|| DeadLetterError::NotFound {
            id,
            topic: kafka.topics.dead_letters.clone(),
        })
}

/// Republishes the letter at `id` to the commands topic and records it as retried.
pub async fn retry(
    pool: &PgPool,
    kafka: &KafkaConfig,
    limits: ReadLimits,
    id: LetterId,
) -> Result<DeadLetter, DeadLetterError> {
    let letter = find(pool, kafka, limits, id).await?;
    if let Some(original) = letter.truncated {
        return Err(DeadLetterError::Truncated {
            id,
            size: letter.size,
            original,
        });
    }
    let producer: FutureProducer<LogContext> = kafka.producer().create_with_context(LogContext)?;
    let from = format!("{}/{id}", kafka.topics.dead_letters);
    let mut record = FutureRecord::to(&kafka.topics.commands)
        .payload(letter.raw.payload().unwrap_or_default())
        .headers(OwnedHeaders::new().insert(Header {
            key: "dlq_retried_from",
            value: Some(&from),
        }));
    if let Some(key) = letter.raw.key() {
        record = record.key(key);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)?;
    record_disposition(pool, &kafka.topics.dead_letters, id, "retried").await?;
    Ok(letter)
}

/// Records the letter at `id` as dropped (it must exist).
pub async fn drop_letter(
    pool: &PgPool,
    kafka: &KafkaConfig,
    limits: ReadLimits,
    id: LetterId,
) -> Result<DeadLetter, DeadLetterError> {
    let letter = find(pool, kafka, limits, id).await?;
    record_disposition(pool, &kafka.topics.dead_letters, id, "dropped").await?;
    Ok(letter)
}

fn letter(raw: OwnedMessage, dispositions: &mut HashMap<LetterId, Disposition>) -> DeadLetter {
    let header = |name: &str| {
        raw.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
    };
    let id = LetterId {
        partition: raw.partition(),
        offset: raw.offset(),
    };
    let source = header("dlq_source_topic").map(|topic| {
        let partition = header("dlq_source_partition").unwrap_or_else(|| "?".to_owned());
        let offset = header("dlq_source_offset").unwrap_or_else(|| "?".to_owned());
        format!("{topic}/{partition}@{offset}")
    });
    let payload = raw.payload().unwrap_or_default();
    DeadLetter {
        id,
        key: raw.key().map(|k| String::from_utf8_lossy(k).into_owned()),
        reason: header("dlq_reason").unwrap_or_default(),
        source,
        size: payload.len(),
        truncated: header("dlq_truncated").and_then(|t| t.parse().ok()),
        disposition: dispositions.remove(&id),
        value: String::from_utf8_lossy(payload).into_owned(),
        raw,
    }
}

async fn dispositions(
    pool: &PgPool,
    topic: &str,
) -> Result<HashMap<LetterId, Disposition>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT partition, "offset", action, at FROM dead_letter_dispositions WHERE topic = $1"#,
        topic
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let id = LetterId {
                partition: r.partition,
                offset: r.offset,
            };
            (
                id,
                Disposition {
                    action: r.action,
                    at: r.at,
                },
            )
        })
        .collect())
}

/// Records `action` for the letter at `id` (the latest action counts).
async fn record_disposition(
    pool: &PgPool,
    topic: &str,
    id: LetterId,
    action: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO dead_letter_dispositions (topic, partition, "offset", action)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (topic, partition, "offset")
           DO UPDATE SET action = EXCLUDED.action, at = EXCLUDED.at"#,
        topic,
        id.partition,
        id.offset,
        action
    )
    .execute(pool)
    .await?;
    Ok(())
}
