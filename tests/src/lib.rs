//! Helpers for the integration tests: a fresh PostgreSQL database per test, the real HTTP app
//! on an ephemeral port, tokens, and vcita's schemas.
//!
//! The tests need `DATABASE_URL` pointing at a PostgreSQL server they may create databases on;
//! `scripts/test.sh` starts one and sets it.

pub mod schemas;

pub mod chaos;
pub mod kafka;
pub mod metrics;

pub mod outage;

use std::str::FromStr;
use std::sync::Arc;

use convo_api::auth::{AuthConfig, Verifier, sign_dev_token};
use convo_domain::wire::parse_command;
use convo_store::CommandHandler;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const BUSINESS: &str = "testbusiness0001";
pub const OTHER_BUSINESS: &str = "testbusiness0002";
pub const STAFF: &str = "teststaff0000001";
pub const OTHER_STAFF: &str = "teststaff0000002";

/// A database of its own, migrated, for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub name: String,
    pub options: PgConnectOptions,
}

impl TestDb {
    pub async fn new() -> Self {
        let url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL must point at a PostgreSQL server (scripts/test.sh sets it)");
        let admin = PgConnectOptions::from_str(&url).expect("DATABASE_URL parses");
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::ConnectOptions::connect(&admin)
            .await
            .expect("connect to the test server");
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create the test database");
        let db = Self {
            options: admin.database(&name),
            name,
        };
        convo_store::MIGRATOR
            .run(&db.pool(2).await)
            .await
            .expect("migrate");
        db
    }

    pub async fn pool(&self, size: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(size)
            .connect_with(self.options.clone())
            .await
            .expect("connect to the test database")
    }
}

/// The HTTP API served on 127.0.0.1 on an ephemeral port, over its own pool.
#[derive(Debug, Clone)]
pub struct TestApp {
    pub base: String,
    pub db: TestDb,
    pub pool: PgPool,
    pub client: reqwest::Client,
}

pub fn verifier() -> Verifier {
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/convo-api/tests/fixtures"
    );
    Verifier::new(&AuthConfig {
        hs_secret: Some(SECRET.to_owned()),
        public_key_pem_files: vec![format!("{fixtures}/test-rsa-public.pem").into()],
        jwks_file: Some(format!("{fixtures}/test-jwks.json").into()),
        allow_development_tokens: true,
        audience: None,
    })
    .expect("test keys load")
}

impl TestApp {
    /// A fresh database and one app instance on it.
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDb::new().await, 8).await
    }

    /// A fresh database and one app instance on it, with the server limits given.
    pub async fn spawn_limited(limits: convo_api::ServerLimits) -> Self {
        let db = TestDb::new().await;
        let pool = db.pool(8).await;
        Self::serve(db, pool, limits).await
    }

    /// Another app instance (its own pool) on an existing database.
    pub async fn spawn_on(db: TestDb, pool_size: u32) -> Self {
        let pool = db.pool(pool_size).await;
        Self::spawn_with(db, pool).await
    }

    /// An app instance on `pool` (which may reach `db` another way, or not at all).
    pub async fn spawn_with(db: TestDb, pool: PgPool) -> Self {
        Self::serve(db, pool, convo_api::ServerLimits::default()).await
    }

    async fn serve(db: TestDb, pool: PgPool, limits: convo_api::ServerLimits) -> Self {
        let state = convo_api::AppState {
            handler: CommandHandler::new(pool.clone()),
            verifier: Arc::new(verifier()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(convo_api::serve(
            listener,
            convo_api::router(state),
            limits,
            std::future::pending(),
        ));
        Self {
            base,
            db,
            pool,
            client: reqwest::Client::new(),
        }
    }

    /// A connection string for the test's database (for roles that open their own connections).
    pub fn database_url(&self) -> String {
        let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
        let (server, _) = base.rsplit_once('/').expect("DATABASE_URL has a database");
        format!("{server}/{}", self.db.name)
    }

    pub fn handler(&self) -> CommandHandler {
        CommandHandler::new(self.pool.clone())
    }

    /// Runs one upstream JSON command (as `convo command` and Kafka do) and returns its outcome,
    /// as the JSON record the outcomes topic carries.
    pub async fn command(&self, command: Value) -> Value {
        let wire = parse_command(command.to_string().as_bytes()).expect("a well-formed command");
        let outcome = convo_store::upstream::execute(
            &self.handler(),
            &wire,
            &convo_trace::TraceContext::root(),
        )
        .await
        .expect("the store answers");
        serde_json::to_value(outcome).expect("an outcome serializes")
    }

    /// Starts conversation `uid` in `BUSINESS`, owned by `STAFF`, with one incoming message.
    pub async fn start(&self, uid: &str) {
        self.start_in(uid, BUSINESS).await;
    }

    pub async fn start_in(&self, uid: &str, business: &str) {
        let started = self
            .command(json!({
                "type": "StartConversation", "command_id": format!("start-{uid}"),
                "conversation_uid": uid, "business_uid": business, "title": "Jane Smith",
                "client": {"uid": format!("client-{uid}"), "first_name": "Jane", "last_name": "Smith",
                           "email": "jane@example.com", "full": {"address": "1 Main St"}},
                "staff": {"uid": STAFF, "display_name": "Ram Almog"},
                "source": {"source_type": "contact_form", "source": "https://example.com/contact",
                           "source_data": {"form": "contact"}}
            }))
            .await;
        assert_eq!(started["status"], "accepted", "{started}");
        let message = self
            .command(json!({
                "type": "RecordMessage", "command_id": format!("msg-{uid}"),
                "conversation_uid": uid, "business_uid": business, "message_id": "m1",
                "direction": "incoming", "title": "Initial consultation", "text": "Hello",
                "at": "2026-05-04T16:12:00Z"
            }))
            .await;
        assert_eq!(message["status"], "accepted", "{message}");
    }

    pub fn url(&self, uid: &str) -> String {
        format!("{}/v2/conversations/{uid}", self.base)
    }

    /// PUT `body` as `STAFF` of `BUSINESS`; returns status and JSON body.
    pub async fn put(&self, uid: &str, body: Value) -> (u16, Value) {
        let request = self
            .client
            .put(self.url(uid))
            .bearer_auth(token(STAFF, BUSINESS, "all"))
            .json(&body);
        send(request).await
    }

    /// PUT that must succeed.
    pub async fn put_ok(&self, uid: &str, body: Value) -> Value {
        let (status, response) = self.put(uid, body.clone()).await;
        assert_eq!(status, 200, "PUT {body} -> {response}");
        response
    }

    pub async fn get(&self, uid: &str) -> (u16, Value) {
        send(
            self.client
                .get(self.url(uid))
                .bearer_auth(token(STAFF, BUSINESS, "all")),
        )
        .await
    }

    /// `GET /platform/v1/conversations?{query}` as `staff` of `business`: status and body.
    pub async fn list(&self, staff: &str, business: &str, query: &str) -> (u16, Value) {
        send(
            self.client
                .get(format!("{}/platform/v1/conversations?{query}", self.base))
                .bearer_auth(token(staff, business, "all")),
        )
        .await
    }

    /// The ids `STAFF` of `BUSINESS` gets from the list API for `query`, in order.
    pub async fn list_ids(&self, query: &str) -> Vec<String> {
        let (status, body) = self.list(STAFF, BUSINESS, query).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "OK");
        body["data"]["conversations"]
            .as_array()
            .expect("a list of conversations")
            .iter()
            .map(|c| c["id"].as_str().expect("an id").to_owned())
            .collect()
    }

    /// Every stored event of `uid`: (version, type), in version order.
    pub async fn events(&self, uid: &str) -> Vec<(i64, String)> {
        sqlx::query_as(
            "SELECT version, event_type FROM events WHERE conversation_uid = $1 ORDER BY version",
        )
        .bind(uid)
        .fetch_all(&self.pool)
        .await
        .expect("read events")
    }

    /// The types of `uid`'s events after version `after`.
    pub async fn event_types_after(&self, uid: &str, after: i64) -> Vec<String> {
        self.events(uid)
            .await
            .into_iter()
            .filter(|(v, _)| *v > after)
            .map(|(_, t)| t)
            .collect()
    }

    /// The conversation as its stored events fold, from the first (no snapshot involved).
    pub async fn folded(&self, uid: &str) -> convo_domain::Conversation {
        let mut conn = self.pool.acquire().await.expect("connect");
        let events: Vec<convo_domain::Event> = convo_store::events::stream(&mut conn, uid, 0, None)
            .await
            .expect("read the events")
            .iter()
            .map(|stored| stored.event().expect("an event this build reads"))
            .collect();
        convo_domain::Conversation::fold(uid, &events)
    }

    pub async fn version(&self, uid: &str) -> i64 {
        self.events(uid).await.last().map_or(0, |(v, _)| *v)
    }

    /// How many rows the write side holds, to show a refused request stored nothing.
    pub async fn stored_rows(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM command_outcomes)
                  + (SELECT count(*) FROM snapshots) + (SELECT count(*) FROM merge_routes)",
        )
        .fetch_one(&self.pool)
        .await
        .expect("count rows")
    }
}

/// A row of the spec's tables through HTTP: given conversation `uid` (started, one incoming
/// message) after the `given` PUTs, when `when` is PUT, then exactly `events` are stored and the
/// response is a valid vcita `Conversation` of `uid`. Returns the app and the response.
pub async fn spec_row(
    uid: &str,
    given: &[Value],
    when: Value,
    events: &[&str],
) -> (TestApp, Value) {
    let app = TestApp::spawn().await;
    app.start(uid).await;
    for body in given {
        app.put_ok(uid, body.clone()).await;
    }
    let before = app.version(uid).await;
    let response = app.put_ok(uid, when).await;
    assert_eq!(app.event_types_after(uid, before).await, events);
    assert_conversation(&response);
    assert_eq!(response["uid"], uid);
    (app, response)
}

/// Sends a request; returns status and the JSON body (`Null` when the body is not JSON).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A staff token in vcita's claim form, signed with the test secret, valid for an hour.
pub fn token(staff: &str, business: &str, scope: &str) -> String {
    sign_dev_token(
        SECRET,
        staff,
        business,
        scope,
        chrono::Duration::hours(1),
        chrono::Utc::now(),
    )
}

/// vcita's published swagger for `/v2/conversations/{id}` (`schemas/vcita/`), as JSON.
pub fn vcita_swagger() -> Value {
    serde_json::from_str(include_str!(
        "../../schemas/vcita/vcita-conversations-v2.swagger.json"
    ))
    .expect("swagger parses")
}

/// vcita's published swagger, turned into a JSON Schema for `definition`, made strict: every
/// documented property of the shallow form is required and no undocumented one is allowed.
/// Swagger 2.0 has no `nullable`; the properties vcita documents as "may be null" (or shows as
/// null in its own example) accept null.
pub fn vcita_schema(definition: &str) -> jsonschema::Validator {
    let mut definitions = vcita_swagger()["definitions"].clone();
    let conversation = &mut definitions["Conversation"];
    let properties = conversation["properties"]
        .as_object_mut()
        .expect("Conversation has properties");
    for nullable in [
        "follow_up_date",
        "last_user_action_at",
        "last_client_action_at",
        "last_message",
        "matter",
    ] {
        let original = properties[nullable].clone();
        properties[nullable] = json!({"anyOf": [original, {"type": "null"}]});
    }
    let deep_only = [
        "require_attention",
        "source",
        "source_data",
        "source_type",
        "source_type_h",
        "sourceable_type",
        "sourceable_id",
    ];
    let required: Vec<&String> = properties
        .keys()
        .filter(|k| !deep_only.contains(&k.as_str()))
        .collect();
    let required = json!(required);
    conversation["required"] = required;
    conversation["additionalProperties"] = json!(false);
    let schema = json!({"$ref": format!("#/definitions/{definition}"), "definitions": definitions});
    jsonschema::draft7::new(&schema).expect("a valid schema")
}

/// Asserts `value` is a valid vcita `Conversation`.
pub fn assert_conversation(value: &Value) {
    let validator = vcita_schema("Conversation");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "not a vcita Conversation: {errors:?}\n{value:#}"
    );
}

/// Asserts `value` is vcita's `ErrorResponse` with exactly one error of `code`.
pub fn assert_error(value: &Value, code: &str) {
    let validator = vcita_schema("ErrorResponse");
    assert!(
        validator.is_valid(value),
        "not a vcita ErrorResponse: {value}"
    );
    assert_eq!(value["success"], false, "{value}");
    assert_eq!(value["errors"][0]["code"], code, "{value}");
}
