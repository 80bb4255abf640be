//! Partition claims in PostgreSQL: which member of a consumer processes which partition of a topic,
//! and where it resumes (the `partition_claims` and `consumer_members` tables; ADR 0006).
//!
//! Every member heartbeats: it extends its membership and the leases it holds, ranks the live
//! members, and computes its quota (an even split of the partitions over the live members). Below
//! it, it claims free partitions (never claimed, released, or with an expired lease); above it
//! (members joined), it hands back its highest partitions once its caller has stopped processing
//! them. Partitions stay where they are otherwise, so a change of members moves few of them. A
//! member that dies stops heartbeating: its membership and leases expire after `lease`, and the
//! others take its partitions over at their next heartbeat.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::PgPool;

/// What a heartbeat changed for this member.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rebalance {
    /// Partitions newly claimed, with the offset to resume at.
    pub claimed: Vec<(i32, i64)>,
    /// Partitions another member holds now (this member's lease had expired): stop at once.
    pub lost: Vec<i32>,
    /// Partitions above this member's quota: stop processing them, then [`Claims::release`].
    pub to_release: Vec<i32>,
}

impl Rebalance {
    pub fn is_empty(&self) -> bool {
        self.claimed.is_empty() && self.lost.is_empty() && self.to_release.is_empty()
    }
}

/// One member's claims on the partitions of `topic` for `consumer`.
#[derive(Debug)]
pub struct Claims {
    pool: PgPool,
    consumer: String,
    topic: String,
    member: String,
    partitions: i32,
    lease: Duration,
    owned: BTreeSet<i32>,
}

impl Claims {
    /// Joins as a new member (no partitions yet; the first [`Claims::heartbeat`] claims them).
    /// Creates the claim rows of partitions `0..partitions` that do not exist yet.
    pub async fn join(
        pool: PgPool,
        consumer: &str,
        topic: &str,
        partitions: i32,
        lease: Duration,
    ) -> Result<Self, sqlx::Error> {
        sqlx::query!(
            "INSERT INTO partition_claims (consumer, topic, partition)
             SELECT $1, $2, p FROM generate_series(0, $3 - 1) AS p
             ON CONFLICT DO NOTHING",
            consumer,
            topic,
            partitions
        )
        .execute(&pool)
        .await?;
        let member = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        Ok(Self {
            pool,
            consumer: consumer.to_owned(),
            topic: topic.to_owned(),
            member,
            partitions,
            lease,
            owned: BTreeSet::new(),
        })
    }

    /// This member's name: what `partition_claims.owner` holds for its partitions.
    pub fn member(&self) -> &str {
        &self.member
    }

    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partitions this member holds.
    pub fn owned(&self) -> &BTreeSet<i32> {
        &self.owned
    }

    /// How often to heartbeat: a third of the lease, so two missed beats do not lose it.
    pub fn heartbeat_interval(&self) -> Duration {
        self.lease / 3
    }

    /// Extends this member and its leases, and claims free partitions up to its quota.
    pub async fn heartbeat(&mut self) -> Result<Rebalance, sqlx::Error> {
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        let rank = sqlx::query!(
            r#"WITH me AS (
                 INSERT INTO consumer_members (consumer, topic, member, expires_at)
                 VALUES ($1, $2, $3, now() + make_interval(secs => $4::bigint / 1000.0))
                 ON CONFLICT (consumer, topic, member) DO UPDATE SET expires_at = EXCLUDED.expires_at
                 RETURNING member)
               SELECT (SELECT count(*) FROM consumer_members m
                       WHERE m.consumer = $1 AND m.topic = $2 AND m.expires_at > now()
                         AND m.member < $3) AS "rank!",
                      (SELECT count(*) FROM consumer_members m
                       WHERE m.consumer = $1 AND m.topic = $2 AND m.expires_at > now()
                         AND m.member <> $3) + 1 AS "members!"
               FROM me"#,
            self.consumer,
            self.topic,
            self.member,
            lease_ms
        )
        .fetch_one(&mut *tx)
        .await?;
        // Members gone for a while are forgotten (they no longer count either way).
        sqlx::query!(
            "DELETE FROM consumer_members
             WHERE consumer = $1 AND topic = $2 AND expires_at < now() - interval '1 hour'",
            self.consumer,
            self.topic
        )
        .execute(&mut *tx)
        .await?;
        let held: BTreeSet<i32> = sqlx::query_scalar!(
            "UPDATE partition_claims
             SET lease_expires_at = now() + make_interval(secs => $4::bigint / 1000.0)
             WHERE consumer = $1 AND topic = $2 AND owner = $3
             RETURNING partition",
            self.consumer,
            self.topic,
            self.member,
            lease_ms
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let quota = quota(self.partitions, rank.rank, rank.members);
        let wanted = i64::try_from(quota.saturating_sub(held.len())).unwrap_or(0);
        // Free partitions, lowest first; rows another member is claiming right now are skipped.
        let mut claimed: Vec<(i32, i64)> = sqlx::query!(
            "UPDATE partition_claims
             SET owner = $3, lease_expires_at = now() + make_interval(secs => $4::bigint / 1000.0),
                 updated_at = clock_timestamp()
             WHERE (consumer, topic, partition) IN (
                 SELECT consumer, topic, partition FROM partition_claims
                 WHERE consumer = $1 AND topic = $2
                   AND (owner IS NULL OR lease_expires_at <= now())
                 ORDER BY partition LIMIT $5
                 FOR UPDATE SKIP LOCKED)
             RETURNING partition, next_offset",
            self.consumer,
            self.topic,
            self.member,
            lease_ms,
            wanted
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.partition, r.next_offset))
        .collect();
        tx.commit().await?;
        claimed.sort_unstable();

        let lost: Vec<i32> = self.owned.difference(&held).copied().collect();
        // Above its quota (members joined), a member hands back its highest partitions.
        let to_release: Vec<i32> = held
            .iter()
            .rev()
            .take(held.len().saturating_sub(quota))
            .copied()
            .collect();
        self.owned = held;
        self.owned.extend(claimed.iter().map(|(p, _)| *p));
        Ok(Rebalance {
            claimed,
            lost,
            to_release,
        })
    }

    /// Hands `partitions` back (the caller has stopped processing them and stored their
    /// positions), so that a member below its quota claims them at its next heartbeat.
    pub async fn release(&mut self, partitions: &[i32]) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "UPDATE partition_claims SET owner = NULL, lease_expires_at = '-infinity'
             WHERE consumer = $1 AND topic = $2 AND owner = $3 AND partition = ANY($4)",
            self.consumer,
            self.topic,
            self.member,
            partitions
        )
        .execute(&self.pool)
        .await?;
        for partition in partitions {
            self.owned.remove(partition);
        }
        Ok(())
    }

    /// Stops processing `partitions` that another member took over.
    pub fn forget(&mut self, partitions: &[i32]) {
        for partition in partitions {
            self.owned.remove(partition);
        }
    }

    /// Stores where to resume in each partition this member still holds, and returns the ones it
    /// no longer holds (another member took them over: the caller stops processing them).
    pub async fn store_positions(
        &mut self,
        positions: &[(i32, i64)],
    ) -> Result<Vec<i32>, sqlx::Error> {
        let stored = store_positions(
            &self.pool,
            &self.consumer,
            &self.topic,
            &self.member,
            positions,
        )
        .await?;
        let lost: Vec<i32> = positions
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| !stored.contains(p))
            .collect();
        self.forget(&lost);
        Ok(lost)
    }

    /// Leaves: releases every partition and the membership, so the others take over at once.
    pub async fn leave(self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "UPDATE partition_claims SET owner = NULL, lease_expires_at = '-infinity'
             WHERE consumer = $1 AND topic = $2 AND owner = $3",
            self.consumer,
            self.topic,
            self.member
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM consumer_members WHERE consumer = $1 AND topic = $2 AND member = $3",
            self.consumer,
            self.topic,
            self.member
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
}

/// How many partitions the member ranked `rank` (from 0) among `members` holds: an even split,
/// the first `partitions % members` members holding one more.
fn quota(partitions: i32, rank: i64, members: i64) -> usize {
    let (partitions, members) = (i64::from(partitions), members.max(1));
    let quota = partitions / members + i64::from(rank < partitions % members);
    usize::try_from(quota).unwrap_or(0)
}

/// Locks the claim rows of `partitions` held by `member` until the transaction ends, and returns
/// the ones it still holds. A transaction that writes on behalf of a partition calls this first:
/// a member that lost a partition cannot write for it, and a takeover waits for the write.
pub async fn lock_held(
    conn: &mut sqlx::PgConnection,
    consumer: &str,
    topic: &str,
    member: &str,
    partitions: &[i32],
) -> Result<BTreeSet<i32>, sqlx::Error> {
    Ok(sqlx::query_scalar!(
        "SELECT partition FROM partition_claims
         WHERE consumer = $1 AND topic = $2 AND owner = $3 AND partition = ANY($4)
         ORDER BY partition FOR UPDATE",
        consumer,
        topic,
        member,
        partitions
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .collect())
}

/// Stores where `member` resumes in each partition it holds (in the caller's transaction, or on
/// its own), and when (`applied_at`: the work behind the position was just done); returns the
/// partitions stored. Positions of partitions it no longer holds are not.
pub async fn store_positions(
    conn: impl sqlx::PgExecutor<'_>,
    consumer: &str,
    topic: &str,
    member: &str,
    positions: &[(i32, i64)],
) -> Result<BTreeSet<i32>, sqlx::Error> {
    let (partitions, offsets): (Vec<i32>, Vec<i64>) = positions.iter().copied().unzip();
    Ok(sqlx::query_scalar!(
        "UPDATE partition_claims c SET next_offset = p.o, updated_at = clock_timestamp(),
             applied_at = clock_timestamp()
         FROM UNNEST($4::int[], $5::bigint[]) AS p (p, o)
         WHERE c.consumer = $1 AND c.topic = $2 AND c.owner = $3 AND c.partition = p.p
         RETURNING c.partition",
        consumer,
        topic,
        member,
        &partitions,
        &offsets
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .collect())
}

#[cfg(test)]
mod tests {
    use super::quota;

    #[test]
    fn quotas_split_every_partition_evenly() {
        for members in 1..=9 {
            let quotas: Vec<usize> = (0..members).map(|rank| quota(8, rank, members)).collect();
            assert_eq!(quotas.iter().sum::<usize>(), 8, "{members} members");
            let (min, max) = (quotas.iter().min().unwrap(), quotas.iter().max().unwrap());
            assert!(max - min <= 1, "{members} members: {quotas:?}");
        }
        assert_eq!(quota(8, 0, 3), 3);
        assert_eq!(quota(8, 2, 3), 2);
    }
}
