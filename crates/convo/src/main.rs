//! `convo`: the conversation command processor. Every role is a subcommand.

mod args;
mod dead_letters;
mod demo;
mod export;
mod history;
mod parked;
mod progress;
mod projector_cmd;
mod ready;
mod replay;
mod serve;
mod settings;
mod state;
mod submit;
mod tail;
mod telemetry;
mod verify;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use convo_api::auth::sign_dev_token;
use convo_kafka::{KafkaConfig, Topics};
use convo_store::CommandHandler;

/// Every allocation of the process goes through mimalloc rather than glibc's malloc: measured in
/// `docs/benchmarks.md` (the allocator was about 28% of the service's CPU under W1).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Log output format.
    #[arg(long, env = "CONVO_LOG_FORMAT", default_value = "text", global = true)]
    log_format: telemetry::Format,
    /// What is logged, in `RUST_LOG`'s syntax (e.g. `info,convo_api=debug`).
    #[arg(
        long,
        env = "RUST_LOG",
        default_value = telemetry::DEFAULT_FILTER,
        global = true
    )]
    log_filter: String,
    /// OpenTelemetry collector that traced spans are exported to (OTLP/HTTP JSON, `http://` only;
    /// `/v1/traces` is appended; `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, a full URL, wins). Unset:
    /// no export.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    otlp_endpoint: Option<String>,
    /// The service name exported spans carry.
    #[arg(
        long,
        env = "OTEL_SERVICE_NAME",
        default_value = "convo",
        global = true
    )]
    otel_service_name: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the service: HTTP API, relay, command intake and projector (see --roles).
    Serve(serve::ServeArgs),
    /// Apply the database migrations.
    Migrate(DbArgs),
    /// Run upstream JSON commands (one object per line, or a JSON array) from a file or stdin and
    /// print each outcome as a JSON line; with --kafka, publish them to the commands topic.
    Command {
        /// The file to read; stdin when absent or "-".
        file: Option<PathBuf>,
        /// Publish the commands to the commands topic (keyed by conversation uid) for the
        /// service's intake, instead of running them here against the database.
        #[arg(long)]
        kafka: bool,
        /// PostgreSQL connection string (when running the commands here).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        #[command(flatten)]
        broker: KafkaArgs,
    },
    /// Manage the Kafka topics.
    Topics {
        #[command(subcommand)]
        action: TopicsCmd,
    },
    /// Relay maintenance.
    Relay {
        #[command(subcommand)]
        action: RelayCmd,
    },
    /// Inspect the events topic.
    Events {
        #[command(subcommand)]
        action: TailCmd,
    },
    /// Inspect the command outcomes topic.
    Outcomes {
        #[command(subcommand)]
        action: TailCmd,
    },
    /// Inspect and handle the dead-letter topic (command messages that could not be parsed):
    /// tail, list, show, retry, drop.
    #[command(
        after_help = "Examples:\n  convo dead-letters list\n  convo dead-letters show 0:12\n  convo dead-letters retry 0:12"
    )]
    DeadLetters {
        #[command(subcommand)]
        action: dead_letters::DeadLettersCmd,
    },
    /// Where each projection stands, and resetting a stopped one's positions.
    #[command(
        after_help = "Examples:\n  convo projector status\n  convo projector reset conversations --to earliest --yes"
    )]
    Projector {
        #[command(subcommand)]
        action: projector_cmd::ProjectorCmd,
    },
    /// Conversations a projector parked: list, show, retry (refold), drop.
    #[command(
        after_help = "Examples:\n  convo parked list\n  convo parked show 89m2pnabgozdvd9f\n  convo parked retry 89m2pnabgozdvd9f"
    )]
    Parked {
        #[command(subcommand)]
        action: parked::ParkedCmd,
    },
    /// Print a staff token signed with the development secret.
    DevToken {
        #[arg(long)]
        staff: String,
        #[arg(long)]
        business: String,
        /// Token scopes (`all`, or a list containing `conversations`).
        #[arg(long, default_value = "all")]
        scope: String,
        /// Lifetime, e.g. 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: chrono::Duration,
        /// The HS256 secret the service verifies with.
        #[arg(long, env = "CONVO_JWT_SECRET", hide_env_values = true)]
        secret: String,
    },
    /// Check the invariants: every committed event on the events topic, in order, on one
    /// partition; no version gap; read models equal to a fold of the events; one outcome per
    /// command; nothing parked. Exit code 2 when any breach is found.
    Verify(verify::VerifyArgs),
    /// Rebuild read models from history without stopping the service (or one conversation in
    /// place, or a dry run showing what would change).
    Replay(replay::ReplayArgs),
    /// Each staff's follow-up counts: open, due today, overdue, completed this week.
    FollowUps(replay::FollowUpArgs),
    /// Write events from the store as NDJSON CloudEvents (structured mode), for analytics
    /// backfills: filter by time range, business, type, conversation.
    Export(export::ExportArgs),
    /// List a conversation's events: version, time, type, actor, what changed, command.
    History(history::HistoryArgs),
    /// Show a conversation as it was at a version or a time: the aggregate and the API rendering.
    State(state::StateArgs),
    /// Print the README's settings table (every `convo serve` setting) from this build's flags.
    #[command(hide = true)]
    Settings,
    /// Seed a few realistic conversations and print ready-to-run curl lines.
    Demo {
        #[command(flatten)]
        db: DbArgs,
        /// Where the service listens, for the printed curl lines.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
        #[arg(long, env = "CONVO_JWT_SECRET", hide_env_values = true)]
        secret: String,
    },
}

#[derive(Debug, Subcommand)]
enum TopicsCmd {
    /// Create the events, commands, outcomes and dead-letter topics (existing ones are kept).
    Create(KafkaArgs),
    /// Compare the existing topics with what the service needs (partitions, retention, cleanup
    /// policy); print each difference and exit non-zero when there is one.
    Check(KafkaArgs),
}

#[derive(Debug, Subcommand)]
enum RelayCmd {
    /// Re-anchor the relay after the database was restored or moved to another cluster (the relay
    /// stops with an error naming this command): every event not certainly published is published
    /// again, in each conversation's order (docs/adr/0007).
    Rebase {
        /// PostgreSQL connection string.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: String,
    },
}

#[derive(Debug, Subcommand)]
enum TailCmd {
    /// Print records with their key and headers, as they arrive.
    Tail(tail::TailArgs),
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// PostgreSQL connection string.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Connection pool size.
    #[arg(long, env = "CONVO_DB_POOL", default_value_t = 32)]
    pub db_pool: u32,
}

#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    pub kafka_brokers: String,
    /// Prefix of every topic name (the names are `conversations.events.v1`, ...).
    #[arg(long, env = "CONVO_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Partitions of topics this service creates.
    #[arg(long, env = "CONVO_PARTITIONS", default_value_t = 8)]
    pub partitions: i32,
    /// Replication factor of topics this service creates.
    #[arg(long, env = "CONVO_REPLICATION", default_value_t = 1)]
    pub replication: i32,
}

impl KafkaArgs {
    pub fn config(&self) -> KafkaConfig {
        let mut config =
            KafkaConfig::new(&self.kafka_brokers, Topics::with_prefix(&self.topic_prefix));
        config.partitions = self.partitions;
        config.replication_factor = self.replication;
        config
    }
}

fn parse_ttl(text: &str) -> Result<chrono::Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}: use e.g. 30m, 1h, 7d"))?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" | "" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(format!("bad duration unit in {text:?}: use s, m, h or d")),
    }
}

/// Errors are printed as one line with their causes (`error: reading ...: caused by`), and the
/// exit code is 1.
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _exporter = telemetry::init(&telemetry::Settings {
        format: cli.log_format,
        filter: &cli.log_filter,
        otlp_endpoint: cli.otlp_endpoint.as_deref(),
        service_name: &cli.otel_service_name,
    });
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The report already said what was breached.
        Err(e) if e.is::<verify::Breached>() => std::process::ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Cmd) -> anyhow::Result<()> {
    match command {
        Cmd::Serve(args) => serve::run(args).await,
        Cmd::Settings => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            cli.build();
            print!("{}", settings::table(&cli));
            Ok(())
        }
        Cmd::Migrate(db) => {
            let pool = convo_store::connect(&db.database_url, 2).await?;
            convo_store::MIGRATOR.run(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Cmd::Command {
            file,
            kafka,
            database_url,
            broker,
        } => {
            let commands = submit::read(file)?;
            if kafka {
                submit::publish(&broker.config(), &commands).await
            } else {
                let url = database_url.ok_or_else(|| {
                    anyhow::anyhow!("set DATABASE_URL (or --database-url), or use --kafka")
                })?;
                let pool = convo_store::connect(&url, 4).await?;
                submit::run(&CommandHandler::new(pool), &commands).await
            }
        }
        Cmd::Topics {
            action: TopicsCmd::Create(kafka),
        } => {
            convo_kafka::topics::ensure(&kafka.config()).await?;
            Ok(())
        }
        Cmd::Topics {
            action: TopicsCmd::Check(kafka),
        } => {
            let differences = convo_kafka::topics::check(&kafka.config()).await?;
            for difference in &differences {
                println!("{difference}");
            }
            if differences.is_empty() {
                println!("the topics match what the service needs");
                return Ok(());
            }
            anyhow::bail!(
                "{} differences from what the service needs",
                differences.len()
            )
        }
        Cmd::Relay {
            action: RelayCmd::Rebase { database_url },
        } => {
            for rebased in convo_relay::rebase(&database_url).await? {
                println!(
                    "relay {}: re-anchored at position {}; {} events to publish (some perhaps again)",
                    rebased.relay, rebased.position, rebased.to_publish
                );
            }
            Ok(())
        }
        Cmd::Events {
            action: TailCmd::Tail(args),
        } => tail::run(tail::Stream::Events, args).await,
        Cmd::Outcomes {
            action: TailCmd::Tail(args),
        } => tail::run(tail::Stream::Outcomes, args).await,
        Cmd::DeadLetters { action } => dead_letters::run(action).await,
        Cmd::Projector { action } => projector_cmd::run(action).await,
        Cmd::Parked { action } => parked::run(action).await,
        Cmd::Verify(args) => verify::run(args).await,
        Cmd::Replay(args) => replay::run(args).await,
        Cmd::FollowUps(args) => replay::follow_ups(args).await,
        Cmd::Export(args) => export::run(args).await,
        Cmd::History(args) => history::run(args).await,
        Cmd::State(args) => state::run(args).await,
        Cmd::DevToken {
            staff,
            business,
            scope,
            ttl,
            secret,
        } => {
            let now = chrono::Utc::now();
            println!(
                "{}",
                sign_dev_token(&secret, &staff, &business, &scope, ttl, now)
            );
            Ok(())
        }
        Cmd::Demo {
            db,
            base_url,
            secret,
        } => {
            let pool = convo_store::connect(&db.database_url, 4).await?;
            demo::run(&CommandHandler::new(pool), &base_url, &secret).await
        }
    }
}
