//! Commands from upstream services (spec §10), as `convo command` and the Kafka intake receive
//! them: each runs through the handler, idempotent by its `command_id`, and yields an outcome.

use chrono::Utc;
use convo_domain::wire::WireCommand;
use convo_domain::{Outcome, Rejection};
use convo_metrics::Outcome::Rejected;
use convo_metrics::Transport;
use convo_trace::TraceContext;
use serde_json::json;

use crate::error::StoreError;
use crate::handler::{Accepted, Answer, CommandHandler, Idempotency, Request};
use crate::store::Metadata;

/// Runs one command, as a span of `trace`, and returns its outcome; a redelivered `command_id`
/// returns the first one.
pub async fn execute(
    handler: &CommandHandler,
    wire: &WireCommand,
    trace: &TraceContext,
) -> Result<Outcome, StoreError> {
    let command = match wire.to_command(Utc::now()) {
        Ok(command) => command,
        // An invalid body never reaches the store, so a retry validates it again: same answer.
        Err(rejection) => {
            let status = rejection.http_status();
            convo_metrics::command(Transport::Kafka, wire.kind.type_label(), Rejected, status);
            return Ok(outcome(wire, &Err(rejection)));
        }
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
            trace: trace.child(),
        },
        idempotency: Some(Idempotency::new(
            format!("cmd:{}", wire.command_id),
            &[wire.canonical.as_bytes()],
        )),
        transport: Transport::Kafka,
    };
    let answered = wire.clone();
    let reply = handler
        .handle(&request, move |decision| Answer {
            status: decision
                .as_ref()
                .map_or_else(Rejection::http_status, |_| 200),
            body: serde_json::to_value(outcome(&answered, decision)).unwrap_or_default(),
        })
        .await?;
    // The body is an outcome this function stored (now, or for the first delivery).
    serde_json::from_value(reply.body).map_err(|e| StoreError::Corrupt {
        conversation_uid: wire.conversation_uid.clone(),
        reason: format!("stored outcome of {}: {e}", wire.command_id),
    })
}

/// The outcome of a command that kept failing for a reason retrying does not cure (the store
/// holds something this build cannot read, a constraint the command breaks): rejected with 500
/// `internal_error`, the details in the log only. Nothing was stored for it.
pub fn failed_outcome(wire: &WireCommand) -> Outcome {
    Outcome::Rejected {
        command_id: wire.command_id.clone(),
        kind: wire.kind.type_name().to_owned(),
        conversation_uid: wire.conversation_uid.clone(),
        http_status: 500,
        errors: vec![
            json!({"code": "internal_error", "message": "The command could not be processed"}),
        ],
    }
}

/// The outcome of a decision.
pub fn outcome(wire: &WireCommand, decision: &Result<Accepted, Rejection>) -> Outcome {
    let kind = wire.kind.type_name().to_owned();
    let command_id = wire.command_id.clone();
    match decision {
        Ok(accepted) => Outcome::Accepted {
            command_id,
            kind,
            conversation_uid: accepted.state.uid.clone(),
            version: accepted.state.version,
            events: accepted
                .events
                .iter()
                .map(|e| e.type_name().to_owned())
                .collect(),
        },
        Err(rejection) => Outcome::Rejected {
            command_id,
            kind,
            conversation_uid: wire.conversation_uid.clone(),
            http_status: rejection.http_status(),
            errors: rejection
                .errors()
                .iter()
                .map(|e| serde_json::to_value(e).expect("an error serializes"))
                .collect(),
        },
    }
}
