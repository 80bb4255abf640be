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

/// One staff's follow-up counts (the follow-ups read model). Counted are follow-ups on
/// conversations that show in the follow-up folder (not in the trash, merged or deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FollowUpCounts {
    pub staff_uid: String,
    /// Active follow-ups.
    pub open: i64,
    /// Active follow-ups due today (UTC), including those whose time today has passed.
    pub due_today: i64,
    /// Active follow-ups whose due time has passed.
    pub overdue: i64,
    /// Follow-ups completed since Monday 00:00 UTC.
    pub completed_this_week: i64,
}

/// The follow-up counts of each staff of `business_uid` (or of `staff_uid` alone) at `now`.
pub async fn follow_up_counts(
    pool: &PgPool,
    business_uid: &str,
    staff_uid: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<FollowUpCounts>, sqlx::Error> {
    use chrono::{Datelike, Duration, TimeZone};
    let today = Utc
        .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
        .single()
        .unwrap_or(now);
    let week = today - Duration::days(i64::from(now.weekday().num_days_from_monday()));
    let open = sqlx::query!(
        r#"SELECT f.staff_uid,
                  count(*) FILTER (WHERE f.open) AS "open!",
                  count(*) FILTER (WHERE f.open AND f.due_at >= $3 AND f.due_at < $4) AS "due_today!",
                  count(*) FILTER (WHERE f.open AND f.due_at < $5) AS "overdue!"
           FROM rm_follow_ups f JOIN rm_follow_up_conversations c USING (conversation_uid)
           WHERE c.business_uid = $1 AND NOT c.trashed AND NOT c.gone
             AND ($2::text IS NULL OR f.staff_uid = $2)
           GROUP BY f.staff_uid"#,
        business_uid,
        staff_uid,
        today,
        today + Duration::days(1),
        now
    )
    .fetch_all(pool)
    .await?;
    let completed = sqlx::query!(
        r#"SELECT d.staff_uid, count(*) AS "completed!"
           FROM rm_follow_up_completions d JOIN rm_follow_up_conversations c USING (conversation_uid)
           WHERE c.business_uid = $1 AND ($2::text IS NULL OR d.staff_uid = $2)
             AND d.completed_at >= $3 AND d.completed_at <= $4
           GROUP BY d.staff_uid"#,
        business_uid,
        staff_uid,
        week,
        now
    )
    .fetch_all(pool)
    .await?;
    let mut counts: std::collections::BTreeMap<String, FollowUpCounts> = Default::default();
    for row in open {
        counts.insert(
            row.staff_uid.clone(),
            FollowUpCounts {
                staff_uid: row.staff_uid,
                open: row.open,
                due_today: row.due_today,
                overdue: row.overdue,
                completed_this_week: 0,
            },
        );
    }
    for row in completed {
        let entry = counts.entry(row.staff_uid.clone()).or_default();
        entry.staff_uid = row.staff_uid;
        entry.completed_this_week = row.completed;
    }
    Ok(counts
        .into_values()
        .filter(|c| c.open > 0 || c.completed_this_week > 0)
        .collect())
}
