//! `/v2/conversations/{id}` (spec §1–§9).

use axum::body::Body;
use axum::extract::{Extension, FromRequestParts, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use convo_domain::command::{Action, Command};
use convo_domain::rejection::ErrorBody;
use convo_domain::render::RenderedConversation;
use convo_domain::render::{Depth, depth_from_full_client, render};
use convo_domain::validate::UpdateBody;
use convo_domain::validate::{MAX_BODY_BYTES, parse_update_body};
use convo_domain::{Rejection, Uid, UpdateChanges};
use convo_metrics::Outcome;
use convo_store::{Answer, Idempotency, Metadata, Request, Transport, store};
use convo_trace::TraceContext;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::auth::Identity;
use crate::extract::{self, KeyHeader, MAX_KEY_LEN, PathUid, VcitaQuery};
use crate::reply;

/// The query of `/v2/conversations/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Params {
    /// Truthy (present and not `""`, `0`, `false`, `f`, `off`, `no`): the deep rendering, with
    /// the full client record.
    #[param(value_type = Option<bool>)]
    full_client: Option<String>,
}

/// `PUT` and `PATCH`: run the update and answer with the conversation as it now is. Refusals
/// come in the spec's order: 401, 403, the query (400), the body (413, 400, 422), then 404.
#[utoipa::path(
    method(put, patch),
    path = "/v2/conversations/{id}",
    tag = "Conversations",
    params(
        ("id" = String, Path, description = "The conversation's uid; a merged one routes to its target."),
        Params,
        ("Idempotency-Key" = Option<String>, Header,
         description = "1-128 visible ASCII characters: a retry with the same key and body gets the first answer."),
        ("X-Correlation-Id" = Option<String>, Header,
         description = "Carried into the events' metadata; the command id when absent."),
    ),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The conversation as it now is.", body = RenderedConversation),
        (status = 400, description = "Malformed JSON, not an object, a bad query or header.", body = ErrorBody),
        (status = 401, description = "No valid staff token.", body = ErrorBody),
        (status = 403, description = "The token may not use conversations.", body = ErrorBody),
        (status = 404, description = "No such conversation in the caller's business.", body = ErrorBody),
        (status = 409, description = "An Idempotency-Key reused with another body.", body = ErrorBody),
        (status = 413, description = "The body, or an event it would store, is too large.", body = ErrorBody),
        (status = 422, description = "Invalid fields, all of them listed.", body = ErrorBody),
        (status = 503, description = "The database is unreachable; retry after `Retry-After`.", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "http_update", skip_all, fields(
    conversation = uid.as_ref().map(Uid::as_str),
    staff = %identity.staff_uid,
))]
pub async fn update(
    State(app): State<AppState>,
    identity: Identity,
    PathUid(uid): PathUid,
    VcitaQuery(params): VcitaQuery<Params>,
    trace: Option<Extension<TraceContext>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match extract::body(body, &headers, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(rejection) => return refused(&rejection),
    };
    let changes = match parse_update_body(&bytes) {
        Ok(changes) => changes,
        Err(rejection) => return refused(&rejection),
    };
    let idempotency_key = match KeyHeader::read(&headers, "idempotency-key") {
        KeyHeader::Invalid => {
            return refused(&Rejection::BadRequest {
                message: format!(
                    "Idempotency-Key must be 1-{MAX_KEY_LEN} visible ASCII characters"
                ),
            });
        }
        key => key.valid(),
    };
    let Some(uid) = uid else {
        return refused(&Rejection::NotFound);
    };
    let depth = depth_from_full_client(params.full_client.as_deref());
    let request = update_request(
        uid.as_str(),
        metadata(&headers, trace.as_deref()),
        &identity,
        changes,
        idempotency_key,
        &bytes,
        depth,
    );
    let staff = identity.staff_uid.clone();
    let now = request.command.now;
    let result = app
        .handler
        .handle(&request, move |decision| match decision {
            Ok(accepted) => Answer {
                status: 200,
                body: render(&accepted.state, &staff, depth, now),
            },
            Err(rejection) => Answer {
                status: rejection.http_status(),
                body: rejection.body(),
            },
        })
        .await;
    match result {
        Ok(answer) => reply::send(answer),
        Err(e) => {
            let response = reply::store_error(&e);
            count_refused(response.status().as_u16());
            response
        }
    }
}

/// An update refused before or without the handler's answer (which counts its own commands).
fn refused(rejection: &Rejection) -> Response {
    count_refused(rejection.http_status());
    reply::rejection(rejection)
}

fn count_refused(status: u16) {
    convo_metrics::command(Transport::Http, "update", Outcome::Rejected, status);
}

/// Who and what caused an update: a new command id, the caller's `X-Correlation-Id` (else the
/// command id), and the command's span in the request's trace.
fn metadata(headers: &HeaderMap, request_trace: Option<&TraceContext>) -> Metadata {
    let command_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = KeyHeader::read(headers, "x-correlation-id")
        .valid()
        .unwrap_or_else(|| command_id.clone());
    Metadata {
        causation_id: command_id.clone(),
        command_id,
        correlation_id,
        trace: TraceContext::child_of(request_trace),
    }
}

fn update_request(
    uid: &str,
    metadata: Metadata,
    identity: &Identity,
    changes: UpdateChanges,
    idempotency_key: Option<String>,
    body: &[u8],
    depth: Depth,
) -> Request {
    let idempotency = idempotency_key.map(|key| {
        // Keys are the caller's: scope them so callers can never see each other's outcomes.
        let key = format!(
            "http:{}:{}:{key}",
            identity.business_uid, identity.staff_uid
        );
        let parts = request_parts(uid, body, depth);
        Idempotency::new(key, &parts.each_ref().map(Vec::as_slice))
    });
    Request {
        command: Command {
            conversation_uid: uid.to_owned(),
            business_uid: identity.business_uid.clone(),
            now: Utc::now(),
            action: Action::Update {
                staff_uid: identity.staff_uid.clone(),
                changes,
            },
        },
        metadata,
        idempotency,
        transport: Transport::Http,
    }
}

/// Identifies "the same request" for idempotency: the uid, the body's JSON value (so key order
/// and whitespace do not matter) and the rendering asked for.
fn request_parts(uid: &str, body: &[u8], depth: Depth) -> [Vec<u8>; 3] {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.to_string())
        .unwrap_or_default();
    [uid.into(), canonical.into_bytes(), vec![depth as u8]]
}

/// `GET`: the conversation as the last accepted write left it.
#[utoipa::path(
    get,
    path = "/v2/conversations/{id}",
    tag = "Conversations",
    params(("id" = String, Path, description = "The conversation's uid."), Params),
    responses(
        (status = 200, description = "The conversation.", body = RenderedConversation),
        (status = 400, description = "A bad query string.", body = ErrorBody),
        (status = 401, description = "No valid staff token.", body = ErrorBody),
        (status = 403, description = "The token may not use conversations.", body = ErrorBody),
        (status = 404, description = "No such conversation in the caller's business.", body = ErrorBody),
        (status = 503, description = "The database is unreachable.", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "http_show", skip_all, fields(
    conversation = uid.as_ref().map(Uid::as_str),
    staff = %identity.staff_uid,
))]
pub async fn show(
    State(app): State<AppState>,
    identity: Identity,
    PathUid(uid): PathUid,
    VcitaQuery(params): VcitaQuery<Params>,
) -> Response {
    let Some(uid) = uid else {
        return reply::rejection(&Rejection::NotFound);
    };
    let depth = depth_from_full_client(params.full_client.as_deref());
    let loaded = async {
        let mut conn = app.handler.pool().acquire().await?;
        let target = store::resolve_route(&mut conn, uid.as_str()).await?;
        store::load(&mut conn, &target).await
    }
    .await;
    match loaded {
        Ok(state) if convo_store::handler::visible_to(&state, &identity.business_uid) => {
            reply::send(Answer {
                status: 200,
                body: render(&state, &identity.staff_uid, depth, Utc::now()),
            })
        }
        Ok(_) => reply::rejection(&Rejection::NotFound),
        Err(e) => reply::store_error(&e),
    }
}

/// The query of `/platform/v1/conversations`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `inbox`, `follow_up`, `sent`, `archived`, `attention`, `trash`; anything else lists all.
    folder: Option<String>,
    /// From 1; 1 by default.
    #[param(value_type = Option<u32>)]
    page: Option<String>,
    /// From 1, at most 100; 25 by default.
    #[param(value_type = Option<u32>)]
    per_page: Option<String>,
}

/// Largest and default page of the list (vcita's v1 API).
const MAX_PER_PAGE: u32 = 100;
const DEFAULT_PER_PAGE: u32 = 25;

/// `GET /platform/v1/conversations`: the business's conversations in a folder, from the read
/// models (they trail the writes by the projector's lag).
#[utoipa::path(
    get,
    path = "/platform/v1/conversations",
    tag = "Conversations",
    params(ListParams),
    responses(
        (status = 200, description = "`{\"status\": \"OK\", \"data\": {\"conversations\": [...]}}`", body = Object),
        (status = 400, description = "A bad page or per_page.", body = ErrorBody),
        (status = 401, description = "No valid staff token.", body = ErrorBody),
        (status = 403, description = "The token may not use conversations.", body = ErrorBody),
        (status = 503, description = "The database is unreachable.", body = ErrorBody),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    identity: Identity,
    VcitaQuery(params): VcitaQuery<ListParams>,
) -> Response {
    let number = |name: &str, value: Option<&str>, default: u32| match value {
        None | Some("") => Ok(default),
        Some(text) => {
            text.parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| Rejection::BadRequest {
                    message: format!("{name} must be a whole number from 1"),
                })
        }
    };
    let (page, per_page) = match (
        number("page", params.page.as_deref(), 1),
        number("per_page", params.per_page.as_deref(), DEFAULT_PER_PAGE),
    ) {
        (Ok(page), Ok(per_page)) => (page, per_page.min(MAX_PER_PAGE)),
        (Err(rejection), _) | (_, Err(rejection)) => return reply::rejection(&rejection),
    };
    let folder = convo_projector::query::Folder::parse(params.folder.as_deref());
    match convo_projector::query::list_conversations(
        app.handler.pool(),
        &identity.business_uid,
        &identity.staff_uid,
        folder,
        page,
        per_page,
    )
    .await
    {
        Ok(conversations) => reply::send(Answer {
            status: 200,
            body: serde_json::json!({"status": "OK", "data": {"conversations": conversations}}),
        }),
        Err(e) => reply::store_error(&e.into()),
    }
}

/// A path no route serves. Under the conversation routes (`/v2/conversations/` without a uid,
/// a longer path) the caller is authenticated first, then answered like an unknown uid.
pub async fn no_route(State(app): State<AppState>, request: axum::extract::Request) -> Response {
    let path = request.uri().path();
    if path.starts_with("/v2/conversations") || path.starts_with("/platform/v1/conversations") {
        let (mut parts, _) = request.into_parts();
        if let Err(refusal) = Identity::from_request_parts(&mut parts, &app).await {
            return refusal;
        }
        return reply::rejection(&Rejection::NotFound);
    }
    reply::not_found()
}

/// A method the route does not serve.
pub async fn method_not_allowed(
    State(app): State<AppState>,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    if let Err(refusal) = Identity::from_request_parts(&mut parts, &app).await {
        return refusal;
    }
    reply::method_not_allowed()
}

/// Liveness and database reachability, with every relay's stall (a record the broker refuses, a
/// position from another cluster), if any: 200 while the database answers (a stalled relay does
/// not stop the API from serving), 503 when it does not.
#[utoipa::path(
    get,
    path = "/health",
    tag = "Operations",
    security(()),
    responses(
        (status = 200, description = "`{\"status\": \"ok\", \"stalled_relays\": [{\"relay\", \"since\", \"reason\"}]}`", body = Object),
        (status = 503, description = "`{\"status\": \"unavailable\"}`", body = Object),
    )
)]
pub async fn health(State(app): State<AppState>) -> Response {
    let relays = async {
        sqlx_ping(&app).await?;
        convo_relay::status::stored(app.handler.pool()).await
    };
    match relays.await {
        Ok(relays) => {
            let stalled: Vec<serde_json::Value> = relays
                .into_iter()
                .filter(|r| r.stalled_since.is_some())
                .map(|r| {
                    serde_json::json!({"relay": r.relay, "since": r.stalled_since,
                                       "reason": r.stalled_reason})
                })
                .collect();
            reply::send(Answer {
                status: 200,
                body: serde_json::json!({"status": "ok", "stalled_relays": stalled}),
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            reply::send(Answer {
                status: 503,
                body: serde_json::json!({"status": "unavailable"}),
            })
        }
    }
}

async fn sqlx_ping(app: &AppState) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(app.handler.pool()).await?;
    Ok(())
}
