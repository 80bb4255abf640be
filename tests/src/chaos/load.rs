//! Mixed load while faults happen: HTTP PUTs to the live API instances and commands produced to
//! the commands topic. Every 200 and every outcome is recorded in the [`Ledger`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convo_kafka::{KafkaConfig, LogContext};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{BUSINESS, STAFF, token};

/// A small xorshift generator: random moments and choices, reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    pub fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

/// What the load saw.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Idempotency keys of PUTs answered 200.
    pub http_acks: Mutex<Vec<String>>,
    /// PUT answers other than 200, by status (0: no answer).
    pub http_other: Mutex<HashMap<u16, u64>>,
    /// PUTs sent while PostgreSQL was down: (status, seconds taken; 0: no answer within 10 s).
    pub during_db_outage: Mutex<Vec<(u16, f64)>>,
    /// Command ids the broker acknowledged.
    pub produced: Mutex<Vec<String>>,
    /// Outcomes by command id, with when they arrived.
    pub outcomes: Mutex<HashMap<String, (Value, Instant)>>,
    /// Set while the suite holds PostgreSQL down.
    pub db_down: AtomicBool,
    next: AtomicU64,
}

impl Ledger {
    fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    pub fn outcome(&self, command_id: &str) -> Option<(Value, Instant)> {
        self.outcomes.lock().unwrap().get(command_id).cloned()
    }
}

/// A command as upstream services publish it.
pub fn command(kind: &str, id: &str, uid: &str, fields: Value) -> Value {
    let mut command =
        json!({"type": kind, "command_id": id, "conversation_uid": uid, "business_uid": BUSINESS});
    command
        .as_object_mut()
        .expect("an object")
        .extend(fields.as_object().expect("an object").clone());
    command
}

pub fn start_command(uid: &str) -> Value {
    command(
        "StartConversation",
        &format!("start-{uid}"),
        uid,
        json!({"title": "Chaos", "client": {"uid": format!("client-{uid}"), "first_name": "Dana"},
               "staff": {"uid": STAFF, "display_name": "Ram"}}),
    )
}

pub fn update_command(id: &str, uid: &str, body: Value) -> Value {
    command(
        "UpdateConversation",
        id,
        uid,
        json!({"staff_uid": STAFF, "body": body}),
    )
}

fn flip(rng: &mut Rng) -> Value {
    let on = rng.below(2) == 1;
    match rng.below(3) {
        0 => json!({"archived": on}),
        1 => json!({"business_unread": on}),
        _ => json!({"spam": on}),
    }
}

/// Running load; [`Load::stop`] ends it.
#[derive(Debug)]
pub struct Load {
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Load {
    /// `writers` HTTP writers over `apis` (the live API base URLs, updated by the suite) and one
    /// Kafka producer, on `uids`.
    pub fn start(
        ledger: &Arc<Ledger>,
        apis: &Arc<Mutex<Vec<String>>>,
        kafka: &KafkaConfig,
        uids: &[String],
        seed: u64,
    ) -> Self {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for w in 0..3 {
            let (ledger, apis, uids, stop) =
                (ledger.clone(), apis.clone(), uids.to_vec(), stop.clone());
            tasks.spawn(http_writer(ledger, apis, uids, Rng::new(seed + w), stop));
        }
        let (ledger, kafka, uids, stop2) =
            (ledger.clone(), kafka.clone(), uids.to_vec(), stop.clone());
        tasks.spawn(producer(ledger, kafka, uids, Rng::new(seed + 99), stop2));
        Self { stop, tasks }
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn http_writer(
    ledger: Arc<Ledger>,
    apis: Arc<Mutex<Vec<String>>>,
    uids: Vec<String>,
    mut rng: Rng,
    stop: CancellationToken,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let bearer = token(STAFF, BUSINESS, "all");
    while !stop.is_cancelled() {
        let base = {
            let apis = apis.lock().unwrap();
            (!apis.is_empty()).then(|| apis[rng.below(apis.len() as u64) as usize].clone())
        };
        let Some(base) = base else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let uid = &uids[rng.below(uids.len() as u64) as usize];
        let key = format!("chaos-{}", ledger.next_id());
        let db_down = ledger.db_down.load(Ordering::SeqCst);
        let started = Instant::now();
        let sent = client
            .put(format!("{base}/v2/conversations/{uid}"))
            .bearer_auth(&bearer)
            .header("Idempotency-Key", &key)
            .json(&flip(&mut rng))
            .send()
            .await;
        let status = sent.as_ref().map_or(0, |r| r.status().as_u16());
        if db_down {
            let taken = started.elapsed().as_secs_f64();
            ledger
                .during_db_outage
                .lock()
                .unwrap()
                .push((status, taken));
        }
        if status == 200 {
            ledger.http_acks.lock().unwrap().push(key);
        } else {
            *ledger.http_other.lock().unwrap().entry(status).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One PUT (a flag flip) with a 10 s timeout: its status (0: no answer) and how long it took.
pub async fn put_once(base: &str, uid: &str, key: &str) -> (u16, Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let started = Instant::now();
    let sent = client
        .put(format!("{base}/v2/conversations/{uid}"))
        .bearer_auth(token(STAFF, BUSINESS, "all"))
        .header("Idempotency-Key", key)
        .json(&json!({"archived": true}))
        .send()
        .await;
    let status = sent.as_ref().map_or(0, |r| r.status().as_u16());
    (status, started.elapsed())
}

async fn producer(
    ledger: Arc<Ledger>,
    kafka: KafkaConfig,
    uids: Vec<String>,
    mut rng: Rng,
    stop: CancellationToken,
) {
    let producer = crate::kafka::producer(&kafka);
    while !stop.is_cancelled() {
        let uid = &uids[rng.below(uids.len() as u64) as usize];
        let id = format!("k-{}", ledger.next_id());
        let payload = update_command(&id, uid, flip(&mut rng)).to_string();
        let record = FutureRecord::to(&kafka.topics.commands)
            .key(uid)
            .payload(&payload);
        if producer.send(record, Duration::from_secs(10)).await.is_ok() {
            ledger.produced.lock().unwrap().push(id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records every outcome on the outcomes topic (all partitions assigned, from the beginning;
/// no consumer group) until `stop`.
pub fn collect_outcomes(ledger: Arc<Ledger>, kafka: &KafkaConfig, stop: CancellationToken) {
    let consumer: StreamConsumer<LogContext> = kafka
        .base_config()
        .set("group.id", "chaos-outcomes")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .create_with_context(LogContext)
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..kafka.partitions {
        assignment
            .add_partition_offset(&kafka.topics.outcomes, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&assignment).expect("assign");
    tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return,
                m = consumer.recv() => m,
            };
            let Ok(message) = message else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let Ok(outcome) =
                serde_json::from_slice::<Value>(message.payload().unwrap_or_default())
            else {
                continue;
            };
            if let Some(id) = outcome["command_id"].as_str() {
                let mut outcomes = ledger.outcomes.lock().unwrap();
                outcomes
                    .entry(id.to_owned())
                    .or_insert((outcome.clone(), Instant::now()));
            }
        }
    });
}
