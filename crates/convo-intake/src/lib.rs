//! Command intake: a consumer group on the commands topic. Each command runs through the same
//! handler as HTTP; its outcome goes to the outcomes topic (keyed by conversation, carrying the
//! command id); a message that is not a command goes to the dead-letter topic with the reason in
//! its headers. A message's offset is stored for commit only once its reply is acknowledged by
//! the broker: a crash redelivers it, and a redelivered command id yields its first outcome (the
//! handler stores outcomes by command id).
//!
//! Commands run one at a time, in partition order; replies are produced without waiting, up to
//! [`MAX_IN_FLIGHT`] at once, and their offsets are stored in order as acknowledgements arrive.
//! A failure of the store or the broker is retried, with a pause, until it succeeds or the
//! service shuts down: a message is never skipped because something else was down.

use std::collections::VecDeque;
use std::time::Duration;

use convo_domain::wire::parse_command;
use convo_kafka::{KafkaConfig, LogContext};
use convo_store::CommandHandler;
use convo_store::upstream::execute;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

/// Replies produced but not yet acknowledged, at most.
pub const MAX_IN_FLIGHT: usize = 1000;

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

/// What a command message gets back: an outcome, or its own dead letter.
#[derive(Debug, Clone)]
struct Reply {
    topic: String,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
}

/// A reply on its way, and the command message it answers.
struct InFlight {
    partition: i32,
    offset: i64,
    reply: Reply,
    delivery: DeliveryFuture,
}

/// Consumes commands until `shutdown`, then waits for the replies on their way (a few seconds at
/// most) and commits what was answered.
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
    let source = kafka.topics.commands.as_str();
    consumer.subscribe(&[source])?;
    tracing::info!(topic = %source, group = %config.group_id, "command intake started");
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            delivered = async { (&mut in_flight.front_mut().expect("not empty").delivery).await },
                if !in_flight.is_empty() =>
            {
                let done = in_flight.pop_front().expect("not empty");
                match delivered {
                    Ok(Ok(_)) => consumer.store_offset(source, done.partition, done.offset)?,
                    failed => {
                        tracing::warn!(offset = done.offset, error = ?failed.err(), "reply not delivered; producing it again");
                        tokio::time::sleep(config.retry_wait).await;
                        let delivery = send(&producer, &done.reply).await?;
                        in_flight.push_front(InFlight { delivery, ..done });
                    }
                }
            }
            message = consumer.recv(), if in_flight.len() < MAX_IN_FLIGHT => {
                let message = match message {
                    Ok(message) => message,
                    Err(e) => {
                        tracing::warn!(error = %e, "command consumer error");
                        tokio::time::sleep(config.retry_wait).await;
                        continue;
                    }
                };
                // Retry this message until it has a reply; never skip it.
                let reply = loop {
                    match reply_to(&message, &handler, &kafka).await {
                        Ok(reply) => break reply,
                        Err(e) => {
                            tracing::warn!(error = %e, offset = message.offset(), "command not processed; retrying");
                            if tokio::time::timeout(config.retry_wait, shutdown.cancelled()).await.is_ok() {
                                return finish(&consumer, source, in_flight).await;
                            }
                        }
                    }
                };
                let delivery = send(&producer, &reply).await?;
                in_flight.push_back(InFlight {
                    partition: message.partition(),
                    offset: message.offset(),
                    reply,
                    delivery,
                });
            }
        }
    }
    finish(&consumer, source, in_flight).await
}

/// Stores the offsets of replies that get acknowledged within a few seconds, in order, and
/// commits. Anything later is redelivered to the next member, which answers it the same way.
async fn finish(
    consumer: &StreamConsumer<LogContext>,
    source: &str,
    in_flight: VecDeque<InFlight>,
) -> Result<(), IntakeError> {
    for done in in_flight {
        match tokio::time::timeout(Duration::from_secs(5), done.delivery).await {
            Ok(Ok(Ok(_))) => consumer.store_offset(source, done.partition, done.offset)?,
            _ => break,
        }
    }
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!(error = %e, "final offset commit failed"),
    }
    tracing::info!("command intake stopped");
    Ok(())
}

/// Enqueues a reply with the producer (waiting while its local queue is full).
async fn send(
    producer: &FutureProducer<LogContext>,
    reply: &Reply,
) -> Result<DeliveryFuture, IntakeError> {
    loop {
        let mut record = FutureRecord::to(&reply.topic)
            .payload(&reply.payload)
            .headers(reply.headers.clone());
        if let Some(key) = &reply.key {
            record = record.key(key);
        }
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Runs one message: its outcome, or a dead letter when it is not a command.
async fn reply_to(
    message: &BorrowedMessage<'_>,
    handler: &CommandHandler,
    kafka: &KafkaConfig,
) -> Result<Reply, IntakeError> {
    let payload = message.payload().unwrap_or_default();
    let command = match parse_command(payload) {
        Ok(command) => command,
        Err(reason) => {
            tracing::info!(%reason, offset = message.offset(), "command dead-lettered");
            return Ok(dead_letter(
                message,
                &reason.to_string(),
                &kafka.topics.dead_letters,
            ));
        }
    };
    let outcome = execute(handler, &command).await?;
    let key = outcome["conversation_uid"]
        .as_str()
        .unwrap_or(&command.conversation_uid)
        .as_bytes()
        .to_vec();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "command_id",
            value: Some(command.command_id.as_str()),
        })
        .insert(Header {
            key: "content-type",
            value: Some("application/json"),
        });
    Ok(Reply {
        topic: kafka.topics.outcomes.clone(),
        key: Some(key),
        payload: outcome.to_string().into_bytes(),
        headers,
    })
}

/// The original value and key, with why and where from in headers.
fn dead_letter(message: &BorrowedMessage<'_>, reason: &str, topic: &str) -> Reply {
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
    Reply {
        topic: topic.to_owned(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().unwrap_or_default().to_vec(),
        headers,
    }
}
