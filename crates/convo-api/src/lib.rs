//! vcita's conversation API over HTTP (axum): `PUT`/`PATCH`/`GET /v2/conversations/{id}`.
//!
//! Requests are authenticated ([`auth`]), validated by the domain, and run through the
//! [`convo_store::CommandHandler`]; responses are vcita's `Conversation` object or its
//! `ErrorResponse` (see `../shared/reference/vcita-conversations-v2.swagger.json`).

pub mod app;
pub mod auth;
mod conversations;
mod extract;
pub mod openapi;
pub mod ops;
mod reply;
mod trace;

pub use app::{AppState, ServerLimits, operational_router, router, serve};
