//! Every Prometheus metric of the service, in one place: its name, help and labels ([`ALL`]), the
//! typed functions the other crates record with (no other crate spells a metric name), and the
//! exposition served at `/metrics` ([`render`]). `docs/metrics.md` documents the same list; a
//! test keeps the two equal.
//!
//! Recording goes through the `metrics` facade: before [`install`] it does nothing, so libraries
//! and command-line tools that never serve `/metrics` pay nothing. Label values are small fixed
//! sets (never a uid): a method outside the usual ones is `other`, an unmatched route `unmatched`.

mod names;

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use names::*;
pub use names::{ALL, Kind, Metric};

/// Bucket bounds of the `_seconds` histograms: 1 ms to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder; later calls (tests start several apps in one process)
/// return the same handle.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics stays empty");
        }
        for metric in ALL {
            let (name, help) = (metric.name, metric.help);
            match metric.kind {
                Kind::Counter => metrics::describe_counter!(name, help),
                Kind::Gauge => metrics::describe_gauge!(name, help),
                Kind::Histogram => metrics::describe_histogram!(name, help),
            }
        }
        handle
    })
}

/// The Prometheus text exposition of everything recorded so far.
pub fn render() -> String {
    let handle = install();
    handle.run_upkeep();
    handle.render()
}

/// How a command arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Http,
    /// The commands topic (and `convo command`, which runs the same path).
    Kafka,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Kafka => "kafka",
        }
    }
}

/// What became of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Rejected,
    /// A retry of an idempotent command answered with its first outcome.
    Replayed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Replayed => "replayed",
        }
    }
}

/// Why a message went to the dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetter {
    /// Larger than the intake takes.
    TooLarge,
    /// Not a command at all.
    Unparseable,
}

/// One command's end: `kind` is the command type (`update`, `start`...), `status` the HTTP-like
/// status of its answer.
pub fn command(transport: Transport, kind: &'static str, outcome: Outcome, status: u16) {
    counter!(COMMANDS.name,
        "transport" => transport.label(), "type" => kind,
        "outcome" => outcome.label(), "status" => status_label(status))
    .increment(1);
}

/// A command's transaction found that a concurrent writer changed what it read.
pub fn version_conflict(transport: Transport) {
    counter!(VERSION_CONFLICTS.name, "transport" => transport.label()).increment(1);
}

/// A command's transaction is run again after a retryable failure.
pub fn command_retry(transport: Transport) {
    counter!(COMMAND_RETRIES.name, "transport" => transport.label()).increment(1);
}

/// A command's transaction that appended events, from its start to its commit.
pub fn append_duration(elapsed: Duration) {
    histogram!(APPEND_DURATION.name).record(elapsed.as_secs_f64());
}

/// One HTTP request answered: `route` is the matched route template, `None` when none matched.
pub fn http_request(route: Option<&str>, method: &str, status: u16, elapsed: Duration) {
    let route = route.unwrap_or("unmatched").to_owned();
    let method = method_label(method);
    counter!(HTTP_REQUESTS.name,
        "route" => route.clone(), "method" => method, "status" => status_label(status))
    .increment(1);
    histogram!(HTTP_REQUEST_DURATION.name, "route" => route, "method" => method)
        .record(elapsed.as_secs_f64());
}

/// The relay had a batch of `events` acknowledged by the broker.
pub fn relay_batch(events: usize) {
    counter!(RELAY_BATCHES.name).increment(1);
    counter!(RELAY_PUBLISHED.name).increment(events as u64);
}

/// How long the oldest committed event not yet on the topic has waited (0: none waits).
pub fn relay_oldest_unpublished_age(age: Duration) {
    gauge!(RELAY_OLDEST_UNPUBLISHED_AGE.name).set(age.as_secs_f64());
}

pub fn relay_stalled(stalled: bool) {
    gauge!(RELAY_STALLED.name).set(if stalled { 1.0 } else { 0.0 });
}

/// The next offset a projector reads in a partition.
pub fn projector_position(model: &'static str, partition: i32, position: i64) {
    gauge!(PROJECTOR_POSITION.name, "model" => model, "partition" => partition.to_string())
        .set(position as f64);
}

/// Records between a projector's position and the broker's high watermark.
pub fn projector_lag(model: &'static str, partition: i32, behind: i64) {
    gauge!(PROJECTOR_LAG.name, "model" => model, "partition" => partition.to_string())
        .set(behind as f64);
}

/// Events a projector applied (or found already applied).
pub fn projector_events(model: &'static str, events: usize) {
    counter!(PROJECTOR_EVENTS.name, "model" => model).increment(events as u64);
}

/// Conversations parked by a projector.
pub fn projector_parked(model: &'static str, parked: i64) {
    gauge!(PROJECTOR_PARKED.name, "model" => model).set(parked as f64);
}

/// The next offset the intake reads in a partition, as stored.
pub fn intake_position(partition: i32, position: i64) {
    gauge!(INTAKE_POSITION.name, "partition" => partition.to_string()).set(position as f64);
}

/// Records between the intake's stored position and the broker's high watermark.
pub fn intake_lag(partition: i32, behind: i64) {
    gauge!(INTAKE_LAG.name, "partition" => partition.to_string()).set(behind as f64);
}

/// A role failed and is started again; `role` is its `--roles` name.
pub fn role_restart(role: &'static str) {
    counter!(ROLE_RESTARTS.name, "role" => role).increment(1);
}

pub fn dead_letter(reason: DeadLetter) {
    let reason = match reason {
        DeadLetter::TooLarge => "too_large",
        DeadLetter::Unparseable => "unparseable",
    };
    counter!(DEAD_LETTERS.name, "reason" => reason).increment(1);
}

/// Statuses are three digits; anything else (none is expected) is one label.
fn status_label(status: u16) -> String {
    if (100..=599).contains(&status) {
        status.to_string()
    } else {
        "other".to_owned()
    }
}

fn method_label(method: &str) -> &'static str {
    const KNOWN: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests;
