//! `convo history UID`: a conversation's events, one readable line each (version, time, type,
//! actor, what changed, command id), or JSON. Reads only the given uid: a merge is reported, not
//! followed.

use clap::Args;
use convo_domain::Event;
use convo_domain::summary::summary;
use convo_store::events::StoredEvent;
use convo_store::history::History;
use serde_json::{Value, json};

#[derive(Debug, Args)]
#[command(after_long_help = "Examples:
  convo history 89m2pnabgozdvd9f
  convo history 89m2pnabgozdvd9f --json | jq '.events[] | select(.type == \"FollowUpSet\")'

Each line: version, when it happened (UTC), type, the staff who caused it, what changed, and the
command that produced it. Old events are shown in the current schema's shape (upcast).")]
pub struct HistoryArgs {
    /// The conversation uid.
    #[arg(value_parser = crate::args::uid)]
    uid: String,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Print one JSON object: the events with their metadata, summary and payload.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: HistoryArgs) -> anyhow::Result<()> {
    let pool = convo_store::connect(&args.database_url, 1).await?;
    let mut conn = pool.acquire().await?;
    let history = History::load(&mut conn, &args.uid).await?;
    if args.json {
        println!("{}", as_json(&args.uid, &history));
        return Ok(());
    }
    let (first, _) = &history.events[0];
    println!(
        "conversation {} (business {}): {} events",
        args.uid,
        first.business_uid,
        history.events.len()
    );
    for (stored, event) in &history.events {
        println!("{}", line(stored, event));
    }
    if let Some(target) = history.merged_into() {
        println!("merged into {target}: its later history is there (convo history {target})");
    }
    Ok(())
}

/// `v7 2026-05-06 10:31 FollowUpSet by demostaff0000001: due Wed May 6 10:31 UTC, "call back"
/// [command c-1]`.
fn line(stored: &StoredEvent, event: &Event) -> String {
    let by = stored
        .actor_staff_uid
        .as_ref()
        .map(|staff| format!(" by {staff}"))
        .unwrap_or_default();
    format!(
        "v{} {} {}{by}: {} [command {}]",
        stored.version,
        stored.occurred_at.format("%Y-%m-%d %H:%M"),
        stored.event_type,
        summary(event),
        stored.command_id
    )
}

fn as_json(uid: &str, history: &History) -> Value {
    let events: Vec<Value> = history
        .events
        .iter()
        .map(|(stored, event)| {
            json!({
                "version": stored.version,
                "occurred_at": stored.occurred_at,
                "type": stored.event_type,
                "actor_staff_uid": stored.actor_staff_uid,
                "command_id": stored.command_id,
                "stored_schema_version": stored.schema_version,
                "summary": summary(event),
                "data": event,
            })
        })
        .collect();
    json!({"conversation_uid": uid, "merged_into": history.merged_into(), "events": events})
}
