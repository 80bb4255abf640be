//! Refolding one conversation from the event store into a read model: what retrying a parked
//! conversation and `convo replay --conversation` do. Its rows are replaced by the fold of every
//! stored event, whatever they held (an undecodable row, a partial history), so later events apply
//! on top of it in order.

use sqlx::PgConnection;

use crate::project::ProjectError;
use crate::read_models::{Group, Item, ReadModel};

/// Replaces `uid`'s rows of `model` with the fold of its stored events, in the caller's
/// transaction. Returns the version folded to (0: no events, and no rows are left).
pub async fn refold_conversation(
    conn: &mut PgConnection,
    model: ReadModel,
    uid: &str,
) -> Result<u64, ProjectError> {
    let stored = convo_store::events::stream(conn, uid, 0, None).await?;
    let version = stored.last().map_or(0, |s| s.version);
    let items = stored
        .into_iter()
        .map(|s| Item {
            version: s.version,
            event: s.event().map_err(|e| e.to_string()),
        })
        .collect();
    model.forget(conn, uid).await?;
    if version > 0 {
        let group = Group {
            uid: uid.to_owned(),
            items,
        };
        model.apply(conn, &[group]).await?;
    }
    Ok(version)
}
