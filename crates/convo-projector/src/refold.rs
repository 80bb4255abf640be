//! Refolding one conversation from the event store into the read models: what retrying a parked
//! conversation does. Its rows are replaced by the fold of every stored event, whatever they held
//! (an undecodable row, a partial history), so later events apply on top of it in order.

use convo_domain::Conversation;
use sqlx::PgConnection;

use crate::project::{Changes, ProjectError};

/// Replaces `uid`'s read-model rows (conversation, collaborators, messages; its client's row is
/// upserted) with the fold of its stored events, in the caller's transaction. Returns the version
/// folded to (0: no events, and no rows are left).
pub async fn refold_conversation(conn: &mut PgConnection, uid: &str) -> Result<u64, ProjectError> {
    let stored = convo_store::events::stream(conn, uid, 0, None).await?;
    let mut state = Conversation::new(uid);
    let mut changes = Changes::default();
    for stored in stored {
        if stored.version != state.version + 1 {
            return Err(ProjectError::Gap {
                conversation_uid: uid.to_owned(),
                from: state.version + 1,
                to: stored.version.saturating_sub(1),
            });
        }
        let event = stored.event().map_err(|e| ProjectError::Undecodable {
            conversation_uid: uid.to_owned(),
            version: stored.version,
            reason: e.to_string(),
        })?;
        changes.note(&state, stored.version, &event);
        state = state.evolve(&event);
    }
    forget(conn, uid).await?;
    let version = state.version;
    if version > 0 {
        changes.conversations.push(state);
        changes.write(conn).await?;
    }
    Ok(version)
}

/// Deletes `uid`'s conversation, collaborator and message rows (the conversation row's version
/// guard would keep a newer or undecodable row otherwise).
async fn forget(conn: &mut PgConnection, uid: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM rm_messages WHERE conversation_uid = $1", uid)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "DELETE FROM rm_collaborators WHERE conversation_uid = $1",
        uid
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("DELETE FROM rm_conversations WHERE uid = $1", uid)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
