//! `convo-bench seed-history`: fills an empty events table with a large, valid history, fast, for
//! measuring the replay tools (export, history, replay) on 1,000,000 events.
//!
//! The payloads are built by the domain (one template per event type, serialized from real
//! `Event`s) and stamped per row by PostgreSQL (`INSERT ... SELECT` over `UNNEST` of the event ids,
//! which are `convo_store::store::event_id`, so they match what the service would write). Every
//! conversation is a `ConversationStarted` followed by a realistic cycle of staff actions and
//! messages; each folds through `Conversation::evolve` (`convo verify` on a small seed checks it).

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use convo_domain::command::Direction;
use convo_domain::event::SCHEMA_VERSION;
use convo_domain::{Conversation, Event, EventBody, decide};
use serde_json::Value;
use sqlx::PgPool;

use crate::setup::{STAFF, start_command};

/// Events written per statement (whole conversations). Each statement is its own transaction.
const BATCH_EVENTS: u64 = 50_000;

#[derive(Debug, Args)]
pub struct SeedHistoryArgs {
    /// How many events to write in all.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// Events per conversation (the last conversation may have fewer).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    per_conversation: u64,
    /// The conversations are spread over this many businesses (`histbusiness0000`, ...).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    businesses: u64,
}

/// The events after `ConversationStarted`, repeated in this order to fill a conversation.
fn cycle(at: DateTime<Utc>) -> Vec<Event> {
    let by_staff = |body| Event {
        at,
        staff_uid: Some(STAFF.into()),
        client_uid: String::new(),
        body,
    };
    let message = |direction: Direction, title: &str, text: &str| Event {
        staff_uid: (direction == Direction::Outgoing).then(|| STAFF.into()),
        ..by_staff(EventBody::MessageRecorded {
            message_id: String::new(),
            direction,
            title: title.into(),
            text: text.into(),
        })
    };
    vec![
        message(
            Direction::Incoming,
            "Question",
            "Hi, can I move my appointment to Friday?",
        ),
        by_staff(EventBody::MarkedRead),
        message(
            Direction::Outgoing,
            "Re: Question",
            "Sure, Friday at 10:00 works.",
        ),
        by_staff(EventBody::FollowUpSet {
            due_at: Some(at + chrono::Duration::days(2)),
            message: "Confirm the new time".into(),
        }),
        by_staff(EventBody::Archived),
        by_staff(EventBody::Unarchived),
        by_staff(EventBody::InternalNoteAdded {
            text: "Prefers mornings; ask about the package.".into(),
        }),
        by_staff(EventBody::FollowUpCompleted),
        by_staff(EventBody::MarkedUnread),
        by_staff(EventBody::MarkedRead),
        by_staff(EventBody::FollowUpSet {
            due_at: None,
            message: String::new(),
        }),
        by_staff(EventBody::FollowUpRemoved),
    ]
}

/// The event templates, in order (the start event, then the cycle), as three parallel columns.
#[derive(Debug, Default)]
struct Templates {
    types: Vec<String>,
    payloads: Vec<Value>,
    actors: Vec<Option<String>>,
}

fn templates() -> anyhow::Result<Templates> {
    let start = decide(&Conversation::new("template"), &start_command("template"))
        .map_err(|r| anyhow::anyhow!("the template start is refused: {r}"))?;
    let at = start.first().context("a start event")?.at;
    let events: Vec<Event> = start.into_iter().chain(cycle(at)).collect();
    let mut t = Templates::default();
    for event in &events {
        t.types.push(event.type_name().to_owned());
        t.payloads.push(serde_json::to_value(event)?);
        t.actors.push(event.staff_uid.clone());
    }
    Ok(t)
}

pub async fn run(pool: &PgPool, args: &SeedHistoryArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let written = write(pool, args, |written| eprint!("\r{written} events")).await?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!();
    println!(
        "seeded {written} events in conversations of up to {} in {seconds:.1} s ({:.0} events/s)",
        args.per_conversation,
        written as f64 / seconds
    );
    Ok(())
}

/// Seeds `events` events in conversations of `per_conversation` (over 10 businesses), quietly.
pub async fn seed(pool: &PgPool, events: u64, per_conversation: u64) -> anyhow::Result<()> {
    let args = SeedHistoryArgs {
        events,
        per_conversation,
        businesses: 10,
    };
    write(pool, &args, |_| {}).await?;
    Ok(())
}

/// Writes the history `args` describe; `progress` is told the events written after each batch.
async fn write(
    pool: &PgPool,
    args: &SeedHistoryArgs,
    progress: impl Fn(u64),
) -> anyhow::Result<u64> {
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(pool)
        .await
        .context("counting events (is the database migrated?)")?;
    anyhow::ensure!(
        existing == 0,
        "the events table already holds {existing} events: seed-history fills an empty one"
    );
    let templates = templates()?;
    let k = args.per_conversation;
    let per_batch = (BATCH_EVENTS / k).max(1);
    let conversations = args.events.div_ceil(k);
    let mut written = 0;
    let mut first = 0;
    while first < conversations {
        let last = (first + per_batch).min(conversations);
        let ids: Vec<uuid::Uuid> = (first * k..(last * k).min(args.events))
            .map(|n| convo_store::store::event_id(&uid(n / k), n % k + 1))
            .collect();
        written += insert(pool, first, k, args.businesses, &ids, &templates).await?;
        progress(written);
        first = last;
    }
    Ok(written)
}

/// The uid of the `n`th seeded conversation (the SQL below spells it the same way).
pub fn uid(n: u64) -> String {
    format!("hist{n:012}")
}

/// Writes the events whose ids are `ids`: row `i` is version `i % k + 1` of conversation
/// `first + i / k`.
async fn insert(
    pool: &PgPool,
    first: u64,
    k: u64,
    businesses: u64,
    ids: &[uuid::Uuid],
    t: &Templates,
) -> anyhow::Result<u64> {
    let cycle = i64::try_from(t.types.len() - 1)?;
    let done = sqlx::query(
        r#"INSERT INTO events (event_id, conversation_uid, version, event_type, schema_version,
                               payload, business_uid, actor_staff_uid, command_id,
                               correlation_id, causation_id, occurred_at)
           SELECT e.id, e.uid, e.version, t.type, $1,
                  CASE WHEN e.version = 1
                       THEN jsonb_set(t.payload, '{client,uid}', to_jsonb(e.client))
                            || jsonb_build_object('business_uid', e.business)
                       WHEN t.type = 'FollowUpSet' AND t.payload->'due_at' <> 'null'
                       THEN t.payload || jsonb_build_object('due_at', to_char(
                              (e.at + interval '2 days') AT TIME ZONE 'UTC',
                              'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                       WHEN t.type = 'MessageRecorded'
                       THEN t.payload || jsonb_build_object('message_id', e.uid || '-' || e.version)
                       ELSE t.payload END
                  || jsonb_build_object(
                       'at', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       'client_uid', e.client),
                  e.business, t.actor, e.command, e.uid, e.command, e.at
           FROM (SELECT u.id, 'hist' || lpad(c::text, 12, '0') AS uid, v AS version,
                        'client' || lpad(c::text, 12, '0') AS client,
                        'histbusiness' || lpad((c % $3)::text, 4, '0') AS business,
                        'seed-' || c || '-' || v AS command,
                        timestamptz '2026-01-01 00:00:00Z' + c * interval '7 seconds'
                          + (v - 1) * interval '1 hour' AS at
                 FROM UNNEST($2::uuid[]) WITH ORDINALITY AS u (id, n),
                      LATERAL (SELECT $4 + (u.n - 1) / $5 AS c, (u.n - 1) % $5 + 1 AS v) AS p
                ) AS e
           JOIN UNNEST($6::text[], $7::jsonb[], $8::text[]) WITH ORDINALITY AS t (type, payload, actor, idx)
             ON t.idx = CASE WHEN e.version = 1 THEN 1 ELSE 2 + (e.version - 2) % $9 END"#,
    )
    .bind(SCHEMA_VERSION)
    .bind(ids)
    .bind(i64::try_from(businesses)?)
    .bind(i64::try_from(first)?)
    .bind(i64::try_from(k)?)
    .bind(&t.types)
    .bind(&t.payloads)
    .bind(&t.actors)
    .bind(cycle)
    .execute(pool)
    .await
    .context("inserting seeded events")?;
    Ok(done.rows_affected())
}
