//! Spec §7 (merged conversations route to their target) and §10 (hard delete: 404 after).

use convo_tests::{BUSINESS, OTHER_BUSINESS, TestApp, assert_conversation};
use serde_json::json;

const SOURCE: &str = "conv00000source1";
const TARGET: &str = "conv00000target1";
const THIRD: &str = "conv000000third1";

async fn merge(app: &TestApp, source: &str, target: &str) -> serde_json::Value {
    app.command(json!({
        "type": "MergeConversation", "command_id": format!("merge-{source}-{target}"),
        "conversation_uid": source, "business_uid": BUSINESS, "target_uid": target
    }))
    .await
}

#[tokio::test]
async fn a_merged_uid_routes_to_its_target() {
    let app = TestApp::spawn().await;
    app.start(SOURCE).await;
    app.start(TARGET).await;
    let outcome = merge(&app, SOURCE, TARGET).await;
    assert_eq!(outcome["status"], "accepted", "{outcome}");
    assert_eq!(outcome["conversation_uid"], TARGET);

    let before = app.version(TARGET).await;
    let response = app.put_ok(SOURCE, json!({"archived": true})).await;
    assert_conversation(&response);
    assert_eq!(
        response["uid"], TARGET,
        "the response shows the target's uid"
    );
    assert_eq!(
        response["message_count"], 2,
        "the source's message moved over"
    );
    assert_eq!(app.event_types_after(TARGET, before).await, ["Archived"]);
    assert_eq!(app.event_types_after(SOURCE, 3).await, Vec::<String>::new());
    assert_eq!(app.get(SOURCE).await.1["uid"], TARGET);
}

#[tokio::test]
async fn merge_chains_are_followed() {
    let app = TestApp::spawn().await;
    for uid in [SOURCE, TARGET, THIRD] {
        app.start(uid).await;
    }
    assert_eq!(merge(&app, SOURCE, TARGET).await["status"], "accepted");
    assert_eq!(merge(&app, TARGET, THIRD).await["status"], "accepted");
    assert_eq!(
        app.put_ok(SOURCE, json!({"spam": true})).await["uid"],
        THIRD
    );
    // Merging into an already-merged uid lands at the end of its chain.
    let fourth = "conv00000fourth1";
    app.start(fourth).await;
    let outcome = merge(&app, fourth, SOURCE).await;
    assert_eq!(outcome["conversation_uid"], THIRD, "{outcome}");
}

#[tokio::test]
async fn merges_that_would_form_a_cycle_are_rejected() {
    let app = TestApp::spawn().await;
    app.start(SOURCE).await;
    app.start(TARGET).await;
    assert_eq!(merge(&app, SOURCE, TARGET).await["status"], "accepted");
    let before = app.stored_rows().await;
    let cycle = merge(&app, TARGET, SOURCE).await;
    assert_eq!(cycle["status"], "rejected");
    assert_eq!(cycle["http_status"], 409);
    let itself = merge(&app, THIRD, THIRD).await;
    assert_eq!(itself["http_status"], 404, "an unknown conversation");
    app.start(THIRD).await;
    let itself = app
        .command(
            json!({"type": "MergeConversation", "command_id": "self-merge",
            "conversation_uid": THIRD, "business_uid": BUSINESS, "target_uid": THIRD}),
        )
        .await;
    assert_eq!(itself["http_status"], 409);
    assert!(app.stored_rows().await > before);
}

#[tokio::test]
async fn a_merge_across_businesses_is_not_found() {
    let app = TestApp::spawn().await;
    app.start(SOURCE).await;
    app.start_in(TARGET, OTHER_BUSINESS).await;
    let outcome = merge(&app, SOURCE, TARGET).await;
    assert_eq!(outcome["http_status"], 404, "{outcome}");
    assert_eq!(
        app.put_ok(SOURCE, json!({"archived": true})).await["uid"],
        SOURCE
    );
}

#[tokio::test]
async fn another_business_merging_a_merged_conversation_is_not_found() {
    // Merged in its own business; another business names it as the source of a merge.
    let app = TestApp::spawn().await;
    app.start_in(SOURCE, OTHER_BUSINESS).await;
    app.start_in(TARGET, OTHER_BUSINESS).await;
    let merged = app
        .command(
            json!({"type": "MergeConversation", "command_id": "merge-there",
            "conversation_uid": SOURCE, "business_uid": OTHER_BUSINESS, "target_uid": TARGET}),
        )
        .await;
    assert_eq!(merged["status"], "accepted", "{merged}");
    app.start(THIRD).await;
    let outcome = merge(&app, SOURCE, THIRD).await;
    assert_eq!(
        outcome["http_status"], 404,
        "not 409 'already merged': {outcome}"
    );
}

#[tokio::test]
async fn a_hard_deleted_conversation_is_404() {
    let app = TestApp::spawn().await;
    app.start(SOURCE).await;
    let outcome = app
        .command(json!({"type": "DeleteConversation", "command_id": "del-1",
            "conversation_uid": SOURCE, "business_uid": BUSINESS}))
        .await;
    assert_eq!(outcome["status"], "accepted", "{outcome}");
    let before = app.stored_rows().await;
    let (status, body) = app.put(SOURCE, json!({"archived": true})).await;
    assert_eq!(status, 404);
    convo_tests::assert_error(&body, "invalid");
    assert_eq!(app.get(SOURCE).await.0, 404);
    assert_eq!(app.stored_rows().await, before);
}
