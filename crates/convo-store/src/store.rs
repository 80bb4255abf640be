//! Statements on the write-side tables. Each takes the open transaction's connection, so the
//! handler composes them into one atomic commit.

use std::collections::HashMap;

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
    let mut routes = resolve_and_lock_all(conn, &[uid.to_owned()]).await?;
    Ok(routes.remove(uid).unwrap_or_else(|| uid.to_owned()))
}

/// [`resolve_and_lock`] for many uids in one round trip: where each is held now, every such
/// conversation locked until the transaction ends. The locks are taken in byte order of the uids
/// (as [`lock_conversation`]'s callers sort them), so two transactions locking overlapping sets
/// cannot deadlock.
pub async fn resolve_and_lock_all(
    conn: &mut PgConnection,
    uids: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    let rows = sqlx::query!(
        r#"WITH RECURSIVE chain (input, uid, hops) AS (
               SELECT u, u, 0 FROM unnest($1::text[]) AS u
               UNION ALL
               SELECT c.input, m.target_uid, c.hops + 1
               FROM merge_routes m JOIN chain c ON m.source_uid = c.uid
               WHERE c.hops < $2
           ),
           target AS (SELECT DISTINCT ON (input) input, uid FROM chain ORDER BY input, hops DESC),
           locked AS MATERIALIZED (
               SELECT o.uid
               FROM (SELECT DISTINCT uid COLLATE "C" AS uid FROM target ORDER BY 1) o,
                    LATERAL pg_advisory_xact_lock(hashtextextended(o.uid, 0))
           )
           SELECT t.input AS "input!", t.uid AS "uid!"
           FROM target t JOIN locked l ON l.uid = t.uid"#,
        uids,
        MAX_MERGE_HOPS
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.input, r.uid)).collect())
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
pub async fn load(conn: &mut PgConnection, uid: &str) -> Result<Conversation, StoreError> {
    let mut loaded = load_all(conn, vec![Conversation::new(uid)]).await?;
    Ok(loaded
        .remove(uid)
        .map(|l| l.state)
        .unwrap_or_else(|| Conversation::new(uid)))
}

/// A conversation as loaded, and the version its snapshot holds (0: none).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub state: Conversation,
    pub snapshot_version: u64,
}

/// The current state of each conversation of `known`, each given as a state it is known to have
/// had (`Conversation::new(uid)` when nothing is known, or a cached state): the events after it,
/// or the snapshot, if newer, and the events after that; all in one round trip. A conversation
/// with no events comes back new. A snapshot of another shape, or one that does not decode, is
/// ignored; so is a known state that does not lead to the stored head: that conversation's
/// events are folded from the start instead.
pub async fn load_all(
    conn: &mut PgConnection,
    known: Vec<Conversation>,
) -> Result<HashMap<String, Loaded>, StoreError> {
    let uids: Vec<String> = known.iter().map(|s| s.uid.clone()).collect();
    let versions: Vec<i64> = known.iter().map(|s| s.version as i64).collect();
    let rows = sqlx::query!(
        r#"SELECT u.uid AS "uid!", r.kind AS "kind!", r.version AS "version!",
                  r.schema AS "schema!", r.data
           FROM unnest($1::text[], $2::bigint[]) AS u (uid, known)
           LEFT JOIN snapshots s ON s.conversation_uid = u.uid AND s.state_schema = $3
           CROSS JOIN LATERAL (
               -- The snapshot's version (0: none), its state if newer than the known one, and
               -- the stored head.
               SELECT 0 AS kind, COALESCE(s.version, 0) AS version, $3 AS schema,
                      CASE WHEN s.version > u.known THEN s.state::text END AS data
               UNION ALL
               SELECT 1, COALESCE(max(version), 0), 0, NULL FROM events
               WHERE conversation_uid = u.uid
               UNION ALL
               SELECT 2, version, schema_version, payload::text FROM events
               WHERE conversation_uid = u.uid
                 AND version > GREATEST(u.known, COALESCE(s.version, 0))
           ) r
           ORDER BY 1, 2, 3"#,
        &uids,
        &versions,
        STATE_SCHEMA
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut loaded: HashMap<String, Loaded> = known
        .into_iter()
        .map(|state| {
            let loaded = Loaded {
                state,
                snapshot_version: 0,
            };
            (loaded.state.uid.clone(), loaded)
        })
        .collect();
    let mut heads = HashMap::new();
    let mut refold = Vec::new();
    for row in rows {
        let Some(entry) = loaded.get_mut(&row.uid) else {
            continue;
        };
        let version = u64::try_from(row.version).unwrap_or_default();
        match (row.kind, row.data) {
            (0, data) => {
                entry.snapshot_version = version;
                let Some(data) = data else { continue };
                match serde_json::from_str::<Conversation>(&data) {
                    Ok(snapshot) => entry.state = snapshot,
                    Err(e) => {
                        tracing::warn!(conversation = %row.uid, error = %e, "snapshot does not decode; folding the events");
                        refold.push(row.uid);
                    }
                }
            }
            (1, _) => {
                heads.insert(row.uid, version);
            }
            (_, data) => {
                let data = data.unwrap_or_default();
                let event = crate::events::decode(&row.uid, version, row.schema, &data)?;
                entry.state = std::mem::take(&mut entry.state).evolve(&event);
            }
        }
    }
    for (uid, entry) in &loaded {
        let head = heads.get(uid).copied().unwrap_or_default();
        if entry.state.version != head && !refold.contains(uid) {
            tracing::warn!(conversation = %uid, known = entry.state.version, head, "a known state does not lead to the stored events; folding them");
            refold.push(uid.clone());
        }
    }
    for uid in refold {
        let state = fold_events(conn, Conversation::new(&uid)).await?;
        let snapshot_version = loaded.get(&uid).map_or(0, |l| l.snapshot_version);
        loaded.insert(
            uid,
            Loaded {
                state,
                snapshot_version,
            },
        );
    }
    Ok(loaded)
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

/// A stored outcome of an idempotent command.
#[derive(Debug, Clone)]
pub struct StoredOutcome {
    pub request_hash: String,
    pub status: u16,
    pub body: serde_json::Value,
}

/// The stored outcomes of those of `command_ids` that have one.
pub async fn find_outcomes(
    conn: &mut PgConnection,
    command_ids: &[String],
) -> Result<HashMap<String, StoredOutcome>, StoreError> {
    let rows = sqlx::query!(
        "SELECT command_id, request_hash, status, outcome FROM command_outcomes
         WHERE command_id = ANY($1)",
        command_ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let outcome = StoredOutcome {
                request_hash: r.request_hash,
                status: u16::try_from(r.status).unwrap_or(500),
                body: r.outcome,
            };
            (r.command_id, outcome)
        })
        .collect())
}

/// An outcome to store: the command's key, the conversation it answered for, and the version it
/// led to (none for a rejection).
#[derive(Debug, Clone)]
pub struct NewOutcome {
    pub command_id: String,
    pub conversation_uid: String,
    pub version: Option<u64>,
    pub outcome: StoredOutcome,
}

/// Stores outcomes, one round trip. A key stored meanwhile by another transaction fails this
/// with a unique violation (retryable: the rerun finds that outcome).
pub async fn insert_outcomes(
    conn: &mut PgConnection,
    outcomes: &[NewOutcome],
) -> Result<(), StoreError> {
    if outcomes.is_empty() {
        return Ok(());
    }
    // Owned strings: `&[&str]` binds make the future unusable from spawned tasks (a sqlx lifetime limitation).
    let ids: Vec<String> = outcomes.iter().map(|o| o.command_id.clone()).collect();
    let hashes: Vec<String> = outcomes
        .iter()
        .map(|o| o.outcome.request_hash.clone())
        .collect();
    let uids: Vec<String> = outcomes
        .iter()
        .map(|o| o.conversation_uid.clone())
        .collect();
    let statuses: Vec<i16> = outcomes.iter().map(|o| o.outcome.status as i16).collect();
    let versions: Vec<Option<i64>> = outcomes
        .iter()
        .map(|o| o.version.map(|v| v as i64))
        .collect();
    let bodies: Vec<String> = outcomes
        .iter()
        .map(|o| o.outcome.body.to_string())
        .collect();
    sqlx::query!(
        "INSERT INTO command_outcomes (command_id, request_hash, conversation_uid, status, version, outcome)
         SELECT o.id, o.hash, o.uid, o.status, o.version, o.body::jsonb
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::smallint[], $5::bigint[], $6::text[])
              AS o (id, hash, uid, status, version, body)",
        &ids,
        &hashes,
        &uids,
        &statuses,
        &versions as &[Option<i64>],
        &bodies,
    )
    .execute(conn)
    .await?;
    Ok(())
}
