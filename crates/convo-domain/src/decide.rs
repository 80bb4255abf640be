//! `decide`: the rules of spec §5–§7 and §10. Pure and deterministic.

use chrono::{DateTime, SubsecRound, Utc};

use crate::command::{Action, Command, RecordMessage, StartConversation, UpdateChanges};
use crate::event::{AttributeChanges, Change, Event, EventBody, MAX_EVENT_BYTES};
use crate::follow_up_date::{MAX_LEN, parse_follow_up_date};
use crate::rejection::Rejection;
use crate::state::{Conversation, Lifecycle};

/// Decides what `command` does to `state`: the events to append (possibly none: an update that
/// changes nothing emits nothing), or why it is refused. A refusal emits nothing. Every command
/// type is held to [`MAX_EVENT_BYTES`] here, the one place all of them pass.
pub fn decide(state: &Conversation, command: &Command) -> Result<Vec<Event>, Rejection> {
    let events = decide_action(state, command)?;
    within_size_limit(&events)?;
    Ok(events)
}

/// Refuses events that would not fit in a broker record (see [`MAX_EVENT_BYTES`]).
fn within_size_limit(events: &[Event]) -> Result<(), Rejection> {
    for event in events {
        let bytes = event.encoded_len();
        if bytes > MAX_EVENT_BYTES {
            return Err(Rejection::EventTooLarge {
                event_type: event.type_name().to_owned(),
                bytes,
            });
        }
    }
    Ok(())
}

fn decide_action(state: &Conversation, command: &Command) -> Result<Vec<Event>, Rejection> {
    match &command.action {
        Action::Start(start) => decide_start(state, command, start),
        Action::MergeInto { target_uid } => {
            visible(state, command)?;
            if let Lifecycle::Merged { .. } = state.lifecycle {
                return Err(Rejection::conflict("conversation was already merged"));
            }
            if target_uid == &state.uid {
                return Err(Rejection::conflict(
                    "merge would form a cycle: the target is, or was merged into, this conversation",
                ));
            }
            let mut d = Decision::new(state, command.now, None);
            d.emit(EventBody::MergedInto {
                target_uid: target_uid.clone(),
            });
            Ok(d.events)
        }
        Action::AbsorbMerged {
            source_uid,
            message_count,
        } => {
            open(state, command)?;
            let mut d = Decision::new(state, command.now, None);
            d.emit(EventBody::MergedFrom {
                source_uid: source_uid.clone(),
                message_count: *message_count,
            });
            Ok(d.events)
        }
        Action::RecordMessage(message) => {
            open(state, command)?;
            Ok(record_message(state, message))
        }
        Action::Update { staff_uid, changes } => {
            open(state, command)?;
            decide_update(state, command.now, staff_uid, changes)
        }
        Action::Delete => {
            open(state, command)?;
            let mut d = Decision::new(state, command.now, None);
            d.emit(EventBody::ConversationDeleted);
            Ok(d.events)
        }
    }
}

/// Refuses commands on a conversation the caller cannot see: never started, hard-deleted, or of
/// another business, all "not found", before anything else about it is looked at, so a uid's
/// existence or state in another business is never revealed. (A `StartConversation` of a uid
/// that exists in another business is the one exception: it must answer "already exists".)
fn visible(state: &Conversation, command: &Command) -> Result<(), Rejection> {
    match &state.lifecycle {
        Lifecycle::New | Lifecycle::Deleted => Err(Rejection::NotFound),
        _ if state.business_uid != command.business_uid => Err(Rejection::NotFound),
        Lifecycle::Merged { .. } | Lifecycle::Open => Ok(()),
    }
}

/// [`visible`], and sends commands on a merged conversation to its target.
fn open(state: &Conversation, command: &Command) -> Result<(), Rejection> {
    visible(state, command)?;
    match &state.lifecycle {
        Lifecycle::Merged { into } => Err(Rejection::Merged {
            target: into.clone(),
        }),
        _ => Ok(()),
    }
}

fn decide_start(
    state: &Conversation,
    command: &Command,
    start: &StartConversation,
) -> Result<Vec<Event>, Rejection> {
    if state.lifecycle != Lifecycle::New {
        return Err(Rejection::conflict("conversation already exists"));
    }
    if start.client.uid.is_empty() || start.staff.uid.is_empty() {
        return Err(Rejection::Invalid {
            errors: [("client", &start.client.uid), ("staff", &start.staff.uid)]
                .into_iter()
                .filter(|(_, uid)| uid.is_empty())
                .map(|(field, _)| crate::FieldError::invalid(field, "uid is required"))
                .collect(),
        });
    }
    Ok(vec![Event {
        at: command.now,
        staff_uid: Some(start.staff.uid.clone()),
        client_uid: start.client.uid.clone(),
        body: EventBody::ConversationStarted {
            business_uid: command.business_uid.clone(),
            title: start.title.clone(),
            client: start.client.clone(),
            staff: start.staff.clone(),
            source: start.source.clone(),
            campaign: start.campaign.clone(),
            mobile: start.mobile,
            matter_searchable: start.matter_searchable,
        },
    }])
}

fn record_message(state: &Conversation, message: &RecordMessage) -> Vec<Event> {
    let mut d = Decision::new(state, message.at, message.staff_uid.clone());
    d.emit(EventBody::MessageRecorded {
        message_id: message.message_id.clone(),
        direction: message.direction,
        title: message.title.clone(),
        text: message.text.clone(),
    });
    d.events
}

/// Spec §5 and §6: permitted fields first, then the follow-up branch, each step seeing the state
/// the previous steps lead to, so the event list is the minimal one reaching the final state.
fn decide_update(
    state: &Conversation,
    now: DateTime<Utc>,
    staff_uid: &str,
    changes: &UpdateChanges,
) -> Result<Vec<Event>, Rejection> {
    let mut d = Decision::new(state, now, Some(staff_uid.to_owned()));

    d.toggle(
        changes.archived,
        |s| s.archived,
        EventBody::Archived,
        EventBody::Unarchived,
    );
    // The read state is the conversation's and the requesting staff's own record's, when it has
    // one (spec §6): an event when either differs from the value asked for.
    if let Some(unread) = changes.business_unread {
        let mine = d.state.collaborators.get(staff_uid).map(|c| c.unread);
        if d.state.business_unread != unread || mine.is_some_and(|m| m != unread) {
            d.emit(if unread {
                EventBody::MarkedUnread
            } else {
                EventBody::MarkedRead
            });
        }
    }
    d.toggle(
        changes.spam,
        |s| s.spam,
        EventBody::MarkedSpam,
        EventBody::UnmarkedSpam,
    );
    d.toggle(
        changes.deleted,
        Conversation::is_deleted_softly,
        EventBody::SoftDeleted { deleted_at: now },
        EventBody::Restored,
    );
    let attributes = attribute_changes(&d.state, changes);
    if !attributes.is_empty() {
        d.emit(EventBody::AttributesChanged {
            changes: attributes,
        });
    }

    if let Some(follow_up) = changes.follow_up {
        let active = d.state.follow_up_active(staff_uid);
        let removing = !follow_up || changes.archived == Some(true);
        if removing {
            if active {
                d.emit(if changes.complete_follow_up {
                    EventBody::FollowUpCompleted
                } else {
                    EventBody::FollowUpRemoved
                });
            }
        } else if !active {
            let date = match &changes.follow_up_date {
                None => None,
                Some(raw) => Some(follow_up_date(raw, now)?),
            };
            let message = changes.follow_up_message.clone().unwrap_or_default();
            if d.state.collaborator(staff_uid).is_none() {
                d.emit(EventBody::CollaboratorAdded);
            }
            d.emit(EventBody::FollowUpSet {
                due_at: date,
                message: message.clone(),
            });
            if d.state.archived {
                d.emit(EventBody::Unarchived);
            }
            if !message.is_empty() && date.is_none() {
                d.emit(EventBody::InternalNoteAdded { text: message });
            }
        }
    }
    Ok(d.events)
}

fn attribute_changes(state: &Conversation, changes: &UpdateChanges) -> AttributeChanges {
    fn change<T: PartialEq + Clone>(current: &T, wanted: Option<&T>) -> Option<Change<T>> {
        wanted.filter(|w| *w != current).map(|w| Change {
            from: current.clone(),
            to: w.clone(),
        })
    }
    AttributeChanges {
        campaign: change(&state.campaign, changes.campaign.as_ref()),
        source_type: change(&state.source.source_type, changes.source_type.as_ref()),
        mobile: change(&state.mobile, changes.mobile.as_ref()),
    }
}

/// Spec §4: a string of at most 128 characters that parses, strictly after `now`.
fn follow_up_date(raw: &serde_json::Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, Rejection> {
    let invalid = || Rejection::invalid("follow_up_date", "Invalid date");
    let text = raw.as_str().ok_or_else(invalid)?;
    if text.chars().count() > MAX_LEN {
        return Err(invalid());
    }
    // Stored at second precision (spec §4), so "in the future" is judged on what is stored.
    let date = parse_follow_up_date(text, now)
        .ok_or_else(invalid)?
        .trunc_subsecs(0);
    if date <= now {
        return Err(Rejection::invalid(
            "follow_up_date",
            "Time has already passed.",
        ));
    }
    Ok(date)
}

/// Events decided so far, and the state they lead to.
struct Decision {
    state: Conversation,
    events: Vec<Event>,
    at: DateTime<Utc>,
    staff_uid: Option<String>,
}

impl Decision {
    fn new(state: &Conversation, at: DateTime<Utc>, staff_uid: Option<String>) -> Self {
        Self {
            state: state.clone(),
            events: Vec::new(),
            at,
            staff_uid,
        }
    }

    /// Emits `on` or `off` when `wanted` differs from the current value.
    fn toggle(
        &mut self,
        wanted: Option<bool>,
        current: impl Fn(&Conversation) -> bool,
        on: EventBody,
        off: EventBody,
    ) {
        match wanted {
            Some(true) if !current(&self.state) => self.emit(on),
            Some(false) if current(&self.state) => self.emit(off),
            _ => {}
        }
    }

    fn emit(&mut self, body: EventBody) {
        let event = Event {
            at: self.at,
            staff_uid: self.staff_uid.clone(),
            client_uid: self.state.client.uid.clone(),
            body,
        };
        self.state = std::mem::take(&mut self.state).evolve(&event);
        self.events.push(event);
    }
}
