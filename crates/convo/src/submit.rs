//! `convo command`: JSON commands from a file or stdin through the command handler.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use convo_domain::wire::{WireCommand, parse_command};
use convo_store::CommandHandler;
use convo_store::upstream::execute;
use serde_json::Value;

/// Reads every command first (so a malformed file runs nothing), then runs them in order and
/// prints one outcome line each. Exits non-zero if any command was rejected.
pub async fn run(handler: &CommandHandler, file: Option<PathBuf>) -> anyhow::Result<()> {
    let mut text = String::new();
    match file.as_deref() {
        None => std::io::stdin().read_to_string(&mut text)?,
        Some(p) if p.as_os_str() == "-" => std::io::stdin().read_to_string(&mut text)?,
        Some(p) => std::fs::File::open(p)
            .with_context(|| format!("opening {}", p.display()))?
            .read_to_string(&mut text)?,
    };
    let commands = parse_all(&text)?;
    let mut rejected = 0;
    for command in &commands {
        let outcome = execute(handler, command).await?;
        if outcome["status"] != "accepted" {
            rejected += 1;
        }
        println!("{outcome}");
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
