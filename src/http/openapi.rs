//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations by
//! the same router that serves them, so the document cannot drift from the routes.

use axum::Json;
use axum::extract::State;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};

use super::AppState;

/// Title, version and the security schemes the handlers refer to.
pub fn base_document() -> OpenApi {
    let mut doc = OpenApi::default();
    doc.info = InfoBuilder::new()
        .title("cdp-auth")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Self-hosted API authentication for Customer Data Platforms: the a1user token API \
             (Acquia CDP / AgilOne), the secureApi scoped-token API (Algonomy Real-time CDP) \
             and OAuth 2.0, over one token store.",
        ))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "basic",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "admin_session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("cdp_auth_session"))),
    );
    components.add_security_scheme(
        "tenant_hash",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("tenant_hash"))),
    );
    components.add_security_scheme(
        "oauth_key_secret",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("oauth_key_secret"))),
    );
    components.add_security_scheme(
        "access_token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("access_token"))),
    );
    components.add_security_scheme(
        "access_key",
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("accessKey"))),
    );
    doc
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn document(State(state): State<AppState>) -> Json<OpenApi> {
    Json((*state.openapi).clone())
}
