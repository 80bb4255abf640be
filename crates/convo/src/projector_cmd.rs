//! `convo projector status|reset`: where each projection stands, and moving a stopped one's
//! positions (the logic is `convo_projector::control`; this only parses and prints).

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use convo_projector::control::{self, PartitionStatus, ProjectionStatus, ResetPlan, ResetTo};

use crate::progress::Progress;
use crate::{DbArgs, KafkaArgs};

#[derive(Debug, Subcommand)]
pub enum ProjectorCmd {
    /// Per projection and partition: position, events behind the broker's high watermark,
    /// owner and lease, parked conversations, when a batch was last applied.
    #[command(
        after_help = "Examples:\n  convo projector status\n  convo projector status --json | jq '.[].partitions[].behind'"
    )]
    Status(StatusArgs),
    /// Move a stopped projection's positions to the earliest offsets or to the first record at or
    /// after a time. Refused while any member of the projection runs. Without --yes, only prints
    /// what would move. Events already applied are skipped by version when read again.
    #[command(
        after_help = "Examples:\n  convo projector reset conversations --to earliest\n  convo projector reset conversations --to 2026-11-20T00:00:00Z --yes"
    )]
    Reset(ResetArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Print one JSON array (one object per projection).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The projection (a projector's name, as `convo projector status` lists it).
    name: String,
    /// `earliest`, or a time (RFC 3339, e.g. 2026-11-20T00:00:00Z).
    #[arg(long, value_parser = parse_reset_to)]
    to: ResetTo,
    /// Apply the reset (without it, nothing is changed).
    #[arg(long)]
    yes: bool,
    /// Print one JSON object: {"applied": bool, "plan": {...}}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
}

fn parse_reset_to(text: &str) -> Result<ResetTo, String> {
    if text == "earliest" {
        return Ok(ResetTo::Earliest);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| ResetTo::Time(t.with_timezone(&Utc)))
        .map_err(|e| format!("{text:?} is neither `earliest` nor an RFC 3339 time like 2026-11-20T00:00:00Z ({e})"))
}

pub async fn run(command: ProjectorCmd) -> anyhow::Result<()> {
    match command {
        ProjectorCmd::Status(args) => {
            let pool = convo_store::connect(&args.db.database_url, 2).await?;
            let projections = control::status(&pool, &args.kafka.config()).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&projections)?);
            } else {
                print_status(&projections);
            }
            Ok(())
        }
        ProjectorCmd::Reset(args) => reset(args).await,
    }
}

async fn reset(args: ResetArgs) -> anyhow::Result<()> {
    let pool = convo_store::connect(&args.db.database_url, 2).await?;
    // The broker's offsets are checked against the records (read when they are wrong): a while.
    let progress = Progress::new("finding the offsets", None);
    let plan = control::plan_reset(&pool, &args.kafka.config(), &args.name, args.to).await;
    progress.finish();
    let plan = plan?;
    if args.yes {
        control::apply_reset(&pool, &plan).await?;
    }
    if args.json {
        let out = serde_json::json!({"applied": args.yes, "plan": plan});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_plan(&plan, args.yes);
    }
    Ok(())
}

fn print_status(projections: &[ProjectionStatus]) {
    if projections.is_empty() {
        println!("no projection has claimed a partition of the events topic yet");
    }
    for p in projections {
        println!(
            "{} on {}: live members {}, parked {}",
            p.name, p.topic, p.live_members, p.parked
        );
        println!(
            "  {:>9} {:>10} {:>8} {:<24} {:>6} last applied",
            "partition", "position", "behind", "owner (lease)", "parked"
        );
        p.partitions.iter().for_each(print_partition);
    }
    if projections
        .iter()
        .any(|p| p.partitions.iter().any(|s| s.behind.is_none()))
    {
        println!("{UNKNOWN}");
    }
}

fn print_partition(s: &PartitionStatus) {
    let behind = s.behind.map_or("unknown".to_owned(), |b| b.to_string());
    let owner = match (&s.owner, s.leased) {
        (Some(o), true) => format!("{o} (held)"),
        (Some(o), false) => format!("{o} (expired)"),
        (None, _) => "- (free)".to_owned(),
    };
    let applied = s.applied_at.map_or("never".to_owned(), |t| {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    });
    println!(
        "  {:>9} {:>10} {:>8} {:<24} {:>6} {applied}",
        s.partition, s.position, behind, owner, s.parked
    );
}

/// What "unknown" in the behind column means.
const UNKNOWN: &str =
    "behind unknown: the broker did not report a high watermark at or above the position";

fn print_plan(plan: &ResetPlan, applied: bool) {
    for m in &plan.moves {
        println!(
            "{} partition {}: {} -> {}",
            plan.name, m.partition, m.from, m.to
        );
    }
    if applied {
        println!("{}: {} positions reset", plan.name, plan.moves.len());
    } else {
        println!("nothing changed: add --yes to reset these positions");
    }
}
