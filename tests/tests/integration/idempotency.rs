//! Spec §9: a retried Idempotency-Key returns the first response and adds no event; the same
//! key with another body is a 409.

use convo_tests::{BUSINESS, OTHER_STAFF, STAFF, TestApp, assert_error, send, token};
use serde_json::json;

const UID: &str = "conv0000idempot1";

async fn put_keyed(
    app: &TestApp,
    staff: &str,
    key: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    send(
        app.client
            .put(app.url(UID))
            .bearer_auth(token(staff, BUSINESS, "all"))
            .header("Idempotency-Key", key)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn a_retry_returns_the_first_response_and_adds_nothing() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let body = json!({"follow_up": true, "follow_up_message": "note", "spam": true});
    let (status, first) = put_keyed(&app, STAFF, "key-1", body.clone()).await;
    assert_eq!(status, 200);
    let version = app.version(UID).await;
    // In between, another change makes the conversation differ from the first response.
    app.put_ok(UID, json!({"spam": false})).await;
    let after_other = app.version(UID).await;
    // Same body, keys reordered: still the same request.
    let reordered = json!({"spam": true, "follow_up_message": "note", "follow_up": true});
    let (status, again) = put_keyed(&app, STAFF, "key-1", reordered).await;
    assert_eq!(status, 200);
    assert_eq!(again, first, "the first response, byte for byte");
    assert_eq!(app.version(UID).await, after_other, "no new event");
    assert!(after_other > version);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_409() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    put_keyed(&app, STAFF, "key-2", json!({"archived": true})).await;
    let before = app.stored_rows().await;
    let (status, body) = put_keyed(&app, STAFF, "key-2", json!({"archived": false})).await;
    assert_eq!(status, 409);
    assert_error(&body, "conflict");
    assert_eq!(app.stored_rows().await, before);
}

#[tokio::test]
async fn a_rejected_request_is_replayed_as_rejected() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let body = json!({"follow_up": true, "follow_up_date": "2001-01-01"});
    let (status, first) = put_keyed(&app, STAFF, "key-3", body.clone()).await;
    assert_eq!(status, 422);
    let (status, again) = put_keyed(&app, STAFF, "key-3", body).await;
    assert_eq!((status, again), (422, first));
}

#[tokio::test]
async fn keys_belong_to_their_staff() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    put_keyed(&app, STAFF, "shared-key", json!({"archived": true})).await;
    // Another staff using the same key value runs its own request.
    let (status, body) = put_keyed(&app, OTHER_STAFF, "shared-key", json!({"spam": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["spam"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_one_key_run_once() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.version(UID).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                put_keyed(
                    &app,
                    STAFF,
                    "key-burst",
                    json!({"follow_up": true, "follow_up_message": "x"}),
                )
                .await
            })
        })
        .collect();
    let mut responses = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        responses.push(body);
    }
    assert!(responses.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        app.event_types_after(UID, before).await,
        ["CollaboratorAdded", "FollowUpSet", "InternalNoteAdded"]
    );
}
