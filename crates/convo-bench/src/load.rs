//! The HTTP load generator: PUTs that each flip `archived` on a conversation (so every one
//! appends an event), from outside the service process, with latencies in an HDR histogram
//! (microseconds, 3 significant digits).
//!
//! - [`closed_loop`]: a fixed number of connections, each sending its next PUT when the last
//!   was answered (W1). A conversation belongs to one connection, so its PUTs never overlap.
//! - [`open_loop`]: PUTs sent at a fixed rate whatever the answers; each latency is counted from
//!   the time the PUT was due, so a stalled service shows in the percentiles instead of slowing
//!   the load down (W2).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The conversations the load goes to, and whether each is archived now.
pub struct Conversations {
    uids: Vec<String>,
    archived: Vec<AtomicBool>,
}

impl Conversations {
    pub fn new(uids: Vec<String>) -> Arc<Self> {
        let archived = uids.iter().map(|_| AtomicBool::new(false)).collect();
        Arc::new(Self { uids, archived })
    }

    pub fn len(&self) -> usize {
        self.uids.len()
    }

    /// The path and body of the PUT that flips conversation `i`.
    pub fn flip(&self, i: usize) -> (String, String) {
        let archived = !self.archived[i].fetch_xor(true, Ordering::Relaxed);
        (
            format!("/v2/conversations/{}", self.uids[i]),
            format!(r#"{{"archived":{archived}}}"#),
        )
    }
}

/// Where the load goes: one base URL per service instance, and the staff token.
#[derive(Clone)]
pub struct Target {
    pub bases: Vec<String>,
    pub token: String,
    pub conversations: Arc<Conversations>,
}

/// What a load produced.
pub struct Outcome {
    /// PUTs answered 200.
    pub ok: u64,
    /// PUTs answered otherwise, or not at all; the first such answer.
    pub failed: u64,
    pub first_failure: Option<String>,
    pub seconds: f64,
    /// Latencies of the PUTs answered 200, in microseconds.
    pub latency: Histogram<u64>,
}

impl Outcome {
    fn new() -> Self {
        Self {
            ok: 0,
            failed: 0,
            first_failure: None,
            seconds: 0.0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
        }
    }

    fn record(&mut self, answer: Result<(), String>, latency: Duration) {
        match answer {
            Ok(()) => {
                self.ok += 1;
                self.latency.saturating_record(latency.as_micros() as u64);
            }
            Err(e) => {
                self.failed += 1;
                self.first_failure.get_or_insert(e);
            }
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
        self.latency.add(other.latency).expect("same bounds");
    }

    /// Answered PUTs per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    /// A latency percentile (0-100), in milliseconds.
    pub fn ms(&self, percentile: f64) -> f64 {
        self.latency.value_at_percentile(percentile) as f64 / 1000.0
    }

    /// An error naming the first failure, if any PUT failed.
    pub fn all_ok(&self) -> anyhow::Result<()> {
        match &self.first_failure {
            None => Ok(()),
            Some(e) => anyhow::bail!(
                "{} of {} PUTs failed, first: {e}",
                self.failed,
                self.failed + self.ok
            ),
        }
    }
}

async fn put(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: String,
) -> Result<(), String> {
    let answer = client
        .put(format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    let text = answer.bytes().await.map_err(|e| e.to_string())?;
    if status == 200 {
        Ok(())
    } else {
        Err(format!("{status}: {}", String::from_utf8_lossy(&text)))
    }
}

/// `connections` connections (spread over the target's instances) PUT one after another for
/// `duration`.
pub async fn closed_loop(target: &Target, connections: usize, duration: Duration) -> Outcome {
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let target = target.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("a client");
                let base = &target.bases[c % target.bases.len()];
                let mine: Vec<usize> = (c..target.conversations.len())
                    .step_by(connections)
                    .collect();
                let mut outcome = Outcome::new();
                for &i in mine.iter().cycle() {
                    if started.elapsed() >= duration {
                        break;
                    }
                    let (path, body) = target.conversations.flip(i);
                    let sent = Instant::now();
                    let answer = put(&client, base, &target.token, &path, body).await;
                    outcome.record(answer, sent.elapsed());
                }
                outcome
            })
        })
        .collect();
    let mut all = Outcome::new();
    for task in tasks {
        all.merge(task.await.expect("a load task does not panic"));
    }
    all.seconds = started.elapsed().as_secs_f64();
    all
}

/// PUTs at `rate` per second for `duration`, spread over the target's instances and
/// conversations in turn, whether or not earlier ones were answered.
pub async fn open_loop(target: &Target, rate: u32, duration: Duration) -> Outcome {
    let clients: Vec<reqwest::Client> = target
        .bases
        .iter()
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .build()
                .expect("a client")
        })
        .collect();
    let total = (rate as f64 * duration.as_secs_f64()) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let (done, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    for n in 0..total {
        let due = started + interval * n as u32;
        tokio::time::sleep_until(due.into()).await;
        let instance = n % clients.len();
        let (client, base) = (clients[instance].clone(), target.bases[instance].clone());
        let (path, body) = target.conversations.flip(n % target.conversations.len());
        let (token, done) = (target.token.clone(), done.clone());
        tokio::spawn(async move {
            let answer = put(&client, &base, &token, &path, body).await;
            let _ = done.send((answer, due.elapsed()));
        });
    }
    drop(done);
    let mut outcome = Outcome::new();
    while let Some((answer, latency)) = answers.recv().await {
        outcome.record(answer, latency);
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome
}
