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
//! **At least once, in order.** A batch is published, every delivery is awaited, and only then
//! is the position stored and the next batch read: no later batch can overtake a failed one. A
//! crash or a broker outage in between republishes from the stored position: consumers dedupe by
//! `(conversation, version)` (event ids are deterministic too). A broker outage delays events; it
//! never loses them.
//!
//! **Never silently stuck.** A record the broker (or the client) refuses, a too large one say,
//! stalls the relay on that event: it says so in [`RelayStatus`] and in `relay_positions`
//! (`stalled_since`, `stalled_reason`), logs the event id, size and refusal once per
//! `log_interval`, and keeps retrying with backoff, so it resumes by itself once the limit is
//! fixed. Nothing after the refused event is published meanwhile.
//!
//! **One publisher, on the right cluster.** Relays take a session-level advisory lock of their
//! own key space; the others wait on standby and take over when the leader's connection ends,
//! which the server notices within `query_timeout` even for a leader cut off without a goodbye.
//! Each term first checks that the stored position belongs to this database cluster (see
//! [`rebase()`]).

mod guard;
mod outbox;
mod publish;
mod rebase;
pub mod status;

use std::time::Duration;

use convo_kafka::{KafkaConfig, LogContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer};
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

pub use guard::REBASE_COMMAND;
pub use outbox::record;
pub use rebase::{RebaseError, Rebased, rebase};
pub use status::{RelayState, RelayStatus, Stall, StalledEvent, StoredRelay};

use crate::guard::timed;
use crate::status::LogThrottle;

#[derive(Clone)]
pub struct RelayConfig {
    /// Name of this relay's position row (one per target topic).
    pub name: String,
    pub database_url: String,
    /// Events read and published per round.
    pub batch_size: i64,
    /// Pause when there is nothing to publish.
    pub idle_wait: Duration,
    /// Pause after a failure (database or broker) before trying again; it doubles with each
    /// failure in a row, up to `max_retry_wait`.
    pub retry_wait: Duration,
    pub max_retry_wait: Duration,
    /// A failure that repeats is logged once per interval.
    pub log_interval: Duration,
    /// Longest any relay query may take (a half-open connection fails the term instead of
    /// hanging it); also about how long the server keeps a silent leader's session, and lock.
    pub query_timeout: Duration,
    /// What this relay reports about itself (shared: clone it before starting the relay).
    pub status: RelayStatus,
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
            .field("max_retry_wait", &self.max_retry_wait)
            .field("log_interval", &self.log_interval)
            .field("query_timeout", &self.query_timeout)
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
            max_retry_wait: Duration::from_secs(5),
            log_interval: Duration::from_secs(30),
            query_timeout: Duration::from_secs(10),
            status: RelayStatus::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
    #[error("the database did not answer within {0:?}")]
    TimedOut(Duration),
    /// The broker (or the producer) did not take this event; nothing after it is published.
    #[error("cannot publish {event}: {error}")]
    Undelivered {
        event: StalledEvent,
        error: KafkaError,
    },
    /// The cluster guard: the stored position belongs to another database cluster.
    #[error("{0}")]
    Moved(String),
}

impl RelayError {
    /// What makes two failures "the same" for logging: the guard's message names transaction
    /// ids that move on, so it counts as one.
    fn repeat_key(&self) -> String {
        match self {
            Self::Moved(_) => "moved".to_owned(),
            other => other.to_string(),
        }
    }
}

/// Runs until `shutdown`: waits to lead, then publishes. Failures (database or broker) end the
/// leadership term; the relay pauses (longer with each failure in a row), then stands for leader
/// again with a fresh connection and producer. The function returns only on shutdown.
pub async fn run(config: RelayConfig, kafka: KafkaConfig, shutdown: CancellationToken) {
    let mut throttle = LogThrottle::new(config.log_interval);
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        let published_before = config.status.get().last_published_at;
        let result = lead(&config, &kafka, &shutdown).await;
        config.status.set_leader(false);
        if config.status.get().last_published_at != published_before {
            failures = 0;
            throttle.reset();
        }
        let Err(e) = result else { continue };
        // Between terms nothing is read: the oldest event waiting keeps ageing.
        config.status.report_age();
        failures += 1;
        report(&config, &e, &mut throttle);
        let wait = config
            .retry_wait
            .saturating_mul(1 << (failures.min(16) - 1));
        sleep_or_shutdown(wait.min(config.max_retry_wait), &shutdown).await;
    }
    tracing::info!("relay stopped");
}

/// Logs a failure, a repeating one once per `log_interval`.
fn report(config: &RelayConfig, error: &RelayError, throttle: &mut LogThrottle) {
    let Some(left_out) = throttle.admit(&error.repeat_key()) else {
        return;
    };
    match (error, config.status.get().stalled) {
        (RelayError::Undelivered { event, error }, Some(stall)) => tracing::error!(
            relay = %config.name, event_id = %event.event_id, conversation = %event.conversation_uid,
            version = event.version, bytes = event.bytes, %error, stalled_since = %stall.since,
            repeats_not_logged = left_out,
            "relay stalled: the broker does not take this event; nothing after it is published until it does"
        ),
        (RelayError::Moved(reason), _) => tracing::error!(
            relay = %config.name, repeats_not_logged = left_out, "relay stopped by the cluster guard: {reason}"
        ),
        _ => {
            tracing::warn!(relay = %config.name, error = %error, repeats_not_logged = left_out, "relay interrupted; retrying")
        }
    }
}

/// One leadership term: wait for the lock on a dedicated connection, then publish until an
/// error or shutdown. Dropping the connection releases the lock.
async fn lead(
    config: &RelayConfig,
    kafka: &KafkaConfig,
    shutdown: &CancellationToken,
) -> Result<(), RelayError> {
    let mut conn = guard::connect(&config.database_url, config.query_timeout).await?;
    while !guard::try_lead(&mut conn, config.query_timeout).await? {
        if sleep_or_shutdown(Duration::from_secs(1), shutdown).await {
            return Ok(());
        }
    }
    config.status.set_leader(true);
    let result = publish_term(config, kafka, &mut conn, shutdown).await;
    if let Err(e) = &result {
        stalled(config, &mut conn, e).await;
    }
    result
}

/// Publishes batch after batch, each acknowledged before the next is read.
async fn publish_term(
    config: &RelayConfig,
    kafka: &KafkaConfig,
    conn: &mut PgConnection,
    shutdown: &CancellationToken,
) -> Result<(), RelayError> {
    let (name, limit) = (config.name.as_str(), config.query_timeout);
    guard::check_position(conn, name, limit).await?;
    if let Some(stall) = config.status.clear_guard_stall() {
        timed(limit, outbox::clear_stall(conn, name)).await?;
        tracing::info!(relay = name, %stall, "relay position re-anchored; publishing again");
    }
    // A broker that came back empty needs its topics again; a producer that failed (a gapless
    // guarantee failure is fatal to it) cannot be reused: start both afresh each term.
    convo_kafka::topics::ensure(kafka).await?;
    let producer: FutureProducer<LogContext> = kafka
        .producer()
        // A failure that would leave a gap in a partition fails the producer instead.
        .set("enable.gapless.guarantee", "true")
        .create_with_context(LogContext)?;
    let topic = kafka.topics.events.as_str();
    ask_producer_id(&producer, topic).await;
    tracing::info!(relay = name, topic, "relay is publishing");
    let (mut tx_id, mut position) = timed(limit, outbox::load_position(conn, name)).await?;
    while !shutdown.is_cancelled() {
        let batch = timed(
            limit,
            outbox::read_batch(conn, &tx_id, position, config.batch_size),
        )
        .await?;
        config
            .status
            .waiting(batch.first().map(|row| row.record.occurred_at));
        if batch.is_empty() {
            sleep_or_shutdown(config.idle_wait, shutdown).await;
            continue;
        }
        let (done, failure) = match publish::publish(&producer, topic, &batch).await {
            Ok(()) => (batch.len(), None),
            Err(undelivered) => (undelivered.acknowledged, Some(undelivered)),
        };
        if let Some(last) = done.checked_sub(1).map(|i| &batch[i]) {
            (tx_id, position) = (last.tx_id.clone(), last.position);
            timed(
                limit,
                outbox::store_position(conn, name, &tx_id, position, done),
            )
            .await?;
            convo_metrics::relay_batch(done);
            if let Some(stall) = config.status.published() {
                tracing::info!(relay = name, %stall, "relay resumed");
            }
            tracing::debug!(events = done, "published");
        }
        if let Some(undelivered) = failure {
            return Err(RelayError::Undelivered {
                event: batch[done].stalled(),
                error: undelivered.error,
            });
        }
    }
    Ok(())
}

/// Has the producer ask for its producer id now. An idempotent producer asks when a metadata
/// response arrives while it is connected to a broker it learned of, else on a 500 ms timer. A
/// fresh producer's first answer comes through its bootstrap connection, too early: the second
/// metadata request goes to the learned broker, so the first batch does not wait for the timer.
/// Each request is bounded to a second; a broker that does not answer is the first batch's to
/// report.
async fn ask_producer_id(producer: &FutureProducer<LogContext>, topic: &str) {
    let (producer, topic) = (producer.clone(), topic.to_owned());
    let asked = tokio::task::spawn_blocking(move || {
        (0..2).try_for_each(|_| {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(1))
                .map(drop)
        })
    });
    if let Ok(Err(e)) = asked.await {
        tracing::debug!(error = %e, "no topic metadata yet");
    }
}

/// Records a stall (an undelivered event, or the cluster guard) in the status and, for other
/// processes, in the relay's row. Other failures (an outage) are not stalls of the relay itself.
async fn stalled(config: &RelayConfig, conn: &mut PgConnection, error: &RelayError) {
    let stall = match error {
        RelayError::Undelivered { event, error } => {
            config.status.stall(Some(event.clone()), error.to_string())
        }
        RelayError::Moved(reason) => config.status.stall(None, reason.clone()),
        _ => return,
    };
    let reason = stall.to_string();
    let stored = timed(
        config.query_timeout,
        outbox::mark_stalled(conn, &config.name, &reason),
    );
    if let Err(e) = stored.await {
        tracing::debug!(error = %e, "cannot record the stall in the database");
    }
}

/// Sleeps for `wait`; true when shutdown came first.
async fn sleep_or_shutdown(wait: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => false,
        () = shutdown.cancelled() => true,
    }
}
