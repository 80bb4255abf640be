//! Operational routes, served by every `convo serve` process whatever its roles (`/metrics`),
//! and the layer that measures every HTTP request.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The operational routes. Serving `/metrics` installs the metrics recorder (once per process).
pub fn routes() -> Router {
    convo_metrics::install();
    Router::new().route("/metrics", get(metrics))
}

/// The Prometheus text exposition of this process's metrics.
async fn metrics() -> Response {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        convo_metrics::render(),
    )
        .into_response()
}

/// Counts and times a request by its route template (`unmatched` when no route matched), method
/// and status. Add it with `Router::layer`, so that the matched route is known.
pub async fn record_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    convo_metrics::http_request(
        route.as_deref(),
        method.as_str(),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
