//! Command intake: reads the partitions of the commands topic it claims (`convo_partitions`:
//! leases in PostgreSQL, no broker group). Each command runs through the same handler as HTTP;
//! its outcome goes to the outcomes topic (keyed by conversation, carrying the command id); a
//! message that is not a command, or is larger than [`MAX_COMMAND_BYTES`], goes to the dead-letter
//! topic with the reason in its headers.
//!
//! Commands arrive in batches (what is fetched already, up to [`MAX_BATCH`]): those of one
//! conversation run one after another in partition order, those of different conversations at
//! once, sharing transactions; replies are produced in partition order without waiting, up to
//! [`MAX_IN_FLIGHT`] at once. A partition's position (stored in PostgreSQL at each heartbeat and
//! before a partition is handed back) only moves past a message once its reply is acknowledged:
//! a crash redelivers it, and a redelivered command id yields its first outcome (the handler
//! stores outcomes by command id), so the outcome is the same one again.
//!
//! A failure that retrying may cure (the database or the broker away, a race) is retried until it
//! succeeds or the service shuts down. A command that keeps failing for another reason is
//! answered after `max_attempts` with a `rejected` outcome (500 `internal_error`).
//!
//! [`dead_letters`] is what operators do with dead letters afterwards (list, show, retry, drop).

pub mod dead_letters;
mod deliveries;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::join_all;

use convo_domain::Outcome;
use convo_domain::wire::{WireCommand, parse_command};
use convo_kafka::{KafkaConfig, LogContext};
use convo_metrics::DeadLetter;
use convo_partitions::{Member, MemberError};
use convo_store::upstream::{execute, failed_outcome};
use convo_store::{CommandHandler, StoreError, Transport};
use convo_trace::TraceContext;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;

use crate::deliveries::{Deliveries, Outgoing};

/// Deliveries produced but not yet acknowledged, at most.
pub const MAX_IN_FLIGHT: usize = 1000;

/// Most command messages run at once (those already fetched when one arrives).
const MAX_BATCH: usize = 1024;

/// The largest command message the intake runs (1 MiB, the broker's usual message limit); a
/// larger one is dead-lettered.
pub const MAX_COMMAND_BYTES: usize = 1024 * 1024;

/// The most of a message's value a dead letter carries: a dead letter must fit under the broker's
/// message limit itself. A cut one says so in its `dlq_truncated` header (the original size).
pub const MAX_DEAD_LETTER_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// The intake's name: its partition claims are keyed by it.
    pub name: String,
    /// First pause after a failure; it doubles up to `retry_max_wait`.
    pub retry_wait: Duration,
    pub retry_max_wait: Duration,
    /// Attempts at a command that fails for a reason retrying does not cure, before it is
    /// answered with a 500 outcome.
    pub max_attempts: u32,
    /// How long a partition claim lasts without a heartbeat.
    pub lease: Duration,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            name: "intake".to_owned(),
            retry_wait: Duration::from_millis(200),
            retry_max_wait: Duration::from_secs(5),
            max_attempts: 5,
            lease: convo_partitions::DEFAULT_LEASE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
    #[error("partitions: {0}")]
    Member(#[from] MemberError),
}

/// Consumes commands until `shutdown`, then waits for the replies on their way (a few seconds at
/// most), stores how far it got and hands its partitions back.
pub async fn run(
    config: IntakeConfig,
    kafka: KafkaConfig,
    handler: CommandHandler,
    shutdown: CancellationToken,
) -> Result<(), IntakeError> {
    let topic = kafka.topics.commands.clone();
    let mut member = Member::join(
        &kafka,
        handler.pool().clone(),
        &config.name,
        &topic,
        config.lease,
    )
    .await?;
    let producer: FutureProducer<LogContext> = kafka.producer().create_with_context(LogContext)?;
    let mut deliveries = Deliveries::new(producer);
    let mut heartbeat = tokio::time::interval(member.claims.heartbeat_interval());
    tracing::info!(%topic, intake = %config.name, "command intake started");
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            delivered = deliveries.next_delivered(), if !deliveries.is_empty() => {
                deliveries.settle(delivered, config.retry_wait).await?;
            }
            _ = heartbeat.tick() => {
                deliveries.store_positions(&mut member).await;
                deliveries.report_lag(&kafka, &member);
                let release = member.rebalance().await;
                if !release.is_empty() {
                    // What is handed back must be answered and stored first.
                    deliveries.drain(Duration::from_secs(10)).await;
                    deliveries.store_positions(&mut member).await;
                    member.release(&release).await;
                }
            }
            message = member.consumer().recv(), if deliveries.len() < MAX_IN_FLIGHT => {
                let first = match message {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::warn!(error = %e, "command consumer error");
                        tokio::time::sleep(config.retry_wait).await;
                        continue;
                    }
                };
                // The messages already fetched join the first, up to a batch.
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match member.consumer().recv().now_or_never() {
                        Some(Ok(message)) => batch.push(message),
                        Some(Err(e)) => tracing::warn!(error = %e, "command consumer error"),
                        None => break,
                    }
                }
                batch.retain(|message| member.owns(message.partition()));
                let replies = answer_all(&batch, &handler, &kafka, &config, &shutdown).await;
                let stopped = replies.len() < batch.len();
                for (message, reply) in batch.iter().zip(replies) {
                    deliveries.send(message.partition(), message.offset(), reply).await?;
                }
                if stopped {
                    break;
                }
            }
        }
    }
    deliveries.drain(Duration::from_secs(5)).await;
    deliveries.store_positions(&mut member).await;
    member.leave().await;
    tracing::info!("command intake stopped");
    Ok(())
}

/// The replies to `batch`, in its order. Commands of one conversation (one message key of a
/// partition) run one after another, in offset order; those of different conversations run at
/// once, and so share transactions (group commit). On shutdown, the replies up to the first
/// message left unanswered: a position never moves past a command without its reply.
async fn answer_all(
    batch: &[BorrowedMessage<'_>],
    handler: &CommandHandler,
    kafka: &KafkaConfig,
    config: &IntakeConfig,
    shutdown: &CancellationToken,
) -> Vec<Outgoing> {
    let mut chains: HashMap<(i32, &[u8]), Vec<usize>> = HashMap::new();
    for (index, message) in batch.iter().enumerate() {
        let key = (message.partition(), message.key().unwrap_or_default());
        chains.entry(key).or_default().push(index);
    }
    let runs = chains.into_values().map(|chain| async move {
        let mut replies = Vec::with_capacity(chain.len());
        for index in chain {
            match answer(&batch[index], handler, kafka, config, shutdown).await {
                Some(reply) => replies.push((index, reply)),
                None => break,
            }
        }
        replies
    });
    let mut replies: Vec<Option<Outgoing>> = vec![None; batch.len()];
    for (index, reply) in join_all(runs).await.into_iter().flatten() {
        replies[index] = Some(reply);
    }
    replies.into_iter().map_while(|reply| reply).collect()
}

/// The reply to one message, retried as the module says. `None` on shutdown. The message is a
/// span of the trace its `traceparent` header names (a new trace without one); the command is its
/// child, and the outcome record carries the message's span as its `traceparent`.
#[tracing::instrument(name = "intake_message", skip_all, fields(
    partition = message.partition(),
    offset = message.offset(),
    trace_id = tracing::field::Empty,
    span_id = tracing::field::Empty,
    parent_id = tracing::field::Empty,
))]
async fn answer(
    message: &BorrowedMessage<'_>,
    handler: &CommandHandler,
    kafka: &KafkaConfig,
    config: &IntakeConfig,
    shutdown: &CancellationToken,
) -> Option<Outgoing> {
    let trace = message_trace(message);
    let payload = message.payload().unwrap_or_default();
    let parsed = if payload.len() > MAX_COMMAND_BYTES {
        Err((
            DeadLetter::TooLarge,
            format!(
                "command message is {} bytes; the limit is {MAX_COMMAND_BYTES}",
                payload.len()
            ),
        ))
    } else {
        parse_command(payload).map_err(|reason| (DeadLetter::Unparseable, reason.to_string()))
    };
    let command = match parsed {
        Ok(command) => command,
        Err((why, reason)) => {
            convo_metrics::dead_letter(why);
            tracing::info!(%reason, partition = message.partition(), offset = message.offset(), "command dead-lettered");
            return Some(dead_letter(message, &reason, &kafka.topics.dead_letters));
        }
    };
    let mut attempts = 0;
    let mut wait = config.retry_wait;
    loop {
        let error = match execute(handler, &command, &trace).await {
            Ok(outcome) => return Some(outcome_record(&command, &outcome, kafka, &trace)),
            Err(error) => error,
        };
        if !cured_by_retrying(&error) {
            attempts += 1;
            if attempts >= config.max_attempts {
                tracing::error!(command_id = %command.command_id, %error, attempts, "command keeps failing; answered with a 500 outcome");
                let kind = command.kind.type_label();
                convo_metrics::command(
                    Transport::Kafka,
                    kind,
                    convo_metrics::Outcome::Rejected,
                    500,
                );
                return Some(outcome_record(
                    &command,
                    &failed_outcome(&command),
                    kafka,
                    &trace,
                ));
            }
        }
        tracing::warn!(command_id = %command.command_id, %error, attempts, "command not processed; retrying");
        if tokio::time::timeout(wait, shutdown.cancelled())
            .await
            .is_ok()
        {
            return None;
        }
        wait = (wait * 2).min(config.retry_max_wait);
    }
}

/// Whether a failure may go away by itself: the database unreachable, restarting or overloaded,
/// or a race with another writer.
fn cured_by_retrying(error: &StoreError) -> bool {
    if error.is_retryable() || matches!(error, StoreError::Contended { .. }) {
        return true;
    }
    match error {
        StoreError::Database(sqlx::Error::Database(_)) => {
            // Connection exceptions, resources, operator intervention, system errors.
            matches!(
                error.sqlstate().as_deref().map(|s| &s[..2]),
                Some("08" | "53" | "57" | "58")
            )
        }
        StoreError::Database(_) => true,
        _ => false,
    }
}

/// The message's span: a child of the message's `traceparent` header when it is valid, else the
/// first span of a new trace. Recorded on the current (`intake_message`) span.
fn message_trace(message: &BorrowedMessage<'_>) -> TraceContext {
    let parent = message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == convo_trace::HEADER)
            .and_then(|h| std::str::from_utf8(h.value?).ok())
            .and_then(TraceContext::parse)
    });
    let trace = TraceContext::child_of(parent.as_ref());
    let span = tracing::Span::current();
    span.record("trace_id", trace.trace_id().as_str());
    span.record("span_id", trace.span_id().as_str());
    if let Some(parent) = parent {
        span.record("parent_id", parent.span_id().as_str());
    }
    trace
}

fn outcome_record(
    command: &WireCommand,
    outcome: &Outcome,
    kafka: &KafkaConfig,
    trace: &TraceContext,
) -> Outgoing {
    let key = outcome.conversation_uid().as_bytes().to_vec();
    let traceparent = trace.traceparent();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "command_id",
            value: Some(command.command_id.as_str()),
        })
        .insert(Header {
            key: "content-type",
            value: Some("application/json"),
        })
        .insert(Header {
            key: convo_trace::HEADER,
            value: Some(traceparent.as_str()),
        });
    Outgoing {
        topic: kafka.topics.outcomes.clone(),
        key: Some(key),
        payload: serde_json::to_vec(outcome).unwrap_or_default(),
        headers,
    }
}

/// The original value (cut to [`MAX_DEAD_LETTER_BYTES`]) and key, with why and where from in
/// headers.
fn dead_letter(message: &BorrowedMessage<'_>, reason: &str, topic: &str) -> Outgoing {
    let payload = message.payload().unwrap_or_default();
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: "dlq_reason",
            value: Some(reason),
        })
        .insert(Header {
            key: "dlq_source_topic",
            value: Some(message.topic()),
        })
        .insert(Header {
            key: "dlq_source_partition",
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: "dlq_source_offset",
            value: Some(offset.as_str()),
        });
    let kept = payload.len().min(MAX_DEAD_LETTER_BYTES);
    if kept < payload.len() {
        let original = payload.len().to_string();
        headers = headers.insert(Header {
            key: "dlq_truncated",
            value: Some(original.as_str()),
        });
    }
    Outgoing {
        topic: topic.to_owned(),
        key: message.key().map(<[u8]>::to_vec),
        payload: payload[..kept].to_vec(),
        headers,
    }
}
