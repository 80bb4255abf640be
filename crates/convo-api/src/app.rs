//! The router, its shared state, and the server loop with graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::middleware::from_fn;
use axum::routing::get;
use convo_store::CommandHandler;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::auth::Verifier;
use crate::{conversations, openapi, ops, reply};

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub handler: CommandHandler,
    pub verifier: Arc<Verifier>,
}

/// The API with the operational routes, every request measured.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v2/conversations/{id}",
            get(conversations::show)
                .put(conversations::update)
                .patch(conversations::update),
        )
        .route("/platform/v1/conversations", get(conversations::list))
        .route("/health", get(conversations::health))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::page))
        .fallback(conversations::no_route)
        .method_not_allowed_fallback(conversations::method_not_allowed)
        .layer(axum::middleware::from_fn(crate::trace::request_span))
        .with_state(state)
        .merge(ops::routes())
        .layer(from_fn(ops::record_http))
}

/// What a process without the `api` role serves: the operational routes only.
pub fn operational_router() -> Router {
    ops::routes()
        .fallback(|| async { reply::not_found() })
        .layer(from_fn(ops::record_http))
}

/// Limits that keep slow or many clients from holding the server.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Longest a connection may take to send a request's headers (a client sending half a header
    /// is disconnected after this).
    pub header_read_timeout: Duration,
    /// Longest a request may take, body and answer included: 503 after this.
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Longest shutdown waits for requests in progress.
    pub drain_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains in-flight requests (up to
/// `limits.drain_timeout`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, a connection reset before accept: wait a little.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = service_fn(move |request: hyper::Request<Incoming>| {
            let router = router.clone();
            async move {
                let answer = tokio::time::timeout(
                    limits.request_timeout,
                    router.oneshot(request.map(Body::new)),
                );
                answer
                    .await
                    .unwrap_or_else(|_| Ok::<_, Infallible>(reply::timed_out()))
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in progress at the end of the drain period");
    }
    Ok(())
}
