//! `convo verify`: checks the pipeline's invariants (see the `convo-verify` crate) and prints a
//! report. Exit code 0: no breach; 2: breaches (listed); 1: the checks could not run.

use std::time::Duration;

use clap::Args;
use convo_kafka::read::ReadLimits;

use crate::{DbArgs, KafkaArgs};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Check only this conversation (its events, read model, commands and outcomes).
    #[arg(long)]
    conversation: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// On a live system: check again until no breach is left or this many seconds have passed
    /// (lag clears, real breaches stay).
    #[arg(long, default_value_t = 0)]
    wait: u64,
    /// Milliseconds of silence after the end of a partition before it counts as read.
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,
}

/// The checks found breaches (the report has been printed).
#[derive(Debug, thiserror::Error)]
#[error("{0} breaches")]
pub struct Breached(pub usize);

pub async fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let pool = convo_store::connect(&args.db.database_url, 2).await?;
    let options = convo_verify::Options {
        conversation: args.conversation,
        read: ReadLimits {
            settle: Duration::from_millis(args.settle_ms),
            ..ReadLimits::default()
        },
    };
    let kafka = args.kafka.config();
    let wait = Duration::from_secs(args.wait);
    let report = convo_verify::verify_until_clean(&pool, &kafka, &options, wait).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(Breached(report.breaches.len()).into())
    }
}
