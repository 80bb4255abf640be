//! `convo export`: events from the PostgreSQL store (authoritative) as NDJSON, one CloudEvents
//! structured-mode object per line (`schemas/envelope.v1.json`), payloads upcast to the current
//! schema version so a backfill sees one shape. Rows are streamed and written through a buffer:
//! memory stays flat for any number of events.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use convo_store::events::{self, EventFilter};
use futures_util::TryStreamExt;
use sqlx::ConnectOptions;

use crate::progress::Progress;

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  # Every event of May 2026 (since inclusive, until exclusive), to a file:
  convo export --since 2026-05-01 --until 2026-06-01 --output may.ndjson

  # One business's follow-up activity, to a pipe:
  convo export --business demobusiness0001 --type FollowUpSet --type FollowUpCompleted | jq .data

Order: commit order, as the relay publishes (tx_id, position); each conversation's events are in
version order. Each line validates against schemas/envelope.v1.json; `schemaversion` is the
current version and `data` is in that version's shape, whatever version the event was stored in.")]
pub struct ExportArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Events that happened at or after this time (inclusive). RFC 3339, or a UTC date/time.
    #[arg(long, value_parser = crate::args::time)]
    since: Option<DateTime<Utc>>,
    /// Events that happened before this time (exclusive).
    #[arg(long, value_parser = crate::args::time)]
    until: Option<DateTime<Utc>>,
    /// Only this business's events.
    #[arg(long, value_parser = crate::args::uid)]
    business: Option<String>,
    /// Only events of this type (repeat for several).
    #[arg(long = "type", value_name = "TYPE", value_parser = crate::args::event_type)]
    types: Vec<String>,
    /// Only this conversation's events (its uid as stored; merges are not followed).
    #[arg(long, value_parser = crate::args::uid)]
    conversation: Option<String>,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print the closing summary (on stderr) as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    if let (Some(since), Some(until)) = (args.since, args.until) {
        anyhow::ensure!(
            since < until,
            "--since ({since}) must be before --until ({until}): the range is since <= time < until"
        );
    }
    let filter = EventFilter {
        since: args.since,
        until: args.until,
        business_uid: args.business,
        event_types: args.types,
        conversation_uid: args.conversation,
    };
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    // One query streams every row: its duration is the export's, not a slow statement to warn of.
    let options = sqlx::postgres::PgConnectOptions::from_str(&args.database_url)?
        .log_slow_statements(log::LevelFilter::Off, std::time::Duration::MAX);
    let pool = convo_store::pool_options(2).connect_with(options).await?;
    let started = Instant::now();
    let written = write_all(&pool, &filter, out).await?;
    summary(written, started.elapsed().as_secs_f64(), args.json);
    Ok(())
}

/// Streams the events `filter` selects into `out`; returns how many were written.
async fn write_all(
    pool: &sqlx::PgPool,
    filter: &EventFilter,
    out: Box<dyn Write>,
) -> anyhow::Result<u64> {
    let mut conn = pool.acquire().await?;
    let total = if std::io::stderr().is_terminal() {
        Some(events::count_matching(&mut conn, filter).await?)
    } else {
        None
    };
    let progress = Progress::new("events", total);
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, out);
    let mut rows = std::pin::pin!(events::matching(&mut conn, filter));
    let mut written = 0;
    while let Some(stored) = rows.try_next().await? {
        let envelope = convo_relay::record(stored.upcast()?).structured();
        serde_json::to_writer(&mut out, &envelope)?;
        out.write_all(b"\n")?;
        written += 1;
        if written % 1024 == 0 {
            progress.inc(1024);
        }
    }
    out.flush().context("writing the output")?;
    progress.finish();
    Ok(written)
}

fn summary(written: u64, seconds: f64, json: bool) {
    let rate = written as f64 / seconds.max(1e-9);
    if json {
        eprintln!(
            "{}",
            serde_json::json!({"events": written, "seconds": seconds, "events_per_second": rate})
        );
    } else {
        eprintln!("exported {written} events in {seconds:.2} s ({rate:.0} events/s)");
    }
}
