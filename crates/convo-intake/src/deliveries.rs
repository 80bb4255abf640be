//! Deliveries on their way to the broker, in the order their commands were read, and the positions
//! they make safe to store: a partition's position moves past a message only once its reply is
//! acknowledged.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use convo_kafka::{KafkaConfig, LogContext};
use convo_partitions::Member;
use convo_partitions::lag::LagProbe;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::IntakeError;

/// What a command message gets back: an outcome, or its own dead letter.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: OwnedHeaders,
}

/// A reply on its way, and the command message it answers.
struct InFlight {
    partition: i32,
    offset: i64,
    record: Outgoing,
    delivery: DeliveryFuture,
}

type Delivered = <DeliveryFuture as std::future::Future>::Output;

pub(crate) struct Deliveries {
    producer: FutureProducer<LogContext>,
    in_flight: VecDeque<InFlight>,
    /// Next offset to read per partition, acknowledged and not yet stored.
    acked: BTreeMap<i32, i64>,
    /// Next offset to read per partition, as last stored (for the lag).
    stored: BTreeMap<i32, i64>,
    lag: LagProbe,
}

impl Deliveries {
    pub fn new(producer: FutureProducer<LogContext>) -> Self {
        Self {
            producer,
            in_flight: VecDeque::new(),
            acked: BTreeMap::new(),
            stored: BTreeMap::new(),
            lag: LagProbe::default(),
        }
    }

    /// When due, reports how far the stored positions of the partitions still held are behind
    /// the broker.
    pub fn report_lag(&mut self, kafka: &KafkaConfig, member: &Member) {
        self.stored.retain(|partition, _| member.owns(*partition));
        let topic = &kafka.topics.commands;
        self.lag
            .probe(kafka, topic, &self.stored, convo_metrics::intake_lag);
    }

    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Produces `record` to the message at `offset` of `partition`.
    pub async fn send(
        &mut self,
        partition: i32,
        offset: i64,
        record: Outgoing,
    ) -> Result<(), IntakeError> {
        let delivery = self.produce(&record).await?;
        self.in_flight.push_back(InFlight {
            partition,
            offset,
            record,
            delivery,
        });
        Ok(())
    }

    /// The acknowledgement (or failure) of the oldest reply. Cancel-safe.
    pub async fn next_delivered(&mut self) -> Delivered {
        match self.in_flight.front_mut() {
            Some(front) => (&mut front.delivery).await,
            None => std::future::pending().await,
        }
    }

    /// Takes the oldest reply's result: acknowledged, its message is done; failed, the reply is
    /// produced again after `retry_wait`, still ahead of the others.
    pub async fn settle(
        &mut self,
        delivered: Delivered,
        retry_wait: Duration,
    ) -> Result<(), IntakeError> {
        let Some(done) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match delivered {
            Ok(Ok(_)) => {
                self.acked.insert(done.partition, done.offset + 1);
            }
            failed => {
                tracing::warn!(partition = done.partition, offset = done.offset, error = ?failed.err(), "reply not delivered; producing it again");
                tokio::time::sleep(retry_wait).await;
                let delivery = self.produce(&done.record).await?;
                self.in_flight.push_front(InFlight { delivery, ..done });
            }
        }
        Ok(())
    }

    /// Waits up to `limit` for the replies on their way, in order; what is not acknowledged by
    /// then stays unstored (and is answered again after a redelivery).
    pub async fn drain(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while let Some(front) = self.in_flight.front_mut() {
            match tokio::time::timeout_at(deadline, &mut front.delivery).await {
                Ok(Ok(Ok(_))) => {
                    let done = self.in_flight.pop_front().expect("front exists");
                    self.acked.insert(done.partition, done.offset + 1);
                }
                _ => {
                    tracing::warn!(
                        unanswered = self.in_flight.len(),
                        "replies not acknowledged in time; their commands will be redelivered"
                    );
                    self.in_flight.clear();
                    return;
                }
            }
        }
    }

    /// Stores the acknowledged positions; partitions another member took over are dropped.
    pub async fn store_positions(&mut self, member: &mut Member) {
        if self.acked.is_empty() {
            return;
        }
        let positions: Vec<(i32, i64)> = self.acked.iter().map(|(p, o)| (*p, *o)).collect();
        match member.claims.store_positions(&positions).await {
            Ok(lost) => {
                for (partition, position) in std::mem::take(&mut self.acked) {
                    convo_metrics::intake_position(partition, position);
                    self.stored.insert(partition, position);
                }
                if !lost.is_empty() {
                    tracing::warn!(partitions = ?lost, "partitions taken over by another member");
                    member.drop_lost(&lost);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "storing positions failed; retrying at the next heartbeat")
            }
        }
    }

    /// Enqueues a record with the producer (waiting while its local queue is full).
    async fn produce(&self, outgoing: &Outgoing) -> Result<DeliveryFuture, IntakeError> {
        loop {
            let mut record = FutureRecord::to(&outgoing.topic)
                .payload(&outgoing.payload)
                .headers(outgoing.headers.clone());
            if let Some(key) = &outgoing.key {
                record = record.key(key);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }
}
