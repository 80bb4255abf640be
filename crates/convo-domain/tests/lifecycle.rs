//! Spec §2 (scoping), §7 (merges), §10 (start, messages, hard delete), and "no change, no event".

mod support;

use convo_domain::EventBody::*;
use convo_domain::command::{Action, Direction};
use convo_domain::state::Lifecycle;
use convo_domain::{Rejection, UpdateChanges};
use serde_json::json;
use support::*;

fn archive() -> Action {
    Action::Update {
        staff_uid: STAFF.into(),
        changes: UpdateChanges {
            archived: Some(true),
            ..UpdateChanges::default()
        },
    }
}

#[test]
fn start_creates_the_conversation() {
    let then = given_events(vec![]).when(Action::Start(start_command()));
    let events = then.events();
    assert_eq!(
        events,
        vec![Event {
            at: now(),
            ..started()
        }]
    );
    let after = then.after();
    assert_eq!(after.lifecycle, Lifecycle::Open);
    assert_eq!(after.business_uid, BUSINESS);
    assert_eq!(after.version, 1);
}
use convo_domain::Event;

#[test]
fn starting_an_existing_conversation_conflicts() {
    given([])
        .when(Action::Start(start_command()))
        .then_rejected(Rejection::conflict("conversation already exists"));
}

#[test]
fn starting_without_client_uid_is_invalid() {
    let mut start = start_command();
    start.client.uid.clear();
    let then = given_events(vec![]).when(Action::Start(start));
    assert!(
        matches!(then.result, Err(Rejection::Invalid { ref errors }) if errors[0].field == "client")
    );
}

#[test]
fn updating_an_unknown_conversation_is_not_found() {
    given_events(vec![])
        .when(archive())
        .then_rejected(Rejection::NotFound);
}

#[test]
fn another_business_sees_not_found() {
    given([])
        .when_in("biz-other", archive())
        .then_rejected(Rejection::NotFound);
}

#[test]
fn another_business_cannot_learn_a_merged_uid_exists() {
    given([MergedInto {
        target_uid: "conv-target".into(),
    }])
    .when_in("biz-other", archive())
    .then_rejected(Rejection::NotFound);
}

#[test]
fn incoming_message_marks_unread_and_received() {
    let mut events = vec![started()];
    events.push(by_staff(CollaboratorAdded));
    let after = given_events(events)
        .when(Action::RecordMessage(message(Direction::Incoming)))
        .then([MessageRecorded {
            message_id: "m1".into(),
            direction: Direction::Incoming,
            title: "Re: Initial consultation".into(),
            text: "Sounds good, see you then.".into(),
        }]);
    assert!(after.received && after.business_unread && !after.sent);
    assert!(after.collaborator(STAFF).unwrap().unread);
    assert_eq!(after.message_count, 1);
    assert_eq!(after.last_client_action_at, Some(now()));
    assert_eq!(after.last_message.unwrap().message_of, "client");
}

#[test]
fn outgoing_message_marks_sent() {
    let then = given([]).when(Action::RecordMessage(message(Direction::Outgoing)));
    let after = then.after();
    assert!(after.sent && !after.received && !after.business_unread);
    assert_eq!(after.last_user_action_at, Some(now()));
}

// Spec §7.
#[test]
fn merge_points_the_source_at_the_target() {
    let after = given([])
        .when(Action::MergeInto {
            target_uid: "conv-target".into(),
        })
        .then([MergedInto {
            target_uid: "conv-target".into(),
        }]);
    assert_eq!(
        after.lifecycle,
        Lifecycle::Merged {
            into: "conv-target".into()
        }
    );
}

#[test]
fn a_merged_conversation_routes_commands_to_its_target() {
    given([MergedInto {
        target_uid: "conv-target".into(),
    }])
    .when(archive())
    .then_rejected(Rejection::Merged {
        target: "conv-target".into(),
    });
}

#[test]
fn merging_into_itself_is_a_cycle() {
    // The handler resolves the target's chain; a chain that ends here is a cycle.
    let then = given([]).when(Action::MergeInto {
        target_uid: CONVERSATION.into(),
    });
    assert!(
        matches!(then.result, Err(Rejection::Conflict { ref message }) if message.contains("cycle"))
    );
}

#[test]
fn another_business_learns_nothing_about_a_merged_uid_from_any_command() {
    let actions = [
        archive(),
        Action::RecordMessage(message(Direction::Incoming)),
        Action::Delete,
        Action::MergeInto {
            target_uid: "conv-other".into(),
        },
        Action::AbsorbMerged {
            source_uid: "conv-source".into(),
            message_count: 0,
        },
    ];
    for action in actions {
        given([MergedInto {
            target_uid: "conv-target".into(),
        }])
        .when_in("biz-other", action)
        .then_rejected(Rejection::NotFound);
    }
}

#[test]
fn merging_twice_conflicts() {
    given([MergedInto {
        target_uid: "conv-target".into(),
    }])
    .when(Action::MergeInto {
        target_uid: "conv-other".into(),
    })
    .then_rejected(Rejection::conflict("conversation was already merged"));
}

#[test]
fn the_merge_target_absorbs_the_messages() {
    let after = given([])
        .when(Action::AbsorbMerged {
            source_uid: "conv-source".into(),
            message_count: 3,
        })
        .then([MergedFrom {
            source_uid: "conv-source".into(),
            message_count: 3,
        }]);
    assert_eq!(after.message_count, 3);
    assert_eq!(after.merged_from, vec!["conv-source".to_owned()]);
}

// Hard delete.
#[test]
fn hard_delete_forgets_the_conversation() {
    let after = given([]).when(Action::Delete).then([ConversationDeleted]);
    assert_eq!(after.lifecycle, Lifecycle::Deleted);
}

#[test]
fn a_hard_deleted_conversation_is_not_found() {
    given([ConversationDeleted])
        .when(archive())
        .then_rejected(Rejection::NotFound);
    given([ConversationDeleted])
        .when(Action::Delete)
        .then_rejected(Rejection::NotFound);
}

#[test]
fn a_hard_deleted_uid_cannot_be_started_again() {
    given([ConversationDeleted])
        .when(Action::Start(start_command()))
        .then_rejected(Rejection::conflict("conversation already exists"));
}

// "No change, no event."
#[test]
fn repeating_an_update_emits_nothing_the_second_time() {
    let body = json!({
        "archived": true, "spam": true, "business_unread": true, "deleted": true,
        "campaign": "c", "source_type": "s", "mobile": true
    });
    let after = given([]).when_update(body.clone()).after();
    let version = after.version;
    let again = Given { state: after }.when_update(body).then_nothing();
    assert_eq!(again.version, version);
}

#[test]
fn every_event_bumps_the_version_by_one() {
    let then = given([]).when_update(json!({"archived": true, "spam": true}));
    assert_eq!(then.after().version, then.before.version + 2);
}
