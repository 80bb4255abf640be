//! Spec §8: vcita's `Conversation` object (`ConversationDecorator`), rendered from the state.
//!
//! Rendering decisions where vcita's schema leaves room:
//! - `follow_up*` are the requesting staff's; `follow_up_date` is `null` without a date.
//! - `last_*_action_at` are `null` before any such action, and their `_h` forms `""`.
//! - Deep-only string fields that the conversation lacks render as `""`.
//! - Every timestamp is UTC RFC 3339 with `Z` at second precision; human forms are English, UTC.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::state::Conversation;

/// How much to render: vcita's `full_client` query switches to `Deep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Renders the conversation as `staff_uid` sees it. `now` only feeds the human-readable forms.
pub fn render(state: &Conversation, staff_uid: &str, depth: Depth, now: DateTime<Utc>) -> Value {
    let collaborator = state.collaborator(staff_uid).filter(|c| c.follow_up);
    let follow_up_date = collaborator.and_then(|c| c.follow_up_date);
    let mut out = json!({
        "uid": state.uid,
        "title": state.title,
        "follow_up": collaborator.is_some(),
        "follow_up_date": follow_up_date.map(timestamp),
        "follow_up_message": collaborator.map(|c| c.follow_up_message.as_str()).unwrap_or(""),
        "follow_up_text": follow_up_text(collaborator.is_some(), follow_up_date),
        "business_unread": state.business_unread,
        "spam": state.spam,
        "archived": state.archived,
        "sent": state.sent,
        "received": state.received,
        "deleted": state.deleted_at.is_some(),
        "matter_searchable": state.matter_searchable,
        "last_user_action_at": state.last_user_action_at.map(timestamp),
        "last_user_action_at_h": state.last_user_action_at.map(|t| human_time(t, now)).unwrap_or_default(),
        "last_client_action_at": state.last_client_action_at.map(timestamp),
        "last_client_action_at_h": state.last_client_action_at.map(|t| human_time(t, now)).unwrap_or_default(),
        "last_message": state.last_message.as_ref().map(|m| json!({
            "title": m.title, "text": m.text, "message_of": m.message_of, "extra_data": {}
        })),
        "depth": match depth { Depth::Shallow => "shallow", Depth::Deep => "deep" },
        "message_count": state.message_count,
        "client": client(state, depth),
        "staff": {"uid": state.staff.uid, "display_name": state.staff.display_name},
        "has_matter": false,
        "matter": null,
    });
    if depth == Depth::Deep {
        let source = &state.source;
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        let deep = json!({
            "require_attention": state.business_unread,
            "source": text(&source.source),
            "source_data": source.source_data,
            "source_type": text(&source.source_type),
            "source_type_h": humanize(source.source_type.as_deref().unwrap_or("")),
            "sourceable_type": text(&source.sourceable_type),
            "sourceable_id": text(&source.sourceable_id),
        });
        if let (Value::Object(out), Value::Object(deep)) = (&mut out, deep) {
            out.extend(deep);
        }
    }
    out
}

fn client(state: &Conversation, depth: Depth) -> Value {
    let c = &state.client;
    let mut map = Map::new();
    if depth == Depth::Deep {
        map.extend(c.full.clone());
    }
    let display_name = format!("{} {}", c.first_name, c.last_name)
        .trim()
        .to_owned();
    map.extend([
        ("uid".to_owned(), json!(c.uid)),
        ("first_name".to_owned(), json!(c.first_name)),
        ("last_name".to_owned(), json!(c.last_name)),
        ("display_name".to_owned(), json!(display_name)),
        ("email".to_owned(), json!(c.email)),
        ("phone".to_owned(), json!(c.phone)),
        ("spam".to_owned(), json!(state.client_spam)),
    ]);
    Value::Object(map)
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
