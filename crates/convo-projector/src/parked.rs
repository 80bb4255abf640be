//! Parked conversations (`parked_conversations`): a conversation whose events the projector could
//! not apply after bounded retries. Its later events are skipped while it is parked, so the
//! others go on; retrying it refolds the conversation from the event store, so its order is kept.

use sqlx::PgConnection;

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

/// Removes the parked conversations among `uids` and returns them.
pub(crate) async fn skip_parked(
    conn: &mut PgConnection,
    projector: &str,
    uids: &mut Vec<String>,
) -> Result<Vec<String>, sqlx::Error> {
    let parked: Vec<String> = sqlx::query_scalar!(
        "SELECT conversation_uid FROM parked_conversations
         WHERE projector = $1 AND conversation_uid = ANY($2)",
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
