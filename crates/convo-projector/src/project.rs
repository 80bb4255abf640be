//! Applying events to the read models: one transaction per batch, checkpoints included.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use convo_domain::state::{Lifecycle, STATE_SCHEMA};
use convo_domain::{Conversation, Event, EventBody};
use convo_kafka::EventRecord;
use sqlx::{PgConnection, PgPool};

use crate::parked;

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

/// Who applies a batch: the projector (its read models' positions are keyed by its name), the
/// topic the records came from, and the member holding their partitions (`partition_claims`).
#[derive(Debug, Clone, Copy)]
pub struct Projection<'a> {
    pub projector: &'a str,
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
    let mut by_conversation: HashMap<String, Vec<&Incoming>> = HashMap::new();
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
            .push(incoming);
    }
    let parked = parked::skip_parked(&mut tx, projection.projector, &mut order).await?;
    for uid in &parked {
        let waiting = by_conversation[uid].len();
        parked::count_skipped(&mut tx, projection.projector, uid, waiting).await?;
        outcome.parked += waiting;
    }

    let mut reshaped = Vec::new();
    let mut states = load_states_for_update(&mut tx, &order, &mut reshaped).await?;
    let mut changes = Changes::default();
    for uid in &order {
        let before = states
            .remove(uid)
            .unwrap_or_else(|| Conversation::new(uid.as_str()));
        let mut state = before.clone();
        for incoming in &by_conversation[uid] {
            let version = incoming.record.version;
            if version <= state.version {
                outcome.skipped += 1;
                continue;
            }
            let event = decode(&incoming.record)?;
            if version > state.version + 1 {
                state = backfill(&mut tx, state, version).await?;
            }
            changes.note(&state, version, &event);
            state = state.evolve(&event);
            outcome.applied += 1;
        }
        if state.version > before.version || reshaped.contains(uid) {
            changes.conversations.push(state);
        }
    }
    changes.write(&mut tx).await?;
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
    Ok(outcome)
}

fn decode(record: &EventRecord) -> Result<Event, ProjectError> {
    serde_json::from_str(&record.payload).map_err(|e| ProjectError::Undecodable {
        conversation_uid: record.conversation_uid.clone(),
        version: record.version,
        reason: e.to_string(),
    })
}

/// The read-model states of `uids`, locked until the transaction ends. A row of another shape
/// ([`STATE_SCHEMA`]) is refolded from the event store up to its version, and listed in
/// `reshaped` so that it is written again even if no new event applies.
async fn load_states_for_update(
    conn: &mut PgConnection,
    uids: &[String],
    reshaped: &mut Vec<String>,
) -> Result<HashMap<String, Conversation>, ProjectError> {
    let rows = sqlx::query!(
        "SELECT uid, version, state_schema, state FROM rm_conversations
         WHERE uid = ANY($1) ORDER BY uid FOR UPDATE",
        uids
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut states = HashMap::with_capacity(rows.len());
    for row in rows {
        let version = u64::try_from(row.version).unwrap_or_default();
        let state = if row.state_schema == STATE_SCHEMA {
            serde_json::from_value(row.state).map_err(|e| ProjectError::Undecodable {
                conversation_uid: row.uid.clone(),
                version,
                reason: format!("read-model state: {e}"),
            })?
        } else {
            reshaped.push(row.uid.clone());
            backfill(conn, Conversation::new(row.uid.as_str()), version + 1).await?
        };
        states.insert(row.uid, state);
    }
    Ok(states)
}

/// Events between the state's version and `next` never reached this projector (a topic that was
/// truncated, or a projector started on a partial topic): read them from the event store.
async fn backfill(
    conn: &mut PgConnection,
    mut state: Conversation,
    next: u64,
) -> Result<Conversation, ProjectError> {
    let stored =
        convo_store::events::stream(conn, &state.uid.clone(), state.version, Some(next)).await?;
    for stored in stored {
        let event = stored.event().map_err(|e| ProjectError::Undecodable {
            conversation_uid: state.uid.clone(),
            version: stored.version,
            reason: e.to_string(),
        })?;
        state = state.evolve(&event);
    }
    if state.version + 1 != next {
        return Err(ProjectError::Gap {
            conversation_uid: state.uid.clone(),
            from: state.version + 1,
            to: next - 1,
        });
    }
    tracing::warn!(conversation = %state.uid, upto = next - 1, "backfilled missing events from the event store");
    Ok(state)
}

/// The rows a batch writes.
#[derive(Default)]
pub(crate) struct Changes {
    pub(crate) conversations: Vec<Conversation>,
    messages: Vec<MessageRow>,
    started_clients: Vec<(String, convo_domain::state::ClientInfo)>,
    /// client uid -> (spam, when), the latest in the batch.
    client_spam: BTreeMap<String, (bool, DateTime<Utc>)>,
}

struct MessageRow {
    conversation_uid: String,
    version: i64,
    message_id: Option<String>,
    kind: &'static str,
    title: String,
    text: String,
    staff_uid: Option<String>,
    at: DateTime<Utc>,
}

impl Changes {
    /// Records the rows `event` (at `version`, applied to `state`) adds beside the conversation.
    pub(crate) fn note(&mut self, state: &Conversation, version: u64, event: &Event) {
        let message = |kind, id: Option<&String>, title: &str, text: &str| MessageRow {
            conversation_uid: state.uid.clone(),
            version: version as i64,
            message_id: id.cloned(),
            kind,
            title: title.to_owned(),
            text: text.to_owned(),
            staff_uid: event.staff_uid.clone(),
            at: event.at,
        };
        match &event.body {
            EventBody::ConversationStarted {
                business_uid,
                client,
                ..
            } => self
                .started_clients
                .push((business_uid.clone(), client.clone())),
            EventBody::MessageRecorded {
                message_id,
                direction,
                title,
                text,
            } => {
                let kind = match direction {
                    convo_domain::command::Direction::Incoming => "incoming",
                    convo_domain::command::Direction::Outgoing => "outgoing",
                };
                self.messages
                    .push(message(kind, Some(message_id), title, text));
            }
            EventBody::InternalNoteAdded { text } => {
                self.messages
                    .push(message("internal_note", None, "Follow-up note", text));
            }
            EventBody::MarkedSpam => {
                self.client_spam
                    .insert(event.client_uid.clone(), (true, event.at));
            }
            EventBody::UnmarkedSpam => {
                self.client_spam
                    .insert(event.client_uid.clone(), (false, event.at));
            }
            _ => {}
        }
    }

    pub(crate) async fn write(mut self, conn: &mut PgConnection) -> Result<(), ProjectError> {
        // Hard-deleted conversations are forgotten: a tombstone row keeps only the version.
        let deleted: Vec<String> = self
            .conversations
            .iter()
            .filter(|c| c.lifecycle == Lifecycle::Deleted)
            .map(|c| c.uid.clone())
            .collect();
        for state in &mut self.conversations {
            *state = read_model_form(std::mem::take(state));
        }
        self.messages
            .retain(|m| !deleted.contains(&m.conversation_uid));
        upsert_conversations(conn, &self.conversations).await?;
        upsert_collaborators(conn, &self.conversations).await?;
        if !deleted.is_empty() {
            sqlx::query!(
                "DELETE FROM rm_messages WHERE conversation_uid = ANY($1)",
                &deleted
            )
            .execute(&mut *conn)
            .await?;
            sqlx::query!(
                "DELETE FROM rm_collaborators WHERE conversation_uid = ANY($1)",
                &deleted
            )
            .execute(&mut *conn)
            .await?;
        }
        insert_messages(conn, &self.messages).await?;
        upsert_clients(conn, &self.started_clients).await?;
        update_client_spam(conn, &self.client_spam).await?;
        Ok(())
    }
}

/// The conversation as its read-model row holds it: the state itself, except that a hard-deleted
/// conversation is forgotten and keeps only a tombstone (uid, version, business, times).
pub fn read_model_form(state: Conversation) -> Conversation {
    if state.lifecycle != Lifecycle::Deleted {
        return state;
    }
    Conversation {
        uid: state.uid,
        version: state.version,
        lifecycle: Lifecycle::Deleted,
        business_uid: state.business_uid,
        created_at: state.created_at,
        updated_at: state.updated_at,
        ..Conversation::default()
    }
}

fn lifecycle_name(lifecycle: &Lifecycle) -> &'static str {
    match lifecycle {
        Lifecycle::New => "new",
        Lifecycle::Open => "open",
        Lifecycle::Merged { .. } => "merged",
        Lifecycle::Deleted => "deleted",
    }
}

async fn upsert_conversations(
    conn: &mut PgConnection,
    states: &[Conversation],
) -> Result<(), ProjectError> {
    if states.is_empty() {
        return Ok(());
    }
    let mut uid = Vec::new();
    let mut business = Vec::new();
    let mut version = Vec::new();
    let mut lifecycle = Vec::new();
    let mut title = Vec::new();
    let mut client = Vec::new();
    let mut staff = Vec::new();
    let mut archived = Vec::new();
    let mut spam = Vec::new();
    let mut unread = Vec::new();
    let mut sent = Vec::new();
    let mut deleted_at: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut created_at = Vec::new();
    let mut updated_at = Vec::new();
    let mut user_at: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut client_at: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut state = Vec::new();
    for s in states {
        let created = s.created_at.unwrap_or_default();
        let latest = s.updated_at.unwrap_or(created);
        uid.push(s.uid.clone());
        business.push(s.business_uid.clone());
        version.push(s.version as i64);
        lifecycle.push(lifecycle_name(&s.lifecycle).to_owned());
        title.push(s.title.clone());
        client.push(s.client.uid.clone());
        staff.push(s.staff.uid.clone());
        archived.push(s.archived);
        spam.push(s.spam);
        unread.push(s.business_unread);
        sent.push(s.sent);
        deleted_at.push(s.deleted_at);
        created_at.push(created);
        updated_at.push(latest);
        user_at.push(s.last_user_action_at);
        client_at.push(s.last_client_action_at);
        state.push(serde_json::to_value(s).unwrap_or_default());
    }
    sqlx::query!(
        "INSERT INTO rm_conversations (uid, business_uid, version, lifecycle, title, client_uid,
             staff_uid, archived, spam, business_unread, sent, deleted_at, created_at, updated_at,
             last_user_action_at, last_client_action_at, state, state_schema)
         SELECT u.*, $18::int FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[],
             $5::text[], $6::text[], $7::text[], $8::bool[], $9::bool[], $10::bool[], $11::bool[],
             $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[],
             $16::timestamptz[], $17::jsonb[]) AS u
         ON CONFLICT (uid) DO UPDATE SET
             business_uid = EXCLUDED.business_uid, version = EXCLUDED.version,
             lifecycle = EXCLUDED.lifecycle, title = EXCLUDED.title,
             client_uid = EXCLUDED.client_uid, staff_uid = EXCLUDED.staff_uid,
             archived = EXCLUDED.archived, spam = EXCLUDED.spam,
             business_unread = EXCLUDED.business_unread, sent = EXCLUDED.sent,
             deleted_at = EXCLUDED.deleted_at, created_at = EXCLUDED.created_at,
             updated_at = EXCLUDED.updated_at, last_user_action_at = EXCLUDED.last_user_action_at,
             last_client_action_at = EXCLUDED.last_client_action_at, state = EXCLUDED.state,
             state_schema = EXCLUDED.state_schema
         WHERE rm_conversations.version < EXCLUDED.version
            OR rm_conversations.state_schema <> EXCLUDED.state_schema",
        &uid,
        &business,
        &version,
        &lifecycle,
        &title,
        &client,
        &staff,
        &archived,
        &spam,
        &unread,
        &sent,
        &deleted_at as &[Option<DateTime<Utc>>],
        &created_at,
        &updated_at,
        &user_at as &[Option<DateTime<Utc>>],
        &client_at as &[Option<DateTime<Utc>>],
        &state,
        STATE_SCHEMA
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn upsert_collaborators(
    conn: &mut PgConnection,
    states: &[Conversation],
) -> Result<(), ProjectError> {
    let mut conversation = Vec::new();
    let mut staff = Vec::new();
    let mut follow_up = Vec::new();
    let mut date: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut message = Vec::new();
    let mut completed: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut unread = Vec::new();
    let mut version = Vec::new();
    for s in states {
        for (staff_uid, c) in &s.collaborators {
            conversation.push(s.uid.clone());
            staff.push(staff_uid.clone());
            follow_up.push(c.follow_up);
            date.push(c.follow_up_date);
            message.push(c.follow_up_message.clone());
            completed.push(c.follow_up_completed_at);
            unread.push(c.unread);
            version.push(s.version as i64);
        }
    }
    if conversation.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO rm_collaborators (conversation_uid, staff_uid, follow_up, follow_up_date,
             follow_up_message, follow_up_completed_at, unread, version)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bool[], $4::timestamptz[], $5::text[],
             $6::timestamptz[], $7::bool[], $8::bigint[])
         ON CONFLICT (conversation_uid, staff_uid) DO UPDATE SET
             follow_up = EXCLUDED.follow_up, follow_up_date = EXCLUDED.follow_up_date,
             follow_up_message = EXCLUDED.follow_up_message,
             follow_up_completed_at = EXCLUDED.follow_up_completed_at,
             unread = EXCLUDED.unread, version = EXCLUDED.version
         WHERE rm_collaborators.version < EXCLUDED.version",
        &conversation,
        &staff,
        &follow_up,
        &date as &[Option<DateTime<Utc>>],
        &message,
        &completed as &[Option<DateTime<Utc>>],
        &unread,
        &version
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_messages(conn: &mut PgConnection, rows: &[MessageRow]) -> Result<(), ProjectError> {
    if rows.is_empty() {
        return Ok(());
    }
    let conversation: Vec<String> = rows.iter().map(|m| m.conversation_uid.clone()).collect();
    let version: Vec<i64> = rows.iter().map(|m| m.version).collect();
    let id: Vec<Option<String>> = rows.iter().map(|m| m.message_id.clone()).collect();
    let kind: Vec<String> = rows.iter().map(|m| m.kind.to_owned()).collect();
    let title: Vec<String> = rows.iter().map(|m| m.title.clone()).collect();
    let text: Vec<String> = rows.iter().map(|m| m.text.clone()).collect();
    let staff: Vec<Option<String>> = rows.iter().map(|m| m.staff_uid.clone()).collect();
    let at: Vec<DateTime<Utc>> = rows.iter().map(|m| m.at).collect();
    sqlx::query!(
        "INSERT INTO rm_messages (conversation_uid, version, message_id, kind, title, text, staff_uid, at)
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
             $6::text[], $7::text[], $8::timestamptz[])
         ON CONFLICT (conversation_uid, version) DO NOTHING",
        &conversation,
        &version,
        &id as &[Option<String>],
        &kind,
        &title,
        &text,
        &staff as &[Option<String>],
        &at
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn upsert_clients(
    conn: &mut PgConnection,
    clients: &[(String, convo_domain::state::ClientInfo)],
) -> Result<(), ProjectError> {
    let mut sorted: Vec<_> = clients.iter().collect();
    sorted.sort_by(|a, b| a.1.uid.cmp(&b.1.uid));
    sorted.dedup_by(|a, b| a.1.uid == b.1.uid);
    for (business_uid, client) in sorted {
        let record = serde_json::Value::Object(client.full.clone());
        sqlx::query!(
            "INSERT INTO rm_clients (uid, business_uid, first_name, last_name, email, phone, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (uid) DO UPDATE SET first_name = EXCLUDED.first_name,
                 last_name = EXCLUDED.last_name, email = EXCLUDED.email, phone = EXCLUDED.phone,
                 record = EXCLUDED.record",
            client.uid,
            business_uid,
            client.first_name,
            client.last_name,
            client.email,
            client.phone,
            record
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The latest spam change wins, whichever conversation it came through.
async fn update_client_spam(
    conn: &mut PgConnection,
    changes: &BTreeMap<String, (bool, DateTime<Utc>)>,
) -> Result<(), ProjectError> {
    for (uid, (spam, at)) in changes {
        sqlx::query!(
            "UPDATE rm_clients SET spam = $2, spam_changed_at = $3
             WHERE uid = $1 AND (spam_changed_at IS NULL OR spam_changed_at <= $3)",
            uid,
            spam,
            at
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
