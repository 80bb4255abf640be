//! The read models against a fold of the stored events, conversation by conversation: the
//! conversation row is the projector's form of the folded state
//! ([`convo_projector::read_models::conversations::read_model_form`]), its collaborator rows are
//! the state's collaborators, and its message rows are one per event that added a message. Once
//! the follow-ups model has been built (`read_model_builds`), its rows are checked too: the
//! conversation's version, and the open follow-ups (staff and due time) of the folded state.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use convo_domain::{Conversation, EventBody};
use convo_projector::read_models::conversations::read_model_form;
use serde_json::Value;
use sqlx::PgConnection;

use convo_store::events::StoredEvent;

use crate::events::Streams;
use crate::parked::Parked;
use crate::report::{Breach, Report};

/// One conversation's read-model rows.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub version: u64,
    pub state: Value,
    pub collaborators: BTreeSet<String>,
    /// Versions of its message rows.
    pub messages: BTreeSet<u64>,
    /// Its follow-ups rows, once that model has been built.
    pub follow_ups: Option<FollowUps>,
}

/// One conversation's rows of the follow-ups model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowUps {
    pub version: u64,
    /// Open follow-ups: staff -> due time.
    pub open: BTreeMap<String, Option<DateTime<Utc>>>,
}

/// The read models (of `scope`, when given), by conversation uid.
pub async fn load(
    conn: &mut PgConnection,
    scope: Option<&str>,
) -> sqlx::Result<BTreeMap<String, Model>> {
    let filter = "WHERE $1::text IS NULL OR";
    let rows: Vec<(String, i64, Value)> = sqlx::query_as(&format!(
        "SELECT uid, version, state FROM rm_conversations {filter} uid = $1"
    ))
    .bind(scope)
    .fetch_all(&mut *conn)
    .await?;
    let mut models: BTreeMap<String, Model> = rows
        .into_iter()
        .map(|(uid, version, state)| {
            let version = u64::try_from(version).unwrap_or_default();
            let model = Model {
                version,
                state,
                ..Model::default()
            };
            (uid, model)
        })
        .collect();
    let collaborators: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT conversation_uid, staff_uid FROM rm_collaborators {filter} conversation_uid = $1"
    ))
    .bind(scope)
    .fetch_all(&mut *conn)
    .await?;
    for (uid, staff) in collaborators {
        models.entry(uid).or_default().collaborators.insert(staff);
    }
    let messages: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT conversation_uid, version FROM rm_messages {filter} conversation_uid = $1"
    ))
    .bind(scope)
    .fetch_all(&mut *conn)
    .await?;
    for (uid, version) in messages {
        let version = u64::try_from(version).unwrap_or_default();
        models.entry(uid).or_default().messages.insert(version);
    }
    load_follow_ups(conn, scope, &mut models).await?;
    Ok(models)
}

/// Adds the follow-ups model's rows, if that model has been built.
async fn load_follow_ups(
    conn: &mut PgConnection,
    scope: Option<&str>,
    models: &mut BTreeMap<String, Model>,
) -> sqlx::Result<()> {
    let built: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM read_model_builds WHERE read_model = 'follow-ups'")
            .fetch_optional(&mut *conn)
            .await?;
    if built.is_none() {
        return Ok(());
    }
    for model in models.values_mut() {
        model.follow_ups = Some(FollowUps::default());
    }
    let filter = "WHERE ($1::text IS NULL OR conversation_uid = $1)";
    let versions: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT conversation_uid, version FROM rm_follow_up_conversations {filter}"
    ))
    .bind(scope)
    .fetch_all(&mut *conn)
    .await?;
    for (uid, version) in versions {
        let follow_ups = models
            .entry(uid)
            .or_default()
            .follow_ups
            .get_or_insert_default();
        follow_ups.version = u64::try_from(version).unwrap_or_default();
    }
    let open: Vec<(String, String, Option<DateTime<Utc>>)> = sqlx::query_as(&format!(
        "SELECT conversation_uid, staff_uid, due_at FROM rm_follow_ups {filter} AND open"
    ))
    .bind(scope)
    .fetch_all(&mut *conn)
    .await?;
    for (uid, staff, due_at) in open {
        let follow_ups = models
            .entry(uid)
            .or_default()
            .follow_ups
            .get_or_insert_default();
        follow_ups.open.insert(staff, due_at);
    }
    Ok(())
}

/// Every conversation with events has the read model its events fold to; every read model has
/// events. Parked conversations are skipped here (they are reported as parked).
pub fn check(
    streams: &Streams,
    models: &BTreeMap<String, Model>,
    parked: &[Parked],
    report: &mut Report,
) {
    report.checked.read_models = models.len();
    let parked: BTreeSet<&str> = parked.iter().filter_map(Parked::conversation_uid).collect();
    for (uid, events) in streams {
        if parked.contains(uid.as_str()) {
            continue;
        }
        let Some(model) = models.get(uid) else {
            report.breach(Breach::ReadModelMissing {
                conversation_uid: uid.clone(),
                version: events.last().map_or(0, |e| e.version),
            });
            continue;
        };
        let (expected_version, differences) = compare(uid, events, model);
        if !differences.is_empty() {
            report.breach(Breach::ReadModelDiffers {
                conversation_uid: uid.clone(),
                expected_version,
                found_version: model.version,
                differences,
            });
        }
    }
    for uid in models.keys().filter(|uid| !streams.contains_key(*uid)) {
        report.breach(Breach::ReadModelUnknown {
            conversation_uid: uid.clone(),
        });
    }
}

/// The fold's version, and what differs between the fold and the rows.
fn compare(uid: &str, stored: &[StoredEvent], model: &Model) -> (u64, Vec<String>) {
    let mut events = Vec::with_capacity(stored.len());
    for e in stored {
        match e.event() {
            Ok(event) => events.push((e.version, event)),
            Err(err) => {
                return (
                    e.version,
                    vec![format!("v{} does not decode: {err}", e.version)],
                );
            }
        }
    }
    let folded = read_model_form(Conversation::fold(uid, events.iter().map(|(_, e)| e)));
    let mut differences = state_differences(&folded, &model.state);
    let collaborators: BTreeSet<String> = folded.collaborators.keys().cloned().collect();
    if collaborators != model.collaborators {
        differences.push(format!(
            "collaborator rows {:?}, expected {:?}",
            model.collaborators, collaborators
        ));
    }
    let messages: BTreeSet<u64> = if folded.lifecycle == convo_domain::state::Lifecycle::Deleted {
        BTreeSet::new()
    } else {
        events
            .iter()
            .filter(|(_, e)| {
                matches!(
                    e.body,
                    EventBody::MessageRecorded { .. } | EventBody::InternalNoteAdded { .. }
                )
            })
            .map(|(v, _)| *v)
            .collect()
    };
    if messages != model.messages {
        differences.push(format!(
            "message rows at versions {:?}, expected {:?}",
            model.messages, messages
        ));
    }
    if let Some(found) = &model.follow_ups {
        let expected = FollowUps {
            version: folded.version,
            open: folded
                .collaborators
                .iter()
                .filter(|(_, c)| c.follow_up)
                .map(|(staff, c)| (staff.clone(), c.follow_up_date))
                .collect(),
        };
        if &expected != found {
            differences.push(format!(
                "follow-ups model at v{} with open {:?}, expected v{} with {:?}",
                found.version, found.open, expected.version, expected.open
            ));
        }
    }
    (folded.version, differences)
}

/// The top-level fields of the state that differ.
fn state_differences(expected: &Conversation, found: &Value) -> Vec<String> {
    let expected = serde_json::to_value(expected).unwrap_or_default();
    if &expected == found {
        return Vec::new();
    }
    let (Some(want), Some(have)) = (expected.as_object(), found.as_object()) else {
        return vec!["state is not an object".to_owned()];
    };
    let keys: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
    keys.into_iter()
        .filter(|k| want.get(*k) != have.get(*k))
        .map(|k| {
            format!(
                "{k}: {} (expected {})",
                have.get(k).unwrap_or(&Value::Null),
                want.get(k).unwrap_or(&Value::Null)
            )
        })
        .collect()
}
