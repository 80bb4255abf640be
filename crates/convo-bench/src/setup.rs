//! What every benchmark starts from: a fresh, migrated database and fresh topics on the servers
//! `scripts/bench.sh` started, conversations created through the command handler, and the
//! broker clients the benchmarks measure with.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use convo_domain::UpdateChanges;
use convo_domain::command::{Action, Command, StartConversation};
use convo_domain::state::{ClientInfo, Source, StaffRef};
use convo_kafka::{KafkaConfig, LogContext, Topics};
use futures_util::StreamExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor, PgPool};

pub const SECRET: &str = "benchmark-secret-benchmark-secret-0123";
pub const BUSINESS: &str = "benchbusiness001";
pub const STAFF: &str = "benchstaff000001";
/// Partitions of every topic a benchmark creates (the service's default).
pub const PARTITIONS: i32 = 8;

/// A fresh database and topic prefix: nothing a benchmark measures is left over from another.
#[derive(Clone)]
pub struct Stack {
    pub pool: PgPool,
    /// The database's connection string (for the service processes).
    pub url: String,
    pub brokers: String,
    pub prefix: String,
    pub kafka: KafkaConfig,
}

impl Stack {
    /// A new, migrated database on the server of `server_url` and a new topic prefix; the topics
    /// themselves are created.
    pub async fn fresh(server_url: &str, brokers: &str) -> anyhow::Result<Self> {
        let admin = PgConnectOptions::from_str(server_url)?;
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin.connect().await.context("connecting to PostgreSQL")?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        let pool = PgPoolOptions::new()
            .max_connections(80)
            .connect_with(admin.clone().database(&name))
            .await?;
        convo_store::MIGRATOR.run(&pool).await?;
        let (server, _) = server_url
            .rsplit_once('/')
            .context("DATABASE_URL names a database")?;
        let prefix = format!("{name}.");
        let mut kafka = KafkaConfig::new(brokers, Topics::with_prefix(&prefix));
        kafka.partitions = PARTITIONS;
        convo_kafka::topics::ensure(&kafka).await?;
        Ok(Self {
            pool,
            url: format!("{server}/{name}"),
            brokers: brokers.to_owned(),
            prefix,
            kafka,
        })
    }

    /// `count` conversations `{stem}00000000`, ... started through the command handler (16 at a
    /// time), as the API would.
    pub async fn start_conversations(
        &self,
        stem: &str,
        count: usize,
    ) -> anyhow::Result<Vec<String>> {
        let handler = convo_store::CommandHandler::new(self.pool.clone());
        let uids: Arc<Vec<String>> =
            Arc::new((0..count).map(|i| format!("{stem}{i:08}")).collect());
        let tasks: Vec<_> = (0..16)
            .map(|w| {
                let (handler, uids) = (handler.clone(), uids.clone());
                tokio::spawn(async move {
                    for uid in uids.iter().skip(w).step_by(16) {
                        run_command(&handler, start_command(uid)).await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        Ok(uids.to_vec())
    }

    pub async fn count(&self, sql: &str) -> anyhow::Result<u64> {
        let n: Option<i64> = sqlx::query_scalar(sql).fetch_one(&self.pool).await?;
        Ok(n.unwrap_or(0) as u64)
    }

    /// Waits until the relay has published every committed event.
    pub async fn relay_caught_up(&self, timeout: Duration) -> anyhow::Result<()> {
        let events = self.count("SELECT count(*) FROM events").await?;
        wait_for_count(
            &self.pool,
            "SELECT published FROM relay_positions WHERE relay = 'events'",
            events,
            timeout,
        )
        .await
        .context("waiting for the relay to publish every event")
    }
}

pub fn start_command(uid: &str) -> Command {
    Command {
        conversation_uid: uid.to_owned(),
        business_uid: BUSINESS.to_owned(),
        now: chrono::Utc::now(),
        action: Action::Start(StartConversation {
            title: "Jane Smith".into(),
            client: ClientInfo {
                uid: format!("client-{uid}"),
                first_name: "Jane".into(),
                last_name: "Smith".into(),
                email: Some("jane@example.com".into()),
                phone: None,
                full: serde_json::Map::new(),
            },
            staff: StaffRef {
                uid: STAFF.into(),
                display_name: "Ram Almog".into(),
            },
            source: Source::default(),
            campaign: None,
            mobile: false,
            matter_searchable: true,
        }),
    }
}

/// A staff update of `uid` setting `archived`.
pub fn archive_command(uid: &str, business_uid: &str, archived: bool) -> Command {
    Command {
        conversation_uid: uid.to_owned(),
        business_uid: business_uid.to_owned(),
        now: chrono::Utc::now(),
        action: Action::Update {
            staff_uid: STAFF.into(),
            changes: UpdateChanges {
                archived: Some(archived),
                ..Default::default()
            },
        },
    }
}

/// Runs `command` through the handler as the API does (no idempotency key); an error unless it
/// was accepted.
pub async fn run_command(
    handler: &convo_store::CommandHandler,
    command: Command,
) -> anyhow::Result<()> {
    let request = convo_store::Request {
        command,
        metadata: convo_store::Metadata {
            command_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: "bench".into(),
            causation_id: "bench".into(),
            trace: convo_trace::TraceContext::root(),
        },
        idempotency: None,
        transport: convo_store::Transport::Http,
    };
    let reply = handler
        .handle(&request, |decision| convo_store::Answer {
            status: if decision.is_ok() { 200 } else { 422 },
            body: Value::Null,
        })
        .await?;
    anyhow::ensure!(reply.status == 200, "the command was rejected");
    Ok(())
}

/// Polls `count_sql` (at most one row: a number, NULL or nothing) every 10 ms until it reaches
/// `target`; an error after `timeout`.
pub async fn wait_for_count(
    pool: &PgPool,
    count_sql: &str,
    target: u64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let count: Option<Option<i64>> = sqlx::query_scalar(count_sql).fetch_optional(pool).await?;
        let count = count.flatten().unwrap_or(0) as u64;
        if count >= target {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{count} of {target} after {timeout:?}: {count_sql}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Produces every (key, value) to `topic` as fast as the producer takes them, then waits for
/// every acknowledgement.
pub async fn produce_all(
    producer: &FutureProducer<LogContext>,
    topic: &str,
    records: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    let mut deliveries = Vec::new();
    for (key, value) in records {
        let mut record = FutureRecord::to(topic)
            .key(key.as_str())
            .payload(value.as_str());
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((_, back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
    }
    for delivery in futures_util::future::join_all(deliveries).await {
        delivery?.map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// A plain consumer of every partition of `topic` from `offset` (no group membership, nothing
/// committed): the outside reader some figures are measured with. It asks the broker to answer
/// a fetch after at most 5 ms.
pub fn outside_consumer(
    brokers: &str,
    topic: &str,
    offset: Offset,
) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "5")
        .create()?;
    let mut partitions = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        partitions.add_partition_offset(topic, p, offset)?;
    }
    consumer.assign(&partitions)?;
    Ok(consumer)
}

/// Reads `topic` from its start with [`outside_consumer`] until `count` records arrived; the
/// time that took. An error after `timeout`.
pub async fn consume_count(
    brokers: &str,
    topic: &str,
    count: u64,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let consumer = outside_consumer(brokers, topic, Offset::Beginning)?;
    let started = Instant::now();
    let mut stream = consumer.stream();
    let mut seen = 0;
    while seen < count {
        match tokio::time::timeout_at((started + timeout).into(), stream.next()).await {
            Ok(Some(message)) => {
                message?;
                seen += 1;
            }
            Ok(None) => anyhow::bail!("the consumer of {topic} stopped"),
            Err(_) => anyhow::bail!("{seen} of {count} records of {topic} after {timeout:?}"),
        }
    }
    Ok(started.elapsed())
}
