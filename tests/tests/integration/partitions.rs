//! Partition ownership (ADR 0006): members split the partitions through leases in PostgreSQL,
//! take over a dead member's partitions once its lease expires, and a member that lost a
//! partition cannot write for it. Then the same through the real broker: projectors and intakes
//! killed, started beside each other and stopped while records flow.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use convo_kafka::KafkaConfig;
use convo_partitions::Claims;
use convo_tests::kafka::{
    Running, assert_verified, brokers, collect_until, consumer, create_topics, eventually, headers,
    produce, producer, start_intake, start_projector, start_relay, unique_config,
};
use convo_tests::{STAFF, TestApp};
use rdkafka::message::{Message, OwnedMessage};
use serde_json::{Value, json};

use crate::pipeline::command;

const LEASE: Duration = Duration::from_millis(1500);

async fn member(app: &TestApp) -> Claims {
    Claims::join(app.pool.clone(), "c", "t", 8, LEASE)
        .await
        .unwrap()
}

/// Who holds each partition of consumer "c" on topic "t".
async fn owners(app: &TestApp) -> BTreeMap<i32, Option<String>> {
    sqlx::query_as::<_, (i32, Option<String>)>(
        "SELECT partition, owner FROM partition_claims WHERE consumer = 'c' AND topic = 't'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

#[tokio::test]
async fn members_split_the_partitions_and_a_lost_one_cannot_be_written_for() {
    let app = TestApp::spawn().await;
    let mut a = member(&app).await;
    let first = a.heartbeat().await.unwrap();
    assert_eq!(
        first.claimed.len(),
        8,
        "alone, a member claims every partition"
    );
    assert!(first.claimed.iter().all(|(_, offset)| *offset == 0));

    // A second member: its share is held by the first until the first hands it back.
    let mut b = member(&app).await;
    assert!(b.heartbeat().await.unwrap().claimed.is_empty());
    let mut handed = a.heartbeat().await.unwrap().to_release;
    handed.sort_unstable();
    assert_eq!(
        handed.len(),
        4,
        "half of the partitions go to the new member"
    );
    a.store_positions(&handed.iter().map(|p| (*p, 7)).collect::<Vec<_>>())
        .await
        .unwrap();
    a.release(&handed).await.unwrap();
    let claimed = b.heartbeat().await.unwrap().claimed;
    assert_eq!(
        claimed.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        handed,
        "the new member claims exactly what was handed back"
    );
    assert!(
        claimed.iter().all(|(_, offset)| *offset == 7),
        "and resumes where the first stopped"
    );
    assert_eq!(a.owned().len(), 4);
    assert!(a.owned().is_disjoint(b.owned()));

    // The first member cannot store positions for what it handed back.
    let lost = a.store_positions(&[(handed[0], 99)]).await.unwrap();
    assert_eq!(lost, vec![handed[0]]);
    let stored: i64 = sqlx::query_scalar(
        "SELECT next_offset FROM partition_claims WHERE consumer = 'c' AND topic = 't' AND partition = $1",
    )
    .bind(handed[0])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, 7);
}

#[tokio::test]
async fn a_dead_member_s_partitions_are_taken_over_when_its_lease_expires() {
    let app = TestApp::spawn().await;
    let mut a = member(&app).await;
    let mut b = member(&app).await;
    a.heartbeat().await.unwrap();
    b.heartbeat().await.unwrap();
    let release = a.heartbeat().await.unwrap().to_release;
    a.release(&release).await.unwrap();
    b.heartbeat().await.unwrap();
    assert_eq!((a.owned().len(), b.owned().len()), (4, 4));

    // b dies (no more heartbeats, nothing released). Before its lease expires, nothing moves.
    let rebalance = a.heartbeat().await.unwrap();
    assert!(rebalance.claimed.is_empty() && rebalance.to_release.is_empty());
    tokio::time::sleep(LEASE + Duration::from_millis(300)).await;
    let rebalance = a.heartbeat().await.unwrap();
    assert_eq!(
        rebalance.claimed.len(),
        4,
        "b's partitions, once its lease expired"
    );
    let me = a.member().to_owned();
    assert!(
        owners(&app)
            .await
            .values()
            .all(|o| o.as_deref() == Some(me.as_str()))
    );

    // b comes back (a long pause, not a death): it learns that it lost them.
    let back = b.heartbeat().await.unwrap();
    assert_eq!(back.lost.len(), 4);
    assert!(b.owned().is_empty());
}

#[tokio::test]
async fn a_member_that_leaves_hands_everything_over_at_once() {
    let app = TestApp::spawn().await;
    let mut a = member(&app).await;
    let mut b = member(&app).await;
    a.heartbeat().await.unwrap();
    b.heartbeat().await.unwrap();
    a.leave().await.unwrap();
    let rebalance = b.heartbeat().await.unwrap();
    assert_eq!(rebalance.claimed.len(), 8, "no lease to wait for");
}

/// Starts `count` conversations and sends `per_conversation` updates to each, flipping `archived`.
async fn write_updates(app: &TestApp, prefix: &str, count: usize, per_conversation: usize) {
    for i in 0..count {
        app.start(&format!("{prefix}{i:06}")).await;
    }
    for round in 0..per_conversation {
        for i in 0..count {
            app.put_ok(
                &format!("{prefix}{i:06}"),
                json!({"archived": round % 2 == 0}),
            )
            .await;
        }
    }
}

async fn projected_events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT coalesce(sum(version), 0)::bigint FROM rm_conversations")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn stored_events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_projector_s_partitions_are_projected_again_within_15_s() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let relay = start_relay(&app, &kafka);
    let first = start_projector(&app, &kafka);
    let second = start_projector(&app, &kafka);
    write_updates(&app, "projkill", 16, 2).await;
    let all = stored_events(&app).await;
    eventually(Duration::from_secs(60), "everything projected", || async {
        projected_events(&app).await == all
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "each projector holds two partitions",
        || async {
            let holders: Vec<Option<String>> = sqlx::query_scalar(
                "SELECT owner FROM partition_claims WHERE consumer = 'conversations' ORDER BY owner",
            )
            .fetch_all(&app.pool)
            .await
            .unwrap();
            let distinct: BTreeSet<&Option<String>> = holders.iter().collect();
            distinct.len() == 2 && holders.iter().all(Option::is_some) && holders[1] != holders[2]
        },
    )
    .await;
    // A crash: the task and its connections are gone, its claims are not released.
    first.kill().await;
    write_updates(&app, "projkillafter", 16, 1).await;
    let all = stored_events(&app).await;
    eventually(
        Duration::from_secs(15),
        "every partition projected again by the survivor",
        || async { projected_events(&app).await == all },
    )
    .await;
    assert_verified(&app, &kafka, Duration::from_secs(30)).await;
    second.stop().await;
    relay.stop().await;
}

/// Every outcome on the outcomes topic, by command id; a command answered twice (redelivered)
/// must have got the same outcome both times.
fn outcomes_by_id(messages: &[OwnedMessage]) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    for message in messages {
        let outcome: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let id = outcome["command_id"].as_str().unwrap().to_owned();
        if let Some(earlier) = seen.get(&id) {
            assert_eq!(
                earlier, &outcome,
                "a redelivered command gets its first outcome"
            );
        }
        seen.insert(id, outcome);
    }
    seen
}

async fn produce_updates(kafka: &KafkaConfig, uids: &[String], from: usize, to: usize) {
    let out = producer(kafka);
    for i in from..to {
        let uid = &uids[i % uids.len()];
        let body = json!({"archived": (i / uids.len()).is_multiple_of(2)});
        let fields = json!({"staff_uid": STAFF, "body": body});
        let message = command("UpdateConversation", &format!("scale-{i}"), uid, fields);
        produce(&out, &kafka.topics.commands, uid, &message).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn intakes_started_stopped_and_killed_under_load_answer_every_command_once() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let uids: Vec<String> = (0..8).map(|i| format!("intakescale{i:05}")).collect();
    for uid in &uids {
        app.start(uid).await;
    }
    let outcomes = consumer(&kafka, &kafka.topics.outcomes);
    let first = start_intake(&app, &kafka);
    produce_updates(&kafka, &uids, 0, 80).await;
    // Scale out to three while commands flow, then one is killed and one stopped.
    let second = start_intake(&app, &kafka);
    produce_updates(&kafka, &uids, 80, 160).await;
    let third = start_intake(&app, &kafka);
    produce_updates(&kafka, &uids, 160, 240).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.kill().await;
    produce_updates(&kafka, &uids, 240, 320).await;
    second.stop().await;
    produce_updates(&kafka, &uids, 320, 400).await;
    let total = 400;
    let received = collect_until(&outcomes, Duration::from_secs(90), |r| {
        outcomes_by_id(r).len() >= total
    })
    .await;
    let answered = outcomes_by_id(&received);
    assert!(answered.values().all(|o| o["status"] == "accepted"));
    // Each command ran once: one event each, on top of the two of each start.
    assert_eq!(stored_events(&app).await, (uids.len() * 2 + total) as i64);
    let positions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM partition_claims WHERE consumer = 'intake' AND owner IS NOT NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(positions > 0, "the surviving intake holds partitions");
    third.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conversation_whose_events_cannot_be_applied_is_parked_and_the_others_go_on() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let (bad, good) = ("parkedbad0000001", "parkedgood000001");
    app.start(bad).await;
    app.start(good).await;
    let relay = start_relay(&app, &kafka);
    let projector = start_projector(&app, &kafka);
    eventually(Duration::from_secs(30), "both projected", || async {
        projected_events(&app).await == 4
    })
    .await;
    relay.stop().await;

    // An event this build cannot decode, as the next version of `bad`, with valid headers.
    let record = {
        let events = consumer(&kafka, &kafka.topics.events);
        let all = collect_until(&events, Duration::from_secs(30), |r| r.len() >= 4).await;
        all.into_iter()
            .find(|m| m.key() == Some(bad.as_bytes()))
            .unwrap()
    };
    let mut bad_headers = rdkafka::message::OwnedHeaders::new();
    for (key, value) in headers(&record) {
        let value = if key == "ce_aggregateversion" {
            "3".to_owned()
        } else {
            value
        };
        bad_headers = bad_headers.insert(rdkafka::message::Header {
            key: &key,
            value: Some(value.as_str()),
        });
    }
    let out = producer(&kafka);
    out.send(
        rdkafka::producer::FutureRecord::to(&kafka.topics.events)
            .key(bad)
            .payload(r#"{"type":"SomethingNew","at":"2026-01-01T00:00:00Z"}"#)
            .headers(bad_headers),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    // The others go on.
    let relay = start_relay(&app, &kafka);
    app.put_ok(good, json!({"archived": true})).await;
    eventually(
        Duration::from_secs(30),
        "the good conversation moves on",
        || async {
            sqlx::query_scalar::<_, i64>("SELECT version FROM rm_conversations WHERE uid = $1")
                .bind(good)
                .fetch_one(&app.pool)
                .await
                .unwrap()
                == 3
        },
    )
    .await;
    eventually(Duration::from_secs(30), "the bad one parked", || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM parked_conversations WHERE conversation_uid = $1",
        )
        .bind(bad)
        .fetch_one(&app.pool)
        .await
        .unwrap()
            == 1
    })
    .await;
    let (version, attempts, reason): (i64, i32, String) = sqlx::query_as(
        "SELECT version, attempts, reason FROM parked_conversations WHERE conversation_uid = $1",
    )
    .bind(bad)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((version, attempts), (3, 5));
    assert!(reason.contains("does not decode"), "{reason}");
    // `/metrics` counts it at the projector's next heartbeat.
    eventually(Duration::from_secs(10), "the parked gauge", || async {
        let parked = "convo_projector_parked_conversations";
        app.scrape()
            .await
            .value(parked, &[("model", "conversations")])
            == 1.0
    })
    .await;
    // Its later events wait while it is parked.
    app.put_ok(bad, json!({"archived": true})).await;
    eventually(
        Duration::from_secs(30),
        "the later event counted as waiting",
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT skipped FROM parked_conversations WHERE conversation_uid = $1",
            )
            .bind(bad)
            .fetch_one(&app.pool)
            .await
            .unwrap()
                >= 2
        },
    )
    .await;
    let projected: i64 = sqlx::query_scalar("SELECT version FROM rm_conversations WHERE uid = $1")
        .bind(bad)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(projected, 2, "nothing applied past the parked event");
    // `convo verify` reports it (and the record that is not the stored v3); the other is clean.
    let check = |uid: &str| {
        let options = convo_verify::Options {
            conversation: Some(uid.to_owned()),
            ..Default::default()
        };
        let (pool, kafka) = (app.pool.clone(), kafka.clone());
        async move { convo_verify::verify(&pool, &kafka, &options).await.unwrap() }
    };
    let report = check(bad).await;
    let kinds: Vec<&str> = report
        .breaches
        .iter()
        .map(|b| match b {
            convo_verify::Breach::Parked { .. } => "parked",
            convo_verify::Breach::UnknownOnTopic { .. } => "unknown",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["unknown", "parked"], "{report}");
    assert!(report.to_string().contains("BREACH parked: {"), "{report}");
    assert!(check(good).await.is_clean());
    projector.stop().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversized_command_is_dead_lettered_cut_and_the_intake_goes_on() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let uid = "oversized0000001";
    app.start(uid).await;
    let big = command(
        "RecordMessage",
        "too-big",
        uid,
        json!({"message_id": "m-big", "direction": "incoming", "at": "2026-05-05T10:00:00Z",
               "text": "x".repeat(convo_intake::MAX_COMMAND_BYTES + 10)}),
    );
    let out: rdkafka::producer::FutureProducer<convo_kafka::LogContext> = kafka
        .producer()
        .set("message.max.bytes", "4000000")
        .create_with_context(convo_kafka::LogContext)
        .unwrap();
    produce(&out, &kafka.topics.commands, uid, &big).await;
    let fields = json!({"staff_uid": STAFF, "body": {"archived": true}});
    produce(
        &out,
        &kafka.topics.commands,
        uid,
        &command("UpdateConversation", "after-big", uid, fields),
    )
    .await;
    let dead = consumer(&kafka, &kafka.topics.dead_letters);
    let outcomes = consumer(&kafka, &kafka.topics.outcomes);
    let intake: Running = start_intake(&app, &kafka);
    let letters = collect_until(&dead, Duration::from_secs(60), |r| !r.is_empty()).await;
    let letter = headers(&letters[0]);
    assert!(letter["dlq_reason"].contains("the limit is"), "{letter:?}");
    assert_eq!(letter["dlq_truncated"], big.len().to_string());
    assert_eq!(
        letters[0].payload().unwrap().len(),
        convo_intake::MAX_DEAD_LETTER_BYTES
    );
    let answered = collect_until(&outcomes, Duration::from_secs(60), |r| !r.is_empty()).await;
    assert_eq!(outcomes_by_id(&answered)["after-big"]["status"], "accepted");
    intake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_that_keeps_failing_is_answered_with_a_500_outcome_and_the_others_go_on() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let (poisoned, healthy) = ("poisoned00000001", "healthy000000001");
    app.start(poisoned).await;
    app.start(healthy).await;
    // The database refuses every event of one conversation (a data error, not an outage).
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
           IF NEW.conversation_uid = '{poisoned}' THEN
             RAISE EXCEPTION 'refused' USING ERRCODE = '22023';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse();"
    ))
    .execute(&app.pool)
    .await
    .unwrap();
    let out = producer(&kafka);
    for (id, uid) in [("to-poisoned", poisoned), ("to-healthy", healthy)] {
        let fields = json!({"staff_uid": STAFF, "body": {"archived": true}});
        let message = command("UpdateConversation", id, uid, fields);
        produce(&out, &kafka.topics.commands, uid, &message).await;
    }
    let outcomes = consumer(&kafka, &kafka.topics.outcomes);
    let intake = start_intake(&app, &kafka);
    let received = collect_until(&outcomes, Duration::from_secs(60), |r| r.len() >= 2).await;
    let answered = outcomes_by_id(&received);
    let failed = &answered["to-poisoned"];
    assert_eq!(
        (failed["status"].as_str(), failed["http_status"].as_u64()),
        (Some("rejected"), Some(500)),
        "{failed}"
    );
    assert_eq!(failed["errors"][0]["code"], "internal_error");
    convo_tests::schemas::assert_valid_outcome(failed);
    assert_eq!(answered["to-healthy"]["status"], "accepted");
    intake.stop().await;
}
