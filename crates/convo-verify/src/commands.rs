//! The commands topic against the outcomes and dead-letter topics: every command has exactly one
//! distinct outcome (identical repeats come from at-least-once redelivery and are only counted);
//! a message that is not a command, or that the intake refused, has a dead letter instead.

use std::collections::{BTreeMap, BTreeSet};

use convo_domain::wire::parse_command;
use rdkafka::message::{Headers, Message, OwnedMessage};
use serde_json::Value;

use crate::report::{Breach, Report};

/// The three topics, read whole.
#[derive(Debug)]
pub struct Topics<'a> {
    pub commands: &'a [OwnedMessage],
    pub outcomes: &'a [OwnedMessage],
    pub dead_letters: &'a [OwnedMessage],
    /// The commands topic's name (dead letters name their source topic).
    pub commands_name: &'a str,
}

pub fn check(topics: &Topics<'_>, scope: Option<&str>, report: &mut Report) {
    let in_scope = |key: Option<&[u8]>, uid: Option<&str>| {
        scope.is_none_or(|s| key == Some(s.as_bytes()) || uid == Some(s))
    };
    let dead = dead_lettered(topics, report);
    let outcomes = outcomes_by_command(topics.outcomes, &in_scope, report);
    for message in topics.commands {
        let command = parse_command(message.payload().unwrap_or_default()).ok();
        let uid = command.as_ref().map(|c| c.conversation_uid.as_str());
        if !in_scope(message.key(), uid) {
            continue;
        }
        report.checked.commands += 1;
        let answered = command
            .as_ref()
            .is_some_and(|c| outcomes.contains_key(&c.command_id))
            || dead.contains(&(message.partition(), message.offset()));
        if !answered {
            report.breach(Breach::CommandWithoutOutcome {
                command_id: command
                    .as_ref()
                    .map_or("(not a command, no dead letter)".to_owned(), |c| {
                        c.command_id.clone()
                    }),
                conversation_uid: uid
                    .map(str::to_owned)
                    .or_else(|| {
                        message
                            .key()
                            .map(|k| String::from_utf8_lossy(k).into_owned())
                    })
                    .unwrap_or_default(),
                partition: message.partition(),
                offset: message.offset(),
            });
        }
    }
    for (command_id, distinct) in outcomes {
        if distinct.len() > 1 {
            report.breach(Breach::ConflictingOutcomes {
                command_id,
                outcomes: distinct,
            });
        }
    }
}

/// Where the dead letters came from: (partition, offset) on the commands topic.
fn dead_lettered(topics: &Topics<'_>, report: &mut Report) -> BTreeSet<(i32, i64)> {
    let mut sources = BTreeSet::new();
    for message in topics.dead_letters {
        let header = |name: &str| {
            message.headers().and_then(|h| {
                h.iter()
                    .find(|header| header.key == name)
                    .and_then(|header| header.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
        };
        if header("dlq_source_topic").as_deref() != Some(topics.commands_name) {
            continue;
        }
        let partition = header("dlq_source_partition").and_then(|p| p.parse().ok());
        let offset = header("dlq_source_offset").and_then(|o| o.parse().ok());
        if let (Some(partition), Some(offset)) = (partition, offset) {
            report.checked.dead_letters += 1;
            sources.insert((partition, offset));
        }
    }
    sources
}

/// The distinct outcomes of each command id (in scope).
fn outcomes_by_command(
    outcomes: &[OwnedMessage],
    in_scope: &impl Fn(Option<&[u8]>, Option<&str>) -> bool,
    report: &mut Report,
) -> BTreeMap<String, Vec<Value>> {
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for message in outcomes {
        let outcome: Value = match serde_json::from_slice(message.payload().unwrap_or_default()) {
            Ok(outcome) => outcome,
            Err(e) => {
                report.breach(Breach::UnreadableRecord {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    offset: message.offset(),
                    reason: format!("not a JSON outcome: {e}"),
                });
                continue;
            }
        };
        if !in_scope(message.key(), outcome["conversation_uid"].as_str()) {
            continue;
        }
        let Some(id) = outcome["command_id"].as_str().map(str::to_owned) else {
            report.breach(Breach::UnreadableRecord {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                offset: message.offset(),
                reason: "an outcome without command_id".to_owned(),
            });
            continue;
        };
        report.checked.outcomes += 1;
        let distinct = by_id.entry(id).or_default();
        if distinct.contains(&outcome) {
            report.checked.outcome_duplicates += 1;
        } else {
            distinct.push(outcome);
        }
    }
    by_id
}
