//! End to end through the real broker: HTTP and Kafka commands in, events out with their
//! CloudEvents envelope, read models updated; dead letters; restarts of relay and projector.

use std::time::Duration;

use convo_kafka::EventRecord;
use convo_tests::kafka::{
    assert_verified, brokers, collect_until, consumer, create_topics, eventually, headers, produce,
    producer, start_intake, start_projector, start_relay, unique_config,
};
use convo_tests::schemas::{assert_valid_envelope, assert_valid_event_of, assert_valid_outcome};
use convo_tests::{BUSINESS, STAFF, TestApp};
use rdkafka::message::Message;
use serde_json::{Value, json};

/// The read model's version of `uid` (0 when absent).
async fn projected_version(app: &TestApp, uid: &str) -> i64 {
    sqlx::query_scalar("SELECT version FROM rm_conversations WHERE uid = $1")
        .bind(uid)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
        .unwrap_or(0)
}

async fn list(app: &TestApp, folder: &str) -> Vec<String> {
    app.list_ids(&format!("folder={folder}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_put_is_published_with_its_envelope_and_projected() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let (relay, projector) = (start_relay(&app, &kafka), start_projector(&app, &kafka));
    let uid = "pipelineput00001";
    app.start(uid).await;
    app.put_ok(
        uid,
        json!({"follow_up": true, "follow_up_date": "2099-01-01T09:00:00Z", "follow_up_message": "call"}),
    )
    .await;

    let events = consumer(&kafka, &kafka.topics.events);
    let consumed = collect_until(&events, Duration::from_secs(30), |r| r.len() >= 4).await;
    let follow_up = consumed
        .iter()
        .find(|m| headers(m)["ce_type"] == "com.vcita.conversations.FollowUpSet")
        .expect("the FollowUpSet event");
    let h = headers(follow_up);
    assert_eq!(follow_up.key(), Some(uid.as_bytes()));
    assert_eq!(h["ce_specversion"], "1.0");
    assert_eq!(h["ce_source"], "urn:convo:conversations");
    assert_eq!(h["ce_subject"], uid);
    assert_eq!(h["ce_aggregateversion"], "4");
    // Published with the version it was written with: the current one, for a new event.
    assert_eq!(
        h["ce_schemaversion"],
        convo_domain::event::SCHEMA_VERSION.to_string()
    );
    assert_eq!(h["ce_businessuid"], BUSINESS);
    assert_eq!(h["ce_actorstaffuid"], STAFF);
    assert_eq!(h["content-type"], "application/json");
    assert!(uuid::Uuid::parse_str(&h["ce_id"]).is_ok());
    assert_eq!(h["ce_causationid"], h["ce_commandid"]);
    assert!(!h["ce_correlationid"].is_empty());
    assert!(h["traceparent"].starts_with("00-"));
    chrono::DateTime::parse_from_rfc3339(&h["ce_time"]).expect("ce_time is RFC 3339");
    for message in &consumed {
        let payload: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let record = EventRecord::from_message(message).unwrap();
        assert_valid_event_of(record.schema_version.into(), &payload);
        assert_valid_envelope(&record.structured());
    }

    eventually(Duration::from_secs(30), "the projection", || async {
        projected_version(&app, uid).await == 4
    })
    .await;
    assert_eq!(list(&app, "follow_up").await, [uid]);
    assert!(list(&app, "archived").await.is_empty());
    projector.stop().await;
    relay.stop().await;
}

pub(crate) fn command(kind: &str, id: &str, uid: &str, fields: Value) -> Vec<u8> {
    let mut command =
        json!({"type": kind, "command_id": id, "conversation_uid": uid, "business_uid": BUSINESS});
    command
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    command.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_commands_get_outcomes_and_garbage_goes_to_the_dead_letter_topic() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let roles = [
        start_relay(&app, &kafka),
        start_intake(&app, &kafka),
        start_projector(&app, &kafka),
    ];
    let uid = "pipelinecmd00001";
    let out = producer(&kafka);
    let commands = &kafka.topics.commands;
    produce(
        &out,
        commands,
        uid,
        &command(
            "StartConversation",
            "c1",
            uid,
            json!({
        "title": "Dana", "client": {"uid": "client-dana", "first_name": "Dana"},
        "staff": {"uid": STAFF, "display_name": "Ram"}}),
        ),
    )
    .await;
    let update = |id: &str, body: Value| {
        command(
            "UpdateConversation",
            id,
            uid,
            json!({"staff_uid": STAFF, "body": body}),
        )
    };
    produce(&out, commands, uid, b"{ this is not a command").await;
    produce(
        &out,
        commands,
        uid,
        &update("c2", json!({"archived": true, "spam": "1"})),
    )
    .await;
    produce(
        &out,
        commands,
        uid,
        &update("c3", json!({"archived": "perhaps"})),
    )
    .await;
    // A redelivery of c2: its first outcome again, no new event.
    produce(
        &out,
        commands,
        uid,
        &update("c2", json!({"archived": true, "spam": "1"})),
    )
    .await;

    let outcomes = consumer(&kafka, &kafka.topics.outcomes);
    let received = collect_until(&outcomes, Duration::from_secs(60), |r| r.len() >= 4).await;
    let outcomes: Vec<Value> = received
        .iter()
        .map(|m| {
            assert_eq!(m.key(), Some(uid.as_bytes()));
            let outcome: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            assert_eq!(headers(m)["command_id"], outcome["command_id"]);
            assert_valid_outcome(&outcome);
            outcome
        })
        .collect();
    let by_id = |id: &str| {
        outcomes
            .iter()
            .filter(|o| o["command_id"] == id)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(by_id("c1")[0]["status"], "accepted");
    assert_eq!(by_id("c2").len(), 2);
    assert_eq!(
        by_id("c2")[0],
        by_id("c2")[1],
        "a redelivered command gets its first outcome"
    );
    assert_eq!(by_id("c2")[0]["events"], json!(["Archived", "MarkedSpam"]));
    assert_eq!(by_id("c3")[0]["status"], "rejected");
    assert_eq!(by_id("c3")[0]["http_status"], 422);
    assert_eq!(by_id("c3")[0]["errors"][0]["field"], "archived");

    let dead = consumer(&kafka, &kafka.topics.dead_letters);
    let dead = collect_until(&dead, Duration::from_secs(30), |r| !r.is_empty()).await;
    assert_eq!(dead[0].payload(), Some(&b"{ this is not a command"[..]));
    let h = headers(&dead[0]);
    assert!(h["dlq_reason"].contains("not a command"), "{h:?}");
    assert_eq!(h["dlq_source_topic"], kafka.topics.commands);
    assert!(h.contains_key("dlq_source_partition") && h.contains_key("dlq_source_offset"));

    eventually(Duration::from_secs(30), "the projection", || async {
        projected_version(&app, uid).await == 3
    })
    .await;
    assert_eq!(list(&app, "archived").await, [uid]);
    assert_eq!(app.version(uid).await, 3, "the redelivery added nothing");
    let spam: bool = sqlx::query_scalar("SELECT spam FROM rm_clients WHERE uid = 'client-dana'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(spam, "the spam flag reached the client read model");
    // One distinct outcome per command (the redelivery counted), the garbage dead-lettered.
    let report = assert_verified(&app, &kafka, Duration::from_secs(30)).await;
    assert_eq!(
        (
            report.checked.outcome_duplicates,
            report.checked.dead_letters
        ),
        (1, 1)
    );
    for role in roles {
        role.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restarting_relay_and_projector_mid_stream_loses_and_doubles_nothing() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let uids: Vec<String> = (0..8).map(|i| format!("restart{i:09}")).collect();
    let write = |round: usize| {
        let (app, uids) = (app.clone(), uids.clone());
        async move {
            for uid in &uids {
                let body = match round % 3 {
                    0 => {
                        json!({"archived": round.is_multiple_of(2), "follow_up": true, "follow_up_message": format!("r{round}")})
                    }
                    1 => {
                        json!({"follow_up": false, "complete_follow_up": true, "spam": round.is_multiple_of(2)})
                    }
                    _ => {
                        json!({"business_unread": round.is_multiple_of(2), "deleted": round % 4 == 2})
                    }
                };
                app.put_ok(uid, body).await;
            }
        }
    };
    for uid in &uids {
        app.start(uid).await;
    }
    let (relay, projector) = (start_relay(&app, &kafka), start_projector(&app, &kafka));
    for round in 0..4 {
        write(round).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.stop().await;
    projector.stop().await;
    for round in 4..8 {
        write(round).await;
    }
    let (relay, projector) = (start_relay(&app, &kafka), start_projector(&app, &kafka));
    for round in 8..10 {
        write(round).await;
    }
    let last: i64 =
        sqlx::query_scalar("SELECT max(version) FROM events WHERE conversation_uid = $1")
            .bind(&uids[7])
            .fetch_one(&app.pool)
            .await
            .unwrap();
    eventually(
        Duration::from_secs(60),
        "the projection to catch up",
        || async { projected_version(&app, &uids[7]).await == last },
    )
    .await;
    // Give the other partitions the same chance, then compare everything.
    eventually(
        Duration::from_secs(30),
        "every conversation projected",
        || async {
            let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT conversation_uid, max(version) v FROM events GROUP BY 1) e
             LEFT JOIN rm_conversations r ON r.uid = e.conversation_uid
             WHERE r.version IS DISTINCT FROM e.v",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
            behind == 0
        },
    )
    .await;
    // Read models equal a fold of the events, every event on the topic once, in order.
    let report = assert_verified(&app, &kafka, Duration::from_secs(30)).await;
    assert_eq!(report.checked.read_models, uids.len());
    projector.stop().await;
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_intake_killed_mid_stream_answers_every_command_and_runs_each_once() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let uids: Vec<String> = (0..4).map(|i| format!("intakekill{i:06}")).collect();
    for uid in &uids {
        app.start(uid).await;
    }
    let out = producer(&kafka);
    let total = 60;
    for i in 0..total {
        let uid = &uids[i % uids.len()];
        // Each command flips a flag, so each one that runs adds exactly one event.
        let body = json!({"archived": (i / uids.len()).is_multiple_of(2)});
        let id = format!("kill-{i}");
        produce(
            &out,
            &kafka.topics.commands,
            uid,
            &command(
                "UpdateConversation",
                &id,
                uid,
                json!({
            "staff_uid": STAFF, "body": body}),
            ),
        )
        .await;
    }
    let outcomes = consumer(&kafka, &kafka.topics.outcomes);
    let intake = start_intake(&app, &kafka);
    let before_kill = collect_until(&outcomes, Duration::from_secs(60), |r| r.len() >= 10).await;
    intake.kill().await;
    let intake = start_intake(&app, &kafka);
    let ids = |messages: &[rdkafka::message::OwnedMessage]| {
        messages
            .iter()
            .map(|m| serde_json::from_slice::<Value>(m.payload().unwrap()).unwrap())
            .map(|o| (o["command_id"].as_str().unwrap().to_owned(), o))
            .collect::<Vec<_>>()
    };
    let first = ids(&before_kill);
    let after_kill = collect_until(&outcomes, Duration::from_secs(90), |r| {
        let mut all: std::collections::BTreeSet<String> =
            first.iter().map(|(id, _)| id.clone()).collect();
        all.extend(ids(r).into_iter().map(|(id, _)| id));
        all.len() >= total
    })
    .await;
    // A command answered twice (redelivered after the kill) got its first outcome both times.
    let mut seen = std::collections::BTreeMap::<String, Value>::new();
    for (id, outcome) in first.into_iter().chain(ids(&after_kill)) {
        assert_eq!(outcome["status"], "accepted", "{outcome}");
        if let Some(earlier) = seen.get(&id) {
            assert_eq!(
                earlier, &outcome,
                "a redelivered command gets its first outcome"
            );
        }
        seen.insert(id, outcome);
    }
    assert_eq!(seen.len(), total);
    // Every command ran exactly once: one event each, on top of the two of each start.
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(events, (uids.len() * 2 + total) as i64);
    intake.stop().await;
}
