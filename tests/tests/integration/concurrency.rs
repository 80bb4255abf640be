//! Spec §9: concurrent commands on one conversation, from two independent service instances,
//! are serialized: every request gets a correct answer and nothing is lost.

use convo_domain::{Conversation, Event};
use convo_tests::{TestApp, token};
use serde_json::json;

const UID: &str = "conv000000concur";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_puts_from_two_instances() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.db.clone(), 8).await;
    first.start(UID).await;
    let start_version = first.version(UID).await;

    // Each request flips a different field pattern; all are valid.
    let bodies = [
        json!({"archived": true}),
        json!({"archived": false}),
        json!({"spam": true}),
        json!({"spam": false}),
        json!({"business_unread": true}),
        json!({"business_unread": false}),
        json!({"deleted": true}),
        json!({"deleted": false}),
    ];
    let token = token(convo_tests::STAFF, convo_tests::BUSINESS, "all");
    let mut tasks = Vec::new();
    for i in 0..200 {
        let app = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let body = bodies[i % bodies.len()].clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let response = app
                .client
                .put(app.url(UID))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let json: serde_json::Value = response.json().await.unwrap();
            (body, status, json)
        }));
    }
    for task in tasks {
        let (body, status, response) = task.await.unwrap();
        assert_eq!(status, 200, "{body} -> {response}");
        // Read-your-writes: the response shows the field as this request set it.
        let (field, value) = body.as_object().unwrap().iter().next().unwrap();
        assert_eq!(&response[field], value, "{body} -> {response}");
    }

    // Versions are contiguous from 1, and folding every stored event gives the stored snapshot
    // and what GET renders.
    let rows: Vec<(i64, serde_json::Value)> = sqlx::query_as(
        "SELECT version, payload FROM events WHERE conversation_uid = $1 ORDER BY version",
    )
    .bind(UID)
    .fetch_all(&first.pool)
    .await
    .unwrap();
    let versions: Vec<i64> = rows.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    assert!(versions.len() as i64 > start_version);
    let events: Vec<Event> = rows
        .into_iter()
        .map(|(_, p)| serde_json::from_value(p).unwrap())
        .collect();
    let folded = Conversation::fold(UID, &events);
    // The snapshot (kept every few events) is the fold of the events up to its version.
    let (snapshot_version, snapshot): (i64, serde_json::Value) =
        sqlx::query_as("SELECT version, state FROM snapshots WHERE conversation_uid = $1")
            .bind(UID)
            .fetch_optional(&first.pool)
            .await
            .unwrap()
            .unwrap_or((0, serde_json::Value::Null));
    if snapshot_version > 0 {
        let upto = Conversation::fold(UID, &events[..snapshot_version as usize]);
        assert_eq!(serde_json::to_value(&upto).unwrap(), snapshot);
    }
    let (_, shown) = first.get(UID).await;
    assert_eq!(shown["archived"], folded.archived);
    assert_eq!(shown["spam"], folded.spam);
    assert_eq!(shown["deleted"], folded.deleted_at.is_some());
    assert_eq!(shown["business_unread"], folded.business_unread);
}
