//! The guards of a leadership term: a lock of its own key space, a connection that a cut-off
//! leader loses within a bounded time, and a stored position that belongs to this cluster.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection};

use crate::RelayError;

/// The leader lock, in the two-int4 form of PostgreSQL's advisory locks. The per-conversation
/// locks of the command handler use the one-bigint form (`hashtextextended(uid, 0)`); the two
/// forms are separate key spaces, so no conversation uid can ever collide with it.
pub(crate) const LOCK_SPACE: i32 = 0x636f_6e76; // "conv"
pub(crate) const RELAY_LEADER: i32 = 1;

/// The command that re-anchors a position from another cluster (see [`crate::rebase()`]).
pub const REBASE_COMMAND: &str = "convo relay rebase";

/// Runs a query (or connect) with the relay's time limit: a half-open connection fails the term
/// instead of hanging it.
pub(crate) async fn timed<T, E>(
    limit: Duration,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, RelayError>
where
    RelayError: From<E>,
{
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(RelayError::from),
        Err(_) => Err(RelayError::TimedOut(limit)),
    }
}

/// A connection whose server drops it when its client goes silent for about `limit`: TCP
/// keepalives probe an idle connection (after a third of it, every ninth, three probes) and
/// `tcp_user_timeout` bounds unacknowledged data. A leader cut off from the database thus loses
/// its session, and with it the lock, within `limit`, and a standby takes over.
///
/// Sorting is off on this connection: its batch read must walk the `(tx_id, position)` index.
/// With statistics older than the backlog (a fresh table, a burst since the last `ANALYZE`) the
/// planner expects few rows past the position and would sort the whole backlog for each batch
/// instead (100,000 events waiting: about 450 ms per batch of 10,000, against 40 ms).
pub(crate) async fn connect(url: &str, limit: Duration) -> Result<PgConnection, RelayError> {
    let secs = limit.as_secs().max(9);
    let options = PgConnectOptions::from_str(url)?.options([
        ("tcp_keepalives_idle", (secs / 3).to_string()),
        ("tcp_keepalives_interval", (secs / 9).to_string()),
        ("tcp_keepalives_count", "3".to_owned()),
        ("tcp_user_timeout", (secs * 1000).to_string()),
        ("enable_sort", "off".to_owned()),
    ]);
    timed(limit, options.connect()).await
}

/// Takes the leader lock if it is free.
pub(crate) async fn try_lead(conn: &mut PgConnection, limit: Duration) -> Result<bool, RelayError> {
    timed(
        limit,
        sqlx::query_scalar!(
            r#"SELECT pg_try_advisory_lock($1, $2) AS "leader!""#,
            LOCK_SPACE,
            RELAY_LEADER
        )
        .fetch_one(conn),
    )
    .await
}

/// The stored position against this cluster: its system identifier must be this cluster's,
/// and its transaction id must not be ahead of this cluster's next one. A row without an
/// identifier (the first check) gets this cluster's.
pub(crate) async fn check_position(
    conn: &mut PgConnection,
    relay: &str,
    limit: Duration,
) -> Result<(), RelayError> {
    let row = timed(
        limit,
        sqlx::query!(
            r#"WITH here AS (
                   SELECT system_identifier, pg_snapshot_xmax(pg_current_snapshot()) AS next_tx
                   FROM pg_control_system()
               )
               INSERT INTO relay_positions AS r (relay, tx_id, position, system_identifier)
               SELECT $1, '0', 0, system_identifier FROM here
               ON CONFLICT (relay) DO UPDATE
               SET system_identifier = COALESCE(r.system_identifier, EXCLUDED.system_identifier)
               RETURNING r.tx_id::text AS "stored_tx!", r.system_identifier AS "stored_system!",
                         (SELECT system_identifier FROM here) AS "here_system!",
                         (SELECT next_tx FROM here)::text AS "next_tx!",
                         r.tx_id >= (SELECT next_tx FROM here) AS "ahead!""#,
            relay
        )
        .fetch_one(conn),
    )
    .await?;
    if row.stored_system == row.here_system && !row.ahead {
        return Ok(());
    }
    Err(RelayError::Moved(format!(
        "the stored relay position does not belong to this database cluster (stored: system \
         identifier {}, transaction {}; here: {}, next transaction {}): a restore or move \
         restarted transaction ids, and events written since would never be published; the \
         relay publishes nothing until `{REBASE_COMMAND}` re-anchors the position",
        row.stored_system, row.stored_tx, row.here_system, row.next_tx
    )))
}
