//! What handlers take from a request, never answering in axum's own words: the caller's identity
//! (401, then 403, before anything else of the request is looked at), the conversation uid of
//! the path, the query string, the body and optional headers. Every refusal is in vcita's shape.

use std::convert::Infallible;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::http::request::Parts;
use axum::response::Response;
use chrono::Utc;
use convo_domain::{Rejection, Uid};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::auth::Identity;
use crate::reply;

/// Longest `Idempotency-Key` / `X-Correlation-Id` header accepted.
pub const MAX_KEY_LEN: usize = 128;

/// The staff token (401 when missing or invalid) and its scope (403 without conversations).
impl FromRequestParts<AppState> for Identity {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let identity = app
            .verifier
            .verify_header(header, Utc::now())
            .map_err(|e| {
                tracing::info!(reason = %e, "token refused");
                reply::unauthorized()
            })?;
        if !identity.may_use_conversations() {
            return Err(reply::forbidden());
        }
        Ok(identity)
    }
}

/// The `{id}` of the path, when it is a [`Uid`]; `None` otherwise (not UTF-8 either), which the
/// handlers answer with "not found" at the point the spec puts it, without touching the database.
#[derive(Debug)]
pub struct PathUid(pub Option<Uid>);

impl<S: Send + Sync> FromRequestParts<S> for PathUid {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let uid = Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|Path(uid)| Uid::parse(&uid).ok());
        Ok(Self(uid))
    }
}

/// The query string as `T`; one that does not parse (a repeated parameter, say) is a 400.
#[derive(Debug)]
pub struct VcitaQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for VcitaQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(query)| Self(query))
            .map_err(|e| {
                reply::rejection(&Rejection::BadRequest {
                    message: format!("invalid query string: {}", e.body_text()),
                })
            })
    }
}

/// Reads a body of at most `limit` bytes: 413 when it is longer (by its `Content-Length` or as
/// it arrives), 400 when it does not arrive whole (the client went away mid-body).
pub async fn body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, Rejection> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Rejection::TooLarge);
    }
    match to_bytes(body, limit + 1).await {
        Ok(bytes) if bytes.len() > limit => Err(Rejection::TooLarge),
        Ok(bytes) => Ok(bytes),
        Err(e) if is_length_limit(&e) => Err(Rejection::TooLarge),
        Err(e) => {
            tracing::info!(error = %e, "request body not received");
            Err(Rejection::BadRequest {
                message: "the request body could not be read".to_owned(),
            })
        }
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// An optional header whose value must be 1-[`MAX_KEY_LEN`] visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyHeader {
    Absent,
    Valid(String),
    Invalid,
}

impl KeyHeader {
    pub fn read(headers: &HeaderMap, name: &str) -> Self {
        match headers.get(name) {
            None => Self::Absent,
            Some(value) => value
                .to_str()
                .ok()
                .filter(|v| {
                    !v.is_empty()
                        && v.len() <= MAX_KEY_LEN
                        && v.bytes().all(|b| b.is_ascii_graphic())
                })
                .map_or(Self::Invalid, |v| Self::Valid(v.to_owned())),
        }
    }

    /// The value, when there is a valid one.
    pub fn valid(self) -> Option<String> {
        match self {
            Self::Valid(value) => Some(value),
            Self::Absent | Self::Invalid => None,
        }
    }
}
