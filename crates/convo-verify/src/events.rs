//! The event store against the events topic.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use convo_kafka::EventRecord;
use convo_store::events::StoredEvent;
use rdkafka::message::{Message, OwnedMessage};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::report::{Breach, Report};

/// Committed events per conversation, in version order.
pub type Streams = BTreeMap<String, Vec<StoredEvent>>;

/// Every committed event (of `scope`, when given).
pub async fn stored(conn: &mut PgConnection, scope: Option<&str>) -> sqlx::Result<Streams> {
    let mut streams = Streams::new();
    for event in convo_store::events::all(conn, scope).await? {
        streams
            .entry(event.conversation_uid.clone())
            .or_default()
            .push(event);
    }
    Ok(streams)
}

/// Store and topic agree; the store has no version gap.
pub fn check(streams: &Streams, topic: &[OwnedMessage], scope: Option<&str>, report: &mut Report) {
    report.checked.conversations = streams.len();
    report.checked.events_stored = streams.values().map(Vec::len).sum();
    for (uid, events) in streams {
        check_gaps(uid, events, report);
    }
    let records = readable(topic, scope, report);
    report.checked.event_records = records.len();
    check_order(&records, report);
    check_presence(streams, &records, report);
}

/// A record read from the topic, with where it was.
struct OnTopic {
    record: EventRecord,
    partition: i32,
    offset: i64,
}

fn readable(topic: &[OwnedMessage], scope: Option<&str>, report: &mut Report) -> Vec<OnTopic> {
    let mut records = Vec::new();
    for message in topic {
        let key = message.key().map(String::from_utf8_lossy);
        if scope.is_some_and(|uid| key.as_deref() != Some(uid)) {
            continue;
        }
        match EventRecord::from_message(message) {
            Ok(record) if key.as_deref() == Some(record.conversation_uid.as_str()) => {
                records.push(OnTopic {
                    record,
                    partition: message.partition(),
                    offset: message.offset(),
                })
            }
            outcome => report.breach(Breach::UnreadableRecord {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                offset: message.offset(),
                reason: match outcome {
                    Ok(record) => format!(
                        "key {key:?} is not its conversation {}",
                        record.conversation_uid
                    ),
                    Err(e) => e.to_string(),
                },
            }),
        }
    }
    records
}

fn check_gaps(uid: &str, events: &[StoredEvent], report: &mut Report) {
    let have: BTreeSet<u64> = events.iter().map(|e| e.version).collect();
    let last = have.last().copied().unwrap_or(0);
    let missing: Vec<u64> = (1..=last).filter(|v| !have.contains(v)).collect();
    if !missing.is_empty() {
        report.breach(Breach::VersionGap {
            conversation_uid: uid.to_owned(),
            missing,
        });
    }
}

/// Per conversation: one partition, and each version appearing for the first time right after
/// the highest one before it (a repeat of an earlier version is a redelivery, and harmless).
fn check_order(records: &[OnTopic], report: &mut Report) {
    let mut partitions: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    let mut seen: HashMap<(&str, i32), BTreeSet<u64>> = HashMap::new();
    for r in records {
        let uid = r.record.conversation_uid.as_str();
        partitions.entry(uid).or_default().insert(r.partition);
        let versions = seen.entry((uid, r.partition)).or_default();
        let highest = versions.last().copied().unwrap_or(0);
        if versions.insert(r.record.version) && r.record.version != highest + 1 {
            report.breach(Breach::OutOfOrder {
                conversation_uid: uid.to_owned(),
                partition: r.partition,
                offset: r.offset,
                version: r.record.version,
                after: highest,
            });
        }
    }
    for (uid, partitions) in partitions {
        if partitions.len() > 1 {
            report.breach(Breach::SplitAcrossPartitions {
                conversation_uid: uid.to_owned(),
                partitions: partitions.into_iter().collect(),
            });
        }
    }
}

/// After dedupe by event id: every stored event on the topic, and nothing else.
fn check_presence(streams: &Streams, records: &[OnTopic], report: &mut Report) {
    let stored: HashMap<Uuid, (&str, u64)> = streams
        .iter()
        .flat_map(|(uid, events)| {
            events
                .iter()
                .map(|e| (e.event_id, (uid.as_str(), e.version)))
        })
        .collect();
    let mut on_topic: BTreeSet<Uuid> = BTreeSet::new();
    for r in records {
        let id = r.record.event_id;
        let identity = (r.record.conversation_uid.as_str(), r.record.version);
        let known = stored.get(&id) == Some(&identity);
        if known && !on_topic.insert(id) {
            report.checked.event_duplicates += 1;
        } else if !known {
            report.breach(Breach::UnknownOnTopic {
                conversation_uid: r.record.conversation_uid.clone(),
                version: r.record.version,
                event_id: id.to_string(),
                partition: r.partition,
                offset: r.offset,
            });
        }
    }
    for (uid, events) in streams {
        for event in events.iter().filter(|e| !on_topic.contains(&e.event_id)) {
            report.breach(Breach::MissingOnTopic {
                conversation_uid: uid.clone(),
                version: event.version,
                event_id: event.event_id.to_string(),
            });
        }
    }
}
