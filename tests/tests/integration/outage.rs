//! A database outage (issue 7, part 7; issue 8, item 7): requests get a fast 503 in vcita's error
//! shape with `Retry-After`, not a hang and not a 500, and the service answers again once the
//! database is back.

use std::time::{Duration, Instant};

use convo_tests::outage::Proxy;
use convo_tests::{TestApp, TestDb, assert_error};
use serde_json::{Value, json};

/// Asserts a 503 answered within the pool's acquire timeout and a margin.
async fn assert_unavailable(app: &TestApp, uid: &str) {
    let started = Instant::now();
    let response = app
        .client
        .put(app.url(uid))
        .bearer_auth(convo_tests::token(
            convo_tests::STAFF,
            convo_tests::BUSINESS,
            "all",
        ))
        .json(&json!({"archived": true}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("an answer, not a hang");
    let elapsed = started.elapsed();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("2")
    );
    let body: Value = response.json().await.unwrap();
    assert_error(&body, "service_unavailable");
    assert!(
        elapsed <= convo_store::ACQUIRE_TIMEOUT + Duration::from_secs(2),
        "answered after {elapsed:?}"
    );
}

#[tokio::test]
async fn a_database_that_never_answers_gets_a_fast_503() {
    let db = TestDb::new().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let pool = convo_store::pool_options(2).connect_lazy_with(db.options.clone().port(port));
    let app = TestApp::spawn_with(db, pool).await;
    assert_unavailable(&app, "outage0000000001").await;
    let (status, body) = app.get("outage0000000001").await;
    assert_eq!(status, 503, "{body}");
}

#[tokio::test]
async fn requests_during_an_outage_get_a_fast_503_and_succeed_after_it() {
    let db = TestDb::new().await;
    let target = format!("{}:{}", db.options.get_host(), db.options.get_port());
    let target = tokio::net::lookup_host(target)
        .await
        .unwrap()
        .next()
        .unwrap();
    let mut proxy = Proxy::start(target).await;
    let pool = convo_store::pool_options(4)
        .connect_with(db.options.clone().host("127.0.0.1").port(proxy.addr.port()))
        .await
        .unwrap();
    let app = TestApp::spawn_with(db, pool).await;
    let uid = "outage0000000002";
    app.start(uid).await;

    proxy.cut();
    assert_unavailable(&app, uid).await;
    assert_unavailable(&app, uid).await;

    proxy.restore();
    let response = app.put_ok(uid, json!({"archived": true})).await;
    assert_eq!(response["archived"], true);
    assert_eq!(
        app.version(uid).await,
        3,
        "the refused requests stored nothing"
    );
}
