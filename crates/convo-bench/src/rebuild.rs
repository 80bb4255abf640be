//! P2 and M1's replay half: `convo replay` (every read model into fresh shadow tables, then the
//! swap) from the store and from the topic, and `convo export` of the whole store, each run as
//! users run it, in a process of its own: time and largest RSS, at each history size, so that
//! memory can be seen not to grow with the size.

use std::path::Path;

use tokio::process::Command;

use crate::Plan;
use crate::report::Sample;
use crate::service::run_measured;
use crate::setup::Stack;

pub async fn run(plan: &Plan) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    let largest = plan.rebuild_sizes.iter().copied().max().unwrap_or(0);
    for &events in &plan.rebuild_sizes {
        let stack = Stack::fresh(&plan.database_url, &plan.brokers).await?;
        crate::seed_history::seed(&stack.pool, events, 20).await?;
        crate::downstream::relay_all(&stack, events).await?;
        let history = format!(
            "{events} events in conversations of 20, every one on the events topic; both read models"
        );
        let size = if events >= 1_000_000 {
            format!("{}M", events / 1_000_000)
        } else {
            format!("{}k", events / 1_000)
        };
        for (from, what) in [("store", "the store"), ("topic", "the topic")] {
            let (took, rss) =
                run_measured(convo(&plan.convo, &stack, &["replay", "--from", from])).await?;
            let mut time = Sample::new(
                "P2",
                format!("p2_{from}_s_{size}"),
                format!("rebuild of {size} events from {what}"),
                took.as_secs_f64(),
                "s",
            )
            .load(&history);
            if events == largest && events >= 1_000_000 {
                time = time.goal("<= 10");
            }
            samples.push(time);
            samples.push(
                Sample::new(
                    "M1",
                    format!("m1_replay_{from}_mib_{size}"),
                    format!("`convo replay --from {from}` largest RSS, {size} events"),
                    mib(rss),
                    "MiB",
                )
                .load("VmRSS every 20 ms")
                .goal("flat"),
            );
        }
        let (took, rss) = run_measured(convo(
            &plan.convo,
            &stack,
            &["export", "--output", "/dev/null"],
        ))
        .await?;
        samples.push(
            Sample::new(
                "M1",
                format!("export_s_{size}"),
                format!("`convo export` of {size} events to /dev/null"),
                took.as_secs_f64(),
                "s",
            )
            .load(&history),
        );
        samples.push(
            Sample::new(
                "M1",
                format!("m1_export_mib_{size}"),
                format!("`convo export` largest RSS, {size} events"),
                mib(rss),
                "MiB",
            )
            .load("VmRSS every 20 ms")
            .goal("flat"),
        );
    }
    Ok(samples)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// `convo ARGS` against the stack's database and topics.
fn convo(convo: &Path, stack: &Stack, args: &[&str]) -> Command {
    let mut command = Command::new(convo);
    command
        .args(args)
        .env("DATABASE_URL", &stack.url)
        .env("KAFKA_BROKERS", &stack.brokers)
        .env("CONVO_TOPIC_PREFIX", &stack.prefix)
        .env("RUST_LOG", "warn");
    command
}
