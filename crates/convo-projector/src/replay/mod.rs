//! Rebuilding read models from history without downtime (`convo replay`, docs/adr/0011).
//!
//! A rebuild fills copies of the models' tables in a shadow schema from the event store (one
//! snapshot, complete and ordered) or from the events topic, catches them up with the events
//! committed meanwhile, indexes them, and swaps them in: one transaction takes the projectors'
//! claim rows (a batch in progress finishes first), locks the live tables, applies the last
//! events, and moves the live tables out and the shadow ones in. The API answers from the old
//! tables until that transaction commits and from the new ones after; the running projectors
//! keep running and go on from their positions: a rebuilt table holds every event any position
//! covers, and what they read again is skipped by version. A projector that never ran (a new
//! model) starts where the topic ended when the rebuild began.
//!
//! An interrupted rebuild leaves the live tables untouched (only the swap transaction changes
//! them); the next one drops the leftovers and starts over. One rebuild runs at a time (an
//! advisory lock).

mod shadow;
mod source;

use std::time::{Duration, Instant};

use convo_kafka::KafkaConfig;
use convo_kafka::read::ReadError;
use convo_store::events::Position;
use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};

use crate::project::ProjectError;
use crate::read_models::ReadModel;
pub use shadow::TableDiff;

/// The replay lock, in the advisory-lock key space of this service (`convo_relay`'s leader lock
/// is `(LOCK_SPACE, 1)`).
const LOCK: (i32, i32) = (0x636f_6e76, 2);

/// Where a rebuild reads history from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The event store: complete and ordered by definition.
    Store,
    /// The events topic, then the store for what the relays had not published yet.
    Topic,
}

/// A rebuild to run.
#[derive(Debug, Clone)]
pub struct Replay {
    pub models: Vec<ReadModel>,
    pub source: Source,
    /// Build and compare, then throw the rebuild away.
    pub dry_run: bool,
    /// The broker: the topic to read (with [`Source::Topic`]), and where the projector of a model
    /// built for the first time starts.
    pub kafka: Option<KafkaConfig>,
}

/// Where a rebuild stands, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading history begins (`total` events, when known).
    Reading {
        total: Option<u64>,
    },
    /// So many more events were applied.
    Read(u64),
    CatchingUp,
    Indexing,
    Comparing,
    Swapping,
}

/// What a rebuild did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub models: Vec<String>,
    pub source: Source,
    pub dry_run: bool,
    /// Events (or topic records) read from the source.
    pub events_read: u64,
    /// Events committed during the rebuild and applied before the swap (and, from the topic,
    /// those the topic lacked, filled in from the store).
    pub caught_up: u64,
    pub seconds: f64,
    /// The rebuilt tables are live.
    pub swapped: bool,
    /// With a dry run, the rows that differ between the live and the rebuilt tables.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<TableDiff>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("another replay is running (it holds the replay lock); let it finish first")]
    Busy,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("events topic: {0}")]
    Topic(#[from] ReadError),
    #[error("reading history failed: {0}")]
    Reader(String),
    #[error("--from topic needs the broker (KAFKA_BROKERS)")]
    NoBroker,
    #[error("conversation {0} has no events in the store")]
    UnknownConversation(String),
}

/// Rebuilds `plan.models` as the module says.
pub async fn replay(
    pool: &PgPool,
    plan: &Replay,
    progress: &(dyn Fn(Step) + Sync),
) -> Result<Report, ReplayError> {
    if plan.source == Source::Topic && plan.kafka.is_none() {
        return Err(ReplayError::NoBroker);
    }
    let mut lock = shadow::connect(pool).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(LOCK.0)
        .bind(LOCK.1)
        .fetch_one(&mut lock)
        .await?;
    if !locked {
        return Err(ReplayError::Busy);
    }
    let report = rebuild(pool, plan, progress).await;
    // The lock goes with its session.
    let _ = lock.close().await;
    report
}

async fn rebuild(
    pool: &PgPool,
    plan: &Replay,
    progress: &(dyn Fn(Step) + Sync),
) -> Result<Report, ReplayError> {
    let started = Instant::now();
    let models = &plan.models;
    let tables: Vec<&str> = models.iter().flat_map(|m| m.tables()).copied().collect();
    // Where the topic ends before anything is read: everything before it is in what is read.
    // Asked beside the rebuild (a broker that does not answer costs no time).
    let ends = match &plan.kafka {
        Some(kafka) if !plan.dry_run => {
            let kafka = kafka.clone();
            Some(tokio::spawn(async move { topic_ends(&kafka).await }))
        }
        _ => None,
    };
    let mut writer = shadow::connect(pool).await?;
    let live = shadow::live_schema(&mut writer).await?;
    shadow::create(&mut writer, &live, &tables).await?;
    let mut writer = shadow_writer(pool, &live).await?;
    let (events_read, filled, mut from) = match (plan.source, &plan.kafka) {
        (Source::Store, _) => {
            let mut writers = Vec::with_capacity(models.len());
            for model in models {
                writers.push((*model, shadow_writer(pool, &live).await?));
            }
            let (read, from) = source::from_store(pool, &mut writers, progress).await?;
            (read, 0, from)
        }
        (Source::Topic, Some(kafka)) => {
            source::from_topic(&mut writer, kafka, models, progress).await?
        }
        (Source::Topic, None) => return Err(ReplayError::NoBroker),
    };
    progress(Step::CatchingUp);
    let mut caught_up = filled + source::catch_up(&mut writer, models, &mut from).await?;
    progress(Step::Indexing);
    shadow::index(&mut writer, &live, &tables).await?;
    caught_up += source::catch_up(&mut writer, models, &mut from).await?;
    tracing::info!(
        events = events_read,
        caught_up,
        seconds = started.elapsed().as_secs_f64(),
        "rebuilt tables loaded and indexed"
    );
    let mut report = Report {
        models: models.iter().map(|m| m.name().to_owned()).collect(),
        source: plan.source,
        dry_run: plan.dry_run,
        events_read,
        caught_up,
        seconds: 0.0,
        swapped: false,
        differences: Vec::new(),
    };
    if plan.dry_run {
        progress(Step::Comparing);
        report.differences = shadow::diff(&mut writer, &live, &tables).await?;
    } else {
        let ends = match ends {
            Some(asked) => asked.await.unwrap_or(None),
            None => None,
        };
        progress(Step::Swapping);
        let target = Target {
            live: &live,
            plan,
            tables: &tables,
            ends: ends.as_deref(),
            events_read,
        };
        report.caught_up += swap(&mut writer, &target, &mut from).await?;
        report.swapped = true;
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "rebuilt tables swapped in"
        );
    }
    shadow::drop_all(&mut writer).await?;
    tracing::info!(
        seconds = started.elapsed().as_secs_f64(),
        "old tables dropped"
    );
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A connection of its own that writes to the shadow tables. The rebuild is worth nothing until
/// the swap (which commits synchronously): its commits need not wait for the disk. Statements
/// are planned for the tables as they are at each execution: a plan cached while a table was
/// empty (a sequential scan) would make every later lookup read the whole growing table.
async fn shadow_writer(pool: &PgPool, live: &str) -> Result<PgConnection, ReplayError> {
    let mut writer = shadow::connect(pool).await?;
    shadow::run(
        &mut writer,
        "SET synchronous_commit = off; SET plan_cache_mode = force_custom_plan",
    )
    .await?;
    shadow::write_to_shadow(&mut writer, live).await?;
    Ok(writer)
}

/// Each partition's end on the events topic, or `None` (logged) when the broker does not answer:
/// a new model's projector then reads the topic from its start, skipping what it holds.
async fn topic_ends(kafka: &KafkaConfig) -> Option<Vec<(i32, i64)>> {
    let topic = &kafka.topics.events;
    match convo_kafka::read::high_watermarks(kafka, topic, Duration::from_secs(10)).await {
        Ok(ends) => Some(ends.into_iter().collect()),
        Err(e) => {
            tracing::warn!(%topic, error = %e, "the topic's ends are unknown; a new projector will read the topic from its start");
            None
        }
    }
}

/// What a swap puts in place.
struct Target<'a> {
    live: &'a str,
    plan: &'a Replay,
    tables: &'a [&'a str],
    /// The topic's ends when the rebuild began, if the broker said.
    ends: Option<&'a [(i32, i64)]>,
    events_read: u64,
}

/// The swap transaction (the module comment); retried when the locks are not granted within a
/// second. Requests that queue behind a swap waiting for its locks wait at most that second.
async fn swap(
    conn: &mut PgConnection,
    target: &Target<'_>,
    from: &mut Position,
) -> Result<u64, ReplayError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let start = from.clone();
        match try_swap(conn, target, from).await {
            Ok(n) => return Ok(n),
            Err(ReplayError::Database(e)) if attempt < 20 && is_lock_timeout(&e) => {
                *from = start;
                tracing::warn!(
                    attempt,
                    "the live tables stayed busy; trying the swap again"
                );
                source::catch_up(conn, &target.plan.models, from).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_lock_timeout(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "55P03")
}

async fn try_swap(
    conn: &mut PgConnection,
    target: &Target<'_>,
    from: &mut Position,
) -> Result<u64, ReplayError> {
    let Target {
        live,
        plan,
        tables,
        ends,
        events_read,
    } = *target;
    let names: Vec<String> = plan.models.iter().map(|m| m.name().to_owned()).collect();
    let mut tx = conn.begin().await?;
    shadow::run(
        &mut tx,
        "SET LOCAL lock_timeout = '1s'; SET LOCAL synchronous_commit = on",
    )
    .await?;
    // The claim rows first, as the projector's batches take them: one in progress ends first.
    sqlx::query("SELECT 1 FROM partition_claims WHERE consumer = ANY($1) ORDER BY topic, partition FOR UPDATE")
        .bind(&names)
        .execute(&mut *tx)
        .await?;
    shadow::lock_live(&mut tx, live, tables).await?;
    let caught_up = source::catch_up(&mut tx, &plan.models, from).await?;
    shadow::swap(&mut tx, live, tables).await?;
    for model in &plan.models {
        if let (Some(ends), Some(kafka)) = (ends, &plan.kafka) {
            start_new_projector(&mut tx, model.name(), &kafka.topics.events, ends).await?;
        }
        sqlx::query(
            "INSERT INTO read_model_builds (read_model, events, source) VALUES ($1, $2, $3)
             ON CONFLICT (read_model) DO UPDATE SET built_at = clock_timestamp(),
                 events = EXCLUDED.events, source = EXCLUDED.source",
        )
        .bind(model.name())
        .bind(i64::try_from(events_read).unwrap_or(i64::MAX))
        .bind(match plan.source {
            Source::Store => "store",
            Source::Topic => "topic",
        })
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(caught_up)
}

/// A projector without claim rows on `topic` starts at `ends` (existing rows keep their
/// positions).
async fn start_new_projector(
    conn: &mut PgConnection,
    projector: &str,
    topic: &str,
    ends: &[(i32, i64)],
) -> Result<(), sqlx::Error> {
    let known: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM partition_claims WHERE consumer = $1 AND topic = $2",
    )
    .bind(projector)
    .bind(topic)
    .fetch_one(&mut *conn)
    .await?;
    if known > 0 {
        return Ok(());
    }
    let (partitions, offsets): (Vec<i32>, Vec<i64>) = ends.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO partition_claims (consumer, topic, partition, next_offset)
         SELECT $1, $2, p, o FROM UNNEST($3::int[], $4::bigint[]) AS t (p, o)
         ON CONFLICT DO NOTHING",
    )
    .bind(projector)
    .bind(topic)
    .bind(&partitions)
    .bind(&offsets)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether `model` was ever built from the whole history.
pub async fn built(pool: &PgPool, model: ReadModel) -> Result<bool, sqlx::Error> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM read_model_builds WHERE read_model = $1")
            .bind(model.name())
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}

/// Builds `model` from the event store if it never was (a model added since the database was
/// created); another process already building it is waited for.
pub async fn build_if_new(
    pool: &PgPool,
    model: ReadModel,
    kafka: &KafkaConfig,
) -> Result<Option<Report>, ReplayError> {
    let plan = Replay {
        models: vec![model],
        source: Source::Store,
        dry_run: false,
        kafka: Some(kafka.clone()),
    };
    loop {
        if built(pool, model).await? {
            return Ok(None);
        }
        tracing::info!(%model, "building the read model from the event store (first start)");
        match replay(pool, &plan, &|_| {}).await {
            Err(ReplayError::Busy) => tokio::time::sleep(Duration::from_secs(1)).await,
            other => return other.map(Some),
        }
    }
}

/// Rebuilds one conversation's rows of `models` in place, from the event store, in one
/// transaction; returns the rows that changed. With `dry_run` nothing is kept.
pub async fn rebuild_conversation(
    pool: &PgPool,
    models: &[ReadModel],
    uid: &str,
    dry_run: bool,
) -> Result<Vec<TableDiff>, ReplayError> {
    let mut tx = pool.begin().await?;
    let before = conversation_rows(&mut tx, models, uid).await?;
    for model in models {
        if crate::refold::refold_conversation(&mut tx, *model, uid).await? == 0 {
            return Err(ReplayError::UnknownConversation(uid.to_owned()));
        }
    }
    let after = conversation_rows(&mut tx, models, uid).await?;
    let differences = before
        .into_iter()
        .zip(after)
        .map(|((table, before), (_, after))| TableDiff {
            only_live: before.iter().filter(|r| !after.contains(r)).count() as i64,
            only_rebuilt: after.iter().filter(|r| !before.contains(r)).count() as i64,
            table,
        })
        .collect();
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(differences)
}

/// The rows of conversation `uid` in each table of `models` (as JSON text).
async fn conversation_rows(
    conn: &mut PgConnection,
    models: &[ReadModel],
    uid: &str,
) -> Result<Vec<(String, Vec<String>)>, sqlx::Error> {
    let mut rows = Vec::new();
    for model in models {
        for table in model.tables() {
            let Some(column) = model.conversation_column(table) else {
                continue;
            };
            let found: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT to_jsonb(t)::text FROM {table} t WHERE {column} = $1"
            ))
            .bind(uid)
            .fetch_all(&mut *conn)
            .await?;
            rows.push(((*table).to_owned(), found));
        }
    }
    Ok(rows)
}
