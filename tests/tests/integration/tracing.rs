//! One trace from request to read model (ADR 0012): the PUT's `traceparent` (or a new trace)
//! reaches the command's span, the event record's `traceparent` header and the projector's span
//! for that event; an upstream Kafka command's `traceparent` is the parent of its event and its
//! outcome. The spans are read from JSON log lines captured in this test's process.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use convo_kafka::LogContext;
use convo_tests::kafka::{
    brokers, collect_until, consumer, create_topics, eventually, headers, producer, start_intake,
    start_projector, start_relay, unique_config,
};
use convo_tests::{BUSINESS, STAFF, TestApp, token};
use convo_trace::TraceContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

use crate::pipeline::command;

/// The log lines written so far, shared with the subscriber.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Installs (once per process: nextest runs each test in its own) a JSON subscriber that also
/// writes a line when a span closes, so spans show up with their fields.
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing_subscriber::fmt()
            .json()
            .with_env_filter("info,convo_projector=debug,sqlx=warn,librdkafka=warn")
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(capture.clone())
            .init();
        capture
    })
}

/// Every span named `name` seen in the captured lines (as a line's own span or an ancestor),
/// as its JSON fields.
fn spans_named(name: &str) -> Vec<Value> {
    let bytes = capture().0.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .flat_map(|line| {
            let mut spans = line["spans"].as_array().cloned().unwrap_or_default();
            spans.push(line["span"].clone());
            spans
        })
        .filter(|span| span["name"] == name)
        .collect()
}

/// The projector's span for `uid` v`version`, once it has been written.
async fn projector_span(uid: &str, version: u64) -> Value {
    let find = || {
        spans_named("projector_event")
            .into_iter()
            .find(|s| s["conversation"] == uid && s["version"] == version)
    };
    eventually(Duration::from_secs(30), "the projector's span", || async {
        find().is_some()
    })
    .await;
    find().unwrap()
}

fn trace_of(traceparent: &str) -> TraceContext {
    TraceContext::parse(traceparent).unwrap_or_else(|| panic!("not a traceparent: {traceparent}"))
}

/// PUT `body` with an optional `traceparent`; returns the response's `traceparent`.
async fn put(app: &TestApp, uid: &str, body: Value, traceparent: Option<&str>) -> TraceContext {
    let mut request = app
        .client
        .put(app.url(uid))
        .bearer_auth(token(STAFF, BUSINESS, "all"))
        .json(&body);
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    trace_of(response.headers()["traceparent"].to_str().unwrap())
}

/// The `traceparent` header of `uid`'s event record at `version`.
async fn event_traceparent(
    kafka: &convo_kafka::KafkaConfig,
    uid: &str,
    version: u64,
) -> TraceContext {
    let events = consumer(kafka, &kafka.topics.events);
    let wanted = version.to_string();
    let is_it = |m: &rdkafka::message::OwnedMessage| {
        let h = headers(m);
        h["ce_subject"] == uid && h["ce_aggregateversion"] == wanted
    };
    let received = collect_until(&events, Duration::from_secs(30), |r| r.iter().any(is_it)).await;
    let record = received.iter().find(|m| is_it(m)).unwrap();
    trace_of(&headers(record)["traceparent"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_projector_span_of_a_put_s_event_shares_the_put_s_trace() {
    capture();
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let (relay, projector) = (start_relay(&app, &kafka), start_projector(&app, &kafka));
    let uid = "tracingput000001";
    app.start(uid).await;

    // With the caller's traceparent: the request joins that trace as its child.
    let caller = TraceContext::root();
    let first = put(
        &app,
        uid,
        json!({"follow_up": true, "follow_up_date": "2099-01-01T09:00:00Z"}),
        Some(&caller.traceparent()),
    )
    .await;
    assert_eq!(first.trace_id(), caller.trace_id());
    assert_ne!(first.span_id(), caller.span_id());
    let first_version = app.version(uid).await as u64;
    // Without one: a new trace.
    let second = put(&app, uid, json!({"archived": true}), None).await;
    assert_ne!(second.trace_id(), first.trace_id());
    let second_version = app.version(uid).await as u64;

    // The last event of each request.
    for (request, version) in [(first, first_version), (second, second_version)] {
        // The request's span, and the command's span inside it.
        let http = spans_named("http_request")
            .into_iter()
            .find(|s| s["trace_id"] == request.trace_id())
            .expect("the request's span");
        assert_eq!(http["span_id"], request.span_id());
        let command = spans_named("command")
            .into_iter()
            .find(|s| s["trace_id"] == request.trace_id())
            .expect("the command's span");
        assert_eq!(command["conversation"], uid);

        // The event record names the command's span as its parent ...
        let event = event_traceparent(&kafka, uid, version).await;
        assert_eq!(event.trace_id(), request.trace_id());
        assert_eq!(command["span_id"], event.span_id());

        // ... and the projector's span for the event is its child, in the same trace.
        let projected = projector_span(uid, version).await;
        assert_eq!(projected["trace_id"], request.trace_id());
        assert_eq!(projected["parent_id"], event.span_id());
    }
    assert_eq!(
        spans_named("http_request")
            .iter()
            .find(|s| s["trace_id"] == caller.trace_id())
            .map(|s| s["parent_id"].clone()),
        Some(json!(caller.span_id())),
        "the caller's span is the request's parent"
    );
    projector.stop().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_command_s_traceparent_is_the_parent_of_its_event_and_outcome() {
    capture();
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let roles = [
        start_relay(&app, &kafka),
        start_intake(&app, &kafka),
        start_projector(&app, &kafka),
    ];
    let uid = "tracingcmd000001";
    app.start(uid).await;
    let version = app.version(uid).await as u64 + 1;

    let upstream = TraceContext::root();
    let out: FutureProducer<LogContext> = producer(&kafka);
    let body = command(
        "UpdateConversation",
        "traced-1",
        uid,
        json!({"staff_uid": STAFF, "body": {"archived": true}}),
    );
    let traceparent = upstream.traceparent();
    out.send(
        FutureRecord::to(&kafka.topics.commands)
            .key(uid)
            .payload(&body)
            .headers(OwnedHeaders::new().insert(Header {
                key: "traceparent",
                value: Some(traceparent.as_str()),
            })),
        Duration::from_secs(10),
    )
    .await
    .expect("produced");

    // The outcome carries the intake's span for the message: a child of the upstream span.
    let outcomes = consumer(&kafka, &kafka.topics.outcomes);
    let outcome = collect_until(&outcomes, Duration::from_secs(60), |r| !r.is_empty()).await;
    let outcome = trace_of(&headers(&outcome[0])["traceparent"]);
    assert_eq!(outcome.trace_id(), upstream.trace_id());
    let message = spans_named("intake_message")
        .into_iter()
        .find(|s| s["trace_id"] == upstream.trace_id())
        .expect("the intake's span");
    assert_eq!(message["parent_id"], upstream.span_id());
    assert_eq!(message["span_id"], outcome.span_id());

    // The event is in the same trace, and so is the projector's span for it.
    let event = event_traceparent(&kafka, uid, version).await;
    assert_eq!(event.trace_id(), upstream.trace_id());
    let projected = projector_span(uid, version).await;
    assert_eq!(projected["trace_id"], upstream.trace_id());
    assert_eq!(projected["parent_id"], event.span_id());
    for role in roles {
        role.stop().await;
    }
}
