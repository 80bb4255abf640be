//! What a rebuild reads: the event store in (conversation, version) order, or the events topic;
//! then the events committed since, in the relay's order.

use std::collections::HashMap;
use std::sync::Arc;

use convo_domain::Event;
use convo_kafka::read::{ReadLimits, stream_topic};
use convo_kafka::{EventRecord, KafkaConfig};
use convo_store::events::{self, Position, StoredEvent};
use futures_util::StreamExt;
use rdkafka::message::OwnedMessage;
use sqlx::{Connection, PgConnection, PgPool};

use super::{ReplayError, Step, shadow};
use crate::project::ProjectError;
use crate::read_models::{Group, Item, ReadModel};

/// Events applied per transaction.
const CHUNK: usize = 5_000;

/// Applies `groups` to every model, in the caller's transaction.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    models: &[ReadModel],
    groups: &[Group],
) -> Result<(), ProjectError> {
    for model in models {
        model.apply(conn, groups).await?;
    }
    Ok(())
}

/// Events grouped by conversation, in arrival order of the conversations and version order
/// within each.
#[derive(Default)]
struct Grouper {
    order: Vec<String>,
    items: HashMap<String, Vec<Item>>,
    events: usize,
}

impl Grouper {
    fn push(&mut self, uid: &str, version: u64, event: Result<Event, String>) {
        self.events += 1;
        let items = match self.items.get_mut(uid) {
            Some(items) => items,
            None => {
                self.order.push(uid.to_owned());
                self.items.entry(uid.to_owned()).or_default()
            }
        };
        items.push(Item { version, event });
    }

    fn push_stored(&mut self, stored: StoredEvent) {
        let event = stored.event().map_err(|e| e.to_string());
        self.push(&stored.conversation_uid, stored.version, event);
    }

    fn take(&mut self) -> Vec<Group> {
        self.events = 0;
        let mut items = std::mem::take(&mut self.items);
        std::mem::take(&mut self.order)
            .into_iter()
            .map(|uid| {
                let mut items = items.remove(&uid).unwrap_or_default();
                items.sort_by_key(|i| i.version);
                Group { uid, items }
            })
            .collect()
    }
}

/// Writes one chunk to the shadow tables in a transaction of its own.
async fn write_chunk(
    writer: &mut PgConnection,
    models: &[ReadModel],
    groups: &[Group],
) -> Result<(), ReplayError> {
    let mut tx = writer.begin().await?;
    apply(&mut tx, models, groups).await?;
    tx.commit().await?;
    Ok(())
}

/// Reads every event of one snapshot of the store and applies it to the shadow tables, each
/// model through its own connection of `writers` (the models are written side by side); returns
/// the events read and the position from which later commits are caught up. Reading (and
/// decoding) runs on its own connection and task.
pub(crate) async fn from_store(
    pool: &PgPool,
    writers: &mut [(ReadModel, PgConnection)],
    progress: &(dyn Fn(Step) + Sync),
) -> Result<(u64, Position), ReplayError> {
    let mut reader = shadow::connect(pool).await?;
    shadow::run(
        &mut reader,
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    )
    .await?;
    let horizon = events::horizon(&mut reader).await?;
    let total = events::count(&mut reader).await?;
    progress(Step::Reading { total: Some(total) });
    let (senders, receivers): (Vec<_>, Vec<_>) = writers
        .iter()
        .map(|_| tokio::sync::mpsc::channel::<Arc<Vec<Group>>>(2))
        .unzip();
    let reading = tokio::spawn(async move {
        let mut grouper = Grouper::default();
        let mut stream = events::in_order(&mut reader);
        let send = |groups: Vec<Group>| {
            let groups = Arc::new(groups);
            let senders = senders.clone();
            async move {
                for sender in &senders {
                    if sender.send(groups.clone()).await.is_err() {
                        return false;
                    }
                }
                true
            }
        };
        while let Some(stored) = stream.next().await {
            grouper.push_stored(stored?);
            if grouper.events >= CHUNK && !send(grouper.take()).await {
                break;
            }
        }
        drop(stream);
        send(grouper.take()).await;
        Ok::<PgConnection, sqlx::Error>(reader)
    });
    let writing = writers.iter_mut().zip(receivers).enumerate().map(
        |(i, ((model, writer), mut received))| async move {
            let mut read = 0u64;
            while let Some(groups) = received.recv().await {
                write_chunk(writer, &[*model], &groups).await?;
                let n: u64 = groups.iter().map(|g| g.items.len() as u64).sum();
                read += n;
                if i == 0 {
                    progress(Step::Read(n));
                }
            }
            Ok::<u64, ReplayError>(read)
        },
    );
    let written = futures_util::future::try_join_all(writing).await;
    let reader = reading
        .await
        .map_err(|e| ReplayError::Reader(e.to_string()))??;
    // Read only: ending it any way is the same.
    drop(reader);
    let read = written?.into_iter().max().unwrap_or(0);
    Ok((read, horizon))
}

/// Reads the events topic up to where it ended when the read began, applies it to the shadow
/// tables through `writer`, then fills in from the store what the topic lacked (not yet
/// published, or lost by the broker); returns the records read, the events filled in, and the
/// position from which later commits are caught up.
pub(crate) async fn from_topic(
    writer: &mut PgConnection,
    kafka: &KafkaConfig,
    models: &[ReadModel],
    progress: &(dyn Fn(Step) + Sync),
) -> Result<(u64, u64, Position), ReplayError> {
    progress(Step::Reading { total: None });
    let (sink, mut records) = tokio::sync::mpsc::channel::<OwnedMessage>(CHUNK * 2);
    let limits = ReadLimits {
        settle: std::time::Duration::from_millis(500),
        stop_at_start_end: true,
        timeout: std::time::Duration::from_secs(3600),
    };
    let (kafka, topic) = (kafka.clone(), kafka.topics.events.clone());
    let reading = tokio::spawn(async move { stream_topic(&kafka, &topic, limits, sink).await });
    let mut read = 0u64;
    let mut batch = Vec::with_capacity(CHUNK);
    while records.recv_many(&mut batch, CHUNK).await > 0 {
        let mut grouper = Grouper::default();
        for message in batch.drain(..) {
            match EventRecord::from_message(&message) {
                Ok(record) => {
                    let event = crate::project::decode(&record);
                    grouper.push(&record.conversation_uid, record.version, event);
                }
                Err(e) => tracing::warn!(error = %e, "not an event record; skipped"),
            }
        }
        let n = grouper.events as u64;
        write_chunk(writer, models, &grouper.take()).await?;
        read += n;
        progress(Step::Read(n));
    }
    reading
        .await
        .map_err(|e| ReplayError::Reader(e.to_string()))??;
    let (filled, horizon) = fill_from_store(writer, models).await?;
    Ok((read, filled, horizon))
}

/// Applies, for each conversation, the events the store has beyond the version the shadow tables
/// hold, in one snapshot; returns how many and that snapshot's horizon.
async fn fill_from_store(
    conn: &mut PgConnection,
    models: &[ReadModel],
) -> Result<(u64, Position), ReplayError> {
    shadow::run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ").await?;
    let horizon = events::horizon(conn).await?;
    let heads = events::heads(conn).await?;
    let mut filled = 0;
    for model in models {
        let (table, column) = model.versions();
        let held: HashMap<String, u64> =
            sqlx::query_as::<_, (String, i64)>(&format!("SELECT {column}, version FROM {table}"))
                .fetch_all(&mut *conn)
                .await?
                .into_iter()
                .map(|(uid, version)| (uid, u64::try_from(version).unwrap_or_default()))
                .collect();
        for (uid, last) in &heads {
            let have = held.get(uid).copied().unwrap_or(0);
            if have >= *last {
                continue;
            }
            let mut grouper = Grouper::default();
            for stored in events::stream(conn, uid, have, None).await? {
                grouper.push_stored(stored);
            }
            filled += grouper.events as u64;
            model.apply(conn, &grouper.take()).await?;
        }
    }
    shadow::run(conn, "COMMIT").await?;
    Ok((filled, horizon))
}

/// Applies the events committed after `from` (in the relay's order, only transactions that have
/// ended) through `conn`, and moves `from` past them; returns how many there were.
pub(crate) async fn catch_up(
    conn: &mut PgConnection,
    models: &[ReadModel],
    from: &mut Position,
) -> Result<u64, ReplayError> {
    let mut caught_up = 0;
    loop {
        let page = events::committed_after(conn, from, CHUNK as i64).await?;
        let Some((last, _)) = page.last() else {
            return Ok(caught_up);
        };
        *from = last.clone();
        let full = page.len() == CHUNK;
        let mut grouper = Grouper::default();
        caught_up += page.len() as u64;
        for (_, stored) in page {
            grouper.push_stored(stored);
        }
        apply(conn, models, &grouper.take()).await?;
        if !full {
            return Ok(caught_up);
        }
    }
}
