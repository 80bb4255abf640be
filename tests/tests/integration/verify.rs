//! `convo verify`: clean on a clean pipeline run, and each seeded breach found and named.

use std::time::Duration;

use convo_kafka::{EventRecord, KafkaConfig};
use convo_tests::kafka::{
    Running, assert_verified, brokers, create_topics, produce, producer, start_intake,
    start_projector, start_relay, unique_config,
};
use convo_tests::{BUSINESS, STAFF, TestApp};
use convo_verify::{Breach, Options, Report};
use rdkafka::producer::FutureRecord;
use serde_json::{Value, json};

const FIRST: &str = "verifyfirst00001";
const SECOND: &str = "verifysecond0001";

/// A pipeline that ran cleanly: two conversations (HTTP), Kafka commands with a redelivery and a
/// dead letter, every role running.
struct World {
    app: TestApp,
    kafka: KafkaConfig,
    relay: Running,
    intake: Running,
    projector: Running,
}

fn update(id: &str, uid: &str, body: Value) -> Vec<u8> {
    json!({"type": "UpdateConversation", "command_id": id, "conversation_uid": uid,
           "business_uid": BUSINESS, "staff_uid": STAFF, "body": body})
    .to_string()
    .into_bytes()
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let (relay, intake, projector) = (
        start_relay(&app, &kafka),
        start_intake(&app, &kafka),
        start_projector(&app, &kafka),
    );
    for uid in [FIRST, SECOND] {
        app.start(uid).await;
    }
    app.put_ok(FIRST, json!({"archived": true})).await;
    let out = producer(&kafka);
    let commands = &kafka.topics.commands;
    let spam = update("v-1", SECOND, json!({"spam": true}));
    produce(&out, commands, SECOND, &spam).await;
    produce(&out, commands, SECOND, &spam).await;
    produce(&out, commands, SECOND, b"not json").await;
    let report = assert_verified(&app, &kafka, Duration::from_secs(30)).await;
    assert_eq!(report.checked.events_stored, 6);
    assert_eq!(report.checked.outcome_duplicates, 1);
    assert_eq!(report.checked.dead_letters, 1);
    World {
        app,
        kafka,
        relay,
        intake,
        projector,
    }
}

async fn verify(app: &TestApp, kafka: &KafkaConfig, conversation: Option<&str>) -> Report {
    let options = Options {
        conversation: conversation.map(str::to_owned),
        ..Options::default()
    };
    convo_verify::verify(&app.pool, kafka, &options)
        .await
        .expect("verify runs")
}

/// The report's breaches of one kind, as text.
fn found(report: &Report, kind: fn(&Breach) -> bool) -> Vec<String> {
    report
        .breaches
        .iter()
        .filter(|b| kind(b))
        .map(ToString::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_committed_event_missing_on_the_topic() {
    let World {
        app, kafka, relay, ..
    } = world().await;
    relay.stop().await;
    app.put_ok(FIRST, json!({"spam": true})).await;
    let report = verify(&app, &kafka, None).await;
    let missing = found(&report, |b| matches!(b, Breach::MissingOnTopic { .. }));
    assert_eq!(missing.len(), 1, "{report}");
    assert!(
        missing[0].starts_with(&format!("event {FIRST} v4 (")),
        "{}",
        missing[0]
    );
    assert!(missing[0].ends_with("is committed but not on the events topic"));
    assert!(!report.is_clean());
    assert!(report.to_string().contains("FAILED"), "{report}");
    // The other conversation is fine on its own.
    assert!(verify(&app, &kafka, Some(SECOND)).await.is_clean());
}

/// `uid` v`version` as the relay would publish it, read from the store.
async fn stored_record(app: &TestApp, uid: &str, version: i64) -> EventRecord {
    type Row = (
        uuid::Uuid,
        String,
        i32,
        String,
        Option<String>,
        String,
        String,
        String,
        chrono::DateTime<chrono::Utc>,
        String,
        String,
    );
    let row: Row = sqlx::query_as(
        "SELECT event_id, event_type, schema_version, business_uid, actor_staff_uid, command_id,
                correlation_id, causation_id, occurred_at, payload::text, traceparent
         FROM events WHERE conversation_uid = $1 AND version = $2",
    )
    .bind(uid)
    .bind(version)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let (event_id, event_type, schema_version, business_uid, actor_staff_uid, command_id) =
        (row.0, row.1, row.2, row.3, row.4, row.5);
    EventRecord {
        event_id,
        conversation_uid: uid.to_owned(),
        version: version as u64,
        event_type,
        schema_version,
        business_uid,
        actor_staff_uid,
        command_id,
        correlation_id: row.6,
        causation_id: row.7,
        occurred_at: row.8,
        payload: row.9,
        traceparent: row.10,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_in_the_wrong_order() {
    let World {
        app, kafka, relay, ..
    } = world().await;
    relay.stop().await;
    app.put_ok(FIRST, json!({"spam": true})).await;
    app.put_ok(FIRST, json!({"business_unread": false})).await;
    // v5 overtakes v4 on the topic.
    let v5 = stored_record(&app, FIRST, 5).await;
    let payload = v5.payload.clone();
    producer(&kafka)
        .send(
            FutureRecord::to(&kafka.topics.events)
                .key(FIRST)
                .payload(&payload)
                .headers(v5.headers()),
            Duration::from_secs(10),
        )
        .await
        .expect("produced");
    let relay = start_relay(&app, &kafka);
    let report = eventually_report(&app, &kafka, |r| {
        found(r, |b| matches!(b, Breach::MissingOnTopic { .. })).is_empty()
    })
    .await;
    let order = found(&report, |b| matches!(b, Breach::OutOfOrder { .. }));
    assert_eq!(order.len(), 2, "{report}");
    assert!(
        order[0].starts_with(&format!("{FIRST}: v5 at "))
            && order[0].ends_with("comes right after v3 (wrong order)"),
        "{}",
        order[0]
    );
    assert!(
        order[1].contains(": v4 at ") && order[1].ends_with("comes right after v5 (wrong order)")
    );
    assert!(verify(&app, &kafka, Some(SECOND)).await.is_clean());
    relay.stop().await;
}

/// Verifies until `done(report)` (the roles catching up), for up to 30 s.
async fn eventually_report(
    app: &TestApp,
    kafka: &KafkaConfig,
    done: impl Fn(&Report) -> bool,
) -> Report {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let report = verify(app, kafka, None).await;
        if done(&report) || tokio::time::Instant::now() > deadline {
            return report;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_model_that_differs_and_a_version_gap() {
    let World {
        app,
        kafka,
        projector,
        ..
    } = world().await;
    projector.stop().await;
    sqlx::query(
        "UPDATE rm_conversations SET state = jsonb_set(state, '{archived}', 'false') WHERE uid = $1",
    )
    .bind(FIRST)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM events WHERE conversation_uid = $1 AND version = 2")
        .bind(SECOND)
        .execute(&app.pool)
        .await
        .unwrap();
    let report = verify(&app, &kafka, None).await;
    let differs = found(&report, |b| matches!(b, Breach::ReadModelDiffers { .. }));
    assert!(
        differs.iter().any(|d| d.starts_with(&format!(
            "{FIRST}: read model (v3) differs from the fold of the events (v3): archived: false (expected true)"
        ))),
        "{report}"
    );
    let gaps = found(&report, |b| matches!(b, Breach::VersionGap { .. }));
    assert_eq!(
        gaps,
        [format!(
            "{SECOND}: versions [2] are missing from the event store"
        )]
    );
    // The deleted event is still on the topic: the store does not hold it any more.
    assert_eq!(
        found(&report, |b| matches!(b, Breach::UnknownOnTopic { .. })).len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_without_an_outcome() {
    let World {
        app, kafka, intake, ..
    } = world().await;
    intake.stop().await;
    let out = producer(&kafka);
    let unanswered = update("v-2", FIRST, json!({"archived": false}));
    produce(&out, &kafka.topics.commands, FIRST, &unanswered).await;
    let report = verify(&app, &kafka, None).await;
    let without = found(&report, |b| {
        matches!(b, Breach::CommandWithoutOutcome { .. })
    });
    assert_eq!(without.len(), 1, "{report}");
    assert!(
        without[0].starts_with(&format!("command v-2 ({FIRST}, "))
            && without[0].ends_with(") has no outcome"),
        "{}",
        without[0]
    );
    // Answered once the intake runs again.
    let intake = start_intake(&app, &kafka);
    assert_verified(&app, &kafka, Duration::from_secs(30)).await;
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_different_outcomes_for_one_command() {
    let World { app, kafka, .. } = world().await;
    let out = producer(&kafka);
    let forged = json!({"command_id": "v-1", "type": "UpdateConversation", "status": "rejected",
                        "conversation_uid": SECOND, "http_status": 422, "errors": []});
    produce(
        &out,
        &kafka.topics.outcomes,
        SECOND,
        forged.to_string().as_bytes(),
    )
    .await;
    let report = verify(&app, &kafka, Some(SECOND)).await;
    let conflicts = found(&report, |b| matches!(b, Breach::ConflictingOutcomes { .. }));
    assert_eq!(conflicts.len(), 1, "{report}");
    assert!(
        conflicts[0].starts_with("command v-1 has 2 different outcomes: "),
        "{}",
        conflicts[0]
    );
    let first = verify(&app, &kafka, Some(FIRST)).await;
    assert!(first.is_clean(), "{first}");
}
