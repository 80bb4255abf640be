//! Statements on the write-side tables. Each takes the open transaction's connection, so the
//! handler composes them into one atomic commit. Here: event ids, locks and merge routes; loading
//! conversations ([`load`]), appending events and snapshots ([`append`]), idempotency outcomes
//! ([`outcomes`]).

mod append;
mod load;
mod outcomes;

pub use append::{Append, Metadata, append, append_all};
pub use load::{Loaded, load, load_all};
pub use outcomes::{NewOutcome, StoredOutcome, find_outcomes, insert_outcomes};

use std::collections::HashMap;

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
/// cannot deadlock. Each hop is one primary-key probe (a LATERAL subquery with `LIMIT`): group
/// commit forces generic plans, and a join would be planned as a scan of `merge_routes` whenever
/// that table was small at planning time, however large it grew since.
pub async fn resolve_and_lock_all(
    conn: &mut PgConnection,
    uids: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    let rows = sqlx::query!(
        r#"WITH RECURSIVE chain (input, uid, hops) AS (
               SELECT u, u, 0 FROM unnest($1::text[]) AS u
               UNION ALL
               SELECT c.input, m.target_uid, c.hops + 1
               FROM chain c
               CROSS JOIN LATERAL (
                   SELECT target_uid FROM merge_routes WHERE source_uid = c.uid LIMIT 1
               ) m
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
