//! K1 and the K1 half of S1: update commands published to the commands topic, handled by the
//! intake of `instances` service processes, timed until an outside consumer has read every
//! outcome from the outcomes topic.

use std::time::{Duration, Instant};

use convo_kafka::LogContext;
use rdkafka::producer::FutureProducer;
use serde_json::json;

use crate::Plan;
use crate::cpu;
use crate::report::Sample;
use crate::service::Service;
use crate::setup::{self, BUSINESS, STAFF, Stack};

const CONVERSATIONS: usize = 1_000;

pub async fn run(plan: &Plan, instances: usize) -> anyhow::Result<Vec<Sample>> {
    let stack = Stack::fresh(&plan.database_url, &plan.brokers).await?;
    let uids = stack.start_conversations("benchk1c", CONVERSATIONS).await?;
    let services = Service::start_many(&plan.convo, &stack, instances).await?;
    claims_settled(&stack, instances).await?;
    let commands = plan.commands;
    let records: Vec<(String, String)> = (0..commands as usize)
        .map(|i| {
            let uid = &uids[i % uids.len()];
            let command = json!({"type": "UpdateConversation", "command_id": format!("k1-{i}"),
                "conversation_uid": uid, "business_uid": BUSINESS, "staff_uid": STAFF,
                "body": {"archived": (i / uids.len()).is_multiple_of(2)}});
            (uid.clone(), command.to_string())
        })
        .collect();
    let outcomes = tokio::spawn({
        let (brokers, topic) = (stack.brokers.clone(), stack.kafka.topics.outcomes.clone());
        async move { setup::consume_count(&brokers, &topic, commands, Duration::from_secs(600)).await }
    });
    let producer: FutureProducer<LogContext> =
        stack.kafka.producer().create_with_context(LogContext)?;
    let groups = cpu::Groups::new(services.iter().map(Service::pid).collect(), &stack.pool).await?;
    let cpu_before = cpu::Snapshot::take(&groups);
    let started = Instant::now();
    setup::produce_all(&producer, &stack.kafka.topics.commands, records.into_iter()).await?;
    outcomes.await??;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu::Snapshot::take(&groups).since(&cpu_before);
    let accepted = stack
        .count("SELECT count(*) FROM events WHERE event_type IN ('Archived', 'Unarchived')")
        .await?;
    anyhow::ensure!(
        accepted == commands,
        "{commands} commands but {accepted} events committed"
    );
    for mut service in services {
        service.running()?;
        service.stop().await?;
    }
    let (id, key, goal) = if instances == 1 {
        ("K1", "k1_commands_per_s".to_owned(), ">= 20,000")
    } else {
        (
            "S1",
            format!("k1_commands_per_s_{instances}_instances"),
            "not below 1 instance",
        )
    };
    let suffix = key.trim_start_matches("k1_commands_per_s").to_owned();
    let mut samples = vec![
        Sample::new(id, key, format!("command intake, {instances} instance(s): published -> events committed, outcomes read"), commands as f64 / seconds, "commands/s")
            .load(format!("{commands} update commands (each flipping `archived` on one of {CONVERSATIONS} conversations) published at full speed to 8 partitions while the service runs; timed from the first publish until an outside consumer read every outcome"))
            .goal(goal),
    ];
    let phase = format!("K1, {instances} instance(s)");
    samples.extend(cpu::samples(id, "k1", &suffix, &phase, &groups, &cpu));
    Ok(samples)
}

/// Waits until the intake of every instance holds its share of the commands topic's partitions.
async fn claims_settled(stack: &Stack, instances: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (held, owners): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(DISTINCT owner) FROM partition_claims
             WHERE consumer = 'intake' AND topic = $1 AND owner IS NOT NULL
               AND lease_expires_at > now()",
        )
        .bind(&stack.kafka.topics.commands)
        .fetch_one(&stack.pool)
        .await?;
        if held == i64::from(setup::PARTITIONS) && owners as usize == instances {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the intake holds {held} partitions over {owners} instance(s) after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
