//! The JSON Schemas of `schemas/` (events, envelope, commands, outcomes): they are valid 2020-12
//! schemas, the examples match them, and what the real store writes matches them, for every event
//! type.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::Utc;
use convo_domain::wire::parse_command;
use convo_tests::schemas::{
    COMMAND, COMMAND_TYPES, DRAFT_2020_12, ENVELOPE, EVENT, EVENT_TYPES, EVENT_V1, ID_BASE,
    OUTCOME, SCHEMAS_DIR, assert_valid, assert_valid_command, assert_valid_envelope,
    assert_valid_event, assert_valid_event_of, assert_valid_outcome, build_validator,
    command_schema_id, event_schema_id, json_files, read_json, relative_path, schema_errors,
    schema_files, schemas, undocumented_fields,
};
use convo_tests::{BUSINESS, STAFF, TestApp};
use serde_json::{Value, json};

#[test]
fn every_schema_file_is_a_valid_2020_12_schema_with_a_unique_id() {
    // Everything under schemas/ is JSON, vcita's swagger and the examples included.
    let all = json_files(SCHEMAS_DIR);
    assert!(all.len() > 40, "schemas/ looks empty: {all:?}");
    for path in &all {
        read_json(path);
    }

    let files = schema_files();
    let mut ids = BTreeSet::new();
    for path in &files {
        let schema = read_json(path);
        let name = relative_path(path);
        assert_eq!(schema["$schema"], DRAFT_2020_12, "{name}");
        if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
            panic!(
                "{name} is not a valid 2020-12 schema: {e} at {}",
                e.instance_path
            );
        }
        let id = schema["$id"].as_str().unwrap_or_default();
        assert_eq!(
            id,
            format!("{ID_BASE}{name}"),
            "$id of {name} follows its path"
        );
        assert!(ids.insert(id.to_owned()), "$id {id} is used twice");
        // Every reference resolves (only to registered files: there is no network here).
        build_validator(id).unwrap_or_else(|e| panic!("{name}: {e}"));
        for example in schema["examples"].as_array().into_iter().flatten() {
            assert_valid(id, example);
        }
    }
    assert_eq!(ids.len(), schemas().len());

    // One payload schema per event type, one per command type; the indexes list them all.
    for name in EVENT_TYPES {
        assert!(ids.contains(&event_schema_id(name)), "no schema for {name}");
    }
    for name in COMMAND_TYPES {
        assert!(
            ids.contains(&command_schema_id(name)),
            "no schema for {name}"
        );
    }
    // Version 1's files, and version 2's: its index and FollowUpSet.v2 (schemas/README.md).
    let expected = 2 + EVENT_TYPES.len() + 1 + 2 + COMMAND_TYPES.len() + 1;
    assert_eq!(ids.len(), expected, "unexpected schema files: {ids:#?}");
    for index in [EVENT, EVENT_V1] {
        assert_eq!(
            schemas()[index]["properties"]["type"]["enum"],
            json!(EVENT_TYPES)
        );
    }
    assert_eq!(
        schemas()[COMMAND]["properties"]["type"]["enum"],
        json!(COMMAND_TYPES)
    );
    assert_eq!(
        schemas()[OUTCOME]["properties"]["type"]["enum"],
        json!(COMMAND_TYPES)
    );
}

#[test]
fn every_example_is_valid_and_every_example_command_parses() {
    let examples = Path::new(SCHEMAS_DIR).join("examples");
    let commands = json_files(examples.join("commands"));
    let mut types = BTreeSet::new();
    for path in &commands {
        let command = read_json(path);
        let name = relative_path(path);
        let kind = command["type"].as_str().unwrap_or_default();
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        assert!(
            file.starts_with(&format!("{kind}.")),
            "{name} is named after its type"
        );
        types.insert(kind.to_owned());
        assert_valid_command(&command);
        assert_valid(&command_schema_id(kind), &command);
        let wire = parse_command(command.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        assert_eq!(wire.kind.type_name(), kind);
        if let Err(rejection) = wire.to_command(Utc::now()) {
            panic!("{name} is rejected before the store: {rejection:?}");
        }
    }
    assert_eq!(types, BTreeSet::from(COMMAND_TYPES.map(str::to_owned)));
    let updates = commands
        .iter()
        .filter(|p| relative_path(p).contains("UpdateConversation."))
        .count();
    assert!(updates >= 3, "several UpdateConversation examples");

    let outcomes = json_files(examples.join("outcomes"));
    let statuses: BTreeSet<String> = outcomes
        .iter()
        .map(|path| {
            let outcome = read_json(path);
            assert_valid_outcome(&outcome);
            outcome["status"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["accepted".into(), "rejected".into()])
    );

    let envelopes = json_files(examples.join("envelopes"));
    assert!(!envelopes.is_empty());
    for path in &envelopes {
        assert_valid_envelope(&read_json(path));
    }
}

const FIRST: &str = "conv00schemas001";
const SECOND: &str = "conv00schemas002";
const THIRD: &str = "conv00schemas003";
const NEVER: &str = "conv00schemas404";

/// Runs an upstream command, keeping its outcome.
async fn run(app: &TestApp, outcomes: &mut Vec<Value>, command: Value) -> Value {
    let outcome = app.command(command).await;
    outcomes.push(outcome.clone());
    outcome
}

fn start(uid: &str, command_id: &str) -> Value {
    json!({
        "type": "StartConversation", "command_id": command_id, "conversation_uid": uid,
        "business_uid": BUSINESS, "correlation_id": "lead-intake-1", "title": "Dana Cohen",
        "client": {"uid": format!("client-{uid}"), "first_name": "Dana", "last_name": "Cohen",
                   "email": "dana@example.com",
                   "full": {"address": "12 Herzl St", "tags": ["vip"]}},
        "staff": {"uid": STAFF, "display_name": "Ram Almog"},
        "source": {"source_type": "contact_form", "source": "https://example.com/contact",
                   "source_data": {"form": "contact"}},
        "campaign": "spring-2026"
    })
}

fn update(uid: &str, command_id: &str, body: Value) -> Value {
    json!({
        "type": "UpdateConversation", "command_id": command_id, "conversation_uid": uid,
        "business_uid": BUSINESS, "staff_uid": STAFF, "body": body
    })
}

/// Asserts an outcome's status and event list.
#[track_caller]
fn assert_outcome(outcome: &Value, status: &str, events: &[&str]) {
    assert_eq!(outcome["status"], status, "{outcome}");
    if status == "accepted" {
        assert_eq!(outcome["events"], json!(events), "{outcome}");
    }
}

/// A stored event: `event_id, conversation_uid, version, event_type, schema_version, payload,
/// business_uid, actor_staff_uid, command_id, correlation_id, causation_id, occurred_at`.
#[tokio::test]
async fn every_event_type_the_store_writes_matches_the_schemas_and_so_do_the_outcomes() {
    let app = TestApp::spawn().await;
    let mut outcomes = Vec::new();
    let out = &mut outcomes;

    let started = run(&app, out, start(FIRST, "schemas-start-1")).await;
    assert_outcome(&started, "accepted", &["ConversationStarted"]);
    let incoming = run(
        &app,
        out,
        json!({
            "type": "RecordMessage", "command_id": "schemas-msg-1", "conversation_uid": FIRST,
            "business_uid": BUSINESS, "message_id": "m1", "direction": "incoming",
            "title": "Initial consultation", "text": "Is Thursday still available?",
            "at": "2026-05-04T16:12:00+03:00"
        }),
    )
    .await;
    assert_outcome(&incoming, "accepted", &["MessageRecorded"]);
    let outgoing = run(
        &app,
        out,
        json!({
            "type": "RecordMessage", "command_id": "schemas-msg-2", "conversation_uid": FIRST,
            "business_uid": BUSINESS, "message_id": "m2", "direction": "outgoing",
            "text": "Yes, 10:00 works.", "at": "2026-05-04T13:40:12.250Z", "staff_uid": STAFF
        }),
    )
    .await;
    assert_outcome(&outgoing, "accepted", &["MessageRecorded"]);

    // The permitted fields of the PUT, each way (spec §6).
    for (body, events) in [
        (json!({"archived": true}), vec!["Archived"]),
        (json!({"archived": "0"}), vec!["Unarchived"]),
        (json!({"spam": true}), vec!["MarkedSpam"]),
        (json!({"spam": 0}), vec!["UnmarkedSpam"]),
        (json!({"business_unread": false}), vec!["MarkedRead"]),
        (json!({"business_unread": "true"}), vec!["MarkedUnread"]),
        (json!({"deleted": true}), vec!["SoftDeleted"]),
        (json!({"deleted": false}), vec!["Restored"]),
    ] {
        let before = app.version(FIRST).await;
        app.put_ok(FIRST, body.clone()).await;
        assert_eq!(app.event_types_after(FIRST, before).await, events, "{body}");
    }
    let attributes = run(
        &app,
        out,
        update(
            FIRST,
            "schemas-attributes",
            json!({"campaign": null, "source_type": "chat", "mobile": "1"}),
        ),
    )
    .await;
    assert_outcome(&attributes, "accepted", &["AttributesChanged"]);

    // The follow-up branch (spec §5): a note without a date, dismissal, a dated follow-up,
    // completion with archive.
    let before = app.version(FIRST).await;
    app.put_ok(
        FIRST,
        json!({"follow_up": true, "follow_up_message": "Call back about the quote"}),
    )
    .await;
    assert_eq!(
        app.event_types_after(FIRST, before).await,
        ["CollaboratorAdded", "FollowUpSet", "InternalNoteAdded"]
    );
    let before = app.version(FIRST).await;
    app.put_ok(FIRST, json!({"follow_up": false})).await;
    assert_eq!(
        app.event_types_after(FIRST, before).await,
        ["FollowUpRemoved"]
    );
    let dated = run(
        &app,
        out,
        update(
            FIRST,
            "schemas-follow-up",
            json!({"follow_up": true, "follow_up_message": "Send the quote",
                   "follow_up_date": "Wed May 06 2099 13:31:21 GMT+0300 (Israel Daylight Time)"}),
        ),
    )
    .await;
    assert_outcome(&dated, "accepted", &["FollowUpSet"]);
    let completed = run(
        &app,
        out,
        update(
            FIRST,
            "schemas-complete",
            json!({"follow_up": true, "archived": true, "complete_follow_up": true}),
        ),
    )
    .await;
    assert_outcome(&completed, "accepted", &["Archived", "FollowUpCompleted"]);

    // Merge the first conversation into the second, then hard-delete the second.
    assert_outcome(
        &run(&app, out, start(SECOND, "schemas-start-2")).await,
        "accepted",
        &["ConversationStarted"],
    );
    let merged = run(
        &app,
        out,
        json!({
            "type": "MergeConversation", "command_id": "schemas-merge", "conversation_uid": FIRST,
            "business_uid": BUSINESS, "target_uid": SECOND, "correlation_id": "dedup-run-1"
        }),
    )
    .await;
    assert_outcome(&merged, "accepted", &["MergedInto", "MergedFrom"]);
    assert_eq!(merged["conversation_uid"], SECOND);
    let deleted = run(&app, out, json!({
        "type": "DeleteConversation", "command_id": "schemas-delete", "conversation_uid": SECOND,
        "business_uid": BUSINESS
    }))
    .await;
    assert_outcome(&deleted, "accepted", &["ConversationDeleted"]);

    // Outcomes of other shapes: no change, each kind of rejection, a replay.
    assert_outcome(
        &run(&app, out, start(THIRD, "schemas-start-3")).await,
        "accepted",
        &["ConversationStarted"],
    );
    let unchanged = run(
        &app,
        out,
        update(THIRD, "schemas-noop", json!({"archived": false})),
    )
    .await;
    assert_outcome(&unchanged, "accepted", &[]);
    let invalid = run(
        &app,
        out,
        update(
            THIRD,
            "schemas-invalid",
            json!({"archived": "maybe", "campaign": 5}),
        ),
    )
    .await;
    assert_eq!(invalid["http_status"], 422, "{invalid}");
    assert_eq!(
        invalid["errors"].as_array().map(Vec::len),
        Some(2),
        "{invalid}"
    );
    let not_an_object = run(&app, out, update(THIRD, "schemas-not-object", json!([1]))).await;
    assert_eq!(not_an_object["http_status"], 400, "{not_an_object}");
    let unknown = run(
        &app,
        out,
        update(NEVER, "schemas-unknown", json!({"spam": true})),
    )
    .await;
    assert_eq!(unknown["http_status"], 404, "{unknown}");
    let gone = run(
        &app,
        out,
        update(SECOND, "schemas-gone", json!({"spam": true})),
    )
    .await;
    assert_eq!(gone["http_status"], 404, "{gone}");
    let again = run(&app, out, start(THIRD, "schemas-start-again")).await;
    assert_eq!(again["http_status"], 409, "{again}");
    let replayed = run(
        &app,
        out,
        update(THIRD, "schemas-noop", json!({"archived": false})),
    )
    .await;
    assert_eq!(
        replayed, unchanged,
        "a redelivered command gets the first outcome"
    );
    let reused = run(
        &app,
        out,
        update(THIRD, "schemas-noop", json!({"archived": true})),
    )
    .await;
    assert_eq!(reused["http_status"], 409, "{reused}");

    // (4) Every outcome matches outcome.v1.json.
    for outcome in &outcomes {
        assert_valid_outcome(outcome);
    }

    // (3) Every stored payload matches its schema, describes no field the schema does not, and
    // every event type was seen.
    let rows: Vec<(String, i32, Value)> =
        sqlx::query_as("SELECT event_type, schema_version, payload FROM events ORDER BY position")
            .fetch_all(&app.pool)
            .await
            .expect("read events");
    let mut seen = BTreeSet::new();
    for (kind, schema_version, payload) in &rows {
        assert_eq!(
            payload["type"],
            json!(kind),
            "the stored type is the payload's"
        );
        assert_eq!(*schema_version, convo_domain::event::SCHEMA_VERSION);
        assert_valid_event_of((*schema_version).into(), payload);
        assert_valid(&event_schema_id(kind), payload);
        let undocumented = undocumented_fields(&schemas()[&event_schema_id(kind)], payload);
        assert!(
            undocumented.is_empty(),
            "{kind} writes fields its schema lacks: {undocumented:?}"
        );
        seen.insert(kind.clone());
    }
    assert_eq!(seen, BTreeSet::from(EVENT_TYPES.map(str::to_owned)));

    // Each stored event, as the relay makes it into a record, in its structured CloudEvent form
    // (what `convo export` writes), matches envelope.v1.json.
    let mut conn = app.pool.acquire().await.expect("a connection");
    let stored = convo_store::events::all(&mut conn, None)
        .await
        .expect("read events");
    assert_eq!(stored.len(), rows.len());
    for event in stored {
        assert_valid_envelope(&convo_relay::record(event).structured());
    }
}

/// Asserts the schema `$id` refuses `instance` with an error that mentions `expected`.
#[track_caller]
fn assert_refused(id: &str, instance: &Value, expected: &str) {
    let errors = schema_errors(id, instance);
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "{id} should refuse {instance} with an error mentioning {expected:?}; errors: {errors:#?}"
    );
}

/// `value` with `pointer` (an object member) removed or replaced.
fn with(mut value: Value, pointer: &str, replacement: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let object = value
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"));
    match replacement {
        Some(replacement) => object.insert(key.to_owned(), replacement),
        None => object.remove(key),
    };
    value
}

#[test]
fn schemas_refuse_missing_fields_and_wrong_types() {
    let archived = json!({"type": "Archived", "at": "2026-05-04T16:12:03.482193Z",
                          "staff_uid": STAFF, "client_uid": "client-1"});
    assert_valid_event(&archived);
    assert_valid_event(&with(
        archived.clone(),
        "/future_field",
        Some(json!({"any": 1})),
    ));
    assert_refused(
        EVENT,
        &with(archived.clone(), "/at", None),
        "\"at\" is a required property",
    );
    assert_refused(
        EVENT,
        &with(archived.clone(), "/staff_uid", None),
        "staff_uid",
    );
    assert_refused(
        EVENT,
        &with(archived.clone(), "/at", Some(json!("yesterday"))),
        "date-time",
    );
    assert_refused(
        EVENT,
        &with(archived.clone(), "/client_uid", Some(json!(7))),
        "/client_uid",
    );
    assert_refused(
        EVENT,
        &with(archived.clone(), "/type", Some(json!("Exploded"))),
        "/type",
    );
    assert_refused(
        EVENT,
        &with(archived.clone(), "/type", None),
        "\"type\" is a required property",
    );

    let follow_up = json!({"type": "FollowUpSet", "at": "2026-05-04T16:12:03Z", "staff_uid": STAFF,
                           "client_uid": "client-1", "due_at": null, "message": ""});
    assert_valid_event(&follow_up);
    // Version 1 called `due_at` `date`: each version's index describes its own shape only.
    let v1 = with(
        with(follow_up.clone(), "/due_at", None),
        "/date",
        Some(json!("2026-05-06T10:31:21Z")),
    );
    assert_valid(EVENT_V1, &v1);
    assert_refused(EVENT, &v1, "\"due_at\" is a required");
    assert_refused(EVENT_V1, &follow_up, "\"date\" is a required");
    assert_refused(
        EVENT,
        &with(follow_up.clone(), "/message", None),
        "\"message\" is a required",
    );
    assert_refused(
        EVENT,
        &with(follow_up.clone(), "/due_at", None),
        "\"due_at\" is a required",
    );
    assert_refused(
        EVENT,
        &with(follow_up.clone(), "/due_at", Some(json!(42))),
        "/due_at",
    );
    assert_refused(
        EVENT,
        &with(follow_up, "/due_at", Some(json!("May 6"))),
        "/due_at",
    );
    let merged = json!({"type": "MergedFrom", "at": "2026-05-04T16:12:03Z", "client_uid": "c",
                        "source_uid": "s", "message_count": 3});
    assert_valid_event(&merged);
    assert_refused(
        EVENT,
        &with(merged.clone(), "/message_count", Some(json!("3"))),
        "/message_count",
    );
    assert_refused(
        EVENT,
        &with(merged, "/message_count", Some(json!(-1))),
        "/message_count",
    );
    let attributes = json!({"type": "AttributesChanged", "at": "2026-05-04T16:12:03Z",
                            "staff_uid": STAFF, "client_uid": "c",
                            "changes": {"mobile": {"from": false, "to": true}}});
    assert_valid_event(&attributes);
    assert_refused(
        EVENT,
        &with(attributes.clone(), "/changes", Some(json!({}))),
        "/changes",
    );
    assert_refused(
        EVENT,
        &with(attributes, "/changes/mobile/to", Some(json!("yes"))),
        "/changes/mobile/to",
    );
    let message = json!({"type": "MessageRecorded", "at": "2026-05-04T16:12:03Z", "client_uid": "c",
                         "message_id": "m", "direction": "incoming", "title": "", "text": ""});
    assert_valid_event(&message);
    assert_refused(
        EVENT,
        &with(message, "/direction", Some(json!("sideways"))),
        "/direction",
    );

    let envelope = read_json(&Path::new(SCHEMAS_DIR).join("examples/envelopes/FollowUpSet.json"));
    assert_valid_envelope(&envelope);
    // The envelope picks the payload schema by `schemaversion`: a v2 payload is not a v1 one.
    assert_refused(
        ENVELOPE,
        &with(envelope.clone(), "/schemaversion", Some(json!(1))),
        "\"date\" is a required",
    );
    assert_valid_envelope(&with(envelope.clone(), "/traceparent", None));
    assert_valid_envelope(&with(envelope.clone(), "/actorstaffuid", None));
    assert_refused(
        ENVELOPE,
        &with(envelope.clone(), "/id", None),
        "\"id\" is a required",
    );
    assert_refused(
        ENVELOPE,
        &with(envelope.clone(), "/id", Some(json!("event-1"))),
        "uuid",
    );
    assert_refused(
        ENVELOPE,
        &with(envelope.clone(), "/aggregateversion", Some(json!(0))),
        "/aggregateversion",
    );
    assert_refused(
        ENVELOPE,
        &with(envelope.clone(), "/aggregateversion", Some(json!("5"))),
        "/aggregateversion",
    );
    assert_refused(
        ENVELOPE,
        &with(envelope.clone(), "/traceparent", Some(json!("trace-1"))),
        "/traceparent",
    );
    assert_refused(
        ENVELOPE,
        &with(envelope.clone(), "/specversion", Some(json!("0.3"))),
        "/specversion",
    );
    assert_refused(
        ENVELOPE,
        &with(
            envelope.clone(),
            "/type",
            Some(json!("com.vcita.conversations.Archived")),
        ),
        "/type",
    );
    assert_refused(
        ENVELOPE,
        &with(envelope.clone(), "/data/client_uid", None),
        "client_uid",
    );
    assert_refused(
        ENVELOPE,
        &with(envelope, "/data/due_at", Some(json!(true))),
        "/data/due_at",
    );

    let update = json!({"type": "UpdateConversation", "command_id": "c-1", "conversation_uid": "u1",
                        "business_uid": BUSINESS, "staff_uid": STAFF,
                        "body": {"archived": 1.0, "spam": "0", "campaign": null,
                                 "follow_up_date": 17}});
    assert_valid_command(&update);
    assert_refused(
        COMMAND,
        &with(update.clone(), "/body/archived", Some(json!("maybe"))),
        "/body/archived",
    );
    assert_refused(
        COMMAND,
        &with(update.clone(), "/body/spam", Some(Value::Null)),
        "/body/spam",
    );
    assert_refused(
        COMMAND,
        &with(update.clone(), "/body/spam", Some(json!(2))),
        "/body/spam",
    );
    assert_refused(
        COMMAND,
        &with(
            update.clone(),
            "/body/campaign",
            Some(json!("x".repeat(256))),
        ),
        "/body/campaign",
    );
    assert_refused(
        COMMAND,
        &with(
            update.clone(),
            "/body/follow_up_message",
            Some(json!("x".repeat(5001))),
        ),
        "/body/follow_up_message",
    );
    assert_refused(
        COMMAND,
        &with(update.clone(), "/body", Some(json!([]))),
        "/body",
    );
    assert_refused(
        COMMAND,
        &with(update.clone(), "/body", None),
        "\"body\" is a required",
    );
    assert_refused(
        COMMAND,
        &with(update.clone(), "/command_id", None),
        "\"command_id\" is a required",
    );
    assert_refused(
        COMMAND,
        &with(update.clone(), "/command_id", Some(json!("c".repeat(129)))),
        "/command_id",
    );
    assert_refused(
        COMMAND,
        &with(update, "/type", Some(json!("Explode"))),
        "/type",
    );
    let message = json!({"type": "RecordMessage", "command_id": "c-2", "conversation_uid": "u1",
                         "business_uid": BUSINESS, "message_id": "m", "direction": "incoming",
                         "at": "2026-05-04T16:12:00Z"});
    assert_valid_command(&message);
    assert_refused(
        COMMAND,
        &with(message.clone(), "/at", Some(json!("soon"))),
        "/at",
    );
    assert_refused(
        COMMAND,
        &with(message, "/message_id", None),
        "\"message_id\" is a required",
    );
    let started = start("u1", "c-3");
    assert_valid_command(&started);
    assert_refused(
        COMMAND,
        &with(started.clone(), "/client/uid", None),
        "\"uid\" is a required",
    );
    assert_refused(
        COMMAND,
        &with(started, "/mobile", Some(json!("true"))),
        "/mobile",
    );

    let accepted = json!({"command_id": "c-1", "type": "UpdateConversation", "status": "accepted",
                          "conversation_uid": "u1", "version": 3, "events": ["Archived"]});
    assert_valid_outcome(&accepted);
    assert_refused(
        OUTCOME,
        &with(accepted.clone(), "/version", None),
        "\"version\" is a required",
    );
    assert_refused(
        OUTCOME,
        &with(accepted.clone(), "/events", Some(json!("Archived"))),
        "/events",
    );
    assert_refused(
        OUTCOME,
        &with(accepted, "/status", Some(json!("maybe"))),
        "/status",
    );
    let rejected = json!({"command_id": "c-1", "type": "UpdateConversation", "status": "rejected",
                          "conversation_uid": "u1", "http_status": 422,
                          "errors": [{"field": "archived", "code": "invalid",
                                      "message": "must be a boolean"}]});
    assert_valid_outcome(&rejected);
    assert_refused(
        OUTCOME,
        &with(rejected.clone(), "/errors", None),
        "\"errors\" is a required",
    );
    assert_refused(
        OUTCOME,
        &with(rejected.clone(), "/errors", Some(json!([]))),
        "/errors",
    );
    assert_refused(
        OUTCOME,
        &with(rejected.clone(), "/errors/0/message", None),
        "\"message\" is a required",
    );
    assert_refused(
        OUTCOME,
        &with(rejected, "/http_status", Some(json!(418))),
        "/http_status",
    );
}
