//! Spec §6, the permitted fields: an event only when the value changes.

mod support;

use convo_domain::EventBody::*;
use convo_domain::event::{AttributeChanges, Change};
use serde_json::json;
use support::*;

#[test]
fn archive() {
    assert!(
        given([])
            .when_update(json!({"archived": true}))
            .then([Archived])
            .archived
    );
}

#[test]
fn archive_when_archived_is_a_no_op() {
    given([Archived])
        .when_update(json!({"archived": true}))
        .then_nothing();
}

#[test]
fn unarchive() {
    given([Archived])
        .when_update(json!({"archived": false}))
        .then([Unarchived]);
}

#[test]
fn unarchive_when_not_archived_is_a_no_op() {
    given([])
        .when_update(json!({"archived": false}))
        .then_nothing();
}

#[test]
fn mark_unread_carries_the_staff() {
    let then = given([]).when_update(json!({"business_unread": true}));
    assert_eq!(then.events()[0].staff_uid.as_deref(), Some(STAFF));
    assert!(then.then([MarkedUnread]).business_unread);
}

#[test]
fn mark_unread_sets_the_staffs_collaborator_read_state() {
    let after = given([CollaboratorAdded])
        .when_update(json!({"business_unread": true}))
        .then([MarkedUnread]);
    assert!(after.collaborator(STAFF).unwrap().unread);
}

#[test]
fn mark_unread_creates_no_collaborator_record() {
    let after = given([])
        .when_update(json!({"business_unread": "1"}))
        .then([MarkedUnread]);
    assert!(after.collaborator(STAFF).is_none());
}

#[test]
fn mark_read() {
    let after = given([CollaboratorAdded, MarkedUnread])
        .when_update(json!({"business_unread": false}))
        .then([MarkedRead]);
    assert!(!after.business_unread);
    assert!(!after.collaborator(STAFF).unwrap().unread);
}

#[test]
fn unread_unchanged_is_a_no_op() {
    given([MarkedUnread])
        .when_update(json!({"business_unread": true}))
        .then_nothing();
    given([])
        .when_update(json!({"business_unread": false}))
        .then_nothing();
}

#[test]
fn mark_read_reaches_the_staffs_own_record_when_the_conversation_is_already_read() {
    // Marked unread while this staff had a record; another staff (with none) then read it.
    let after = given_events(vec![
        started(),
        by_staff(CollaboratorAdded),
        by_staff(MarkedUnread),
        by(OTHER_STAFF, MarkedRead),
    ])
    .when_update(json!({"business_unread": false}))
    .then([MarkedRead]);
    assert!(!after.business_unread);
    assert!(!after.collaborator(STAFF).unwrap().unread);
}

#[test]
fn mark_unread_reaches_the_staffs_own_record_when_the_conversation_is_already_unread() {
    let after = given_events(vec![
        started(),
        by_staff(CollaboratorAdded),
        by(OTHER_STAFF, MarkedUnread),
    ])
    .when_update(json!({"business_unread": true}))
    .then([MarkedUnread]);
    assert!(after.collaborator(STAFF).unwrap().unread);
}

#[test]
fn a_record_added_to_an_unread_conversation_starts_unread() {
    let after = given_events(vec![started(), by(OTHER_STAFF, MarkedUnread)])
        .when_update(json!({"follow_up": true}))
        .then([
            CollaboratorAdded,
            FollowUpSet {
                due_at: None,
                message: String::new(),
            },
        ]);
    assert!(after.collaborator(STAFF).unwrap().unread);
    // Asking for the read state the conversation already has, with a follow-up that adds the
    // record, reaches both at once: repeating it changes nothing.
    let then = given_events(vec![started(), by(OTHER_STAFF, MarkedUnread)])
        .when_update(json!({"business_unread": true, "follow_up": true}));
    let after = then.after();
    assert!(after.collaborator(STAFF).unwrap().unread);
}

#[test]
fn read_state_already_reached_on_both_is_a_no_op() {
    given([CollaboratorAdded, MarkedUnread])
        .when_update(json!({"business_unread": true}))
        .then_nothing();
}

#[test]
fn spam_applies_to_the_client_too() {
    let then = given([]).when_update(json!({"spam": true}));
    assert_eq!(then.events()[0].client_uid, CLIENT);
    let after = then.then([MarkedSpam]);
    assert!(after.spam && after.client_spam);
}

#[test]
fn not_spam() {
    let after = given([MarkedSpam])
        .when_update(json!({"spam": false}))
        .then([UnmarkedSpam]);
    assert!(!after.spam && !after.client_spam);
}

#[test]
fn spam_unchanged_is_a_no_op() {
    given([MarkedSpam])
        .when_update(json!({"spam": "true"}))
        .then_nothing();
    given([]).when_update(json!({"spam": 0})).then_nothing();
}

#[test]
fn soft_delete_records_when() {
    let after = given([])
        .when_update(json!({"deleted": true}))
        .then([SoftDeleted { deleted_at: now() }]);
    assert_eq!(after.deleted_at, Some(now()));
}

#[test]
fn deleted_false_restores() {
    let after = given([SoftDeleted { deleted_at: now() }])
        .when_update(json!({"deleted": false}))
        .then([Restored]);
    assert_eq!(after.deleted_at, None);
}

#[test]
fn deleted_unchanged_is_a_no_op() {
    given([SoftDeleted { deleted_at: now() }])
        .when_update(json!({"deleted": true}))
        .then_nothing();
    given([])
        .when_update(json!({"deleted": false}))
        .then_nothing();
}

#[test]
fn a_soft_deleted_conversation_still_accepts_updates() {
    given([SoftDeleted { deleted_at: now() }])
        .when_update(json!({"archived": true, "follow_up": true}))
        .then([Archived]);
    given([SoftDeleted { deleted_at: now() }])
        .when_update(json!({"follow_up": true}))
        .then([
            CollaboratorAdded,
            FollowUpSet {
                due_at: None,
                message: String::new(),
            },
        ]);
}

#[test]
fn campaign_change() {
    let after = given([])
        .when_update(json!({"campaign": "spring"}))
        .then([AttributesChanged {
            changes: AttributeChanges {
                campaign: Some(Change {
                    from: None,
                    to: Some("spring".into()),
                }),
                ..Default::default()
            },
        }]);
    assert_eq!(after.campaign.as_deref(), Some("spring"));
}

#[test]
fn source_type_change_and_clear() {
    // The conversation started with source_type "contact_form".
    let after = given([])
        .when_update(json!({"source_type": null}))
        .then([AttributesChanged {
            changes: AttributeChanges {
                source_type: Some(Change {
                    from: Some("contact_form".into()),
                    to: None,
                }),
                ..Default::default()
            },
        }]);
    assert_eq!(after.source.source_type, None);
}

#[test]
fn mobile_change() {
    given([])
        .when_update(json!({"mobile": true}))
        .then([AttributesChanged {
            changes: AttributeChanges {
                mobile: Some(Change {
                    from: false,
                    to: true,
                }),
                ..Default::default()
            },
        }]);
}

#[test]
fn several_attributes_make_one_event_with_only_the_changed_ones() {
    given([])
        .when_update(json!({"campaign": "x", "source_type": "contact_form", "mobile": "1"}))
        .then([AttributesChanged {
            changes: AttributeChanges {
                campaign: Some(Change {
                    from: None,
                    to: Some("x".into()),
                }),
                source_type: None,
                mobile: Some(Change {
                    from: false,
                    to: true,
                }),
            },
        }]);
}

#[test]
fn unchanged_attributes_are_a_no_op() {
    given([])
        .when_update(json!({"source_type": "contact_form", "mobile": false, "campaign": null}))
        .then_nothing();
}

#[test]
fn an_empty_body_changes_nothing() {
    given([]).when_update(json!({})).then_nothing();
}

#[test]
fn unknown_keys_are_ignored() {
    given([])
        .when_update(json!({"title": "hacked", "uid": "other", "archived": true}))
        .then([Archived]);
}

#[test]
fn permitted_fields_come_before_the_follow_up_branch() {
    given([])
        .when_update(json!({
            "follow_up": true, "spam": true, "business_unread": true, "deleted": true
        }))
        .then([
            MarkedUnread,
            MarkedSpam,
            SoftDeleted { deleted_at: now() },
            CollaboratorAdded,
            FollowUpSet {
                due_at: None,
                message: String::new(),
            },
        ]);
}
