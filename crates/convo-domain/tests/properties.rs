//! Invariants of decide/evolve over arbitrary command sequences.

mod support;

use chrono::Duration;
use convo_domain::command::{Action, Command, Direction, RecordMessage};
use convo_domain::{Conversation, Event, UpdateChanges, decide};
use proptest::prelude::*;
use serde_json::json;
use support::*;

fn update_changes() -> impl Strategy<Value = UpdateChanges> {
    let flag = || proptest::option::of(any::<bool>());
    let text = || proptest::option::of(proptest::option::of("[a-c]{0,2}"));
    let date = proptest::option::of(prop_oneof![
        Just(json!("2026-05-06T10:31:21Z")),
        Just(json!(
            "Wed May 06 2026 13:31:21 GMT+0300 (Israel Daylight Time)"
        )),
        Just(json!("2020-01-01")),
        Just(json!("garbage")),
        Just(json!(null)),
        Just(json!(5)),
    ]);
    (
        (flag(), flag(), flag(), flag(), flag()),
        (text(), text(), flag(), any::<bool>(), date),
        proptest::option::of(prop_oneof![Just(String::new()), "[a-z ]{1,8}"]),
    )
        .prop_map(
            |(
                (archived, business_unread, spam, deleted, mobile),
                (campaign, source_type, follow_up, complete_follow_up, follow_up_date),
                follow_up_message,
            )| UpdateChanges {
                archived,
                business_unread,
                spam,
                deleted,
                mobile,
                campaign,
                source_type,
                follow_up,
                complete_follow_up,
                follow_up_date,
                follow_up_message,
            },
        )
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => (prop_oneof![Just(STAFF), Just(OTHER_STAFF)], update_changes()).prop_map(
            |(staff, changes)| Action::Update { staff_uid: staff.into(), changes }
        ),
        1 => any::<bool>().prop_map(|incoming| Action::RecordMessage(RecordMessage {
            direction: if incoming { Direction::Incoming } else { Direction::Outgoing },
            ..message(Direction::Incoming)
        })),
    ]
}

fn command(action: Action, step: usize) -> Command {
    Command {
        conversation_uid: CONVERSATION.into(),
        business_uid: BUSINESS.into(),
        now: now() + Duration::minutes(step as i64),
        action,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Folding every event emitted so far reproduces the state the next `decide` saw; versions
    /// count events; deciding is deterministic; a rejection emits nothing and changes nothing.
    #[test]
    fn folding_the_events_reproduces_the_state(actions in proptest::collection::vec(action(), 1..24)) {
        let mut log: Vec<Event> = vec![started()];
        let mut state = Conversation::fold(CONVERSATION, &log);
        for (step, action) in actions.into_iter().enumerate() {
            let command = command(action, step);
            let first = decide(&state, &command);
            prop_assert_eq!(&first, &decide(&state, &command));
            if let Ok(events) = first {
                state = events.iter().fold(state, |s, e| s.evolve(e));
                log.extend(events);
            }
            let folded = Conversation::fold(CONVERSATION, &log);
            prop_assert_eq!(&folded, &state);
            prop_assert_eq!(state.version, log.len() as u64);
        }
    }

    /// An accepted update leaves every field it names at the requested value, and repeating it
    /// emits nothing.
    #[test]
    fn an_accepted_update_reaches_what_it_asked_and_is_idempotent(
        history in proptest::collection::vec(action(), 0..12),
        changes in update_changes(),
    ) {
        let mut state = Conversation::fold(CONVERSATION, &[started()]);
        for (step, action) in history.into_iter().enumerate() {
            if let Ok(events) = decide(&state, &command(action, step)) {
                state = events.iter().fold(state, |s, e| s.evolve(e));
            }
        }
        let update = command(Action::Update { staff_uid: STAFF.into(), changes: changes.clone() }, 100);
        let Ok(events) = decide(&state, &update) else { return Ok(()) };
        let after = events.iter().fold(state, |s, e| s.evolve(e));

        if let Some(v) = changes.archived { prop_assert_eq!(after.archived, v); }
        if let Some(v) = changes.business_unread { prop_assert_eq!(after.business_unread, v); }
        if let Some(v) = changes.spam { prop_assert_eq!(after.spam, v); prop_assert_eq!(after.client_spam, v); }
        if let Some(v) = changes.deleted { prop_assert_eq!(after.deleted_at.is_some(), v); }
        if let Some(v) = changes.mobile { prop_assert_eq!(after.mobile, v); }
        if let Some(v) = &changes.campaign { prop_assert_eq!(&after.campaign, v); }
        if let Some(v) = &changes.source_type { prop_assert_eq!(&after.source.source_type, v); }
        match changes.follow_up {
            Some(false) => prop_assert!(!after.follow_up_active(STAFF)),
            Some(true) if changes.archived == Some(true) => prop_assert!(!after.follow_up_active(STAFF)),
            Some(true) => prop_assert!(after.follow_up_active(STAFF)),
            None => {}
        }

        prop_assert_eq!(decide(&after, &update), Ok(vec![]));
    }

    /// Events survive their JSON form unchanged (what the store and Kafka carry).
    #[test]
    fn events_round_trip_through_json(actions in proptest::collection::vec(action(), 1..12)) {
        let mut state = Conversation::fold(CONVERSATION, &[started()]);
        let mut log = vec![started()];
        for (step, action) in actions.into_iter().enumerate() {
            if let Ok(events) = decide(&state, &command(action, step)) {
                state = events.iter().fold(state, |s, e| s.evolve(e));
                log.extend(events);
            }
        }
        for event in &log {
            let wire = serde_json::to_value(event).unwrap();
            prop_assert_eq!(wire["type"].as_str(), Some(event.type_name()));
            let back: Event = serde_json::from_value(wire).unwrap();
            prop_assert_eq!(&back, event);
        }
        let snapshot: Conversation = serde_json::from_value(serde_json::to_value(&state).unwrap()).unwrap();
        prop_assert_eq!(snapshot, state);
    }
}
