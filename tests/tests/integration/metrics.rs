//! `/metrics` (issue 10, part 1): each figure moves when its event happens, read from the real
//! endpoint over HTTP. Each test runs in its own process (nextest), so the figures are the
//! test's own; they are compared before and after all the same.

use std::time::Duration;

use convo_relay::RelayStatus;
use convo_tests::kafka::{
    brokers, create_topics, eventually, produce, producer, relay_config, start_intake,
    start_projector, start_relay, start_relay_with, unique_config,
};
use convo_tests::metrics::Scrape;
use convo_tests::{BUSINESS, STAFF, TestApp, send, token};
use serde_json::json;

use crate::relay_guards::append_large_message;

const COMMANDS: &str = "convo_commands_total";

fn http_update<'a>(outcome: &'a str, status: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("transport", "http"),
        ("type", "update"),
        ("outcome", outcome),
        ("status", status),
    ]
}

/// How much `name{labels}` grew from `before` to `after`.
fn grew(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}

#[tokio::test]
async fn http_commands_and_requests_are_counted_by_route_outcome_and_status() {
    let app = TestApp::spawn().await;
    let uid = "metricshttp00001";
    app.start(uid).await;
    let before = app.scrape().await;
    let started = [
        ("transport", "kafka"),
        ("type", "start"),
        ("outcome", "accepted"),
    ];
    assert_eq!(before.value(COMMANDS, &started), 1.0);

    app.put_ok(uid, json!({"archived": true})).await;
    let (invalid, _) = app.put(uid, json!({"archived": "maybe"})).await;
    let (missing, _) = app.put("metricsnobody001", json!({"archived": true})).await;
    assert_eq!(missing, 404);
    let keyed = || {
        app.client
            .put(app.url(uid))
            .bearer_auth(token(STAFF, BUSINESS, "all"))
            .header("Idempotency-Key", "metrics-key-1")
            .json(&json!({"archived": false}))
    };
    assert_eq!(send(keyed()).await.0, 200);
    assert_eq!(send(keyed()).await.0, 200);
    let reused = keyed().json(&json!({"archived": true}));
    assert_eq!(send(reused).await.0, 409);
    let (unrouted, _) = send(app.client.get(format!("{}/no/such/route", app.base))).await;
    assert_eq!(unrouted, 404);
    let after = app.scrape().await;

    let invalid = invalid.to_string();
    assert!(invalid.starts_with('4'), "{invalid}");
    for (labels, by) in [
        (http_update("accepted", "200"), 2.0),
        (http_update("replayed", "200"), 1.0),
        (http_update("rejected", &invalid), 1.0),
        (http_update("rejected", "404"), 1.0),
        (http_update("rejected", "409"), 1.0),
    ] {
        assert_eq!(grew(&before, &after, COMMANDS, &labels), by, "{labels:?}");
    }
    let route = "/v2/conversations/{id}";
    let puts = [("route", route), ("method", "PUT")];
    let ok_puts = [("route", route), ("method", "PUT"), ("status", "200")];
    assert_eq!(
        grew(&before, &after, "convo_http_requests_total", &ok_puts),
        3.0
    );
    assert_eq!(
        grew(&before, &after, "convo_http_requests_total", &puts),
        6.0
    );
    let durations = "convo_http_request_duration_seconds_count";
    assert_eq!(grew(&before, &after, durations, &puts), 6.0);
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert_eq!(
        grew(&before, &after, "convo_http_requests_total", &unmatched),
        1.0
    );
    // Two commands appended events (the replay and the refusals did not).
    let appends = "convo_append_duration_seconds_count";
    assert_eq!(grew(&before, &after, appends, &[]), 2.0);
    assert!(after.has("convo_append_duration_seconds_bucket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_projector_and_intake_figures_move_as_events_flow() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let roles = [
        start_relay(&app, &kafka),
        start_projector(&app, &kafka),
        start_intake(&app, &kafka),
    ];
    let uid = "metricspipe00001";
    app.start(uid).await;
    app.put_ok(uid, json!({"archived": true})).await;
    let events = app.events(uid).await.len() as f64;

    eventually(Duration::from_secs(30), "the relay's figures", || async {
        let now = app.scrape().await;
        now.value("convo_relay_published_events_total", &[]) == events
            && now.value("convo_relay_batches_total", &[]) >= 1.0
    })
    .await;
    let conversations = [("model", "conversations")];
    eventually(
        Duration::from_secs(30),
        "the projector's figures",
        || async {
            let now = app.scrape().await;
            now.value("convo_projector_events_total", &conversations) == events
            // The next offsets of a fresh topic add up to the records read.
            && now.value("convo_projector_position", &conversations) == events
            && now.value("convo_relay_oldest_unpublished_age_seconds", &[]) == 0.0
        },
    )
    .await;
    let now = app.scrape().await;
    assert_eq!(now.value("convo_relay_stalled", &[]), 0.0);
    assert!(now.has("convo_projector_parked_conversations"));

    let before = app.scrape().await;
    let out = producer(&kafka);
    let message = json!({
        "type": "RecordMessage", "command_id": "metrics-msg-2", "conversation_uid": uid,
        "business_uid": BUSINESS, "message_id": "m2", "direction": "incoming",
        "title": "Again", "text": "Hello again", "at": "2026-05-04T16:13:00Z"
    });
    let commands = &kafka.topics.commands;
    produce(&out, commands, uid, message.to_string().as_bytes()).await;
    produce(&out, commands, uid, b"{ not a command").await;
    let recorded = [
        ("transport", "kafka"),
        ("type", "record_message"),
        ("outcome", "accepted"),
    ];
    let garbage = [("reason", "unparseable")];
    eventually(Duration::from_secs(30), "the intake's figures", || async {
        let now = app.scrape().await;
        grew(&before, &now, COMMANDS, &recorded) == 1.0
            && grew(&before, &now, "convo_dead_letters_total", &garbage) == 1.0
            // Both messages are answered and their positions stored at a heartbeat.
            && now.value("convo_intake_position", &[]) == 2.0
    })
    .await;
    for role in roles {
        role.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_relay_shows_in_its_gauges() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let uid = "metricsstall0001";
    app.start(uid).await;
    append_large_message(&app, uid, 300_000).await;
    // A producer limit below the event: the broker's refusal, as a lower broker limit gives.
    let mut low = kafka.clone();
    low.message_max_bytes = 200_000;
    let status = RelayStatus::default();
    let relay = start_relay_with(
        convo_relay::RelayConfig {
            status: status.clone(),
            ..relay_config(&app)
        },
        &low,
    );
    eventually(
        Duration::from_secs(30),
        "the stall in the gauges",
        || async {
            let now = app.scrape().await;
            now.value("convo_relay_stalled", &[]) == 1.0
                && now.value("convo_relay_oldest_unpublished_age_seconds", &[]) > 0.0
        },
    )
    .await;
    assert!(status.is_stalled());
    relay.stop().await;

    // The limit raised: the relay publishes again, nothing waits.
    let relay = start_relay(&app, &kafka);
    eventually(
        Duration::from_secs(30),
        "the stall ends in the gauges",
        || async {
            let now = app.scrape().await;
            now.value("convo_relay_stalled", &[]) == 0.0
                && now.value("convo_relay_oldest_unpublished_age_seconds", &[]) == 0.0
                && now.value("convo_relay_published_events_total", &[]) >= 3.0
        },
    )
    .await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_writer_that_wins_the_version_is_a_conflict_and_the_command_retries() {
    let app = TestApp::spawn().await;
    let uid = "metricsrace00001";
    app.start(uid).await;
    // A writer that bypasses the conversation lock (an older build, a repair script) holds the
    // next version uncommitted.
    let mut rival = app.pool.begin().await.unwrap();
    let state = convo_store::store::load(&mut rival, uid).await.unwrap();
    let event = convo_domain::Event {
        at: chrono::Utc::now(),
        staff_uid: None,
        client_uid: state.client.uid.clone(),
        body: convo_domain::EventBody::MessageRecorded {
            message_id: "rival".into(),
            direction: convo_domain::command::Direction::Incoming,
            title: "rival".into(),
            text: "first".into(),
        },
    };
    let meta = convo_store::Metadata {
        command_id: "rival".into(),
        correlation_id: "rival".into(),
        causation_id: "rival".into(),
        trace: convo_trace::TraceContext::root(),
    };
    let append = convo_store::store::Append {
        uid,
        expected: state.version,
        events: &[event],
        business_uid: BUSINESS,
        metadata: &meta,
    };
    convo_store::store::append(&mut rival, &append, None)
        .await
        .unwrap();
    let before = app.scrape().await;
    let put = tokio::spawn({
        let app = app.clone();
        async move { app.put(uid, json!({"archived": true})).await }
    });
    // The PUT waits on the rival's uncommitted version; then the rival commits.
    eventually(Duration::from_secs(10), "the PUT waits for the rival", || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        waiting > 0
    })
    .await;
    rival.commit().await.unwrap();
    assert_eq!(put.await.unwrap().0, 200);
    let after = app.scrape().await;
    let http = [("transport", "http")];
    assert_eq!(
        grew(&before, &after, "convo_version_conflicts_total", &http),
        1.0
    );
    assert_eq!(
        grew(&before, &after, "convo_command_retries_total", &http),
        1.0
    );
    assert_eq!(app.version(uid).await, state.version as i64 + 2);
}
