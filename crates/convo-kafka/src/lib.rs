//! The Kafka adapter, wrapped once: typed client configuration with documented defaults, a client
//! context that routes librdkafka's logs into `tracing`, topic creation, reading a whole topic, and
//! the CloudEvents record format of events on the events topic.
//!
//! Nothing here relies on a particular broker's quirks: it holds on Apache Kafka and on the
//! Kafka-compatible broker used for local runs and tests.

pub mod config;
pub mod context;
pub mod offsets;
pub mod read;
pub mod record;
pub mod topics;

pub use config::{KafkaConfig, Topics};
pub use context::LogContext;
pub use record::{EventRecord, RecordError};
