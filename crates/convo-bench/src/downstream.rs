//! R1 and P1: a seeded history relayed from the events table to the broker, then projected from
//! the events topic into each read model; each beside its raw limit measured in the same run
//! (rdkafka produce of the same records; rdkafka consume of the same topic).

use std::time::{Duration, Instant};

use convo_kafka::LogContext;
use convo_projector::{ProjectorConfig, ReadModel};
use rdkafka::producer::FutureProducer;
use tokio_util::sync::CancellationToken;

use crate::Plan;
use crate::report::Sample;
use crate::setup::{self, Stack};

pub async fn run(plan: &Plan) -> anyhow::Result<Vec<Sample>> {
    let stack = Stack::fresh(&plan.database_url, &plan.brokers).await?;
    let events = plan.events;
    crate::seed_history::seed(&stack.pool, events, 20).await?;
    let history = format!(
        "{events} events seeded in conversations of 20 (realistic event mix), 8 partitions, acks=all, lz4"
    );
    let mut samples = relay(&stack, events, &history).await?;

    let consumed = setup::consume_count(
        &stack.brokers,
        &stack.kafka.topics.events,
        events,
        Duration::from_secs(600),
    )
    .await?;
    let raw = events as f64 / consumed.as_secs_f64();
    samples.push(
        Sample::new(
            "P1",
            "raw_consume_per_s",
            "baseline: raw rdkafka consume of the events topic",
            raw,
            "events/s",
        )
        .load(&history),
    );
    // Both models count as built, as the conversations model does in a fresh database: each
    // projector then reads the whole topic. (A model never built is first built from the store
    // when its projector starts, which is P2's figure, not P1's.)
    sqlx::query(
        "INSERT INTO read_model_builds (read_model, events, source)
         VALUES ('follow-ups', 0, 'projector') ON CONFLICT DO NOTHING",
    )
    .execute(&stack.pool)
    .await?;
    for model in ReadModel::ALL {
        let rate = project(&stack, model, events).await?;
        let name = model.name().replace('-', "_");
        samples.push(
            Sample::new(
                "P1",
                format!("p1_{name}_per_s"),
                format!("projector `{model}`: events topic -> read model (catch-up)"),
                rate,
                "events/s",
            )
            .load(&history)
            .goal(">= 150,000"),
        );
        samples.push(Sample::new(
            "P1",
            format!("p1_{name}_ratio"),
            format!("projector `{model}` / raw consume (same run)"),
            rate / raw,
            "ratio",
        ));
    }
    Ok(samples)
}

/// The relay from position 0 until it has published every event, then a raw producer of the
/// same keys and payloads, from memory, with the same producer settings, to another topic.
async fn relay(stack: &Stack, events: u64, history: &str) -> anyhow::Result<Vec<Sample>> {
    let relay = events as f64 / relay_all(stack, events).await?.as_secs_f64();

    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT conversation_uid, payload::text FROM events ORDER BY tx_id, position",
    )
    .fetch_all(&stack.pool)
    .await?;
    let producer: FutureProducer<LogContext> =
        stack.kafka.producer().create_with_context(LogContext)?;
    let started = Instant::now();
    setup::produce_all(&producer, &stack.kafka.topics.outcomes, rows.into_iter()).await?;
    let raw = events as f64 / started.elapsed().as_secs_f64();
    Ok(vec![
        Sample::new("R1", "r1_relay_per_s", "relay: events table -> broker, acknowledged", relay, "events/s").load(history).goal(">= 100,000"),
        Sample::new("R1", "raw_produce_per_s", "baseline: raw rdkafka produce of the same records", raw, "events/s").load("the relayed keys and payloads, from memory, same producer settings, no headers, another topic of the same broker"),
        Sample::new("R1", "r1_ratio", "relay / raw produce (same run)", relay / raw, "ratio").goal(">= 0.7"),
    ])
}

/// The relay, started from position 0 (its start included), until it has published `events`
/// events: how long that took.
pub async fn relay_all(stack: &Stack, events: u64) -> anyhow::Result<Duration> {
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(convo_relay::run(
        convo_relay::RelayConfig::new(&stack.url),
        stack.kafka.clone(),
        shutdown.clone(),
    ));
    setup::wait_for_count(
        &stack.pool,
        "SELECT published FROM relay_positions WHERE relay = 'events'",
        events,
        Duration::from_secs(600),
    )
    .await?;
    let elapsed = started.elapsed();
    shutdown.cancel();
    task.await?;
    Ok(elapsed)
}

/// A fresh projector of `model` (no positions yet) on the events topic: events/s until its
/// positions cover every record.
async fn project(stack: &Stack, model: ReadModel, events: u64) -> anyhow::Result<f64> {
    let shutdown = CancellationToken::new();
    let config = ProjectorConfig::of(model);
    let started = Instant::now();
    let task = tokio::spawn(convo_projector::run(
        config.clone(),
        stack.kafka.clone(),
        stack.pool.clone(),
        shutdown.clone(),
    ));
    let applied = format!(
        "SELECT sum(next_offset)::bigint FROM partition_claims WHERE consumer = '{}' AND topic = '{}'",
        config.name, stack.kafka.topics.events
    );
    setup::wait_for_count(&stack.pool, &applied, events, Duration::from_secs(600)).await?;
    let rate = events as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await??;
    Ok(rate)
}
