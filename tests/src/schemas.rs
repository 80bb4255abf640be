//! The project's own JSON Schemas (`schemas/`: events, the CloudEvents envelope, upstream commands,
//! outcomes). Every schema file is registered under its `$id`, so references between files resolve
//! without any network or file access, and `format` (`date-time`, `uuid`) is asserted, not just
//! annotated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::{Resource, Validator};
use serde_json::{Value, json};

/// The `schemas/` folder of the repository.
pub const SCHEMAS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas");
/// Every schema's `$id` is this followed by its path under `schemas/`.
pub const ID_BASE: &str = "https://schemas.convo.local/";
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Any event payload of the current schema version (`convo_domain::event::SCHEMA_VERSION`).
pub const EVENT: &str = "https://schemas.convo.local/events/event.v2.json";
/// Any event payload of schema version 1 (what events stored before v2 hold).
pub const EVENT_V1: &str = "https://schemas.convo.local/events/event.v1.json";
pub const ENVELOPE: &str = "https://schemas.convo.local/envelope.v1.json";
pub const COMMAND: &str = "https://schemas.convo.local/commands/command.v1.json";
pub const OUTCOME: &str = "https://schemas.convo.local/outcome.v1.json";

/// The event types of the current payload schema version, as `EventBody::type_name` spells them.
pub const EVENT_TYPES: [&str; 19] = [
    "ConversationStarted",
    "Archived",
    "Unarchived",
    "MarkedSpam",
    "UnmarkedSpam",
    "MarkedUnread",
    "MarkedRead",
    "SoftDeleted",
    "Restored",
    "AttributesChanged",
    "CollaboratorAdded",
    "FollowUpSet",
    "FollowUpRemoved",
    "FollowUpCompleted",
    "InternalNoteAdded",
    "MessageRecorded",
    "MergedInto",
    "MergedFrom",
    "ConversationDeleted",
];

/// The upstream command types (`WireKind::type_name`).
pub const COMMAND_TYPES: [&str; 5] = [
    "StartConversation",
    "RecordMessage",
    "MergeConversation",
    "UpdateConversation",
    "DeleteConversation",
];

/// The `$id` of the index of every event payload of `schema_version` (`events/event.vN.json`).
pub fn event_index_id(schema_version: i64) -> String {
    format!("{ID_BASE}events/event.v{schema_version}.json")
}

/// The `$id` of event type `name`'s payload schema in the current version: the file the current
/// index (`EVENT`) points at for it (`FollowUpSet.v2.json`, `Archived.v1.json`, ...).
pub fn event_schema_id(name: &str) -> String {
    let branches = schemas()[EVENT]["allOf"]
        .as_array()
        .expect("the index's allOf");
    branches
        .iter()
        .find(|branch| branch["if"]["properties"]["type"]["const"] == name)
        .and_then(|branch| branch["then"]["$ref"].as_str())
        .unwrap_or_else(|| panic!("{EVENT} does not list {name}"))
        .to_owned()
}

/// The `$id` of command type `name`'s schema.
pub fn command_schema_id(name: &str) -> String {
    format!("{ID_BASE}commands/{name}.v1.json")
}

/// Every `.json` file under `dir`, recursively, sorted.
pub fn json_files(dir: impl AsRef<Path>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.as_ref().to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The schema documents: every `.json` file under `schemas/` except vcita's Swagger files
/// (`vcita/`) and the example instances (`examples/`).
pub fn schema_files() -> Vec<PathBuf> {
    let root = Path::new(SCHEMAS_DIR);
    json_files(root)
        .into_iter()
        .filter(|path| {
            let relative = path.strip_prefix(root).expect("under schemas/");
            !relative.starts_with("vcita") && !relative.starts_with("examples")
        })
        .collect()
}

/// `path` under `schemas/`, with `/` separators (`events/Archived.v1.json`).
pub fn relative_path(path: &Path) -> String {
    path.strip_prefix(SCHEMAS_DIR)
        .expect("under schemas/")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads and parses one JSON file, panicking with its path.
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every schema document, by `$id`. Panics on a schema without `$id` or with a duplicate one.
pub fn schemas() -> &'static BTreeMap<String, Value> {
    static SCHEMAS: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut by_id = BTreeMap::new();
        for path in schema_files() {
            let schema = read_json(&path);
            let id = schema["$id"]
                .as_str()
                .unwrap_or_else(|| panic!("{} has no $id", path.display()))
                .to_owned();
            if by_id.insert(id.clone(), schema).is_some() {
                panic!("$id {id} is used twice (again by {})", path.display());
            }
        }
        by_id
    })
}

/// Builds a validator for the schema `$id`, with every schema file registered as a resource.
/// Fails when the schema, or any schema it references, is invalid or cannot be resolved.
pub fn build_validator(id: &str) -> Result<Validator, String> {
    let resources = schemas()
        .iter()
        .map(|(id, schema)| {
            Resource::from_contents(schema.clone())
                .map(|resource| (id.clone(), resource))
                .map_err(|e| format!("{id}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .with_resources(resources.into_iter())
        .build(&json!({"$ref": id}))
        .map_err(|e| format!("{id}: {e}"))
}

/// The validator for the schema `$id` (built once per test process).
pub fn validator(id: &str) -> &'static Validator {
    static VALIDATORS: OnceLock<BTreeMap<String, Validator>> = OnceLock::new();
    let validators = VALIDATORS.get_or_init(|| {
        schemas()
            .keys()
            .map(|id| {
                let validator = build_validator(id).unwrap_or_else(|e| panic!("{e}"));
                (id.clone(), validator)
            })
            .collect()
    });
    validators
        .get(id)
        .unwrap_or_else(|| panic!("no schema has $id {id}"))
}

/// Every error of `instance` against the schema `$id`, as `"<message> at <instance path>"` (`/`
/// for the root).
pub fn schema_errors(id: &str, instance: &Value) -> Vec<String> {
    validator(id)
        .iter_errors(instance)
        .map(|e| {
            let at = e.instance_path.to_string();
            format!("{e} at {}", if at.is_empty() { "/" } else { &at })
        })
        .collect()
}

/// Asserts `instance` is valid against the schema `$id`, listing every error otherwise.
#[track_caller]
pub fn assert_valid(id: &str, instance: &Value) {
    let errors = schema_errors(id, instance);
    assert!(
        errors.is_empty(),
        "not valid against {id}:\n  {}\n{instance:#}",
        errors.join("\n  ")
    );
}

/// Asserts `payload` is a valid event payload of the current schema version (`EVENT`).
#[track_caller]
pub fn assert_valid_event(payload: &Value) {
    assert_valid(EVENT, payload);
}

/// Asserts `payload` is a valid event payload of `schema_version` (`events/event.vN.json`): how a
/// stored or published event, which keeps the version it was written with, is checked.
#[track_caller]
pub fn assert_valid_event_of(schema_version: i64, payload: &Value) {
    assert_valid(&event_index_id(schema_version), payload);
}

/// Asserts `event` is a valid CloudEvents structured-mode event (`envelope.v1.json`).
#[track_caller]
pub fn assert_valid_envelope(event: &Value) {
    assert_valid(ENVELOPE, event);
}

/// Asserts `command` is a valid upstream command (`commands/command.v1.json`).
#[track_caller]
pub fn assert_valid_command(command: &Value) {
    assert_valid(COMMAND, command);
}

/// Asserts `outcome` is a valid command outcome record (`outcome.v1.json`).
#[track_caller]
pub fn assert_valid_outcome(outcome: &Value) {
    assert_valid(OUTCOME, outcome);
}

/// The paths in `instance` that `schema` does not describe: object keys absent from the
/// `properties` of the schema object at the same place. Follows `properties` only (no `$ref`), so
/// it suits the self-contained event schemas; objects described without `properties` (free-form
/// records) are not looked into.
pub fn undocumented_fields(schema: &Value, instance: &Value) -> Vec<String> {
    fn walk(schema: &Value, instance: &Value, at: &str, found: &mut Vec<String>) {
        let (Some(properties), Some(object)) = (
            schema.get("properties").and_then(Value::as_object),
            instance.as_object(),
        ) else {
            return;
        };
        for (key, value) in object {
            let path = format!("{at}/{key}");
            match properties.get(key) {
                Some(sub) => walk(sub, value, &path, found),
                None => found.push(path),
            }
        }
    }
    let mut found = Vec::new();
    walk(schema, instance, "", &mut found);
    found
}
