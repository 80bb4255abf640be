//! `convo verify`: checks the pipeline's invariants against PostgreSQL and the broker, and says
//! which ones are breached.
//!
//! - [`events`]: every committed event is on the events topic (after dedupe by event id), in
//!   version order per conversation, all of a conversation's events on one partition, nothing on
//!   the topic that the store does not hold; no version gap in the store.
//! - [`read_models`]: every read-model row equals the projector's form of a fold of the events.
//! - [`commands`]: every command on the commands topic has exactly one distinct outcome (or, if it
//!   is not a command, a dead letter); identical repeats (at-least-once redelivery) are counted.
//! - [`parked`]: conversations the projector parked are reported (each one is a breach: it needs
//!   an operator); so is a relay that reports itself stalled (`relay_positions`).
//!
//! What is read, in this order so that a running service cannot cause a false breach that a
//! retry would not clear: the topics, then one snapshot of the store and the read models (a read
//! model is never ahead of the events in the same snapshot). On a live system, findings that are
//! only lag (an event not published yet, a command not answered yet) clear on a later attempt:
//! [`verify_until_clean`] retries.

pub mod commands;
pub mod events;
pub mod parked;
pub mod read_models;
mod report;

use std::time::{Duration, Instant};

use convo_kafka::KafkaConfig;
use convo_kafka::read::{ReadLimits, read_topic};
use sqlx::PgPool;

pub use report::{Breach, Counts, Report};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only this conversation (its events, read model, commands and outcomes).
    pub conversation: Option<String>,
    /// How topics are read to their end.
    pub read: ReadLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("reading a topic: {0}")]
    Topic(#[from] convo_kafka::read::ReadError),
}

/// Runs every check once.
pub async fn verify(
    pool: &PgPool,
    kafka: &KafkaConfig,
    options: &Options,
) -> Result<Report, VerifyError> {
    let topics = &kafka.topics;
    let scope = options.conversation.as_deref();
    let (events_topic, commands_topic, outcomes_topic, dead_letters) = tokio::try_join!(
        read_topic(kafka, &topics.events, options.read),
        read_topic(kafka, &topics.commands, options.read),
        read_topic(kafka, &topics.outcomes, options.read),
        read_topic(kafka, &topics.dead_letters, options.read),
    )?;

    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let stored = events::stored(&mut tx, scope).await?;
    let models = read_models::load(&mut tx, scope).await?;
    let parked = parked::load(&mut tx, scope).await?;
    let relays = convo_relay::status::stored(&mut *tx).await?;
    tx.commit().await?;

    let mut report = Report::new(scope);
    events::check(&stored, &events_topic, scope, &mut report);
    read_models::check(&stored, &models, &parked, &mut report);
    let command_topics = commands::Topics {
        commands: &commands_topic,
        outcomes: &outcomes_topic,
        dead_letters: &dead_letters,
        commands_name: &topics.commands,
    };
    commands::check(&command_topics, scope, &mut report);
    parked::check(&parked, &mut report);
    for relay in relays {
        if let Some(since) = relay.stalled_since {
            report.breach(Breach::RelayStalled {
                relay: relay.relay,
                since: since.to_rfc3339(),
                reason: relay.stalled_reason.unwrap_or_default(),
            });
        }
    }
    Ok(report)
}

/// Runs [`verify`] until it finds no breach or `wait` has passed, and returns the last report
/// (with the number of attempts).
pub async fn verify_until_clean(
    pool: &PgPool,
    kafka: &KafkaConfig,
    options: &Options,
    wait: Duration,
) -> Result<Report, VerifyError> {
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut report = verify(pool, kafka, options).await?;
        report.attempts = attempts;
        if report.is_clean() || started.elapsed() >= wait {
            return Ok(report);
        }
        tracing::info!(
            breaches = report.breaches.len(),
            attempts,
            "breaches found; checking again (lag clears, real breaches stay)"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
