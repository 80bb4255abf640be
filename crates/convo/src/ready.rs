//! `/healthz` (the process answers) and `/readyz` (it can do its work: PostgreSQL answers, the
//! broker answers when a Kafka role runs here, the relay and the projectors are not too far behind
//! where they run, no role restarts in a loop). A background task runs the checks every [`INTERVAL`], each bounded
//! by a timeout; a request only reads the last report, so a hung dependency never hangs `/readyz`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clap::Args;
use convo_kafka::KafkaConfig;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::serve::Role;

/// How often the checks run.
const INTERVAL: Duration = Duration::from_secs(2);

/// What `/readyz` tolerates.
#[derive(Debug, Clone, Args)]
pub struct ReadyArgs {
    /// Seconds the oldest event the relay has not published may wait before /readyz answers 503
    /// (checked where the relay role runs).
    #[arg(long, env = "CONVO_READY_MAX_RELAY_LAG", default_value_t = 60)]
    pub ready_max_relay_lag: u64,
    /// Records of the events topic a projector may have left to apply (on its most behind
    /// partition) before /readyz answers 503 (checked where the projector role runs).
    #[arg(long, env = "CONVO_READY_MAX_PROJECTOR_LAG", default_value_t = 10_000)]
    pub ready_max_projector_lag: i64,
    /// Restarts of one role within --ready-restart-window that make it a restart loop (503).
    #[arg(long, env = "CONVO_READY_MAX_RESTARTS", default_value_t = 3)]
    pub ready_max_restarts: usize,
    /// Seconds over which role restarts are counted.
    #[arg(long, env = "CONVO_READY_RESTART_WINDOW", default_value_t = 300)]
    pub ready_restart_window: u64,
    /// Seconds a check may take before it counts as failed.
    #[arg(long, env = "CONVO_READY_CHECK_TIMEOUT", default_value_t = 2)]
    pub ready_check_timeout: u64,
}

/// When `serve`'s supervisor restarted each role. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Restarts(Arc<Mutex<BTreeMap<Role, VecDeque<Instant>>>>);

impl Restarts {
    pub fn record(&self, role: Role) {
        let mut roles = self.lock();
        let times = roles.entry(role).or_default();
        times.push_back(Instant::now());
        // Only the latest matter: a loop is `max` restarts within the window.
        while times.len() > 64 {
            times.pop_front();
        }
    }

    /// Roles restarted at least `max` times within the last `window`.
    pub fn looping(&self, max: usize, window: Duration) -> Vec<Role> {
        let now = Instant::now();
        let recent = |t: &&Instant| now.duration_since(**t) <= window;
        self.lock()
            .iter()
            .filter(|(_, times)| max > 0 && times.iter().filter(recent).count() >= max)
            .map(|(role, _)| *role)
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Role, VecDeque<Instant>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the checks need.
#[derive(Debug, Clone)]
pub struct Checks {
    pub pool: PgPool,
    /// The broker, when a Kafka role runs here.
    pub kafka: Option<KafkaConfig>,
    /// The relay's name, when the relay runs here.
    pub relay: Option<String>,
    /// The projectors' names, when the projector role runs here.
    pub projectors: Vec<String>,
    pub restarts: Restarts,
    pub limits: ReadyArgs,
}

impl Checks {
    /// Every check at once, each bounded by the timeout: `{"status": .., "checks": {name: {"ok": ..}}}`.
    async fn run(&self) -> Value {
        let timeout = Duration::from_secs(self.limits.ready_check_timeout);
        let postgres = bounded(timeout, async {
            match sqlx::query("SELECT 1").execute(&self.pool).await {
                Ok(_) => json!({"ok": true}),
                Err(e) => json!({"ok": false, "error": e.to_string()}),
            }
        });
        let broker = bounded(timeout, async {
            let kafka = self.kafka.as_ref()?;
            Some(match convo_kafka::topics::reachable(kafka, timeout).await {
                Ok(()) => json!({"ok": true}),
                Err(e) => json!({"ok": false, "error": e.to_string()}),
            })
        });
        let relay_lag = bounded(timeout, async {
            let relay = self.relay.as_ref()?;
            let limit = self.limits.ready_max_relay_lag as f64;
            Some(
                match convo_relay::status::oldest_unpublished_age(&self.pool, relay).await {
                    Ok(age) => json!({
                        "ok": age.is_none_or(|s| s <= limit),
                        "oldest_unpublished_seconds": age.unwrap_or(0.0),
                        "limit_seconds": limit,
                    }),
                    Err(e) => json!({"ok": false, "error": e.to_string()}),
                },
            )
        });
        let projector_lag = bounded(timeout, async {
            let kafka = self
                .kafka
                .as_ref()
                .filter(|_| !self.projectors.is_empty())?;
            let limit = self.limits.ready_max_projector_lag;
            Some(
                match convo_projector::control::status(&self.pool, kafka).await {
                    Ok(status) => projector_lag(&status, &self.projectors, limit),
                    Err(e) => json!({"ok": false, "error": e.to_string()}),
                },
            )
        });
        let (postgres, broker, relay_lag, projector_lag) =
            tokio::join!(postgres, broker, relay_lag, projector_lag);
        let window = Duration::from_secs(self.limits.ready_restart_window);
        let looping = self
            .restarts
            .looping(self.limits.ready_max_restarts, window);
        let names: Vec<String> = looping
            .iter()
            .map(|r| format!("{r:?}").to_lowercase())
            .collect();
        let roles = json!({"ok": names.is_empty(), "restart_loop": names});
        let mut checks = json!({"postgres": postgres, "roles": roles});
        let optional = [
            ("broker", broker),
            ("relay_lag", relay_lag),
            ("projector_lag", projector_lag),
        ];
        for (name, check) in optional {
            if let Some(check) = check {
                checks[name] = check;
            }
        }
        report(checks)
    }
}

/// The check of `projectors`' lag: each one's most behind partition (records between its position
/// and the high watermark; a partition the broker gave no watermark for is left out) within `limit`.
fn projector_lag(
    status: &[convo_projector::control::ProjectionStatus],
    projectors: &[String],
    limit: i64,
) -> Value {
    let behind: BTreeMap<&str, i64> = status
        .iter()
        .filter(|p| projectors.contains(&p.name))
        .map(|p| {
            let most = p.partitions.iter().filter_map(|q| q.behind).max();
            (p.name.as_str(), most.unwrap_or(0))
        })
        .collect();
    let ok = behind.values().all(|b| *b <= limit);
    json!({"ok": ok, "behind_events": behind, "limit_events": limit})
}

/// `check`'s answer, or a failed check when it takes longer than `timeout`.
async fn bounded<T: Into<Option<Value>>>(
    timeout: Duration,
    check: impl Future<Output = T>,
) -> Option<Value> {
    match tokio::time::timeout(timeout, check).await {
        Ok(answer) => answer.into(),
        Err(_) => Some(json!({"ok": false, "error": format!("no answer within {timeout:?}")})),
    }
}

fn report(checks: Value) -> Value {
    let ready = checks
        .as_object()
        .is_some_and(|c| c.values().all(|check| check["ok"] == true));
    let status = if ready { "ready" } else { "not_ready" };
    json!({"status": status, "checks": checks})
}

/// The last report, shared between the checks and the handlers. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<Mutex<Value>>);

impl Default for Readiness {
    fn default() -> Self {
        let starting = json!({"starting": {"ok": false, "error": "not checked yet"}});
        Self(Arc::new(Mutex::new(report(starting))))
    }
}

impl Readiness {
    fn get(&self) -> Value {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stores `report`, logging when the status changes.
    fn set(&self, report: Value) {
        let mut last = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if last["status"] != report["status"] {
            match report["status"].as_str() {
                Some("ready") => tracing::info!("ready"),
                _ => tracing::warn!(checks = %report["checks"], "not ready"),
            }
        }
        *last = report;
    }
}

/// Runs the checks every [`INTERVAL`] until shutdown, which makes the process not ready.
pub async fn run(checks: Checks, readiness: Readiness, shutdown: CancellationToken) {
    loop {
        readiness.set(checks.run().await);
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            () = shutdown.cancelled() => break,
        }
    }
    readiness.set(report(json!({"stopping": {"ok": false}})));
}

/// `GET /healthz` and `GET /readyz`, for every `convo serve` process whatever its roles.
pub fn routes(readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({"status": "alive"})) }),
        )
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

/// 200 with the last report when every check passed, else 503 with it (the failed checks have
/// `"ok": false` and an `error` or the figures that broke the limit).
async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, Json<Value>) {
    let report = readiness.get();
    let status = match report["status"].as_str() {
        Some("ready") => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_restarted_max_times_within_the_window_is_in_a_restart_loop() {
        let restarts = Restarts::default();
        let window = Duration::from_secs(60);
        restarts.record(Role::Relay);
        restarts.record(Role::Relay);
        restarts.record(Role::Intake);
        assert_eq!(restarts.looping(3, window), []);
        restarts.record(Role::Relay);
        assert_eq!(restarts.looping(3, window), [Role::Relay]);
        assert_eq!(
            restarts.looping(3, Duration::ZERO),
            [],
            "outside the window"
        );
        assert_eq!(restarts.looping(0, window), [], "0 turns the check off");
    }

    #[test]
    fn a_projector_further_behind_than_the_limit_on_any_partition_fails_the_check() {
        use convo_projector::control::{PartitionStatus, ProjectionStatus};
        let partition = |partition, behind| PartitionStatus {
            partition,
            position: 0,
            behind,
            owner: None,
            leased: false,
            lease_expires_at: None,
            parked: 0,
            applied_at: None,
        };
        let projection = |name: &str, partitions| ProjectionStatus {
            name: name.to_owned(),
            topic: "events".to_owned(),
            live_members: 1,
            parked: 0,
            partitions,
        };
        let status = [
            projection(
                "conversations",
                vec![partition(0, Some(3)), partition(1, None)],
            ),
            projection("elsewhere", vec![partition(0, Some(500))]),
        ];
        let here = ["conversations".to_owned()];
        let check = projector_lag(&status, &here, 3);
        assert_eq!(check["ok"], true, "{check}");
        assert!(
            check["behind_events"].get("elsewhere").is_none(),
            "not run here"
        );
        let check = projector_lag(&status, &here, 2);
        assert_eq!(check["ok"], false);
        assert_eq!(check["behind_events"]["conversations"], 3);
    }

    #[test]
    fn the_report_is_ready_only_when_every_check_passed() {
        let ok = json!({"ok": true});
        let failed = json!({"ok": false, "error": "connection refused"});
        assert_eq!(
            report(json!({"postgres": ok, "roles": ok}))["status"],
            "ready"
        );
        let report = report(json!({"postgres": failed, "roles": ok}));
        assert_eq!(report["status"], "not_ready");
        assert_eq!(report["checks"]["postgres"]["error"], "connection refused");
    }
}
