//! Bounded sizes: every command type is held to `MAX_EVENT_BYTES` where it is decided, so no
//! event the store accepts is too large for a broker record.

mod support;

use convo_domain::EventBody;
use convo_domain::command::{Action, Direction};
use convo_domain::event::MAX_EVENT_BYTES;
use convo_domain::wire::MAX_ID_LEN;
use convo_domain::{Event, Rejection};
use serde_json::json;
use support::*;

fn too_large(then: &Then, event_type: &str) {
    match &then.result {
        Err(Rejection::EventTooLarge {
            event_type: t,
            bytes,
        }) => {
            assert_eq!(t, event_type);
            assert!(*bytes > MAX_EVENT_BYTES);
        }
        other => panic!("expected EventTooLarge, got {other:?}"),
    }
}

#[test]
fn a_start_with_a_huge_client_record_is_refused() {
    let mut start = start_command();
    start
        .client
        .full
        .insert("notes".into(), json!("x".repeat(MAX_EVENT_BYTES)));
    let then = given_events(vec![]).when(Action::Start(start));
    too_large(&then, "ConversationStarted");
    let rejection = then.result.unwrap_err();
    assert_eq!(rejection.http_status(), 413);
    assert_eq!(rejection.body()["errors"][0]["code"], "bad_request");
}

#[test]
fn a_huge_message_is_refused() {
    let mut message = message(Direction::Incoming);
    message.text = "x".repeat(1_500_000);
    too_large(
        &given([]).when(Action::RecordMessage(message)),
        "MessageRecorded",
    );
}

#[test]
fn a_message_just_under_the_limit_is_accepted() {
    let mut message = message(Direction::Incoming);
    message.text = "x".repeat(MAX_EVENT_BYTES - 1024);
    let events = given([]).when(Action::RecordMessage(message)).events();
    assert!(events[0].encoded_len() <= MAX_EVENT_BYTES);
}

#[test]
fn encoded_len_is_the_compact_json_size() {
    let event = started();
    assert_eq!(
        event.encoded_len(),
        serde_json::to_vec(&event).unwrap().len()
    );
}

/// The other commands cannot reach the limit: their events carry only ids (at most
/// `MAX_ID_LEN` characters, checked by the wire format), booleans, dates and update fields
/// capped by validation (5,000 characters at most). The largest of them stays far below.
#[test]
fn the_other_events_are_bounded_far_below_the_limit() {
    let id = "x".repeat(MAX_ID_LEN * 4);
    let text = "x".repeat(5000 * 4);
    for body in [
        EventBody::MergedInto {
            target_uid: id.clone(),
        },
        EventBody::MergedFrom {
            source_uid: id.clone(),
            message_count: u64::MAX,
        },
        EventBody::ConversationDeleted,
        EventBody::FollowUpSet {
            due_at: Some(now()),
            message: text.clone(),
        },
        EventBody::InternalNoteAdded { text },
    ] {
        let event = Event {
            staff_uid: Some(id.clone()),
            client_uid: id.clone(),
            ..by_staff(body)
        };
        assert!(event.encoded_len() < MAX_EVENT_BYTES / 8, "{event:?}");
    }
}
