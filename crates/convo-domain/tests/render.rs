//! Spec §8 and §1 (`full_client`): the rendered `Conversation` object.

mod support;

use convo_domain::EventBody::*;
use convo_domain::render::{Depth, depth_from_full_client, human_time, render};
use serde_json::json;
use support::*;

#[test]
fn full_client_truthiness() {
    for (value, depth) in [
        (None, Depth::Shallow),
        (Some(""), Depth::Shallow),
        (Some("0"), Depth::Shallow),
        (Some("false"), Depth::Shallow),
        (Some("FALSE"), Depth::Shallow),
        (Some("f"), Depth::Shallow),
        (Some("off"), Depth::Shallow),
        (Some("No"), Depth::Shallow),
        (Some("1"), Depth::Deep),
        (Some("true"), Depth::Deep),
        (Some("yes"), Depth::Deep),
        (Some("anything"), Depth::Deep),
    ] {
        assert_eq!(depth_from_full_client(value), depth, "{value:?}");
    }
}

#[test]
fn shallow_rendering_of_a_follow_up() {
    let state = given([
        CollaboratorAdded,
        FollowUpSet {
            due_at: Some(at("2026-05-06T10:31:21Z")),
            message: "just a test".into(),
        },
    ])
    .state;
    let out = render(&state, STAFF, Depth::Shallow, now());
    assert_eq!(out["uid"], CONVERSATION);
    assert_eq!(out["follow_up"], true);
    assert_eq!(out["follow_up_date"], "2026-05-06T10:31:21Z");
    assert_eq!(out["follow_up_message"], "just a test");
    assert_eq!(
        out["follow_up_text"],
        "Reminder set for Wed, May 6 at 10:31 AM UTC"
    );
    assert_eq!(out["depth"], "shallow");
    assert_eq!(out["client"]["uid"], CLIENT);
    assert_eq!(
        out["staff"],
        json!({"uid": STAFF, "display_name": "Ram Almog"})
    );
    assert!(out.get("source_type").is_none());
    assert!(out.get("require_attention").is_none());
}

#[test]
fn follow_up_fields_are_the_requesting_staffs() {
    let state = given([
        CollaboratorAdded,
        FollowUpSet {
            due_at: None,
            message: "mine".into(),
        },
    ])
    .state;
    let other = render(&state, OTHER_STAFF, Depth::Shallow, now());
    assert_eq!(other["follow_up"], false);
    assert_eq!(other["follow_up_date"], json!(null));
    assert_eq!(other["follow_up_message"], "");
    assert_eq!(other["follow_up_text"], "");
    let mine = render(&state, STAFF, Depth::Shallow, now());
    assert_eq!(mine["follow_up_text"], "Follow-up set");
}

#[test]
fn deep_rendering_adds_source_fields_and_the_full_client() {
    let mut state = given([MarkedUnread]).state;
    state
        .client
        .full
        .insert("address".into(), json!("1 Main St"));
    let out = render(&state, STAFF, Depth::Deep, now());
    assert_eq!(out["depth"], "deep");
    assert_eq!(out["require_attention"], true);
    assert_eq!(out["source_type"], "contact_form");
    assert_eq!(out["source_type_h"], "Contact form");
    assert_eq!(out["client"]["address"], "1 Main St");
    let shallow = render(&state, STAFF, Depth::Shallow, now());
    assert!(shallow["client"].get("address").is_none());
}

#[test]
fn flags_render_as_the_state_has_them() {
    let state = given([Archived, MarkedSpam, SoftDeleted { deleted_at: now() }]).state;
    let out = render(&state, STAFF, Depth::Shallow, now());
    assert_eq!(
        (
            &out["archived"],
            &out["spam"],
            &out["deleted"],
            &out["business_unread"]
        ),
        (&json!(true), &json!(true), &json!(true), &json!(false))
    );
    assert_eq!(out["client"]["spam"], true);
}

#[test]
fn human_times() {
    let now = at("2026-05-05T15:00:00Z");
    assert_eq!(
        human_time(at("2026-05-05T10:30:00Z"), now),
        "Today, 10:30 AM"
    );
    assert_eq!(
        human_time(at("2026-05-04T16:12:00Z"), now),
        "Yesterday, 4:12 PM"
    );
    assert_eq!(
        human_time(at("2026-04-04T16:12:00Z"), now),
        "Apr 4, 4:12 PM"
    );
    assert_eq!(human_time(at("2025-04-04T16:12:00Z"), now), "Apr 4, 2025");
}
