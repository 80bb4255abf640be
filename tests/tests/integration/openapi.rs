//! `/openapi.json`: generated from the code, it agrees with vcita's swagger
//! (`schemas/vcita/vcita-conversations-v2.swagger.json`) for `PUT /v2/conversations/{id}`, and
//! what the API really answers matches it.
//!
//! "Agree" means, for the request body, the 200 response and every error response vcita documents
//! (401, 403, 404, 422; our 400, 409, 413 and 503 are compared with vcita's `ErrorResponse` too),
//! after resolving `$ref`s on both sides, at every level where vcita lists `properties`:
//! - the same property names, no more and no fewer;
//! - the same JSON type, `null` aside: Swagger 2.0 cannot say "nullable", so ours may add `null`
//!   (which fields are `null` when is pinned by the rendering tests);
//! - the same `format` and `enum` where vcita gives one;
//! - required fields: a response requires at least what vcita requires (we always send what vcita
//!   promises); the request body requires at most what vcita requires (we accept every body vcita
//!   accepts).
//!
//! Where vcita gives a bare `object` (the conversation's `client`, `matter`, `source_data`,
//! `last_message.extra_data`), ours may list properties or none. Not compared: descriptions,
//! examples, parameters, headers, security and content types.

use std::collections::BTreeSet;

use convo_tests::{BUSINESS, STAFF, TestApp, send, token, vcita_swagger};
use serde_json::{Value, json};

const UID: &str = "conv0000openapi1";

async fn document(app: &TestApp) -> Value {
    let (status, doc) = send(app.client.get(format!("{}/openapi.json", app.base))).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(
        doc["openapi"].as_str().map(|v| &v[..2]),
        Some("3."),
        "{doc}"
    );
    doc
}

/// Follows `$ref`s (`#/...` pointers into `doc`) and unwraps `oneOf`/`anyOf` with a `null` branch.
fn resolve<'a>(doc: &'a Value, mut node: &'a Value) -> &'a Value {
    loop {
        if let Some(pointer) = node["$ref"].as_str() {
            node = doc
                .pointer(pointer.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{pointer} does not resolve"));
            continue;
        }
        let branches = node["oneOf"].as_array().or(node["anyOf"].as_array());
        if let Some(branches) = branches {
            let other: Vec<&Value> = branches.iter().filter(|b| b["type"] != "null").collect();
            assert_eq!(other.len(), 1, "more than one non-null branch: {node}");
            node = other[0];
            continue;
        }
        return node;
    }
}

/// A node's JSON types without `null`.
fn types(node: &Value) -> BTreeSet<String> {
    match &node["type"] {
        Value::String(t) => [t.clone()].into(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => BTreeSet::new(),
    }
    .into_iter()
    .filter(|t| t != "null")
    .collect()
}

fn names(node: &Value, key: &str) -> BTreeSet<String> {
    match &node[key] {
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => BTreeSet::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

/// Every disagreement between `ours` (in `our_doc`) and `theirs` (in `their_doc`), as
/// `"<path>: <what>"`.
fn disagreements(
    (our_doc, ours): (&Value, &Value),
    (their_doc, theirs): (&Value, &Value),
    direction: Direction,
    at: &str,
) -> Vec<String> {
    let (ours, theirs) = (resolve(our_doc, ours), resolve(their_doc, theirs));
    let mut found = Vec::new();
    let mut differ = |what: &str, our: &dyn std::fmt::Debug, their: &dyn std::fmt::Debug| {
        found.push(format!("{at}: {what}: ours {our:?}, vcita's {their:?}"));
    };
    if types(ours) != types(theirs) {
        differ("type", &types(ours), &types(theirs));
    }
    for key in ["format", "enum"] {
        if !theirs[key].is_null() && ours[key] != theirs[key] {
            differ(key, &ours[key], &theirs[key]);
        }
    }
    let (our_required, their_required) = (names(ours, "required"), names(theirs, "required"));
    let required_ok = match direction {
        Direction::Response => their_required.is_subset(&our_required),
        Direction::Request => our_required.is_subset(&their_required),
    };
    if !required_ok {
        differ("required", &our_required, &their_required);
    }
    if theirs["properties"].is_object() {
        let (our_names, their_names) = (names(ours, "properties"), names(theirs, "properties"));
        if our_names != their_names {
            differ("properties", &our_names, &their_names);
        }
        for name in our_names.intersection(&their_names) {
            found.extend(disagreements(
                (our_doc, &ours["properties"][name]),
                (their_doc, &theirs["properties"][name]),
                direction,
                &format!("{at}/{name}"),
            ));
        }
    }
    if theirs["items"].is_object() {
        found.extend(disagreements(
            (our_doc, &ours["items"]),
            (their_doc, &theirs["items"]),
            direction,
            &format!("{at}[]"),
        ));
    }
    found
}

/// Our `PUT /v2/conversations/{id}` operation.
fn our_put(doc: &Value) -> &Value {
    &doc["paths"]["/v2/conversations/{id}"]["put"]
}

/// vcita's `PUT /conversations/{id}` (its `basePath` is `/v2`).
fn their_put(swagger: &Value) -> &Value {
    &swagger["paths"]["/conversations/{id}"]["put"]
}

fn their_body(swagger: &Value) -> &Value {
    their_put(swagger)["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["in"] == "body"))
        .map(|p| &p["schema"])
        .expect("vcita's PUT has a body parameter")
}

/// Every disagreement of our PUT with vcita's: request body, then each response vcita documents,
/// then our error responses vcita does not document, against its `ErrorResponse`.
fn put_disagreements(doc: &Value, swagger: &Value) -> Vec<String> {
    let ours = our_put(doc);
    let json_schema = |op: &Value, status: &str| {
        op["responses"][status]["content"]["application/json"]["schema"].clone()
    };
    let mut found = disagreements(
        (
            doc,
            &ours["requestBody"]["content"]["application/json"]["schema"],
        ),
        (swagger, their_body(swagger)),
        Direction::Request,
        "request",
    );
    let theirs = their_put(swagger)["responses"]
        .as_object()
        .expect("responses");
    for (status, response) in theirs {
        let schema = json_schema(ours, status);
        if schema.is_null() {
            found.push(format!("{status}: not documented by us"));
            continue;
        }
        found.extend(disagreements(
            (doc, &schema),
            (swagger, &response["schema"]),
            Direction::Response,
            status,
        ));
    }
    let error_response = json!({"$ref": "#/definitions/ErrorResponse"});
    for status in ["400", "409", "413", "503"] {
        found.extend(disagreements(
            (doc, &json_schema(ours, status)),
            (swagger, &error_response),
            Direction::Response,
            status,
        ));
    }
    found
}

#[tokio::test]
async fn put_request_response_and_errors_agree_with_vcitas_swagger() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let swagger = vcita_swagger();
    let page = app
        .client
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("a page");
    assert!(page.contains(r#"spec-url="/openapi.json""#), "{page}");

    let found = put_disagreements(&doc, &swagger);
    assert!(found.is_empty(), "disagreements:\n  {}", found.join("\n  "));

    // PATCH is the same operation; GET answers the same conversation.
    let paths = &doc["paths"]["/v2/conversations/{id}"];
    assert_eq!(paths["patch"], paths["put"]);
    let schema_200 = |op: &Value| op["responses"]["200"]["content"].clone();
    assert_eq!(schema_200(&paths["get"]), schema_200(&paths["put"]));
    for path in ["/platform/v1/conversations", "/health"] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} is documented"
        );
    }

    // The comparison notices a difference: a property renamed, a type changed, one required.
    let mut changed = doc.clone();
    let schemas = &mut changed["components"]["schemas"];
    let conversation = resolve(
        &doc,
        &our_put(&doc)["responses"]["200"]["content"]["application/json"]["schema"],
    );
    let name = schemas
        .as_object()
        .and_then(|all| all.iter().find(|(_, s)| *s == conversation))
        .map(|(name, _)| name.clone())
        .expect("the conversation schema is a component");
    let properties = &mut schemas[&name]["properties"];
    let spam = properties["spam"].take();
    properties.as_object_mut().unwrap().remove("spam");
    properties["spamm"] = spam;
    properties["message_count"] = json!({"type": "string"});
    let found = put_disagreements(&changed, &swagger);
    assert!(found.iter().any(|f| f.contains("spamm")), "{found:?}");
    assert!(
        found
            .iter()
            .any(|f| f.starts_with("200/message_count: type")),
        "{found:?}"
    );
}

/// What the API answers matches its own document: a deep 200 and a 422, validated with the
/// document's schemas (OpenAPI 3.1 schemas are JSON Schema 2020-12).
#[tokio::test]
async fn answers_match_the_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    app.start(UID).await;
    let validate = |status: &str, body: &Value| {
        let mut schema =
            our_put(&doc)["responses"][status]["content"]["application/json"]["schema"].clone();
        schema["components"] = doc["components"].clone();
        let validator = jsonschema::draft202012::new(&schema).expect("a valid schema");
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{status}: {errors:?}\n{body:#}");
    };
    let (status, body) = send(
        app.client
            .put(format!("{}?full_client=1", app.url(UID)))
            .bearer_auth(token(STAFF, BUSINESS, "all"))
            .json(&json!({"follow_up": true, "follow_up_message": "call back", "archived": "0"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["depth"], "deep");
    validate("200", &body);
    let (status, body) = app.put(UID, json!({"spam": "maybe", "campaign": 3})).await;
    assert_eq!(status, 422, "{body}");
    validate("422", &body);
}
