//! One round: load, each scenario once at a random moment (in random order), then the checks.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::load::{Load, put_once};
use super::service::broker_outage;
use super::{ALL_ROLES, BOUND, PROBE_LIMIT, Recovery, Scenario, Suite, probe};

impl Suite {
    pub async fn round(&mut self, round: u32) {
        eprintln!("[chaos] round {round}");
        self.figures.rounds = round;
        let seed = self.rng.below(u64::MAX);
        let load = Load::start(&self.ledger, &self.apis, &self.kafka, &self.uids, seed);
        let mut order = self.scenarios.clone();
        for i in (1..order.len()).rev() {
            order.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        for scenario in order {
            tokio::time::sleep(self.rng.millis(1000, 5000)).await;
            self.fault(round, scenario).await;
            self.restart_crashed().await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        load.stop().await;
        self.check(round).await;
    }

    /// Injects `scenario`, measures recovery, restores the two-instance topology.
    async fn fault(&mut self, round: u32, scenario: Scenario) {
        eprintln!("[chaos] round {round}: {}", scenario.name());
        let outage_before = self.ledger.during_db_outage.lock().unwrap().len();
        let (detail, since) = match scenario {
            Scenario::KillAll => {
                for instance in &mut self.instances {
                    instance.kill();
                }
                self.apis.lock().unwrap().clear();
                let since = Instant::now();
                self.instances.clear();
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.spawn(ALL_ROLES).await;
                self.spawn(ALL_ROLES).await;
                (
                    "kill -9 of both instances, restarted after 1 s".to_owned(),
                    since,
                )
            }
            Scenario::KillOne => {
                let mut victim = self.instances.remove(self.instances.len() - 1);
                self.forget_api(&victim);
                victim.kill();
                (
                    format!("kill -9 of {} (one of two)", victim.name),
                    Instant::now(),
                )
            }
            Scenario::ScaleOut => {
                self.spawn("projector,intake").await;
                (
                    "a third instance (projector,intake) joined".to_owned(),
                    Instant::now(),
                )
            }
            Scenario::BrokerRestart => {
                let length = self.rng.millis(2000, 5000);
                let restart = std::env::var("CONVO_CHAOS_BROKER_RESTART").is_ok_and(|v| v == "1");
                let how = broker_outage(&mut self.broker, length, restart).await;
                (format!("broker {how} after {length:?}"), Instant::now())
            }
            Scenario::DbRestart => {
                // Requests are judged from the moment the server is gone until it is started.
                self.cluster.stop();
                self.ledger.db_down.store(true, Ordering::SeqCst);
                let outage = Duration::from_secs(3);
                let asked = outage_requests(&self.ledger, &self.apis, outage);
                tokio::time::sleep(outage).await;
                self.ledger.db_down.store(false, Ordering::SeqCst);
                asked.await.ok();
                self.cluster.restart();
                (
                    "PostgreSQL stopped for 3 s, restarted".to_owned(),
                    Instant::now(),
                )
            }
        };
        let took = probe::recovery(
            &self.ledger,
            &self.kafka,
            &self.pool,
            &self.probes,
            since,
            PROBE_LIMIT,
        )
        .await;
        self.record(round, scenario, detail, &took);
        if scenario == Scenario::DbRestart {
            self.check_outage_answers(outage_before);
        }
        self.restore(scenario).await;
    }

    fn record(&mut self, round: u32, scenario: Scenario, detail: String, took: &probe::Took) {
        let secs = |t: &[Option<Duration>]| -> Vec<Option<f64>> {
            t.iter()
                .map(|t| t.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0))
                .collect()
        };
        let (partitions, answered) = (secs(&took.projected), secs(&took.answered));
        for (p, t) in took.projected.iter().enumerate() {
            match t {
                Some(t) if *t <= BOUND => {}
                Some(t) => self.fail(format!(
                    "round {round} {}: partition {p} consumed again only after {t:.1?} (bound {BOUND:?})",
                    scenario.name()
                )),
                None => self.fail(format!(
                    "round {round} {}: partition {p} not consumed again within {PROBE_LIMIT:?}",
                    scenario.name()
                )),
            }
        }
        eprintln!(
            "[chaos]   {detail}: answered after {answered:?}, projected after {partitions:?} (s, per partition)"
        );
        self.figures.recoveries.push(Recovery {
            round,
            scenario,
            detail,
            answered,
            partitions,
        });
    }

    /// Requests sent while PostgreSQL was down were answered quickly (the pool's acquire timeout,
    /// plus half a second for the round trip), none hung: with 503, or with 200 when PostgreSQL
    /// was back before that wait ran out (a request sent just before it restarted).
    fn check_outage_answers(&mut self, from: usize) {
        let answers: Vec<(u16, f64)> =
            self.ledger.during_db_outage.lock().unwrap()[from..].to_vec();
        let limit = convo_store::ACQUIRE_TIMEOUT.as_secs_f64() + 0.5;
        let bad: Vec<&(u16, f64)> = answers
            .iter()
            .filter(|(s, t)| !matches!(s, 503 | 200) || *t > limit)
            .collect();
        if !bad.is_empty() {
            let shown: Vec<String> = bad
                .iter()
                .take(5)
                .map(|(s, t)| format!("{s} after {t:.1}s"))
                .collect();
            self.fail(format!(
                "{} of {} PUTs during the PostgreSQL outage were not answered (503, or 200 once it was back) within {limit} s: {}",
                bad.len(),
                answers.len(),
                shown.join(", ")
            ));
        }
    }

    /// Back to two instances of every role.
    async fn restore(&mut self, scenario: Scenario) {
        match scenario {
            Scenario::KillOne => self.spawn(ALL_ROLES).await,
            Scenario::ScaleOut => {
                if let Some(mut third) = self.instances.pop() {
                    let status = third.stop().await;
                    if !status.is_some_and(|s| s.success()) {
                        let failure = format!(
                            "{} did not stop cleanly: {status:?} (log {})",
                            third.name,
                            third.log.display()
                        );
                        self.fail(failure);
                    }
                }
            }
            _ => {}
        }
    }

    /// Nothing may crash: an instance that exited by itself is a failure (and is replaced).
    async fn restart_crashed(&mut self) {
        let mut crashed = Vec::new();
        for instance in &mut self.instances {
            if let Some(status) = instance.exited() {
                crashed.push(format!(
                    "{} exited by itself: {status} (log {})",
                    instance.name,
                    instance.log.display()
                ));
            }
        }
        let before = self.instances.len();
        let mut alive = Vec::new();
        for mut instance in std::mem::take(&mut self.instances) {
            if instance.exited().is_some() {
                self.forget_api(&instance);
            } else {
                alive.push(instance);
            }
        }
        self.instances = alive;
        for failure in crashed {
            self.fail(failure);
        }
        for _ in self.instances.len()..before {
            self.spawn(ALL_ROLES).await;
        }
    }

    /// After a round: every produced command answered, `convo verify` clean, every acknowledged
    /// command stored.
    async fn check(&mut self, round: u32) {
        let produced = self.ledger.produced.lock().unwrap().clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        let unanswered = loop {
            let missing = produced
                .iter()
                .filter(|id| self.ledger.outcome(id).is_none())
                .count();
            if missing == 0 || Instant::now() > deadline {
                break missing;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        if unanswered > 0 {
            self.fail(format!(
                "round {round}: {unanswered} of {} produced commands have no outcome after 60 s",
                produced.len()
            ));
        }
        self.verify(round).await;
        self.check_acknowledged(round).await;
    }

    /// Runs `convo verify --wait 60 --json` as a process.
    async fn verify(&mut self, round: u32) {
        let output = self
            .env
            .convo()
            .args(["verify", "--wait", "60", "--json"])
            .output()
            .expect("run convo verify");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        self.figures.events_checked = report["checked"]["events_stored"].as_u64().unwrap_or(0);
        self.figures.event_records_checked =
            report["checked"]["event_records"].as_u64().unwrap_or(0);
        eprintln!("[chaos]   verify: {}", report["checked"]);
        if !output.status.success() {
            let breaches: Vec<String> = report["breaches"]
                .as_array()
                .map(|b| b.iter().take(10).map(Value::to_string).collect())
                .unwrap_or_default();
            let total = report["breaches"].as_array().map_or(0, Vec::len);
            self.fail(format!(
                "round {round}: convo verify failed ({}; {total} breaches): {} {}",
                output.status,
                breaches.join("; "),
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            ));
        }
    }

    /// Each 200 and each outcome has its stored command outcome.
    async fn check_acknowledged(&mut self, round: u32) {
        let mut keys: Vec<String> = self
            .ledger
            .http_acks
            .lock()
            .unwrap()
            .iter()
            .map(|k| format!("http:{}:{}:{k}", crate::BUSINESS, crate::STAFF))
            .collect();
        keys.extend(
            self.ledger
                .outcomes
                .lock()
                .unwrap()
                .keys()
                .map(|id| format!("cmd:{id}")),
        );
        let stored: i64 =
            sqlx::query_scalar("SELECT count(*) FROM command_outcomes WHERE command_id = ANY($1)")
                .bind(&keys)
                .fetch_one(&self.pool)
                .await
                .expect("count stored outcomes");
        if stored != keys.len() as i64 {
            self.fail(format!(
                "round {round}: {} of {} acknowledged commands are not in the store",
                keys.len() as i64 - stored,
                keys.len()
            ));
        }
    }
}

/// While PostgreSQL is down, a PUT every 250 ms (each on its own, so a hanging one does not hold
/// back the next) to the live API instances; each answer is recorded with its time. Resolves
/// when all have answered (or timed out).
fn outage_requests(
    ledger: &std::sync::Arc<super::load::Ledger>,
    apis: &std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    outage: Duration,
) -> tokio::task::JoinHandle<()> {
    let (ledger, apis) = (ledger.clone(), apis.clone());
    tokio::spawn(async move {
        let mut asked = tokio::task::JoinSet::new();
        let started = Instant::now();
        let mut n = 0;
        while started.elapsed() < outage {
            let bases = apis.lock().unwrap().clone();
            if let Some(base) = bases.get(n % bases.len().max(1)).cloned() {
                let ledger = ledger.clone();
                asked.spawn(async move {
                    let (status, took) =
                        put_once(&base, "chaos00000000000", &format!("outage-{n}")).await;
                    ledger
                        .during_db_outage
                        .lock()
                        .unwrap()
                        .push((status, took.as_secs_f64()));
                });
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        while asked.join_next().await.is_some() {}
    })
}
