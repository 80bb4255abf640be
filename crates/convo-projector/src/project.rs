//! Applying a batch of consumed events to a read model: one transaction per batch, with the
//! positions it reaches, written only for the partitions the member still holds.

use std::collections::{BTreeMap, HashMap};

use convo_domain::Event;
use convo_kafka::EventRecord;
use sqlx::PgPool;

use crate::parked;
use crate::read_models::{Group, Item, ReadModel};

/// One consumed record and where it came from.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub partition: i32,
    pub offset: i64,
    pub record: EventRecord,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event {conversation_uid} v{version} does not decode: {reason}")]
    Undecodable {
        conversation_uid: String,
        version: u64,
        reason: String,
    },
    #[error("{conversation_uid}: versions {from}..{to} are missing from the event store")]
    Gap {
        conversation_uid: String,
        from: u64,
        to: u64,
    },
}

impl ProjectError {
    /// The conversation whose events cannot be applied, when retrying cannot help: its events
    /// or its read-model row do not decode, or versions are missing from the event store. `None`
    /// for database failures, which are retried until the database answers.
    pub fn poisoned_conversation(&self) -> Option<(&str, u64)> {
        match self {
            Self::Database(_) => None,
            Self::Undecodable {
                conversation_uid,
                version,
                ..
            } => Some((conversation_uid, *version)),
            Self::Gap {
                conversation_uid,
                from,
                ..
            } => Some((conversation_uid, *from)),
        }
    }
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Events applied now.
    pub applied: usize,
    /// Events skipped: versions already applied.
    pub skipped: usize,
    /// Events of parked conversations, left waiting (they are refolded from the event store when
    /// the conversation is retried).
    pub parked: usize,
    /// The next offset to read, per partition, after this batch: where a restart resumes. It
    /// follows the records (a redelivery moves it back, a recreated topic resets it); what is
    /// skipped is decided by versions alone.
    pub checkpoints: BTreeMap<i32, i64>,
    /// Partitions of the batch that the member no longer holds: their records were not applied.
    pub lost: Vec<i32>,
}

/// Who applies a batch: the projector (its positions and parked conversations are keyed by its
/// name), the read model it keeps, the topic the records came from, and the member holding their
/// partitions (`partition_claims`).
#[derive(Debug, Clone, Copy)]
pub struct Projection<'a> {
    pub projector: &'a str,
    pub model: ReadModel,
    pub topic: &'a str,
    pub member: &'a str,
}

/// Applies `batch` (records in partition order) in one transaction with the positions it reaches.
/// Only records of partitions the member still holds are applied: the claim rows stay locked
/// until the transaction ends, so a member that lost a partition cannot write for it, and a
/// takeover waits for a batch in progress.
#[tracing::instrument(name = "projector_batch", skip_all, fields(
    projector = projection.projector,
    records = batch.len(),
))]
pub async fn apply_batch(
    pool: &PgPool,
    projection: Projection<'_>,
    batch: &[Incoming],
) -> Result<Applied, ProjectError> {
    let mut tx = pool.begin().await?;
    let mut outcome = Applied::default();
    let mut partitions: Vec<i32> = batch.iter().map(|i| i.partition).collect();
    partitions.sort_unstable();
    partitions.dedup();
    let held = convo_partitions::claims::lock_held(
        &mut tx,
        projection.projector,
        projection.topic,
        projection.member,
        &partitions,
    )
    .await?;
    outcome.lost = partitions
        .into_iter()
        .filter(|p| !held.contains(p))
        .collect();

    // The records, grouped by conversation in arrival order. Records below a checkpoint are not
    // skipped by offset: the version guard skips what was applied, and a topic that was recreated
    // (offsets starting over, as on a broker that lost its data) is still projected.
    let mut order: Vec<String> = Vec::new();
    let mut by_conversation: HashMap<String, Vec<Item>> = HashMap::new();
    for incoming in batch.iter().filter(|i| held.contains(&i.partition)) {
        let next = outcome.checkpoints.entry(incoming.partition).or_insert(0);
        *next = (*next).max(incoming.offset + 1);
        let uid = &incoming.record.conversation_uid;
        by_conversation
            .entry(uid.clone())
            .or_insert_with(|| {
                order.push(uid.clone());
                Vec::new()
            })
            .push(Item {
                version: incoming.record.version,
                event: decode(&incoming.record),
            });
    }
    let parked = parked::skip_parked(&mut tx, projection.projector, &mut order).await?;
    for uid in &parked {
        let waiting = by_conversation[uid].len();
        parked::count_skipped(&mut tx, projection.projector, uid, waiting).await?;
        outcome.parked += waiting;
    }
    let groups: Vec<Group> = order
        .into_iter()
        .map(|uid| {
            let mut items = by_conversation.remove(&uid).unwrap_or_default();
            items.sort_by_key(|i| i.version);
            Group { uid, items }
        })
        .collect();
    let counts = projection.model.apply(&mut tx, &groups).await?;
    outcome.applied = counts.applied;
    outcome.skipped = counts.skipped;
    let positions: Vec<(i32, i64)> = outcome.checkpoints.iter().map(|(p, o)| (*p, *o)).collect();
    convo_partitions::claims::store_positions(
        &mut *tx,
        projection.projector,
        projection.topic,
        projection.member,
        &positions,
    )
    .await?;
    tx.commit().await?;
    let projected = batch
        .iter()
        .filter(|i| held.contains(&i.partition))
        .filter(|i| !parked.contains(&i.record.conversation_uid));
    trace_events(projection, projected);
    Ok(outcome)
}

/// Each event the batch projected as a `projector_event` span in the trace of the command that
/// wrote it (its `traceparent`: the span's parent), with one `event projected` line. Both are at
/// debug level: a batch carries events of many traces, so the batch span itself has no trace id,
/// and at the default level this costs nothing per event.
fn trace_events<'a>(projection: Projection<'_>, projected: impl Iterator<Item = &'a Incoming>) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    for incoming in projected {
        let record = &incoming.record;
        let parent = record.trace();
        let trace = convo_trace::TraceContext::child_of(parent.as_ref());
        tracing::debug_span!(
            "projector_event",
            projector = projection.projector,
            conversation = %record.conversation_uid,
            version = record.version,
            trace_id = %trace.trace_id(),
            span_id = %trace.span_id(),
            parent_id = parent.map(|p| p.span_id()).as_deref(),
        )
        .in_scope(|| tracing::debug!(event_id = %record.event_id, "event projected"));
    }
}

/// The event a record carries, in the current shape (upcast from the schema version it was
/// written with).
pub(crate) fn decode(record: &EventRecord) -> Result<Event, String> {
    Event::decode(record.schema_version, &record.payload).map_err(|e| e.to_string())
}
