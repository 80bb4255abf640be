//! Conversations the projector parked after it could not apply one of their events (table
//! `parked_conversations`, added with poison-message handling). Each row is reported whole, as
//! JSON, whatever its columns; a database without the table has nothing parked.

use serde_json::Value;
use sqlx::PgConnection;

use crate::report::{Breach, Report};

/// One parked row, as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Parked(pub Value);

impl Parked {
    pub fn conversation_uid(&self) -> Option<&str> {
        self.0.get("conversation_uid").and_then(Value::as_str)
    }
}

/// The parked rows (of `scope`, when given).
pub async fn load(conn: &mut PgConnection, scope: Option<&str>) -> sqlx::Result<Vec<Parked>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('parked_conversations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<Value> = sqlx::query_scalar(
        "SELECT to_jsonb(p) FROM parked_conversations p
         WHERE $1::text IS NULL OR to_jsonb(p)->>'conversation_uid' = $1",
    )
    .bind(scope)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Parked).collect())
}

/// Each parked conversation is a breach: it needs an operator.
pub fn check(parked: &[Parked], report: &mut Report) {
    report.checked.parked = parked.len();
    for row in parked {
        report.breach(Breach::Parked { row: row.0.clone() });
    }
}
