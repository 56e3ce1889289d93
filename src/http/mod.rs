//! HTTP: the router, one module per dialect, the credential extractors, and the single
//! mapping from domain errors to responses.

pub mod a1user;
pub mod credentials;
pub mod error;

use std::future::Future;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::app::Services;
use error::ApiError;

/// Largest request body the token endpoints read; their bodies are tiny.
pub const MAX_AUTH_BODY_BYTES: usize = 64 * 1024;

/// The whole HTTP surface.
pub fn router(services: Services) -> Router {
    Router::new()
        .route("/authentication", post(a1user::login))
        .route(
            "/token",
            get(a1user::retrieve)
                .post(a1user::extend_or_create)
                .delete(a1user::revoke),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_AUTH_BODY_BYTES))
        .layer(middleware::from_fn(json_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(services)
}

async fn not_found() -> ApiError {
    ApiError::for_status(axum::http::StatusCode::NOT_FOUND)
}

/// Errors produced by the framework rather than our handlers (wrong method, body too large,
/// …) come as plain text; give them the same JSON shape as every other error.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut replaced = ApiError::for_status(status).into_response();
    if let Some(allow) = allow {
        replaced.headers_mut().insert(header::ALLOW, allow);
    }
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        // The unread rest of the body would otherwise be parsed as the next request.
        replaced
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    replaced
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    services: Services,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(services))
        .with_graceful_shutdown(shutdown)
        .await
}
