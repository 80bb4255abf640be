//! Infrastructure failures, kept apart from domain rejections. HTTP answers them with 500, or 503
//! with `Retry-After` when the database is unreachable ([`StoreError::is_unavailable`]); the
//! Kafka intake does not commit the offset and retries.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored event or snapshot does not decode: the store holds something this build does not
    /// understand.
    #[error("stored data for {conversation_uid} does not decode: {reason}")]
    Corrupt {
        conversation_uid: String,
        reason: String,
    },
    /// Something the transaction read changed before it could lock it (a merge raced it).
    #[error("raced by a concurrent change; retry")]
    Raced,
    /// Concurrent writers kept winning for longer than the retry budget.
    #[error("gave up after {attempts} attempts on a contended conversation")]
    Contended { attempts: u32 },
}

impl StoreError {
    /// SQLSTATE of a database error, if any.
    pub fn sqlstate(&self) -> Option<String> {
        match self {
            Self::Database(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
            _ => None,
        }
    }

    /// Whether the database could not be reached: no connection within the pool's acquire
    /// timeout, a connection lost, or the server shutting down or starting up (SQLSTATE classes
    /// 08 and 57P). Retrying later may succeed; nothing about the request was wrong.
    pub fn is_unavailable(&self) -> bool {
        let Self::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        }
    }

    /// Whether a concurrent writer changed what the transaction read: the `(conversation,
    /// version)` key refused the append, or a merge target moved.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Raced) || self.sqlstate().as_deref() == Some("23505")
    }

    /// Whether running the whole transaction again may succeed: a unique-key race, a
    /// serialization failure or a deadlock.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Raced)
            || matches!(
                self.sqlstate().as_deref(),
                Some("23505" | "40001" | "40P01")
            )
    }
}
