//! Spec §5, the follow-up branch, one test (or more) per row, and spec §4 where a date is consumed.

mod support;

use convo_domain::EventBody::*;
use serde_json::json;
use support::*;

fn active() -> [convo_domain::EventBody; 2] {
    [
        CollaboratorAdded,
        FollowUpSet {
            due_at: Some(at("2026-05-06T10:31:21Z")),
            message: "call back".into(),
        },
    ]
}

// Row 1: follow_up true + archived true, active -> remove (completed or removed), archive applies.
#[test]
fn follow_up_and_archive_with_active_follow_up_completes_it_when_asked() {
    given(active())
        .when_update(json!({"follow_up": true, "archived": true, "complete_follow_up": true}))
        .then([Archived, FollowUpCompleted]);
}

#[test]
fn follow_up_and_archive_with_active_follow_up_dismisses_it() {
    let after = given(active())
        .when_update(json!({"follow_up": true, "archived": true}))
        .then([Archived, FollowUpRemoved]);
    assert!(!after.follow_up_active(STAFF));
    assert!(after.archived);
}

#[test]
fn follow_up_and_archive_on_an_archived_conversation_still_removes() {
    given([active()[0].clone(), active()[1].clone(), Archived])
        .when_update(json!({"follow_up": "1", "archived": "true"}))
        .then([FollowUpRemoved]);
}

// Row 2: follow_up true + archived true, not active -> nothing to remove, the archive applies.
#[test]
fn follow_up_and_archive_without_follow_up_only_archives() {
    given([])
        .when_update(json!({"follow_up": true, "archived": true, "complete_follow_up": true}))
        .then([Archived]);
}

// Row 3: follow_up true, archived absent or false, not active -> create.
#[test]
fn follow_up_creates_collaborator_and_follow_up() {
    let after = given([])
        .when_update(json!({
            "follow_up": true,
            "follow_up_date": "Wed May 06 2026 13:31:21 GMT+0300 (Israel Daylight Time)",
            "follow_up_message": "just a test"
        }))
        .then([
            CollaboratorAdded,
            FollowUpSet {
                due_at: Some(at("2026-05-06T10:31:21Z")),
                message: "just a test".into(),
            },
        ]);
    let record = after.collaborator(STAFF).unwrap();
    assert!(record.follow_up);
    assert_eq!(record.follow_up_message, "just a test");
}

#[test]
fn follow_up_on_existing_collaborator_adds_no_collaborator() {
    given([CollaboratorAdded])
        .when_update(json!({"follow_up": true}))
        .then([FollowUpSet {
            due_at: None,
            message: String::new(),
        }]);
}

#[test]
fn follow_up_after_a_completed_one_sets_a_new_one() {
    let [added, set] = active();
    given([added, set, FollowUpCompleted])
        .when_update(json!({"follow_up": true, "follow_up_date": "2026-06-01"}))
        .then([FollowUpSet {
            due_at: Some(at("2026-06-01T00:00:00Z")),
            message: String::new(),
        }]);
}

#[test]
fn follow_up_unarchives_an_archived_conversation() {
    let after = given([Archived])
        .when_update(json!({"follow_up": true, "follow_up_date": "2026-05-06T10:31:21Z"}))
        .then([
            CollaboratorAdded,
            FollowUpSet {
                due_at: Some(at("2026-05-06T10:31:21Z")),
                message: String::new(),
            },
            Unarchived,
        ]);
    assert!(!after.archived);
}

#[test]
fn follow_up_with_archived_false_unarchives_once() {
    given([Archived])
        .when_update(json!({"follow_up": true, "archived": false}))
        .then([
            Unarchived,
            CollaboratorAdded,
            FollowUpSet {
                due_at: None,
                message: String::new(),
            },
        ]);
}

#[test]
fn follow_up_message_without_date_adds_an_internal_note() {
    let after = given([])
        .when_update(json!({"follow_up": true, "follow_up_message": "call back about pricing"}))
        .then([
            CollaboratorAdded,
            FollowUpSet {
                due_at: None,
                message: "call back about pricing".into(),
            },
            InternalNoteAdded {
                text: "call back about pricing".into(),
            },
        ]);
    assert_eq!(after.message_count, 1);
}

#[test]
fn follow_up_message_with_date_adds_no_note() {
    given([])
        .when_update(json!({
            "follow_up": true, "follow_up_message": "x", "follow_up_date": "2026-05-02T00:00:00Z"
        }))
        .then([
            CollaboratorAdded,
            FollowUpSet {
                due_at: Some(at("2026-05-02T00:00:00Z")),
                message: "x".into(),
            },
        ]);
}

#[test]
fn null_follow_up_message_means_empty_and_adds_no_note() {
    given([])
        .when_update(json!({"follow_up": true, "follow_up_message": null}))
        .then([
            CollaboratorAdded,
            FollowUpSet {
                due_at: None,
                message: String::new(),
            },
        ]);
}

// Row 4: follow_up true, archived absent or false, active -> no change; date/message not consumed.
#[test]
fn follow_up_when_already_active_changes_nothing() {
    given(active())
        .when_update(json!({
            "follow_up": true, "follow_up_date": "garbage", "follow_up_message": "new text"
        }))
        .then_nothing();
}

#[test]
fn follow_up_when_already_active_does_not_unarchive() {
    let [added, set] = active();
    given([added, set, Archived])
        .when_update(json!({"follow_up": true}))
        .then_nothing();
}

// Row 5: follow_up false, active -> remove.
#[test]
fn follow_up_false_removes_active_follow_up() {
    let after = given(active())
        .when_update(json!({"follow_up": false}))
        .then([FollowUpRemoved]);
    assert_eq!(after.collaborator(STAFF).unwrap().follow_up_date, None);
}

#[test]
fn follow_up_false_with_complete_completes_it() {
    let after = given(active())
        .when_update(json!({"follow_up": 0, "complete_follow_up": 1}))
        .then([FollowUpCompleted]);
    assert_eq!(
        after.collaborator(STAFF).unwrap().follow_up_completed_at,
        Some(now())
    );
}

// Row 6: follow_up false, not active -> nothing.
#[test]
fn follow_up_false_without_follow_up_does_nothing() {
    given([])
        .when_update(json!({"follow_up": false, "complete_follow_up": true}))
        .then_nothing();
}

#[test]
fn complete_follow_up_alone_does_nothing() {
    given(active())
        .when_update(json!({"complete_follow_up": true}))
        .then_nothing();
}

#[test]
fn follow_up_fields_without_follow_up_key_are_ignored() {
    given([])
        .when_update(json!({"follow_up_date": "yesterday", "follow_up_message": "x"}))
        .then_nothing();
}

#[test]
fn follow_ups_belong_to_the_requesting_staff() {
    // Another staff's active follow-up does not make this staff's active.
    let mut events = vec![started()];
    events.extend(active().map(|b| by(OTHER_STAFF, b)));
    let after = given_events(events)
        .when_update(json!({"follow_up": true}))
        .then([
            CollaboratorAdded,
            FollowUpSet {
                due_at: None,
                message: String::new(),
            },
        ]);
    assert!(after.follow_up_active(OTHER_STAFF));
    assert!(after.follow_up_active(STAFF));
}

#[test]
fn removing_my_follow_up_leaves_the_other_staffs() {
    let mut events = vec![started()];
    events.extend(active().map(|b| by(OTHER_STAFF, b)));
    given_events(events)
        .when_update(json!({"follow_up": false}))
        .then_nothing();
}

// Spec §4 when the date is consumed.
#[test]
fn a_past_date_is_rejected() {
    given([])
        .when_update(json!({"follow_up": true, "follow_up_date": "2026-04-30T12:00:00Z"}))
        .then_invalid("follow_up_date", "Time has already passed.");
}

#[test]
fn now_itself_has_already_passed() {
    given([])
        .when_update(json!({"follow_up": true, "follow_up_date": "2026-05-01T12:00:00Z"}))
        .then_invalid("follow_up_date", "Time has already passed.");
}

#[test]
fn a_fraction_of_a_second_ahead_is_stored_at_second_precision_and_has_passed() {
    given([])
        .when_update(json!({"follow_up": true, "follow_up_date": "2026-05-01T12:00:00.900Z"}))
        .then_invalid("follow_up_date", "Time has already passed.");
}

#[test]
fn fractions_are_dropped() {
    given([CollaboratorAdded])
        .when_update(json!({"follow_up": true, "follow_up_date": "2026-05-06T10:31:21.999Z"}))
        .then([FollowUpSet {
            due_at: Some(at("2026-05-06T10:31:21Z")),
            message: String::new(),
        }]);
}

#[test]
fn dates_ruby_reads_set_the_follow_up() {
    // Issue 8: a zone after a date without a time, ISO basic and ordinal dates, a `T` after a
    // written date, a date among words; all refused (422) before.
    for (text, stored) in [
        ("Wed, 06 May 2026 GMT", "2026-05-06T00:00:00Z"),
        ("6 May 2026 +0300", "2026-05-05T21:00:00Z"),
        ("20260506T103121", "2026-05-06T10:31:21Z"),
        ("2026-126", "2026-05-06T00:00:00Z"),
        ("May 6, 2026T10:31:21", "2026-05-06T10:31:21Z"),
        ("on 2026-05-06 at 10:31", "2026-05-06T10:31:00Z"),
        ("2026-05-06T10:31:21Z please", "2026-05-06T10:31:21Z"),
    ] {
        given([CollaboratorAdded])
            .when_update(json!({"follow_up": true, "follow_up_date": text}))
            .then([FollowUpSet {
                due_at: Some(at(stored)),
                message: String::new(),
            }]);
    }
}

#[test]
fn a_date_ruby_would_read_surprisingly_is_invalid() {
    // ADR 0005: Ruby reads these as another instant than the writer meant.
    for text in [
        "2026-05-06 10:31 CET",
        "the 6th of May 2026",
        "2026-02-30",
        "6 May 30",
    ] {
        given([])
            .when_update(json!({"follow_up": true, "follow_up_date": text}))
            .then_invalid("follow_up_date", "Invalid date");
    }
}

#[test]
fn unparseable_date_is_invalid() {
    given([])
        .when_update(json!({"follow_up": true, "follow_up_date": "next tuesday-ish"}))
        .then_invalid("follow_up_date", "Invalid date");
}

#[test]
fn empty_date_is_invalid() {
    given([])
        .when_update(json!({"follow_up": true, "follow_up_date": ""}))
        .then_invalid("follow_up_date", "Invalid date");
}

#[test]
fn non_string_dates_are_invalid() {
    for date in [
        json!(null),
        json!(1778063481),
        json!(true),
        json!(["2026-05-06"]),
        json!({}),
    ] {
        given([])
            .when_update(json!({"follow_up": true, "follow_up_date": date}))
            .then_invalid("follow_up_date", "Invalid date");
    }
}

#[test]
fn a_date_over_128_characters_is_invalid() {
    let long = format!("2026-05-06T10:31:21Z{}", " ".repeat(109));
    assert_eq!(long.chars().count(), 129);
    given([])
        .when_update(json!({"follow_up": true, "follow_up_date": long}))
        .then_invalid("follow_up_date", "Invalid date");
}

#[test]
fn a_rejected_date_emits_nothing_else_either() {
    // Valid permitted fields in the same request are not applied when the date fails.
    given([])
        .when_update(json!({
            "archived": false, "spam": true, "follow_up": true, "follow_up_date": "2020-01-01"
        }))
        .then_invalid("follow_up_date", "Time has already passed.");
}
