//! Spec §8: vcita's `Conversation` object (`ConversationDecorator`), rendered from the state.
//!
//! Rendering decisions where vcita's schema leaves room:
//! - `follow_up*` are the requesting staff's; `follow_up_date` is `null` without a date.
//! - `last_*_action_at` are `null` before any such action, and their `_h` forms `""`.
//! - Deep-only string fields that the conversation lacks render as `""`.
//! - Every timestamp is UTC RFC 3339 with `Z` at second precision; human forms are English, UTC.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::state::Conversation;

mod shape;
pub use shape::{RenderedClient, RenderedConversation, RenderedMessage, RenderedStaff};

/// How much to render: vcita's `full_client` query switches to `Deep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Depth {
    Shallow,
    Deep,
}

/// `full_client` is truthy when present and not `""`, `0`, `false`, `f`, `off`, `no`
/// (case-insensitive) (spec §1).
pub fn depth_from_full_client(value: Option<&str>) -> Depth {
    match value {
        Some(v)
            if !matches!(
                v.to_ascii_lowercase().as_str(),
                "" | "0" | "false" | "f" | "off" | "no"
            ) =>
        {
            Depth::Deep
        }
        _ => Depth::Shallow,
    }
}

/// UTC RFC 3339 with `Z`, second precision.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// [`rendered`] as JSON: the body the API answers with.
pub fn render(state: &Conversation, staff_uid: &str, depth: Depth, now: DateTime<Utc>) -> Value {
    serde_json::to_value(rendered(state, staff_uid, depth, now))
        .expect("a rendered conversation serializes")
}

/// The conversation as `staff_uid` sees it. `now` only feeds the human-readable forms.
pub fn rendered(
    state: &Conversation,
    staff_uid: &str,
    depth: Depth,
    now: DateTime<Utc>,
) -> RenderedConversation {
    let collaborator = state.collaborator(staff_uid).filter(|c| c.follow_up);
    let follow_up_date = collaborator.and_then(|c| c.follow_up_date);
    let human = |at: Option<DateTime<Utc>>| at.map(|t| human_time(t, now)).unwrap_or_default();
    let deep = depth == Depth::Deep;
    let source = &state.source;
    let deep_text = |s: &Option<String>| deep.then(|| s.clone().unwrap_or_default());
    RenderedConversation {
        uid: state.uid.clone(),
        title: state.title.clone(),
        follow_up: collaborator.is_some(),
        follow_up_date: follow_up_date.map(timestamp),
        follow_up_message: collaborator
            .map(|c| c.follow_up_message.clone())
            .unwrap_or_default(),
        follow_up_text: follow_up_text(collaborator.is_some(), follow_up_date),
        business_unread: state.business_unread,
        spam: state.spam,
        archived: state.archived,
        sent: state.sent,
        received: state.received,
        deleted: state.deleted_at.is_some(),
        matter_searchable: state.matter_searchable,
        last_user_action_at: state.last_user_action_at.map(timestamp),
        last_user_action_at_h: human(state.last_user_action_at),
        last_client_action_at: state.last_client_action_at.map(timestamp),
        last_client_action_at_h: human(state.last_client_action_at),
        last_message: state.last_message.as_ref().map(|m| RenderedMessage {
            title: m.title.clone(),
            text: m.text.clone(),
            message_of: m.message_of.clone(),
            extra_data: Map::new(),
        }),
        depth,
        message_count: state.message_count,
        client: client(state, depth),
        staff: RenderedStaff {
            uid: state.staff.uid.clone(),
            display_name: state.staff.display_name.clone(),
        },
        has_matter: false,
        matter: None,
        require_attention: deep.then_some(state.business_unread),
        source: deep_text(&source.source),
        source_data: deep.then(|| source.source_data.clone()),
        source_type: deep_text(&source.source_type),
        source_type_h: deep.then(|| humanize(source.source_type.as_deref().unwrap_or(""))),
        sourceable_type: deep_text(&source.sourceable_type),
        sourceable_id: deep_text(&source.sourceable_id),
    }
}

fn client(state: &Conversation, depth: Depth) -> RenderedClient {
    let c = &state.client;
    let mut full = Map::new();
    if depth == Depth::Deep {
        full.extend(
            c.full
                .iter()
                .filter(|(key, _)| !RenderedClient::SUMMARY_FIELDS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone())),
        );
    }
    RenderedClient {
        full,
        uid: c.uid.clone(),
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        display_name: format!("{} {}", c.first_name, c.last_name)
            .trim()
            .to_owned(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        spam: state.client_spam,
    }
}

/// "Reminder set for Wed, May 6 at 10:31 AM UTC"; "Follow-up set" without a date; "" when none.
fn follow_up_text(active: bool, date: Option<DateTime<Utc>>) -> String {
    match (active, date) {
        (false, _) => String::new(),
        (true, None) => "Follow-up set".to_owned(),
        (true, Some(d)) => format!(
            "Reminder set for {}",
            d.format("%a, %b %-d at %-I:%M %p UTC")
        ),
    }
}

/// "Today, 10:30 AM", "Yesterday, 4:12 PM", "May 4, 4:12 PM" (this year), "May 4, 2025".
pub fn human_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let (day, today) = (at.date_naive(), now.date_naive());
    let clock = at.format("%-I:%M %p");
    if day == today {
        format!("Today, {clock}")
    } else if today.pred_opt() == Some(day) {
        format!("Yesterday, {clock}")
    } else if day.year() == today.year() {
        format!("{}, {clock}", at.format("%b %-d"))
    } else {
        at.format("%b %-d, %Y").to_string()
    }
}

/// "contact_form" -> "Contact form".
fn humanize(code: &str) -> String {
    let spaced = code.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
