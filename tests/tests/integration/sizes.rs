//! Bounded sizes (issue 7, part 2): a command whose events would exceed the event size limit is
//! refused with vcita's error shape, for every command type, and stores nothing.

use convo_domain::event::MAX_EVENT_BYTES;
use convo_tests::{BUSINESS, STAFF, TestApp, assert_error, send, token};
use serde_json::{Value, json};

/// Asserts a `rejected` outcome with HTTP status 413 and a `bad_request` error.
fn assert_too_large(outcome: &Value) {
    assert_eq!(outcome["status"], "rejected", "{outcome:.300}");
    assert_eq!(outcome["http_status"], 413, "{outcome:.300}");
    assert_eq!(
        outcome["errors"][0]["code"], "bad_request",
        "{outcome:.300}"
    );
}

#[tokio::test]
async fn a_start_with_a_huge_client_record_stores_nothing() {
    let app = TestApp::spawn().await;
    let outcome = app
        .command(json!({
            "type": "StartConversation", "command_id": "huge-start",
            "conversation_uid": "hugestart0000001", "business_uid": BUSINESS, "title": "Jane",
            "client": {"uid": "client1", "full": {"notes": "x".repeat(MAX_EVENT_BYTES)}},
            "staff": {"uid": STAFF}
        }))
        .await;
    assert_too_large(&outcome);
    // The refusal is the command's outcome: it is kept for retries of the same command_id, but
    // no event, snapshot or route is.
    let events: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM snapshots)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(events, 0);
    let (status, body) = app.get("hugestart0000001").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn a_message_of_one_and_a_half_megabytes_stores_nothing() {
    let app = TestApp::spawn().await;
    let uid = "hugemessage00001";
    app.start(uid).await;
    let before = app.events(uid).await;
    let outcome = app
        .command(json!({
            "type": "RecordMessage", "command_id": "huge-message", "conversation_uid": uid,
            "business_uid": BUSINESS, "message_id": "m2", "direction": "incoming",
            "text": "x".repeat(1_500_000), "at": "2026-05-04T16:13:00Z"
        }))
        .await;
    assert_too_large(&outcome);
    assert_eq!(app.events(uid).await, before);
}

#[tokio::test]
async fn an_oversized_update_stores_nothing_over_http_or_kafka() {
    let app = TestApp::spawn().await;
    let uid = "hugeupdate000001";
    app.start(uid).await;
    let before = app.stored_rows().await;

    // Over the 64 KiB body cap (a larger body is cut off while it is being sent).
    let body =
        json!({"archived": true, "follow_up": true, "follow_up_message": "x".repeat(100_000)});
    let (status, response) = send(
        app.client
            .put(app.url(uid))
            .bearer_auth(token(STAFF, BUSINESS, "all"))
            .json(&body),
    )
    .await;
    assert_eq!(status, 413, "{response}");
    assert_error(&response, "bad_request");

    let outcome = app
        .command(json!({
            "type": "UpdateConversation", "command_id": "huge-update", "conversation_uid": uid,
            "business_uid": BUSINESS, "staff_uid": STAFF, "body": body
        }))
        .await;
    assert_too_large(&outcome);
    // Refused before it reached the store (like an invalid body): not even an outcome row.
    assert_eq!(app.stored_rows().await, before);
    assert_eq!(app.version(uid).await, 2);
}

/// Merges and hard deletes carry only ids (at most 128 characters, checked before they are
/// decided), so their events cannot reach the limit (the domain's
/// `the_other_events_are_bounded_far_below_the_limit`); an oversized merge or delete message is
/// the intake's message limit's case. Here: they still pass the check in the real store.
#[tokio::test]
async fn merges_and_deletes_pass_the_size_check() {
    let app = TestApp::spawn().await;
    for uid in ["sizemergesrc0001", "sizemergedst0001"] {
        app.start(uid).await;
    }
    let merged = app
        .command(json!({
            "type": "MergeConversation", "command_id": "size-merge",
            "conversation_uid": "sizemergesrc0001", "business_uid": BUSINESS,
            "target_uid": "sizemergedst0001"
        }))
        .await;
    assert_eq!(merged["status"], "accepted", "{merged}");
    let deleted = app
        .command(json!({
            "type": "DeleteConversation", "command_id": "size-delete",
            "conversation_uid": "sizemergedst0001", "business_uid": BUSINESS
        }))
        .await;
    assert_eq!(deleted["status"], "accepted", "{deleted}");
}
