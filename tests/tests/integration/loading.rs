//! Loading conversations for a write (`store::load_all`): from nothing, from a state known to
//! the cache (current, behind, or one the store does not lead to), with and without a usable
//! snapshot; each must come back as its stored events fold.

use convo_domain::Conversation;
use convo_store::store;
use convo_tests::TestApp;
use serde_json::json;

/// A started conversation after `puts` archive flips (one event each).
async fn with_events(app: &TestApp, uid: &str, puts: usize) {
    app.start(uid).await;
    for i in 0..puts {
        app.put_ok(uid, json!({"archived": i % 2 == 0})).await;
    }
}

/// The fold of the first `n` stored events of `uid`.
async fn folded_to(app: &TestApp, uid: &str, n: usize) -> Conversation {
    let mut conn = app.pool.acquire().await.unwrap();
    let events: Vec<_> = store_events(&mut conn, uid).await;
    Conversation::fold(uid, &events[..n])
}

async fn store_events(conn: &mut sqlx::PgConnection, uid: &str) -> Vec<convo_domain::Event> {
    convo_store::events::stream(conn, uid, 0, None)
        .await
        .unwrap()
        .iter()
        .map(|stored| stored.event().unwrap())
        .collect()
}

#[tokio::test]
async fn every_known_state_loads_as_the_stored_events_fold() {
    // Given conversations with 20 or so events each (a snapshot kept at 16 or later), one with no
    // events at all, and one whose snapshot no longer decodes
    let app = TestApp::spawn().await;
    let uids = [
        "load-fresh",
        "load-behind",
        "load-head",
        "load-ahead",
        "load-corrupt",
    ];
    for uid in uids {
        with_events(&app, uid, 19).await;
    }
    sqlx::query("UPDATE snapshots SET state = '\"not a state\"' WHERE conversation_uid = $1")
        .bind("load-corrupt")
        .execute(&app.pool)
        .await
        .unwrap();
    let head = app.folded("load-head").await;
    assert!(head.version > 16, "{}", head.version);
    let mut ahead = head.clone();
    ahead.uid = "load-ahead".into();
    ahead.version = head.version + 5;

    // When all are loaded in one call, each from a different known state
    let known = vec![
        Conversation::new("load-fresh"),
        folded_to(&app, "load-behind", 5).await,
        head.clone(),
        ahead,
        Conversation::new("load-corrupt"),
        Conversation::new("load-none"),
    ];
    let mut conn = app.pool.acquire().await.unwrap();
    let loaded = store::load_all(&mut conn, known).await.unwrap();

    // Then each is its events folded from the first, whatever it was known as
    for uid in uids {
        let state = &loaded[uid].state;
        assert_eq!(state, &app.folded(uid).await, "{uid}");
        assert_eq!(state.version, head.version, "{uid}");
    }
    // and the snapshot's version is reported for every conversation that has one
    let snapshot_version: i64 =
        sqlx::query_scalar("SELECT version FROM snapshots WHERE conversation_uid = 'load-head'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        loaded["load-head"].snapshot_version,
        snapshot_version as u64
    );
    assert_eq!(
        loaded["load-fresh"].snapshot_version,
        snapshot_version as u64
    );
    // and a conversation with no events comes back new.
    assert_eq!(loaded["load-none"].state, Conversation::new("load-none"));
    assert_eq!(loaded["load-none"].snapshot_version, 0);
}

#[tokio::test]
async fn a_cached_state_behind_another_writer_gets_the_events_since() {
    // Given a conversation cached after 9 updates and written 5 more times elsewhere
    let app = TestApp::spawn().await;
    with_events(&app, "load-stale", 9).await;
    let cached = app.folded("load-stale").await;
    for _ in 0..5 {
        let flipped = !app.folded("load-stale").await.archived;
        app.put_ok("load-stale", json!({"archived": flipped})).await;
    }

    // When it is loaded from the cached state
    let cached_version = cached.version;
    let mut conn = app.pool.acquire().await.unwrap();
    let loaded = store::load_all(&mut conn, vec![cached]).await.unwrap();

    // Then it is at the stored head, as its events fold.
    assert_eq!(loaded["load-stale"].state, app.folded("load-stale").await);
    assert_eq!(loaded["load-stale"].state.version, cached_version + 5);
}
