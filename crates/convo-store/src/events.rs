//! The one reader of the `events` table: its row layout is decoded here and nowhere else. The
//! command handler folds events through [`crate::store::load`]; the projector's backfill, the
//! relay, `convo verify` and the replay tools (`convo export`, `history`, `state`) read them
//! through the functions below. Payloads are read in the current shape ([`Event::decode`]).

use chrono::{DateTime, Utc};
use convo_domain::Event;
use convo_domain::event::SCHEMA_VERSION;
use convo_domain::upcast::upcast;
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
    /// The W3C `traceparent` of the command that wrote it; `None` for events written before
    /// the store kept it.
    pub traceparent: Option<String>,
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
    traceparent: Option<String>,
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
            traceparent: self.traceparent,
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
                  actor_staff_uid, command_id, correlation_id, causation_id, occurred_at,
                  traceparent
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
                  actor_staff_uid, command_id, correlation_id, causation_id, occurred_at,
                  traceparent
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
                  actor_staff_uid, command_id, correlation_id, causation_id, occurred_at,
                  traceparent
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

/// Every committed event visible to the connection's snapshot, by conversation and version,
/// streamed: memory stays flat whatever the table holds.
pub fn in_order<'c>(
    conn: &'c mut PgConnection,
) -> futures_util::stream::BoxStream<'c, Result<StoredEvent, sqlx::Error>> {
    use futures_util::StreamExt;
    sqlx::query_as!(
        EventRow,
        r#"SELECT tx_id::text AS "tx_id!", position, event_id, conversation_uid, version,
                  event_type, schema_version, payload::text AS "payload!", business_uid,
                  actor_staff_uid, command_id, correlation_id, causation_id, occurred_at,
                  traceparent
           FROM events
           ORDER BY conversation_uid, version"#
    )
    .fetch(conn)
    .map(|row| row.map(|row| row.split().1))
    .boxed()
}

/// How many events the table holds.
pub async fn count(conn: &mut PgConnection) -> Result<u64, sqlx::Error> {
    let n = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM events"#)
        .fetch_one(conn)
        .await?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// The place in the relay's reading order up to which the connection's current snapshot sees
/// every event there will ever be: all transactions below the snapshot's `xmin` have ended.
/// [`committed_after`] from here returns what a reader of this snapshot may have missed.
pub async fn horizon(conn: &mut PgConnection) -> Result<Position, sqlx::Error> {
    let tx_id = sqlx::query_scalar!(
        r#"SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text AS "tx_id!""#
    )
    .fetch_one(conn)
    .await?;
    Ok(Position {
        tx_id,
        position: i64::MAX,
    })
}

/// Each conversation's last version.
pub async fn heads(conn: &mut PgConnection) -> Result<Vec<(String, u64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT conversation_uid, max(version) AS "version!" FROM events GROUP BY conversation_uid"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.conversation_uid,
                u64::try_from(r.version).unwrap_or_default(),
            )
        })
        .collect())
}

/// Which events [`matching`] reads. Every condition given must hold; none given reads all.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// `occurred_at >= since` (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// `occurred_at < until` (exclusive), so consecutive ranges neither overlap nor leave gaps.
    pub until: Option<DateTime<Utc>>,
    pub business_uid: Option<String>,
    /// Any of these types; every type when empty.
    pub event_types: Vec<String>,
    pub conversation_uid: Option<String>,
}

/// The events that `filter` selects, streamed from one snapshot in the relay's reading order
/// (`tx_id, position`: commit order, each conversation's events in version order), so memory
/// stays flat for any number of rows.
pub fn matching<'a>(
    conn: &'a mut PgConnection,
    filter: &'a EventFilter,
) -> impl futures_util::Stream<Item = Result<StoredEvent, sqlx::Error>> + 'a {
    use futures_util::TryStreamExt;
    sqlx::query_as!(
        EventRow,
        r#"SELECT tx_id::text AS "tx_id!", position, event_id, conversation_uid, version,
                  event_type, schema_version, payload::text AS "payload!", business_uid,
                  actor_staff_uid, command_id, correlation_id, causation_id, occurred_at,
                  traceparent
           FROM events
           WHERE ($1::timestamptz IS NULL OR occurred_at >= $1)
             AND ($2::timestamptz IS NULL OR occurred_at < $2)
             AND ($3::text IS NULL OR business_uid = $3)
             AND (cardinality($4::text[]) = 0 OR event_type = ANY($4))
             AND ($5::text IS NULL OR conversation_uid = $5)
           ORDER BY tx_id, position"#,
        filter.since,
        filter.until,
        filter.business_uid,
        &filter.event_types,
        filter.conversation_uid,
    )
    .fetch(conn)
    .map_ok(|row| row.split().1)
}

/// How many events `filter` selects (for a progress bar's total).
pub async fn count_matching(
    conn: &mut PgConnection,
    filter: &EventFilter,
) -> Result<u64, sqlx::Error> {
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM events
           WHERE ($1::timestamptz IS NULL OR occurred_at >= $1)
             AND ($2::timestamptz IS NULL OR occurred_at < $2)
             AND ($3::text IS NULL OR business_uid = $3)
             AND (cardinality($4::text[]) = 0 OR event_type = ANY($4))
             AND ($5::text IS NULL OR conversation_uid = $5)"#,
        filter.since,
        filter.until,
        filter.business_uid,
        &filter.event_types,
        filter.conversation_uid,
    )
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(count).unwrap_or_default())
}

impl StoredEvent {
    /// The same event with its payload in the current schema version (upcast when it was
    /// written under an older one): what a reader that wants one shape sees. A current payload
    /// is returned untouched.
    pub fn upcast(mut self) -> Result<Self, StoreError> {
        if self.schema_version == SCHEMA_VERSION {
            return Ok(self);
        }
        let corrupt = |reason: String| StoreError::Corrupt {
            conversation_uid: self.conversation_uid.clone(),
            reason: format!("event version {}: {reason}", self.version),
        };
        let payload = serde_json::from_str(&self.payload).map_err(|e| corrupt(e.to_string()))?;
        let current = upcast(self.schema_version, payload).map_err(|e| corrupt(e.to_string()))?;
        self.payload = current.to_string();
        self.schema_version = SCHEMA_VERSION;
        Ok(self)
    }
}
