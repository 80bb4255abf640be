//! `convo serve`: every long-running role in one process, each switchable so they scale apart.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use convo_api::auth::{AuthConfig, Verifier};
use convo_store::CommandHandler;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{DbArgs, KafkaArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Role {
    /// The HTTP API.
    Api,
    /// Publishes committed events to the events topic.
    Relay,
    /// Runs commands from the commands topic.
    Intake,
    /// Keeps the read models from the events topic.
    Projector,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Roles this process runs.
    #[arg(
        long,
        env = "CONVO_ROLES",
        value_delimiter = ',',
        default_value = "api,relay,intake,projector"
    )]
    roles: Vec<Role>,
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
    /// Consumer group of the command intake.
    #[arg(long, env = "CONVO_INTAKE_GROUP", default_value = "convo-intake")]
    intake_group: String,
    /// Consumer group of the projector.
    #[arg(long, env = "CONVO_PROJECTOR_GROUP", default_value = "convo-projector")]
    projector_group: String,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let roles: BTreeSet<Role> = args.roles.iter().copied().collect();
    let pool = convo_store::connect(&args.db.database_url, args.db.db_pool)
        .await
        .context("connecting to PostgreSQL")?;
    convo_store::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    let kafka = args.kafka.config();
    if roles.iter().any(|r| *r != Role::Api) {
        // Not fatal: writes do not need the broker, and the relay ensures the topics again each
        // time it starts publishing.
        if let Err(e) = convo_kafka::topics::ensure(&kafka).await {
            tracing::warn!(brokers = %kafka.brokers, error = %e, "cannot create topics yet; the Kafka roles will retry");
        }
    }

    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    if roles.contains(&Role::Api) {
        let verifier = Verifier::new(&AuthConfig {
            hs_secret: args.jwt_secret.clone(),
            public_key_pem_files: args.jwt_public_key.clone(),
            jwks_file: args.jwks_file.clone(),
        })
        .context("loading token verification keys")?;
        let state = convo_api::AppState {
            handler: CommandHandler::new(pool.clone()),
            verifier: Arc::new(verifier),
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        tracing::info!(address = %listener.local_addr()?, "HTTP API listening");
        let stop = shutdown.clone();
        tasks.spawn(async move {
            convo_api::serve(listener, convo_api::router(state), stop.cancelled_owned())
                .await
                .context("HTTP API")
        });
    }
    if roles.contains(&Role::Relay) {
        let config = convo_relay::RelayConfig::new(&args.db.database_url);
        let (kafka, stop) = (kafka.clone(), shutdown.clone());
        tasks.spawn(async move {
            convo_relay::run(config, kafka, stop).await;
            Ok(())
        });
    }
    if roles.contains(&Role::Intake) {
        let config = convo_intake::IntakeConfig {
            group_id: args.intake_group.clone(),
            ..Default::default()
        };
        let (kafka, stop, handler) = (
            kafka.clone(),
            shutdown.clone(),
            CommandHandler::new(pool.clone()),
        );
        tasks.spawn(async move {
            convo_intake::run(config, kafka, handler, stop)
                .await
                .context("command intake")
        });
    }
    if roles.contains(&Role::Projector) {
        let config = convo_projector::ProjectorConfig {
            group_id: args.projector_group.clone(),
            ..Default::default()
        };
        let (kafka, stop, pool) = (kafka.clone(), shutdown.clone(), pool.clone());
        tasks.spawn(async move {
            convo_projector::run(config, kafka, pool, stop)
                .await
                .context("projector")
        });
    }

    let signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signal.cancel();
    });
    // A role that ends on its own (an error) stops the others: run as a whole or not at all.
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("a role panicked").and_then(|r| r);
        if let Err(e) = outcome {
            tracing::error!(error = %format!("{e:#}"), "role failed; shutting down");
            if result.is_ok() {
                result = Err(e);
            }
        }
        shutdown.cancel();
    }
    tracing::info!("stopped");
    result
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
