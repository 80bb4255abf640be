//! Statements on the write-side tables. Each takes the open transaction's connection, so the
//! handler composes them into one atomic commit.

use chrono::{DateTime, Utc};
use convo_domain::{Conversation, Event};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::StoreError;

pub use convo_domain::state::STATE_SCHEMA;

/// How many merge hops the router follows before giving up (merges never form cycles, so this
/// only bounds damage from corrupt data).
const MAX_MERGE_HOPS: i32 = 64;

/// Namespace of the deterministic event ids.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2c7e_9b7e_4f0e_8a55_3e1d_c0a7_e5e1);

/// The id of the event at `version` of `conversation_uid`: the same on every retry and republish.
pub fn event_id(conversation_uid: &str, version: u64) -> Uuid {
    Uuid::new_v5(
        &EVENT_ID_NAMESPACE,
        format!("{conversation_uid}/{version}").as_bytes(),
    )
}

/// Serializes writers of one conversation across every connection and service instance, until
/// the transaction ends.
pub async fn lock_conversation(conn: &mut PgConnection, uid: &str) -> Result<(), StoreError> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", uid)
        .execute(conn)
        .await?;
    Ok(())
}

/// Follows merge routes from `uid` to the conversation that holds it now.
pub async fn resolve_route(conn: &mut PgConnection, uid: &str) -> Result<String, StoreError> {
    let row = sqlx::query_scalar!(
        r#"WITH RECURSIVE chain (uid, hops) AS (
               SELECT $1::text, 0
               UNION ALL
               SELECT m.target_uid, c.hops + 1
               FROM merge_routes m JOIN chain c ON m.source_uid = c.uid
               WHERE c.hops < $2
           )
           SELECT uid AS "uid!" FROM chain ORDER BY hops DESC LIMIT 1"#,
        uid,
        MAX_MERGE_HOPS
    )
    .fetch_one(conn)
    .await?;
    Ok(row)
}

/// Follows merge routes from `uid` and locks the conversation at the end, in one round trip.
/// The route can change before the lock is granted (a merge committing meanwhile): the caller
/// checks the loaded state and follows a merge it finds.
pub async fn resolve_and_lock(conn: &mut PgConnection, uid: &str) -> Result<String, StoreError> {
    let row = sqlx::query_scalar!(
        r#"WITH RECURSIVE chain (uid, hops) AS (
               SELECT $1::text, 0
               UNION ALL
               SELECT m.target_uid, c.hops + 1
               FROM merge_routes m JOIN chain c ON m.source_uid = c.uid
               WHERE c.hops < $2
           ),
           target AS (SELECT uid FROM chain ORDER BY hops DESC LIMIT 1)
           SELECT target.uid AS "uid!"
           FROM target, LATERAL pg_advisory_xact_lock(hashtextextended(target.uid, 0))"#,
        uid,
        MAX_MERGE_HOPS
    )
    .fetch_one(conn)
    .await?;
    Ok(row)
}

pub async fn insert_route(
    conn: &mut PgConnection,
    source_uid: &str,
    target_uid: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO merge_routes (source_uid, target_uid) VALUES ($1, $2)",
        source_uid,
        target_uid
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The conversation's current state: its snapshot plus the events after it, in one round trip.
/// A snapshot of another shape, or one that does not decode, is ignored: the events are folded
/// from the start instead.
pub async fn load(conn: &mut PgConnection, uid: &str) -> Result<Conversation, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT 0 AS "kind!", version AS "version!", state_schema AS "schema!",
                  state::text AS "data!"
           FROM snapshots WHERE conversation_uid = $1 AND state_schema = $2
           UNION ALL
           SELECT 1, version, schema_version, payload::text FROM events
           WHERE conversation_uid = $1
             AND version > COALESCE((SELECT version FROM snapshots
                                     WHERE conversation_uid = $1 AND state_schema = $2), 0)
           ORDER BY 1, 2"#,
        uid,
        STATE_SCHEMA
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut rows = rows.into_iter().peekable();
    let mut state = Conversation::new(uid);
    if let Some(snapshot) = rows.next_if(|row| row.kind == 0) {
        match serde_json::from_str::<Conversation>(&snapshot.data) {
            Ok(snapshot) => state = snapshot,
            Err(e) => {
                tracing::warn!(conversation = uid, error = %e, "snapshot does not decode; folding the events");
                return fold_events(conn, Conversation::new(uid)).await;
            }
        }
    }
    for row in rows {
        let version = u64::try_from(row.version).unwrap_or_default();
        state = state.evolve(&crate::events::decode(uid, version, row.schema, &row.data)?);
    }
    Ok(state)
}

/// Folds the events after `state.version` into `state`.
async fn fold_events(
    conn: &mut PgConnection,
    mut state: Conversation,
) -> Result<Conversation, StoreError> {
    for stored in crate::events::stream(conn, &state.uid.clone(), state.version, None).await? {
        state = state.evolve(&stored.event()?);
    }
    Ok(state)
}

/// Who and what caused a command, recorded with each of its events.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub command_id: String,
    pub correlation_id: String,
    pub causation_id: String,
    /// The command's span: its events carry it as their `traceparent`, so whatever they cause
    /// (relay, projectors, outcomes) joins the same trace.
    pub trace: convo_trace::TraceContext,
}

/// Appends `events` after version `expected` of the conversation and, with `snapshot` (the
/// state they lead to), keeps the snapshot there: one statement, one round trip. A concurrent
/// writer that got there first makes this fail with a unique violation (SQLSTATE 23505), which
/// is retryable.
pub async fn append(
    conn: &mut PgConnection,
    uid: &str,
    expected: u64,
    events: &[Event],
    business_uid: &str,
    meta: &Metadata,
    snapshot: Option<&Conversation>,
) -> Result<(), StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        conversation_uid: uid.to_owned(),
        reason: e.to_string(),
    };
    let n = events.len();
    let mut ids = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut actors: Vec<Option<String>> = Vec::with_capacity(n);
    let mut times: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    for (i, event) in events.iter().enumerate() {
        let version = expected + 1 + i as u64;
        ids.push(event_id(uid, version));
        versions.push(version as i64);
        types.push(event.type_name().to_owned());
        payloads.push(serde_json::to_value(event).map_err(corrupt)?);
        actors.push(event.staff_uid.clone());
        times.push(event.at);
    }
    let snapshot_version = snapshot.map(|s| s.version as i64);
    let snapshot_state = snapshot
        .map(serde_json::to_value)
        .transpose()
        .map_err(corrupt)?;
    sqlx::query!(
        "WITH appended AS (
             INSERT INTO events (event_id, conversation_uid, version, event_type, schema_version,
                                 payload, business_uid, actor_staff_uid, command_id,
                                 correlation_id, causation_id, occurred_at, traceparent)
             SELECT e.id, $2, e.version, e.type, $3, e.payload, $4, e.actor, $5, $6, $7, e.at,
                    $16
             FROM UNNEST($1::uuid[], $8::bigint[], $9::text[], $10::jsonb[], $11::text[],
                         $12::timestamptz[]) AS e (id, version, type, payload, actor, at)
             RETURNING 1
         ), snapshot AS (
             INSERT INTO snapshots (conversation_uid, version, state_schema, state)
             SELECT $2, $13, $14, $15 WHERE $15::jsonb IS NOT NULL
             ON CONFLICT (conversation_uid) DO UPDATE
             SET version = EXCLUDED.version, state_schema = EXCLUDED.state_schema,
                 state = EXCLUDED.state, updated_at = clock_timestamp()
             WHERE snapshots.version < EXCLUDED.version
         )
         SELECT count(*) FROM appended",
        &ids,
        uid,
        convo_domain::event::SCHEMA_VERSION,
        business_uid,
        &meta.command_id,
        &meta.correlation_id,
        &meta.causation_id,
        &versions,
        &types,
        &payloads,
        &actors as &[Option<String>],
        &times,
        snapshot_version,
        STATE_SCHEMA,
        snapshot_state,
        meta.trace.traceparent(),
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// A stored outcome of an idempotent command.
#[derive(Debug, Clone)]
pub struct StoredOutcome {
    pub request_hash: String,
    pub status: u16,
    pub body: serde_json::Value,
}

pub async fn find_outcome(
    conn: &mut PgConnection,
    command_id: &str,
) -> Result<Option<StoredOutcome>, StoreError> {
    let row = sqlx::query!(
        "SELECT request_hash, status, outcome FROM command_outcomes WHERE command_id = $1",
        command_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| StoredOutcome {
        request_hash: r.request_hash,
        status: u16::try_from(r.status).unwrap_or(500),
        body: r.outcome,
    }))
}

pub async fn insert_outcome(
    conn: &mut PgConnection,
    command_id: &str,
    conversation_uid: &str,
    version: Option<u64>,
    outcome: &StoredOutcome,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO command_outcomes (command_id, request_hash, conversation_uid, status, version, outcome)
         VALUES ($1, $2, $3, $4, $5, $6)",
        command_id,
        outcome.request_hash,
        conversation_uid,
        outcome.status as i16,
        version.map(|v| v as i64),
        outcome.body
    )
    .execute(conn)
    .await?;
    Ok(())
}
