//! `convo-bench`: measures the figures of `../shared/docs/performance.md` that the service can
//! produce so far, against the PostgreSQL server in `DATABASE_URL` (a fresh database per run)
//! and the broker in `KAFKA_BROKERS` (fresh topics per run). Prints a table, then one JSON line.
//!
//! Run it through `scripts/bench.sh`, which starts PostgreSQL and the broker and builds in
//! release mode.

mod seed_history;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use convo_domain::command::{Action, Command, StartConversation};
use convo_domain::state::{ClientInfo, Source, StaffRef};
use convo_domain::{Conversation, UpdateChanges, decide};
use convo_kafka::{KafkaConfig, LogContext, Topics};
use convo_store::store::{self, Metadata};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Executor, PgPool};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "benchmark-secret-benchmark-secret-0123";
const BUSINESS: &str = "benchbusiness001";
const STAFF: &str = "benchstaff000001";
/// Concurrent connections of the throughput benchmark (performance.md W1), and the pool size.
const CONNECTIONS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bench {
    /// Sequential PUT round trips over HTTP (median, p99).
    PutLatency,
    /// Events/s from the events table to the broker, acknowledged; and raw produce of the same
    /// records for comparison.
    Relay,
    /// Events/s from the events topic into the read models.
    Projector,
    /// How far the read models trail a committed write (relay + broker + projector).
    Lag,
    /// Concurrent PUTs (64 connections) against plain INSERTs of event rows (W1, W3).
    Throughput,
    /// Commands/s from the commands topic to committed events and outcomes (K1).
    Intake,
}

#[derive(Debug, Parser)]
#[command(about)]
struct Cli {
    /// A tool instead of the benchmarks.
    #[command(subcommand)]
    tool: Option<Tool>,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    brokers: String,
    /// Events to seed for the relay and projector benchmarks.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Sequential PUTs for the latency benchmark.
    #[arg(long, default_value_t = 1000)]
    puts: usize,
    /// Commands for the intake benchmark.
    #[arg(long, default_value_t = 20_000)]
    commands: u64,
    /// Duration of each timed phase of the throughput benchmark, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Which benchmarks to run.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "put-latency,throughput,intake,relay,projector,lag"
    )]
    only: Vec<Bench>,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Fill the (empty, migrated) database of DATABASE_URL with a large valid history: N events
    /// in conversations of K, written server-side in batches of 50,000 (1,000,000 events: about
    /// 33 s on the 2-core development machine).
    #[command(
        after_help = "Examples:\n  convo-bench seed-history --events 1000000\n  \
                            convo-bench seed-history --events 200 --per-conversation 7"
    )]
    SeedHistory(seed_history::SeedHistoryArgs),
}

/// One measured figure.
struct Figure {
    /// The figure's key in the JSON line.
    key: &'static str,
    id: &'static str,
    name: &'static str,
    value: f64,
    unit: &'static str,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Some(Tool::SeedHistory(args)) = &cli.tool {
        let pool = convo_store::connect(&cli.database_url, 2).await?;
        return seed_history::run(&pool, args).await;
    }
    let (pool, url) = fresh_database(&cli.database_url).await?;
    let mut figures = Vec::new();
    if cli.only.contains(&Bench::PutLatency) {
        figures.extend(put_latency(&pool, cli.puts).await?);
    }
    if cli.only.contains(&Bench::Throughput) {
        let (pool, _) = fresh_database(&cli.database_url).await?;
        figures.extend(throughput(&pool, cli.seconds).await?);
    }
    let kafka_config = || {
        let prefix = format!("bench{}.", uuid::Uuid::new_v4().simple());
        let mut config = KafkaConfig::new(&cli.brokers, Topics::with_prefix(&prefix));
        config.partitions = 8;
        config
    };
    if cli.only.contains(&Bench::Intake) {
        let (pool, _) = fresh_database(&cli.database_url).await?;
        let kafka = kafka_config();
        convo_kafka::topics::ensure(&kafka).await?;
        figures.extend(intake(&pool, &kafka, cli.commands).await?);
    }
    if cli.only.contains(&Bench::Lag) {
        let (pool, url) = fresh_database(&cli.database_url).await?;
        let kafka = kafka_config();
        convo_kafka::topics::ensure(&kafka).await?;
        figures.extend(lag(&pool, &url, &kafka, 300).await?);
    }
    if cli.only.contains(&Bench::Relay) || cli.only.contains(&Bench::Projector) {
        let kafka = kafka_config();
        convo_kafka::topics::ensure(&kafka).await?;
        eprintln!("seeding {} events ...", cli.events);
        seed(&pool, cli.events).await?;
        figures.extend(relay(&pool, &url, &kafka, cli.events).await?);
        if cli.only.contains(&Bench::Projector) {
            figures.extend(projector(&pool, &kafka, cli.events).await?);
        }
    }
    println!("{:<4} {:<58} {:>14} unit", "id", "figure", "value");
    for f in &figures {
        println!("{:<4} {:<58} {:>14.2} {}", f.id, f.name, f.value, f.unit);
    }
    let json: serde_json::Map<String, Value> = figures
        .iter()
        .map(|f| (f.key.to_owned(), json!(f.value)))
        .collect();
    println!("{}", Value::Object(json));
    Ok(())
}

/// A new, migrated database on the server of `url`.
async fn fresh_database(url: &str) -> anyhow::Result<(PgPool, String)> {
    let admin = PgConnectOptions::from_str(url)?;
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = admin.connect().await.context("connecting to PostgreSQL")?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(CONNECTIONS as u32)
        .connect_with(admin.clone().database(&name))
        .await?;
    convo_store::MIGRATOR.run(&pool).await?;
    let (server, _) = url
        .rsplit_once('/')
        .context("DATABASE_URL names a database")?;
    eprintln!("benchmark database: {name}");
    Ok((pool, format!("{server}/{name}")))
}

fn start_command(uid: &str) -> Command {
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

/// Polls `count_sql` (at most one row: a number, NULL or nothing) every 20 ms until it reaches `target`.
async fn wait_for_count(pool: &PgPool, count_sql: &str, target: u64) -> anyhow::Result<()> {
    loop {
        let count: Option<Option<i64>> = sqlx::query_scalar(count_sql).fetch_optional(pool).await?;
        if count.flatten().unwrap_or(0) as u64 >= target {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Produces every (key, value) to `topic` as fast as the producer takes them, then waits for
/// every acknowledgement.
async fn produce_all(
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

/// Runs `command` through the handler as the API does (no idempotency key).
async fn run_command(
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Issue 3's figure: PUT round trips, one after another, each appending an event.
/// The HTTP API on an ephemeral port over `pool`: its base URL, the handler, and a token.
async fn spawn_api(pool: &PgPool) -> anyhow::Result<(String, convo_store::CommandHandler, String)> {
    let handler = convo_store::CommandHandler::new(pool.clone());
    let verifier = convo_api::auth::Verifier::new(&convo_api::auth::AuthConfig {
        hs_secret: Some(SECRET.into()),
        ..Default::default()
    })?;
    let state = convo_api::AppState {
        handler: handler.clone(),
        verifier: Arc::new(verifier),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v2/conversations", listener.local_addr()?);
    tokio::spawn(convo_api::serve(
        listener,
        convo_api::router(state),
        convo_api::ServerLimits::default(),
        std::future::pending(),
    ));
    let token = convo_api::auth::sign_dev_token(
        SECRET,
        STAFF,
        BUSINESS,
        "all",
        chrono::Duration::hours(1),
        chrono::Utc::now(),
    );
    Ok((base, handler, token))
}

/// Issue 3's figure: PUT round trips, one after another, each appending an event.
async fn put_latency(pool: &PgPool, puts: usize) -> anyhow::Result<Vec<Figure>> {
    let (base, handler, token) = spawn_api(pool).await?;
    let url = format!("{base}/benchput00000001");
    run_command(&handler, start_command("benchput00000001")).await?;
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(puts);
    let started = Instant::now();
    for i in 0..puts {
        let body = json!({"archived": i % 2 == 0});
        let t = Instant::now();
        let response = client
            .put(&url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 200,
            "PUT answered {}",
            response.status()
        );
        response.bytes().await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let total = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    Ok(vec![
        Figure {
            key: "put_sequential_p50_ms",
            id: "W0",
            name: "PUT round trip, sequential, median",
            value: percentile(&times, 0.5),
            unit: "ms",
        },
        Figure {
            key: "put_sequential_p99_ms",
            id: "W0",
            name: "PUT round trip, sequential, p99",
            value: percentile(&times, 0.99),
            unit: "ms",
        },
        Figure {
            key: "put_sequential_per_s",
            id: "W0",
            name: "PUTs/s, one connection, sequential",
            value: puts as f64 / total,
            unit: "req/s",
        },
    ])
}

/// Appends `events` events: conversations of 100 events each (a start, then archive toggles),
/// written by 8 concurrent writers, one transaction per conversation.
async fn seed(pool: &PgPool, events: u64) -> anyhow::Result<()> {
    let conversations = events.div_ceil(100);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut c = w;
                while c < conversations {
                    let uid = format!("benchconv{c:07}");
                    let count = (events - c * 100).min(100);
                    let mut state = Conversation::new(&uid);
                    let mut all = Vec::with_capacity(count as usize);
                    for i in 0..count {
                        let command = if i == 0 {
                            start_command(&uid)
                        } else {
                            Command {
                                action: Action::Update {
                                    staff_uid: STAFF.into(),
                                    changes: UpdateChanges {
                                        archived: Some(i % 2 == 1),
                                        ..Default::default()
                                    },
                                },
                                ..start_command(&uid)
                            }
                        };
                        let produced =
                            decide(&state, &command).map_err(|r| anyhow::anyhow!("{r}"))?;
                        state = produced.iter().fold(state, |s, e| s.evolve(e));
                        all.extend(produced);
                    }
                    let mut tx = pool.begin().await?;
                    let meta = Metadata {
                        command_id: "seed".into(),
                        correlation_id: "seed".into(),
                        causation_id: "seed".into(),
                        trace: convo_trace::TraceContext::root(),
                    };
                    store::append(
                        &mut tx,
                        &store::Append {
                            uid: &uid,
                            expected: 0,
                            events: &all,
                            business_uid: BUSINESS,
                            metadata: &meta,
                        },
                        None,
                    )
                    .await?;
                    tx.commit().await?;
                    c += 8;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for writer in writers {
        writer.await??;
    }
    Ok(())
}

async fn relay(
    pool: &PgPool,
    url: &str,
    kafka: &KafkaConfig,
    events: u64,
) -> anyhow::Result<Vec<Figure>> {
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(convo_relay::run(
        convo_relay::RelayConfig::new(url),
        kafka.clone(),
        shutdown.clone(),
    ));
    wait_for_count(
        pool,
        "SELECT published FROM relay_positions WHERE relay = 'events'",
        events,
    )
    .await?;
    let relay_seconds = started.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await?;

    // The same records, produced straight from memory to another topic with the same producer
    // settings: the broker-side limit the relay is compared with.
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT conversation_uid, payload::text FROM events ORDER BY tx_id, position",
    )
    .fetch_all(pool)
    .await?;
    let producer: FutureProducer<LogContext> = kafka.producer().create_with_context(LogContext)?;
    let topic = &kafka.topics.outcomes;
    let started = Instant::now();
    produce_all(&producer, topic, rows.iter().cloned()).await?;
    let raw_seconds = started.elapsed().as_secs_f64();
    let relay_rate = events as f64 / relay_seconds;
    let raw_rate = rows.len() as f64 / raw_seconds;
    Ok(vec![
        Figure {
            key: "relay_events_per_s",
            id: "R1",
            name: "relay: events table -> broker, acknowledged",
            value: relay_rate,
            unit: "events/s",
        },
        Figure {
            key: "raw_produce_events_per_s",
            id: "R1",
            name: "raw produce of the same records (no headers, no DB)",
            value: raw_rate,
            unit: "events/s",
        },
        Figure {
            key: "relay_to_raw_ratio",
            id: "R1",
            name: "relay / raw produce",
            value: relay_rate / raw_rate,
            unit: "ratio",
        },
    ])
}

async fn projector(pool: &PgPool, kafka: &KafkaConfig, events: u64) -> anyhow::Result<Vec<Figure>> {
    let shutdown = CancellationToken::new();
    let config = convo_projector::ProjectorConfig::default();
    let started = Instant::now();
    let task = tokio::spawn(convo_projector::run(
        config.clone(),
        kafka.clone(),
        pool.clone(),
        shutdown.clone(),
    ));
    let applied = format!(
        "SELECT sum(next_offset)::bigint FROM partition_claims WHERE consumer = '{}'",
        config.name
    );
    wait_for_count(pool, &applied, events).await?;
    let seconds = started.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await??;
    Ok(vec![Figure {
        key: "projector_events_per_s",
        id: "P1",
        name: "projector: events topic -> read models (catch-up)",
        value: events as f64 / seconds,
        unit: "events/s",
    }])
}

/// Commit -> visible in the read model, one write at a time, with relay and projector running
/// at their default settings.
async fn lag(
    pool: &PgPool,
    url: &str,
    kafka: &KafkaConfig,
    writes: usize,
) -> anyhow::Result<Vec<Figure>> {
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(convo_relay::run(
        convo_relay::RelayConfig::new(url),
        kafka.clone(),
        shutdown.clone(),
    ));
    let projector = tokio::spawn(convo_projector::run(
        convo_projector::ProjectorConfig::default(),
        kafka.clone(),
        pool.clone(),
        shutdown.clone(),
    ));
    let handler = convo_store::CommandHandler::new(pool.clone());
    let uid = "benchlag00000001";
    run_command(&handler, start_command(uid)).await?;
    let visible = |version: i64| async move {
        loop {
            let projected: Option<i64> =
                sqlx::query_scalar("SELECT version FROM rm_conversations WHERE uid = $1")
                    .bind(uid)
                    .fetch_optional(pool)
                    .await?;
            if projected.unwrap_or(0) >= version {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    };
    // The projector claims its partitions at its first heartbeat: wait for the start to arrive.
    tokio::time::timeout(Duration::from_secs(60), visible(1)).await??;
    let mut times = Vec::with_capacity(writes);
    for i in 0..writes {
        let command = Command {
            action: Action::Update {
                staff_uid: STAFF.into(),
                changes: UpdateChanges {
                    archived: Some(i % 2 == 0),
                    ..Default::default()
                },
            },
            ..start_command(uid)
        };
        run_command(&handler, command).await?;
        let committed = Instant::now();
        visible(2 + i as i64).await?;
        times.push(committed.elapsed().as_secs_f64() * 1000.0);
    }
    shutdown.cancel();
    relay.await?;
    projector.await??;
    times.sort_by(f64::total_cmp);
    Ok(vec![
        Figure {
            key: "read_model_lag_p50_ms",
            id: "E1",
            name: "read-model lag: commit -> visible in rm_conversations, p50",
            value: percentile(&times, 0.5),
            unit: "ms",
        },
        Figure {
            key: "read_model_lag_p99_ms",
            id: "E1",
            name: "read-model lag: commit -> visible in rm_conversations, p99",
            value: percentile(&times, 0.99),
            unit: "ms",
        },
    ])
}

/// W1: `CONNECTIONS` HTTP connections PUT concurrently for `seconds` on 1,000 conversations,
/// each PUT flipping `archived` (one event each). W3's limit: plain single-row INSERTs of the same
/// event rows into a copy of the events table, one transaction each, same concurrency.
async fn throughput(pool: &PgPool, seconds: u64) -> anyhow::Result<Vec<Figure>> {
    let (base, handler, token) = spawn_api(pool).await?;
    let uids: Arc<Vec<String>> = Arc::new((0..1000).map(|i| format!("benchw1c{i:08}")).collect());
    for uid in uids.iter() {
        run_command(&handler, start_command(uid)).await?;
    }
    let run_for = Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|task| {
            let (base, token, uids) = (base.clone(), token.clone(), uids.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut done = 0_u64;
                let mut i = task;
                while started.elapsed() < run_for {
                    // Each connection owns the conversations i = task (mod CONNECTIONS), so every
                    // PUT flips a value and appends an event.
                    let uid = &uids[i % uids.len()];
                    let archived = (i / uids.len()) % 2 == 0;
                    let response = client
                        .put(format!("{base}/{uid}"))
                        .bearer_auth(&token)
                        .json(&json!({"archived": archived}))
                        .send()
                        .await?;
                    anyhow::ensure!(
                        response.status() == 200,
                        "PUT answered {}",
                        response.status()
                    );
                    response.bytes().await?;
                    done += 1;
                    i += CONNECTIONS;
                }
                anyhow::Ok(done)
            })
        })
        .collect();
    let mut puts = 0;
    for task in tasks {
        puts += task.await??;
    }
    let put_rate = puts as f64 / started.elapsed().as_secs_f64();

    sqlx::query("CREATE TABLE bench_inserts (LIKE events INCLUDING ALL)")
        .execute(pool)
        .await?;
    let payload: Value =
        sqlx::query_scalar("SELECT payload FROM events WHERE event_type = 'Archived' LIMIT 1")
            .fetch_one(pool)
            .await?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|task| {
            let (pool, payload) = (pool.clone(), payload.clone());
            tokio::spawn(async move {
                let mut done = 0_i64;
                while started.elapsed() < run_for {
                    sqlx::query(
                        "INSERT INTO bench_inserts (event_id, conversation_uid, version, event_type,
                             schema_version, payload, business_uid, actor_staff_uid, command_id,
                             correlation_id, causation_id, occurred_at)
                         VALUES ($1, $2, $3, 'Archived', 1, $4, $5, $6, 'c', 'c', 'c', now())",
                    )
                    .bind(uuid::Uuid::new_v4())
                    .bind(format!("insert{task:04}"))
                    .bind(done + 1)
                    .bind(&payload)
                    .bind(BUSINESS)
                    .bind(STAFF)
                    .execute(&pool)
                    .await?;
                    done += 1;
                }
                anyhow::Ok(done as u64)
            })
        })
        .collect();
    let mut inserts = 0;
    for task in tasks {
        inserts += task.await??;
    }
    let insert_rate = inserts as f64 / started.elapsed().as_secs_f64();
    Ok(vec![
        Figure {
            key: "put_concurrent_per_s",
            id: "W1",
            name: "PUTs/s, 64 connections, 1,000 conversations",
            value: put_rate,
            unit: "req/s",
        },
        Figure {
            key: "plain_insert_per_s",
            id: "W3",
            name: "plain INSERT of an event row, 64 connections",
            value: insert_rate,
            unit: "rows/s",
        },
        Figure {
            key: "put_to_insert_ratio",
            id: "W3",
            name: "W1 / plain INSERT",
            value: put_rate / insert_rate,
            unit: "ratio",
        },
    ])
}

/// K1: `commands` update commands (each flipping `archived` on one of 1,000 conversations) are
/// published first; then the intake starts and is timed until every command has its outcome.
async fn intake(pool: &PgPool, kafka: &KafkaConfig, commands: u64) -> anyhow::Result<Vec<Figure>> {
    let handler = convo_store::CommandHandler::new(pool.clone());
    let uids: Vec<String> = (0..1000).map(|i| format!("benchk1c{i:08}")).collect();
    for uid in &uids {
        run_command(&handler, start_command(uid)).await?;
    }
    let producer: FutureProducer<LogContext> = kafka.producer().create_with_context(LogContext)?;
    let records = (0..commands as usize).map(|i| {
        let uid = &uids[i % uids.len()];
        let command = json!({"type": "UpdateConversation", "command_id": format!("k1-{i}"),
            "conversation_uid": uid, "business_uid": BUSINESS, "staff_uid": STAFF,
            "body": {"archived": (i / uids.len()).is_multiple_of(2)}});
        (uid.clone(), command.to_string())
    });
    produce_all(&producer, &kafka.topics.commands, records).await?;
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(convo_intake::run(
        convo_intake::IntakeConfig::default(),
        kafka.clone(),
        handler,
        shutdown.clone(),
    ));
    wait_for_count(
        pool,
        "SELECT count(*) FROM command_outcomes WHERE command_id LIKE 'cmd:k1-%'",
        commands,
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await??;
    Ok(vec![Figure {
        key: "intake_commands_per_s",
        id: "K1",
        name: "command intake: commands topic -> events + outcomes (catch-up)",
        value: commands as f64 / seconds,
        unit: "commands/s",
    }])
}
