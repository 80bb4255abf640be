//! Helpers for the broker tests: unique topics per test, the service's Kafka roles running
//! in-process against the test's database, consumers that collect what was published, and a
//! broker of a test's own (to stop and start it).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use convo_kafka::{KafkaConfig, LogContext, Topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::TestApp;

/// The broker `scripts/test.sh` started.
pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS")
        .expect("KAFKA_BROKERS must point at a broker (scripts/test.sh sets it)")
}

/// A configuration whose topics no other test uses, on `brokers`, with 4 partitions.
pub fn unique_config(brokers: &str) -> KafkaConfig {
    let prefix = format!("t{}.", uuid::Uuid::new_v4().simple());
    let mut config = KafkaConfig::new(brokers, Topics::with_prefix(&prefix));
    config.partitions = 4;
    config.message_timeout_ms = 5000;
    config
}

/// Creates the topics of `config`.
pub async fn create_topics(config: &KafkaConfig) {
    convo_kafka::topics::ensure(config)
        .await
        .expect("create topics");
}

/// A role of the service running in the test's runtime.
#[derive(Debug)]
pub struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    /// Kills the role where it stands, as a crash would: its task is dropped mid-flight, and
    /// with it its connections.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Asks the role to stop and waits until it has.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the role stops within 30 s")
            .expect("the role did not panic");
    }
}

fn spawn<F>(make: impl FnOnce(CancellationToken) -> F) -> Running
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(make(shutdown.clone()));
    Running { shutdown, task }
}

/// Fast retries, so tests recover from outages quickly.
pub fn relay_config(app: &TestApp) -> convo_relay::RelayConfig {
    let mut config = convo_relay::RelayConfig::new(app.database_url());
    config.retry_wait = Duration::from_millis(200);
    config.max_retry_wait = Duration::from_secs(1);
    config
}

pub fn start_relay(app: &TestApp, kafka: &KafkaConfig) -> Running {
    start_relay_with(relay_config(app), kafka)
}

/// A relay with `config` (keep a clone of `config.status` to watch it).
pub fn start_relay_with(config: convo_relay::RelayConfig, kafka: &KafkaConfig) -> Running {
    let kafka = kafka.clone();
    spawn(|stop| convo_relay::run(config, kafka, stop))
}

pub fn start_intake(app: &TestApp, kafka: &KafkaConfig) -> Running {
    let config = convo_intake::IntakeConfig::default();
    let (kafka, handler) = (kafka.clone(), app.handler());
    spawn(|stop| async move {
        convo_intake::run(config, kafka, handler, stop)
            .await
            .expect("intake runs");
    })
}

pub fn start_projector(app: &TestApp, kafka: &KafkaConfig) -> Running {
    start_projector_of(app, kafka, convo_projector::ReadModel::Conversations)
}

/// The projector of one read model.
pub fn start_projector_of(
    app: &TestApp,
    kafka: &KafkaConfig,
    model: convo_projector::ReadModel,
) -> Running {
    let config = convo_projector::ProjectorConfig::of(model);
    let (kafka, pool) = (kafka.clone(), app.pool.clone());
    spawn(|stop| async move {
        convo_projector::run(config, kafka, pool, stop)
            .await
            .expect("projector runs");
    })
}

/// A consumer of every partition of `topic` (`kafka.partitions` of them), from the beginning.
/// Partitions are assigned, not subscribed: no group coordinator is involved, so it reads the
/// same on every broker, and from a topic that is only created later.
pub fn consumer(kafka: &KafkaConfig, topic: &str) -> StreamConsumer<LogContext> {
    let group = format!("test-{}", uuid::Uuid::new_v4().simple());
    let consumer: StreamConsumer<LogContext> = kafka
        .consumer(&group)
        .set("enable.auto.commit", "false")
        .create_with_context(LogContext)
        .expect("consumer");
    let mut partitions = TopicPartitionList::new();
    for partition in 0..kafka.partitions {
        partitions
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("a partition");
    }
    consumer.assign(&partitions).expect("assign");
    consumer
}

/// Receives until `done(received)` is true; panics after `timeout`.
pub async fn collect_until(
    consumer: &StreamConsumer<LogContext>,
    timeout: Duration,
    mut done: impl FnMut(&[OwnedMessage]) -> bool,
) -> Vec<OwnedMessage> {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(&received) {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(message)) => received.push(message.detach()),
            // A topic that does not exist yet (a broker that just came back) is worth waiting for.
            Ok(Err(e)) => {
                eprintln!("consumer error (retrying): {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => panic!(
                "timed out after {timeout:?} with {} messages received",
                received.len()
            ),
        }
    }
    received
}

/// Keeps receiving for `quiet`, returning whatever arrives (to show nothing more does).
pub async fn drain_for(
    consumer: &StreamConsumer<LogContext>,
    quiet: Duration,
) -> Vec<OwnedMessage> {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + quiet;
    while let Ok(Ok(message)) = tokio::time::timeout_at(deadline, consumer.recv()).await {
        received.push(message.detach());
    }
    received
}

pub fn headers(message: &OwnedMessage) -> HashMap<String, String> {
    message
        .headers()
        .map(|h| {
            h.iter()
                .map(|header| {
                    let value = header
                        .value
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    (header.key.to_owned(), value.into_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn producer(kafka: &KafkaConfig) -> FutureProducer<LogContext> {
    kafka
        .producer()
        .create_with_context(LogContext)
        .expect("producer")
}

/// Publishes `value` to `topic` under `key`, and waits for the acknowledgement.
pub async fn produce(producer: &FutureProducer<LogContext>, topic: &str, key: &str, value: &[u8]) {
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(value),
            Duration::from_secs(10),
        )
        .await
        .expect("produced");
}

/// `convo verify` over the test's database and topics finds no breach (checking again for up to
/// `wait` while the roles catch up); returns the report.
pub async fn assert_verified(
    app: &TestApp,
    kafka: &KafkaConfig,
    wait: Duration,
) -> convo_verify::Report {
    let options = convo_verify::Options::default();
    let report = convo_verify::verify_until_clean(&app.pool, kafka, &options, wait)
        .await
        .expect("verify runs");
    assert!(report.is_clean(), "{report}");
    report
}

/// Polls `check` every 50 ms until it returns true; panics after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A broker of the test's own, on a free port, that the test can stop and start again: the kind
/// `scripts/test.sh` runs (`CONVO_BROKER`, binary `CONVO_BROKER_BIN`). tansu keeps data in memory
/// (a restart comes back empty, like a broker that lost its disk); noida-db keeps it in `dir`.
#[derive(Debug)]
pub struct OwnBroker {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl OwnBroker {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("convo-broker-{port}"));
        std::fs::create_dir_all(&dir).expect("broker dir");
        let mut broker = Self {
            port,
            dir,
            child: None,
        };
        broker.restart().await;
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The command line that starts the configured broker on `port`, keeping data in `dir`.
    pub fn command(port: u16, dir: &std::path::Path) -> Command {
        let kind = std::env::var("CONVO_BROKER").unwrap_or_else(|_| "tansu".to_owned());
        let bin = std::env::var("CONVO_BROKER_BIN")
            .expect("CONVO_BROKER_BIN must name the broker binary (scripts/test.sh sets it)");
        let mut command = Command::new(bin);
        match kind.as_str() {
            "tansu" => {
                let url = format!("tcp://127.0.0.1:{port}");
                command
                    .args(["broker", "--listener-url", &url])
                    .args(["--advertised-listener-url", &url])
                    .args(["--storage-engine", "memory://tansu/"]);
            }
            "noida" => {
                command
                    .args(["start", "--only", "kafka", "--host", "127.0.0.1"])
                    .args(["--kafka-port", &port.to_string()])
                    .arg("--data-dir")
                    .arg(dir.join("data"));
            }
            other => panic!("CONVO_BROKER must be tansu or noida, not {other:?}"),
        }
        // tansu reads a .env in its working directory: `dir` has none.
        command.current_dir(dir);
        command
    }

    /// Starts the broker process (again) and waits until it answers.
    pub async fn restart(&mut self) {
        let child = Self::command(self.port, &self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the broker");
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the test's broker did not start on port {}", self.port);
    }

    /// Whether a restart keeps the topics (noida-db keeps them on disk; tansu in memory).
    pub fn keeps_data(&self) -> bool {
        std::env::var("CONVO_BROKER").is_ok_and(|b| b == "noida")
    }

    /// Sends a signal (`STOP`, `CONT`) to the broker process.
    pub fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            crate::chaos::service::send_signal(child.id(), name);
        }
    }

    /// Stops the broker process the way an operator restarts it (SIGTERM, so it writes out what
    /// it acknowledged), waiting up to 10 s before killing it.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::chaos::service::send_signal(child.id(), "TERM");
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the broker process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
