//! Spec §2 through HTTP: 401 for every bad token, 403 for a token without the scope, 404 for
//! another business, asymmetric keys, development tokens beside public keys, and the expected
//! audience.

use std::sync::Arc;

use convo_api::auth::{AuthConfig, Verifier};
use convo_tests::{BUSINESS, OTHER_BUSINESS, SECRET, STAFF, TestApp, assert_error, send, token};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

const UID: &str = "conv000000auth01";

async fn put_with(app: &TestApp, authorization: Option<String>) -> (u16, serde_json::Value) {
    let mut request = app
        .client
        .put(app.url(UID))
        .json(&json!({"archived": true}));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    send(request).await
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../crates/convo-api/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn claims(exp_offset: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": format!("{STAFF}:staff"), "belongs": format!("{BUSINESS}:business;dir1:directory"),
           "scp": "all", "iat": now, "exp": now + exp_offset})
}

#[tokio::test]
async fn bad_tokens_get_401_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    let expired = encode(
        &Header::new(Algorithm::HS256),
        &claims(-120),
        &EncodingKey::from_secret(convo_tests::SECRET.as_bytes()),
    )
    .unwrap();
    let wrong_secret = encode(
        &Header::new(Algorithm::HS256),
        &claims(3600),
        &EncodingKey::from_secret(b"not-the-secret-not-the-secret-xx"),
    )
    .unwrap();
    let unsigned = {
        let good = token(STAFF, BUSINESS, "all");
        let payload = good.split('.').nth(1).unwrap().to_owned();
        // {"alg":"none","typ":"JWT"}
        format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
    };
    let client_token = encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": "client1:client", "belongs": format!("{BUSINESS}:business"), "scp": "all",
                "exp": chrono::Utc::now().timestamp() + 3600}),
        &EncodingKey::from_secret(convo_tests::SECRET.as_bytes()),
    )
    .unwrap();
    for authorization in [
        None,
        Some(String::new()),
        Some("Bearer".to_owned()),
        Some("Bearer garbage".to_owned()),
        Some(format!("Basic {}", token(STAFF, BUSINESS, "all"))),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {wrong_secret}")),
        Some(format!("Bearer {unsigned}")),
        Some(format!("Bearer {client_token}")),
    ] {
        let (status, body) = put_with(&app, authorization.clone()).await;
        assert_eq!(status, 401, "{authorization:?}");
        assert_eq!(
            body,
            json!({"success": false, "errors": [{"code": "unauthorized", "message": "401 Unauthorized"}]})
        );
    }
    assert_eq!(app.stored_rows().await, before);
}

#[tokio::test]
async fn a_token_without_the_conversations_scope_gets_403() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    for scope in ["contacts", "payments read", ""] {
        let (status, body) = put_with(
            &app,
            Some(format!("Bearer {}", token(STAFF, BUSINESS, scope))),
        )
        .await;
        assert_eq!(status, 403, "{scope}");
        assert_eq!(
            body,
            json!({"success": false, "errors": [{"code": "forbidden", "message": "You are not authorized to perform this action."}]})
        );
    }
    for scope in ["all", "conversations", "contacts conversations"] {
        let (status, _) = put_with(
            &app,
            Some(format!("Bearer {}", token(STAFF, BUSINESS, scope))),
        )
        .await;
        assert_eq!(status, 200, "{scope}");
    }
    assert_eq!(
        app.stored_rows().await,
        before + 1,
        "one Archived event; the snapshot row is updated in place"
    );
}

#[tokio::test]
async fn another_business_gets_404_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    let (status, body) = put_with(
        &app,
        Some(format!("Bearer {}", token(STAFF, OTHER_BUSINESS, "all"))),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"success": false, "errors": [{"code": "invalid", "field": "id", "message": "Invalid conversation_uid"}]})
    );
    let (status, _) = send(app.client.get(app.url(UID)).bearer_auth(token(
        STAFF,
        OTHER_BUSINESS,
        "all",
    )))
    .await;
    assert_eq!(status, 404);
    assert_eq!(app.stored_rows().await, before);
}

#[tokio::test]
async fn rs256_and_es256_tokens_from_configured_keys_work() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let rsa = EncodingKey::from_rsa_pem(&fixture("test-rsa-private.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(&fixture("test-ec-p256-private.pem")).unwrap();
    let mut rs512 = Header::new(Algorithm::RS512);
    rs512.kid = Some("test-rsa-1".into());
    let mut es256 = Header::new(Algorithm::ES256);
    es256.kid = Some("test-ec-1".into());
    for token in [
        encode(&Header::new(Algorithm::RS256), &claims(600), &rsa).unwrap(),
        encode(&rs512, &claims(600), &rsa).unwrap(),
        encode(&es256, &claims(600), &ec).unwrap(),
    ] {
        let (status, body) = put_with(&app, Some(format!("Bearer {token}"))).await;
        assert_eq!(status, 200, "{body}");
    }
    // The public key used as an HMAC secret (algorithm confusion) is refused.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(600),
        &EncodingKey::from_secret(&fixture("test-rsa-public.pem")),
    )
    .unwrap();
    let (status, body) = put_with(&app, Some(format!("Bearer {confused}"))).await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
}

#[tokio::test]
async fn the_app_claim_form_is_accepted() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let token = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub_type": "staff", "sub": STAFF, "business_uid": BUSINESS, "scp": "all",
                "exp": chrono::Utc::now().timestamp() + 600}),
        &EncodingKey::from_secret(convo_tests::SECRET.as_bytes()),
    )
    .unwrap();
    let (status, body) = put_with(&app, Some(format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
}

/// The 401 body (spec §2).
fn unauthorized() -> serde_json::Value {
    json!({"success": false, "errors": [{"code": "unauthorized", "message": "401 Unauthorized"}]})
}

fn fixture_path(name: &str) -> std::path::PathBuf {
    format!(
        "{}/../crates/convo-api/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
    .into()
}

/// Another API instance on `app`'s database, verifying tokens as `config` says; its base URL.
async fn spawn_with(app: &TestApp, config: AuthConfig) -> String {
    let state = convo_api::AppState {
        handler: app.handler(),
        verifier: Arc::new(Verifier::new(&config).expect("test keys load")),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(convo_api::serve(
        listener,
        convo_api::router(state),
        convo_api::ServerLimits::default(),
        std::future::pending(),
    ));
    base
}

async fn put_at(app: &TestApp, base: &str, token: &str) -> (u16, serde_json::Value) {
    send(
        app.client
            .put(format!("{base}/v2/conversations/{UID}"))
            .bearer_auth(token)
            .json(&json!({"archived": true})),
    )
    .await
}

#[tokio::test]
async fn development_tokens_get_401_once_public_keys_are_configured() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    let keys = AuthConfig {
        hs_secret: Some(SECRET.to_owned()),
        public_key_pem_files: vec![fixture_path("test-rsa-public.pem")],
        jwks_file: Some(fixture_path("test-jwks.json")),
        ..AuthConfig::default()
    };
    let hs256 = token(STAFF, BUSINESS, "all");
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims(600),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let rs256 = encode(
        &Header::new(Algorithm::RS256),
        &claims(600),
        &EncodingKey::from_rsa_pem(&fixture("test-rsa-private.pem")).unwrap(),
    )
    .unwrap();

    // Secret and public keys, no flag: the secret is ignored.
    let production = spawn_with(&app, keys.clone()).await;
    for dev_token in [&hs256, &hs512] {
        assert_eq!(
            put_at(&app, &production, dev_token).await,
            (401, unauthorized())
        );
        let (status, body) = send(
            app.client
                .get(format!("{production}/v2/conversations/{UID}"))
                .bearer_auth(dev_token),
        )
        .await;
        assert_eq!((status, body), (401, unauthorized()));
    }
    assert_eq!(app.stored_rows().await, before);
    let (status, body) = put_at(&app, &production, &rs256).await;
    assert_eq!(status, 200, "{body}");

    // The development flag accepts them again; a secret alone needs no flag.
    let allowed = spawn_with(
        &app,
        AuthConfig {
            allow_development_tokens: true,
            ..keys
        },
    )
    .await;
    let secret_only = spawn_with(
        &app,
        AuthConfig {
            hs_secret: Some(SECRET.to_owned()),
            ..AuthConfig::default()
        },
    )
    .await;
    for base in [&allowed, &secret_only] {
        for dev_token in [&hs256, &hs512] {
            let (status, body) = put_at(&app, base, dev_token).await;
            assert_eq!(status, 200, "{base}: {body}");
        }
    }
}

#[tokio::test]
async fn an_expected_audience_is_checked() {
    let app = TestApp::spawn().await;
    app.start(UID).await;
    let before = app.stored_rows().await;
    let base = spawn_with(
        &app,
        AuthConfig {
            hs_secret: Some(SECRET.to_owned()),
            audience: Some("convo-api".to_owned()),
            ..AuthConfig::default()
        },
    )
    .await;
    let with_aud = |aud: Option<serde_json::Value>| {
        let mut claims = claims(600);
        if let Some(aud) = aud {
            claims["aud"] = aud;
        }
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    for aud in [
        None,
        Some(json!("payments")),
        Some(json!(["payments", "convo"])),
        Some(json!(42)),
    ] {
        assert_eq!(
            put_at(&app, &base, &with_aud(aud.clone())).await,
            (401, unauthorized()),
            "{aud:?}"
        );
    }
    // The development token has no `aud`.
    assert_eq!(
        put_at(&app, &base, &token(STAFF, BUSINESS, "all")).await,
        (401, unauthorized())
    );
    assert_eq!(app.stored_rows().await, before);
    for aud in [json!("convo-api"), json!(["payments", "convo-api"])] {
        let (status, body) = put_at(&app, &base, &with_aud(Some(aud.clone()))).await;
        assert_eq!(status, 200, "{aud}: {body}");
    }
    // Without an expected audience, `aud` is not read.
    let (status, body) = put_at(&app, &app.base, &with_aud(Some(json!("payments")))).await;
    assert_eq!(status, 200, "{body}");
}
