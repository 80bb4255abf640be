//! Reading the read models: the conversation list of vcita's v1 API
//! (`GET /platform/v1/conversations`, `schemas/vcita/vcita-communication-v1.swagger.json`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;

/// vcita's folders. An unknown folder lists everything, as vcita does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// Neither archived, spam nor in the trash.
    Inbox,
    /// The requesting staff's active follow-ups, soonest first.
    FollowUp,
    /// Conversations the business has sent a message in.
    Sent,
    Archived,
    /// Unread for the business.
    Attention,
    /// Soft-deleted.
    Trash,
    /// Everything not in the trash.
    All,
}

impl Folder {
    pub fn parse(name: Option<&str>) -> Self {
        match name {
            Some("inbox") => Self::Inbox,
            Some("follow_up") => Self::FollowUp,
            Some("sent") => Self::Sent,
            Some("archived") => Self::Archived,
            Some("attention") => Self::Attention,
            Some("trash") => Self::Trash,
            _ => Self::All,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Inbox => "inbox",
            Self::FollowUp => "follow_up",
            Self::Sent => "sent",
            Self::Archived => "archived",
            Self::Attention => "attention",
            Self::Trash => "trash",
            Self::All => "all",
        }
    }
}

/// One page of `business_uid`'s conversations in `folder`, as `staff_uid` sees them, most
/// recently active first (follow-ups: soonest reminder first). `page` counts from 1. The read
/// state (`business_unread`, the attention folder) is the staff's own collaborator record's when
/// it has one, else the conversation's.
pub async fn list_conversations(
    pool: &PgPool,
    business_uid: &str,
    staff_uid: &str,
    folder: Folder,
    page: u32,
    per_page: u32,
) -> Result<Vec<Value>, sqlx::Error> {
    let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
    let rows = sqlx::query!(
        r#"SELECT c.uid, c.business_uid, c.client_uid, c.staff_uid, c.title,
                  c.created_at, c.updated_at, c.last_user_action_at, c.last_client_action_at,
                  coalesce(me.unread, c.business_unread) AS "unread!",
                  CASE WHEN me.follow_up THEN me.follow_up_date END AS "follow_up_date?"
           FROM rm_conversations c
           LEFT JOIN rm_collaborators me ON me.conversation_uid = c.uid AND me.staff_uid = $2
           WHERE c.business_uid = $1 AND c.lifecycle = 'open'
             AND CASE $3
                 WHEN 'inbox' THEN c.deleted_at IS NULL AND NOT c.archived AND NOT c.spam
                 WHEN 'follow_up' THEN c.deleted_at IS NULL AND coalesce(me.follow_up, false)
                 WHEN 'sent' THEN c.deleted_at IS NULL AND c.sent
                 WHEN 'archived' THEN c.deleted_at IS NULL AND c.archived
                 WHEN 'attention' THEN c.deleted_at IS NULL AND coalesce(me.unread, c.business_unread)
                                       AND NOT c.spam
                 WHEN 'trash' THEN c.deleted_at IS NOT NULL
                 ELSE c.deleted_at IS NULL
             END
           ORDER BY CASE WHEN $3 = 'follow_up' THEN me.follow_up_date END ASC NULLS LAST,
                    c.updated_at DESC, c.uid
           LIMIT $4 OFFSET $5"#,
        business_uid,
        staff_uid,
        folder.code(),
        i64::from(per_page),
        offset
    )
    .fetch_all(pool)
    .await?;
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    Ok(rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.uid,
                "business_id": r.business_uid,
                "business_unread": r.unread,
                "client_id": r.client_uid,
                "client_unread": false,
                "created_at": time(r.created_at),
                "deep_link": format!("/app/conversations/{}", r.uid),
                "last_business_action": r.last_user_action_at.map(time).unwrap_or_default(),
                "last_client_action": r.last_client_action_at.map(time),
                "staff_id": r.staff_uid,
                "title": r.title,
                "updated_at": time(r.updated_at),
                "follow_up_date": r.follow_up_date.map(time),
            })
        })
        .collect())
}
