//! HTTP: the router, one module per dialect, the credential extractors, the OpenAPI document,
//! and the single mapping from domain errors to responses.

pub mod a1user;
pub mod admin;
pub mod cdp;
pub mod connections;
pub mod credentials;
pub mod error;
pub mod forward_auth;
pub mod guard;
pub mod health;
pub mod media_type;
pub mod metrics;
pub mod oauth;
pub mod observe;
pub mod openapi;
pub mod postman;
pub mod secure_api;
pub mod ui;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::any;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::Services;
use error::ApiError;

/// Largest request body the token endpoints read; their bodies are tiny.
pub const MAX_AUTH_BODY_BYTES: usize = 64 * 1024;

/// A request (including reading its body) that takes longer than this is answered 408, so a
/// slow client cannot hold a connection and its resources forever.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What every handler can reach: a handle to one shared [`Shared`]. axum clones the state for
/// every request, so it must cost one reference count, not a copy of every service (the
/// services hold caches whose clones alone cost more than a whole bearer check).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The state every handler shares.
pub struct Shared {
    /// The domain services.
    pub services: Services,
    /// The Authentication Host URL (the OAuth issuer).
    pub auth_host_url: String,
    /// The API Host URL, shown with new credentials.
    pub api_host_url: String,
    /// Whether cookies get `Secure` (the public URLs are https).
    pub secure_cookies: bool,
    /// The OpenAPI document, built once.
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    /// Secrets the UI shows once, waiting for their page.
    pub ui_once: ui::once::OnceResults,
    /// Whether `/metrics` answers on this listener.
    pub metrics_here: metrics::MetricsHere,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Every documented route, with the OpenAPI document they produce. The CDP routes check
/// tokens with `verifier` and take pushes of up to `max_push_body` bytes; `/forward-auth`
/// reads no body at all; every other route reads at most [`MAX_AUTH_BODY_BYTES`].
pub fn documented_routes<V: guard::TokenVerifier>(
    verifier: V,
    max_push_body: usize,
) -> OpenApiRouter<AppState> {
    let token_routes = OpenApiRouter::with_openapi(openapi::base_document())
        .routes(routes!(a1user::login))
        .routes(routes!(
            a1user::retrieve,
            a1user::extend_or_create,
            a1user::revoke
        ))
        .routes(routes!(secure_api::create))
        .routes(routes!(secure_api::update))
        .routes(routes!(oauth::token))
        .routes(routes!(oauth::introspect))
        .routes(routes!(oauth::revoke))
        .routes(routes!(oauth::metadata))
        .routes(routes!(oauth::resource_metadata))
        .routes(routes!(oauth::jwks))
        .routes(routes!(openapi::document))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::scrape))
        .routes(routes!(admin::api::list_tenants, admin::api::create_tenant))
        .routes(routes!(admin::api::rotate_tenant_secret))
        .routes(routes!(admin::api::set_tenant_oauth))
        .routes(routes!(admin::api::set_tenant_token_format))
        .routes(routes!(admin::api::revoke_tenant_tokens))
        .routes(routes!(
            admin::api::list_instances,
            admin::api::create_instance
        ))
        .routes(routes!(admin::api::show_instance))
        .routes(routes!(
            admin::api::list_tokens,
            admin::api::revoke_all_tokens
        ))
        .routes(routes!(admin::api::revoke_token))
        .routes(routes!(admin::api::rotate_password))
        .routes(routes!(admin::api::disable_instance))
        .routes(routes!(admin::api::enable_instance))
        .routes(routes!(admin::api::audit))
        .routes(routes!(
            admin::admins::list_admins,
            admin::admins::create_admin
        ))
        .routes(routes!(admin::admins::delete_admin))
        .routes(routes!(admin::admins::disable_admin))
        .routes(routes!(admin::admins::enable_admin))
        .routes(routes!(admin::admins::reset_admin_password))
        .routes(routes!(
            admin::admins::list_admin_tokens,
            admin::admins::create_admin_token
        ))
        .routes(routes!(admin::admins::revoke_admin_token))
        .routes(routes!(admin::api::set_origins))
        .routes(routes!(
            admin::api::show_jwks,
            admin::api::set_jwks,
            admin::api::clear_jwks
        ))
        .routes(routes!(admin::api::list_segments))
        .routes(routes!(admin::api::put_segment, admin::api::delete_segment))
        .routes(routes!(postman::collection_json))
        .routes(routes!(postman::environment_json))
        .layer(DefaultBodyLimit::max(MAX_AUTH_BODY_BYTES))
        // Also for endpoints that never read their body: a declared oversized body is refused
        // before anything else happens.
        .layer(RequestBodyLimitLayer::new(MAX_AUTH_BODY_BYTES));
    token_routes
        .merge(cdp::routes(verifier, max_push_body))
        .merge(forward_auth_routes())
}

/// `/forward-auth` and every path below it, for any method. Documented as `GET` (the method
/// nginx and Traefik use) but routed for all, since Envoy keeps the original request's method.
/// Outside the token routes' body limit: the body is never read, and a gateway may forward the
/// original request's `Content-Length`.
fn forward_auth_routes() -> OpenApiRouter<AppState> {
    let (schemas, paths, _) = routes!(forward_auth::check);
    OpenApiRouter::new()
        .routes((schemas, paths, any(forward_auth::check)))
        .route("/forward-auth/", any(forward_auth::check))
        .route("/forward-auth/{*original}", any(forward_auth::check))
}

/// A verifier that knows no token, for building the OpenAPI document without a database.
#[derive(Clone)]
struct NoTokens;

impl guard::TokenVerifier for NoTokens {
    async fn verify(
        &self,
        _: crate::domain::secrets::Secret,
    ) -> Result<guard::Grant, crate::domain::DomainError> {
        Err(crate::domain::DomainError::InvalidToken)
    }
}

/// The public addresses of a deployment, as configured or derived from the listen address.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    /// Where tokens are issued (the a1user and OAuth endpoints).
    pub auth_host_url: String,
    /// Where the protected API and secureApi are.
    pub api_host_url: String,
}

/// What the outermost layer records of each request, and where `/metrics` answers.
#[derive(Debug, Clone, Copy)]
pub struct Observability {
    /// Requests are counted in the metrics.
    pub metrics: bool,
    /// An access line per request.
    pub access_log: bool,
    /// `/metrics` answers on the main listener.
    pub metrics_here: metrics::MetricsHere,
}

impl Observability {
    /// From the telemetry settings: metrics on the main listener unless they are off or
    /// have an address of their own.
    pub fn from_settings(settings: &crate::telemetry::TelemetrySettings) -> Self {
        Observability {
            metrics: settings.metrics,
            access_log: settings.access_log,
            metrics_here: if settings.metrics && settings.metrics_listen.is_none() {
                metrics::MetricsHere::Main
            } else {
                metrics::MetricsHere::Elsewhere
            },
        }
    }
}

/// The OpenAPI document alone.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    documented_routes(NoTokens, 1).split_for_parts().1
}

/// The whole HTTP surface.
pub fn router(services: Services, urls: PublicUrls, observability: Observability) -> Router {
    let max_push_body = services.cdp.settings().max_push_body;
    let (routes, document) =
        documented_routes(services.authn.clone(), max_push_body).split_for_parts();
    let state = AppState(Arc::new(Shared {
        services,
        secure_cookies: urls.auth_host_url.starts_with("https://"),
        auth_host_url: urls.auth_host_url,
        api_host_url: urls.api_host_url,
        openapi: Arc::new(document),
        ui_once: ui::once::OnceResults::default(),
        metrics_here: observability.metrics_here,
    }));
    let observe = observe::Observe {
        metrics: observability.metrics,
        access_log: observability.access_log,
    };
    let ui = ui::routes(state.clone());
    routes
        .merge(ui)
        .fallback(not_found)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(refuse_oversized_heads))
        .layer(middleware::from_fn(json_errors))
        // No answer is meant to be rendered, framed, sniffed or to leak a referrer (the UI
        // sets its own policy for its pages).
        .layer(always(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(always(header::X_FRAME_OPTIONS, "DENY"))
        .layer(always(header::REFERRER_POLICY, "no-referrer"))
        .layer(always(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .layer(observe)
        .with_state(state)
}

/// Marks a response that carries a secret as uncacheable (`Cache-Control: no-store`,
/// `Pragma: no-cache`), as RFC 6749 §5.1 asks of token responses.
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A response header set on every answer that does not set its own.
fn always(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

async fn not_found(uri: Uri) -> Response {
    guard::ErrorStyle::for_path(uri.path()).render(ApiError::for_status(StatusCode::NOT_FOUND))
}

/// Longest request target read; longer ones are `414`.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Most bytes of header fields (names and values) read; more are `431`.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses a request target or a set of header fields larger than any client of ours sends,
/// as JSON. hyper's own limits are set higher (its `414`/`431` have empty bodies), so these are
/// the ones clients meet.
async fn refuse_oversized_heads(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let too_many = headers.len() > connections::MAX_HEADERS
        || headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum::<usize>()
            > MAX_HEADER_BYTES;
    let (status, description) = if too_many {
        (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "The request's header fields are too many or too large.",
        )
    } else if request
        .uri()
        .path_and_query()
        .is_some_and(|target| target.as_str().len() > MAX_URI_BYTES)
    {
        (StatusCode::URI_TOO_LONG, "The request target is too long.")
    } else {
        return next.run(request).await;
    };
    let style = guard::ErrorStyle::for_path(request.uri().path());
    let mut refused = style.render(ApiError::new(
        status,
        error::ErrorCode::InvalidRequest,
        description,
    ));
    refused
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    refused
}

/// Errors produced by the framework rather than our handlers (wrong method, body too large,
/// bad path parameter…) come as plain text; give them the same JSON shape as every other
/// error, in the shape of the endpoint's dialect.
async fn json_errors(request: Request, next: Next) -> Response {
    let style = guard::ErrorStyle::for_path(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if is_ours {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut replaced = style.render(ApiError::for_status(status));
    if let Some(allow) = allow {
        replaced.headers_mut().insert(header::ALLOW, allow);
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The unread rest of the body would otherwise be parsed as the next request.
        replaced
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    replaced
}

/// Serves until `shutdown` resolves, then finishes in-flight requests, holding connections
/// to `limits`.
pub async fn serve(
    services: Services,
    urls: PublicUrls,
    observability: Observability,
    listener: TcpListener,
    limits: connections::ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let router = router(services, urls, observability);
    connections::serve(listener, router, limits, shutdown).await;
}
