//! Read models in PostgreSQL, built from the events topic.
//!
//! - [`project`] applies a batch of events to the read models in one transaction, together with
//!   the per-partition checkpoints; every conversation row is guarded by its last applied
//!   aggregate version, so redelivery and replay change nothing.
//! - [`consumer`] is the Kafka side: a consumer group on the events topic that batches records,
//!   resumes each assigned partition from its stored checkpoint, and commits offsets only after
//!   the read models did.
//! - [`query`] reads the read models for the API.

pub mod consumer;
pub mod project;
pub mod query;

pub use consumer::{ProjectorConfig, run};
