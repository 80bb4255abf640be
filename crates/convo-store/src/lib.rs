//! The write side on PostgreSQL: the event store (which is also the relay's outbox), command
//! outcomes for idempotency, snapshots, merge routing, and the command handler that ties them to
//! the pure domain.
//!
//! Schema changes live in `migrations/`, applied by [`MIGRATOR`] (`convo migrate`).

pub mod error;
pub mod events;
mod group;
pub mod handler;
pub mod history;
pub mod store;
pub mod upstream;

pub use convo_metrics::Transport;
pub use error::StoreError;
pub use handler::{Accepted, Answer, CommandHandler, Idempotency, Request};
pub use store::Metadata;

/// The schema migrations, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// How long a request waits for a pooled connection. When the database is unreachable, this is
/// how long a request takes to fail (HTTP 503 with `Retry-After`), not a hang; a service so
/// overloaded that a connection is not free within it sheds the request the same way.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

/// The pool settings every role uses.
pub fn pool_options(max_connections: u32) -> sqlx::postgres::PgPoolOptions {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// Opens a connection pool.
pub async fn connect(
    database_url: &str,
    max_connections: u32,
) -> Result<sqlx::PgPool, sqlx::Error> {
    pool_options(max_connections).connect(database_url).await
}
