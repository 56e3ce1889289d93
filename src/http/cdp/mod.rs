//! The protected CDP API on the wire: the a1user side (`/v2/{tenantId}/dw/tracker` pushes,
//! `/v2/{tenantId}/dw/a360/customers` pulls, WebTag browser events) and the secureApi side
//! (`/api/v1/profile/b2b/{resource}`, `/api/v1/gdpr/b2b/{action}`). Every route checks its
//! token through [`super::guard`] before anything else happens.

pub mod a360;
pub mod secure;
pub mod tracker;

use axum::extract::DefaultBodyLimit;
use tower_http::limit::RequestBodyLimitLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::guard::{RequireToken, TokenVerifier};
use super::{AppState, MAX_AUTH_BODY_BYTES};
use crate::domain::model::InstanceType;

/// The CDP routes with their documentation. Pushes may be up to `max_push_body` bytes; the
/// secureApi routes read at most [`MAX_AUTH_BODY_BYTES`].
pub fn routes<V: TokenVerifier>(verifier: V, max_push_body: usize) -> OpenApiRouter<AppState> {
    let pushes = OpenApiRouter::new()
        .routes(routes!(
            tracker::push,
            tracker::webtag_get,
            tracker::preflight
        ))
        .layer(DefaultBodyLimit::max(max_push_body))
        .layer(RequestBodyLimitLayer::new(max_push_body));
    let pulls = OpenApiRouter::new()
        .routes(routes!(a360::customers))
        .routes(routes!(a360::customer))
        .route_layer(RequireToken::instance(verifier, InstanceType::Profiles360));
    // Profile and GDPR bodies are a few fields: the token endpoints' limit, not the push one.
    let secure = OpenApiRouter::new()
        .routes(routes!(secure::profile))
        .routes(routes!(secure::gdpr))
        .layer(DefaultBodyLimit::max(MAX_AUTH_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_AUTH_BODY_BYTES));
    pushes.merge(pulls).merge(secure)
}
