//! The operating tools against the real broker and PostgreSQL: `convo projector status|reset`,
//! `convo parked list|show|retry|drop`, `convo dead-letters list|show|retry|drop` (through the
//! library functions the CLI formats).

use std::collections::BTreeMap;
use std::time::Duration;

use convo_intake::dead_letters::{self, DeadLetterError, LetterId};
use convo_kafka::KafkaConfig;
use convo_kafka::offsets::Watermarks;
use convo_kafka::read::ReadLimits;
/// The projection of the conversation rows.
const READ_MODELS: &str = "conversations";
use convo_projector::control::{self, ControlError, ResetTo};
use convo_projector::unpark::{self, UnparkError};
use convo_tests::kafka::{
    assert_verified, brokers, collect_until, consumer, create_topics, eventually, produce,
    producer, start_intake, start_projector, start_relay, unique_config,
};
use convo_tests::{STAFF, TestApp};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use serde_json::{Value, json};

use crate::pipeline::command;

async fn projected_version(app: &TestApp, uid: &str) -> i64 {
    sqlx::query_scalar("SELECT version FROM rm_conversations WHERE uid = $1")
        .bind(uid)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
        .unwrap_or(0)
}

async fn all_projected(app: &TestApp, uids: &[&str]) -> bool {
    for uid in uids {
        if projected_version(app, uid).await != app.version(uid).await {
            return false;
        }
    }
    true
}

async fn watermarks(kafka: &KafkaConfig) -> BTreeMap<i32, Watermarks> {
    convo_kafka::offsets::watermarks(kafka, &kafka.topics.events, &[0, 1, 2, 3])
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
async fn projector_status_shows_positions_and_reset_waits_for_a_stopped_projection() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let (relay, projector) = (start_relay(&app, &kafka), start_projector(&app, &kafka));
    let uids = ["statusconv000001", "statusconv000002", "statusconv000003"];
    for uid in uids {
        app.start(uid).await;
    }
    eventually(Duration::from_secs(30), "the starts projected", || async {
        all_projected(&app, &uids).await
    })
    .await;
    // Every start is on the topic before `mid`; the archive after it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mid = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.put_ok(uids[0], json!({"archived": true})).await;
    eventually(Duration::from_secs(30), "everything projected", || async {
        all_projected(&app, &uids).await
    })
    .await;
    let events = stored_events(&app).await;

    let status = control::status(&app.pool, &kafka).await.unwrap();
    let marks = watermarks(&kafka).await;
    assert_eq!(status.len(), 1, "{status:?}");
    let read_models = &status[0];
    assert_eq!(read_models.name, READ_MODELS);
    assert_eq!((read_models.live_members, read_models.parked), (1, 0));
    assert_eq!(read_models.partitions.len(), 4);
    let positions: i64 = read_models.partitions.iter().map(|p| p.position).sum();
    assert_eq!(positions, events, "every event read once: {status:?}");
    for p in &read_models.partitions {
        // Caught up; unknown where the broker reports a high watermark below the position (tansu
        // counts batches, not records, when a batch holds several).
        let behind = (marks[&p.partition].high >= p.position).then_some(0);
        assert_eq!(p.behind, behind, "{p:?} {marks:?}");
        assert!(p.owner.is_some() && p.leased, "{p:?}");
        assert_eq!(p.applied_at.is_some(), p.position > 0, "{p:?}");
    }

    // Refused while the projection runs: nothing moves.
    let refused = control::plan_reset(&app.pool, &kafka, READ_MODELS, ResetTo::Earliest).await;
    assert!(
        matches!(&refused, Err(ControlError::Move(e)) if e.to_string().contains("live members")),
        "{refused:?}"
    );
    // And an unknown projection is named as such, with the known ones.
    let unknown = control::plan_reset(&app.pool, &kafka, "nope", ResetTo::Earliest).await;
    let message = unknown.unwrap_err().to_string();
    assert!(
        message.contains("no projection named \"nope\"") && message.contains(READ_MODELS),
        "{message}"
    );

    projector.stop().await;
    relay.stop().await;
    // A time after every record: the end of each partition (nothing to read again).
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let plan = control::plan_reset(&app.pool, &kafka, READ_MODELS, ResetTo::Time(later))
        .await
        .unwrap();
    assert!(plan.moves.iter().all(|m| m.to == m.from), "{plan:?}");
    // A time between: only the archive (the last record of its partition) is read again.
    let plan = control::plan_reset(&app.pool, &kafka, READ_MODELS, ResetTo::Time(mid))
        .await
        .unwrap();
    let back: Vec<i64> = plan.moves.iter().map(|m| m.from - m.to).collect();
    assert_eq!(back.iter().filter(|b| **b == 1).count(), 1, "{plan:?}");
    assert_eq!(back.iter().filter(|b| **b == 0).count(), 3, "{plan:?}");
    // Earliest: back to the start; status then counts every event as behind.
    let plan = control::plan_reset(&app.pool, &kafka, READ_MODELS, ResetTo::Earliest)
        .await
        .unwrap();
    assert!(plan.moves.iter().all(|m| m.to == 0), "{plan:?}");
    assert_eq!(plan.moves.iter().map(|m| m.from).sum::<i64>(), events);
    control::apply_reset(&app.pool, &plan).await.unwrap();
    let status = control::status(&app.pool, &kafka).await.unwrap();
    let p = &status[0].partitions;
    assert!(p.iter().all(|p| p.position == 0 && !p.leased), "{p:?}");
    for p in p {
        assert_eq!(
            p.behind,
            Some(marks[&p.partition].high),
            "every record is behind: {p:?}"
        );
    }
    // A time before every record: the start as well.
    let earlier = chrono::Utc::now() - chrono::Duration::hours(1);
    let plan = control::plan_reset(&app.pool, &kafka, READ_MODELS, ResetTo::Time(earlier))
        .await
        .unwrap();
    assert!(plan.moves.iter().all(|m| m.to == 0), "{plan:?}");

    // Started again, the projector reads everything again, skips it by version, and catches up.
    let projector = start_projector(&app, &kafka);
    eventually(Duration::from_secs(30), "caught up again", || async {
        let status = control::status(&app.pool, &kafka).await.unwrap();
        status[0].partitions.iter().map(|p| p.position).sum::<i64>() == events
    })
    .await;
    assert!(all_projected(&app, &uids).await);
    projector.stop().await;
}

/// Makes `uid`'s read-model row undecodable; returns the state it held.
async fn corrupt_row(app: &TestApp, uid: &str) -> Value {
    sqlx::query_scalar(
        "UPDATE rm_conversations r SET state = '\"not a state\"'::jsonb FROM rm_conversations o
         WHERE r.uid = $1 AND o.uid = r.uid RETURNING o.state",
    )
    .bind(uid)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn parked_uids(app: &TestApp) -> Vec<String> {
    convo_projector::parked::list(&app.pool, None)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.conversation_uid)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_parked_conversation_resumes_in_order_after_retry_and_drop_only_unparks() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let (relay, projector) = (start_relay(&app, &kafka), start_projector(&app, &kafka));
    let (retried, dropped) = ("parkretry0000001", "parkdrop00000001");
    app.start(retried).await;
    app.start(dropped).await;
    eventually(Duration::from_secs(30), "both projected", || async {
        all_projected(&app, &[retried, dropped]).await
    })
    .await;

    // Their read-model rows stop decoding: their next events cannot be applied, and are parked.
    corrupt_row(&app, retried).await;
    let good_state = corrupt_row(&app, dropped).await;
    app.put_ok(retried, json!({"archived": true})).await;
    app.put_ok(dropped, json!({"archived": true})).await;
    eventually(Duration::from_secs(60), "both parked", || async {
        parked_uids(&app).await.len() == 2
    })
    .await;
    // A later event of the retried one waits behind it.
    app.put_ok(
        retried,
        json!({"follow_up": true, "follow_up_date": "2099-01-01T09:00:00Z"}),
    )
    .await;
    eventually(Duration::from_secs(30), "the later event waits", || async {
        let parked = unpark::find(&app.pool, retried, None).await.unwrap();
        parked.skipped >= 1
    })
    .await;

    let shown = unpark::show(&app.pool, retried, Some(READ_MODELS))
        .await
        .unwrap();
    // An undecodable row parks at the row's version (the projector reports where it stands).
    assert_eq!(shown.parked.version, 2);
    assert!(
        shown.parked.reason.contains("does not decode"),
        "{:?}",
        shown.parked
    );
    assert_eq!(shown.parked.topic, kafka.topics.events);
    assert!(shown.parked.partition >= 0 && shown.parked.offset >= 0);
    let stored: Vec<(u64, String)> = app
        .events(retried)
        .await
        .into_iter()
        .skip(1)
        .map(|(v, t)| (v as u64, t))
        .collect();
    assert_eq!(shown.events, stored, "every stored event from v2 on");
    assert_eq!(shown.events[1], (3, "Archived".to_owned()));
    let status = control::status(&app.pool, &kafka).await.unwrap();
    assert_eq!(status[0].parked, 2);
    let at = &status[0].partitions[shown.parked.partition as usize];
    assert!(at.parked >= 1, "{at:?}");

    // Unknown uids and projectors are refused, and change nothing.
    for (uid, projector) in [("notparked0000001", None), (retried, Some("follow-ups"))] {
        let error = unpark::retry(&app.pool, uid, projector).await.unwrap_err();
        assert!(matches!(error, UnparkError::NotParked { .. }), "{error}");
        let error = unpark::drop_parked(&app.pool, uid, projector)
            .await
            .unwrap_err();
        assert!(matches!(error, UnparkError::NotParked { .. }), "{error}");
    }
    assert_eq!(parked_uids(&app).await.len(), 2);

    // Retry: refolded from the event store (both waiting events included), unparked at once.
    let (_, version) = unpark::retry(&app.pool, retried, None).await.unwrap();
    let stored = app.version(retried).await;
    assert!(stored > 3);
    assert_eq!(version as i64, stored);
    assert_eq!(projected_version(&app, retried).await, stored);
    assert_eq!(parked_uids(&app).await, [dropped]);
    // Its next event applies on top, in order.
    app.put_ok(retried, json!({"archived": true})).await;
    eventually(
        Duration::from_secs(30),
        "the next event projected",
        || async { projected_version(&app, retried).await == stored + 1 },
    )
    .await;

    // Drop: the cause is fixed by hand (the row restored), the row unparked, nothing refolded...
    sqlx::query("UPDATE rm_conversations SET state = $2 WHERE uid = $1")
        .bind(dropped)
        .bind(&good_state)
        .execute(&app.pool)
        .await
        .unwrap();
    unpark::drop_parked(&app.pool, dropped, Some(READ_MODELS))
        .await
        .unwrap();
    assert!(parked_uids(&app).await.is_empty());
    assert_eq!(
        projected_version(&app, dropped).await,
        2,
        "drop refolds nothing"
    );
    // ...until its next event, which backfills the missed version from the event store.
    app.put_ok(dropped, json!({"spam": true})).await;
    eventually(
        Duration::from_secs(30),
        "backfilled and projected",
        || async { projected_version(&app, dropped).await == 4 },
    )
    .await;

    // The read models equal the fold of the stored events; nothing is parked.
    assert_verified(&app, &kafka, Duration::from_secs(30)).await;
    projector.stop().await;
    relay.stop().await;
}

/// Publishes `value` on the dead-letter topic as the intake would have dead-lettered it.
async fn dead_letter(kafka: &KafkaConfig, key: &str, value: &[u8], truncated: Option<usize>) {
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: "dlq_reason",
            value: Some("simulated: the cause is fixed now"),
        })
        .insert(Header {
            key: "dlq_source_topic",
            value: Some(&kafka.topics.commands),
        })
        .insert(Header {
            key: "dlq_source_partition",
            value: Some("0"),
        })
        .insert(Header {
            key: "dlq_source_offset",
            value: Some("41"),
        });
    let original = truncated.map(|t| t.to_string());
    if let Some(original) = &original {
        headers = headers.insert(Header {
            key: "dlq_truncated",
            value: Some(original),
        });
    }
    producer(kafka)
        .send(
            FutureRecord::to(&kafka.topics.dead_letters)
                .key(key)
                .payload(value)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
}

fn fast() -> ReadLimits {
    ReadLimits {
        settle: Duration::from_millis(300),
        ..ReadLimits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_listed_retried_to_an_outcome_and_dropped() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let uid = "deadletter000001";
    app.start(uid).await;
    let intake = start_intake(&app, &kafka);
    // A malformed command, dead-lettered by the running intake.
    produce(
        &producer(&kafka),
        &kafka.topics.commands,
        uid,
        b"{ not a command",
    )
    .await;
    let dlq = consumer(&kafka, &kafka.topics.dead_letters);
    collect_until(&dlq, Duration::from_secs(60), |r| !r.is_empty()).await;
    // A well-formed command that was dead-lettered (its cause since fixed), and a truncated one.
    let fields = json!({"staff_uid": STAFF, "body": {"archived": true}});
    let good = command("UpdateConversation", "from-the-dlq", uid, fields);
    dead_letter(&kafka, uid, &good, None).await;
    dead_letter(&kafka, uid, &good[..20], Some(good.len())).await;

    let letters = dead_letters::list(&app.pool, &kafka, fast(), false)
        .await
        .unwrap();
    assert_eq!(letters.len(), 3, "{letters:?}");
    let garbage = letters
        .iter()
        .find(|l| l.value == "{ not a command")
        .unwrap();
    assert!(garbage.reason.contains("not a command"), "{garbage:?}");
    assert!(
        garbage
            .source
            .as_deref()
            .unwrap()
            .starts_with(&kafka.topics.commands)
    );
    assert_eq!((garbage.key.as_deref(), garbage.size), (Some(uid), 15));
    let retryable = letters
        .iter()
        .find(|l| l.truncated.is_none() && l.id != garbage.id)
        .unwrap();
    let cut = letters.iter().find(|l| l.truncated.is_some()).unwrap();
    assert_eq!(cut.truncated, Some(good.len() as u64));
    assert!(letters.iter().all(|l| l.disposition.is_none()));

    // Bad ids are refused.
    assert!(matches!(
        "x".parse::<LetterId>(),
        Err(DeadLetterError::BadId(_))
    ));
    assert!(matches!(
        "1:-3".parse::<LetterId>(),
        Err(DeadLetterError::BadId(_))
    ));
    let missing = LetterId {
        partition: 0,
        offset: 999,
    };
    let error = dead_letters::retry(&app.pool, &kafka, fast(), missing)
        .await
        .unwrap_err();
    assert!(matches!(error, DeadLetterError::NotFound { .. }), "{error}");
    // A truncated one cannot be retried, and stays unhandled.
    let error = dead_letters::retry(&app.pool, &kafka, fast(), cut.id)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("incomplete"), "{error}");

    // Retried: answered on the outcomes topic; twice, the same outcome and one event.
    let outcomes = consumer(&kafka, &kafka.topics.outcomes);
    let before = app.version(uid).await;
    dead_letters::retry(&app.pool, &kafka, fast(), retryable.id)
        .await
        .unwrap();
    dead_letters::retry(&app.pool, &kafka, fast(), retryable.id)
        .await
        .unwrap();
    let answered = collect_until(&outcomes, Duration::from_secs(60), |r| r.len() >= 2).await;
    let answers: Vec<Value> = answered
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect();
    assert_eq!(answers[0]["command_id"], "from-the-dlq");
    assert_eq!(answers[0]["status"], "accepted", "{}", answers[0]);
    assert_eq!(
        answers[0], answers[1],
        "the command id keeps a retry idempotent"
    );
    assert_eq!(app.version(uid).await, before + 1);

    // Dropped: hidden from the list, shown with --all with what was done.
    dead_letters::drop_letter(&app.pool, &kafka, fast(), garbage.id)
        .await
        .unwrap();
    let open = dead_letters::list(&app.pool, &kafka, fast(), false)
        .await
        .unwrap();
    assert_eq!(open.iter().map(|l| l.id).collect::<Vec<_>>(), [cut.id]);
    let all = dead_letters::list(&app.pool, &kafka, fast(), true)
        .await
        .unwrap();
    let action = |id| {
        all.iter()
            .find(|l| l.id == id)
            .unwrap()
            .disposition
            .clone()
            .map(|d| d.action)
    };
    assert_eq!(action(garbage.id).as_deref(), Some("dropped"));
    assert_eq!(action(retryable.id).as_deref(), Some("retried"));
    assert_eq!(action(cut.id), None);
    intake.stop().await;
}
