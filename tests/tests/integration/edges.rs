//! Every refusal in vcita's error shape, in the spec's order (401, 403, query and body, then
//! 404), including the ones axum would otherwise answer in its own words: bad query strings,
//! paths that are not UTF-8, missing uids, unknown routes, wrong methods, bodies that never
//! arrive whole.

use std::time::Duration;

use convo_tests::{BUSINESS, STAFF, TestApp, assert_error, send, token};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const UID: &str = "edgeconv00000001";

fn bearer() -> String {
    format!("Bearer {}", token(STAFF, BUSINESS, "all"))
}

async fn raw(app: &TestApp, method: &str, path: &str, auth: bool) -> (u16, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, format!("{}{path}", app.base));
    if auth {
        request = request.header("authorization", bearer());
    }
    send(request.json(&json!({"archived": true}))).await
}

#[tokio::test]
async fn a_repeated_query_parameter_is_401_before_the_token_and_400_after() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let path = format!("/v2/conversations/{UID}?full_client=1&full_client=1");
    let (status, body) = raw(&app, "PUT", &path, false).await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
    let (status, body) = raw(&app, "PUT", &path, true).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "bad_request");
    let (status, body) = raw(&app, "GET", &path, true).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "bad_request");
}

#[tokio::test]
async fn a_path_that_is_not_utf8_is_an_unknown_conversation() {
    let app = TestApp::spawn().await;
    for method in ["PUT", "GET"] {
        let (status, body) = raw(&app, method, "/v2/conversations/%FF", false).await;
        assert_eq!(status, 401, "{method}");
        assert_error(&body, "unauthorized");
        let (status, body) = raw(&app, method, "/v2/conversations/%FF", true).await;
        assert_eq!(status, 404, "{method}: {body}");
        assert_error(&body, "invalid");
    }
}

#[tokio::test]
async fn a_missing_uid_is_401_then_404() {
    let app = TestApp::spawn().await;
    for path in [
        "/v2/conversations/",
        "/v2/conversations",
        "/v2/conversations/a/b",
    ] {
        let (status, body) = raw(&app, "PUT", path, false).await;
        assert_eq!(status, 401, "{path}");
        assert_error(&body, "unauthorized");
        let (status, body) = raw(&app, "PUT", path, true).await;
        assert_eq!(status, 404, "{path}");
        assert_error(&body, "invalid");
    }
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_vcitas_shape() {
    let app = TestApp::spawn().await;
    let (status, body) = raw(&app, "GET", "/no/such/thing", false).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let path = format!("/v2/conversations/{UID}");
    let (status, body) = raw(&app, "DELETE", &path, false).await;
    assert_eq!(status, 401, "the token first");
    assert_error(&body, "unauthorized");
    let (status, body) = raw(&app, "DELETE", &path, true).await;
    assert_eq!(status, 405);
    assert_error(&body, "method_not_allowed");
}

#[tokio::test]
async fn an_implausible_uid_is_404_only_after_the_body_was_judged() {
    let app = TestApp::spawn().await;
    let request = |body: serde_json::Value| {
        app.client
            .put(format!("{}/v2/conversations/not.a.uid", app.base))
            .header("authorization", bearer())
            .json(&body)
    };
    let (status, body) = send(request(json!({"archived": "maybe"}))).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = send(request(json!({"archived": true}))).await;
    assert_eq!(status, 404, "{body}");
    assert_error(&body, "invalid");
}

#[tokio::test]
async fn a_body_that_never_arrives_whole_is_400_not_413() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "PUT /v2/conversations/{UID} HTTP/1.1\r\nhost: {address}\r\nauthorization: {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"archived\"",
        bearer()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The client stops sending (half-close) and waits for the answer.
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"success\":false"), "{answer}");
    assert_eq!(app.stored_rows().await, before, "nothing stored");
}

fn quick_limits(max_connections: usize) -> convo_api::ServerLimits {
    convo_api::ServerLimits {
        header_read_timeout: Duration::from_millis(500),
        max_connections,
        ..Default::default()
    }
}

async fn connect(app: &TestApp) -> tokio::net::TcpStream {
    let address = app.base.trim_start_matches("http://");
    tokio::net::TcpStream::connect(address).await.unwrap()
}

#[tokio::test]
async fn a_connection_sending_half_a_header_is_closed() {
    let app = TestApp::spawn_with(quick_limits(16)).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /v2/conversations/x HTTP/1.1\r\nhost: x\r\nauthoriz")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closed the connection");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_one() {
    let app = TestApp::spawn_with(convo_api::ServerLimits {
        max_connections: 1,
        ..Default::default()
    })
    .await;
    // The only connection slot, held by a client that is slow to send its headers.
    let mut slow = connect(&app).await;
    slow.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn({
        let app = app.clone();
        async move { send(app.client.get(format!("{}/health", app.base))).await.0 }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a second connection is not served while the slot is held"
    );
    drop(slow);
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once the slot is free")
        .unwrap();
    assert_eq!(status, 200);
}
