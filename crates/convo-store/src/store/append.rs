//! Appending events (and snapshots) of one or many commands in one statement.

use chrono::{DateTime, Utc};
use convo_domain::{Conversation, Event};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{STATE_SCHEMA, event_id};
use crate::error::StoreError;

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
    append: &Append<'_>,
    snapshot: Option<&Conversation>,
) -> Result<(), StoreError> {
    append_all(conn, std::slice::from_ref(append), snapshot.as_slice()).await
}

/// Events of one command on one conversation, to append after version `expected`.
#[derive(Debug, Clone, Copy)]
pub struct Append<'a> {
    pub uid: &'a str,
    pub expected: u64,
    pub events: &'a [Event],
    pub business_uid: &'a str,
    pub metadata: &'a Metadata,
}

/// [`append`] for many commands, of any conversations, and their snapshots (at most one per
/// conversation): one statement, one round trip.
pub async fn append_all(
    conn: &mut PgConnection,
    appends: &[Append<'_>],
    snapshots: &[&Conversation],
) -> Result<(), StoreError> {
    let n = appends.iter().map(|a| a.events.len()).sum();
    let mut rows = EventRows::with_capacity(n);
    for append in appends {
        rows.push(append)?;
    }
    let mut snapshot_uids = Vec::with_capacity(snapshots.len());
    let mut snapshot_versions = Vec::with_capacity(snapshots.len());
    let mut snapshot_states = Vec::with_capacity(snapshots.len());
    for state in snapshots {
        snapshot_uids.push(state.uid.clone());
        snapshot_versions.push(state.version as i64);
        snapshot_states.push(serde_json::to_string(state).map_err(|e| corrupt(&state.uid, e))?);
    }
    sqlx::query!(
        "WITH appended AS (
             INSERT INTO events (event_id, conversation_uid, version, event_type, schema_version,
                                 payload, business_uid, actor_staff_uid, command_id,
                                 correlation_id, causation_id, occurred_at, traceparent)
             SELECT e.id, e.uid, e.version, e.type, $1, e.payload::jsonb, e.business, e.actor,
                    e.command, e.correlation, e.causation, e.at, e.traceparent
             FROM UNNEST($2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[],
                         $17::text[])
                  AS e (id, uid, version, type, payload, business, actor, command, correlation,
                        causation, at, traceparent)
             RETURNING 1
         ), snapshot AS (
             INSERT INTO snapshots (conversation_uid, version, state_schema, state)
             SELECT s.uid, s.version, $13, s.state::jsonb
             FROM UNNEST($14::text[], $15::bigint[], $16::text[]) AS s (uid, version, state)
             ON CONFLICT (conversation_uid) DO UPDATE
             SET version = EXCLUDED.version, state_schema = EXCLUDED.state_schema,
                 state = EXCLUDED.state, updated_at = clock_timestamp()
             WHERE snapshots.version < EXCLUDED.version
         )
         SELECT count(*) FROM appended",
        convo_domain::event::SCHEMA_VERSION,
        &rows.ids,
        &rows.uids,
        &rows.versions,
        &rows.types,
        &rows.payloads,
        &rows.businesses,
        &rows.actors as &[Option<String>],
        &rows.commands,
        &rows.correlations,
        &rows.causations,
        &rows.times,
        STATE_SCHEMA,
        &snapshot_uids,
        &snapshot_versions,
        &snapshot_states,
        &rows.traceparents,
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

fn corrupt(uid: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        conversation_uid: uid.to_owned(),
        reason: e.to_string(),
    }
}

/// The events table's columns as arrays, for one `UNNEST` insert.
#[derive(Default)]
struct EventRows {
    ids: Vec<Uuid>,
    uids: Vec<String>,
    versions: Vec<i64>,
    types: Vec<String>,
    payloads: Vec<String>,
    businesses: Vec<String>,
    actors: Vec<Option<String>>,
    commands: Vec<String>,
    correlations: Vec<String>,
    causations: Vec<String>,
    times: Vec<DateTime<Utc>>,
    traceparents: Vec<String>,
}

impl EventRows {
    fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            uids: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            types: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            businesses: Vec::with_capacity(n),
            actors: Vec::with_capacity(n),
            commands: Vec::with_capacity(n),
            correlations: Vec::with_capacity(n),
            causations: Vec::with_capacity(n),
            times: Vec::with_capacity(n),
            traceparents: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, append: &Append<'_>) -> Result<(), StoreError> {
        let meta = append.metadata;
        for (i, event) in append.events.iter().enumerate() {
            let version = append.expected + 1 + i as u64;
            let payload = serde_json::to_string(event).map_err(|e| corrupt(append.uid, e))?;
            self.ids.push(event_id(append.uid, version));
            self.uids.push(append.uid.to_owned());
            self.versions.push(version as i64);
            self.types.push(event.type_name().to_owned());
            self.payloads.push(payload);
            self.businesses.push(append.business_uid.to_owned());
            self.actors.push(event.staff_uid.clone());
            self.commands.push(meta.command_id.clone());
            self.correlations.push(meta.correlation_id.clone());
            self.causations.push(meta.causation_id.clone());
            self.times.push(event.at);
            self.traceparents.push(meta.trace.traceparent());
        }
        Ok(())
    }
}
