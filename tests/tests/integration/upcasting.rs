//! Upcasting (ADR 0010): an event stored in the schema version 1 shape (`FollowUpSet.date`),
//! beside current ones, is read in the current shape (`due_at`) by the command handler, the
//! projector (a consumed record, and a backfill from the store), the export and the history tools.

use chrono::{DateTime, Utc};
use convo_kafka::EventRecord;
use convo_partitions::Claims;
use convo_projector::project::{Incoming, Projection, apply_batch};
use convo_store::events::{self, EventFilter};
use convo_store::history::{History, Point};
use convo_tests::schemas::{assert_valid_envelope, assert_valid_event_of};
use convo_tests::{BUSINESS, STAFF, TestApp};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

const UID: &str = "upcastv1follow01";
const DUE: &str = "2099-01-02T09:00:00Z";

/// Stores `uid`'s next event as a schema version 1 `FollowUpSet` (`date`, not `due_at`), as a
/// build before version 2 wrote it. Returns its version.
async fn insert_v1_follow_up(app: &TestApp, uid: &str, at: DateTime<Utc>) -> i64 {
    let version = app.version(uid).await + 1;
    let payload = json!({"type": "FollowUpSet", "at": at, "staff_uid": STAFF,
                         "client_uid": format!("client-{uid}"), "date": DUE, "message": "call back"});
    assert_valid_event_of(1, &payload);
    sqlx::query(
        "INSERT INTO events (event_id, conversation_uid, version, event_type, schema_version,
                             payload, business_uid, actor_staff_uid, command_id, correlation_id,
                             causation_id, occurred_at)
         VALUES ($1, $2, $3, 'FollowUpSet', 1, $4, $5, $6, 'v1-cmd', 'v1-cmd', 'v1-cmd', $7)",
    )
    .bind(convo_store::store::event_id(uid, version as u64))
    .bind(uid)
    .bind(version)
    .bind(&payload)
    .bind(BUSINESS)
    .bind(STAFF)
    .bind(at)
    .execute(&app.pool)
    .await
    .expect("insert a v1 event");
    version
}

/// Every stored event of `uid` as the relay publishes it (with its stored schema version).
async fn records(app: &TestApp, uid: &str) -> Vec<EventRecord> {
    let mut conn = app.pool.acquire().await.unwrap();
    let stored = events::all(&mut conn, Some(uid)).await.unwrap();
    stored.into_iter().map(convo_relay::record).collect()
}

/// Applies `records` as projector `name` holding partition 0 of "events".
async fn project(app: &TestApp, name: &str, records: Vec<EventRecord>) {
    let lease = std::time::Duration::from_secs(60);
    let mut claims = Claims::join(app.pool.clone(), name, "events", 1, lease)
        .await
        .unwrap();
    claims.heartbeat().await.unwrap();
    let batch: Vec<Incoming> = records
        .into_iter()
        .enumerate()
        .map(|(offset, record)| Incoming {
            partition: 0,
            offset: offset as i64,
            record,
        })
        .collect();
    let projection = Projection {
        projector: name,
        model: convo_projector::ReadModel::Conversations,
        topic: "events",
        member: claims.member(),
    };
    apply_batch(&app.pool, projection, &batch).await.unwrap();
    claims.leave().await.unwrap();
}

async fn projected_due(app: &TestApp) -> Option<DateTime<Utc>> {
    sqlx::query_scalar(
        "SELECT follow_up_date FROM rm_collaborators WHERE conversation_uid = $1 AND staff_uid = $2",
    )
    .bind(UID)
    .bind(STAFF)
    .fetch_one(&app.pool)
    .await
    .expect("the staff's collaborator row")
}

#[tokio::test]
async fn a_v1_event_is_folded_projected_exported_and_shown_in_the_current_shape() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let v1 = insert_v1_follow_up(&app, UID, "2026-05-04T17:00:00Z".parse().unwrap()).await;

    // The handler folds it: GET shows the follow-up date, and a later PUT works on top of it.
    let (status, shown) = app.get(UID).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["follow_up_date"], DUE, "{shown}");
    app.put_ok(UID, json!({"archived": true})).await;
    let (_, shown) = app.get(UID).await;
    assert_eq!(
        (shown["follow_up_date"].clone(), shown["archived"].clone()),
        (json!(DUE), json!(true))
    );
    let stored: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT version, schema_version FROM events WHERE conversation_uid = $1 ORDER BY version",
    )
    .bind(UID)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(
        stored
            .iter()
            .all(|&(v, s)| s == if v == v1 { 1 } else { 2 }),
        "{stored:?}"
    );

    // Projected from the consumed record (schemaversion 1), and backfilled from the store when
    // the projector sees only the events after it.
    let published = records(&app, UID).await;
    assert_eq!(
        published[v1 as usize - 1].schema_version,
        1,
        "published as written"
    );
    project(&app, "upcast-all", published.clone()).await;
    assert_eq!(projected_due(&app).await, Some(DUE.parse().unwrap()));
    sqlx::query("DELETE FROM rm_collaborators")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM rm_conversations")
        .execute(&app.pool)
        .await
        .unwrap();
    let after: Vec<EventRecord> = published
        .into_iter()
        .filter(|r| r.version as i64 > v1)
        .collect();
    project(&app, "upcast-backfill", after).await;
    assert_eq!(projected_due(&app).await, Some(DUE.parse().unwrap()));

    // Exported in the current shape, with the current schemaversion.
    let filter = EventFilter {
        conversation_uid: Some(UID.into()),
        ..EventFilter::default()
    };
    let mut conn = app.pool.acquire().await.unwrap();
    let exported: Vec<Value> = events::matching(&mut conn, &filter)
        .map_ok(|stored| convo_relay::record(stored.upcast().unwrap()).structured())
        .try_collect()
        .await
        .unwrap();
    let line = &exported[v1 as usize - 1];
    assert_valid_envelope(line);
    assert_eq!(line["schemaversion"], convo_domain::event::SCHEMA_VERSION);
    assert_eq!(line["data"]["due_at"], DUE);
    assert!(line["data"].get("date").is_none(), "{line}");

    // History and state show it.
    let history = History::load(&mut conn, UID).await.unwrap();
    let (_, event) = &history.events[v1 as usize - 1];
    assert_eq!(
        convo_domain::summary::summary(event),
        "due Fri Jan 2 2099 09:00 UTC, \"call back\""
    );
    let at = history.version_at(Point::Version(v1 as u64)).unwrap();
    let past = history.state_after(at);
    assert_eq!(
        past.collaborator(STAFF).and_then(|c| c.follow_up_date),
        Some(DUE.parse().unwrap())
    );

    drop(conn);

    // Rebuilt by a replay from the store: both read models hold it in the current shape.
    let plan = convo_projector::replay::Replay {
        models: convo_projector::ReadModel::ALL.to_vec(),
        source: convo_projector::replay::Source::Store,
        dry_run: false,
        kafka: None,
    };
    convo_projector::replay::replay(&app.pool, &plan, &|_| {})
        .await
        .unwrap();
    assert_eq!(projected_due(&app).await, Some(DUE.parse().unwrap()));
    let due: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT due_at FROM rm_follow_ups WHERE conversation_uid = $1 AND staff_uid = $2",
    )
    .bind(UID)
    .bind(STAFF)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(due, Some(DUE.parse().unwrap()));
}
