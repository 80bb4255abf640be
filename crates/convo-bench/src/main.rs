//! `convo-bench`: measures every figure of `performance.md` (`docs/benchmarks.md` says how),
//! against the PostgreSQL server of `DATABASE_URL` and the broker of `KAFKA_BROKERS`, each
//! benchmark on a fresh database and fresh topics. HTTP figures are measured from outside the
//! service: `convo serve` runs in processes of its own. Prints a table, then one JSON line per
//! figure (median and spread over `--runs`).
//!
//! Run it through `scripts/bench.sh`, which starts PostgreSQL and the broker and builds `convo`
//! and this binary in release mode.

mod aggregate;
mod cpu;
mod downstream;
mod http;
mod intake;
mod load;
mod rebuild;
mod report;
mod seed_history;
mod service;
mod setup;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::report::Report;

/// Concurrent connections of W1.
pub const CONNECTIONS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bench {
    /// L1: load + decide of a 10,000-event conversation.
    Aggregate,
    /// W1, W2, W3, E1, M1: the service over HTTP, one instance.
    Http,
    /// K1: the command intake, one instance.
    Intake,
    /// R1, P1: relay and projectors, each beside its raw rdkafka limit.
    Relay,
    /// P2 and M1 of the tools: `convo replay` and `convo export` at each history size.
    Rebuild,
    /// S1: W1 and K1 with 2 and 3 instances side by side.
    Scale,
}

#[derive(Debug, Parser)]
#[command(about)]
struct Cli {
    /// A tool instead of the benchmarks.
    #[command(subcommand)]
    tool: Option<Tool>,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    brokers: String,
    /// The reduced set (one run, short phases, small histories, no scale-out): under two
    /// minutes once built. CI runs it to keep the harness working; it asserts no speed.
    #[arg(long)]
    quick: bool,
    /// Runs of every benchmark (fresh databases and topics each time); each figure is reported
    /// as the median and the spread over them. Default: 3, or 1 with --quick.
    #[arg(long)]
    runs: Option<usize>,
    /// Length of each timed HTTP phase (W1, W2, W3's baseline), in seconds. Default: 10, or 3
    /// with --quick.
    #[arg(long)]
    seconds: Option<u64>,
    /// Commands published for K1. Default: 20,000, or 5,000 with --quick.
    #[arg(long)]
    commands: Option<u64>,
    /// Events seeded for R1 and P1. Default: 200,000, or 20,000 with --quick.
    #[arg(long)]
    events: Option<u64>,
    /// Which benchmarks to run (all by default; `scale` only without --quick).
    #[arg(long, value_delimiter = ',')]
    only: Vec<Bench>,
    /// The `convo` binary to run as the service (default: the one beside this binary).
    #[arg(long)]
    convo: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Fill the (empty, migrated) database of DATABASE_URL with a large valid history: N events
    /// in conversations of K, written server-side in batches of 50,000 (1,000,000 events: about
    /// 33 s on the 2-core development machine).
    #[command(
        after_help = "Examples:\n  convo-bench seed-history --events 1000000\n  \
                            convo-bench seed-history --events 200 --per-conversation 7"
    )]
    SeedHistory(seed_history::SeedHistoryArgs),
}

/// What every benchmark is sized by.
#[derive(Debug)]
pub struct Plan {
    pub database_url: String,
    pub brokers: String,
    pub convo: PathBuf,
    pub seconds: u64,
    pub commands: u64,
    pub events: u64,
    /// History sizes P2 and the tools' M1 are measured at.
    pub rebuild_sizes: Vec<u64>,
    /// PUTs timed by E1.
    pub e1_puts: usize,
    /// Loads timed by L1.
    pub loads: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,sqlx=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Some(Tool::SeedHistory(args)) = &cli.tool {
        let pool = convo_store::connect(&cli.database_url, 2).await?;
        return seed_history::run(&pool, args).await;
    }
    let convo = match &cli.convo {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("convo"),
    };
    anyhow::ensure!(
        convo.exists(),
        "{} does not exist: build it (`cargo build --release -p convo`) or pass --convo",
        convo.display()
    );
    let quick = cli.quick;
    let plan = Plan {
        database_url: cli.database_url.clone(),
        brokers: cli.brokers.clone(),
        convo,
        seconds: cli.seconds.unwrap_or(if quick { 3 } else { 10 }),
        commands: cli.commands.unwrap_or(if quick { 5_000 } else { 20_000 }),
        events: cli.events.unwrap_or(if quick { 20_000 } else { 200_000 }),
        rebuild_sizes: if quick {
            vec![20_000]
        } else {
            vec![100_000, 1_000_000]
        },
        e1_puts: if quick { 100 } else { 500 },
        loads: if quick { 200 } else { 1_000 },
    };
    let runs = cli.runs.unwrap_or(if quick { 1 } else { 3 }).max(1);
    let benches: Vec<Bench> = if cli.only.is_empty() {
        Bench::value_variants()
            .iter()
            .copied()
            .filter(|b| !(quick && *b == Bench::Scale))
            .collect()
    } else {
        cli.only.clone()
    };
    let mut report = Report::default();
    let started = Instant::now();
    for run in 1..=runs {
        let mut samples = Vec::new();
        for &bench in &benches {
            let name = bench
                .to_possible_value()
                .context("a name")?
                .get_name()
                .to_owned();
            eprintln!(
                "[{:>4.0}s] run {run}/{runs}: {name}",
                started.elapsed().as_secs_f64()
            );
            match measure(&plan, bench).await {
                Ok(measured) => samples.extend(measured),
                Err(e) => {
                    eprintln!("run {run}: {name} could not be measured: {e:#}");
                    report.failures.push(format!("run {run}: {name}: {e:#}"));
                }
            }
        }
        let ratios = scale_ratios(&samples);
        report.add(samples);
        report.add(ratios);
    }
    eprintln!("[{:>4.0}s] done", started.elapsed().as_secs_f64());
    report.print();
    anyhow::ensure!(
        report.failures.is_empty(),
        "{} benchmark(s) could not be measured",
        report.failures.len()
    );
    Ok(())
}

async fn measure(plan: &Plan, bench: Bench) -> anyhow::Result<Vec<report::Sample>> {
    match bench {
        Bench::Aggregate => aggregate::run(plan).await,
        Bench::Http => http::run(plan, 1).await,
        Bench::Intake => intake::run(plan, 1).await,
        Bench::Relay => downstream::run(plan).await,
        Bench::Rebuild => rebuild::run(plan).await,
        Bench::Scale => {
            let mut samples = Vec::new();
            for instances in [2, 3] {
                samples.extend(http::run(plan, instances).await?);
                samples.extend(intake::run(plan, instances).await?);
            }
            Ok(samples)
        }
    }
}

/// S1's ratios: each W1 and K1 figure with 2 and 3 instances over the same figure with one
/// instance, from the same run.
fn scale_ratios(samples: &[report::Sample]) -> Vec<report::Sample> {
    let value = |key: &str| samples.iter().find(|s| s.key == key).map(|s| s.value);
    let mut ratios = Vec::new();
    for (figure, key) in [("W1", "w1_put_per_s"), ("K1", "k1_commands_per_s")] {
        let Some(one) = value(key) else { continue };
        for instances in [2, 3] {
            if let Some(more) = value(&format!("{key}_{instances}_instances")) {
                ratios.push(
                    report::Sample::new(
                        "S1",
                        format!("{key}_{instances}_instances_ratio"),
                        format!("{figure} with {instances} instances / 1 instance (same run)"),
                        more / one,
                        "ratio",
                    )
                    .goal(">= 1.0"),
                );
            }
        }
    }
    ratios
}
