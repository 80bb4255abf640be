//! Idempotency outcomes: what a command with a key answered, returned to its retries.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::error::StoreError;

/// A stored outcome of an idempotent command.
#[derive(Debug, Clone)]
pub struct StoredOutcome {
    pub request_hash: String,
    pub status: u16,
    pub body: serde_json::Value,
}

/// The stored outcomes of those of `command_ids` that have one: one primary-key probe per id.
/// The probe is a LATERAL subquery that cannot be flattened (LIMIT), so a generic plan made while
/// the table was small (group commit forces generic plans) cannot turn it into a scan of the
/// whole table: under K1 that scan was 55% of PostgreSQL's statement time.
pub async fn find_outcomes(
    conn: &mut PgConnection,
    command_ids: &[String],
) -> Result<HashMap<String, StoredOutcome>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT o.command_id AS "command_id!", o.request_hash AS "request_hash!",
                  o.status AS "status!", o.outcome AS "outcome!"
           FROM unnest($1::text[]) AS k (id)
           CROSS JOIN LATERAL (
               SELECT command_id, request_hash, status, outcome FROM command_outcomes
               WHERE command_id = k.id LIMIT 1
           ) o"#,
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
