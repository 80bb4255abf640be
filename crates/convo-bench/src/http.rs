//! W1, W2, W3, E1, M1 and the W1 half of S1: the service in processes of its own, loaded over
//! HTTP from this one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rdkafka::Offset;
use rdkafka::consumer::StreamConsumer;
use tokio_util::sync::CancellationToken;

use crate::cpu;
use crate::load::{self, Conversations, Target};
use crate::report::Sample;
use crate::service::Service;
use crate::setup::{self, BUSINESS, SECRET, STAFF, Stack};
use crate::{CONNECTIONS, Plan};

/// Conversations the HTTP load goes to.
const CONVERSATIONS: usize = 2_000;
/// W2's fixed rate.
const RATE: u32 = 2_000;

/// The service's figures with `instances` service processes side by side, each running every
/// role, the load spread over them. With one instance: W1, W3's baseline, M1, W2 and E1; with
/// more: W1 and M1 only.
pub async fn run(plan: &Plan, instances: usize) -> anyhow::Result<Vec<Sample>> {
    let stack = Stack::fresh(&plan.database_url, &plan.brokers).await?;
    let uids = stack.start_conversations("benchw1c", CONVERSATIONS).await?;
    let services = Service::start_many(&plan.convo, &stack, instances).await?;
    let target = Target {
        bases: services.iter().map(|s| s.base.clone()).collect(),
        token: convo_api::auth::sign_dev_token(
            SECRET,
            STAFF,
            BUSINESS,
            "all",
            chrono::Duration::hours(2),
            chrono::Utc::now(),
        ),
        conversations: Conversations::new(uids),
    };
    let seconds = Duration::from_secs(plan.seconds);
    let mut samples = Vec::new();
    let s = if instances == 1 {
        String::new()
    } else {
        format!("_{instances}_instances")
    };
    let load = format!(
        "{CONNECTIONS} connections over {instances} instance(s), each PUT flipping `archived` on one of {CONVERSATIONS} conversations; {}s; relay, intake and projectors running; fsync on",
        plan.seconds
    );

    let baseline = if instances == 1 {
        let rate = insert_baseline(&stack, seconds).await?;
        samples.push(
            Sample::new("W3", "plain_insert_per_s", "baseline: single-row INSERT transactions of event rows", rate, "rows/s")
                .load(format!("{CONNECTIONS} connections, one event row per transaction into a copy of the events table (same indexes), {}s, service idle beside it", plan.seconds)),
        );
        Some(rate)
    } else {
        None
    };

    let warm_up = load::closed_loop(&target, CONNECTIONS, Duration::from_secs(1)).await;
    warm_up.all_ok()?;
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = CancellationToken::new();
    let sampler = sample_rss(&services, peak.clone(), sampling.clone());
    let groups = cpu::Groups::new(services.iter().map(Service::pid).collect(), &stack.pool).await?;
    let cpu_before = cpu::Snapshot::take(&groups);
    let w1 = load::closed_loop(&target, CONNECTIONS, seconds).await;
    let cpu = cpu::Snapshot::take(&groups).since(&cpu_before);
    sampling.cancel();
    sampler.await?;
    w1.all_ok()?;
    let id = if instances == 1 { "W1" } else { "S1" };
    samples.push(
        Sample::new(
            id,
            format!("w1_put_per_s{s}"),
            format!("PUTs/s, {CONNECTIONS} connections, {instances} instance(s)"),
            w1.rate(),
            "req/s",
        )
        .load(&load)
        .goal(if instances == 1 {
            ">= 10,000"
        } else {
            "not below 1 instance"
        }),
    );
    samples.push(
        Sample::new(
            id,
            format!("w1_p99_ms{s}"),
            format!("PUT latency under W1, p99, {instances} instance(s)"),
            w1.ms(99.0),
            "ms",
        )
        .load(&load),
    );
    samples.push(
        Sample::new(
            "M1",
            format!("m1_rss_mib{s}"),
            format!("service RSS under W1, largest instance, {instances} instance(s)"),
            peak.load(Ordering::Relaxed) as f64 / 1048576.0,
            "MiB",
        )
        .load("VmRSS of each service process every 100 ms during W1")
        .goal("<= 150"),
    );
    let phase = format!("W1, {instances} instance(s)");
    samples.extend(cpu::samples(id, "w1", &s, &phase, &groups, &cpu));
    if let Some(baseline) = baseline {
        samples.push(
            Sample::new(
                "W3",
                "w3_ratio",
                "W1 / single-row INSERT (same run)",
                w1.rate() / baseline,
                "ratio",
            )
            .load("W1 and the INSERT baseline above, same database server")
            .goal(">= 1.0"),
        );
    }
    check_every_put_appended(&stack, warm_up.ok + w1.ok).await?;

    if instances == 1 {
        let w2 = load::open_loop(&target, RATE, seconds).await;
        w2.all_ok()?;
        let load = format!(
            "{RATE} PUTs/s sent on schedule for {}s whatever the answers (latency from the time each was due), {CONVERSATIONS} conversations, 1 instance",
            plan.seconds
        );
        samples.push(
            Sample::new(
                "W2",
                "w2_p50_ms",
                "PUT latency at a fixed rate, p50",
                w2.ms(50.0),
                "ms",
            )
            .load(&load),
        );
        samples.push(
            Sample::new(
                "W2",
                "w2_p99_ms",
                "PUT latency at a fixed rate, p99",
                w2.ms(99.0),
                "ms",
            )
            .load(&load)
            .goal("<= 10"),
        );
        samples.push(
            Sample::new(
                "W2",
                "w2_rate",
                "PUTs/s answered at the fixed rate",
                w2.rate(),
                "req/s",
            )
            .load(&load),
        );
        samples.extend(end_to_end(&stack, &target, plan.e1_puts).await?);
    }
    for service in services {
        service.stop().await?;
    }
    Ok(samples)
}

/// Every PUT answered 200 flipped a value, so committed one event before it was answered: the
/// events table holds exactly one archive or unarchive event per such PUT.
async fn check_every_put_appended(stack: &Stack, puts: u64) -> anyhow::Result<()> {
    let events = stack
        .count("SELECT count(*) FROM events WHERE event_type IN ('Archived', 'Unarchived')")
        .await?;
    anyhow::ensure!(
        events == puts,
        "{puts} PUTs answered 200 but {events} events were committed"
    );
    Ok(())
}

/// Samples each service's RSS every 100 ms into `peak` (the largest seen) until `stop`.
fn sample_rss(
    services: &[Service],
    peak: Arc<AtomicU64>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let pids: Vec<u32> = services.iter().map(Service::pid).collect();
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            for pid in &pids {
                if let Some(rss) = crate::service::rss_of(*pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// W3's limit: `CONNECTIONS` connections inserting one event row per transaction into a copy of
/// the events table (same indexes) for `duration`; rows per second.
async fn insert_baseline(stack: &Stack, duration: Duration) -> anyhow::Result<f64> {
    sqlx::query("CREATE TABLE bench_inserts (LIKE events INCLUDING ALL)")
        .execute(&stack.pool)
        .await?;
    let payload: serde_json::Value = sqlx::query_scalar("SELECT payload FROM events LIMIT 1")
        .fetch_one(&stack.pool)
        .await?;
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|task| {
            let (pool, payload) = (stack.pool.clone(), payload.clone());
            tokio::spawn(async move {
                let mut done = 0_i64;
                while started.elapsed() < duration {
                    sqlx::query(
                        "INSERT INTO bench_inserts (event_id, conversation_uid, version, event_type,
                             schema_version, payload, business_uid, actor_staff_uid, command_id,
                             correlation_id, causation_id, occurred_at)
                         VALUES ($1, $2, $3, 'Archived', 1, $4, $5, $6, $7, 'c', 'c', now())",
                    )
                    .bind(uuid::Uuid::new_v4())
                    .bind(format!("insert{task:04}"))
                    .bind(done + 1)
                    .bind(&payload)
                    .bind(BUSINESS)
                    .bind(STAFF)
                    .bind(uuid::Uuid::new_v4().to_string())
                    .execute(&pool)
                    .await?;
                    done += 1;
                }
                anyhow::Ok(done as u64)
            })
        })
        .collect();
    let mut rows = 0;
    for task in tasks {
        rows += task.await??;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// E1: `puts` PUTs one after another, each timed from its 200 (committed) until an outside
/// consumer of the events topic reads its event, and until `rm_conversations` shows its version.
async fn end_to_end(stack: &Stack, target: &Target, puts: usize) -> anyhow::Result<Vec<Sample>> {
    stack.relay_caught_up(Duration::from_secs(120)).await?;
    let consumer =
        setup::outside_consumer(&stack.brokers, &stack.kafka.topics.events, Offset::End)?;
    let (seen, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(read_arrivals(consumer, seen));
    // Let the consumer's assignment settle before the first PUT.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = reqwest::Client::new();
    let uid = "benchw1c00000000";
    let mut version = stack
        .count(&format!(
            "SELECT max(version) FROM events WHERE conversation_uid = '{uid}'"
        ))
        .await?;
    let (mut to_consumer, mut to_model) = (hist(), hist());
    for _ in 0..puts {
        let (path, body) = target.conversations.flip(0);
        let answer = client
            .put(format!("{}{path}", target.bases[0]))
            .bearer_auth(&target.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            answer.status() == 200,
            "E1's PUT answered {}",
            answer.status()
        );
        let committed = Instant::now();
        version += 1;
        let consumed = async {
            while let Some((key, v, at)) = arrivals.recv().await {
                if key == uid && v >= version {
                    return Ok(at);
                }
            }
            anyhow::bail!("the outside consumer stopped")
        };
        let projected = async {
            loop {
                let v: Option<i64> =
                    sqlx::query_scalar("SELECT version FROM rm_conversations WHERE uid = $1")
                        .bind(uid)
                        .fetch_optional(&stack.pool)
                        .await?;
                if v.unwrap_or(0) as u64 >= version {
                    return anyhow::Ok(Instant::now());
                }
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        };
        let both = async { tokio::try_join!(consumed, projected) };
        let (consumed, projected) = tokio::time::timeout(Duration::from_secs(30), both).await??;
        to_consumer.saturating_record(consumed.duration_since(committed).as_micros() as u64);
        to_model.saturating_record(projected.duration_since(committed).as_micros() as u64);
    }
    reader.abort();
    let load = format!(
        "{puts} PUTs one after another on one conversation, after W2; an outside consumer (fetch.wait.max.ms 5) on the events topic; rm_conversations polled every 0.5 ms"
    );
    let ms = |h: &hdrhistogram::Histogram<u64>, p: f64| h.value_at_percentile(p) as f64 / 1000.0;
    Ok(vec![
        Sample::new(
            "E1",
            "e1_consumer_p50_ms",
            "PUT committed -> event read by an outside consumer, p50",
            ms(&to_consumer, 50.0),
            "ms",
        )
        .load(&load),
        Sample::new(
            "E1",
            "e1_consumer_p99_ms",
            "PUT committed -> event read by an outside consumer, p99",
            ms(&to_consumer, 99.0),
            "ms",
        )
        .load(&load)
        .goal("<= 20"),
        Sample::new(
            "E1",
            "e1_read_model_p50_ms",
            "PUT committed -> visible in the read model, p50",
            ms(&to_model, 50.0),
            "ms",
        )
        .load(&load),
        Sample::new(
            "E1",
            "e1_read_model_p99_ms",
            "PUT committed -> visible in the read model, p99",
            ms(&to_model, 99.0),
            "ms",
        )
        .load(&load)
        .goal("<= 30"),
    ])
}

fn hist() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

/// Sends (conversation, version, arrival time) of every event record `consumer` reads.
async fn read_arrivals(
    consumer: StreamConsumer,
    seen: tokio::sync::mpsc::UnboundedSender<(String, u64, Instant)>,
) {
    let mut stream = consumer.stream();
    while let Some(Ok(message)) = stream.next().await {
        let at = Instant::now();
        let Ok(record) = convo_kafka::EventRecord::from_message(&message) else {
            continue;
        };
        if seen
            .send((record.conversation_uid, record.version, at))
            .is_err()
        {
            return;
        }
    }
}
