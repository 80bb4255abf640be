//! Spec §3: malformed bodies, wrong types, huge bodies and odd uids get the documented error and
//! store nothing.

use convo_tests::{BUSINESS, STAFF, TestApp, assert_error, send, token};
use serde_json::json;

const UID: &str = "conv00000badin01";

async fn put_raw(app: &TestApp, uid: &str, body: Vec<u8>) -> (u16, serde_json::Value) {
    send(
        app.client
            .put(app.url(uid))
            .bearer_auth(token(STAFF, BUSINESS, "all"))
            .header("Content-Type", "application/json")
            .body(body),
    )
    .await
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    for body in [
        &b"{"[..],
        b"",
        b"{\"archived\": tru}",
        b"[1, 2]",
        b"\"archived\"",
        b"null",
        b"{\"archived\": true} trailing",
        &[0xff, 0xfe, 0x00],
    ] {
        let (status, response) = put_raw(&app, UID, body.to_vec()).await;
        assert_eq!(status, 400, "{:?}", String::from_utf8_lossy(body));
        assert_error(&response, "bad_request");
        assert!(
            !response["errors"][0]["message"]
                .as_str()
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(app.stored_rows().await, before);
}

#[tokio::test]
async fn wrong_types_are_422_with_every_field() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    let (status, response) = app
        .put(
            UID,
            json!({"archived": "yes", "spam": null, "mobile": [true], "campaign": 7,
                   "source_type": "x".repeat(256), "follow_up_message": {"a": 1}, "deleted": true}),
        )
        .await;
    assert_eq!(status, 422);
    assert_error(&response, "invalid");
    let fields: Vec<&str> = response["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "archived",
            "spam",
            "mobile",
            "campaign",
            "source_type",
            "follow_up_message"
        ]
    );
    assert_eq!(
        app.stored_rows().await,
        before,
        "the valid `deleted` was not applied either"
    );
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    let body = format!("{{\"campaign\": \"{}\"}}", "x".repeat(70 * 1024));
    let (status, response) = put_raw(&app, UID, body.into_bytes()).await;
    assert_eq!(status, 413);
    assert_error(&response, "bad_request");
    let (status, _) = put_raw(&app, UID, vec![b' '; 2 * 1024 * 1024]).await;
    assert_eq!(status, 413);
    assert_eq!(app.stored_rows().await, before);
}

#[tokio::test]
async fn odd_uids_are_404_and_store_nothing() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    let long = "a".repeat(10 * 1024);
    for uid in [
        "x'%3B%20DROP%20TABLE%20events%3B--",
        "%27%20OR%20%271%27%3D%271",
        long.as_str(),
        "%E2%9C%93%F0%9F%92%A5",
        "conv%00nul",
        "..%2F..%2Fetc",
        "nonexistent00001",
    ] {
        let (status, response) = put_raw(&app, uid, br#"{"archived": true}"#.to_vec()).await;
        assert_eq!(status, 404, "{}", &uid[..uid.len().min(40)]);
        assert_error(&response, "invalid");
        let (status, _) = send(
            app.client
                .get(app.url(uid))
                .bearer_auth(token(STAFF, BUSINESS, "all")),
        )
        .await;
        assert_eq!(status, 404);
    }
    assert_eq!(app.stored_rows().await, before);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, 2, "the table is intact");
}

#[tokio::test]
async fn a_bad_idempotency_key_is_400() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let (status, response) = send(
        app.client
            .put(app.url(UID))
            .bearer_auth(token(STAFF, BUSINESS, "all"))
            .header("Idempotency-Key", "k".repeat(200))
            .json(&json!({"archived": true})),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(&response, "bad_request");
}
