//! The projector's Kafka side. It reads the partitions of the events topic that it claims
//! (`convo_partitions`: leases in PostgreSQL, no broker group), batches records (up to
//! `batch_max`, or whatever arrived within `batch_wait`) and applies each batch in one transaction
//! together with the positions it reaches.
//!
//! A batch that fails because the database is away is retried until it answers. A conversation
//! whose events cannot be applied (they do not decode, or versions are missing from the store) is
//! retried `max_attempts` times with growing pauses, then parked: its later events wait, the
//! others go on.

use std::time::Duration;

use convo_kafka::{EventRecord, KafkaConfig, LogContext};
use convo_partitions::{Member, MemberError};
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{BorrowedMessage, Message};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::parked::{Parking, park};
use crate::project::{Applied, Incoming, ProjectError, Projection, apply_batch};
use crate::read_models::ReadModel;
use crate::report::Report;

#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// The projector's name: its partition claims and parked conversations are keyed by it
    /// (the model's name unless a test picks another).
    pub name: String,
    /// The read model it keeps.
    pub model: ReadModel,
    pub batch_max: usize,
    pub batch_wait: Duration,
    /// First pause after a failed batch; it doubles up to `retry_max_wait`.
    pub retry_wait: Duration,
    pub retry_max_wait: Duration,
    /// Attempts at a conversation whose events cannot be applied before it is parked.
    pub max_attempts: u32,
    /// How long a partition claim lasts without a heartbeat: the longest a dead member's
    /// partitions wait before another member takes them over.
    pub lease: Duration,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self::of(ReadModel::Conversations)
    }
}

impl ProjectorConfig {
    /// The projector of `model`, with the default batching and retries.
    pub fn of(model: ReadModel) -> Self {
        Self {
            name: model.name().to_owned(),
            model,
            batch_max: 2000,
            batch_wait: Duration::from_millis(5),
            retry_wait: Duration::from_millis(200),
            retry_max_wait: Duration::from_secs(5),
            max_attempts: 5,
            lease: convo_partitions::DEFAULT_LEASE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("partitions: {0}")]
    Member(#[from] MemberError),
    #[error("read models: {0}")]
    Project(#[from] ProjectError),
    #[error("building the read model: {0}")]
    Build(#[from] crate::replay::ReplayError),
}

/// Projects until `shutdown`, then hands its partitions back. A model never built from the whole
/// history (new since the database was created) is built first.
pub async fn run(
    config: ProjectorConfig,
    kafka: KafkaConfig,
    pool: PgPool,
    shutdown: CancellationToken,
) -> Result<(), ProjectorError> {
    // A model added since the database was created is first built from the event store.
    tokio::select! {
        built = crate::replay::build_if_new(&pool, config.model, &kafka) => {
            if let Some(report) = built? {
                tracing::info!(model = %config.model, events = report.events_read, seconds = report.seconds, "read model built");
            }
        }
        () = shutdown.cancelled() => return Ok(()),
    }
    let topic = kafka.topics.events.clone();
    let mut member = Member::join(&kafka, pool.clone(), &config.name, &topic, config.lease).await?;
    let mut heartbeat = tokio::time::interval(member.claims.heartbeat_interval());
    let mut report = Report::new(config.model);
    tracing::info!(%topic, projector = %config.name, "projector started");
    loop {
        let batch = match next_batch(member.consumer(), &mut heartbeat, &config, &shutdown).await {
            Next::Shutdown => break,
            Next::Heartbeat => {
                // Nothing is in flight between batches: what is handed back is fully stored.
                let release = member.rebalance().await;
                member.release(&release).await;
                report
                    .heartbeat(&config.name, &pool, &kafka, |p| member.owns(p))
                    .await;
                continue;
            }
            Next::Batch(batch) => incoming(&member, batch),
        };
        if batch.is_empty() {
            continue;
        }
        let Some(applied) = apply(&config, &pool, &member, &topic, &batch, &shutdown).await else {
            break;
        };
        report.applied(&applied.checkpoints, applied.applied + applied.skipped);
        if !applied.lost.is_empty() {
            member.drop_lost(&applied.lost);
        }
        tracing::debug!(
            applied = applied.applied,
            skipped = applied.skipped,
            parked = applied.parked,
            "batch projected"
        );
    }
    member.leave().await;
    tracing::info!("projector stopped");
    Ok(())
}

/// Applies a batch, retrying as the module says. `None` on shutdown.
async fn apply(
    config: &ProjectorConfig,
    pool: &PgPool,
    member: &Member,
    topic: &str,
    batch: &[Incoming],
    shutdown: &CancellationToken,
) -> Option<Applied> {
    let projection = Projection {
        projector: &config.name,
        model: config.model,
        topic,
        member: member.claims.member(),
    };
    let mut attempts = 0;
    let mut wait = config.retry_wait;
    loop {
        let error = match apply_batch(pool, projection, batch).await {
            Ok(applied) => return Some(applied),
            Err(error) => error,
        };
        match error.poisoned_conversation() {
            Some((uid, version)) if attempts + 1 >= config.max_attempts => {
                attempts = 0;
                wait = config.retry_wait;
                park_conversation(pool, projection, batch, uid, version, &error, config).await;
                continue;
            }
            Some(_) => {
                attempts += 1;
                tracing::warn!(%error, attempts, "projection failed; retrying");
            }
            None => {
                tracing::warn!(%error, "projection failed; retrying until the database answers")
            }
        }
        if tokio::time::timeout(wait, shutdown.cancelled())
            .await
            .is_ok()
        {
            return None;
        }
        wait = (wait * 2).min(config.retry_max_wait);
    }
}

async fn park_conversation(
    pool: &PgPool,
    projection: Projection<'_>,
    batch: &[Incoming],
    uid: &str,
    version: u64,
    error: &ProjectError,
    config: &ProjectorConfig,
) {
    let at = batch
        .iter()
        .find(|i| i.record.conversation_uid == uid)
        .map_or((-1, -1), |i| (i.partition, i.offset));
    let reason = error.to_string();
    let parking = Parking {
        projector: projection.projector,
        conversation_uid: uid,
        version,
        reason: &reason,
        attempts: config.max_attempts,
        topic: projection.topic,
        partition: at.0,
        offset: at.1,
    };
    let parked = match pool.acquire().await {
        Ok(mut conn) => park(&mut conn, &parking).await,
        Err(e) => Err(e),
    };
    match parked {
        Ok(()) => {
            tracing::error!(conversation = uid, version, %reason, partition = at.0, offset = at.1, "conversation parked; its later events wait")
        }
        Err(e) => tracing::warn!(conversation = uid, error = %e, "parking failed; retrying"),
    }
}

/// Decodes the records of partitions this member holds (others may still arrive just after a
/// partition was handed back). A record that is not an event is logged and skipped.
fn incoming(member: &Member, batch: Vec<BorrowedMessage<'_>>) -> Vec<Incoming> {
    batch
        .iter()
        .filter(|m| member.owns(m.partition()))
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
        .collect()
}

enum Next<'c> {
    Batch(Vec<BorrowedMessage<'c>>),
    Heartbeat,
    Shutdown,
}

/// Waits for one record, then takes whatever else arrives within `batch_wait`, up to
/// `batch_max`. A heartbeat due while waiting for the first record comes first; once a record is
/// taken the batch is always returned, so no received record is dropped.
async fn next_batch<'c>(
    consumer: &'c StreamConsumer<LogContext>,
    heartbeat: &mut tokio::time::Interval,
    config: &ProjectorConfig,
    shutdown: &CancellationToken,
) -> Next<'c> {
    let mut batch = Vec::with_capacity(config.batch_max);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Next::Shutdown,
            _ = heartbeat.tick() => return Next::Heartbeat,
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
    Next::Batch(batch)
}
