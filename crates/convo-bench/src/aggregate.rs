//! L1: loading a conversation with 10,000 events and deciding a command on it, as the write path
//! does when its cache does not hold the conversation: `store::load` (the snapshot and the events
//! after it, one round trip) and `decide`. Measured in this process over one connection.

use std::time::Instant;

use convo_domain::decide;
use convo_store::store::{self, Metadata};
use hdrhistogram::Histogram;

use crate::Plan;
use crate::report::Sample;
use crate::setup::{Stack, archive_command};

const EVENTS: u64 = 10_000;
/// The most events the write path leaves after a snapshot (it writes one every 16 events).
const AFTER_SNAPSHOT: u64 = 15;

pub async fn run(plan: &Plan) -> anyhow::Result<Vec<Sample>> {
    let stack = Stack::fresh(&plan.database_url, &plan.brokers).await?;
    crate::seed_history::seed(&stack.pool, EVENTS, EVENTS).await?;
    let uid = crate::seed_history::uid(0);
    let mut conn = stack.pool.acquire().await?;

    // Folding 10,000 events takes tens of ms: fewer loads suffice for this context figure.
    let folds = plan.loads.min(100);
    let no_snapshot = measure(&mut conn, &uid, folds).await?;
    // A snapshot at the head, then the most events the write path leaves after one.
    let mut state = store::load(&mut conn, &uid).await?;
    for n in 0..=AFTER_SNAPSHOT {
        let command = archive_command(&uid, &state.business_uid, !state.archived);
        let events = decide(&state, &command).map_err(|r| anyhow::anyhow!("{r}"))?;
        let next = events.iter().fold(state.clone(), |s, e| s.evolve(e));
        let mut tx = stack.pool.begin().await?;
        let append = store::Append {
            uid: &uid,
            expected: state.version,
            events: &events,
            business_uid: &state.business_uid,
            metadata: &Metadata {
                command_id: format!("l1-{n}"),
                correlation_id: "l1".into(),
                causation_id: "l1".into(),
                trace: convo_trace::TraceContext::root(),
            },
        };
        store::append(&mut tx, &append, (n == 0).then_some(&next)).await?;
        tx.commit().await?;
        state = next;
    }
    let snapshot = measure(&mut conn, &uid, plan.loads).await?;
    let ms = |h: &Histogram<u64>, p: f64| h.value_at_percentile(p) as f64 / 1000.0;
    let load = |how: &str| {
        format!(
            "{} loads + decides, one after another, of a conversation of {} events {how}",
            plan.loads,
            EVENTS + AFTER_SNAPSHOT + 1
        )
    };
    Ok(vec![
        Sample::new(
            "L1",
            "l1_p99_ms",
            "load + decide, 10,000-event conversation, p99 (snapshot + 15 events)",
            ms(&snapshot, 99.0),
            "ms",
        )
        .load(load(
            "whose snapshot is 15 events behind (the most the write path leaves)",
        ))
        .goal("<= 2"),
        Sample::new(
            "L1",
            "l1_p50_ms",
            "load + decide, 10,000-event conversation, p50 (snapshot + 15 events)",
            ms(&snapshot, 50.0),
            "ms",
        )
        .load(load("whose snapshot is 15 events behind")),
        Sample::new(
            "L1",
            "l1_no_snapshot_p99_ms",
            "load + decide, 10,000 events folded (no snapshot), p99",
            ms(&no_snapshot, 99.0),
            "ms",
        )
        .load(format!(
            "{} loads of the seeded conversation before any snapshot",
            plan.loads
        )),
    ])
}

/// `loads` times: load the conversation and decide an archive toggle on it; latencies in µs.
async fn measure(
    conn: &mut sqlx::PgConnection,
    uid: &str,
    loads: usize,
) -> anyhow::Result<Histogram<u64>> {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for _ in 0..loads {
        let started = Instant::now();
        let state = store::load(conn, uid).await?;
        let command = archive_command(uid, &state.business_uid, !state.archived);
        let events = decide(&state, &command).map_err(|r| anyhow::anyhow!("{r}"))?;
        anyhow::ensure!(events.len() == 1, "a toggle decides one event");
        latency.saturating_record(started.elapsed().as_micros() as u64);
    }
    Ok(latency)
}
