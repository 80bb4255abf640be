//! The fault-injection suite, run by `scripts/chaos.sh` (rounds: `CONVO_CHAOS_ROUNDS`, default 1;
//! `CONVO_CHAOS_SEED` repeats a run; `CONVO_CHAOS_SCENARIOS=kill_all,db_restart` picks some;
//! `CONVO_CHAOS_BROKER_RESTART=1` restarts noida-db instead of freezing the broker).
//! Ignored in the ordinary test run: it needs the `convo` binary and takes minutes.

use convo_tests::chaos::{Scenario, Suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "the fault-injection suite: scripts/chaos.sh"]
async fn fault_injection() {
    let rounds: u32 = std::env::var("CONVO_CHAOS_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let seed: u64 = std::env::var("CONVO_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    let scenarios: Vec<Scenario> = match std::env::var("CONVO_CHAOS_SCENARIOS") {
        Ok(names) => Scenario::ALL
            .into_iter()
            .filter(|s| names.split(',').any(|n| n.trim() == s.name()))
            .collect(),
        Err(_) => Scenario::ALL.to_vec(),
    };
    eprintln!("[chaos] seed {seed}, {rounds} rounds, scenarios {scenarios:?}");
    let mut suite = Suite::start(seed, scenarios).await;
    for round in 1..=rounds {
        suite.round(round).await;
    }
    let figures = suite.finish().await;
    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
    assert!(
        figures.failures.is_empty(),
        "{} failures:\n{}",
        figures.failures.len(),
        figures.failures.join("\n")
    );
}
