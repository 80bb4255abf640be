//! The router, its shared state, and the server loop with graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use convo_store::CommandHandler;
use tokio::net::TcpListener;

use crate::auth::Verifier;
use crate::conversations;

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub handler: CommandHandler,
    pub verifier: Arc<Verifier>,
}

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
        .fallback(conversations::no_route)
        .method_not_allowed_fallback(conversations::method_not_allowed)
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
