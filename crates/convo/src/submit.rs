//! `convo command`: JSON commands from a file or stdin through the command handler.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use convo_domain::wire::{WireCommand, parse_command};
use convo_kafka::{KafkaConfig, LogContext};
use convo_store::CommandHandler;
use convo_store::upstream::execute;
use convo_trace::TraceContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

/// Reads and parses every command first, so a malformed file runs nothing.
pub fn read(file: Option<PathBuf>) -> anyhow::Result<Vec<WireCommand>> {
    let mut text = String::new();
    match file.as_deref() {
        None => std::io::stdin().read_to_string(&mut text)?,
        Some(p) if p.as_os_str() == "-" => std::io::stdin().read_to_string(&mut text)?,
        Some(p) => std::fs::File::open(p)
            .with_context(|| format!("opening {}", p.display()))?
            .read_to_string(&mut text)?,
    };
    parse_all(&text)
}

/// Runs the commands in order and prints one outcome line each. Fails if any was rejected.
pub async fn run(handler: &CommandHandler, commands: &[WireCommand]) -> anyhow::Result<()> {
    let mut rejected = 0;
    for command in commands {
        let outcome = execute(handler, command, &TraceContext::root()).await?;
        if !outcome.is_accepted() {
            rejected += 1;
        }
        println!("{}", serde_json::to_string(&outcome)?);
    }
    anyhow::ensure!(
        rejected == 0,
        "{rejected} of {} commands were rejected",
        commands.len()
    );
    Ok(())
}

/// A JSON array of commands, or one command per line (blank lines skipped).
fn parse_all(text: &str) -> anyhow::Result<Vec<WireCommand>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let items: Vec<Value> = serde_json::from_str(trimmed).context("reading the JSON array")?;
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                parse_command(item.to_string().as_bytes())
                    .with_context(|| format!("command #{}", i + 1))
            })
            .collect();
    }
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| parse_command(line.as_bytes()).with_context(|| format!("line {}", i + 1)))
        .collect()
}

/// Publishes the commands to the commands topic, keyed by conversation uid, each acknowledged
/// before the next (so they keep their order). `convo outcomes tail` shows what became of them.
pub async fn publish(kafka: &KafkaConfig, commands: &[WireCommand]) -> anyhow::Result<()> {
    let producer: FutureProducer<LogContext> = kafka.producer().create_with_context(LogContext)?;
    for command in commands {
        let record = FutureRecord::to(&kafka.topics.commands)
            .key(command.conversation_uid.as_str())
            .payload(command.canonical.as_str());
        let delivery = producer
            .send(record, std::time::Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)?;
        println!(
            "{}",
            serde_json::json!({"command_id": command.command_id, "topic": kafka.topics.commands,
                "partition": delivery.partition, "offset": delivery.offset})
        );
    }
    Ok(())
}
