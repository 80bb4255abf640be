//! Turning outcomes into HTTP responses in vcita's shapes.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use convo_domain::Rejection;
use convo_domain::rejection::{ErrorBody, ErrorDetail};
use convo_store::Answer;

/// vcita's 401 body (spec §2).
pub fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        ErrorDetail::new("unauthorized", "401 Unauthorized"),
    )
}

/// vcita's 403 body (spec §2).
pub fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        ErrorDetail::new(
            "forbidden",
            "You are not authorized to perform this action.",
        ),
    )
}

/// A request that took longer than the server allows.
pub fn timed_out() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorDetail::new("timeout", "The request took too long. Please retry."),
    )
}

/// A path no route serves.
pub fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        ErrorDetail::new("not_found", "No such resource"),
    )
}

/// A method the route does not serve.
pub fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorDetail::new("method_not_allowed", "This method is not allowed here"),
    )
}

/// A failure of ours, not the caller's. Details go to the log, not to the client.
pub fn internal(error_text: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error_text, "request failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorDetail::new("internal_error", "Internal server error"),
    )
}

/// A failure of the store: 503 with `Retry-After` when the database is unreachable (the request
/// may succeed later, and nothing was stored), else 500.
pub fn store_error(failure: &convo_store::StoreError) -> Response {
    if !failure.is_unavailable() {
        return internal(failure);
    }
    tracing::warn!(error = %failure, "database unavailable");
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorDetail::new(
            "service_unavailable",
            "The service is temporarily unavailable. Please retry shortly.",
        ),
    );
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    response
}

/// What a 503 asks the caller to wait, in seconds.
const RETRY_AFTER_SECONDS: &str = "2";

pub fn rejection(rejection: &Rejection) -> Response {
    let reply = Answer {
        status: rejection.http_status(),
        body: rejection.body(),
    };
    send(reply)
}

pub fn send(reply: Answer) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(reply.body)).into_response()
}

fn error(status: StatusCode, error: ErrorDetail) -> Response {
    (status, Json(ErrorBody::new(vec![error]))).into_response()
}
