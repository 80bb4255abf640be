//! The fault-injection suite (`scripts/chaos.sh`; a short form in CI): real `convo serve`
//! processes, a PostgreSQL cluster and a broker of the suite's own, mixed load, and faults at
//! random moments. After each fault every partition must be consumed again within [`BOUND`];
//! after each round `convo verify` must pass and every acknowledged command must be stored.

pub mod load;
pub mod probe;
mod round;
pub mod service;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convo_kafka::{KafkaConfig, Topics};
use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use self::load::{Ledger, Rng};
use self::service::{Cluster, Env, Instance};
use crate::kafka::OwnBroker;

/// Every partition is consumed again within this long after a fault.
pub const BOUND: Duration = Duration::from_secs(15);
/// How long a probe is waited for before the partition counts as stranded.
const PROBE_LIMIT: Duration = Duration::from_secs(45);
const PARTITIONS: i32 = 4;
const CONVERSATIONS: usize = 40;
/// Every instance but the scale-out one runs every role.
const ALL_ROLES: &str = "api,relay,intake,projector";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// `kill -9` of every instance, then both started again.
    KillAll,
    /// `kill -9` of one of two instances (started again after the measurement).
    KillOne,
    /// A third instance (`--roles projector,intake`) joins (and leaves again, gracefully).
    ScaleOut,
    /// The broker goes away and comes back (frozen, or with `CONVO_CHAOS_BROKER_RESTART=1` on
    /// noida-db, stopped and restarted).
    BrokerRestart,
    /// PostgreSQL stops (fast shutdown) for 3 s and starts again.
    DbRestart,
}

impl Scenario {
    pub const ALL: [Self; 5] = [
        Self::KillAll,
        Self::KillOne,
        Self::ScaleOut,
        Self::BrokerRestart,
        Self::DbRestart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::KillAll => "kill_all",
            Self::KillOne => "kill_one",
            Self::ScaleOut => "scale_out",
            Self::BrokerRestart => "broker_restart",
            Self::DbRestart => "db_restart",
        }
    }
}

/// One fault and how long each partition took to be consumed again.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    pub round: u32,
    pub scenario: Scenario,
    pub detail: String,
    /// Seconds per partition until a fresh command was answered (the intake)...
    pub answered: Vec<Option<f64>>,
    /// ...and until it was also projected: the recovery time (`None`: not within the probe limit).
    pub partitions: Vec<Option<f64>>,
}

/// What the run did and found.
#[derive(Debug, Default, Serialize)]
pub struct Figures {
    pub broker: String,
    pub seed: u64,
    pub rounds: u32,
    pub http_acknowledged: usize,
    /// PUT answers other than 200, by status (0: no answer: an instance was killed).
    pub http_other: BTreeMap<u16, u64>,
    pub kafka_commands: usize,
    pub outcomes: usize,
    /// From the last `convo verify`.
    pub events_checked: u64,
    pub event_records_checked: u64,
    pub recoveries: Vec<Recovery>,
    /// PUTs sent while PostgreSQL was down: how many, the slowest answer, the statuses.
    pub db_outage_requests: usize,
    pub db_outage_slowest_secs: f64,
    pub db_outage_statuses: BTreeMap<u16, u64>,
    pub failures: Vec<String>,
    pub seconds: f64,
}

/// The running suite.
#[derive(Debug)]
pub struct Suite {
    env: Env,
    cluster: Cluster,
    broker: OwnBroker,
    kafka: KafkaConfig,
    pool: PgPool,
    ledger: Arc<Ledger>,
    /// Base URLs of the live API instances, for the HTTP load.
    apis: Arc<Mutex<Vec<String>>>,
    instances: Vec<Instance>,
    started_instances: usize,
    uids: Vec<String>,
    probes: Vec<String>,
    rng: Rng,
    scenarios: Vec<Scenario>,
    stop: CancellationToken,
    started: Instant,
    pub figures: Figures,
}

impl Suite {
    /// Its own cluster and broker, two instances, the conversations the load works on.
    pub async fn start(seed: u64, scenarios: Vec<Scenario>) -> Self {
        let dir = std::env::temp_dir().join(format!("convo-chaos-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("chaos dir");
        eprintln!("[chaos] logs in {}", dir.display());
        let cluster = Cluster::start(dir.join("pg"));
        let broker = OwnBroker::start().await;
        let mut kafka = KafkaConfig::new(broker.brokers(), Topics::with_prefix("chaos."));
        kafka.partitions = PARTITIONS;
        convo_kafka::topics::ensure(&kafka).await.expect("topics");
        let env = Env {
            bin: service::convo_bin(),
            dir,
            database_url: cluster.url(),
            brokers: broker.brokers(),
            topic_prefix: "chaos.".to_owned(),
            partitions: PARTITIONS,
        };
        let mut suite = Self {
            pool: PgPool::connect_lazy(&env.database_url).expect("pool"),
            env,
            cluster,
            broker,
            kafka,
            ledger: Arc::new(Ledger::default()),
            apis: Arc::new(Mutex::new(Vec::new())),
            instances: Vec::new(),
            started_instances: 0,
            uids: (0..CONVERSATIONS)
                .map(|i| format!("chaos{i:011}"))
                .collect(),
            probes: probe::probe_uids(PARTITIONS),
            rng: Rng::new(seed),
            scenarios,
            stop: CancellationToken::new(),
            started: Instant::now(),
            figures: Figures {
                broker: std::env::var("CONVO_BROKER").unwrap_or_else(|_| "tansu".into()),
                seed,
                ..Figures::default()
            },
        };
        suite.spawn(ALL_ROLES).await;
        suite.spawn(ALL_ROLES).await;
        load::collect_outcomes(suite.ledger.clone(), &suite.kafka, suite.stop.clone());
        suite.start_conversations().await;
        suite
    }

    async fn spawn(&mut self, roles: &str) {
        self.started_instances += 1;
        let name = format!("instance-{}", self.started_instances);
        let instance = Instance::start(&self.env, &name, roles).await;
        eprintln!("[chaos] started {name} ({roles})");
        if let Some(api) = &instance.api {
            self.apis.lock().unwrap().push(api.clone());
        }
        self.instances.push(instance);
    }

    fn forget_api(&self, instance: &Instance) {
        if let Some(api) = &instance.api {
            self.apis.lock().unwrap().retain(|a| a != api);
        }
    }

    async fn start_conversations(&mut self) {
        let producer = crate::kafka::producer(&self.kafka);
        let uids: Vec<String> = self.uids.iter().chain(&self.probes).cloned().collect();
        for uid in &uids {
            let payload = load::start_command(uid).to_string();
            crate::kafka::produce(
                &producer,
                &self.kafka.topics.commands,
                uid,
                payload.as_bytes(),
            )
            .await;
        }
        let ledger = self.ledger.clone();
        crate::kafka::eventually(
            Duration::from_secs(90),
            "every conversation started",
            || {
                let ledger = ledger.clone();
                let uids = uids.clone();
                async move {
                    uids.iter()
                        .all(|uid| ledger.outcome(&format!("start-{uid}")).is_some())
                }
            },
        )
        .await;
    }

    fn fail(&mut self, failure: String) {
        eprintln!("[chaos] FAILURE {failure}");
        self.figures.failures.push(failure);
    }

    /// The figures, once everything is stopped.
    pub async fn finish(mut self) -> Figures {
        for instance in &mut self.instances {
            instance.stop().await;
        }
        self.stop.cancel();
        let ledger = &self.ledger;
        self.figures.http_acknowledged = ledger.http_acks.lock().unwrap().len();
        self.figures.http_other = ledger
            .http_other
            .lock()
            .unwrap()
            .clone()
            .into_iter()
            .collect();
        self.figures.kafka_commands = ledger.produced.lock().unwrap().len();
        self.figures.outcomes = ledger.outcomes.lock().unwrap().len();
        let outage = ledger.during_db_outage.lock().unwrap().clone();
        self.figures.db_outage_requests = outage.len();
        self.figures.db_outage_slowest_secs = outage.iter().map(|(_, s)| *s).fold(0.0, f64::max);
        for (status, _) in outage {
            *self.figures.db_outage_statuses.entry(status).or_default() += 1;
        }
        self.figures.seconds = self.started.elapsed().as_secs_f64();
        let json = serde_json::to_string_pretty(&self.figures).unwrap_or_default();
        let _ = std::fs::write(self.env.dir.join("figures.json"), &json);
        std::mem::take(&mut self.figures)
    }
}
