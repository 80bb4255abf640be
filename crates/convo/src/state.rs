//! `convo state UID`: the aggregate as it was after a version or at a time, folded from the
//! events, and the API rendering (`GET /v2/conversations/{id}`) for a staff at that point.

use chrono::{DateTime, Utc};
use clap::Args;
use convo_domain::render::{Depth, render};
use convo_store::history::{History, Point};
use serde_json::json;

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  convo state 89m2pnabgozdvd9f                      # now
  convo state 89m2pnabgozdvd9f --at-version 5       # after its first 5 events
  convo state 89m2pnabgozdvd9f --at-time '2026-05-06 10:31' --staff demostaff0000002 --full-client

--at-time T folds the events, in version order, up to the first that happened after T. The
rendering is GET's, for --staff (default: the owner), with human times relative to T (or to the
last folded event).")]
pub struct StateArgs {
    /// The conversation uid (as stored: merges are not followed).
    #[arg(value_parser = crate::args::uid)]
    uid: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The state after the first N events (1 = just started).
    #[arg(long, value_name = "N", conflicts_with = "at_time", value_parser = crate::args::version)]
    at_version: Option<u64>,
    /// The state at this time: RFC 3339, or a UTC date/time (2026-05-06 10:31).
    #[arg(long, value_name = "T", value_parser = crate::args::time)]
    at_time: Option<DateTime<Utc>>,
    /// Render for this staff (their follow-up and read state). Default: the owner.
    #[arg(long, value_parser = crate::args::uid)]
    staff: Option<String>,
    /// Render the full client (the API's full_client=true).
    #[arg(long)]
    full_client: bool,
    /// Print one JSON object: version, aggregate, rendering.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: StateArgs) -> anyhow::Result<()> {
    let point = match (args.at_version, args.at_time) {
        (Some(n), _) => Point::Version(n),
        (None, Some(t)) => Point::Time(t),
        (None, None) => Point::Latest,
    };
    let pool = convo_store::connect(&args.database_url, 1).await?;
    let mut conn = pool.acquire().await?;
    let history = History::load(&mut conn, &args.uid).await?;
    let version = history.version_at(point)?;
    let state = history.state_after(version);
    let (last, _) = &history.events[version as usize - 1];
    let now = args.at_time.unwrap_or(last.occurred_at);
    let staff = args.staff.unwrap_or_else(|| state.staff.uid.clone());
    let depth = if args.full_client {
        Depth::Deep
    } else {
        Depth::Shallow
    };
    let rendering = render(&state, &staff, depth, now);
    let of = history.events.len();
    if args.json {
        let out = json!({"conversation_uid": args.uid, "version": version, "last_version": of,
                         "at": last.occurred_at, "staff": staff, "state": state,
                         "rendering": rendering});
        println!("{out}");
        return Ok(());
    }
    println!(
        "conversation {} at version {version} of {of}: after v{version} {} at {}",
        args.uid,
        last.event_type,
        last.occurred_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    println!("\naggregate:\n{}", serde_json::to_string_pretty(&state)?);
    let query = if args.full_client {
        "?full_client=true"
    } else {
        ""
    };
    println!(
        "\nGET /v2/conversations/{}{query} for staff {staff}, as of {}:\n{}",
        args.uid,
        now.format("%Y-%m-%d %H:%M:%S UTC"),
        serde_json::to_string_pretty(&rendering)?
    );
    if !matches!(state.lifecycle, convo_domain::state::Lifecycle::Open) {
        println!(
            "(the API answers 404 for it at this point: it is {:?})",
            state.lifecycle
        );
    }
    Ok(())
}
