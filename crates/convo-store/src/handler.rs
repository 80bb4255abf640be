//! The command handler: route a merged uid to its target, lock the conversation, load it, decide,
//! then append events, snapshot and outcome in one transaction. Commands that arrive together
//! share that transaction ([`crate::group`]); a merge, which changes two conversations, runs alone.
//!
//! Writers of one conversation are serialized by a transaction-scoped advisory lock, so any
//! number of service instances can take commands for the same conversation without lost updates;
//! the unique `(conversation_uid, version)` key stays as the safety net, and a race on it (or a
//! serialization failure) reruns the whole transaction, a bounded number of times.
//!
//! Every transaction reads everything it needs before its first write. That keeps each
//! conversation's versions in transaction-id order, which the relay relies on.

use std::sync::{Arc, OnceLock};

use convo_domain::command::Action;
use convo_domain::state::Lifecycle;
use convo_domain::{Command, Conversation, Event, Rejection, decide};
use convo_metrics::{Outcome, Transport};
use sqlx::{PgConnection, PgPool};
use tokio::time::Instant;

use crate::error::StoreError;
use crate::group::Committer;
use crate::store::{self, Append, Metadata, NewOutcome, StoredOutcome};

/// How many times a transaction is rerun after a retryable failure.
pub(crate) const MAX_ATTEMPTS: u32 = 8;
/// How many merge hops a command follows (a merge racing with it).
pub(crate) const MAX_REROUTES: u32 = 8;
/// Most group-commit workers, each holding one connection while it commits.
const MAX_WORKERS: u32 = 4;

/// Turns a decision into what the transport answers.
pub(crate) type AnswerFn = Box<dyn Fn(&Result<Accepted, Rejection>) -> Answer + Send + Sync>;

/// Makes a retried command return its first outcome (spec §9).
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Unique per caller (the transport namespaces it).
    pub key: String,
    /// Hash of the request; the same key with another hash is a conflict.
    pub request_hash: String,
}

impl Idempotency {
    /// A key with the hash of the parts that make up "the same request".
    pub fn new(key: String, request_parts: &[&[u8]]) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for part in request_parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        let request_hash = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self { key, request_hash }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub command: Command,
    pub metadata: Metadata,
    pub idempotency: Option<Idempotency>,
    /// How the command arrived (metrics label the commands with it).
    pub transport: Transport,
}

/// A command the aggregate accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The state after the command (the conversation the command was routed to).
    pub state: Conversation,
    /// The events appended (none when the command changed nothing).
    pub events: Vec<Event>,
}

/// What the transport answers: an HTTP status and body, or a Kafka outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

/// Runs commands; clones share one group-commit queue, started with the first command.
#[derive(Debug, Clone)]
pub struct CommandHandler {
    pool: PgPool,
    committer: Arc<OnceLock<Committer>>,
}

impl CommandHandler {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            committer: Arc::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs one command. `answer_with` turns the decision into what the transport answers; with an
    /// idempotency key, that answer is stored in the same transaction and returned to retries.
    /// Counts the command (with its outcome), the conflicts and retries it met (the group
    /// commit does, for commands other than merges).
    #[tracing::instrument(name = "command", skip_all, fields(
        conversation = %request.command.conversation_uid,
        business = %request.command.business_uid,
        staff = request.command.action.staff_uid(),
        command_id = %request.metadata.command_id,
        trace_id = %request.metadata.trace.trace_id(),
        span_id = %request.metadata.trace.span_id(),
    ))]
    pub async fn handle(
        &self,
        request: &Request,
        answer_with: impl Fn(&Result<Accepted, Rejection>) -> Answer + Send + Sync + 'static,
    ) -> Result<Answer, StoreError> {
        if !matches!(request.command.action, Action::MergeInto { .. }) {
            let committer = self.committer.get_or_init(|| {
                // Half the pool at most: requests that only read need connections too.
                let workers = (self.pool.options().get_max_connections() / 2).clamp(1, MAX_WORKERS);
                Committer::start(self.pool.clone(), workers as usize)
            });
            return committer
                .submit(request.clone(), Box::new(answer_with))
                .await;
        }
        let transport = request.transport;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.merge(request, &answer_with).await {
                Ok((answer, outcome)) => {
                    let kind = request.command.action.type_label();
                    convo_metrics::command(transport, kind, outcome, answer.status);
                    return Ok(answer);
                }
                Err(e) => e,
            };
            if !error.is_retryable() {
                return Err(error);
            }
            if error.is_conflict() {
                convo_metrics::version_conflict(transport);
            }
            if attempt >= MAX_ATTEMPTS {
                return Err(StoreError::Contended { attempts: attempt });
            }
            convo_metrics::command_retry(transport);
            tracing::debug!(attempt, %error, "retrying command");
        }
    }

    /// One attempt at a merge, in a transaction of its own.
    async fn merge(
        &self,
        request: &Request,
        answer_with: &impl Fn(&Result<Accepted, Rejection>) -> Answer,
    ) -> Result<(Answer, Outcome), StoreError> {
        let started = Instant::now();
        let mut tx = self.pool.begin().await?;
        let command = &request.command;
        let Action::MergeInto { target_uid } = &command.action else {
            unreachable!("only merges run alone");
        };
        let decision = merge(&mut tx, command, target_uid).await?;

        // Idempotency is checked after the conversation lock: a concurrent retry of the same key
        // on the same conversation waits here and then finds the first outcome.
        if let Some(idem) = &request.idempotency
            && let Some(first) = store::find_outcomes(&mut tx, std::slice::from_ref(&idem.key))
                .await?
                .remove(&idem.key)
        {
            tx.rollback().await?;
            let replay = if first.request_hash == idem.request_hash {
                let answer = Answer {
                    status: first.status,
                    body: first.body,
                };
                (answer, Outcome::Replayed)
            } else {
                let answer = answer_with(&Err(Rejection::conflict(
                    "this idempotency key was used with a different request",
                )));
                (answer, Outcome::Rejected)
            };
            return Ok(replay);
        }

        let mut appended = false;
        let decision = match decision {
            Decided::Accepted(writes) => {
                for write in &writes {
                    if write.events.is_empty() {
                        continue;
                    }
                    let append = Append {
                        uid: &write.before.uid,
                        expected: write.before.version,
                        events: &write.events,
                        business_uid: &command.business_uid,
                        metadata: &request.metadata,
                    };
                    store::append(&mut tx, &append, Some(&write.after)).await?;
                    appended = true;
                }
                if let [source, target] = &writes[..] {
                    store::insert_route(&mut tx, &source.before.uid, &target.before.uid).await?;
                }
                Ok(Accepted::from_writes(writes))
            }
            Decided::Rejected(rejection) => Err(rejection),
        };

        let answer = answer_with(&decision);
        if let Some(idem) = &request.idempotency {
            let (uid, version) = match &decision {
                Ok(a) => (a.state.uid.as_str(), Some(a.state.version)),
                Err(_) => (command.conversation_uid.as_str(), None),
            };
            let outcome = NewOutcome {
                command_id: idem.key.clone(),
                conversation_uid: uid.to_owned(),
                version,
                outcome: StoredOutcome {
                    request_hash: idem.request_hash.clone(),
                    status: answer.status,
                    body: answer.body.clone(),
                },
            };
            store::insert_outcomes(&mut tx, &[outcome]).await?;
        }
        tx.commit().await?;
        if appended {
            convo_metrics::append_duration(started.elapsed());
        }
        let outcome = outcome_of(&answer);
        Ok((answer, outcome))
    }
}

/// How a command that was decided (not replayed) counts: accepted when answered 2xx.
pub(crate) fn outcome_of(answer: &Answer) -> Outcome {
    if (200..300).contains(&answer.status) {
        Outcome::Accepted
    } else {
        Outcome::Rejected
    }
}

/// One conversation's part of a decision.
struct Write {
    before: Conversation,
    events: Vec<Event>,
    after: Conversation,
}

impl Write {
    fn new(before: Conversation, events: Vec<Event>) -> Self {
        let after = events.iter().fold(before.clone(), |s, e| s.evolve(e));
        Self {
            before,
            events,
            after,
        }
    }
}

/// What a merge does: one write per conversation it changes (the source, then the target), or a
/// rejection.
enum Decided {
    Accepted(Vec<Write>),
    Rejected(Rejection),
}

impl Accepted {
    /// The answer is the last conversation written (a merge answers with its target).
    fn from_writes(writes: Vec<Write>) -> Self {
        let events = writes
            .iter()
            .flat_map(|w| w.events.iter().cloned())
            .collect();
        let state = writes
            .into_iter()
            .next_back()
            .map(|w| w.after)
            .unwrap_or_default();
        Self { state, events }
    }
}

/// Spec §7: merge `command.conversation_uid` into the end of `target_uid`'s merge chain. Both
/// conversations are locked (in a fixed order, so two merges cannot deadlock) and change together.
async fn merge(
    conn: &mut PgConnection,
    command: &Command,
    target_uid: &str,
) -> Result<Decided, StoreError> {
    let source_uid = command.conversation_uid.as_str();
    let target = store::resolve_route(conn, target_uid).await?;
    let mut uids = [source_uid, target.as_str()];
    uids.sort_unstable();
    store::lock_conversation(conn, uids[0]).await?;
    if uids[1] != uids[0] {
        store::lock_conversation(conn, uids[1]).await?;
    }
    // Re-resolve under the locks: a merge of the target may have committed meanwhile.
    if store::resolve_route(conn, target_uid).await? != target {
        return Err(StoreError::Raced);
    }
    let source = store::load(conn, source_uid).await?;
    let into = Command {
        action: Action::MergeInto {
            target_uid: target.clone(),
        },
        ..command.clone()
    };
    let source_events = match decide(&source, &into) {
        Ok(events) => events,
        Err(rejection) => return Ok(Decided::Rejected(rejection)),
    };
    let target_state = store::load(conn, &target).await?;
    let absorb = Command {
        conversation_uid: target.clone(),
        action: Action::AbsorbMerged {
            source_uid: source_uid.to_owned(),
            message_count: source.message_count,
        },
        ..command.clone()
    };
    let target_events = match decide(&target_state, &absorb) {
        Ok(events) => events,
        Err(rejection) => return Ok(Decided::Rejected(rejection)),
    };
    Ok(Decided::Accepted(vec![
        Write::new(source, source_events),
        Write::new(target_state, target_events),
    ]))
}

/// Whether `state` can be addressed at all (used by GET, which runs no command).
pub fn visible_to(state: &Conversation, business_uid: &str) -> bool {
    matches!(state.lifecycle, Lifecycle::Open) && state.business_uid == business_uid
}
