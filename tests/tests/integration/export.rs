//! `convo export` (convo-store's `events::matching`): every line is a valid structured-mode
//! CloudEvent; a time range [since, until) holds exactly the events in it; business, type and
//! conversation filters are exact; bad arguments are refused before anything is written.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use convo_store::events::{self, EventFilter};
use convo_tests::schemas::assert_valid_envelope;
use convo_tests::{BUSINESS, OTHER_BUSINESS, TestApp};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use crate::history::convo;

/// Messages at known times: (conversation, business, at).
const MESSAGES: [(&str, &str, &str); 6] = [
    ("exportconv000001", BUSINESS, "2026-03-01T00:00:00Z"),
    ("exportconv000001", BUSINESS, "2026-03-01T12:00:00Z"),
    ("exportconv000002", BUSINESS, "2026-03-02T00:00:00Z"),
    ("exportconv000003", OTHER_BUSINESS, "2026-03-01T06:00:00Z"),
    (
        "exportconv000003",
        OTHER_BUSINESS,
        "2026-03-02T23:59:59.999999Z",
    ),
    ("exportconv000002", BUSINESS, "2026-03-03T00:00:00Z"),
];

async fn seed(app: &TestApp) {
    app.start("exportconv000001").await;
    app.start("exportconv000002").await;
    app.start_in("exportconv000003", OTHER_BUSINESS).await;
    for (i, (uid, business, at)) in MESSAGES.iter().enumerate() {
        let outcome = app
            .command(
                json!({"type": "RecordMessage", "command_id": format!("export-msg-{i}"),
                "conversation_uid": uid, "business_uid": business, "message_id": format!("em{i}"),
                "direction": "incoming", "text": "hello", "at": at}),
            )
            .await;
        assert_eq!(outcome["status"], "accepted", "{outcome}");
    }
    app.put_ok("exportconv000001", json!({"archived": true}))
        .await;
}

/// What export writes for `filter`, as parsed lines.
async fn export(app: &TestApp, filter: &EventFilter) -> Vec<Value> {
    let mut conn = app.pool.acquire().await.unwrap();
    events::matching(&mut conn, filter)
        .map_ok(|stored| convo_relay::record(stored.upcast().unwrap()).structured())
        .try_collect()
        .await
        .unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// (subject, time) of each line.
fn keys(lines: &[Value]) -> BTreeSet<(String, DateTime<Utc>)> {
    lines
        .iter()
        .map(|l| {
            (
                l["subject"].as_str().unwrap().to_owned(),
                at(l["time"].as_str().unwrap()),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_line_is_a_valid_cloudevent_and_ranges_are_exact() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let all = export(&app, &EventFilter::default()).await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(all.len() as i64, stored);
    for line in &all {
        assert_valid_envelope(line);
    }
    // The relay's order: each conversation's versions ascend.
    for uid in ["exportconv000001", "exportconv000002", "exportconv000003"] {
        let versions: Vec<u64> = all
            .iter()
            .filter(|l| l["subject"] == uid)
            .map(|l| l["aggregateversion"].as_u64().unwrap())
            .collect();
        assert!(
            versions.windows(2).all(|w| w[0] + 1 == w[1]),
            "{uid}: {versions:?}"
        );
    }

    // [since, until): the message at `since` is in, the one at `until` is out.
    for (since, until) in [
        ("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"),
        ("2026-03-01T06:00:00Z", "2026-03-03T00:00:00Z"),
        ("2026-03-02T00:00:00Z", "2026-03-02T23:59:59.999999Z"),
        ("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
    ] {
        let filter = EventFilter {
            since: Some(at(since)),
            until: Some(at(until)),
            ..EventFilter::default()
        };
        let expected: BTreeSet<_> = MESSAGES
            .iter()
            .filter(|(_, _, t)| at(since) <= at(t) && at(t) < at(until))
            .map(|(uid, _, t)| ((*uid).to_owned(), at(t)))
            .collect();
        assert_eq!(
            keys(&export(&app, &filter).await),
            expected,
            "[{since}, {until})"
        );
        // The progress bar's total counts the same rows.
        let mut conn = app.pool.acquire().await.unwrap();
        let counted = events::count_matching(&mut conn, &filter).await.unwrap();
        assert_eq!(counted as usize, expected.len());
    }
}

#[tokio::test]
async fn business_type_and_conversation_filters_are_exact() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let all = export(&app, &EventFilter::default()).await;
    let matching = |f: &dyn Fn(&Value) -> bool| -> BTreeSet<_> {
        keys(&all.iter().filter(|l| f(l)).cloned().collect::<Vec<_>>())
    };
    let other = EventFilter {
        business_uid: Some(OTHER_BUSINESS.into()),
        ..EventFilter::default()
    };
    let got = keys(&export(&app, &other).await);
    assert_eq!(got, matching(&|l| l["businessuid"] == OTHER_BUSINESS));
    assert!(!got.is_empty());

    let types = EventFilter {
        event_types: vec!["Archived".into(), "ConversationStarted".into()],
        ..EventFilter::default()
    };
    let lines = export(&app, &types).await;
    let kinds: BTreeSet<&str> = lines
        .iter()
        .map(|l| l["data"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["Archived", "ConversationStarted"]));
    assert_eq!(lines.len(), 4, "three starts and one archive");

    let one = EventFilter {
        conversation_uid: Some("exportconv000002".into()),
        business_uid: Some(BUSINESS.into()),
        event_types: vec!["MessageRecorded".into()],
        since: Some(at("2026-03-02T12:00:00Z")),
        // Before the start's own message (`TestApp::start`: 2026-05-04).
        until: Some(at("2026-04-01T00:00:00Z")),
    };
    let got = keys(&export(&app, &one).await);
    assert_eq!(
        got,
        BTreeSet::from([("exportconv000002".to_owned(), at("2026-03-03T00:00:00Z"))])
    );
}

#[tokio::test]
async fn the_command_writes_ndjson_and_refuses_bad_arguments() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let dir = std::env::temp_dir().join(format!("convo-export-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("out.ndjson");
    let path = file.to_str().unwrap();
    let db = app.database_url();
    let (code, out, err) = convo(
        &db,
        &["export", "--business", OTHER_BUSINESS, "--output", path],
    );
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    let written = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        keys(&lines),
        keys(
            &export(
                &app,
                &EventFilter {
                    business_uid: Some(OTHER_BUSINESS.into()),
                    ..EventFilter::default()
                }
            )
            .await
        )
    );
    assert!(
        err.contains(&format!("exported {} events", lines.len())),
        "{err}"
    );
    std::fs::remove_file(&file).unwrap();

    for (args, expected) in [
        (
            vec!["--since", "2026-03-02", "--until", "2026-03-01"],
            "must be before --until",
        ),
        (
            vec!["--since", "2026-03-01", "--until", "2026-03-01"],
            "must be before --until",
        ),
        (vec!["--since", "early march"], "not a time"),
        (vec!["--type", "FollowupSet"], "unknown event type"),
        (vec!["--conversation", "no spaces"], "a uid is"),
        (vec!["--business", ""], "a uid is"),
    ] {
        let mut full = vec!["export", "--output", path];
        full.extend(&args);
        let (code, out, err) = convo(&db, &full);
        assert!(code != 0 && out.is_empty(), "{args:?}: {code} {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!file.exists(), "{args:?} wrote a file");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
