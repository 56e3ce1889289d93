//! `GET /metrics`: the Prometheus exposition, on the main listener or, with `metrics_listen`,
//! on an address of its own (an internal interface the public one never reaches).

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use super::AppState;
use super::error::ApiError;
use crate::app::Services;
use crate::telemetry::metrics::{self, Sample};

/// Where `/metrics` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsHere {
    /// On the main listener.
    Main,
    /// Not on the main listener: metrics are off, or served on `metrics_listen`.
    Elsewhere,
}

/// Every series, in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses(
        (status = 200, description = "Prometheus metrics (text format 0.0.4)", content_type = "text/plain; version=0.0.4", body = String),
        (status = 404, description = "Metrics are off, or served on their own address (`metrics_listen`)", body = super::error::ErrorBody),
    )
)]
pub async fn scrape(State(state): State<AppState>) -> Response {
    if state.metrics_here != MetricsHere::Main {
        return ApiError::for_status(StatusCode::NOT_FOUND).into_response();
    }
    exposition(&state.services)
}

/// The exposition of `services`' metrics, sampled now.
fn exposition(services: &Services) -> Response {
    let (slow_hash_queue, slow_hash_capacity) = services.authn.slow_hash_queue();
    let sample = Sample {
        slow_hash_queue,
        slow_hash_capacity,
        pools: services.store.pool_usage(),
    };
    let mut response = metrics::metrics().render(&sample).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Serves `/metrics` alone on `listener` until `shutdown` resolves.
pub async fn serve_alone(
    services: Services,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let router = Router::new()
        .route(
            "/metrics",
            get(|State(services): State<Services>| async move { exposition(&services) }),
        )
        .fallback(|| async { ApiError::for_status(StatusCode::NOT_FOUND) })
        .with_state(services);
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(%error, "the metrics listener stopped");
    }
}
