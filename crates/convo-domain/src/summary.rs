//! One readable line per event, for people (`convo history`): what changed, in a few words.
//! Long texts are cut with an ellipsis so that every event fits one line.

use chrono::{DateTime, Datelike, Utc};

use crate::command::Direction;
use crate::event::{AttributeChanges, Event, EventBody};

/// Longest quoted text in a summary, in characters (an ellipsis replaces the rest).
pub const MAX_QUOTE: usize = 40;

/// What `event` changed, e.g. `due Wed May 6 10:31 UTC, "call back"`.
pub fn summary(event: &Event) -> String {
    match &event.body {
        EventBody::ConversationStarted {
            business_uid,
            title,
            client,
            staff,
            ..
        } => format!(
            "started {} with client {} ({}), owner {}, business {business_uid}",
            quote(title),
            client.uid,
            quote(&format!("{} {}", client.first_name, client.last_name)),
            staff.uid
        ),
        EventBody::Archived => "archived".into(),
        EventBody::Unarchived => "unarchived".into(),
        EventBody::MarkedSpam => format!("marked spam (client {} too)", event.client_uid),
        EventBody::UnmarkedSpam => format!("not spam (client {} too)", event.client_uid),
        EventBody::MarkedUnread => "marked unread".into(),
        EventBody::MarkedRead => "marked read".into(),
        EventBody::SoftDeleted { deleted_at } => {
            format!("moved to trash at {}", day(*deleted_at, event.at))
        }
        EventBody::Restored => "restored from trash".into(),
        EventBody::AttributesChanged { changes } => attributes(changes),
        EventBody::CollaboratorAdded => "joined as a collaborator".into(),
        EventBody::FollowUpSet { due_at, message } => {
            follow_up(due_at.map(|due| day(due, event.at)), message)
        }
        EventBody::FollowUpRemoved => "follow-up dismissed".into(),
        EventBody::FollowUpCompleted => "follow-up completed".into(),
        EventBody::InternalNoteAdded { text } => format!("internal note {}", quote(text)),
        EventBody::MessageRecorded {
            direction, text, ..
        } => match direction {
            Direction::Incoming => format!("message from the client: {}", quote(text)),
            Direction::Outgoing => format!("message to the client: {}", quote(text)),
        },
        EventBody::MergedInto { target_uid } => format!("merged into {target_uid}"),
        EventBody::MergedFrom {
            source_uid,
            message_count,
        } => format!("took in {source_uid} ({message_count} messages)"),
        EventBody::ConversationDeleted => "deleted for good".into(),
    }
}

fn follow_up(due: Option<String>, message: &str) -> String {
    match (due, message.is_empty()) {
        (Some(due), true) => format!("due {due}"),
        (Some(due), false) => format!("due {due}, {}", quote(message)),
        (None, true) => "follow-up without a date".into(),
        (None, false) => format!("follow-up without a date, {}", quote(message)),
    }
}

fn attributes(changes: &AttributeChanges) -> String {
    let show = |value: &Option<String>| value.as_deref().map_or("none".into(), quote);
    let mut parts = Vec::new();
    if let Some(c) = &changes.campaign {
        parts.push(format!("campaign {} -> {}", show(&c.from), show(&c.to)));
    }
    if let Some(c) = &changes.source_type {
        parts.push(format!("source type {} -> {}", show(&c.from), show(&c.to)));
    }
    if let Some(c) = &changes.mobile {
        parts.push(format!("mobile {} -> {}", c.from, c.to));
    }
    parts.join(", ")
}

/// `Wed May 6 10:31 UTC`, with the year when it is not the year of `now` (the event's time):
/// `Wed May 6 2099 10:31 UTC`.
fn day(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at.year() == now.year() {
        at.format("%a %b %-d %H:%M UTC").to_string()
    } else {
        at.format("%a %b %-d %Y %H:%M UTC").to_string()
    }
}

/// `text` in double quotes, on one line, cut to [`MAX_QUOTE`] characters with an ellipsis.
pub fn quote(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX_QUOTE {
        return format!("\"{flat}\"");
    }
    let cut: String = flat.chars().take(MAX_QUOTE - 1).collect();
    format!("\"{}…\"", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: EventBody) -> Event {
        Event {
            at: "2026-05-04T16:12:03Z".parse().unwrap(),
            staff_uid: Some("s".into()),
            client_uid: "c".into(),
            body,
        }
    }

    #[test]
    fn a_follow_up_reads_like_the_issue() {
        let set = event(EventBody::FollowUpSet {
            due_at: Some("2026-05-06T10:31:21Z".parse().unwrap()),
            message: "call back".into(),
        });
        assert_eq!(summary(&set), "due Wed May 6 10:31 UTC, \"call back\"");
        let later = event(EventBody::FollowUpSet {
            due_at: Some("2099-05-06T10:31:21Z".parse().unwrap()),
            message: String::new(),
        });
        assert_eq!(summary(&later), "due Wed May 6 2099 10:31 UTC");
    }

    #[test]
    fn long_texts_are_cut_and_kept_on_one_line() {
        let long = "word ".repeat(30);
        let note = summary(&event(EventBody::InternalNoteAdded {
            text: format!("first\nline {long}"),
        }));
        assert!(
            note.starts_with("internal note \"first line word"),
            "{note}"
        );
        assert!(note.ends_with("…\""), "{note}");
        assert!(!note.contains('\n'));
        assert_eq!(
            quote(&"x".repeat(MAX_QUOTE)),
            format!("\"{}\"", "x".repeat(MAX_QUOTE))
        );
    }
}
