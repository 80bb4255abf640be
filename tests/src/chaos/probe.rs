//! Recovery probes: one conversation per partition (its key hashes there, on the commands and the
//! events topic alike), so a fresh command for it shows when that partition is consumed again:
//! its outcome arrives (intake) and its read model reaches the outcome's version (relay and
//! projector).

use std::sync::Arc;
use std::time::{Duration, Instant};

use convo_kafka::KafkaConfig;
use rdkafka::producer::FutureRecord;
use serde_json::json;
use sqlx::PgPool;

use super::load::{Ledger, update_command};

/// Kafka's murmur2 (as the Java client and librdkafka's `murmur2_random` partitioner hash keys).
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}

/// The partition a key goes to among `partitions`.
pub fn partition_of(key: &str, partitions: i32) -> i32 {
    ((murmur2(key.as_bytes()) & 0x7fff_ffff) % partitions as u32) as i32
}

/// One probe conversation per partition, index = partition.
pub fn probe_uids(partitions: i32) -> Vec<String> {
    (0..partitions)
        .map(|p| {
            (0..)
                .map(|i| format!("probe{p:02}x{i:08}"))
                .find(|uid| partition_of(uid, partitions) == p)
                .expect("some uid hashes to each partition")
        })
        .collect()
}

/// Per partition, how long after `since` a fresh command took: to be answered (the intake), and
/// to be answered and projected (`None`: not within `limit`).
#[derive(Debug, Clone, Default)]
pub struct Took {
    pub answered: Vec<Option<Duration>>,
    pub projected: Vec<Option<Duration>>,
}

pub async fn recovery(
    ledger: &Arc<Ledger>,
    kafka: &KafkaConfig,
    pool: &PgPool,
    probes: &[String],
    since: Instant,
    limit: Duration,
) -> Took {
    let producer = crate::kafka::producer(kafka);
    let round = uuid::Uuid::new_v4().simple().to_string();
    let flag = round.as_bytes()[0].is_multiple_of(2);
    let mut pending: Vec<(usize, String)> = Vec::new();
    for (p, uid) in probes.iter().enumerate() {
        let id = format!("probe-{round}-{p}");
        let body = json!({"archived": flag});
        let payload = update_command(&id, uid, body).to_string();
        // The broker may be coming back: keep trying until the limit.
        while since.elapsed() < limit {
            let record = FutureRecord::to(&kafka.topics.commands)
                .key(uid)
                .payload(&payload);
            if producer.send(record, Duration::from_secs(5)).await.is_ok() {
                break;
            }
        }
        pending.push((p, id));
    }
    let ids: Vec<String> = pending.iter().map(|(_, id)| id.clone()).collect();
    let mut projected = vec![None; probes.len()];
    while !pending.is_empty() && since.elapsed() < limit {
        let mut still = Vec::new();
        for (p, id) in pending {
            if consumed(ledger, pool, &probes[p], &id).await {
                projected[p] = Some(since.elapsed());
            } else {
                still.push((p, id));
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answered = ids
        .iter()
        .map(|id| {
            ledger
                .outcome(id)
                .map(|(_, at)| at.saturating_duration_since(since))
        })
        .collect();
    Took {
        answered,
        projected,
    }
}

/// The probe's outcome arrived and its read model reached the outcome's version.
async fn consumed(ledger: &Ledger, pool: &PgPool, uid: &str, id: &str) -> bool {
    let Some((outcome, _)) = ledger.outcome(id) else {
        return false;
    };
    let version = outcome["version"].as_i64().unwrap_or(0);
    let projected: Option<i64> =
        sqlx::query_scalar("SELECT version FROM rm_conversations WHERE uid = $1")
            .bind(uid)
            .fetch_optional(pool)
            .await
            .ok()
            .flatten();
    projected.is_some_and(|v| v >= version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Apache Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }
}
