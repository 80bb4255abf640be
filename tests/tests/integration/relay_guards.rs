//! Relay guards (issue 7, parts 2 and 4): a refused record stalls the relay visibly and in order
//! until the limit is raised; a position from another database cluster stops it until
//! `convo relay rebase`; the leader lock has a key space of its own.

use std::collections::BTreeSet;
use std::time::Duration;

use convo_domain::command::Direction;
use convo_domain::{Event, EventBody};
use convo_relay::{RelayStatus, StoredRelay};
use convo_store::store::{self, Metadata};
use convo_tests::kafka::{
    collect_until, consumer, create_topics, drain_for, eventually, relay_config, start_relay_with,
    unique_config,
};
use convo_tests::{BUSINESS, TestApp};
use serde_json::json;

use crate::relay::{assert_complete_and_ordered, identity, stored};

async fn stored_relay(app: &TestApp) -> StoredRelay {
    let rows = convo_relay::status::stored(&app.pool).await.unwrap();
    rows.into_iter()
        .find(|r| r.relay == "events")
        .expect("the relay's row")
}

/// Appends a message event of `bytes` text to `uid` directly (as an older build without the
/// event size limit could have).
pub(crate) async fn append_large_message(app: &TestApp, uid: &str, bytes: usize) {
    let mut tx = app.pool.begin().await.unwrap();
    let state = store::load(&mut tx, uid).await.unwrap();
    let event = Event {
        at: chrono::Utc::now(),
        staff_uid: None,
        client_uid: state.client.uid.clone(),
        body: EventBody::MessageRecorded {
            message_id: "large".into(),
            direction: Direction::Incoming,
            title: "large".into(),
            text: "x".repeat(bytes),
        },
    };
    let meta = Metadata {
        command_id: "large".into(),
        correlation_id: "large".into(),
        causation_id: "large".into(),
        trace: convo_trace::TraceContext::root(),
    };
    store::append(
        &mut tx,
        &store::Append {
            uid,
            expected: state.version,
            events: &[event],
            business_uid: BUSINESS,
            metadata: &meta,
        },
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_record_stalls_the_relay_in_order_until_the_limit_is_raised() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&convo_tests::kafka::brokers());
    create_topics(&kafka).await;
    let (first, second) = ("stallfirst000001", "stallsecond00001");
    app.start(first).await;
    append_large_message(&app, first, 300_000).await;
    app.put_ok(first, json!({"archived": true})).await;
    app.start(second).await;

    // A producer limit below the event: the broker's refusal, as a lower broker limit gives.
    let mut low = kafka.clone();
    low.message_max_bytes = 200_000;
    let status = RelayStatus::default();
    let stalled_relay = start_relay_with(
        convo_relay::RelayConfig {
            status: status.clone(),
            ..relay_config(&app)
        },
        &low,
    );
    let events = consumer(&kafka, &kafka.topics.events);
    eventually(Duration::from_secs(30), "the relay reports a stall", || {
        let status = status.clone();
        async move { status.is_stalled() }
    })
    .await;
    let stall = status.get().stalled.unwrap();
    let event = stall.event.clone().expect("the stall names its event");
    assert_eq!((event.conversation_uid.as_str(), event.version), (first, 3));
    assert!(event.bytes > 300_000, "{stall}");
    eventually(Duration::from_secs(10), "the stall is stored", || async {
        stored_relay(&app).await.stalled_since.is_some()
    })
    .await;
    let reason = stored_relay(&app)
        .await
        .stalled_reason
        .expect("a reason for other processes");
    assert!(reason.contains(&event.event_id.to_string()), "{reason}");
    // `convo verify` reports it too.
    let report = convo_verify::verify(&app.pool, &kafka, &Default::default())
        .await
        .unwrap();
    assert!(
        report
            .breaches
            .iter()
            .any(|b| matches!(b, convo_verify::Breach::RelayStalled { .. })),
        "{:?}",
        report.breaches
    );
    // And so does the health check, while the API keeps serving.
    let (status, health) = convo_tests::send(app.client.get(format!("{}/health", app.base))).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["stalled_relays"][0]["relay"], "events", "{health}");

    // Only what came before the refused event is on the topic: nothing overtakes it.
    let before = drain_for(&events, Duration::from_secs(3)).await;
    let seen: BTreeSet<_> = before.iter().map(identity).collect();
    let expected: BTreeSet<_> = [(first.to_owned(), 1), (first.to_owned(), 2)].into();
    assert_eq!(seen, expected);

    // The limit is raised (a relay deployed with it takes over): everything follows, in order.
    let raised_status = RelayStatus::default();
    let raised = start_relay_with(
        convo_relay::RelayConfig {
            status: raised_status.clone(),
            ..relay_config(&app)
        },
        &kafka,
    );
    stalled_relay.stop().await;
    let all = stored(&app).await;
    let after = collect_until(&events, Duration::from_secs(30), |received| {
        received.iter().map(identity).collect::<BTreeSet<_>>().len() >= all.len() - 2
    })
    .await;
    let mut consumed = before;
    consumed.extend(after);
    assert_complete_and_ordered(&consumed, &all);
    // The relay records the acknowledgement just after consumers may see the records.
    eventually(
        Duration::from_secs(10),
        "the position is stored",
        || async { stored_relay(&app).await.published == all.len() as i64 },
    )
    .await;
    assert!(!raised_status.is_stalled());
    assert!(raised_status.get().last_published_at.is_some());
    let row = stored_relay(&app).await;
    assert_eq!((row.stalled_since, row.stalled_reason), (None, None));
    raised.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_position_from_another_cluster_stops_the_relay_until_rebased() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&convo_tests::kafka::brokers());
    create_topics(&kafka).await;
    let (old, new) = ("movedold00000001", "movednew00000001");
    app.start(old).await;
    let events = consumer(&kafka, &kafka.topics.events);
    let relay = start_relay_with(relay_config(&app), &kafka);
    let mut consumed = collect_until(&events, Duration::from_secs(30), |r| r.len() >= 2).await;
    relay.stop().await;
    let here = stored_relay(&app).await.system_identifier.expect("checked");

    // The database moves to another cluster: its events and the stored position keep the old
    // cluster's transaction ids, far above the ones this cluster hands out now.
    sqlx::query("UPDATE events SET tx_id = (tx_id::text::bigint + 1000000)::text::xid8")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE relay_positions SET system_identifier = 42,
         tx_id = (tx_id::text::bigint + 1000000)::text::xid8",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // Written after the move: lower transaction ids than the stored position.
    app.put_ok(old, json!({"archived": true})).await;
    app.start(new).await;

    let status = RelayStatus::default();
    let relay = start_relay_with(
        convo_relay::RelayConfig {
            status: status.clone(),
            ..relay_config(&app)
        },
        &kafka,
    );
    eventually(Duration::from_secs(30), "the guard stops the relay", || {
        let status = status.clone();
        async move { status.is_stalled() }
    })
    .await;
    let reason = status.get().stalled.unwrap().reason;
    assert!(reason.contains(convo_relay::REBASE_COMMAND), "{reason}");
    eventually(
        Duration::from_secs(10),
        "the guard's stop is stored",
        || async {
            let reason = stored_relay(&app).await.stalled_reason.unwrap_or_default();
            reason.contains(convo_relay::REBASE_COMMAND)
        },
    )
    .await;
    assert!(drain_for(&events, Duration::from_secs(2)).await.is_empty());

    let rebased = convo_relay::rebase(&app.database_url()).await.unwrap();
    assert_eq!(rebased.len(), 1);
    assert_eq!(rebased[0].to_publish, 3, "{rebased:?}");
    assert!(matches!(
        convo_relay::rebase(&app.database_url()).await,
        Err(convo_relay::RebaseError::NotNeeded)
    ));

    // The stopped relay finds the re-anchored position at its next term, by itself.
    let all = stored(&app).await;
    let after = collect_until(&events, Duration::from_secs(30), |received| {
        received.iter().map(identity).collect::<BTreeSet<_>>().len() >= 3
    })
    .await;
    consumed.extend(after);
    assert_complete_and_ordered(&consumed, &all);
    assert!(!status.is_stalled());
    let row = stored_relay(&app).await;
    assert_eq!(row.system_identifier, Some(here));
    assert_eq!(row.stalled_reason, None);
    relay.stop().await;
}

/// A rebase keeps an event that committed late (allocated before the stored position, committed
/// after it) and everything after it: nothing unpublished is skipped.
#[tokio::test]
async fn a_rebase_republishes_from_the_first_event_not_certainly_published() {
    let app = TestApp::spawn().await;
    for uid in ["rebaselate000001", "rebaselate000002"] {
        app.start(uid).await;
    }
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT position, tx_id::text FROM events ORDER BY position")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 4);
    // Positions p0 < p1 < p2 < p3. The second event (p1) gets a transaction id after the stored
    // one: it committed late and was not published, although p2 and p3 were.
    let (p1, p3) = (rows[1].0, rows[3].0);
    sqlx::query("UPDATE events SET tx_id = '5000000' WHERE position = $1")
        .bind(p1)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET tx_id = '4000000' WHERE position <> $1")
        .bind(p1)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO relay_positions (relay, tx_id, position, system_identifier)
         VALUES ('events', '4000000', $1, 42)",
    )
    .bind(p3)
    .execute(&app.pool)
    .await
    .unwrap();

    let rebased = convo_relay::rebase(&app.database_url()).await.unwrap();
    assert_eq!(rebased[0].position, p1 - 1);
    assert_eq!(rebased[0].to_publish, 3);
    let tx_ids: Vec<String> = sqlx::query_scalar("SELECT DISTINCT tx_id::text FROM events")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(tx_ids, ["1"]);
}

/// The per-conversation locks use the one-bigint key space; the leader lock the two-int4 one. A
/// conversation lock on the bigint made of the leader lock's two halves does not stop a relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_lock_is_a_key_space_apart_from_conversation_locks() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&convo_tests::kafka::brokers());
    create_topics(&kafka).await;
    app.start("lockspace0000001").await;
    let mut holder = app.pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock((x'636f6e76'::bigint << 32) | 1)")
        .execute(&mut *holder)
        .await
        .unwrap();
    let status = RelayStatus::default();
    let relay = start_relay_with(
        convo_relay::RelayConfig {
            status: status.clone(),
            ..relay_config(&app)
        },
        &kafka,
    );
    let events = consumer(&kafka, &kafka.topics.events);
    collect_until(&events, Duration::from_secs(30), |r| r.len() >= 2).await;
    assert!(status.get().leader);
    let forms: Vec<i16> = sqlx::query_scalar(
        "SELECT objsubid::int2 FROM pg_locks
         WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
         ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        forms,
        [1, 2],
        "one bigint-form lock, one two-int4-form lock"
    );
    relay.stop().await;
}

/// A leader cut off from the database (its queries go unanswered) gives up within its query
/// timeout instead of hanging, and a standby takes over once the server ends the old session.
/// (The server-side keepalives, which end a session whose client vanished without closing it,
/// need a real network fault to test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_the_database_gives_way_to_a_standby() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&convo_tests::kafka::brokers());
    create_topics(&kafka).await;
    let uid = "cutoffleader0001";
    app.start(uid).await;
    let server = format!(
        "{}:{}",
        app.db.options.get_host(),
        app.db.options.get_port()
    );
    let server = tokio::net::lookup_host(server)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = convo_tests::outage::Proxy::start(server).await;
    let through_proxy = app.database_url().replace(
        &format!(":{}/", server.port()),
        &format!(":{}/", proxy.addr.port()),
    );
    assert_ne!(through_proxy, app.database_url());

    let leader_status = RelayStatus::default();
    let leader = start_relay_with(
        convo_relay::RelayConfig {
            database_url: through_proxy,
            query_timeout: Duration::from_secs(2),
            status: leader_status.clone(),
            ..relay_config(&app)
        },
        &kafka,
    );
    let events = consumer(&kafka, &kafka.topics.events);
    collect_until(&events, Duration::from_secs(30), |r| r.len() >= 2).await;
    let standby_status = RelayStatus::default();
    let standby = start_relay_with(
        convo_relay::RelayConfig {
            status: standby_status.clone(),
            ..relay_config(&app)
        },
        &kafka,
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(leader_status.get().leader && !standby_status.get().leader);

    proxy.freeze();
    let cut_at = std::time::Instant::now();
    app.put_ok(uid, json!({"archived": true})).await;
    let after = collect_until(&events, Duration::from_secs(30), |r| {
        r.iter().any(|m| identity(m).1 == 3)
    })
    .await;
    assert!(!after.is_empty());
    assert!(
        cut_at.elapsed() < Duration::from_secs(10),
        "taken over after {:?}",
        cut_at.elapsed()
    );
    assert!(standby_status.get().leader);
    assert!(!leader_status.get().leader);
    leader.stop().await;
    standby.stop().await;
}
