//! The positions of every consumer of a topic as operators see them (`convo projector status`),
//! and moving a stopped consumer's positions (`convo projector reset`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// One partition claim, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub consumer: String,
    pub partition: i32,
    /// The next offset the consumer reads.
    pub next_offset: i64,
    /// The member holding the partition, if any (its lease may have expired).
    pub owner: Option<String>,
    /// Whether `owner`'s lease still runs.
    pub leased: bool,
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// When the consumer last moved its position here (`None`: never).
    pub applied_at: Option<DateTime<Utc>>,
}

/// Every claim on `topic`, by consumer and partition.
pub async fn on_topic(pool: &PgPool, topic: &str) -> Result<Vec<Position>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT consumer, partition, next_offset, owner, applied_at,
                  lease_expires_at > now() AS "leased!",
                  CASE WHEN isfinite(lease_expires_at) THEN lease_expires_at END AS lease_expires_at
           FROM partition_claims WHERE topic = $1 ORDER BY consumer, partition"#,
        topic
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Position {
            consumer: r.consumer,
            partition: r.partition,
            next_offset: r.next_offset,
            leased: r.owner.is_some() && r.leased,
            owner: r.owner,
            lease_expires_at: r.lease_expires_at,
            applied_at: r.applied_at,
        })
        .collect())
}

/// How many members of `consumer` on `topic` are live (their membership has not expired).
pub async fn live_members(
    conn: impl sqlx::PgExecutor<'_>,
    consumer: &str,
    topic: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM consumer_members
           WHERE consumer = $1 AND topic = $2 AND expires_at > now()"#,
        consumer,
        topic
    )
    .fetch_one(conn)
    .await
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("{consumer} has {members} live members: stop them first (nothing was changed)")]
    Live { consumer: String, members: i64 },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Sets `consumer`'s positions on `topic` to `positions` (partition, next offset), in one
/// transaction, only while none of its members is live. The claim rows stay locked until the
/// end, so a member that joins meanwhile claims its partitions at the new positions.
pub async fn move_positions(
    pool: &PgPool,
    consumer: &str,
    topic: &str,
    positions: &[(i32, i64)],
) -> Result<(), MoveError> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "SELECT partition FROM partition_claims WHERE consumer = $1 AND topic = $2 FOR UPDATE",
        consumer,
        topic
    )
    .fetch_all(&mut *tx)
    .await?;
    let members = live_members(&mut *tx, consumer, topic).await?;
    if members > 0 {
        let consumer = consumer.to_owned();
        return Err(MoveError::Live { consumer, members });
    }
    let (partitions, offsets): (Vec<i32>, Vec<i64>) = positions.iter().copied().unzip();
    sqlx::query!(
        "UPDATE partition_claims c SET next_offset = p.o, updated_at = clock_timestamp()
         FROM UNNEST($3::int[], $4::bigint[]) AS p (p, o)
         WHERE c.consumer = $1 AND c.topic = $2 AND c.partition = p.p",
        consumer,
        topic,
        &partitions,
        &offsets
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
