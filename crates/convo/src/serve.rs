//! `convo serve`: every long-running role in one process, each switchable so they scale apart.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use anyhow::Context;
use clap::{Args, ValueEnum};
use convo_api::auth::{AuthConfig, Verifier};
use convo_store::CommandHandler;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ready::{self, Readiness, ReadyArgs, Restarts};
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
    #[command(flatten)]
    ready: ReadyArgs,
    /// Address the HTTP API listens on; `/healthz` and `/readyz` are served there whatever the
    /// roles.
    #[arg(long, env = "CONVO_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seconds a connection may take to send a request's headers.
    #[arg(long, env = "CONVO_HTTP_HEADER_TIMEOUT", default_value_t = 10)]
    http_header_timeout: u64,
    /// Seconds a request may take before it is answered 503.
    #[arg(long, env = "CONVO_HTTP_REQUEST_TIMEOUT", default_value_t = 30)]
    http_request_timeout: u64,
    /// Connections the HTTP API serves at once (more wait to be accepted).
    #[arg(long, env = "CONVO_HTTP_MAX_CONNECTIONS", default_value_t = 1024)]
    http_max_connections: usize,
    /// HS256/HS512 secret for staff tokens (development).
    #[arg(long, env = "CONVO_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// PEM public key(s) for RS256/RS512/ES256 staff tokens.
    #[arg(long, env = "CONVO_JWT_PUBLIC_KEYS", value_delimiter = ',')]
    jwt_public_key: Vec<PathBuf>,
    /// JWKS file with public keys (`kid` honoured).
    #[arg(long, env = "CONVO_JWKS_FILE")]
    jwks_file: Option<PathBuf>,
    /// Accept HS256/HS512 development tokens signed with the secret although public keys are
    /// configured. Without it, the secret is then ignored and HS tokens get 401; with a secret
    /// alone, HS tokens are accepted either way.
    #[arg(
        long,
        env = "CONVO_ALLOW_DEVELOPMENT_TOKENS",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    allow_development_tokens: bool,
    /// Expected audience: a staff token's `aud` (a string or an array) contains it, or the token
    /// gets 401. Unset, `aud` is not checked.
    #[arg(long, env = "CONVO_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
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
    let (restarts, readiness) = (Restarts::default(), Readiness::default());
    let checks = ready::Checks {
        pool: pool.clone(),
        kafka: roles.iter().any(|r| *r != Role::Api).then(|| kafka.clone()),
        relay: roles
            .contains(&Role::Relay)
            .then(|| convo_relay::RelayConfig::new(&args.db.database_url).name),
        projectors: match roles.contains(&Role::Projector) {
            true => convo_projector::ReadModel::ALL
                .map(|m| m.name().to_owned())
                .to_vec(),
            false => Vec::new(),
        },
        restarts: restarts.clone(),
        limits: args.ready.clone(),
    };
    tasks.spawn(ready::run(checks, readiness.clone(), shutdown.clone()));
    // Bound here, so that an address in use ends the process at startup.
    let mut listener = Some(
        tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?,
    );
    let limits = convo_api::ServerLimits {
        header_read_timeout: Duration::from_secs(args.http_header_timeout),
        request_timeout: Duration::from_secs(args.http_request_timeout),
        max_connections: args.http_max_connections.max(1),
        ..Default::default()
    };
    let health = ready::routes(readiness);
    if !roles.contains(&Role::Api) {
        let (listener, stop) = (listener.take(), shutdown.clone());
        tasks.spawn(async move {
            let listener = listener.expect("bound above");
            if let Err(e) = convo_api::serve(listener, health, limits, stop.cancelled_owned()).await
            {
                tracing::error!(error = %e, "health endpoints stopped");
            }
        });
    } else {
        let verifier = Verifier::new(&AuthConfig {
            hs_secret: args.jwt_secret.clone(),
            public_key_pem_files: args.jwt_public_key.clone(),
            jwks_file: args.jwks_file.clone(),
            allow_development_tokens: args.allow_development_tokens,
            audience: args.jwt_audience.clone(),
        })
        .context("loading token verification keys")?;
        let state = convo_api::AppState {
            handler: CommandHandler::new(pool.clone()),
            verifier: Arc::new(verifier),
        };
        let router = convo_api::router(state).merge(health);
        let (address, stop) = (args.listen, shutdown.clone());
        tasks.spawn(supervise(
            Role::Api,
            shutdown.clone(),
            restarts.clone(),
            move || {
                let (router, stop, bound) = (router.clone(), stop.clone(), listener.take());
                async move {
                    let listener = match bound {
                        Some(listener) => listener,
                        None => tokio::net::TcpListener::bind(address)
                            .await
                            .with_context(|| format!("binding {address}"))?,
                    };
                    tracing::info!(address = %listener.local_addr()?, "HTTP API listening");
                    convo_api::serve(listener, router, limits, stop.cancelled_owned())
                        .await
                        .context("HTTP API")
                }
            },
        ));
    }
    if roles.contains(&Role::Relay) {
        let config = convo_relay::RelayConfig::new(&args.db.database_url);
        let (kafka, stop) = (kafka.clone(), shutdown.clone());
        tasks.spawn(supervise(
            Role::Relay,
            shutdown.clone(),
            restarts.clone(),
            move || {
                let (config, kafka, stop) = (config.clone(), kafka.clone(), stop.clone());
                async move {
                    convo_relay::run(config, kafka, stop).await;
                    Ok(())
                }
            },
        ));
    }
    if roles.contains(&Role::Intake) {
        let (kafka, stop, handler) = (
            kafka.clone(),
            shutdown.clone(),
            CommandHandler::new(pool.clone()),
        );
        tasks.spawn(supervise(
            Role::Intake,
            shutdown.clone(),
            restarts.clone(),
            move || {
                let (kafka, stop, handler) = (kafka.clone(), stop.clone(), handler.clone());
                async move {
                    convo_intake::run(convo_intake::IntakeConfig::default(), kafka, handler, stop)
                        .await
                        .context("command intake")
                }
            },
        ));
    }
    if roles.contains(&Role::Projector) {
        // One projector per read model, each with its own claims and positions.
        for model in convo_projector::ReadModel::ALL {
            let (kafka, stop, pool) = (kafka.clone(), shutdown.clone(), pool.clone());
            tasks.spawn(supervise(
                Role::Projector,
                shutdown.clone(),
                restarts.clone(),
                move || {
                    let (kafka, stop, pool) = (kafka.clone(), stop.clone(), pool.clone());
                    async move {
                        let config = convo_projector::ProjectorConfig::of(model);
                        convo_projector::run(config, kafka, pool, stop)
                            .await
                            .with_context(|| format!("projector {model}"))
                    }
                },
            ));
        }
    }

    let signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        signal.cancel();
    });
    while tasks.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// Runs a role until shutdown. A role that fails (returns an error, or panics) is started again
/// after a pause that doubles from 1 s up to a minute (back to 1 s once it ran for a minute),
/// while the other roles, the API included, keep running. Each restart is recorded in `restarts`
/// (`/readyz` reports a role restarting in a loop).
async fn supervise<F, Fut>(
    role: Role,
    shutdown: CancellationToken,
    restarts: Restarts,
    mut start: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    const FIRST_WAIT: Duration = Duration::from_secs(1);
    const MAX_WAIT: Duration = Duration::from_secs(60);
    let mut wait = FIRST_WAIT;
    let mut failures: u64 = 0;
    loop {
        let started = Instant::now();
        let error = match tokio::spawn(start()).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) => format!("panicked: {e}"),
        };
        if shutdown.is_cancelled() {
            tracing::error!(?role, %error, "role failed while stopping");
            return;
        }
        if started.elapsed() >= MAX_WAIT {
            wait = FIRST_WAIT;
        }
        failures += 1;
        restarts.record(role);
        tracing::error!(?role, %error, restarts = failures, retry_in = ?wait, "role failed; restarting it");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return,
        }
        wait = (wait * 2).min(MAX_WAIT);
    }
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_failing_or_panicking_role_is_started_again_until_it_ends_cleanly() {
        let starts = Arc::new(AtomicU32::new(0));
        let counted = starts.clone();
        let restarts = Restarts::default();
        supervise(
            Role::Projector,
            CancellationToken::new(),
            restarts.clone(),
            move || {
                let attempt = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    match attempt {
                        0 => anyhow::bail!("broker unreachable"),
                        1 => panic!("a bug"),
                        _ => Ok(()),
                    }
                }
            },
        )
        .await;
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        let window = Duration::from_secs(60);
        assert_eq!(restarts.looping(2, window), [Role::Projector]);
        assert_eq!(restarts.looping(3, window), []);
    }

    #[tokio::test]
    async fn shutdown_ends_the_pause_between_restarts() {
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let starts = Arc::new(AtomicU32::new(0));
        let counted = starts.clone();
        let supervised = tokio::spawn(supervise(
            Role::Intake,
            shutdown,
            Restarts::default(),
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { anyhow::bail!("always fails") }
            },
        ));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.cancel();
        supervised.await.unwrap();
        assert_eq!(
            starts.load(Ordering::SeqCst),
            2,
            "started, failed, restarted after 1 s"
        );
    }
}
