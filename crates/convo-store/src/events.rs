//! The one reader of the `events` table: its row layout is decoded here and nowhere else. The
//! command handler folds events through [`crate::store::load`]; the projector's backfill, the
//! relay and `convo verify` read them through the functions below.

use chrono::{DateTime, Utc};
use convo_domain::Event;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::StoreError;

/// One committed event, as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Deterministic: UUIDv5 of (conversation uid, version).
    pub event_id: Uuid,
    pub conversation_uid: String,
    pub version: u64,
    pub event_type: String,
    pub schema_version: i32,
    /// The payload as JSON text (what the events topic carries, unchanged).
    pub payload: String,
    pub business_uid: String,
    pub actor_staff_uid: Option<String>,
    pub command_id: String,
    pub correlation_id: String,
    pub causation_id: String,
    pub occurred_at: DateTime<Utc>,
}

impl StoredEvent {
    /// The domain event the payload holds, upcast to the current shape.
    pub fn event(&self) -> Result<Event, StoreError> {
        decode(
            &self.conversation_uid,
            self.version,
            self.schema_version,
            &self.payload,
        )
    }
}

/// Decodes a stored payload of `uid`'s version `version`, written under `schema_version`, in the
/// current shape ([`Event::decode`]).
pub(crate) fn decode(
    uid: &str,
    version: u64,
    schema_version: i32,
    payload: &str,
) -> Result<Event, StoreError> {
    Event::decode(schema_version, payload).map_err(|e| StoreError::Corrupt {
        conversation_uid: uid.to_owned(),
        reason: format!("event version {version}: {e}"),
    })
}

/// An event's place in the relay's reading order: `(tx_id, position)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The writing transaction, as text (`xid8`).
    pub tx_id: String,
    pub position: i64,
}

/// A row of the events table, with its place in the relay's reading order.
struct EventRow {
    tx_id: String,
    position: i64,
    event_id: Uuid,
    conversation_uid: String,
    version: i64,
    event_type: String,
    schema_version: i32,
    payload: String,
    business_uid: String,
    actor_staff_uid: Option<String>,
    command_id: String,
    correlation_id: String,
    causation_id: String,
    occurred_at: DateTime<Utc>,
}

impl EventRow {
    fn split(self) -> (Position, StoredEvent) {
        let at = Position {
            tx_id: self.tx_id,
            position: self.position,
        };
        let event = StoredEvent {
            event_id: self.event_id,
            conversation_uid: self.conversation_uid,
            version: u64::try_from(self.version).unwrap_or_default(),
            event_type: self.event_type,
            schema_version: self.schema_version,
            payload: self.payload,
            business_uid: self.business_uid,
            actor_staff_uid: self.actor_staff_uid,
            command_id: self.command_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            occurred_at: self.occurred_at,
        };
        (at, event)
    }
}

/// The events of `uid` with versions in `after < version < before` (no upper bound when `None`),
/// in version order.
pub async fn stream(
    conn: &mut PgConnection,
    uid: &str,
    after: u64,
    before: Option<u64>,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let before = before.map(|b| i64::try_from(b).unwrap_or(i64::MAX));
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT tx_id::text AS "tx_id!", position, event_id, conversation_uid, version,
                  event_type, schema_version, payload::text AS "payload!", business_uid,
                  actor_staff_uid, command_id, correlation_id, causation_id, occurred_at
           FROM events
           WHERE conversation_uid = $1 AND version > $2 AND ($3::bigint IS NULL OR version < $3)
           ORDER BY version"#,
        uid,
        after,
        before
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|row| row.split().1).collect())
}

/// Every committed event (of one conversation, when `scope` is given), by conversation and
/// version.
pub async fn all(
    conn: &mut PgConnection,
    scope: Option<&str>,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT tx_id::text AS "tx_id!", position, event_id, conversation_uid, version,
                  event_type, schema_version, payload::text AS "payload!", business_uid,
                  actor_staff_uid, command_id, correlation_id, causation_id, occurred_at
           FROM events
           WHERE $1::text IS NULL OR conversation_uid = $1
           ORDER BY conversation_uid, version"#,
        scope
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|row| row.split().1).collect())
}

/// The next events after `from` in the relay's reading order whose transactions have all ended
/// (every transaction below `pg_snapshot_xmin` has; ADR 0002), at most `limit`.
pub async fn committed_after(
    conn: &mut PgConnection,
    from: &Position,
    limit: i64,
) -> Result<Vec<(Position, StoredEvent)>, sqlx::Error> {
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT tx_id::text AS "tx_id!", position, event_id, conversation_uid, version,
                  event_type, schema_version, payload::text AS "payload!", business_uid,
                  actor_staff_uid, command_id, correlation_id, causation_id, occurred_at
           FROM events
           WHERE (tx_id, position) > ($1::text::xid8, $2)
             AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
           ORDER BY tx_id, position
           LIMIT $3"#,
        from.tx_id,
        from.position,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(EventRow::split).collect())
}
