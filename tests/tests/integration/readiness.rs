//! `/healthz` and `/readyz` of a real `convo serve` process: ready when all is well, and 503
//! naming the check when PostgreSQL is unreachable or silent, the broker is down, or the relay
//! falls behind. (A role in a restart loop: unit tests in `crates/convo/src/ready.rs`.)

use std::time::{Duration, Instant};

use convo_tests::chaos::service::{Env, Instance, convo_bin};
use convo_tests::kafka::{OwnBroker, brokers};
use convo_tests::outage::Proxy;
use convo_tests::{TestApp, TestDb, send};
use serde_json::Value;

/// `convo serve --roles roles` on `db`, checking every second with a 1 s timeout.
async fn serve(db: &TestDb, database_url: String, brokers: String, roles: &str) -> Instance {
    serve_with(db, database_url, brokers, roles, &[]).await
}

async fn serve_with(
    db: &TestDb,
    database_url: String,
    brokers: String,
    roles: &str,
    vars: &[(&str, &str)],
) -> Instance {
    let dir = std::env::temp_dir().join(format!("convo-ready-{}", db.name));
    std::fs::create_dir_all(&dir).expect("log dir");
    let env = Env {
        bin: convo_bin(),
        dir,
        database_url,
        brokers,
        topic_prefix: format!("{}.", db.name),
        partitions: 2,
    };
    let mut vars = vars.to_vec();
    vars.push(("CONVO_READY_CHECK_TIMEOUT", "1"));
    Instance::start_with(&env, "ready", roles, &vars).await
}

/// The URL of `db` through `addr` (a proxy).
fn url_via(db: &TestDb, addr: std::net::SocketAddr) -> String {
    format!(
        "postgres://{}@{addr}/{}",
        db.options.get_username(),
        db.name
    )
}

async fn readyz(instance: &Instance) -> (u16, Value) {
    let base = instance.api.as_ref().expect("an API");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    send(client.get(format!("{base}/readyz"))).await
}

/// Polls `/readyz` until `wanted` holds for its answer (each answer within 2 s); returns it.
async fn until(instance: &Instance, what: &str, wanted: impl Fn(u16, &Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = readyz(instance).await;
        if wanted(status, &body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never became {what}; last {status} {body} (log {})",
            instance.log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn failing(check: &'static str) -> impl Fn(u16, &Value) -> bool {
    move |status, body| {
        status == 503 && body["status"] == "not_ready" && body["checks"][check]["ok"] == false
    }
}

fn ready(status: u16, body: &Value) -> bool {
    status == 200 && body["status"] == "ready"
}

#[tokio::test]
async fn ready_when_every_check_passes_and_healthz_and_health_answer() {
    let app = TestApp::spawn().await;
    let roles = "api,relay,intake,projector";
    let instance = serve(&app.db, app.database_url(), brokers(), roles).await;
    let body = until(&instance, "ready", ready).await;
    for check in ["postgres", "broker", "relay_lag", "projector_lag", "roles"] {
        assert_eq!(body["checks"][check]["ok"], true, "{check}: {body}");
    }
    let base = instance.api.as_ref().expect("an API");
    let (status, alive) = send(app.client.get(format!("{base}/healthz"))).await;
    assert_eq!((status, &alive["status"]), (200, &"alive".into()));
    let (status, _) = send(app.client.get(format!("{base}/health"))).await;
    assert_eq!(status, 200, "the old /health still answers");
}

#[tokio::test]
async fn postgres_silent_or_gone_is_not_ready_and_readyz_still_answers_at_once() {
    let db = TestDb::new().await;
    let target = format!("{}:{}", db.options.get_host(), db.options.get_port());
    let target = tokio::net::lookup_host(target)
        .await
        .expect("resolve")
        .next()
        .expect("an address");
    let mut proxy = Proxy::start(target).await;
    let instance = serve(&db, url_via(&db, proxy.addr), brokers(), "api").await;
    let body = until(&instance, "ready", ready).await;
    assert!(body["checks"].get("broker").is_none(), "no Kafka role here");

    proxy.freeze();
    let body = until(&instance, "not ready for postgres", failing("postgres")).await;
    let error = body["checks"]["postgres"]["error"].as_str().unwrap_or("");
    assert!(error.contains("no answer within"), "{body}");

    proxy.cut();
    until(&instance, "not ready for postgres", failing("postgres")).await;
    proxy.restore();
    until(&instance, "ready again", ready).await;
}

#[tokio::test]
async fn a_broker_down_is_not_ready_where_a_kafka_role_runs() {
    let app = TestApp::spawn().await;
    let mut broker = OwnBroker::start().await;
    let instance = serve(&app.db, app.database_url(), broker.brokers(), "api,intake").await;
    until(&instance, "ready", ready).await;

    broker.kill();
    let body = until(&instance, "not ready for the broker", failing("broker")).await;
    assert_eq!(body["checks"]["postgres"]["ok"], true, "{body}");
}

#[tokio::test]
async fn events_the_relay_leaves_unpublished_past_the_limit_make_it_not_ready() {
    let app = TestApp::spawn().await;
    // Another relay holds the leader lock and publishes nothing: this process's relay waits.
    let mut leader = sqlx::ConnectOptions::connect(&app.db.options)
        .await
        .expect("a connection");
    sqlx::query("SELECT pg_advisory_lock(x'636f6e76'::int, 1)")
        .execute(&mut leader)
        .await
        .expect("take the relay's leader lock");
    let vars = [("CONVO_READY_MAX_RELAY_LAG", "1")];
    let instance = serve_with(&app.db, app.database_url(), brokers(), "api,relay", &vars).await;
    until(&instance, "ready", ready).await;

    app.start("readylag0000001").await;
    let body = until(&instance, "not ready for relay lag", failing("relay_lag")).await;
    let lag = &body["checks"]["relay_lag"];
    assert!(
        lag["oldest_unpublished_seconds"].as_f64() > Some(1.0),
        "{body}"
    );
    assert_eq!(lag["limit_seconds"], 1.0);
    assert_eq!(body["checks"]["broker"]["ok"], true, "{body}");

    // The lock released, the relay publishes and the process is ready again.
    sqlx::Connection::close(leader)
        .await
        .expect("release the lock");
    until(&instance, "ready again", ready).await;
}
