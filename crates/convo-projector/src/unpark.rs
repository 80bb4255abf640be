//! Operators' actions on parked conversations (`convo parked show|retry|drop`).
//!
//! - retry: once the cause is fixed, refolds the conversation from the event store into the read
//!   models and deletes its parked row, in one transaction: later events apply on top, in order.
//!   A projection that keeps no read model of this service (a test's) cannot refold; use drop.
//! - drop: deletes the parked row and nothing else. Nothing is refolded now: the conversation's
//!   next event finds the versions it missed and backfills them from the event store (until then
//!   its read model stays where it was parked).

use convo_store::events::StoredEvent;
use serde::Serialize;
use sqlx::PgPool;

use crate::parked::{self, Parked};
use crate::project::ProjectError;
use crate::read_models::ReadModel;
use crate::refold::refold_conversation;

#[derive(Debug, thiserror::Error)]
pub enum UnparkError {
    #[error("{uid} is not parked{}", on(.projector))]
    NotParked {
        uid: String,
        projector: Option<String>,
    },
    #[error("{uid} is parked by several projectors ({projectors}): name one with --projector")]
    Ambiguous { uid: String, projectors: String },
    #[error(
        "{projector} keeps no read model of this service, so it cannot be refolded; use drop (its next event backfills from the event store)"
    )]
    CannotRefold { projector: String },
    #[error("refolding from the event store: {0} (the conversation stays parked)")]
    Project(#[from] ProjectError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

fn on(projector: &Option<String>) -> String {
    projector
        .as_ref()
        .map(|p| format!(" by {p}"))
        .unwrap_or_default()
}

/// The one parked row of `uid` (of `projector`, when given).
pub async fn find(
    pool: &PgPool,
    uid: &str,
    projector: Option<&str>,
) -> Result<Parked, UnparkError> {
    let mut found: Vec<Parked> = parked::list(pool, projector)
        .await?
        .into_iter()
        .filter(|p| p.conversation_uid == uid)
        .collect();
    match found.len() {
        0 => Err(UnparkError::NotParked {
            uid: uid.to_owned(),
            projector: projector.map(str::to_owned),
        }),
        1 => Ok(found.remove(0)),
        _ => Err(UnparkError::Ambiguous {
            uid: uid.to_owned(),
            projectors: found
                .iter()
                .map(|p| p.projector.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A parked conversation with its stored events from the parked version on.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub parked: Parked,
    /// (version, type) of each stored event from the parked version on.
    pub events: Vec<(u64, String)>,
}

pub async fn show(pool: &PgPool, uid: &str, projector: Option<&str>) -> Result<Shown, UnparkError> {
    let parked = find(pool, uid, projector).await?;
    let after = u64::try_from(parked.version - 1).unwrap_or(0);
    let mut conn = pool.acquire().await?;
    let events = convo_store::events::stream(&mut conn, uid, after, None)
        .await?
        .into_iter()
        .map(|e: StoredEvent| (e.version, e.event_type))
        .collect();
    Ok(Shown { parked, events })
}

/// Refolds `uid` and unparks it, in one transaction; returns the row and the version folded to.
pub async fn retry(
    pool: &PgPool,
    uid: &str,
    projector: Option<&str>,
) -> Result<(Parked, u64), UnparkError> {
    let parked = find(pool, uid, projector).await?;
    let Some(model) = ReadModel::parse(&parked.projector) else {
        return Err(UnparkError::CannotRefold {
            projector: parked.projector,
        });
    };
    let mut tx = pool.begin().await?;
    // Waits for a batch that is skipping its events (it share-locks the row) to end.
    let locked = sqlx::query!(
        "SELECT version FROM parked_conversations
         WHERE projector = $1 AND conversation_uid = $2 FOR UPDATE",
        parked.projector,
        uid
    )
    .fetch_optional(&mut *tx)
    .await?;
    if locked.is_none() {
        return Err(UnparkError::NotParked {
            uid: uid.to_owned(),
            projector: Some(parked.projector),
        });
    }
    let version = refold_conversation(&mut tx, model, uid).await?;
    parked::unpark(&mut tx, &parked.projector, uid).await?;
    tx.commit().await?;
    Ok((parked, version))
}

/// Deletes `uid`'s parked row without refolding (see the module).
pub async fn drop_parked(
    pool: &PgPool,
    uid: &str,
    projector: Option<&str>,
) -> Result<Parked, UnparkError> {
    let parked = find(pool, uid, projector).await?;
    let mut conn = pool.acquire().await?;
    if !parked::unpark(&mut conn, &parked.projector, uid).await? {
        return Err(UnparkError::NotParked {
            uid: uid.to_owned(),
            projector: Some(parked.projector),
        });
    }
    Ok(parked)
}
