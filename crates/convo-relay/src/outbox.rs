//! The relay's statements on the events table (the outbox) and on its own `relay_positions` row.

use convo_kafka::EventRecord;
use convo_store::events::{self, Position, StoredEvent};
use sqlx::PgConnection;

use crate::status::StalledEvent;

/// A row of the events table, with its place in the reading order.
pub(crate) struct Row {
    pub tx_id: String,
    pub position: i64,
    pub record: EventRecord,
}

impl Row {
    pub fn stalled(&self) -> StalledEvent {
        StalledEvent {
            event_id: self.record.event_id,
            conversation_uid: self.record.conversation_uid.clone(),
            version: self.record.version,
            bytes: self.record.payload.len(),
        }
    }
}

/// Where the relay stopped: `("0", 0)` before its first batch.
pub(crate) async fn load_position(
    conn: &mut PgConnection,
    relay: &str,
) -> Result<(String, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT tx_id::text AS "tx_id!", position FROM relay_positions WHERE relay = $1"#,
        relay
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or(("0".to_owned(), 0), |r| (r.tx_id, r.position)))
}

/// Stores that everything up to `(tx_id, position)` is on the topic; a stall is over.
pub(crate) async fn store_position(
    conn: &mut PgConnection,
    relay: &str,
    tx_id: &str,
    position: i64,
    published: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO relay_positions (relay, tx_id, position, published)
         VALUES ($1, $2::text::xid8, $3, $4)
         ON CONFLICT (relay) DO UPDATE
         SET tx_id = EXCLUDED.tx_id, position = EXCLUDED.position,
             published = relay_positions.published + EXCLUDED.published,
             updated_at = clock_timestamp(), stalled_since = NULL, stalled_reason = NULL",
        relay,
        tx_id,
        position,
        published as i64
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Records, for other processes, that the relay cannot publish and why; `stalled_since` keeps
/// the start of a stall that goes on.
pub(crate) async fn mark_stalled(
    conn: &mut PgConnection,
    relay: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO relay_positions (relay, tx_id, position, stalled_since, stalled_reason)
         VALUES ($1, '0', 0, clock_timestamp(), $2)
         ON CONFLICT (relay) DO UPDATE
         SET stalled_since = COALESCE(relay_positions.stalled_since, EXCLUDED.stalled_since),
             stalled_reason = EXCLUDED.stalled_reason",
        relay,
        reason
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn clear_stall(conn: &mut PgConnection, relay: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE relay_positions SET stalled_since = NULL, stalled_reason = NULL
         WHERE relay = $1 AND stalled_since IS NOT NULL",
        relay
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The next events after `(tx_id, position)` whose transactions have all ended.
pub(crate) async fn read_batch(
    conn: &mut PgConnection,
    tx_id: &str,
    position: i64,
    limit: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    let from = Position {
        tx_id: tx_id.to_owned(),
        position,
    };
    Ok(events::committed_after(conn, &from, limit)
        .await?
        .into_iter()
        .map(|(at, stored)| Row {
            tx_id: at.tx_id,
            position: at.position,
            record: record(stored),
        })
        .collect())
}

/// A stored event as the record the relay publishes.
pub fn record(stored: StoredEvent) -> EventRecord {
    let traceparent = stored.traceparent.unwrap_or_else(|| {
        convo_kafka::record::derived_traceparent(&stored.correlation_id, stored.event_id)
    });
    EventRecord {
        event_id: stored.event_id,
        conversation_uid: stored.conversation_uid,
        version: stored.version,
        event_type: stored.event_type,
        schema_version: stored.schema_version,
        business_uid: stored.business_uid,
        actor_staff_uid: stored.actor_staff_uid,
        command_id: stored.command_id,
        correlation_id: stored.correlation_id,
        causation_id: stored.causation_id,
        occurred_at: stored.occurred_at,
        traceparent,
        payload: stored.payload,
    }
}
