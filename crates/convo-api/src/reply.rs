//! Turning outcomes into HTTP responses in vcita's shapes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use convo_domain::Rejection;
use convo_store::Reply;
use serde_json::json;

/// vcita's 401 body (spec §2).
pub fn unauthorized() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        json!({"code": "unauthorized", "message": "401 Unauthorized"}),
    )
}

/// vcita's 403 body (spec §2).
pub fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        json!({"code": "forbidden", "message": "You are not authorized to perform this action."}),
    )
}

/// A request that took longer than the server allows.
pub fn timed_out() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"code": "timeout", "message": "The request took too long. Please retry."}),
    )
}

/// A path no route serves.
pub fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        json!({"code": "not_found", "message": "No such resource"}),
    )
}

/// A method the route does not serve.
pub fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"code": "method_not_allowed", "message": "This method is not allowed here"}),
    )
}

/// A failure of ours, not the caller's. Details go to the log, not to the client.
pub fn internal(error_text: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error_text, "request failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"code": "internal_error", "message": "Internal server error"}),
    )
}

pub fn rejection(rejection: &Rejection) -> Response {
    let reply = Reply {
        status: rejection.http_status(),
        body: rejection.body(),
    };
    send(reply)
}

pub fn send(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(reply.body)).into_response()
}

fn error(status: StatusCode, error: serde_json::Value) -> Response {
    (status, Json(json!({"success": false, "errors": [error]}))).into_response()
}
