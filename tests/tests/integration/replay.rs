//! `convo replay`: rebuilding read models from the event store or the events topic while the
//! service runs, interrupted rebuilds, one conversation in place, and the follow-ups model built
//! on first start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use convo_projector::ReadModel;
use convo_projector::replay::{self, Replay, ReplayError, Source};
use convo_tests::kafka::{
    assert_verified, brokers, create_topics, eventually, produce, producer, start_intake,
    start_projector_of, start_relay, unique_config,
};
use convo_tests::{BUSINESS, STAFF, TestApp};
use serde_json::json;

fn plan(source: Source, kafka: &convo_kafka::KafkaConfig) -> Replay {
    Replay {
        models: ReadModel::ALL.to_vec(),
        source,
        dry_run: false,
        kafka: Some(kafka.clone()),
    }
}

/// Every conversation's rows, as text, to compare tables before and after.
async fn table_text(app: &TestApp, table: &str) -> String {
    sqlx::query_scalar(&format!(
        "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {table} t"
    ))
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Follow-ups that the conversation rows and the follow-ups model disagree on (both are folds of
/// the same events): active per `rm_collaborators` vs open per `rm_follow_ups`.
async fn follow_up_disagreements(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM rm_collaborators c
         FULL JOIN rm_follow_ups f USING (conversation_uid, staff_uid)
         WHERE coalesce(c.follow_up, false) <> coalesce(f.open, false)
            OR (c.follow_up AND c.follow_up_date IS DISTINCT FROM f.due_at)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

async fn projected(app: &TestApp) -> bool {
    let behind: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT conversation_uid, max(version) v FROM events GROUP BY 1) e
         LEFT JOIN rm_conversations r ON r.uid = e.conversation_uid
         LEFT JOIN rm_follow_up_conversations f ON f.conversation_uid = e.conversation_uid
         WHERE r.version IS DISTINCT FROM e.v OR f.version IS DISTINCT FROM e.v",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    behind == 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuilds_under_puts_and_kafka_commands_swap_in_complete_tables_and_lists_never_fail() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let uids: Vec<String> = (0..12).map(|i| format!("replay{i:010}")).collect();
    for uid in &uids {
        app.start(uid).await;
    }
    let roles = [
        start_relay(&app, &kafka),
        start_intake(&app, &kafka),
        start_projector_of(&app, &kafka, ReadModel::Conversations),
        start_projector_of(&app, &kafka, ReadModel::FollowUps),
    ];
    eventually(Duration::from_secs(30), "the projection", || {
        projected(&app)
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let lists = Arc::new(AtomicUsize::new(0));
    // PUTs and Kafka commands keep arriving...
    let writer = {
        let (app, uids, stop, kafka) = (app.clone(), uids.clone(), stop.clone(), kafka.clone());
        tokio::spawn(async move {
            let producer = producer(&kafka);
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let uid = &uids[round % uids.len()];
                let body = match round % 4 {
                    0 => {
                        json!({"follow_up": true, "follow_up_date": "2030-01-02T10:00:00Z", "follow_up_message": format!("r{round}")})
                    }
                    1 => json!({"archived": round % 8 == 1}),
                    2 => json!({"follow_up": false, "complete_follow_up": true}),
                    _ => json!({"business_unread": round % 8 == 3}),
                };
                app.put_ok(uid, body.clone()).await;
                let command = json!({
                    "type": "UpdateConversation", "command_id": format!("replay-cmd-{round}"),
                    "conversation_uid": uid, "business_uid": BUSINESS, "staff_uid": STAFF,
                    "body": {"spam": round.is_multiple_of(6)},
                });
                produce(
                    &producer,
                    &kafka.topics.commands,
                    uid,
                    command.to_string().as_bytes(),
                )
                .await;
                round += 1;
            }
            round
        })
    };
    // ...and every list request during the rebuilds answers with every conversation.
    let lister = {
        let (app, stop, lists) = (app.clone(), stop.clone(), lists.clone());
        let expected = uids.len();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = app.list(STAFF, BUSINESS, "per_page=100&folder=all").await;
                assert_eq!(status, 200, "{body}");
                let listed = body["data"]["conversations"].as_array().map_or(0, Vec::len);
                // Conversations in the trash or spam may leave "all"; none is ever deleted here.
                assert_eq!(listed, expected, "a list during the rebuild: {body}");
                lists.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let from_store = replay::replay(&app.pool, &plan(Source::Store, &kafka), &|_| {})
        .await
        .expect("the rebuild from the store");
    assert!(from_store.swapped);
    assert!(from_store.events_read > 0);
    let from_topic = replay::replay(&app.pool, &plan(Source::Topic, &kafka), &|_| {})
        .await
        .expect("the rebuild from the topic");
    assert!(from_topic.swapped);
    assert!(from_topic.events_read > 0, "{from_topic:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.await.unwrap();
    lister
        .await
        .expect("no list request failed or saw a partial table");
    assert!(rounds > 0 && lists.load(Ordering::Relaxed) > 0);

    eventually(
        Duration::from_secs(60),
        "the projection after the rebuilds",
        || projected(&app),
    )
    .await;
    assert_verified(&app, &kafka, Duration::from_secs(30)).await;
    assert_eq!(follow_up_disagreements(&app).await, 0);
    // `convo verify` checks the follow-ups model too: a row that is not the fold is reported
    // (no event arrives any more to overwrite it).
    sqlx::query("UPDATE rm_follow_ups SET open = NOT open WHERE conversation_uid = $1")
        .bind(&uids[0])
        .execute(&app.pool)
        .await
        .unwrap();
    let report = convo_verify::verify(&app.pool, &kafka, &convo_verify::Options::default())
        .await
        .unwrap();
    assert!(report.to_string().contains("follow-ups model"), "{report}");
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_namespace WHERE nspname IN ('convo_shadow', 'convo_retired')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(leftovers, 0);
    for role in roles {
        role.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_rebuild_leaves_the_live_tables_as_they_were_and_can_start_again() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    for i in 0..5 {
        let uid = format!("interrupted{i:05}");
        app.start(&uid).await;
        app.put_ok(&uid, json!({"follow_up": true, "archived": true}))
            .await;
    }
    replay::replay(&app.pool, &plan(Source::Store, &kafka), &|_| {})
        .await
        .unwrap();
    // A live row the rebuild would change: the swap would show.
    sqlx::query("UPDATE rm_conversations SET title = 'tampered' WHERE uid = 'interrupted00000'")
        .execute(&app.pool)
        .await
        .unwrap();
    let before = table_text(&app, "rm_conversations").await;

    // A reader holds the live table: the rebuild gets as far as the swap and waits there.
    let mut reader = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE rm_messages IN ACCESS SHARE MODE")
        .execute(&mut *reader)
        .await
        .unwrap();
    let rebuild = {
        let (pool, plan) = (app.pool.clone(), plan(Source::Store, &kafka));
        tokio::spawn(async move { replay::replay(&pool, &plan, &|_| {}).await })
    };
    eventually(
        Duration::from_secs(20),
        "the rebuild waiting to swap",
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
               AND query LIKE 'LOCK TABLE%' AND datname = current_database()",
            )
            .fetch_one(&app.pool)
            .await
            .unwrap();
            waiting > 0
        },
    )
    .await;
    // A second rebuild meanwhile is refused.
    let busy = replay::replay(&app.pool, &plan(Source::Store, &kafka), &|_| {}).await;
    assert!(matches!(busy, Err(ReplayError::Busy)), "{busy:?}");
    // Killed: its connections go away mid-transaction.
    rebuild.abort();
    let _ = rebuild.await;
    reader.rollback().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(table_text(&app, "rm_conversations").await, before);

    // Started again, it completes (over the leftovers) and the rebuilt row is the fold again.
    replay::replay(&app.pool, &plan(Source::Store, &kafka), &|_| {})
        .await
        .expect("a rebuild after an interrupted one");
    let title: String =
        sqlx::query_scalar("SELECT title FROM rm_conversations WHERE uid = 'interrupted00000'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(title, "Jane Smith");
}

#[tokio::test]
async fn one_conversation_is_rebuilt_in_place_and_a_dry_run_changes_nothing() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    for uid in ["inplace000000001", "inplace000000002"] {
        app.start(uid).await;
        app.put_ok(uid, json!({"follow_up": true, "follow_up_message": "call"}))
            .await;
    }
    replay::replay(&app.pool, &plan(Source::Store, &kafka), &|_| {})
        .await
        .unwrap();
    sqlx::query("UPDATE rm_conversations SET title = 'tampered' WHERE uid LIKE 'inplace%'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM rm_follow_ups WHERE conversation_uid = 'inplace000000001'")
        .execute(&app.pool)
        .await
        .unwrap();
    let before = table_text(&app, "rm_conversations").await;

    let models = ReadModel::ALL;
    let dry = replay::rebuild_conversation(&app.pool, &models, "inplace000000001", true)
        .await
        .unwrap();
    let changed = |table: &str| {
        dry.iter()
            .find(|d| d.table == table)
            .map(|d| (d.only_live, d.only_rebuilt))
    };
    assert_eq!(changed("rm_conversations"), Some((1, 1)), "{dry:?}");
    assert_eq!(changed("rm_follow_ups"), Some((0, 1)), "{dry:?}");
    assert_eq!(changed("rm_messages"), Some((0, 0)), "{dry:?}");
    assert_eq!(table_text(&app, "rm_conversations").await, before);

    replay::rebuild_conversation(&app.pool, &models, "inplace000000001", false)
        .await
        .unwrap();
    let titles: Vec<(String, String)> = sqlx::query_as(
        "SELECT uid, title FROM rm_conversations WHERE uid LIKE 'inplace%' ORDER BY uid",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        titles,
        [
            ("inplace000000001".to_owned(), "Jane Smith".to_owned()),
            ("inplace000000002".to_owned(), "tampered".to_owned())
        ]
    );
    let unknown =
        replay::rebuild_conversation(&app.pool, &models, "nosuchconversation", false).await;
    assert!(
        matches!(unknown, Err(ReplayError::UnknownConversation(_))),
        "{unknown:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_follow_ups_model_is_built_from_history_on_first_start_and_kept_live() {
    let app = TestApp::spawn().await;
    let kafka = unique_config(&brokers());
    create_topics(&kafka).await;
    let at = |hours: i64| (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339();
    // Before the model exists: five conversations with follow-ups in every state.
    let uids: Vec<String> = (0..5).map(|i| format!("followups{i:07}")).collect();
    for uid in &uids {
        app.start(uid).await;
    }
    // Due in a second: overdue by the time it is counted (a date in the past is refused).
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    app.put_ok(&uids[0], json!({"follow_up": true, "follow_up_date": soon}))
        .await;
    app.put_ok(
        &uids[1],
        json!({"follow_up": true, "follow_up_date": at(24 * 9)}),
    )
    .await;
    app.put_ok(&uids[2], json!({"follow_up": true})).await;
    app.put_ok(
        &uids[2],
        json!({"follow_up": false, "complete_follow_up": true}),
    )
    .await;
    app.put_ok(&uids[3], json!({"follow_up": true})).await;
    app.put_ok(&uids[3], json!({"deleted": true})).await;
    let relay = start_relay(&app, &kafka);
    eventually(
        Duration::from_secs(30),
        "the events on the topic",
        || async {
            let published: Option<i64> =
                sqlx::query_scalar("SELECT max(published) FROM relay_positions")
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
            published.unwrap_or(0) > 0
        },
    )
    .await;
    // A database from before the model: never built.
    sqlx::query("DELETE FROM read_model_builds WHERE read_model = 'follow-ups'")
        .execute(&app.pool)
        .await
        .unwrap();

    let projector = start_projector_of(&app, &kafka, ReadModel::FollowUps);
    let conversations = start_projector_of(&app, &kafka, ReadModel::Conversations);
    let counts = || async {
        convo_projector::query::follow_up_counts(
            &app.pool,
            BUSINESS,
            Some(STAFF),
            chrono::Utc::now(),
        )
        .await
        .unwrap()
    };
    eventually(Duration::from_secs(30), "the first build", || async {
        replay::built(&app.pool, ReadModel::FollowUps)
            .await
            .unwrap()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let built = counts().await;
    assert_eq!(built.len(), 1, "{built:?}");
    // Open: 0 (overdue) and 1 (in nine days); 2 was completed; 3 is in the trash.
    assert_eq!((built[0].open, built[0].overdue), (2, 1), "{built:?}");
    assert_eq!(built[0].completed_this_week, 1, "{built:?}");
    // Its projector starts where the topic ended, not from its start.
    let positions: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM partition_claims WHERE consumer = 'follow-ups'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(positions > 0);

    // Kept live after: a follow-up due later today, and one restored from the trash.
    let later = chrono::Utc::now() + chrono::Duration::minutes(1);
    let today = later.date_naive() == chrono::Utc::now().date_naive();
    app.put_ok(
        &uids[4],
        json!({"follow_up": true, "follow_up_date": later.to_rfc3339()}),
    )
    .await;
    app.put_ok(&uids[3], json!({"deleted": false})).await;
    eventually(
        Duration::from_secs(30),
        "the new follow-ups counted",
        || async {
            let live = counts().await;
            live.first()
                .is_some_and(|c| c.open == 4 && (!today || c.due_today >= 1))
        },
    )
    .await;
    // It agrees with the conversation rows, a fold of the same events.
    eventually(Duration::from_secs(30), "both models agreeing", || async {
        projected(&app).await && follow_up_disagreements(&app).await == 0
    })
    .await;
    conversations.stop().await;
    projector.stop().await;
    relay.stop().await;
}
