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

impl Role {
    /// The role's `--roles` name.
    fn name(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Relay => "relay",
            Self::Intake => "intake",
            Self::Projector => "projector",
        }
    }
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
    /// Address the HTTP listener binds: the API with the `api` role; `/metrics`, `/healthz` and
    /// `/readyz` whatever the roles.
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
    /// Seconds each role may take to stop after SIGTERM or Ctrl-C (the API answers the requests
    /// in progress, the relay ends its batch, intake and projectors commit their positions);
    /// after it the process exits anyway, naming the roles that did not finish.
    #[arg(long, env = "CONVO_SHUTDOWN_GRACE", default_value_t = 30)]
    shutdown_grace: u64,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let roles: BTreeSet<Role> = args.roles.iter().copied().collect();
    convo_metrics::install();
    let models = convo_projector::ReadModel::ALL.map(|m| m.name());
    let running_roles: Vec<&'static str> = roles.iter().map(|r| r.name()).collect();
    convo_metrics::expect(&running_roles, &models);
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
    let grace = Duration::from_secs(args.shutdown_grace);
    // One handler for the API and the intake: their commands share transactions and one cache.
    let handler = CommandHandler::new(pool.clone());
    let (mut tasks, mut running) = (JoinSet::new(), Vec::new());
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
    tokio::spawn(ready::run(checks, readiness.clone(), shutdown.clone()));
    let health = ready::routes(readiness);
    // The listener always runs (an operator scrapes /metrics of every process); the API routes
    // only with the api role.
    let router = if roles.contains(&Role::Api) {
        let verifier = Verifier::new(&AuthConfig {
            hs_secret: args.jwt_secret.clone(),
            public_key_pem_files: args.jwt_public_key.clone(),
            jwks_file: args.jwks_file.clone(),
            allow_development_tokens: args.allow_development_tokens,
            audience: args.jwt_audience.clone(),
        })
        .context("loading token verification keys")?;
        convo_api::router(convo_api::AppState {
            handler: handler.clone(),
            verifier: Arc::new(verifier),
        })
    } else {
        convo_api::operational_router()
    }
    .merge(health);
    // Bound here, so that an address in use ends the process at startup.
    let mut listener = Some(
        tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?,
    );
    let (address, stop) = (args.listen, shutdown.clone());
    let limits = convo_api::ServerLimits {
        header_read_timeout: Duration::from_secs(args.http_header_timeout),
        request_timeout: Duration::from_secs(args.http_request_timeout),
        max_connections: args.http_max_connections.max(1),
        drain_timeout: grace,
    };
    running.push(Role::Api);
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
                tracing::info!(address = %listener.local_addr()?, "HTTP listening");
                convo_api::serve(listener, router, limits, stop.cancelled_owned())
                    .await
                    .context("HTTP listener")
            }
        },
    ));
    if roles.contains(&Role::Relay) {
        let config = convo_relay::RelayConfig::new(&args.db.database_url);
        let (kafka, stop) = (kafka.clone(), shutdown.clone());
        running.push(Role::Relay);
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
        let (kafka, stop, handler) = (kafka.clone(), shutdown.clone(), handler.clone());
        running.push(Role::Intake);
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
            running.push(Role::Projector);
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
    let unfinished = stop_within(tasks, running, &shutdown, grace).await;
    if unfinished.is_empty() {
        tracing::info!("stopped");
    } else {
        tracing::warn!(roles = ?unfinished, ?grace, "exiting although these roles did not stop within the grace period");
    }
    Ok(())
}

/// Waits for every role to end. Once `shutdown` is cancelled it waits at most `grace` more, and
/// returns the roles of `running` (one entry per task) still running then; the caller exits, which
/// drops them.
async fn stop_within(
    mut tasks: JoinSet<Role>,
    mut running: Vec<Role>,
    shutdown: &CancellationToken,
    grace: Duration,
) -> Vec<Role> {
    let mut deadline = None;
    loop {
        let joined = match deadline {
            None => tokio::select! {
                joined = tasks.join_next() => joined,
                () = shutdown.cancelled() => {
                    deadline = Some(Instant::now() + grace);
                    continue;
                }
            },
            Some(at) => match tokio::time::timeout_at(at, tasks.join_next()).await {
                Ok(joined) => joined,
                Err(_) => return running,
            },
        };
        match joined {
            None => return Vec::new(),
            Some(Ok(role)) => {
                if let Some(at) = running.iter().position(|r| *r == role) {
                    running.remove(at);
                }
            }
            // A supervisor cannot panic (it catches its role's panics); nothing to name.
            Some(Err(_)) => {}
        }
    }
}

/// Runs a role until shutdown. A role that fails (returns an error, or panics) is started again
/// after a pause that doubles from 1 s up to a minute (back to 1 s once it ran for a minute),
/// while the other roles, the API included, keep running.
async fn supervise<F, Fut>(
    role: Role,
    shutdown: CancellationToken,
    restarts: Restarts,
    mut start: F,
) -> Role
where
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
            Ok(Ok(())) => return role,
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) => format!("panicked: {e}"),
        };
        if shutdown.is_cancelled() {
            tracing::error!(?role, %error, "role failed while stopping");
            return role;
        }
        if started.elapsed() >= MAX_WAIT {
            wait = FIRST_WAIT;
        }
        failures += 1;
        restarts.record(role);
        convo_metrics::role_restart(role.name());
        tracing::error!(?role, %error, restarts = failures, retry_in = ?wait, "role failed; restarting it");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return role,
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
        convo_metrics::install();
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
        let metrics = convo_metrics::render();
        assert!(
            metrics.contains(r#"convo_role_restarts_total{role="projector"} 2"#),
            "{metrics}"
        );
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

    #[tokio::test]
    async fn after_the_grace_period_the_roles_that_ignore_shutdown_are_named_and_left() {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let stop = shutdown.clone();
        tasks.spawn(supervise(
            Role::Api,
            shutdown.clone(),
            Restarts::default(),
            move || {
                let stop = stop.clone();
                async move {
                    stop.cancelled().await;
                    Ok(())
                }
            },
        ));
        tasks.spawn(supervise(
            Role::Relay,
            shutdown.clone(),
            Restarts::default(),
            std::future::pending::<anyhow::Result<()>>,
        ));
        let roles = vec![Role::Api, Role::Relay];
        shutdown.cancel();
        let started = Instant::now();
        let unfinished = stop_within(tasks, roles, &shutdown, Duration::from_millis(200)).await;
        assert_eq!(unfinished, vec![Role::Relay]);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn roles_that_stop_in_time_end_the_wait_before_the_grace_period() {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for role in [Role::Intake, Role::Projector] {
            let stop = shutdown.clone();
            tasks.spawn(supervise(
                role,
                shutdown.clone(),
                Restarts::default(),
                move || {
                    let stop = stop.clone();
                    async move {
                        stop.cancelled().await;
                        Ok(())
                    }
                },
            ));
        }
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stop.cancel();
        });
        let started = Instant::now();
        let roles = vec![Role::Intake, Role::Projector];
        let unfinished = stop_within(tasks, roles, &shutdown, Duration::from_secs(30)).await;
        assert!(unfinished.is_empty());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
