//! The OpenAPI document served at `/openapi.json`, generated from the handlers' `#[utoipa::path]`
//! attributes and the request, response and error types they (de)serialize.

use axum::Json;
use axum::response::Html;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::conversations;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "convo",
        description = "vcita's conversation API (`PUT/PATCH/GET /v2/conversations/{id}`), served \
                       from an event-sourced command processor."
    ),
    paths(
        conversations::update,
        conversations::show,
        conversations::list,
        conversations::health
    ),
    modifiers(&StaffToken),
    security(("staff_token" = []))
)]
pub struct ApiDoc;

/// The staff bearer token every conversation route requires.
#[derive(Debug)]
struct StaffToken;

impl Modify for StaffToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "staff_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /docs`: the document rendered by Redoc, which the browser loads from its CDN.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>convo API</title></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="https://cdn.redoc.ly/redoc/v2.5.1/bundles/redoc.standalone.js"></script></body></html>
"#;
