//! The projector's apply step and the list API over the read models, fed the stored events
//! directly (the broker path is covered in `pipeline`): folders, paging, business scoping,
//! redelivery, replay and backfill.

use convo_domain::Conversation;
use convo_kafka::EventRecord;
use convo_partitions::Claims;
use convo_projector::project::{Applied, Incoming, ProjectError, Projection, apply_batch};
use convo_tests::{BUSINESS, OTHER_BUSINESS, OTHER_STAFF, STAFF, TestApp, send};
use serde_json::{Value, json};

/// An events row: id, conversation, version, type, schema version, payload, business, actor, time.
type EventRow = (
    uuid::Uuid,
    String,
    i64,
    String,
    i32,
    String,
    String,
    Option<String>,
    chrono::DateTime<chrono::Utc>,
);

/// Every stored event as the relay would publish it, in publish order, on partition 0.
/// Applies `batch` as a projector member holding partition 0 of "events" would (it joins, claims
/// the partition, applies, and leaves).
async fn apply(
    app: &TestApp,
    projector: &str,
    batch: &[Incoming],
) -> Result<Applied, ProjectError> {
    let lease = std::time::Duration::from_secs(60);
    let mut claims = Claims::join(app.pool.clone(), projector, "events", 1, lease)
        .await
        .unwrap();
    claims.heartbeat().await.unwrap();
    let projection = Projection {
        projector,
        model: convo_projector::ReadModel::Conversations,
        topic: "events",
        member: claims.member(),
    };
    let applied = apply_batch(&app.pool, projection, batch).await;
    claims.leave().await.unwrap();
    applied
}

async fn published(app: &TestApp) -> Vec<Incoming> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT event_id, conversation_uid, version, event_type, schema_version, payload::text,
                    business_uid, actor_staff_uid, occurred_at
             FROM events ORDER BY tx_id, position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    rows.into_iter()
        .enumerate()
        .map(
            |(offset, (id, uid, version, kind, schema, payload, business, actor, at))| Incoming {
                partition: 0,
                offset: offset as i64,
                record: EventRecord {
                    event_id: id,
                    conversation_uid: uid,
                    version: version as u64,
                    event_type: kind,
                    schema_version: schema,
                    business_uid: business,
                    actor_staff_uid: actor,
                    command_id: "c".into(),
                    correlation_id: "c".into(),
                    causation_id: "c".into(),
                    occurred_at: at,
                    traceparent: convo_trace::TraceContext::root().traceparent(),
                    payload,
                },
            },
        )
        .collect()
}

#[tokio::test]
async fn folders_paging_and_scoping() {
    let app = TestApp::spawn().await;
    for uid in [
        "listinbox0000001",
        "listarchived0001",
        "listtrash0000001",
        "listspam00000001",
        "listfollowup0001",
        "listsent00000001",
        "listread00000001",
    ] {
        app.start(uid).await;
    }
    app.start_in("listotherbiz0001", OTHER_BUSINESS).await;
    app.put_ok("listarchived0001", json!({"archived": true}))
        .await;
    app.put_ok("listtrash0000001", json!({"deleted": true}))
        .await;
    app.put_ok("listspam00000001", json!({"spam": true})).await;
    app.put_ok(
        "listfollowup0001",
        json!({"follow_up": true, "follow_up_date": "2099-01-01"}),
    )
    .await;
    app.put_ok("listread00000001", json!({"business_unread": false}))
        .await;
    app.command(json!({"type": "RecordMessage", "command_id": "sent-1", "conversation_uid": "listsent00000001",
        "business_uid": BUSINESS, "message_id": "m2", "direction": "outgoing", "at": "2026-05-05T10:00:00Z"}))
        .await;
    let batch = published(&app).await;
    let applied = apply(&app, "read-models", &batch).await.unwrap();
    assert_eq!(applied.applied, batch.len());

    let mut inbox = app.list_ids("folder=inbox").await;
    inbox.sort();
    assert_eq!(
        inbox,
        [
            "listfollowup0001",
            "listinbox0000001",
            "listread00000001",
            "listsent00000001"
        ]
    );
    assert_eq!(app.list_ids("folder=archived").await, ["listarchived0001"]);
    assert_eq!(app.list_ids("folder=trash").await, ["listtrash0000001"]);
    assert_eq!(app.list_ids("folder=follow_up").await, ["listfollowup0001"]);
    assert_eq!(app.list_ids("folder=sent").await, ["listsent00000001"]);
    assert!(
        !app.list_ids("folder=attention")
            .await
            .contains(&"listread00000001".to_owned())
    );
    assert!(
        !app.list_ids("folder=attention")
            .await
            .contains(&"listspam00000001".to_owned())
    );
    let all = app.list_ids("folder=all").await;
    assert_eq!(all.len(), 6, "everything but the trash: {all:?}");
    assert_eq!(
        app.list_ids("folder=whatever").await,
        all,
        "an unknown folder lists everything"
    );
    assert_eq!(app.list_ids("").await, all);
    // The follow-up folder is the requesting staff's.
    let (_, other) = app.list(OTHER_STAFF, BUSINESS, "folder=follow_up").await;
    assert_eq!(other["data"]["conversations"], json!([]));
    // Another business sees only its own.
    let (_, other_business) = app.list(STAFF, OTHER_BUSINESS, "folder=all").await;
    assert_eq!(
        other_business["data"]["conversations"][0]["id"],
        "listotherbiz0001"
    );
    assert_eq!(
        other_business["data"]["conversations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Paging: most recently active first, pages do not overlap.
    let first = app.list_ids("folder=all&per_page=4").await;
    let second = app.list_ids("folder=all&per_page=4&page=2").await;
    assert_eq!((first.len(), second.len()), (4, 2));
    assert_eq!([first, second].concat(), all);
    assert_eq!(
        app.list_ids("folder=all&per_page=1000").await.len(),
        6,
        "per_page is capped, not refused"
    );
    for bad in ["page=0", "page=-1", "page=x", "per_page=0", "per_page=1.5"] {
        let (status, body) = app.list(STAFF, BUSINESS, bad).await;
        assert_eq!(status, 400, "{bad}");
        convo_tests::assert_error(&body, "bad_request");
    }
    let (status, _) = send(
        app.client
            .get(format!("{}/platform/v1/conversations", app.base)),
    )
    .await;
    assert_eq!(status, 401);

    // vcita's item shape.
    let (_, body) = app.list(STAFF, BUSINESS, "folder=archived").await;
    let item = &body["data"]["conversations"][0];
    for key in [
        "business_id",
        "business_unread",
        "client_id",
        "client_unread",
        "created_at",
        "deep_link",
        "id",
        "last_business_action",
        "last_client_action",
        "staff_id",
        "title",
        "updated_at",
    ] {
        assert!(item.get(key).is_some(), "{key} missing from {item}");
    }
    assert_eq!(item["deep_link"], "/app/conversations/listarchived0001");
}

#[tokio::test]
async fn redelivery_and_replay_change_nothing() {
    let app = TestApp::spawn().await;
    let uid = "projreplay000001";
    app.start(uid).await;
    app.put_ok(
        uid,
        json!({"follow_up": true, "follow_up_message": "note", "spam": true}),
    )
    .await;
    let batch = published(&app).await;
    apply(&app, "read-models", &batch).await.unwrap();
    let snapshot = |app: TestApp| async move {
        sqlx::query_scalar::<_, Value>(
            "SELECT jsonb_build_array(
                (SELECT jsonb_agg(to_jsonb(c) ORDER BY uid) FROM rm_conversations c),
                (SELECT jsonb_agg(to_jsonb(m) ORDER BY version) FROM rm_messages m),
                (SELECT jsonb_agg(to_jsonb(f)) FROM rm_collaborators f),
                (SELECT jsonb_agg(to_jsonb(k)) FROM rm_clients k))",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let before = snapshot(app.clone()).await;
    // The same records again (a redelivery): below the checkpoint, all skipped.
    let again = apply(&app, "read-models", &batch).await.unwrap();
    assert_eq!((again.applied, again.skipped), (0, batch.len()));
    // A replay under another projector name (fresh checkpoints): the version guard skips them.
    let replay = apply(&app, "another", &batch).await.unwrap();
    assert_eq!((replay.applied, replay.skipped), (0, batch.len()));
    assert_eq!(snapshot(app.clone()).await, before);
    let messages: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_messages")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        messages, 2,
        "the incoming message and the follow-up note, once each"
    );
}

#[tokio::test]
async fn a_topic_whose_offsets_start_over_is_still_projected() {
    // A recreated topic, or a broker that lost its data: the relay publishes again from offset 0,
    // below the projector's checkpoint. Only versions decide what is skipped.
    let app = TestApp::spawn().await;
    let uid = "projreset0000001";
    app.start(uid).await;
    let first = published(&app).await;
    let shifted: Vec<Incoming> = first
        .into_iter()
        .map(|mut incoming| {
            incoming.offset += 1000;
            incoming
        })
        .collect();
    apply(&app, "read-models", &shifted).await.unwrap();
    app.put_ok(uid, json!({"archived": true})).await;
    let after_reset: Vec<Incoming> = published(&app)
        .await
        .into_iter()
        .skip(2)
        .enumerate()
        .map(|(offset, mut incoming)| {
            incoming.offset = offset as i64;
            incoming
        })
        .collect();
    let applied = apply(&app, "read-models", &after_reset).await.unwrap();
    assert_eq!(applied.applied, 1, "the archive at offset 0 is applied");
    assert_eq!(
        applied.checkpoints[&0], 1,
        "resume after what was read last"
    );
    let stored: i64 = sqlx::query_scalar("SELECT next_offset FROM partition_claims")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    let archived: bool = sqlx::query_scalar("SELECT archived FROM rm_conversations WHERE uid = $1")
        .bind(uid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(archived);
}

#[tokio::test]
async fn a_gap_is_backfilled_from_the_event_store() {
    let app = TestApp::spawn().await;
    let uid = "projgap000000001";
    app.start(uid).await;
    app.put_ok(uid, json!({"archived": true})).await;
    app.put_ok(uid, json!({"spam": true})).await;
    let batch = published(&app).await;
    // Only the last event reaches the projector.
    let last = batch.last().cloned().unwrap();
    let applied = apply(&app, "read-models", &[last]).await.unwrap();
    assert_eq!(applied.applied, 1);
    let state: Value = sqlx::query_scalar("SELECT state FROM rm_conversations WHERE uid = $1")
        .bind(uid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let events: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE conversation_uid = $1 ORDER BY version",
    )
    .bind(uid)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let events: Vec<convo_domain::Event> = events
        .into_iter()
        .map(|e| serde_json::from_value(e).unwrap())
        .collect();
    assert_eq!(
        state,
        serde_json::to_value(Conversation::fold(uid, &events)).unwrap()
    );
}

#[tokio::test]
async fn a_hard_delete_leaves_only_a_tombstone() {
    let app = TestApp::spawn().await;
    let uid = "projdelete000001";
    app.start(uid).await;
    app.put_ok(uid, json!({"follow_up": true, "follow_up_message": "x"}))
        .await;
    app.command(json!({"type": "DeleteConversation", "command_id": "del", "conversation_uid": uid, "business_uid": BUSINESS}))
        .await;
    apply(&app, "read-models", &published(&app).await)
        .await
        .unwrap();
    let (lifecycle, title): (String, String) =
        sqlx::query_as("SELECT lifecycle, title FROM rm_conversations WHERE uid = $1")
            .bind(uid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((lifecycle.as_str(), title.as_str()), ("deleted", ""));
    for table in ["rm_messages", "rm_collaborators"] {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE conversation_uid = $1"
        ))
        .bind(uid)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table} forgets it");
    }
    assert!(app.list_ids("folder=all").await.is_empty());
}

#[tokio::test]
async fn the_list_shows_each_staff_their_own_read_state() {
    let app = TestApp::spawn().await;
    let uid = "readstate0000001";
    app.start(uid).await;
    // STAFF gets a collaborator record (a follow-up), then an incoming message marks everyone
    // unread, and another staff (without a record) reads the conversation.
    app.put_ok(
        uid,
        json!({"follow_up": true, "follow_up_date": "2099-01-01"}),
    )
    .await;
    app.command(json!({"type": "RecordMessage", "command_id": "in-1", "conversation_uid": uid,
        "business_uid": BUSINESS, "message_id": "m1", "direction": "incoming", "at": "2026-05-05T10:00:00Z"}))
        .await;
    let other_reads = app
        .client
        .put(app.url(uid))
        .bearer_auth(convo_tests::token(OTHER_STAFF, BUSINESS, "all"))
        .json(&json!({"business_unread": false}));
    assert_eq!(send(other_reads).await.0, 200);
    apply(&app, "read-models", &published(&app).await)
        .await
        .unwrap();
    let unread = |staff: &'static str| {
        let app = app.clone();
        async move {
            let (_, body) = app.list(staff, BUSINESS, "folder=all").await;
            let attention = app.list(staff, BUSINESS, "folder=attention").await.1;
            (
                body["data"]["conversations"][0]["business_unread"].clone(),
                attention["data"]["conversations"].as_array().unwrap().len(),
            )
        }
    };
    assert_eq!(
        unread(STAFF).await,
        (json!(true), 1),
        "STAFF has not read it"
    );
    assert_eq!(unread(OTHER_STAFF).await, (json!(false), 0));

    // STAFF reads it: the conversation was already read, STAFF's record was not.
    app.put_ok(uid, json!({"business_unread": false})).await;
    let events = app.events(uid).await;
    assert_eq!(events.last().unwrap().1, "MarkedRead");
    apply(&app, "read-models", &published(&app).await)
        .await
        .unwrap();
    assert_eq!(unread(STAFF).await, (json!(false), 0));
}

#[tokio::test]
async fn a_row_of_another_state_shape_is_refolded_from_the_events() {
    let app = TestApp::spawn().await;
    let uid = "readshape0000001";
    app.start(uid).await;
    app.put_ok(uid, json!({"archived": true, "follow_up": true}))
        .await;
    let batch = published(&app).await;
    apply(&app, "read-models", &batch).await.unwrap();
    let row = |app: TestApp| async move {
        sqlx::query_as::<_, (i32, Value)>(
            "SELECT state_schema, state FROM rm_conversations WHERE uid = $1",
        )
        .bind(uid)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let (_, folded) = row(app.clone()).await;
    // A row written by a build whose `Conversation` had another shape.
    sqlx::query(
        "UPDATE rm_conversations SET state = '{\"old\": \"shape\"}', state_schema = 0 WHERE uid = $1",
    )
    .bind(uid)
    .execute(&app.pool)
    .await
    .unwrap();
    // A redelivery (nothing new to apply) is enough to rewrite it in the current shape.
    let again = apply(&app, "read-models", &batch).await.unwrap();
    assert_eq!(again.applied, 0);
    assert_eq!(
        row(app.clone()).await,
        (convo_domain::state::STATE_SCHEMA, folded)
    );
}
