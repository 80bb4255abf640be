//! Each staff's follow-ups, for follow-up counts (`convo follow-ups`): built from the events
//! alone, without the conversation's state.
//!
//! - `rm_follow_up_conversations`: per conversation, its business, the last applied version, and
//!   whether its follow-ups count (a conversation in the trash, merged into another or deleted
//!   does not show in the follow-up folder, so its follow-ups do not count).
//! - `rm_follow_ups`: per conversation and staff, the follow-up as the latest event left it.
//! - `rm_follow_up_completions`: one row per completed follow-up, for "completed this week".
//!
//! A hard-deleted conversation is forgotten: its rows go, its conversation row stays as a
//! tombstone (version only) so that redelivered events stay no-ops.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use convo_domain::{Event, EventBody};
use sqlx::PgConnection;

use super::{Counts, Group, missing};
use crate::project::ProjectError;

/// A conversation as this model keeps it.
#[derive(Debug, Clone, Default)]
struct Conversation {
    business_uid: String,
    version: u64,
    trashed: bool,
    /// Merged into another, or deleted.
    gone: bool,
}

/// A staff's follow-up on a conversation, as the latest event left it.
#[derive(Debug, Clone)]
struct FollowUp {
    open: bool,
    due_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    version: u64,
}

#[derive(Default)]
struct Changes {
    conversations: BTreeMap<String, Conversation>,
    /// (conversation, staff) -> the follow-up after the batch.
    follow_ups: BTreeMap<(String, String), FollowUp>,
    /// (conversation, version, staff, completed at).
    completions: Vec<(String, u64, String, DateTime<Utc>)>,
    /// Hard-deleted conversations, whose rows go.
    deleted: Vec<String>,
}

impl Changes {
    fn note(&mut self, uid: &str, conversation: &mut Conversation, version: u64, event: &Event) {
        conversation.version = version;
        let staff = event.staff_uid.clone().unwrap_or_default();
        let mut follow_up = |open, due_at, completed_at| {
            self.follow_ups.insert(
                (uid.to_owned(), staff.clone()),
                FollowUp {
                    open,
                    due_at,
                    completed_at,
                    version,
                },
            );
        };
        match &event.body {
            EventBody::ConversationStarted { business_uid, .. } => {
                conversation.business_uid = business_uid.clone();
            }
            EventBody::SoftDeleted { .. } => conversation.trashed = true,
            EventBody::Restored => conversation.trashed = false,
            EventBody::MergedInto { .. } => conversation.gone = true,
            EventBody::ConversationDeleted => {
                conversation.gone = true;
                self.deleted.push(uid.to_owned());
                self.follow_ups.retain(|(c, _), _| c != uid);
                self.completions.retain(|(c, ..)| c != uid);
            }
            EventBody::FollowUpSet { due_at, .. } if event.staff_uid.is_some() => {
                follow_up(true, *due_at, None);
            }
            EventBody::FollowUpRemoved if event.staff_uid.is_some() => {
                follow_up(false, None, None);
            }
            EventBody::FollowUpCompleted if event.staff_uid.is_some() => {
                follow_up(false, None, Some(event.at));
                self.completions
                    .push((uid.to_owned(), version, staff.clone(), event.at));
            }
            _ => {}
        }
    }
}

/// Applies `groups` to the follow-up rows.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    groups: &[Group],
) -> Result<Counts, ProjectError> {
    let uids: Vec<String> = groups.iter().map(|g| g.uid.clone()).collect();
    let mut known = load_for_update(conn, &uids).await?;
    let mut changes = Changes::default();
    let mut counts = Counts::default();
    for group in groups {
        let uid = group.uid.as_str();
        let mut conversation = known.remove(uid).unwrap_or_default();
        let before = conversation.version;
        for item in &group.items {
            if item.version <= conversation.version {
                counts.skipped += 1;
                continue;
            }
            let event = item.event(uid)?;
            if item.version > conversation.version + 1 {
                tracing::warn!(conversation = %uid, upto = item.version - 1, "backfilling missing events from the event store");
                for (version, missed) in
                    missing(conn, uid, conversation.version, item.version).await?
                {
                    changes.note(uid, &mut conversation, version, &missed);
                }
            }
            changes.note(uid, &mut conversation, item.version, event);
            counts.applied += 1;
        }
        if conversation.version > before {
            changes.conversations.insert(uid.to_owned(), conversation);
        }
    }
    write(conn, changes).await?;
    Ok(counts)
}

/// Deletes the rows of conversation `uid`.
pub(crate) async fn forget(conn: &mut PgConnection, uid: &str) -> Result<(), sqlx::Error> {
    delete_rows(conn, &[uid.to_owned()]).await?;
    sqlx::query!(
        "DELETE FROM rm_follow_up_conversations WHERE conversation_uid = $1",
        uid
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn load_for_update(
    conn: &mut PgConnection,
    uids: &[String],
) -> Result<HashMap<String, Conversation>, sqlx::Error> {
    // One primary-key probe per uid, locked in uid order, as the conversations model does.
    let rows = sqlx::query!(
        r#"SELECT r.conversation_uid AS "conversation_uid!", r.business_uid AS "business_uid!",
                  r.version AS "version!", r.trashed AS "trashed!", r.gone AS "gone!"
           FROM (SELECT DISTINCT uid FROM unnest($1::text[]) AS uid ORDER BY uid) k
           CROSS JOIN LATERAL (
               SELECT conversation_uid, business_uid, version, trashed, gone
               FROM rm_follow_up_conversations
               WHERE conversation_uid = k.uid LIMIT 1 FOR UPDATE
           ) r"#,
        uids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let conversation = Conversation {
                business_uid: r.business_uid,
                version: u64::try_from(r.version).unwrap_or_default(),
                trashed: r.trashed,
                gone: r.gone,
            };
            (r.conversation_uid, conversation)
        })
        .collect())
}

async fn write(conn: &mut PgConnection, changes: Changes) -> Result<(), sqlx::Error> {
    upsert_conversations(conn, &changes.conversations).await?;
    upsert_follow_ups(conn, &changes).await?;
    insert_completions(conn, &changes).await?;
    delete_rows(conn, &changes.deleted).await?;
    Ok(())
}

async fn delete_rows(conn: &mut PgConnection, uids: &[String]) -> Result<(), sqlx::Error> {
    if uids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "DELETE FROM rm_follow_ups WHERE conversation_uid = ANY($1)",
        uids
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM rm_follow_up_completions WHERE conversation_uid = ANY($1)",
        uids
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn upsert_conversations(
    conn: &mut PgConnection,
    conversations: &BTreeMap<String, Conversation>,
) -> Result<(), sqlx::Error> {
    if conversations.is_empty() {
        return Ok(());
    }
    let uid: Vec<String> = conversations.keys().cloned().collect();
    let business: Vec<String> = conversations
        .values()
        .map(|c| c.business_uid.clone())
        .collect();
    let version: Vec<i64> = conversations.values().map(|c| c.version as i64).collect();
    let trashed: Vec<bool> = conversations.values().map(|c| c.trashed).collect();
    let gone: Vec<bool> = conversations.values().map(|c| c.gone).collect();
    sqlx::query!(
        "INSERT INTO rm_follow_up_conversations (conversation_uid, business_uid, version, trashed, gone)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bool[], $5::bool[])
         ON CONFLICT (conversation_uid) DO UPDATE SET business_uid = EXCLUDED.business_uid,
             version = EXCLUDED.version, trashed = EXCLUDED.trashed, gone = EXCLUDED.gone
         WHERE rm_follow_up_conversations.version < EXCLUDED.version",
        &uid,
        &business,
        &version,
        &trashed,
        &gone
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn upsert_follow_ups(conn: &mut PgConnection, changes: &Changes) -> Result<(), sqlx::Error> {
    if changes.follow_ups.is_empty() {
        return Ok(());
    }
    let mut conversation = Vec::new();
    let mut staff = Vec::new();
    let mut open = Vec::new();
    let mut due_at: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut completed_at: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut version = Vec::new();
    for ((c, s), f) in &changes.follow_ups {
        conversation.push(c.clone());
        staff.push(s.clone());
        open.push(f.open);
        due_at.push(f.due_at);
        completed_at.push(f.completed_at);
        version.push(f.version as i64);
    }
    sqlx::query!(
        "INSERT INTO rm_follow_ups (conversation_uid, staff_uid, open, due_at, completed_at, version)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bool[], $4::timestamptz[],
             $5::timestamptz[], $6::bigint[])
         ON CONFLICT (conversation_uid, staff_uid) DO UPDATE SET open = EXCLUDED.open,
             due_at = EXCLUDED.due_at, completed_at = EXCLUDED.completed_at,
             version = EXCLUDED.version
         WHERE rm_follow_ups.version < EXCLUDED.version",
        &conversation,
        &staff,
        &open,
        &due_at as &[Option<DateTime<Utc>>],
        &completed_at as &[Option<DateTime<Utc>>],
        &version
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_completions(conn: &mut PgConnection, changes: &Changes) -> Result<(), sqlx::Error> {
    if changes.completions.is_empty() {
        return Ok(());
    }
    let conversation: Vec<String> = changes.completions.iter().map(|c| c.0.clone()).collect();
    let version: Vec<i64> = changes.completions.iter().map(|c| c.1 as i64).collect();
    let staff: Vec<String> = changes.completions.iter().map(|c| c.2.clone()).collect();
    let at: Vec<DateTime<Utc>> = changes.completions.iter().map(|c| c.3).collect();
    sqlx::query!(
        "INSERT INTO rm_follow_up_completions (conversation_uid, version, staff_uid, completed_at)
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::timestamptz[])
         ON CONFLICT (conversation_uid, version) DO NOTHING",
        &conversation,
        &version,
        &staff,
        &at
    )
    .execute(conn)
    .await?;
    Ok(())
}
