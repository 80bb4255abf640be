//! The conversation rows the API lists and renders: `rm_conversations` (the folded state and the
//! columns lists filter on), `rm_collaborators` (each staff's follow-up and read state),
//! `rm_messages` and `rm_clients`. Every row carries the conversation version it reflects.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use convo_domain::state::{Lifecycle, STATE_SCHEMA};
use convo_domain::{Conversation, Event, EventBody};
use sqlx::PgConnection;

use super::{Counts, Group, missing};
use crate::project::ProjectError;

/// Applies `groups` to the conversation rows.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    groups: &[Group],
) -> Result<Counts, ProjectError> {
    let uids: Vec<String> = groups.iter().map(|g| g.uid.clone()).collect();
    let mut reshaped = Vec::new();
    let mut states = load_states_for_update(conn, &uids, &mut reshaped).await?;
    let mut changes = Changes::default();
    let mut counts = Counts::default();
    for group in groups {
        let uid = group.uid.as_str();
        let before = states.remove(uid).unwrap_or_else(|| Conversation::new(uid));
        let mut state = before.clone();
        for item in &group.items {
            if item.version <= state.version {
                counts.skipped += 1;
                continue;
            }
            let event = item.event(uid)?;
            if item.version > state.version + 1 {
                tracing::warn!(conversation = %uid, upto = item.version - 1, "backfilling missing events from the event store");
                for (version, missed) in missing(conn, uid, state.version, item.version).await? {
                    changes.note(&state, version, &missed);
                    state = state.evolve(&missed);
                }
            }
            changes.note(&state, item.version, event);
            state = state.evolve(event);
            counts.applied += 1;
        }
        if state.version > before.version || reshaped.iter().any(|r| r == uid) {
            changes.conversations.push(state);
        }
    }
    changes.write(conn).await?;
    Ok(counts)
}

/// Deletes the rows of conversation `uid` (its client's row stays: clients are shared).
pub(crate) async fn forget(conn: &mut PgConnection, uid: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM rm_messages WHERE conversation_uid = $1", uid)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "DELETE FROM rm_collaborators WHERE conversation_uid = $1",
        uid
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM rm_conversations WHERE uid = $1", uid)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The read-model states of `uids`, locked until the transaction ends. A row of another shape
/// ([`STATE_SCHEMA`]) is refolded from the event store up to its version, and listed in
/// `reshaped` so that it is written again even if no new event applies.
async fn load_states_for_update(
    conn: &mut PgConnection,
    uids: &[String],
    reshaped: &mut Vec<String>,
) -> Result<HashMap<String, Conversation>, ProjectError> {
    // One primary-key probe per uid, locked in uid order (the outer list is sorted and the
    // LATERAL subquery cannot be flattened): a generic plan made while the table was small
    // cannot become a scan of the whole table.
    let rows = sqlx::query!(
        r#"SELECT r.uid AS "uid!", r.version AS "version!", r.state_schema AS "state_schema!",
                  r.state AS "state!"
           FROM (SELECT DISTINCT uid FROM unnest($1::text[]) AS uid ORDER BY uid) k
           CROSS JOIN LATERAL (
               SELECT uid, version, state_schema, state FROM rm_conversations
               WHERE uid = k.uid LIMIT 1 FOR UPDATE
           ) r"#,
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
            refold(conn, &row.uid, version).await?
        };
        states.insert(row.uid, state);
    }
    Ok(states)
}

/// The state of `uid` folded from the event store up to `version`.
async fn refold(
    conn: &mut PgConnection,
    uid: &str,
    version: u64,
) -> Result<Conversation, ProjectError> {
    let mut state = Conversation::new(uid);
    for (_, event) in missing(conn, uid, 0, version + 1).await? {
        state = state.evolve(&event);
    }
    Ok(state)
}

/// The rows a batch writes.
#[derive(Default)]
struct Changes {
    conversations: Vec<Conversation>,
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
    fn note(&mut self, state: &Conversation, version: u64, event: &Event) {
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

    async fn write(mut self, conn: &mut PgConnection) -> Result<(), ProjectError> {
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
    if sorted.is_empty() {
        return Ok(());
    }
    let mut uid = Vec::with_capacity(sorted.len());
    let mut business = Vec::with_capacity(sorted.len());
    let mut first_name = Vec::with_capacity(sorted.len());
    let mut last_name = Vec::with_capacity(sorted.len());
    let mut email = Vec::with_capacity(sorted.len());
    let mut phone = Vec::with_capacity(sorted.len());
    let mut record = Vec::with_capacity(sorted.len());
    for (business_uid, client) in sorted {
        uid.push(client.uid.clone());
        business.push(business_uid.clone());
        first_name.push(client.first_name.clone());
        last_name.push(client.last_name.clone());
        email.push(client.email.clone());
        phone.push(client.phone.clone());
        record.push(serde_json::Value::Object(client.full.clone()));
    }
    sqlx::query!(
        "INSERT INTO rm_clients (uid, business_uid, first_name, last_name, email, phone, record)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
             $6::text[], $7::jsonb[])
         ON CONFLICT (uid) DO UPDATE SET first_name = EXCLUDED.first_name,
             last_name = EXCLUDED.last_name, email = EXCLUDED.email, phone = EXCLUDED.phone,
             record = EXCLUDED.record",
        &uid,
        &business,
        &first_name,
        &last_name,
        &email as &[Option<String>],
        &phone as &[Option<String>],
        &record
    )
    .execute(conn)
    .await?;
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
