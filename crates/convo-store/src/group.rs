//! Group commit: commands that arrive together share one transaction. A few workers take
//! whatever commands are queued (up to [`MAX_BATCH`]) and run them as one: one statement locks
//! every conversation they address, one loads them all, the aggregate decides each command in
//! arrival order (a later command on the same conversation sees the earlier one's events), one
//! statement appends every event and snapshot, one stores the idempotency outcomes, one commit
//! (one fsync). Each command keeps its own outcome; the answers are sent after the commit.
//!
//! A batch that fails for a reason a rerun may cure (a unique-key race, a deadlock) is rerun as
//! a whole; one that fails otherwise is split, each command rerun alone, so a command that cannot
//! be stored fails by itself and not its neighbours. A command that finds its conversation merged
//! meanwhile is rerun after the commit, following the new route. Merges themselves lock two
//! conversations and run alone ([`crate::handler`]).

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use convo_domain::{Conversation, Rejection, decide};
use convo_metrics::Outcome;
use lru::LruCache;
use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::Instant;

use crate::ACQUIRE_TIMEOUT;
use crate::error::StoreError;
use crate::handler::{Accepted, Answer, AnswerFn, MAX_ATTEMPTS, MAX_REROUTES, Request, outcome_of};
use crate::store::{self, Append, NewOutcome, StoredOutcome};

/// Starts a batch's transaction. Generic plans: the batch's statements take arrays, and
/// PostgreSQL would otherwise plan each anew at every execution (custom plans: about 0.4 ms of
/// planning each, more than they take to run).
const BEGIN: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";
/// Most commands in one transaction.
const MAX_BATCH: usize = 128;
/// The least a batch waits for a connection, however long its commands were queued.
const MIN_WAIT: Duration = Duration::from_millis(100);
/// Commands waiting for a worker; callers wait to queue beyond this.
const QUEUE: usize = 1024;
/// A conversation's snapshot is rewritten once it is this many events behind: loads then fold at
/// most this many events, and most commands write no snapshot at all.
pub const SNAPSHOT_EVERY: u64 = 16;

/// One queued command and where its answer goes.
struct Job {
    request: Request,
    answer_with: AnswerFn,
    reply: oneshot::Sender<Result<Answer, StoreError>>,
    /// Merge routes followed so far (a command rerun after finding its conversation merged).
    reroutes: u32,
    /// When it was queued: it waits for a connection at most [`ACQUIRE_TIMEOUT`] from then, the
    /// time in the queue included, as a command running alone would.
    queued: Instant,
}

/// The queue in front of the workers; dropping the last clone stops them.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    queue: mpsc::Sender<Job>,
}

/// Conversations most recently written, each as it was after the write. A cached state only
/// saves reading and decoding: the load under the conversation's lock reads the events after it
/// (and checks it leads to the stored head), so one that is stale (another instance wrote since)
/// costs nothing but those events.
type Cache = Arc<std::sync::Mutex<LruCache<String, Conversation>>>;

/// Conversations the cache holds (a few KB each).
const CACHED: usize = 4096;

impl Committer {
    /// Starts `workers` workers on `pool` (each holds one connection while it commits a batch).
    pub(crate) fn start(pool: PgPool, workers: usize) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        let capacity = NonZeroUsize::new(CACHED).expect("a cache holds something");
        let cache: Cache = Arc::new(std::sync::Mutex::new(LruCache::new(capacity)));
        for _ in 0..workers.max(1) {
            tokio::spawn(work(pool.clone(), jobs.clone(), cache.clone()));
        }
        Self { queue }
    }

    /// Runs `request` in the next batch; resolves once that batch committed (or failed).
    pub(crate) async fn submit(
        &self,
        request: Request,
        answer_with: AnswerFn,
    ) -> Result<Answer, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            request,
            answer_with,
            reply,
            reroutes: 0,
            queued: Instant::now(),
        };
        self.queue.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// What a caller gets when its batch's task ended without answering (it panicked).
fn stopped() -> StoreError {
    StoreError::Database(sqlx::Error::WorkerCrashed)
}

/// Takes the queued commands, a batch at a time, until the queue closes. A batch runs in a task
/// of its own, so a panic fails that batch's callers and not the worker.
async fn work(pool: PgPool, queue: Arc<Mutex<mpsc::Receiver<Job>>>, cache: Cache) {
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        let _ = tokio::spawn(commit(pool.clone(), batch, cache.clone())).await;
    }
}

/// Commits `batch` and answers each job: reruns a batch that raced, splits one that failed.
/// Counts each command with its outcome, and the conflicts and retries each met.
async fn commit(pool: PgPool, mut batch: Vec<Job>, cache: Cache) {
    while !batch.is_empty() {
        let mut attempt = 0;
        let started = Instant::now();
        let steps = loop {
            attempt += 1;
            let e = match run(&pool, &batch, &cache).await {
                Ok(steps) => break steps,
                Err(e) => e,
            };
            for job in batch.iter().filter(|_| e.is_conflict()) {
                convo_metrics::version_conflict(job.request.transport);
            }
            match e {
                e if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    for job in &batch {
                        convo_metrics::command_retry(job.request.transport);
                    }
                    tracing::debug!(attempt, error = %e, commands = batch.len(), "retrying batch");
                }
                e if batch.len() > 1 && !e.is_unavailable() => {
                    tracing::debug!(error = %e, commands = batch.len(), "batch failed; running its commands one by one");
                    let alone: Vec<_> = batch
                        .into_iter()
                        .map(|job| tokio::spawn(alone(pool.clone(), job, cache.clone())))
                        .collect();
                    for task in alone {
                        let _ = task.await;
                    }
                    return;
                }
                e if batch.len() > 1 => {
                    // The database is unreachable: every command fails alike, at once.
                    for job in batch {
                        let _ = job
                            .reply
                            .send(Err(StoreError::Database(sqlx::Error::PoolTimedOut)));
                    }
                    tracing::debug!(error = %e, "batch failed: database unavailable");
                    return;
                }
                e => {
                    let e = if e.is_retryable() {
                        StoreError::Contended { attempts: attempt }
                    } else {
                        e
                    };
                    if let Some(job) = batch.pop() {
                        let _ = job.reply.send(Err(e));
                    }
                    return;
                }
            }
        };
        let elapsed = started.elapsed();
        let mut rerouted = Vec::new();
        for (mut job, step) in batch.into_iter().zip(steps) {
            match step {
                Step::Answered(answer, outcome) => {
                    let kind = job.request.command.action.type_label();
                    convo_metrics::command(job.request.transport, kind, outcome, answer.status);
                    let _ = job.reply.send(Ok(answer));
                }
                Step::Appended(answer) => {
                    let kind = job.request.command.action.type_label();
                    convo_metrics::command(
                        job.request.transport,
                        kind,
                        Outcome::Accepted,
                        answer.status,
                    );
                    convo_metrics::append_duration(elapsed);
                    let _ = job.reply.send(Ok(answer));
                }
                Step::Rerouted if job.reroutes < MAX_REROUTES => {
                    job.reroutes += 1;
                    job.queued = Instant::now();
                    rerouted.push(job);
                }
                Step::Rerouted => {
                    let answer = (job.answer_with)(&Err(Rejection::NotFound));
                    let _ = job.reply.send(Ok(answer));
                }
            }
        }
        batch = rerouted;
    }
}

/// [`commit`] of one job, boxed: `commit` calls it for the commands of a batch it splits.
fn alone(pool: PgPool, mut job: Job, cache: Cache) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    job.queued = Instant::now();
    Box::pin(commit(pool, vec![job], cache))
}

/// What became of one command of a committed batch.
enum Step {
    /// Answered without appending anything (a rejection, a replay, a command that changed
    /// nothing), with how it counts.
    Answered(Answer, Outcome),
    /// Its events were appended.
    Appended(Answer),
    /// Its conversation was merged after the route was read: run it again.
    Rerouted,
}

/// One transaction for the whole batch; the steps are in the batch's order.
async fn run(pool: &PgPool, batch: &[Job], cache: &Cache) -> Result<Vec<Step>, StoreError> {
    // The oldest command decides how long the batch may wait for a connection (a rerun after a
    // race gets a moment at least).
    let queued = batch
        .iter()
        .map(|job| job.queued)
        .min()
        .unwrap_or_else(Instant::now);
    let wait = (queued + ACQUIRE_TIMEOUT).saturating_duration_since(Instant::now());
    let connection = tokio::time::timeout(wait.max(MIN_WAIT), pool.acquire()).await;
    let mut connection =
        connection.map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))??;
    let mut tx = sqlx::Connection::begin_with(&mut *connection, BEGIN).await?;
    let mut inputs: Vec<String> = batch
        .iter()
        .map(|job| job.request.command.conversation_uid.clone())
        .collect();
    inputs.sort_unstable();
    inputs.dedup();
    let routes = store::resolve_and_lock_all(&mut tx, &inputs).await?;
    let mut targets: Vec<String> = routes.values().cloned().collect();
    targets.sort_unstable();
    targets.dedup();
    // Taken out of the cache under the locks; put back once committed.
    let known = {
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        targets
            .iter()
            .map(|uid| cache.pop(uid).unwrap_or_else(|| Conversation::new(uid)))
            .collect()
    };
    let mut states = store::load_all(&mut tx, known).await?;
    let keys: Vec<String> = batch
        .iter()
        .filter_map(|job| job.request.idempotency.as_ref().map(|i| i.key.clone()))
        .collect();
    let mut outcomes = if keys.is_empty() {
        HashMap::new()
    } else {
        store::find_outcomes(&mut tx, &keys).await?
    };

    let mut decided = Decided::default();
    let steps = batch
        .iter()
        .enumerate()
        .map(|(index, job)| {
            let uid = &routes[&job.request.command.conversation_uid];
            let loaded = states.get_mut(uid).expect("load_all loads every uid");
            decided.decide(index, job, &mut loaded.state, &mut outcomes)
        })
        .collect();

    let appends: Vec<Append<'_>> = decided
        .writes
        .iter()
        .map(|(job, expected, events, uid)| {
            let request = &batch[*job].request;
            Append {
                uid,
                expected: *expected,
                events,
                business_uid: &request.command.business_uid,
                metadata: &request.metadata,
            }
        })
        .collect();
    let snapshots: Vec<&Conversation> = states
        .values()
        .filter(|l| l.state.version >= l.snapshot_version + SNAPSHOT_EVERY)
        .map(|l| &l.state)
        .collect();
    if !appends.is_empty() {
        store::append_all(&mut tx, &appends, &snapshots).await?;
    }
    store::insert_outcomes(&mut tx, &decided.outcomes).await?;
    tx.commit().await?;
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    for (uid, loaded) in states {
        cache.put(uid, loaded.state);
    }
    Ok(steps)
}

/// The writes and outcomes of a batch, as its commands are decided.
#[derive(Default)]
struct Decided {
    /// (index of the job, version before, events, conversation).
    writes: Vec<(usize, u64, Vec<convo_domain::Event>, String)>,
    outcomes: Vec<NewOutcome>,
}

impl Decided {
    /// Decides the batch's `index`th job on `state` (advanced by its events), with `stored` the
    /// outcomes of the batch's idempotency keys so far.
    fn decide(
        &mut self,
        index: usize,
        job: &Job,
        state: &mut Conversation,
        stored: &mut HashMap<String, StoredOutcome>,
    ) -> Step {
        let request = &job.request;
        if let Some(idem) = &request.idempotency
            && let Some(first) = stored.get(&idem.key)
        {
            if first.request_hash == idem.request_hash {
                let answer = Answer {
                    status: first.status,
                    body: first.body.clone(),
                };
                return Step::Answered(answer, Outcome::Replayed);
            }
            let conflict =
                Rejection::conflict("this idempotency key was used with a different request");
            return Step::Answered((job.answer_with)(&Err(conflict)), Outcome::Rejected);
        }
        let routed = convo_domain::Command {
            conversation_uid: state.uid.clone(),
            ..request.command.clone()
        };
        let mut appended = false;
        let decision = match decide(state, &routed) {
            Ok(events) => {
                let before = state.version;
                let after = events.iter().fold(state.clone(), |s, e| s.evolve(e));
                *state = after.clone();
                if !events.is_empty() {
                    let uid = state.uid.clone();
                    self.writes.push((index, before, events.clone(), uid));
                    appended = true;
                }
                Ok(Accepted {
                    state: after,
                    events,
                })
            }
            Err(Rejection::Merged { .. }) => return Step::Rerouted,
            Err(rejection) => Err(rejection),
        };
        let answer = (job.answer_with)(&decision);
        if let Some(idem) = &request.idempotency {
            let (uid, version) = match &decision {
                Ok(a) => (a.state.uid.clone(), Some(a.state.version)),
                Err(_) => (request.command.conversation_uid.clone(), None),
            };
            let outcome = StoredOutcome {
                request_hash: idem.request_hash.clone(),
                status: answer.status,
                body: answer.body.clone(),
            };
            stored.insert(idem.key.clone(), outcome.clone());
            self.outcomes.push(NewOutcome {
                command_id: idem.key.clone(),
                conversation_uid: uid,
                version,
                outcome,
            });
        }
        if appended {
            Step::Appended(answer)
        } else {
            let outcome = outcome_of(&answer);
            Step::Answered(answer, outcome)
        }
    }
}
