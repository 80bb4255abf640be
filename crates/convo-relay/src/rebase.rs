//! `convo relay rebase`: re-anchors the relay after the database was restored or moved to
//! another cluster, losing nothing and keeping each conversation's order.
//!
//! **Why it is correct** (docs/adr/0007). After a move, the events keep the transaction ids of
//! the old cluster and new events get the new cluster's, which may be lower: `(tx_id, position)`
//! no longer says anything about commit order. Positions still do, per conversation: a
//! conversation's writers take its lock and insert after the previous writer committed, so its
//! versions have increasing positions, and the identity sequence moves with the data (a dump
//! restores it), so events written after the move come after every older one.
//!
//! So every event's `tx_id` becomes the constant `'1'` (below any real transaction id, and below
//! every snapshot's xmin, so the relay may read them at once): the reading order of the existing
//! events is then their position order. The stored position becomes `('1', P)`, where P is the
//! largest position such that every event at or before it had been published under the old
//! order. The events after P are published (again) in position order: nothing unpublished is
//! skipped, a conversation's events stay in version order, and what is published twice is
//! dropped by consumers (event ids are deterministic). Events written after the rebase get real
//! transaction ids above `'1'` and follow, as usual.
//!
//! P: an event at a position up to the stored one belongs to the old cluster (new events got
//! higher positions), and was published unless it is after the stored `(tx_id, position)` (a
//! transaction that allocated early and committed late). So P is the stored position, or just
//! below the lowest such late event.

use sqlx::{Connection, PgConnection};

use crate::guard::{LOCK_SPACE, RELAY_LEADER};

/// What a rebase did, per relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebased {
    pub relay: String,
    /// The new stored position: everything after it is published again.
    pub position: i64,
    /// Events after it (to publish, some perhaps again).
    pub to_publish: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum RebaseError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(
        "nothing to rebase: every stored relay position belongs to this database cluster \
         (the relay is not stopped by the cluster guard)"
    )]
    NotNeeded,
}

/// Rebases every relay position when one of them belongs to another cluster. Holds the relay
/// leader lock (so no relay publishes meanwhile; a stopped relay releases it between attempts)
/// and locks the events table against writers for the one transaction.
pub async fn rebase(database_url: &str) -> Result<Vec<Rebased>, RebaseError> {
    let mut conn = PgConnection::connect(database_url).await?;
    // Checked first without waiting for the lock, which a healthy leader never releases.
    if !any_moved(&mut conn).await? {
        return Err(RebaseError::NotNeeded);
    }
    sqlx::query("SET lock_timeout = '60s'")
        .execute(&mut conn)
        .await?;
    sqlx::query!("SELECT pg_advisory_lock($1, $2)", LOCK_SPACE, RELAY_LEADER)
        .execute(&mut conn)
        .await?;
    let mut tx = conn.begin().await?;
    sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let positions = sqlx::query!(
        r#"SELECT r.relay, r.tx_id::text AS "tx_id!", r.position,
                  r.system_identifier IS DISTINCT FROM here.system_identifier
                  OR r.tx_id >= pg_snapshot_xmax(pg_current_snapshot()) AS "moved!"
           FROM relay_positions r, pg_control_system() here
           ORDER BY r.relay FOR UPDATE OF r"#
    )
    .fetch_all(&mut *tx)
    .await?;
    if !positions.iter().any(|p| p.moved) {
        return Err(RebaseError::NotNeeded);
    }
    let mut rebased = Vec::with_capacity(positions.len());
    for stored in &positions {
        let position = sqlx::query_scalar!(
            r#"SELECT COALESCE(min(position) - 1, $2) AS "position!" FROM events
               WHERE position <= $2 AND (tx_id, position) > ($1::text::xid8, $2)"#,
            stored.tx_id,
            stored.position
        )
        .fetch_one(&mut *tx)
        .await?;
        rebased.push(Rebased {
            relay: stored.relay.clone(),
            position,
            to_publish: 0,
        });
    }
    sqlx::query!("UPDATE events SET tx_id = '1' WHERE tx_id <> '1'")
        .execute(&mut *tx)
        .await?;
    for done in &mut rebased {
        done.to_publish = sqlx::query_scalar!(
            r#"WITH moved AS (
                   UPDATE relay_positions
                   SET tx_id = '1', position = $2, stalled_since = NULL, stalled_reason = NULL,
                       system_identifier = (SELECT system_identifier FROM pg_control_system()),
                       updated_at = clock_timestamp()
                   WHERE relay = $1
               )
               SELECT count(*) AS "count!" FROM events WHERE position > $2"#,
            done.relay,
            done.position
        )
        .fetch_one(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(rebased)
}

/// Whether a stored position belongs to another cluster (or is ahead of this one).
async fn any_moved(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT FROM relay_positions r, pg_control_system() here
               WHERE r.system_identifier IS DISTINCT FROM here.system_identifier
                  OR r.tx_id >= pg_snapshot_xmax(pg_current_snapshot())
           ) AS "moved!""#
    )
    .fetch_one(conn)
    .await
}
