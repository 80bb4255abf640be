//! Publishing one batch: every record enqueued in reading order, every acknowledgement awaited
//! before the caller reads the next batch, so no later batch can overtake a failed one.

use std::time::Duration;

use convo_kafka::LogContext;
use futures_util::future::join_all;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::outbox::Row;

/// The records of a batch that did not all reach the topic.
#[derive(Debug)]
pub(crate) struct Undelivered {
    /// How many records from the start of the batch were acknowledged, none missing before them.
    pub acknowledged: usize,
    /// Why the next one was not.
    pub error: KafkaError,
}

/// Publishes `batch` in order and waits for every acknowledgement. On a failure, reports the
/// acknowledged prefix: the records after the first failure are published again by the next
/// attempt (duplicates that consumers drop by event id), never before it.
///
/// The producer is idempotent with `enable.gapless.guarantee`: a failure that would leave a gap
/// within a partition makes the producer fail everything after it instead (it is then dropped
/// with the term), so within a batch, too, nothing of a partition lands after a lost record.
#[tracing::instrument(name = "relay_batch", skip_all, fields(
    events = batch.len(),
    first_position = batch.first().map(|r| r.position),
))]
pub(crate) async fn publish(
    producer: &FutureProducer<LogContext>,
    topic: &str,
    batch: &[Row],
) -> Result<(), Undelivered> {
    let mut deliveries = Vec::with_capacity(batch.len());
    let mut refused = None;
    for (index, row) in batch.iter().enumerate() {
        match enqueue(producer, topic, row).await {
            Ok(delivery) => deliveries.push(delivery),
            // Refused before it left (larger than the client's `message.max.bytes`, ...): what
            // was enqueued before it is still awaited, nothing after it is sent.
            Err(error) => {
                refused = Some(Undelivered {
                    acknowledged: index,
                    error,
                });
                break;
            }
        }
    }
    for (index, result) in join_all(deliveries).await.into_iter().enumerate() {
        let error = match result {
            Ok(Ok(_)) => continue,
            Ok(Err((error, _))) => error,
            Err(_) => KafkaError::Canceled,
        };
        return Err(Undelivered {
            acknowledged: index,
            error,
        });
    }
    refused.map_or(Ok(()), Err)
}

/// Hands one record to the producer, waiting while its local queue is full.
async fn enqueue(
    producer: &FutureProducer<LogContext>,
    topic: &str,
    row: &Row,
) -> Result<DeliveryFuture, KafkaError> {
    let record = &row.record;
    let mut message = FutureRecord::to(topic)
        .key(record.conversation_uid.as_str())
        .payload(record.payload.as_str())
        .headers(record.headers());
    loop {
        match producer.send_result(message) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                // Let deliveries drain, then enqueue again.
                message = back;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err((error, _)) => return Err(error),
        }
    }
}
