//! Each request is a span of a trace (ADR 0015): the caller's `traceparent` header, when valid,
//! is its parent; otherwise the request starts a new trace. The response carries the request's
//! own `traceparent`, so a caller can find the trace of what it asked for.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use convo_trace::{HEADER, TraceContext};
use tracing::Instrument;

/// Runs the request in an `http_request` span with its trace ids, the [`TraceContext`] in the
/// request's extensions for the handlers; a `request served` line (debug) with the status.
pub async fn request_span(mut request: Request, next: Next) -> Response {
    let parent = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse);
    let trace = TraceContext::child_of(parent.as_ref());
    let span = tracing::info_span!(
        "http_request",
        method = %request.method(),
        path = request.uri().path(),
        trace_id = %trace.trace_id(),
        span_id = %trace.span_id(),
        parent_id = parent.map(|p| p.span_id()).as_deref(),
    );
    request.extensions_mut().insert(trace);
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "request served"));
    if let Ok(value) = HeaderValue::from_str(&trace.traceparent()) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
