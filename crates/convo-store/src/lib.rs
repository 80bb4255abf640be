//! PostgreSQL event store.
