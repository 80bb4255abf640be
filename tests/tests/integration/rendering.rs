//! Spec §1 and §8: `full_client`, the deep form, read-your-writes, and vcita's schema.

use convo_tests::{BUSINESS, STAFF, TestApp, assert_conversation, send, token};
use serde_json::json;

const UID: &str = "conv00000render1";

async fn get_with(app: &TestApp, query: &str) -> serde_json::Value {
    let (status, body) = send(
        app.client
            .get(format!("{}{query}", app.url(UID)))
            .bearer_auth(token(STAFF, BUSINESS, "all")),
    )
    .await;
    assert_eq!(status, 200);
    assert_conversation(&body);
    body
}

#[tokio::test]
async fn full_client_switches_to_the_deep_form() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    for query in [
        "?full_client=1",
        "?full_client=true",
        "?full_client=yes",
        "?full_client=on",
    ] {
        let deep = get_with(&app, query).await;
        assert_eq!(deep["depth"], "deep", "{query}");
        assert_eq!(deep["client"]["address"], "1 Main St", "{query}");
        assert_eq!(deep["source_type"], "contact_form");
        assert_eq!(deep["source"], "https://example.com/contact");
        assert_eq!(deep["source_data"], json!({"form": "contact"}));
        assert_eq!(deep["require_attention"], true);
    }
    for query in [
        "",
        "?full_client",
        "?full_client=",
        "?full_client=0",
        "?full_client=false",
        "?full_client=OFF",
        "?full_client=no",
        "?full_client=f",
    ] {
        let shallow = get_with(&app, query).await;
        assert_eq!(shallow["depth"], "shallow", "{query}");
        assert!(shallow["client"].get("address").is_none());
        assert!(shallow.get("source_type").is_none());
    }
}

#[tokio::test]
async fn put_with_full_client_answers_deep() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let (status, body) = send(
        app.client
            .put(format!("{}?full_client=true", app.url(UID)))
            .bearer_auth(token(STAFF, BUSINESS, "all"))
            .json(&json!({"archived": true})),
    )
    .await;
    assert_eq!(status, 200);
    assert_conversation(&body);
    assert_eq!(
        (&body["depth"], &body["archived"]),
        (&json!("deep"), &json!(true))
    );
}

#[tokio::test]
async fn the_response_reflects_the_write_and_get_agrees() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let put = app
        .put_ok(
            UID,
            json!({"spam": true, "archived": true, "business_unread": false}),
        )
        .await;
    let get = get_with(&app, "").await;
    assert_eq!(put, get);
    assert_eq!(put["last_client_action_at"], "2026-05-04T16:12:00Z");
    assert_eq!(put["last_message"]["message_of"], "client");
    assert_eq!(
        put["staff"],
        json!({"uid": STAFF, "display_name": "Ram Almog"})
    );
    assert_eq!(put["client"]["uid"], format!("client-{UID}"));
}

#[test]
fn vcitas_own_example_is_valid_and_a_broken_one_is_not() {
    let swagger: serde_json::Value = serde_json::from_str(include_str!(
        "../../../schemas/vcita/vcita-conversations-v2.swagger.json"
    ))
    .unwrap();
    let example = &swagger["paths"]["/conversations/{id}"]["put"]["responses"]["200"]["examples"]["application/json"];
    assert_conversation(example);
    let validator = convo_tests::vcita_schema("Conversation");
    let mut broken = example.clone();
    broken["archived"] = json!("no");
    assert!(!validator.is_valid(&broken));
    broken = example.clone();
    broken.as_object_mut().unwrap().remove("uid");
    assert!(!validator.is_valid(&broken));
}
