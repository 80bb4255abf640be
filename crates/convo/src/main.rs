//! `convo`: the conversation command processor. Every role is a subcommand.

mod demo;
mod submit;
mod telemetry;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use convo_api::auth::{AuthConfig, Verifier, sign_dev_token};
use convo_store::CommandHandler;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Log output format.
    #[arg(long, env = "CONVO_LOG_FORMAT", default_value = "text", global = true)]
    log_format: telemetry::Format,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve the HTTP API.
    Serve(ServeArgs),
    /// Apply the database migrations.
    Migrate(DbArgs),
    /// Run JSON commands (one object per line, or a JSON array) from a file or stdin and print
    /// each outcome as a JSON line.
    Command {
        #[command(flatten)]
        db: DbArgs,
        /// The file to read; stdin when absent or "-".
        file: Option<PathBuf>,
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

#[derive(Debug, Args)]
struct DbArgs {
    /// PostgreSQL connection string.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// Connection pool size.
    #[arg(long, env = "CONVO_DB_POOL", default_value_t = 32)]
    db_pool: u32,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address the HTTP API listens on.
    #[arg(long, env = "CONVO_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// HS256/HS512 secret for staff tokens (development).
    #[arg(long, env = "CONVO_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// PEM public key(s) for RS256/RS512/ES256 staff tokens.
    #[arg(long, env = "CONVO_JWT_PUBLIC_KEYS", value_delimiter = ',')]
    jwt_public_key: Vec<PathBuf>,
    /// JWKS file with public keys (`kid` honoured).
    #[arg(long, env = "CONVO_JWKS_FILE")]
    jwks_file: Option<PathBuf>,
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match cli.command {
        Cmd::Serve(args) => serve(args).await,
        Cmd::Migrate(db) => {
            let pool = convo_store::connect(&db.database_url, 2).await?;
            convo_store::MIGRATOR.run(&pool).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Cmd::Command { db, file } => {
            let pool = convo_store::connect(&db.database_url, db.db_pool).await?;
            submit::run(&CommandHandler::new(pool), file).await
        }
        Cmd::DevToken {
            staff,
            business,
            scope,
            ttl,
            secret,
        } => {
            println!(
                "{}",
                sign_dev_token(&secret, &staff, &business, &scope, ttl, chrono::Utc::now())
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let verifier = Verifier::new(&AuthConfig {
        hs_secret: args.jwt_secret,
        public_key_pem_files: args.jwt_public_key,
        jwks_file: args.jwks_file,
    })
    .context("loading token verification keys")?;
    let pool = convo_store::connect(&args.db.database_url, args.db.db_pool)
        .await
        .context("connecting to PostgreSQL")?;
    convo_store::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    let state = convo_api::AppState {
        handler: CommandHandler::new(pool),
        verifier: Arc::new(verifier),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "HTTP API listening");
    convo_api::serve(listener, convo_api::router(state), shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
