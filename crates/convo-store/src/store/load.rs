//! Loading conversations: a known (cached) state or the snapshot, and the events after it.

use std::collections::HashMap;

use convo_domain::Conversation;
use sqlx::PgConnection;

use super::STATE_SCHEMA;
use crate::error::StoreError;

/// The conversation's current state: its snapshot plus the events after it, in one round trip.
pub async fn load(conn: &mut PgConnection, uid: &str) -> Result<Conversation, StoreError> {
    let mut loaded = load_all(conn, vec![Conversation::new(uid)]).await?;
    Ok(loaded
        .remove(uid)
        .map(|l| l.state)
        .unwrap_or_else(|| Conversation::new(uid)))
}

/// A conversation as loaded, and the version its snapshot holds (0: none).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub state: Conversation,
    pub snapshot_version: u64,
}

/// The current state of each conversation of `known`, each given as a state it is known to have
/// had (`Conversation::new(uid)` when nothing is known, or a cached state): the events after it,
/// or the snapshot, if newer, and the events after that; all in one round trip. A conversation
/// with no events comes back new. A snapshot of another shape, or one that does not decode, is
/// ignored; so is a known state that does not lead to the stored head: that conversation's
/// events are folded from the start instead.
pub async fn load_all(
    conn: &mut PgConnection,
    known: Vec<Conversation>,
) -> Result<HashMap<String, Loaded>, StoreError> {
    let uids: Vec<String> = known.iter().map(|s| s.uid.clone()).collect();
    let versions: Vec<i64> = known.iter().map(|s| s.version as i64).collect();
    // One row per stored event from the base on (the newer of the known state and the
    // snapshot), or one with no event: the base's own event carries no payload (it proves the
    // base is stored) and brings the snapshot if that is the base; the last event is the head.
    // Two index probes per conversation. The joins are LATERAL subqueries that cannot be
    // flattened (LIMIT, ORDER BY), so the plan probes the indexes per conversation whatever the
    // tables' statistics were when the (generic) plan was made.
    let rows = sqlx::query!(
        r#"SELECT u.uid AS "uid!", COALESCE(s.version, 0) AS "snapshot_version!",
                  CASE WHEN s.version > u.known AND e.version = s.version
                       THEN s.state::text END AS snapshot,
                  e.version AS "version?", e.schema_version AS "schema?",
                  CASE WHEN e.version > GREATEST(u.known, s.version)
                       THEN e.payload::text END AS payload
           FROM unnest($1::text[], $2::bigint[]) AS u (uid, known)
           LEFT JOIN LATERAL (
               SELECT version, state FROM snapshots
               WHERE conversation_uid = u.uid AND state_schema = $3 LIMIT 1
           ) s ON true
           LEFT JOIN LATERAL (
               SELECT version, schema_version, payload FROM events
               WHERE conversation_uid = u.uid
                 AND version >= GREATEST(u.known, COALESCE(s.version, 0))
               ORDER BY version
           ) e ON true
           ORDER BY 1, 4"#,
        &uids,
        &versions,
        STATE_SCHEMA
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut loaded: HashMap<String, Loaded> = known
        .into_iter()
        .map(|state| {
            let loaded = Loaded {
                state,
                snapshot_version: 0,
            };
            (loaded.state.uid.clone(), loaded)
        })
        .collect();
    let mut heads = HashMap::new();
    let mut refold = Vec::new();
    for row in rows {
        let Some(entry) = loaded.get_mut(&row.uid) else {
            continue;
        };
        entry.snapshot_version = u64::try_from(row.snapshot_version).unwrap_or_default();
        if let Some(snapshot) = row.snapshot {
            match serde_json::from_str::<Conversation>(&snapshot) {
                Ok(snapshot) => entry.state = snapshot,
                Err(e) => {
                    tracing::warn!(conversation = %row.uid, error = %e, "snapshot does not decode; folding the events");
                    refold.push(row.uid.clone());
                }
            }
        }
        let Some(version) = row.version else { continue };
        let version = u64::try_from(version).unwrap_or_default();
        if let Some(payload) = row.payload {
            let schema = row.schema.unwrap_or_default();
            let event = crate::events::decode(&row.uid, version, schema, &payload)?;
            entry.state = std::mem::take(&mut entry.state).evolve(&event);
        }
        heads.insert(row.uid, version);
    }
    for (uid, entry) in &loaded {
        let head = heads.get(uid).copied().unwrap_or_default();
        if entry.state.version != head && !refold.contains(uid) {
            tracing::warn!(conversation = %uid, known = entry.state.version, head, "a known state does not lead to the stored events; folding them");
            refold.push(uid.clone());
        }
    }
    for uid in refold {
        let state = fold_events(conn, Conversation::new(&uid)).await?;
        let snapshot_version = loaded.get(&uid).map_or(0, |l| l.snapshot_version);
        loaded.insert(
            uid,
            Loaded {
                state,
                snapshot_version,
            },
        );
    }
    Ok(loaded)
}

/// Folds the events after `state.version` into `state`.
async fn fold_events(
    conn: &mut PgConnection,
    mut state: Conversation,
) -> Result<Conversation, StoreError> {
    for stored in crate::events::stream(conn, &state.uid.clone(), state.version, None).await? {
        state = state.evolve(&stored.event()?);
    }
    Ok(state)
}
