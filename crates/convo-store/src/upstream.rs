//! Commands from upstream services (spec §10), as `convo command` and the Kafka intake receive
//! them: each runs through the handler, idempotent by its `command_id`, and yields an outcome.

use chrono::Utc;
use convo_domain::Rejection;
use convo_domain::wire::WireCommand;
use serde_json::{Value, json};

use crate::error::StoreError;
use crate::handler::{Accepted, CommandHandler, Idempotency, Metadata, Reply, Request};

/// Runs one command and returns its outcome; a redelivered `command_id` returns the first one.
pub async fn execute(handler: &CommandHandler, wire: &WireCommand) -> Result<Value, StoreError> {
    let command = match wire.to_command(Utc::now()) {
        Ok(command) => command,
        // An invalid body never reaches the store, so a retry validates it again: same answer.
        Err(rejection) => return Ok(outcome(wire, &Err(rejection))),
    };
    let request = Request {
        command,
        metadata: Metadata {
            command_id: wire.command_id.clone(),
            correlation_id: wire
                .correlation_id
                .clone()
                .unwrap_or_else(|| wire.command_id.clone()),
            causation_id: wire.command_id.clone(),
        },
        idempotency: Some(Idempotency::new(
            format!("cmd:{}", wire.command_id),
            &[wire.canonical.as_bytes()],
        )),
    };
    let handled = handler
        .handle(&request, |decision| Reply {
            status: decision
                .as_ref()
                .map_or_else(Rejection::http_status, |_| 200),
            body: outcome(wire, decision),
        })
        .await?;
    Ok(handled.reply.body)
}

/// The outcome of a command that kept failing for a reason retrying does not cure (the store
/// holds something this build cannot read, a constraint the command breaks): rejected with 500
/// `internal_error`, the details in the log only. Nothing was stored for it.
pub fn failed_outcome(wire: &WireCommand) -> Value {
    json!({
        "command_id": wire.command_id,
        "type": wire.kind.type_name(),
        "status": "rejected",
        "conversation_uid": wire.conversation_uid,
        "http_status": 500,
        "errors": [{"code": "internal_error", "message": "The command could not be processed"}],
    })
}

/// The outcome record: `{"command_id", "type", "status": "accepted", "conversation_uid",
/// "version", "events"}` or `{"command_id", "type", "status": "rejected", "conversation_uid",
/// "http_status", "errors"}`.
pub fn outcome(wire: &WireCommand, decision: &Result<Accepted, Rejection>) -> Value {
    match decision {
        Ok(accepted) => json!({
            "command_id": wire.command_id,
            "type": wire.kind.type_name(),
            "status": "accepted",
            "conversation_uid": accepted.state.uid,
            "version": accepted.state.version,
            "events": accepted.events.iter().map(|e| e.type_name()).collect::<Vec<_>>(),
        }),
        Err(rejection) => json!({
            "command_id": wire.command_id,
            "type": wire.kind.type_name(),
            "status": "rejected",
            "conversation_uid": wire.conversation_uid,
            "http_status": rejection.http_status(),
            "errors": rejection.errors(),
        }),
    }
}
