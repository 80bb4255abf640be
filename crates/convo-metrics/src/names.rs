//! The list of metrics: the one place their names, help and labels are spelt.

/// A Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric as `/metrics` shows it and `docs/metrics.md` documents it.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn metric(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    Metric {
        name,
        kind,
        labels,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};

pub(crate) const COMMANDS: Metric = metric(
    "convo_commands_total",
    Counter,
    &["transport", "type", "outcome", "status"],
    "Commands by how they arrived, their type, what became of them and the status of the answer.",
);
pub(crate) const VERSION_CONFLICTS: Metric = metric(
    "convo_version_conflicts_total",
    Counter,
    &["transport"],
    "Command transactions that found a concurrent writer had changed what they read.",
);
pub(crate) const COMMAND_RETRIES: Metric = metric(
    "convo_command_retries_total",
    Counter,
    &["transport"],
    "Command transactions run again after a retryable failure (race, serialization, deadlock).",
);
pub(crate) const APPEND_DURATION: Metric = metric(
    "convo_append_duration_seconds",
    Histogram,
    &[],
    "Time of a command transaction that appended events, from its start to its commit.",
);
pub(crate) const HTTP_REQUESTS: Metric = metric(
    "convo_http_requests_total",
    Counter,
    &["route", "method", "status"],
    "HTTP requests answered, by route template, method and status.",
);
pub(crate) const HTTP_REQUEST_DURATION: Metric = metric(
    "convo_http_request_duration_seconds",
    Histogram,
    &["route", "method"],
    "Time to answer an HTTP request, by route template and method.",
);
pub(crate) const RELAY_PUBLISHED: Metric = metric(
    "convo_relay_published_events_total",
    Counter,
    &[],
    "Events the relay published and the broker acknowledged.",
);
pub(crate) const RELAY_BATCHES: Metric = metric(
    "convo_relay_batches_total",
    Counter,
    &[],
    "Batches the relay published and the broker acknowledged.",
);
pub(crate) const RELAY_OLDEST_UNPUBLISHED_AGE: Metric = metric(
    "convo_relay_oldest_unpublished_age_seconds",
    Gauge,
    &[],
    "Seconds since the oldest committed event not yet published occurred (0: none waits).",
);
pub(crate) const RELAY_STALLED: Metric = metric(
    "convo_relay_stalled",
    Gauge,
    &[],
    "1 while the relay cannot publish an event or a guard stopped it, else 0.",
);
pub(crate) const PROJECTOR_POSITION: Metric = metric(
    "convo_projector_position",
    Gauge,
    &["model", "partition"],
    "Next offset of the events topic a projector reads, per partition it holds.",
);
pub(crate) const PROJECTOR_LAG: Metric = metric(
    "convo_projector_lag_events",
    Gauge,
    &["model", "partition"],
    "Events between a projector's position and the broker's high watermark, when the broker reports one at or above the position.",
);
pub(crate) const PROJECTOR_EVENTS: Metric = metric(
    "convo_projector_events_total",
    Counter,
    &["model"],
    "Events a projector took from the topic and applied (or found already applied).",
);
pub(crate) const PROJECTOR_PARKED: Metric = metric(
    "convo_projector_parked_conversations",
    Gauge,
    &["model"],
    "Conversations a projector has parked.",
);
pub(crate) const INTAKE_POSITION: Metric = metric(
    "convo_intake_position",
    Gauge,
    &["partition"],
    "Next offset of the commands topic the intake reads, as last stored, per partition it holds.",
);
pub(crate) const INTAKE_LAG: Metric = metric(
    "convo_intake_lag_events",
    Gauge,
    &["partition"],
    "Commands between the intake's stored position and the broker's high watermark, when the broker reports one at or above the position.",
);
pub(crate) const ROLE_RESTARTS: Metric = metric(
    "convo_role_restarts_total",
    Counter,
    &["role"],
    "Times a role of `convo serve` failed and was started again.",
);
pub(crate) const DEAD_LETTERS: Metric = metric(
    "convo_dead_letters_total",
    Counter,
    &["reason"],
    "Messages of the commands topic sent to the dead-letter topic, by why.",
);

/// Every metric, in the order `docs/metrics.md` lists them.
pub const ALL: &[Metric] = &[
    COMMANDS,
    VERSION_CONFLICTS,
    COMMAND_RETRIES,
    APPEND_DURATION,
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION,
    RELAY_PUBLISHED,
    RELAY_BATCHES,
    RELAY_OLDEST_UNPUBLISHED_AGE,
    RELAY_STALLED,
    PROJECTOR_POSITION,
    PROJECTOR_LAG,
    PROJECTOR_EVENTS,
    PROJECTOR_PARKED,
    INTAKE_POSITION,
    INTAKE_LAG,
    ROLE_RESTARTS,
    DEAD_LETTERS,
];
