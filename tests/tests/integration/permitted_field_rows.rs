//! Spec §6 through HTTP: each permitted field changes state with its event, and an unchanged
//! value is a no-op.

use convo_tests::TestApp;
use serde_json::{Value, json};

const UID: &str = "conv00000fields1";

async fn row(given: &[Value], when: Value, events: &[&str]) -> (TestApp, Value) {
    convo_tests::spec_row(UID, given, when, events).await
}

#[tokio::test]
async fn archived_true_archives() {
    let (_, r) = row(&[], json!({"archived": true}), &["Archived"]).await;
    assert_eq!(r["archived"], true);
}

#[tokio::test]
async fn archived_false_unarchives() {
    let (_, r) = row(
        &[json!({"archived": true})],
        json!({"archived": false}),
        &["Unarchived"],
    )
    .await;
    assert_eq!(r["archived"], false);
}

#[tokio::test]
async fn archived_unchanged_is_a_no_op() {
    row(&[json!({"archived": 1})], json!({"archived": "true"}), &[]).await;
}

#[tokio::test]
async fn business_unread_false_marks_read() {
    // The incoming message of the setup made it unread.
    let (_, r) = row(&[], json!({"business_unread": false}), &["MarkedRead"]).await;
    assert_eq!(r["business_unread"], false);
}

#[tokio::test]
async fn business_unread_true_marks_unread() {
    let (_, r) = row(
        &[json!({"business_unread": false})],
        json!({"business_unread": true}),
        &["MarkedUnread"],
    )
    .await;
    assert_eq!(r["business_unread"], true);
}

#[tokio::test]
async fn business_unread_unchanged_is_a_no_op() {
    row(&[], json!({"business_unread": true}), &[]).await;
}

#[tokio::test]
async fn spam_marks_the_conversation_and_its_client() {
    let (_, r) = row(&[], json!({"spam": true}), &["MarkedSpam"]).await;
    assert_eq!(
        (&r["spam"], &r["client"]["spam"]),
        (&json!(true), &json!(true))
    );
}

#[tokio::test]
async fn spam_false_unmarks() {
    let (_, r) = row(
        &[json!({"spam": true})],
        json!({"spam": false}),
        &["UnmarkedSpam"],
    )
    .await;
    assert_eq!(
        (&r["spam"], &r["client"]["spam"]),
        (&json!(false), &json!(false))
    );
}

#[tokio::test]
async fn spam_unchanged_is_a_no_op() {
    row(&[], json!({"spam": false}), &[]).await;
}

#[tokio::test]
async fn deleted_true_soft_deletes() {
    let (_, r) = row(&[], json!({"deleted": true}), &["SoftDeleted"]).await;
    assert_eq!(r["deleted"], true);
}

#[tokio::test]
async fn a_soft_deleted_conversation_is_restored_and_still_accepts_updates() {
    let (app, r) = row(
        &[json!({"deleted": true}), json!({"archived": true})],
        json!({"deleted": false}),
        &["Restored"],
    )
    .await;
    assert_eq!(
        (&r["deleted"], &r["archived"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(app.get(UID).await.1["deleted"], false);
}

#[tokio::test]
async fn deleted_unchanged_is_a_no_op() {
    row(&[], json!({"deleted": false}), &[]).await;
}

#[tokio::test]
async fn campaign_source_type_and_mobile_change_together() {
    let (app, _) = row(
        &[],
        json!({"campaign": "spring", "source_type": "profile_page", "mobile": true}),
        &["AttributesChanged"],
    )
    .await;
    // source_type is rendered in the deep form only.
    let (status, deep) = convo_tests::send(
        app.client
            .get(format!("{}?full_client=1", app.url(UID)))
            .bearer_auth(convo_tests::token(
                convo_tests::STAFF,
                convo_tests::BUSINESS,
                "all",
            )),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(deep["source_type"], "profile_page");
    assert_eq!(deep["source_type_h"], "Profile page");
}

#[tokio::test]
async fn attributes_unchanged_are_a_no_op() {
    row(
        &[json!({"campaign": "x"})],
        json!({"campaign": "x", "source_type": "contact_form", "mobile": false}),
        &[],
    )
    .await;
}

#[tokio::test]
async fn attribute_change_records_from_and_to() {
    let (app, _) = row(&[], json!({"source_type": null}), &["AttributesChanged"]).await;
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM events WHERE conversation_uid = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(UID)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        payload["changes"],
        json!({"source_type": {"from": "contact_form", "to": null}})
    );
}

#[tokio::test]
async fn patch_behaves_like_put() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let (status, r) = convo_tests::send(
        app.client
            .patch(app.url(UID))
            .bearer_auth(convo_tests::token(
                convo_tests::STAFF,
                convo_tests::BUSINESS,
                "all",
            ))
            .json(&json!({"archived": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(r["archived"], true);
    assert_eq!(app.event_types_after(UID, 2).await, ["Archived"]);
}
