//! What the relay is doing, for health checks and `convo verify`: in memory for the process that
//! runs it ([`RelayStatus`]), and in `relay_positions` for every other process ([`StoredRelay`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// Why the relay is not publishing, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    pub since: DateTime<Utc>,
    /// The event the relay cannot get past, when one is to blame (a refused record); `None` when
    /// a guard stopped the relay before it published anything.
    pub event: Option<StalledEvent>,
    pub reason: String,
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.event {
            Some(event) => write!(f, "{event}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// The first event not yet on the topic, which the relay could not publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StalledEvent {
    pub event_id: Uuid,
    pub conversation_uid: String,
    pub version: u64,
    /// Payload bytes as published.
    pub bytes: usize,
}

impl std::fmt::Display for StalledEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event {} ({} v{}, {} bytes)",
            self.event_id, self.conversation_uid, self.version, self.bytes
        )
    }
}

/// A snapshot of the relay in this process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayState {
    /// This process holds the leader lock: it is the one publishing.
    pub leader: bool,
    /// Set while the relay cannot publish; cleared by the next acknowledged batch.
    pub stalled: Option<Stall>,
    /// When a batch was last acknowledged by the broker (by this process).
    pub last_published_at: Option<DateTime<Utc>>,
    /// When the oldest committed event not yet published occurred, as the leader last read it
    /// (`None`: nothing waited, or not the leader).
    pub oldest_unpublished: Option<DateTime<Utc>>,
}

/// The relay's state, shared between the relay task and whoever reports on it (`/readyz`).
/// Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct RelayStatus(Arc<Mutex<RelayState>>);

impl RelayStatus {
    pub fn get(&self) -> RelayState {
        self.lock().clone()
    }

    pub fn is_stalled(&self) -> bool {
        self.lock().stalled.is_some()
    }

    pub(crate) fn set_leader(&self, leader: bool) {
        self.lock().leader = leader;
    }

    /// A batch was acknowledged: not stalled any more. Returns the stall that ended, if any.
    pub(crate) fn published(&self) -> Option<Stall> {
        let mut state = self.lock();
        state.last_published_at = Some(Utc::now());
        convo_metrics::relay_stalled(false);
        state.stalled.take()
    }

    /// What the leader read next: the first event not yet published, if any.
    pub(crate) fn waiting(&self, oldest: Option<DateTime<Utc>>) {
        self.lock().oldest_unpublished = oldest;
        self.report_age();
    }

    /// Sets the age metric from the oldest unpublished event last read.
    pub(crate) fn report_age(&self) {
        let oldest = self.lock().oldest_unpublished;
        let age = oldest.map_or(Duration::ZERO, |at| {
            (Utc::now() - at).to_std().unwrap_or(Duration::ZERO)
        });
        convo_metrics::relay_oldest_unpublished_age(age);
    }

    /// Records a stall; one that goes on (the same event, or the same guard) keeps its `since`.
    pub(crate) fn stall(&self, event: Option<StalledEvent>, reason: String) -> Stall {
        let mut state = self.lock();
        let since = match &state.stalled {
            Some(previous) if previous.event == event => previous.since,
            _ => Utc::now(),
        };
        let stall = Stall {
            since,
            event,
            reason,
        };
        state.stalled = Some(stall.clone());
        convo_metrics::relay_stalled(true);
        stall
    }

    /// Ends a stall that was not about an event (a guard that now passes).
    pub(crate) fn clear_guard_stall(&self) -> Option<Stall> {
        let mut state = self.lock();
        if state.stalled.as_ref().is_some_and(|s| s.event.is_none()) {
            convo_metrics::relay_stalled(false);
            return state.stalled.take();
        }
        None
    }

    fn lock(&self) -> MutexGuard<'_, RelayState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A relay's row in `relay_positions`, as any process can read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRelay {
    pub relay: String,
    /// Everything at or before `(tx_id, position)` is on the topic.
    pub tx_id: String,
    pub position: i64,
    /// Events published since the row was created.
    pub published: i64,
    /// When the position was last stored.
    pub updated_at: DateTime<Utc>,
    /// The cluster the position belongs to (`pg_control_system()`); `None` until checked.
    pub system_identifier: Option<i64>,
    pub stalled_since: Option<DateTime<Utc>>,
    pub stalled_reason: Option<String>,
}

/// Every relay's stored row, by name.
pub async fn stored<'e>(db: impl PgExecutor<'e>) -> Result<Vec<StoredRelay>, sqlx::Error> {
    sqlx::query_as!(
        StoredRelay,
        r#"SELECT relay, tx_id::text AS "tx_id!", position, published, updated_at,
                  system_identifier, stalled_since, stalled_reason
           FROM relay_positions ORDER BY relay"#
    )
    .fetch_all(db)
    .await
}

/// Seconds since the first event `relay` has not published yet was recorded (`None`: it has
/// published everything committed). Events of transactions still open do not count.
pub async fn oldest_unpublished_age<'e>(
    db: impl PgExecutor<'e>,
    relay: &str,
) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH r AS (SELECT tx_id, position FROM relay_positions WHERE relay = $1),
              p AS (SELECT coalesce((SELECT tx_id FROM r), '0'::xid8) AS tx_id,
                           coalesce((SELECT position FROM r), 0) AS position)
         SELECT extract(epoch FROM clock_timestamp() - e.recorded_at)::float8
         FROM events e, p
         WHERE (e.tx_id, e.position) > (p.tx_id, p.position)
           AND e.tx_id < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY e.tx_id, e.position
         LIMIT 1",
    )
    .bind(relay.to_owned())
    .fetch_optional(db)
    .await
}

/// Logs a failure that repeats at most once per interval, with how many were left out.
#[derive(Debug)]
pub(crate) struct LogThrottle {
    interval: Duration,
    last: Option<(Instant, String)>,
    suppressed: u32,
}

impl LogThrottle {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(repeats left out since it was last logged)` when `message` should be logged now:
    /// it differs from the last one logged, or the interval has passed.
    pub(crate) fn admit(&mut self, message: &str) -> Option<u32> {
        self.admit_at(message, Instant::now())
    }

    fn admit_at(&mut self, message: &str, now: Instant) -> Option<u32> {
        let (due, left_out) = match &self.last {
            Some((at, last)) if last == message => {
                (now.duration_since(*at) >= self.interval, self.suppressed)
            }
            _ => (true, 0),
        };
        if !due {
            self.suppressed += 1;
            return None;
        }
        self.last = Some((now, message.to_owned()));
        self.suppressed = 0;
        Some(left_out)
    }

    /// The failures are over: the next one is logged at once.
    pub(crate) fn reset(&mut self) {
        self.last = None;
        self.suppressed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeating_failure_is_logged_once_per_interval() {
        let mut throttle = LogThrottle::new(Duration::from_secs(30));
        let start = Instant::now();
        // A retry every 0.7 s for a minute: the first is logged, then one line per 30 s.
        let logged: Vec<(u64, u32)> = (0..86)
            .filter_map(|i| {
                let at = start + Duration::from_millis(700 * i);
                throttle
                    .admit_at("refused", at)
                    .map(|left_out| (i, left_out))
            })
            .collect();
        assert_eq!(logged, [(0, 0), (43, 42)]);
        assert_eq!(throttle.admit_at("another failure", start), Some(0));
    }

    #[test]
    fn a_stall_on_the_same_event_keeps_its_start() {
        let status = RelayStatus::default();
        let event = StalledEvent {
            event_id: Uuid::nil(),
            conversation_uid: "c".into(),
            version: 3,
            bytes: 2_000_000,
        };
        let first = status.stall(Some(event.clone()), "too large".into());
        let again = status.stall(Some(event), "too large".into());
        assert_eq!(first.since, again.since);
        assert!(status.is_stalled());
        assert_eq!(status.clear_guard_stall(), None, "an event stall stays");
        assert!(status.published().is_some());
        assert!(!status.is_stalled());
    }
}
