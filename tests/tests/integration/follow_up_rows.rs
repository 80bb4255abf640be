//! Spec §5 through HTTP: one test per row of the follow-up table (and its variants). Each row
//! checks the status, the events stored, and the response against vcita's schema.

use convo_tests::TestApp;
use serde_json::{Value, json};

const UID: &str = "conv0000followup";
const FUTURE: &str = "Wed May 06 2099 13:31:21 GMT+0300 (Israel Daylight Time)";

/// Spec row on this module's conversation; the response, for further checks.
async fn row(given: &[Value], when: Value, events: &[&str]) -> Value {
    convo_tests::spec_row(UID, given, when, events).await.1
}

fn active() -> Value {
    json!({"follow_up": true, "follow_up_date": FUTURE, "follow_up_message": "call back"})
}

#[tokio::test]
async fn row1_follow_up_and_archived_with_active_completes() {
    let r = row(
        &[active()],
        json!({"follow_up": true, "archived": true, "complete_follow_up": true}),
        &["Archived", "FollowUpCompleted"],
    )
    .await;
    assert_eq!(
        (&r["follow_up"], &r["archived"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(r["follow_up_date"], Value::Null);
    assert_eq!(r["follow_up_text"], "");
}

#[tokio::test]
async fn row1_follow_up_and_archived_with_active_dismisses() {
    let r = row(
        &[active()],
        json!({"follow_up": true, "archived": true}),
        &["Archived", "FollowUpRemoved"],
    )
    .await;
    assert_eq!(r["follow_up"], false);
}

#[tokio::test]
async fn row2_follow_up_and_archived_without_active_only_archives() {
    let r = row(
        &[],
        json!({"follow_up": true, "archived": true, "complete_follow_up": true}),
        &["Archived"],
    )
    .await;
    assert_eq!(
        (&r["follow_up"], &r["archived"]),
        (&json!(false), &json!(true))
    );
}

#[tokio::test]
async fn row3_follow_up_creates_with_the_js_date() {
    let r = row(
        &[],
        json!({"follow_up": true, "follow_up_date": FUTURE, "follow_up_message": "just a test"}),
        &["CollaboratorAdded", "FollowUpSet"],
    )
    .await;
    assert_eq!(r["follow_up"], true);
    assert_eq!(r["follow_up_date"], "2099-05-06T10:31:21Z");
    assert_eq!(r["follow_up_message"], "just a test");
    assert_eq!(
        r["follow_up_text"],
        "Reminder set for Wed, May 6 at 10:31 AM UTC"
    );
}

#[tokio::test]
async fn row3_follow_up_unarchives() {
    let r = row(
        &[json!({"archived": true})],
        json!({"follow_up": "true"}),
        &["CollaboratorAdded", "FollowUpSet", "Unarchived"],
    )
    .await;
    assert_eq!(r["archived"], false);
}

#[tokio::test]
async fn row3_follow_up_with_archived_false() {
    row(
        &[json!({"archived": true})],
        json!({"follow_up": true, "archived": false}),
        &["Unarchived", "CollaboratorAdded", "FollowUpSet"],
    )
    .await;
}

#[tokio::test]
async fn row3_message_without_date_adds_an_internal_note() {
    let r = row(
        &[],
        json!({"follow_up": true, "follow_up_message": "call back about pricing"}),
        &["CollaboratorAdded", "FollowUpSet", "InternalNoteAdded"],
    )
    .await;
    assert_eq!(r["message_count"], 2);
    assert_eq!(r["last_message"]["text"], "call back about pricing");
    assert_eq!(r["follow_up_date"], Value::Null);
}

#[tokio::test]
async fn row3_existing_collaborator_gets_no_second_record() {
    row(
        &[active(), json!({"follow_up": false})],
        json!({"follow_up": true}),
        &["FollowUpSet"],
    )
    .await;
}

#[tokio::test]
async fn row4_follow_up_when_active_changes_nothing() {
    let r = row(
        &[active()],
        json!({"follow_up": true, "follow_up_date": "not a date", "follow_up_message": "other"}),
        &[],
    )
    .await;
    assert_eq!(r["follow_up_message"], "call back");
}

#[tokio::test]
async fn row5_follow_up_false_removes() {
    row(
        &[active()],
        json!({"follow_up": false}),
        &["FollowUpRemoved"],
    )
    .await;
}

#[tokio::test]
async fn row5_follow_up_false_with_complete_completes() {
    row(
        &[active()],
        json!({"follow_up": "0", "complete_follow_up": "1"}),
        &["FollowUpCompleted"],
    )
    .await;
}

#[tokio::test]
async fn row6_follow_up_false_without_active_does_nothing() {
    row(
        &[],
        json!({"follow_up": false, "complete_follow_up": true}),
        &[],
    )
    .await;
}

#[tokio::test]
async fn follow_ups_are_per_staff() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    app.put_ok(UID, active()).await;
    let other = convo_tests::token(convo_tests::OTHER_STAFF, convo_tests::BUSINESS, "all");
    let (status, r) = convo_tests::send(app.client.get(app.url(UID)).bearer_auth(&other)).await;
    assert_eq!(status, 200);
    assert_eq!(r["follow_up"], false);
    assert_eq!(app.get(UID).await.1["follow_up"], true);
}

#[tokio::test]
async fn a_past_date_is_422_and_stores_nothing() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    let (status, r) = app
        .put(
            UID,
            json!({"follow_up": true, "follow_up_date": "2020-01-01T00:00:00Z", "spam": true}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        r,
        json!({"success": false, "errors": [{"field": "follow_up_date", "code": "invalid", "message": "Time has already passed."}]})
    );
    assert_eq!(app.stored_rows().await, before);
}

#[tokio::test]
async fn an_unparseable_date_is_422() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    for date in [
        json!("someday"),
        json!(12),
        json!(null),
        json!("x".repeat(129)),
    ] {
        let (status, r) = app
            .put(UID, json!({"follow_up": true, "follow_up_date": date}))
            .await;
        assert_eq!(status, 422, "{date}");
        assert_eq!(r["errors"][0]["message"], "Invalid date");
    }
}
