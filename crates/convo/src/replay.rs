//! `convo replay` and `convo follow-ups`: rebuilding read models, and the follow-up counts.

use anyhow::Context;
use clap::{Args, ValueEnum};
use convo_projector::ReadModel;
use convo_projector::replay::{self, Replay, Report, Source, Step, TableDiff};

use crate::progress::Progress;
use crate::{DbArgs, KafkaArgs, args};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  convo replay                              rebuild every read model from the event store
  convo replay follow-ups --from topic      rebuild one from the events topic
  convo replay --dry-run                    show which rows a rebuild would change
  convo replay --conversation k7x2mq9wpl3rn8tb   rebuild one conversation in place

The service keeps serving during a rebuild: the new tables replace the old ones in one
transaction, once they hold everything. Ctrl-C (or kill) at any point leaves the live tables as
they were; run it again to start over.")]
pub struct ReplayArgs {
    /// The read models to rebuild (all when none is named).
    #[arg(value_parser = parse_model)]
    models: Vec<ReadModel>,
    /// Where to read history from.
    #[arg(long = "from", value_enum, default_value_t = From::Store)]
    from: From,
    /// Rebuild this conversation's rows only, in place (from the event store).
    #[arg(long, value_parser = args::uid)]
    conversation: Option<String>,
    /// Build and compare with the live tables, then throw the rebuild away: nothing changes.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum From {
    /// The event store: complete and ordered by definition.
    Store,
    /// The events topic (then the store for what was not yet published).
    Topic,
}

fn parse_model(name: &str) -> Result<ReadModel, String> {
    ReadModel::parse(name).ok_or_else(|| {
        let known: Vec<&str> = ReadModel::ALL.iter().map(|m| m.name()).collect();
        format!(
            "unknown read model {name:?}; the read models are {}",
            known.join(", ")
        )
    })
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let mut models = if args.models.is_empty() {
        ReadModel::ALL.to_vec()
    } else {
        args.models.clone()
    };
    models.sort();
    models.dedup();
    if args.conversation.is_some() && matches!(args.from, From::Topic) {
        anyhow::bail!("--conversation rebuilds from the event store; leave out --from topic");
    }
    let pool = convo_store::connect(&args.db.database_url, 4).await?;
    if let Some(uid) = &args.conversation {
        let diffs = replay::rebuild_conversation(&pool, &models, uid, args.dry_run).await?;
        return print_conversation(uid, args.dry_run, &diffs, args.json);
    }
    let plan = Replay {
        models,
        source: match args.from {
            From::Store => Source::Store,
            From::Topic => Source::Topic,
        },
        dry_run: args.dry_run,
        kafka: Some(args.kafka.config()),
    };
    let bar = std::sync::Mutex::new(None::<Progress>);
    let progress = |step: Step| {
        let Ok(mut bar) = bar.lock() else { return };
        match step {
            Step::Reading { total } => *bar = Some(Progress::new("events", total)),
            Step::Read(n) => bar.iter().for_each(|b| b.inc(n)),
            other => bar.iter().for_each(|b| b.label(stage(other))),
        }
    };
    let report = replay::replay(&pool, &plan, &progress)
        .await
        .context("the rebuild stopped; the live tables are unchanged")?;
    if let Ok(Some(bar)) = bar.lock().as_deref() {
        bar.finish();
    }
    print_report(&report, args.json)
}

fn stage(step: Step) -> &'static str {
    match step {
        Step::CatchingUp => "catching up",
        Step::Indexing => "indexing",
        Step::Comparing => "comparing",
        Step::Swapping => "swapping in",
        Step::Reading { .. } | Step::Read(_) => "events",
    }
}

fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let rate = report.events_read as f64 / report.seconds.max(0.001);
    println!(
        "{}: {} events read from the {} in {:.1} s ({:.0} events/s), {} more caught up",
        report.models.join(", "),
        report.events_read,
        match report.source {
            Source::Store => "event store",
            Source::Topic => "events topic",
        },
        report.seconds,
        rate,
        report.caught_up
    );
    if report.swapped {
        println!("the rebuilt tables are live");
    } else {
        print_diffs(&report.differences);
        println!("dry run: nothing changed");
    }
    Ok(())
}

fn print_conversation(
    uid: &str,
    dry_run: bool,
    diffs: &[TableDiff],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let value =
            serde_json::json!({"conversation": uid, "dry_run": dry_run, "differences": diffs});
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    print_diffs(diffs);
    if dry_run {
        println!("dry run: nothing changed");
    } else {
        println!("{uid}: rebuilt from its events");
    }
    Ok(())
}

fn print_diffs(diffs: &[TableDiff]) {
    for diff in diffs {
        if diff.only_live == 0 && diff.only_rebuilt == 0 {
            println!("  {:<28} same", diff.table);
        } else {
            println!(
                "  {:<28} {} rows only in the live table, {} only in the rebuilt one",
                diff.table, diff.only_live, diff.only_rebuilt
            );
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  convo follow-ups --business demobusiness0001
  convo follow-ups --business demobusiness0001 --staff demostaff0000001 --json")]
pub struct FollowUpArgs {
    /// The business whose staff to count.
    #[arg(long, value_parser = args::uid)]
    business: String,
    /// One staff only.
    #[arg(long, value_parser = args::uid)]
    staff: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// Prints each staff's follow-up counts (the follow-ups read model).
pub async fn follow_ups(args: FollowUpArgs) -> anyhow::Result<()> {
    let pool = convo_store::connect(&args.db.database_url, 2).await?;
    let counts = convo_projector::query::follow_up_counts(
        &pool,
        &args.business,
        args.staff.as_deref(),
        chrono::Utc::now(),
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&counts)?);
        return Ok(());
    }
    if counts.is_empty() {
        println!("no follow-ups");
        return Ok(());
    }
    println!(
        "{:<20} {:>6} {:>10} {:>8} {:>20}",
        "staff", "open", "due today", "overdue", "completed this week"
    );
    for c in counts {
        println!(
            "{:<20} {:>6} {:>10} {:>8} {:>20}",
            c.staff_uid, c.open, c.due_today, c.overdue, c.completed_this_week
        );
    }
    Ok(())
}
