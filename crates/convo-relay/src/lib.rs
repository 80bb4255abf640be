//! The relay publishes committed events, in commit order, from the events table (the outbox) to
//! the events topic. No dual write: a command commits to PostgreSQL only; the relay distributes.
//!
//! **No event skipped.** Identity values become visible in commit order, not allocation order,
//! so "everything after the last id I saw" would skip a transaction that commits late. Each event
//! row records its writing transaction (`tx_id`); every transaction below
//! `pg_snapshot_xmin(pg_current_snapshot())` has ended, so reading `(tx_id, position)` in order
//! below that mark never misses a row that commits later. Writers read before their first write
//! (see the command handler), so each conversation's versions are in `tx_id` order too.
//!
//! **At least once.** A batch is published, every delivery is awaited, and only then is the
//! position stored. A crash or a broker outage in between republishes the batch: consumers dedupe
//! by `(conversation, version)` (event ids are deterministic too). A broker outage delays events;
//! it never loses them.
//!
//! **One publisher.** Relays take a session-level advisory lock; the others wait on standby and
//! the first to get the lock takes over when the leader's connection dies.

use std::time::Duration;

use convo_kafka::{EventRecord, KafkaConfig, LogContext};
use futures_util::future::try_join_all;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;

/// The advisory lock key that elects the publishing relay (an arbitrary constant: "relay").
const LEADER_LOCK: i64 = 0x0072_656c_6179;

#[derive(Clone)]
pub struct RelayConfig {
    /// Name of this relay's position row (one per target topic).
    pub name: String,
    pub database_url: String,
    /// Events read and published per round.
    pub batch_size: i64,
    /// Pause when there is nothing to publish.
    pub idle_wait: Duration,
    /// Pause after a failure (database or broker) before trying again.
    pub retry_wait: Duration,
}

/// The connection string may hold a password: it is never printed.
impl std::fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("name", &self.name)
            .field("database_url", &"[redacted]")
            .field("batch_size", &self.batch_size)
            .field("idle_wait", &self.idle_wait)
            .field("retry_wait", &self.retry_wait)
            .finish()
    }
}

impl RelayConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            name: "events".to_owned(),
            database_url: database_url.into(),
            batch_size: 10_000,
            idle_wait: Duration::from_millis(10),
            retry_wait: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
    #[error("delivery was cancelled")]
    Cancelled,
}

/// Runs until `shutdown`: waits to lead, then publishes. Failures (database or broker) end the
/// leadership term; the relay pauses, then stands for leader again with a fresh connection and
/// producer. The function returns only on shutdown.
pub async fn run(config: RelayConfig, kafka: KafkaConfig, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        if let Err(e) = lead(&config, &kafka, &shutdown).await {
            tracing::warn!(error = %e, "relay interrupted; retrying");
            sleep_or_shutdown(config.retry_wait, &shutdown).await;
        }
    }
    tracing::info!("relay stopped");
}

/// One leadership term: wait for the lock on a dedicated connection, then publish until an
/// error or shutdown. Dropping the connection releases the lock.
async fn lead(
    config: &RelayConfig,
    kafka: &KafkaConfig,
    shutdown: &CancellationToken,
) -> Result<(), RelayError> {
    let mut conn = PgConnection::connect(&config.database_url).await?;
    loop {
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK)
            .fetch_one(&mut conn)
            .await?;
        if leader {
            break;
        }
        if sleep_or_shutdown(Duration::from_secs(1), shutdown).await {
            return Ok(());
        }
    }
    // A broker that came back empty needs its topics again; a producer that saw the broker go
    // away may have lost its idempotence state: start both afresh each term.
    convo_kafka::topics::ensure(kafka).await?;
    let producer: FutureProducer<LogContext> = kafka.producer().create_with_context(LogContext)?;
    let topic = kafka.topics.events.as_str();
    tracing::info!(relay = %config.name, topic, "relay is publishing");
    let (mut tx_id, mut position) = load_position(&mut conn, &config.name).await?;
    // One batch is in flight while the next is read and enqueued: its position is stored once
    // every delivery of it is acknowledged, and never before the batches ahead of it.
    let mut in_flight: Option<InFlight> = None;
    while !shutdown.is_cancelled() {
        let batch = read_batch(&mut conn, &tx_id, position, config.batch_size).await?;
        let Some(last) = batch.last() else {
            if let Some(done) = in_flight.take() {
                done.confirm(&mut conn, &config.name).await?;
            }
            sleep_or_shutdown(config.idle_wait, shutdown).await;
            continue;
        };
        (tx_id, position) = (last.tx_id.clone(), last.position);
        let next = InFlight {
            deliveries: enqueue(&producer, topic, &batch).await?,
            tx_id: tx_id.clone(),
            position,
        };
        if let Some(done) = in_flight.replace(next) {
            done.confirm(&mut conn, &config.name).await?;
        }
    }
    if let Some(done) = in_flight.take() {
        done.confirm(&mut conn, &config.name).await?;
    }
    Ok(())
}

/// A published batch waiting for its acknowledgements.
struct InFlight {
    deliveries: Vec<DeliveryFuture>,
    tx_id: String,
    position: i64,
}

impl InFlight {
    /// Waits for every acknowledgement, then stores the batch's end as the published position.
    async fn confirm(self, conn: &mut PgConnection, relay: &str) -> Result<(), RelayError> {
        let count = self.deliveries.len();
        for result in try_join_all(self.deliveries)
            .await
            .map_err(|_| RelayError::Cancelled)?
        {
            result.map_err(|(e, _)| e)?;
        }
        store_position(conn, relay, &self.tx_id, self.position, count).await?;
        tracing::debug!(events = count, "published");
        Ok(())
    }
}

/// Sleeps for `wait`; true when shutdown came first.
async fn sleep_or_shutdown(wait: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => false,
        () = shutdown.cancelled() => true,
    }
}

/// A row of the events table, with its place in the reading order.
struct Row {
    tx_id: String,
    position: i64,
    record: EventRecord,
}

async fn load_position(conn: &mut PgConnection, relay: &str) -> Result<(String, i64), RelayError> {
    let row = sqlx::query!(
        r#"SELECT tx_id::text AS "tx_id!", position FROM relay_positions WHERE relay = $1"#,
        relay
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or(("0".to_owned(), 0), |r| (r.tx_id, r.position)))
}

async fn store_position(
    conn: &mut PgConnection,
    relay: &str,
    tx_id: &str,
    position: i64,
    published: usize,
) -> Result<(), RelayError> {
    sqlx::query!(
        "INSERT INTO relay_positions (relay, tx_id, position, published)
         VALUES ($1, $2::text::xid8, $3, $4)
         ON CONFLICT (relay) DO UPDATE
         SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position,
             published = relay_positions.published + EXCLUDED.published,
             updated_at = clock_timestamp()",
        relay,
        tx_id,
        position,
        published as i64
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The next events after `(tx_id, position)` whose transactions have all ended.
async fn read_batch(
    conn: &mut PgConnection,
    tx_id: &str,
    position: i64,
    limit: i64,
) -> Result<Vec<Row>, RelayError> {
    let rows = sqlx::query!(
        r#"SELECT tx_id::text AS "tx_id!", position, event_id, conversation_uid, version,
                  event_type, schema_version, payload::text AS "payload!", business_uid,
                  actor_staff_uid, command_id, correlation_id, causation_id, occurred_at
           FROM events
           WHERE (tx_id, position) > ($1::text::xid8, $2)
             AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
           ORDER BY tx_id, position
           LIMIT $3"#,
        tx_id,
        position,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Row {
            tx_id: r.tx_id,
            position: r.position,
            record: EventRecord {
                event_id: r.event_id,
                conversation_uid: r.conversation_uid,
                version: u64::try_from(r.version).unwrap_or_default(),
                event_type: r.event_type,
                schema_version: r.schema_version,
                business_uid: r.business_uid,
                actor_staff_uid: r.actor_staff_uid,
                command_id: r.command_id,
                correlation_id: r.correlation_id,
                causation_id: r.causation_id,
                occurred_at: r.occurred_at,
                payload: r.payload,
            },
        })
        .collect())
}

/// Enqueues the whole batch with the producer (order per partition is kept by the idempotent
/// producer) and returns its delivery futures.
async fn enqueue(
    producer: &FutureProducer<LogContext>,
    topic: &str,
    batch: &[Row],
) -> Result<Vec<DeliveryFuture>, RelayError> {
    let mut deliveries = Vec::with_capacity(batch.len());
    for row in batch {
        let record = &row.record;
        let mut message = FutureRecord::to(topic)
            .key(record.conversation_uid.as_str())
            .payload(record.payload.as_str())
            .headers(record.headers());
        loop {
            match producer.send_result(message) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The local queue is full: let deliveries drain, then enqueue again.
                    message = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
    Ok(deliveries)
}
