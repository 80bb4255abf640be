//! `convo history` / `convo state` (convo-store's `history`): the state at version N is the fold
//! of the first N events and, at each command's end, what the handler and GET had then; a time
//! picks the right version; bad arguments are refused before anything is read.

use std::time::Duration;

use chrono::{DateTime, Utc};
use convo_domain::render::{Depth, render};
use convo_domain::{Conversation, Event};
use convo_store::history::{History, HistoryError, Point};
use convo_tests::chaos::service::convo_bin;
use convo_tests::{BUSINESS, OTHER_STAFF, STAFF, TestApp, send, token};
use serde_json::{Value, json};

const UID: &str = "historyconv00001";

/// The first `n` events of `uid`, read straight from the table and decoded on their own.
async fn first_events(app: &TestApp, uid: &str, n: i64) -> Vec<Event> {
    let rows: Vec<(i32, String)> = sqlx::query_as(
        "SELECT schema_version, payload::text FROM events
         WHERE conversation_uid = $1 AND version <= $2 ORDER BY version",
    )
    .bind(uid)
    .bind(n)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    rows.iter()
        .map(|(schema, payload)| Event::decode(*schema, payload).unwrap())
        .collect()
}

/// A realistic conversation, noting after each step its version, the time just after it, and
/// what GET answered for STAFF then.
async fn realistic(app: &TestApp) -> Vec<(i64, DateTime<Utc>, Value)> {
    app.start(UID).await;
    let steps = [
        json!({"business_unread": false}),
        json!({"follow_up": true, "follow_up_date": "2099-01-02T09:00:00Z", "follow_up_message": "call back"}),
        json!({"archived": true}),
        json!({"follow_up": true, "follow_up_message": "note without a date"}),
        json!({"spam": true}),
        json!({"spam": false, "archived": false, "business_unread": true}),
        json!({"follow_up": true}),
        json!({"deleted": true}),
        json!({"deleted": false}),
    ];
    let mut seen = Vec::new();
    for body in steps {
        app.put_ok(UID, body).await;
        seen.push(checkpoint(app).await);
    }
    let other = token(OTHER_STAFF, BUSINESS, "all");
    let (status, _) = send(
        reqwest::Client::new()
            .put(app.url(UID))
            .bearer_auth(other)
            .json(&json!({"follow_up": true, "follow_up_date": "2099-03-01"})),
    )
    .await;
    assert_eq!(status, 200);
    seen.push(checkpoint(app).await);
    seen
}

async fn checkpoint(app: &TestApp) -> (i64, DateTime<Utc>, Value) {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, body) = app.get(UID).await;
    let checkpoint = (app.version(UID).await, Utc::now(), body);
    tokio::time::sleep(Duration::from_millis(5)).await;
    checkpoint
}

#[tokio::test]
async fn state_at_every_version_is_the_fold_of_its_first_events() {
    let app = TestApp::spawn().await;
    let seen = realistic(&app).await;
    let mut conn = app.pool.acquire().await.unwrap();
    let history = History::load(&mut conn, UID).await.unwrap();
    let last = history.events.len() as i64;
    assert!(last >= 12, "a realistic history: {last} events");
    for n in 1..=last {
        let version = history.version_at(Point::Version(n as u64)).unwrap();
        assert_eq!(version, n as u64);
        let past = history.state_after(version);
        assert_eq!(
            past,
            Conversation::fold(UID, &first_events(&app, UID, n).await),
            "v{n}"
        );
        assert_eq!(past.version, n as u64);
    }
    // At each command's end it is what the handler loads and what GET answered then.
    let now = convo_store::store::load(&mut conn, UID).await.unwrap();
    assert_eq!(history.state_after(last as u64), now);
    for (version, _, answered) in &seen {
        let past = history.state_after(*version as u64);
        assert_eq!(
            &render(&past, STAFF, Depth::Shallow, Utc::now()),
            answered,
            "v{version}"
        );
    }
    // Another staff's follow-up is theirs: the rendering follows --staff.
    let theirs = render(&now, OTHER_STAFF, Depth::Shallow, Utc::now());
    assert_eq!(theirs["follow_up_date"], "2099-03-01T00:00:00Z");
    assert_ne!(
        render(&now, STAFF, Depth::Shallow, Utc::now())["follow_up_date"],
        theirs["follow_up_date"]
    );
}

#[tokio::test]
async fn a_time_picks_the_version_of_that_moment() {
    let app = TestApp::spawn().await;
    let seen = realistic(&app).await;
    let mut conn = app.pool.acquire().await.unwrap();
    let history = History::load(&mut conn, UID).await.unwrap();
    for (version, after, _) in &seen {
        assert_eq!(
            history.version_at(Point::Time(*after)).unwrap(),
            *version as u64
        );
    }
    // Inclusive: an event's own time includes it.
    let (third, _) = &history.events[2];
    assert_eq!(
        history.version_at(Point::Time(third.occurred_at)).unwrap(),
        3
    );
    let (first, _) = &history.events[0];
    let before = first.occurred_at - chrono::Duration::seconds(1);
    assert!(matches!(
        history.version_at(Point::Time(before)),
        Err(HistoryError::BeforeStart { .. })
    ));
    let beyond = history.events.len() as u64 + 1;
    assert!(matches!(
        history.version_at(Point::Version(beyond)),
        Err(HistoryError::BeyondLast { .. })
    ));
    assert!(matches!(
        History::load(&mut conn, "historyunknown01").await,
        Err(HistoryError::Unknown(_))
    ));
}

/// Runs `convo ARGS` against `database_url`; returns (exit code, stdout, stderr).
pub fn convo(database_url: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(convo_bin())
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .expect("run convo");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[tokio::test]
async fn the_tools_refuse_bad_arguments_and_unknown_uids() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let db = app.database_url();
    // Refused by the argument parser, before any connection (the URL would not even matter).
    let nowhere = "postgres://nobody@127.0.0.1:1/none";
    for (args, expected) in [
        (vec!["state", "not a uid"], "a uid is"),
        (
            vec!["state", UID, "--at-version", "0"],
            "versions start at 1",
        ),
        (
            vec!["state", UID, "--at-time", "last tuesday"],
            "not a time",
        ),
        (
            vec!["state", UID, "--at-version", "2", "--at-time", "2026-01-01"],
            "cannot be used with",
        ),
        (vec!["history", "bad/uid"], "a uid is"),
    ] {
        let (code, _, err) = convo(nowhere, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // Refused after reading the conversation: exit 1 and a clear message.
    for (args, expected) in [
        (vec!["state", "historyunknown01"], "has no events"),
        (vec!["history", "historyunknown01"], "has no events"),
        (
            vec!["state", UID, "--at-version", "3"],
            "version 3 does not exist",
        ),
        (vec!["state", UID, "--at-time", "2001-01-01"], "started at"),
    ] {
        let (code, out, err) = convo(&db, &args);
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // And the good path, readable and as JSON.
    let (code, out, _) = convo(&db, &["history", UID]);
    assert_eq!(code, 0);
    assert!(
        out.contains("v1 ") && out.contains("ConversationStarted by teststaff0000001"),
        "{out}"
    );
    let (code, out, _) = convo(&db, &["state", UID, "--at-version", "1", "--json"]);
    assert_eq!(code, 0);
    let state: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (state["version"].clone(), state["last_version"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(state["rendering"]["uid"], UID);
}
