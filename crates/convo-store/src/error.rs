//! Infrastructure failures, kept apart from domain rejections. HTTP answers them with 500 (or 503
//! when the database is unreachable); the Kafka intake does not commit the offset and retries.

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
