//! `convo dead-letters tail|list|show|retry|drop`: dead-lettered command messages (the logic is
//! `convo_intake::dead_letters`; this only parses and prints).

use std::time::Duration;

use clap::{Args, Subcommand};
use convo_intake::dead_letters::{self, DeadLetter, LetterId};
use convo_kafka::KafkaConfig;
use convo_kafka::read::ReadLimits;
use sqlx::PgPool;

use crate::progress::Progress;
use crate::{DbArgs, KafkaArgs, tail};

#[derive(Debug, Subcommand)]
pub enum DeadLettersCmd {
    /// Print dead letters with their key and headers, as they arrive.
    Tail(tail::TailArgs),
    /// The dead letters not yet retried or dropped (all of them with --all): id
    /// (PARTITION:OFFSET), key, reason, source, size, truncated, disposition.
    #[command(
        after_help = "Examples:\n  convo dead-letters list\n  convo dead-letters list --all --json"
    )]
    List(ListArgs),
    /// One dead letter with its value.
    #[command(after_help = "Examples:\n  convo dead-letters show 0:12")]
    Show(One),
    /// Republish the original key and value to the commands topic (the command id inside keeps
    /// it idempotent) and mark it retried. A truncated letter is refused: its value is incomplete.
    #[command(after_help = "Examples:\n  convo dead-letters retry 0:12")]
    Retry(One),
    /// Mark it dropped: nothing is sent; list no longer shows it (list --all does).
    #[command(after_help = "Examples:\n  convo dead-letters drop 0:12")]
    Drop(One),
}

#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Print JSON instead of lines for people.
    #[arg(long)]
    json: bool,
    /// Milliseconds of silence after the end of a partition before it counts as read.
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include the retried and dropped ones.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Args)]
pub struct One {
    /// The dead letter: PARTITION:OFFSET on the dead-letter topic, as list shows it.
    #[arg(value_parser = parse_id)]
    id: LetterId,
    #[command(flatten)]
    common: Common,
}

fn parse_id(text: &str) -> Result<LetterId, String> {
    text.parse()
        .map_err(|e: dead_letters::DeadLetterError| e.to_string())
}

pub async fn run(command: DeadLettersCmd) -> anyhow::Result<()> {
    match command {
        DeadLettersCmd::Tail(args) => tail::run(tail::Stream::DeadLetters, args).await,
        DeadLettersCmd::List(args) => {
            let (pool, kafka, limits) = args.common.open().await?;
            let progress = Progress::new("reading the dead-letter topic", None);
            let letters = dead_letters::list(&pool, &kafka, limits, args.all).await;
            progress.finish();
            let letters = letters?;
            if args.common.json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
            } else if letters.is_empty() {
                println!("no dead letters to handle (--all shows the retried and dropped ones)");
            } else {
                letters.iter().for_each(print_letter);
            }
            Ok(())
        }
        DeadLettersCmd::Show(one) => {
            let letter = one.act(Action::Show).await?;
            if one.common.json {
                println!("{}", serde_json::to_string_pretty(&letter)?);
            } else {
                print_letter(&letter);
                println!("  value: {}", letter.value);
            }
            Ok(())
        }
        DeadLettersCmd::Retry(one) => {
            let letter = one.act(Action::Retry).await?;
            one.done(
                &letter,
                "republished to the commands topic and marked retried",
            )
        }
        DeadLettersCmd::Drop(one) => {
            let letter = one.act(Action::Drop).await?;
            one.done(&letter, "marked dropped")
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Show,
    Retry,
    Drop,
}

impl Common {
    async fn open(&self) -> anyhow::Result<(PgPool, KafkaConfig, ReadLimits)> {
        let pool = convo_store::connect(&self.db.database_url, 2).await?;
        let limits = ReadLimits {
            settle: Duration::from_millis(self.settle_ms),
            ..ReadLimits::default()
        };
        Ok((pool, self.kafka.config(), limits))
    }
}

impl One {
    /// Runs `action` on this letter, with the progress spinner while the topic is read.
    async fn act(&self, action: Action) -> anyhow::Result<DeadLetter> {
        let (pool, kafka, limits) = self.common.open().await?;
        let progress = Progress::new("reading the dead-letter topic", None);
        let letter = match action {
            Action::Show => dead_letters::find(&pool, &kafka, limits, self.id).await,
            Action::Retry => dead_letters::retry(&pool, &kafka, limits, self.id).await,
            Action::Drop => dead_letters::drop_letter(&pool, &kafka, limits, self.id).await,
        };
        progress.finish();
        Ok(letter?)
    }

    fn done(&self, letter: &DeadLetter, what: &str) -> anyhow::Result<()> {
        if self.common.json {
            println!("{}", serde_json::to_string_pretty(letter)?);
        } else {
            println!("{}: {what}", letter.id);
        }
        Ok(())
    }
}

fn print_letter(l: &DeadLetter) {
    let truncated = l
        .truncated
        .map_or(String::new(), |t| format!(", truncated from {t} bytes"));
    let disposition = l
        .disposition
        .as_ref()
        .map_or("not handled".to_owned(), |d| {
            format!("{} {}", d.action, d.at.format("%Y-%m-%d %H:%M:%S UTC"))
        });
    println!(
        "{} key={} {} bytes{truncated} from {} [{disposition}]\n  reason: {}",
        l.id,
        l.key.as_deref().unwrap_or("-"),
        l.size,
        l.source.as_deref().unwrap_or("?"),
        if l.reason.is_empty() { "-" } else { &l.reason }
    );
}
