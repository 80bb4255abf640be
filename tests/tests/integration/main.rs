//! One integration-test binary: real PostgreSQL (a fresh database per test), the real HTTP app.

mod auth;
mod bad_input;
mod chaos;
mod concurrency;
mod edges;
mod export;
mod follow_up_rows;
mod group_commit;
mod history;
mod idempotency;
mod merges_and_deletes;
mod operate;
mod outage;
mod partitions;
mod permitted_field_rows;
mod pipeline;
mod read_models;
mod relay;
mod relay_guards;
mod rendering;
mod replay;
mod schemas;
mod sizes;
mod topics;
mod upcasting;
mod verify;
