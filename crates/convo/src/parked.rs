//! `convo parked list|show|retry|drop`: conversations a projector parked (the logic is
//! `convo_projector::unpark`; this only parses and prints).

use clap::{Args, Subcommand};
use convo_projector::parked::Parked;
use convo_projector::unpark;

use crate::DbArgs;

#[derive(Debug, Subcommand)]
pub enum ParkedCmd {
    /// The parked conversations: projector, uid, parked version, waiting events, reason.
    #[command(
        after_help = "Examples:\n  convo parked list\n  convo parked list --projector conversations --json"
    )]
    List(Target),
    /// One parked conversation: its row, where the failing record is, and its stored events from
    /// the parked version on.
    #[command(after_help = "Examples:\n  convo parked show 89m2pnabgozdvd9f")]
    Show(One),
    /// After the cause is fixed: refold the conversation from the event store into the read
    /// models and unpark it, in one transaction, so its later events apply on top in order.
    #[command(after_help = "Examples:\n  convo parked retry 89m2pnabgozdvd9f")]
    Retry(One),
    /// Unpark without refolding: its read model stays as it was until its next event, which
    /// backfills the missed versions from the event store. Prefer retry.
    #[command(
        after_help = "Examples:\n  convo parked drop 89m2pnabgozdvd9f --projector conversations"
    )]
    Drop(One),
}

#[derive(Debug, Args)]
pub struct Target {
    /// Only this projector's parked conversations.
    #[arg(long)]
    projector: Option<String>,
    /// Print JSON instead of lines for people.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Args)]
pub struct One {
    /// The parked conversation's uid.
    uid: String,
    #[command(flatten)]
    target: Target,
}

pub async fn run(command: ParkedCmd) -> anyhow::Result<()> {
    match command {
        ParkedCmd::List(t) => {
            let pool = convo_store::connect(&t.db.database_url, 2).await?;
            let parked = convo_projector::parked::list(&pool, t.projector.as_deref()).await?;
            if t.json {
                println!("{}", serde_json::to_string_pretty(&parked)?);
            } else if parked.is_empty() {
                println!("nothing is parked");
            } else {
                parked.iter().for_each(print_row);
            }
        }
        ParkedCmd::Show(one) => {
            let pool = convo_store::connect(&one.target.db.database_url, 2).await?;
            let shown = unpark::show(&pool, &one.uid, one.target.projector.as_deref()).await?;
            if one.target.json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
                return Ok(());
            }
            let p = &shown.parked;
            println!(
                "{} {} parked at v{}",
                p.projector, p.conversation_uid, p.version
            );
            println!(
                "  since: {} ({} attempts, {} events waiting)",
                p.parked_at.format("%Y-%m-%d %H:%M:%S UTC"),
                p.attempts,
                p.skipped
            );
            println!("  reason: {}", p.reason);
            if p.partition < 0 {
                println!(
                    "  failing record: not known (parked outside a batch of {})",
                    p.topic
                );
            } else {
                println!("  failing record: {}/{}@{}", p.topic, p.partition, p.offset);
            }
            println!("  stored events from v{} on:", p.version);
            for (version, kind) in &shown.events {
                println!("    v{version} {kind}");
            }
        }
        ParkedCmd::Retry(one) => {
            let pool = convo_store::connect(&one.target.db.database_url, 2).await?;
            let (p, version) =
                unpark::retry(&pool, &one.uid, one.target.projector.as_deref()).await?;
            let message = format!(
                "{}: refolded to v{version} and unparked ({})",
                p.conversation_uid, p.projector
            );
            print(one.target.json, &p, Some(version), &message)?;
        }
        ParkedCmd::Drop(one) => {
            let pool = convo_store::connect(&one.target.db.database_url, 2).await?;
            let p = unpark::drop_parked(&pool, &one.uid, one.target.projector.as_deref()).await?;
            let message = format!(
                "{}: unparked without refolding ({}); its next event backfills from the event store",
                p.conversation_uid, p.projector
            );
            print(one.target.json, &p, None, &message)?;
        }
    }
    Ok(())
}

fn print_row(p: &Parked) {
    println!(
        "{} {} parked at v{} ({} attempts, {} events waiting) since {}: {}",
        p.projector,
        p.conversation_uid,
        p.version,
        p.attempts,
        p.skipped,
        p.parked_at.format("%Y-%m-%d %H:%M:%S UTC"),
        p.reason
    );
}

fn print(json: bool, p: &Parked, version: Option<u64>, message: &str) -> anyhow::Result<()> {
    if json {
        let out = serde_json::json!({"parked": p, "refolded_to": version});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{message}");
    }
    Ok(())
}
