//! Read models in PostgreSQL, built from the events topic.
//!
//! - [`project`] applies a batch of events to the read models in one transaction, together with
//!   the per-partition checkpoints; every conversation row is guarded by its last applied
//!   aggregate version, so redelivery and replay change nothing.
//! - [`consumer`] is the Kafka side: it reads the partitions of the events topic it claims
//!   (`convo_partitions`), batches records, retries failed batches and parks conversations whose
//!   events cannot be applied.
//! - [`parked`] keeps the parked conversations; [`unpark`] is what operators do with them
//!   (show, retry through [`refold`], drop).
//! - [`control`] is where each projection stands, and resetting a stopped one's positions.
//! - [`query`] reads the read models for the API.

pub mod consumer;
pub mod control;
pub mod parked;
pub mod project;
pub mod query;
pub mod read_models;
pub mod refold;
pub mod replay;
mod report;
pub mod unpark;

pub use consumer::{ProjectorConfig, run};
pub use read_models::ReadModel;
