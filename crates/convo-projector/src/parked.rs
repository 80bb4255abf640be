//! Parked conversations (`parked_conversations`): a conversation whose events the projector could
//! not apply after bounded retries. Its later events are skipped while it is parked, so the
//! others go on; retrying it refolds the conversation from the event store, so its order is kept
//! (`crate::refold`); dropping it only deletes the row (its next event backfills from the store).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

/// Where a parked conversation's failing record was read.
#[derive(Debug, Clone)]
pub struct Parking<'a> {
    pub projector: &'a str,
    pub conversation_uid: &'a str,
    pub version: u64,
    pub reason: &'a str,
    pub attempts: u32,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// Parks a conversation (a second parking of the same one keeps the first record).
pub async fn park(conn: &mut PgConnection, parking: &Parking<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"INSERT INTO parked_conversations
             (projector, conversation_uid, version, reason, attempts, topic, partition, "offset")
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (projector, conversation_uid) DO NOTHING"#,
        parking.projector,
        parking.conversation_uid,
        i64::try_from(parking.version).unwrap_or(i64::MAX),
        parking.reason,
        i32::try_from(parking.attempts).unwrap_or(i32::MAX),
        parking.topic,
        parking.partition,
        parking.offset
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the parked conversations among `uids` and returns them. Their rows stay share-locked
/// until the batch ends, so a retry (which refolds from the event store) waits for the batch
/// that skipped their events, and a batch waits for a retry in progress.
pub(crate) async fn skip_parked(
    conn: &mut PgConnection,
    projector: &str,
    uids: &mut Vec<String>,
) -> Result<Vec<String>, sqlx::Error> {
    let parked: Vec<String> = sqlx::query_scalar!(
        "SELECT conversation_uid FROM parked_conversations
         WHERE projector = $1 AND conversation_uid = ANY($2)
         FOR SHARE",
        projector,
        uids.as_slice()
    )
    .fetch_all(conn)
    .await?;
    uids.retain(|uid| !parked.contains(uid));
    Ok(parked)
}

/// Counts events left waiting behind a parked conversation.
pub(crate) async fn count_skipped(
    conn: &mut PgConnection,
    projector: &str,
    uid: &str,
    events: usize,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE parked_conversations SET skipped = skipped + $3
         WHERE projector = $1 AND conversation_uid = $2",
        projector,
        uid,
        i64::try_from(events).unwrap_or(i64::MAX)
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A parked conversation, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parked {
    pub projector: String,
    pub conversation_uid: String,
    /// The first version that could not be applied.
    pub version: i64,
    pub reason: String,
    pub attempts: i32,
    /// Where the failing record was read (partition -1: unknown).
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Later events left waiting.
    pub skipped: i64,
    pub parked_at: DateTime<Utc>,
}

/// The parked conversations (of `projector`, when given), oldest first.
pub async fn list(pool: &PgPool, projector: Option<&str>) -> Result<Vec<Parked>, sqlx::Error> {
    sqlx::query_as!(
        Parked,
        r#"SELECT projector, conversation_uid, version, reason, attempts, topic, partition,
                  "offset", skipped, parked_at
           FROM parked_conversations WHERE $1::text IS NULL OR projector = $1
           ORDER BY parked_at, projector, conversation_uid"#,
        projector
    )
    .fetch_all(pool)
    .await
}

/// Parked conversations per projector and partition.
#[derive(Debug, Clone, Default)]
pub struct Counts(Vec<(String, i32, i64)>);

impl Counts {
    pub fn total(&self, projector: &str) -> i64 {
        self.0
            .iter()
            .filter(|c| c.0 == projector)
            .map(|c| c.2)
            .sum()
    }

    pub fn at(&self, projector: &str, partition: i32) -> i64 {
        self.0
            .iter()
            .filter(|c| c.0 == projector && c.1 == partition)
            .map(|c| c.2)
            .sum()
    }
}

pub async fn counts(pool: &PgPool) -> Result<Counts, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT projector, partition, count(*) AS "count!" FROM parked_conversations
           GROUP BY projector, partition"#
    )
    .fetch_all(pool)
    .await?;
    Ok(Counts(
        rows.into_iter()
            .map(|r| (r.projector, r.partition, r.count))
            .collect(),
    ))
}

/// Deletes `uid`'s parked row of `projector`; whether there was one.
pub async fn unpark(
    conn: &mut PgConnection,
    projector: &str,
    uid: &str,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query!(
        "DELETE FROM parked_conversations WHERE projector = $1 AND conversation_uid = $2",
        projector,
        uid
    )
    .execute(conn)
    .await?;
    Ok(deleted.rows_affected() > 0)
}
