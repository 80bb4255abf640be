//! Command intake: a consumer group on the commands topic. Each command runs through the same
//! handler as HTTP; its outcome goes to the outcomes topic (keyed by conversation, carrying the
//! command id); a message that is not a command goes to the dead-letter topic with the reason in
//! its headers. Only then is the message's offset stored for commit: a crash redelivers it, and
//! a redelivered command id yields its first outcome (the handler stores outcomes by command id).
//!
//! A failure of the store or the broker is retried, with a pause, until it succeeds or the
//! service shuts down: a message is never skipped because something else was down.

use std::time::Duration;

use convo_domain::wire::parse_command;
use convo_kafka::{KafkaConfig, LogContext};
use convo_store::CommandHandler;
use convo_store::upstream::execute;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct IntakeConfig {
    pub group_id: String,
    /// Pause before retrying after a store or broker failure.
    pub retry_wait: Duration,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            group_id: "convo-intake".to_owned(),
            retry_wait: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("broker: {0}")]
    Broker(#[from] KafkaError),
    #[error("store: {0}")]
    Store(#[from] convo_store::StoreError),
}

/// Consumes commands until `shutdown`, then commits what was processed.
pub async fn run(
    config: IntakeConfig,
    kafka: KafkaConfig,
    handler: CommandHandler,
    shutdown: CancellationToken,
) -> Result<(), IntakeError> {
    let consumer: StreamConsumer<LogContext> = kafka
        .consumer(&config.group_id)
        .create_with_context(LogContext)?;
    let producer: FutureProducer<LogContext> = kafka.producer().create_with_context(LogContext)?;
    consumer.subscribe(&[kafka.topics.commands.as_str()])?;
    tracing::info!(topic = %kafka.topics.commands, group = %config.group_id, "command intake started");
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "command consumer error");
                tokio::time::sleep(config.retry_wait).await;
                continue;
            }
        };
        // Retry this message until its outcome is durable; never skip it.
        while let Err(e) = process(&message, &handler, &producer, &kafka).await {
            tracing::warn!(error = %e, offset = message.offset(), "command not processed; retrying");
            if tokio::time::timeout(config.retry_wait, shutdown.cancelled())
                .await
                .is_ok()
            {
                return commit(&consumer);
            }
        }
        consumer.store_offset_from_message(&message)?;
    }
    commit(&consumer)
}

fn commit(consumer: &StreamConsumer<LogContext>) -> Result<(), IntakeError> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!(error = %e, "final offset commit failed"),
    }
    tracing::info!("command intake stopped");
    Ok(())
}

/// Runs one message and publishes what became of it.
async fn process(
    message: &BorrowedMessage<'_>,
    handler: &CommandHandler,
    producer: &FutureProducer<LogContext>,
    kafka: &KafkaConfig,
) -> Result<(), IntakeError> {
    let payload = message.payload().unwrap_or_default();
    let command = match parse_command(payload) {
        Ok(command) => command,
        Err(reason) => {
            tracing::info!(%reason, offset = message.offset(), "command dead-lettered");
            return dead_letter(
                message,
                &reason.to_string(),
                producer,
                &kafka.topics.dead_letters,
            )
            .await;
        }
    };
    let outcome = execute(handler, &command).await?;
    let body = outcome.to_string();
    let key = outcome["conversation_uid"]
        .as_str()
        .unwrap_or(&command.conversation_uid);
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "command_id",
            value: Some(command.command_id.as_str()),
        })
        .insert(Header {
            key: "content-type",
            value: Some("application/json"),
        });
    let record = FutureRecord::to(&kafka.topics.outcomes)
        .key(key)
        .payload(body.as_str())
        .headers(headers);
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}

/// The original value, with why and where from in headers.
async fn dead_letter(
    message: &BorrowedMessage<'_>,
    reason: &str,
    producer: &FutureProducer<LogContext>,
    topic: &str,
) -> Result<(), IntakeError> {
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let headers = OwnedHeaders::new()
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
    let mut record = FutureRecord::to(topic)
        .payload(message.payload().unwrap_or_default())
        .headers(headers);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    producer
        .send(record, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}
