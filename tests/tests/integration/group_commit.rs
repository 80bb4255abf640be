//! Group commit: concurrent commands share transactions, and still each gets its own answer,
//! its own idempotency record, and its own failure.

use convo_tests::{TestApp, token};
use serde_json::{Value, json};

/// `n` PUTs sent at once, each `(uid, body, idempotency key)`; their statuses and bodies in order.
async fn put_all(app: &TestApp, puts: Vec<(String, Value, Option<String>)>) -> Vec<(u16, Value)> {
    let token = token(convo_tests::STAFF, convo_tests::BUSINESS, "all");
    let tasks: Vec<_> = puts
        .into_iter()
        .map(|(uid, body, key)| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                let mut request = app.client.put(app.url(&uid)).bearer_auth(token).json(&body);
                if let Some(key) = key {
                    request = request.header("Idempotency-Key", key);
                }
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

async fn started(app: &TestApp, n: usize) -> Vec<String> {
    let uids: Vec<String> = (0..n).map(|i| format!("groupcommit{i:05}")).collect();
    for uid in &uids {
        app.start(uid).await;
    }
    uids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_on_different_conversations_share_transactions_and_each_is_answered() {
    // Given 48 conversations
    let app = TestApp::spawn().await;
    let uids = started(&app, 48).await;

    // When each is archived by its own concurrent PUT
    let puts = uids
        .iter()
        .map(|uid| (uid.clone(), json!({"archived": true}), None))
        .collect();
    let answers = put_all(&app, puts).await;

    // Then every PUT is answered with its own conversation, archived
    for (uid, (status, body)) in uids.iter().zip(&answers) {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["uid"], uid.as_str(), "{body}");
        assert_eq!(body["archived"], true, "{body}");
    }
    // and the 48 events were written by fewer transactions than there were commands.
    let (events, transactions): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT tx_id::text) FROM events WHERE event_type = 'Archived'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(events, 48);
    assert!(
        transactions < 48,
        "{transactions} transactions for 48 commands"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_on_one_conversation_in_one_batch_apply_in_turn() {
    // Given one conversation
    let app = TestApp::spawn().await;
    let uid = started(&app, 1).await.remove(0);
    let before = app.version(&uid).await;

    // When 40 PUTs flip it at once
    let puts = (0..40)
        .map(|i| (uid.clone(), json!({"archived": i % 2 == 0}), None))
        .collect();
    let answers = put_all(&app, puts).await;

    // Then each is answered as it set the field, and the events are contiguous versions
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["archived"], i % 2 == 0, "{body}");
    }
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM events WHERE conversation_uid = $1 ORDER BY 1")
            .bind(&uid)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    assert!(versions.len() as i64 > before);
    // and what GET shows is the fold of them all.
    let folded = app.folded(&uid).await;
    let (_, shown) = app.get(&uid).await;
    assert_eq!(shown["archived"], folded.archived);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_sent_twice_at_once_is_stored_once_and_a_reused_key_conflicts() {
    // Given two conversations
    let app = TestApp::spawn().await;
    let uids = started(&app, 2).await;

    // When the same request with one key is sent 6 times at once, and another request reuses
    // a second key on the second conversation
    let mut puts: Vec<_> = (0..6)
        .map(|_| {
            (
                uids[0].clone(),
                json!({"spam": true}),
                Some("k-same".to_owned()),
            )
        })
        .collect();
    puts.push((
        uids[1].clone(),
        json!({"spam": true}),
        Some("k-reused".into()),
    ));
    puts.push((
        uids[1].clone(),
        json!({"spam": false}),
        Some("k-reused".into()),
    ));
    let answers = put_all(&app, puts).await;

    // Then the six get one answer and one event
    for (status, body) in &answers[..6] {
        assert_eq!((*status, body), (answers[0].0, &answers[0].1));
    }
    assert_eq!(answers[0].0, 200);
    let spam_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE conversation_uid = $1 AND event_type = 'MarkedSpam'",
    )
    .bind(&uids[0])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(spam_events, 1);
    // and of the two requests sharing a key, one is applied and the other refused with 409.
    let mut statuses = [answers[6].0, answers[7].0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_that_cannot_be_stored_fails_alone() {
    // Given 24 conversations, one of which holds an event this build cannot read
    let app = TestApp::spawn().await;
    let uids = started(&app, 24).await;
    let broken = &uids[7];
    sqlx::query("DELETE FROM snapshots WHERE conversation_uid = $1")
        .bind(broken)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE events SET payload = '{\"type\":\"NoSuchEvent\"}' WHERE conversation_uid = $1 AND version = 2",
    )
    .bind(broken)
    .execute(&app.pool)
    .await
    .unwrap();

    // When all 24 are archived at once
    let puts = uids
        .iter()
        .map(|uid| (uid.clone(), json!({"archived": true}), None))
        .collect();
    let answers = put_all(&app, puts).await;

    // Then the broken one fails with 500 and every other is archived.
    for (uid, (status, body)) in uids.iter().zip(&answers) {
        if uid == broken {
            assert_eq!(*status, 500, "{body}");
        } else {
            assert_eq!(*status, 200, "{uid}: {body}");
            assert_eq!(body["archived"], true);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshots_are_kept_every_few_events_and_loads_fold_the_rest() {
    // Given a conversation updated 40 times, one PUT after another
    let app = TestApp::spawn().await;
    let uid = started(&app, 1).await.remove(0);
    for i in 0..40 {
        app.put_ok(&uid, json!({"business_unread": i % 2 == 0}))
            .await;
    }

    // Then its snapshot trails its version by less than the snapshot interval
    let version = app.version(&uid).await;
    let snapshot: i64 =
        sqlx::query_scalar("SELECT version FROM snapshots WHERE conversation_uid = $1")
            .bind(&uid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(snapshot < version, "snapshot {snapshot}, version {version}");
    assert!(
        version - snapshot < 16,
        "snapshot {snapshot}, version {version}"
    );
    // and GET shows the fold of every event.
    let folded = app.folded(&uid).await;
    let (_, shown) = app.get(&uid).await;
    assert_eq!(shown["business_unread"], folded.business_unread);
    assert_eq!(folded.version as i64, version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_commands_run_in_shared_transactions_and_in_order_per_conversation() {
    use std::time::Duration;

    use convo_tests::kafka::{
        collect_until, consumer, create_topics, produce, producer, start_intake, unique_config,
    };

    // Given 20 conversations and, on the commands topic, 8 commands for each, alternately
    // archiving and unarchiving it (each one adds an event)
    let app = TestApp::spawn().await;
    let kafka = unique_config(&convo_tests::kafka::brokers());
    create_topics(&kafka).await;
    let uids = started(&app, 20).await;
    let out = producer(&kafka);
    for round in 0..8 {
        for uid in &uids {
            let id = format!("{uid}-{round}");
            let body = json!({"archived": round % 2 == 0});
            let command = crate::pipeline::command(
                "UpdateConversation",
                &id,
                uid,
                json!({"staff_uid": convo_tests::STAFF, "body": body}),
            );
            produce(&out, &kafka.topics.commands, uid, &command).await;
        }
    }

    // When the intake runs them
    let outcomes = consumer(&kafka, &kafka.topics.outcomes);
    let intake = start_intake(&app, &kafka);
    let answered = collect_until(&outcomes, Duration::from_secs(60), |r| r.len() >= 160).await;
    intake.stop().await;

    // Then each is accepted, each conversation's events follow its commands' order
    assert_eq!(answered.len(), 160);
    for uid in &uids {
        let commands: Vec<String> = sqlx::query_scalar(
            "SELECT command_id FROM events WHERE conversation_uid = $1 AND version > 2 ORDER BY version",
        )
        .bind(uid)
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let expected: Vec<String> = (0..8).map(|round| format!("{uid}-{round}")).collect();
        assert_eq!(commands, expected);
    }
    // and the 160 commands were committed by fewer transactions.
    let transactions: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT tx_id::text) FROM events WHERE version > 2")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        transactions < 160,
        "{transactions} transactions for 160 commands"
    );
}
