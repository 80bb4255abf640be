//! The write side on PostgreSQL: the event store (which is also the relay's outbox), command
//! outcomes for idempotency, snapshots, merge routing, and the command handler that ties them to
//! the pure domain.
//!
//! Schema changes live in `migrations/`, applied by [`MIGRATOR`] (`convo migrate`).

pub mod error;
pub mod handler;
pub mod store;
pub mod upstream;

pub use error::StoreError;
pub use handler::{Accepted, CommandHandler, Idempotency, Metadata, Reply, Request};

/// The schema migrations, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Opens a connection pool.
pub async fn connect(
    database_url: &str,
    max_connections: u32,
) -> Result<sqlx::PgPool, sqlx::Error> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(database_url)
        .await
}
