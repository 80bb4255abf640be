//! The relay (issue: gap-safe relay): every committed event reaches the topic, per-conversation
//! versions in order, none missing, none duplicated after dedupe; a broker outage delays events
//! but loses none; a stopped relay resumes where it stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use convo_domain::command::{Action, Command};
use convo_domain::{UpdateChanges, decide};
use convo_kafka::EventRecord;
use convo_store::store::{self, Metadata};
use convo_tests::kafka::{
    OwnBroker, brokers, collect_until, consumer, create_topics, start_relay, unique_config,
};
use convo_tests::{BUSINESS, STAFF, TestApp};
use rdkafka::message::{Message, OwnedMessage};
use serde_json::json;

/// Every stored event: (conversation, version).
pub(crate) async fn stored(app: &TestApp) -> BTreeSet<(String, u64)> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT conversation_uid, version FROM events")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    rows.into_iter().map(|(c, v)| (c, v as u64)).collect()
}

pub(crate) fn identity(message: &OwnedMessage) -> (String, u64) {
    let record = EventRecord::from_message(message).expect("an event record");
    assert_eq!(
        message.key(),
        Some(record.conversation_uid.as_bytes()),
        "keyed by conversation"
    );
    (record.conversation_uid, record.version)
}

/// Checks what was consumed: nothing missing, nothing unknown, and each conversation's
/// versions arriving in order (a redelivered duplicate may repeat an earlier one).
pub(crate) fn assert_complete_and_ordered(
    consumed: &[OwnedMessage],
    expected: &BTreeSet<(String, u64)>,
) {
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for message in consumed {
        let (uid, version) = identity(message);
        let previous = last.get(&uid).copied().unwrap_or(0);
        if version > previous {
            assert_eq!(
                version,
                previous + 1,
                "{uid}: v{version} arrived right after v{previous}"
            );
            last.insert(uid.clone(), version);
        }
        seen.insert((uid, version));
    }
    assert_eq!(&seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_a_late_commit_lose_nothing() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let relay = start_relay(&app, &kafka);
    let uids: Vec<String> = (0..12).map(|i| format!("relaygap{i:08}")).collect();
    for uid in &uids {
        app.start(uid).await;
    }

    // A slow writer appends to the first conversation, then holds its transaction open while
    // everyone else commits: its event gets an earlier position but commits last.
    let (appended, wait_for_append) = tokio::sync::oneshot::channel();
    let slow = {
        let (pool, uid) = (app.pool.clone(), uids[0].clone());
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            store::lock_conversation(&mut tx, &uid).await.unwrap();
            let state = store::load(&mut tx, &uid).await.unwrap();
            let command = Command {
                conversation_uid: uid.clone(),
                business_uid: BUSINESS.into(),
                now: chrono::Utc::now(),
                action: Action::Update {
                    staff_uid: STAFF.into(),
                    changes: UpdateChanges {
                        spam: Some(true),
                        ..Default::default()
                    },
                },
            };
            let events = decide(&state, &command).unwrap();
            let meta = Metadata {
                command_id: "slow".into(),
                correlation_id: "slow".into(),
                causation_id: "slow".into(),
                trace: convo_trace::TraceContext::root(),
            };
            store::append(
                &mut tx,
                &store::Append {
                    uid: &uid,
                    expected: state.version,
                    events: &events,
                    business_uid: BUSINESS,
                    metadata: &meta,
                },
                None,
            )
            .await
            .unwrap();
            appended.send(()).unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            tx.commit().await.unwrap();
        })
    };
    wait_for_append.await.unwrap();

    let bodies = [
        json!({"archived": true}),
        json!({"archived": false}),
        json!({"spam": true}),
    ];
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let (app, uids, bodies) = (app.clone(), uids.clone(), bodies.clone());
            tokio::spawn(async move {
                for i in 0..15 {
                    let uid = &uids[1 + (w + i) % (uids.len() - 1)];
                    app.put_ok(uid, bodies[i % bodies.len()].clone()).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    slow.await.unwrap();

    let expected = stored(&app).await;
    assert!(
        expected.contains(&(uids[0].clone(), 3)),
        "the late commit is stored"
    );
    let events = consumer(&kafka, &kafka.topics.events);
    let consumed = collect_until(&events, Duration::from_secs(60), |received| {
        received.iter().map(identity).collect::<BTreeSet<_>>().len() >= expected.len()
    })
    .await;
    assert_complete_and_ordered(&consumed, &expected);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_relay_resumes_where_it_stopped() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let uid = "relayresume00001";
    app.start(uid).await;
    let relay = start_relay(&app, &kafka);
    let events = consumer(&kafka, &kafka.topics.events);
    collect_until(&events, Duration::from_secs(30), |r| r.len() >= 2).await;
    relay.stop().await;

    app.put_ok(uid, json!({"archived": true})).await;
    app.put_ok(uid, json!({"spam": true})).await;
    let relay = start_relay(&app, &kafka);
    let after = collect_until(&events, Duration::from_secs(30), |r| r.len() >= 2).await;
    let versions: Vec<u64> = after.iter().map(|m| identity(m).1).collect();
    assert_eq!(
        versions,
        [3, 4],
        "exactly the events committed while it was stopped"
    );
    let more = convo_tests::kafka::drain_for(&events, Duration::from_millis(1500)).await;
    assert!(
        more.is_empty(),
        "nothing published twice: {} more",
        more.len()
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_outage_delays_events_but_loses_none() {
    let app = TestApp::spawn().await;
    let mut broker = OwnBroker::start().await;
    let kafka = unique_config(&broker.brokers());
    create_topics(&kafka).await;
    let relay = start_relay(&app, &kafka);
    let uid = "relayoutage00001";
    app.start(uid).await;
    {
        let events = consumer(&kafka, &kafka.topics.events);
        collect_until(&events, Duration::from_secs(30), |r| r.len() >= 2).await;
    }

    broker.kill();
    // Writes go on: PostgreSQL is the commit point, the broker only distributes.
    for body in [
        json!({"archived": true}),
        json!({"spam": true}),
        json!({"business_unread": false}),
    ] {
        app.put_ok(uid, body).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    broker.restart().await;

    // The restarted broker lost everything it had (tansu's memory storage) or kept it (noida-db);
    // either way the relay (recreating the topics if needed) publishes what was committed during
    // the outage.
    let during: BTreeSet<(String, u64)> = (3..=5).map(|v| (uid.to_owned(), v)).collect();
    let events = consumer(&kafka, &kafka.topics.events);
    let consumed = collect_until(&events, Duration::from_secs(90), |received| {
        let seen: BTreeSet<_> = received.iter().map(identity).collect();
        during.is_subset(&seen)
    })
    .await;
    let seen: BTreeSet<_> = consumed.iter().map(identity).collect();
    assert!(during.is_subset(&seen));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_relay_takes_over_when_the_leader_dies() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let uid = "relaystandby0001";
    app.start(uid).await;
    let leader = start_relay(&app, &kafka);
    let events = consumer(&kafka, &kafka.topics.events);
    collect_until(&events, Duration::from_secs(30), |r| r.len() >= 2).await;
    let standby = start_relay(&app, &kafka);
    // Only one publishes: while both run, every event arrives once.
    app.put_ok(uid, json!({"archived": true})).await;
    let once = collect_until(&events, Duration::from_secs(30), |r| !r.is_empty()).await;
    assert_eq!(once.iter().map(|m| identity(m).1).collect::<Vec<_>>(), [3]);
    assert!(
        convo_tests::kafka::drain_for(&events, Duration::from_millis(1500))
            .await
            .is_empty()
    );

    leader.kill().await;
    app.put_ok(uid, json!({"spam": true})).await;
    let after = collect_until(&events, Duration::from_secs(30), |r| {
        r.iter().any(|m| identity(m).1 == 4)
    })
    .await;
    assert!(
        after.iter().all(|m| identity(m).1 >= 3),
        "nothing older than the last acknowledged batch is republished"
    );
    standby.stop().await;
}
