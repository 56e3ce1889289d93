//! The self-service web UI at `/ui/`: server-rendered pages with every asset embedded in the
//! binary. Anonymous browsers are sent to the sign-in page; every form that changes state
//! carries the session's anti-CSRF token and is refused without it.

mod admins;
mod audit;
mod instances;
pub mod once;
pub mod pages;
mod session;
mod tenants;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use super::admin::authenticate;
use super::error::ApiError;
use super::{AppState, MAX_AUTH_BODY_BYTES};
use crate::domain::DomainError;
use crate::domain::accounts::AdminPrincipal;
use crate::domain::clock::UnixTime;
use crate::domain::secrets::Secret;
use pages::{Chrome, ErrorPage, Nav};

/// What UI pages may load: our own scripts, styles and images, nothing else; forms post only
/// to us; no page can be framed.
const UI_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Every UI route, and `/` and `/favicon.ico`, which a browser opening the server asks for.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/favicon.ico", get(favicon))
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(session::home))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route(
            "/ui/instances",
            get(instances::list).post(instances::create),
        )
        .route("/ui/instances/new", get(instances::new_form))
        .route("/ui/instances/created/{once}", get(instances::created))
        .route("/ui/instances/{id}", get(instances::show))
        .route(
            "/ui/instances/{id}/rotate-password",
            post(instances::rotate_password),
        )
        .route(
            "/ui/instances/{id}/password/{once}",
            get(instances::rotated),
        )
        .route("/ui/instances/{id}/disable", post(instances::disable))
        .route("/ui/instances/{id}/enable", post(instances::enable))
        .route("/ui/instances/{id}/revoke-all", post(instances::revoke_all))
        .route("/ui/instances/{id}/origins", post(instances::set_origins))
        .route("/ui/instances/{id}/jwks", post(instances::set_client_keys))
        .route(
            "/ui/instances/{id}/jwks/clear",
            post(instances::clear_client_keys),
        )
        .route(
            "/ui/instances/{id}/tokens/{token}/revoke",
            post(instances::revoke_token),
        )
        .route("/ui/tenants", get(tenants::list).post(tenants::create))
        .route(
            "/ui/tenants/{id}/rotate-secret",
            post(tenants::rotate_secret),
        )
        .route("/ui/tenants/{id}/secret/{once}", get(tenants::secret))
        .route("/ui/tenants/{id}/oauth", post(tenants::set_oauth))
        .route(
            "/ui/tenants/{id}/token-format",
            post(tenants::set_token_format),
        )
        .route("/ui/admins", get(admins::list).post(admins::create))
        .route("/ui/admins/shown/{once}", get(admins::shown))
        .route("/ui/admins/{username}/disable", post(admins::disable))
        .route("/ui/admins/{username}/enable", post(admins::enable))
        .route("/ui/admins/{username}/delete", post(admins::delete))
        .route(
            "/ui/admins/{username}/reset-password",
            post(admins::reset_password),
        )
        .route("/ui/admins/{username}/tokens", post(admins::create_token))
        .route(
            "/ui/admins/{username}/tokens/{token}/revoke",
            post(admins::revoke_token),
        )
        .route(
            "/ui/tenants/{id}/tokens/revoke",
            post(tenants::revoke_tokens),
        )
        .route("/ui/audit", get(audit::list))
        .route("/ui/assets/app.css", get(stylesheet))
        .route("/ui/assets/app.js", get(script))
        .route("/ui/assets/favicon.svg", get(favicon))
        .route("/ui/{*unknown}", any(unknown_page))
        .layer(DefaultBodyLimit::max(MAX_AUTH_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_AUTH_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state, error_pages))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(UI_CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

async fn stylesheet() -> Response {
    asset(
        include_str!("../../../assets/app.css"),
        "text/css; charset=utf-8",
    )
}

async fn script() -> Response {
    asset(
        include_str!("../../../assets/app.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn favicon() -> Response {
    asset(include_str!("../../../assets/favicon.svg"), "image/svg+xml")
}

async fn unknown_page() -> UiError {
    UiError::new(StatusCode::NOT_FOUND, "There is no such page.")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// A signed-in admin of a UI page; anonymous browsers are redirected to the sign-in page.
pub struct UiAdmin {
    /// Who.
    pub principal: AdminPrincipal,
    /// The session cookie's value.
    pub session: Secret,
}

impl UiAdmin {
    /// The session's anti-CSRF token.
    pub fn csrf(&self) -> String {
        self.principal.csrf.clone().unwrap_or_default()
    }

    /// The page header for this admin.
    pub fn chrome(&self, title: impl Into<String>, active: &'static str) -> Chrome {
        Chrome {
            nav: Some(self.nav(active)),
            ..Chrome::plain(title)
        }
    }

    fn nav(&self, active: &'static str) -> Nav {
        Nav {
            username: self.principal.admin.username.clone(),
            csrf: self.csrf(),
            active,
        }
    }

    /// Keeps a result to be shown once to this session; returns the id of its page.
    pub fn keep_once(&self, state: &AppState, result: once::OnceResult) -> Result<String, UiError> {
        state
            .ui_once
            .keep(&self.session, result)
            .map_err(UiError::from)
    }

    /// Takes the result behind `id`, if this session made it and it is still waiting.
    pub fn take_once(&self, state: &AppState, id: &str) -> Option<once::OnceResult> {
        state.ui_once.take(&self.session, id)
    }
}

impl FromRequestParts<AppState> for UiAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match authenticate(parts, state).await {
            Ok(Some(found)) => match found.session {
                Some(session) => Ok(UiAdmin {
                    principal: found.principal,
                    session,
                }),
                // The UI is for browsers; API tokens belong to /admin/api/.
                None => Err(Redirect::to("/ui/login").into_response()),
            },
            Ok(None) => Err(Redirect::to("/ui/login").into_response()),
            Err(error) if error.status == StatusCode::UNAUTHORIZED => {
                Err(Redirect::to("/ui/login").into_response())
            }
            Err(error) => Err(UiError::from(error).into_response()),
        }
    }
}

/// A form that carries the anti-CSRF token in its `csrf` field.
pub trait CsrfForm: DeserializeOwned {
    /// The posted token.
    fn csrf(&self) -> &str;
}

/// A posted form of a signed-in admin whose anti-CSRF token matched.
pub struct UiForm<T> {
    /// Who posted it.
    pub admin: UiAdmin,
    /// The form.
    pub form: T,
}

impl<T: CsrfForm + Send> FromRequest<AppState> for UiForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let admin = UiAdmin::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form: T = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            UiError::new(
                StatusCode::BAD_REQUEST,
                "The form is incomplete or malformed.",
            )
            .into_response()
        })?;
        if !admin.principal.allows_write(Some(form.csrf())) {
            return Err(UiError::csrf().into_response());
        }
        Ok(UiForm { admin, form })
    }
}

/// A form with nothing but its anti-CSRF token (the action is in the path).
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

impl CsrfForm for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// An error shown as a page, with the navigation when someone is signed in (see
/// [`error_pages`]).
#[derive(Debug, Clone)]
pub struct UiError {
    status: StatusCode,
    message: String,
    back: String,
}

impl UiError {
    /// An error with a message and a link back to the instance list.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        UiError {
            status,
            message: message.into(),
            back: "/ui/instances".into(),
        }
    }

    /// A form that did not carry its session's anti-CSRF token.
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form did not come with a valid security token. Reload the page and try again.",
        )
    }

    /// Sends "Go back" somewhere else.
    pub fn back_to(mut self, back: impl Into<String>) -> Self {
        self.back = back.into();
        self
    }

    /// A page asked for again after it showed its secret, or never made for this session.
    pub fn already_shown(what: &str, again: &str, back: impl Into<String>) -> Self {
        Self::new(
            StatusCode::GONE,
            format!(
                "{what} was shown once and cannot be shown again: cdp-auth keeps only a hash \
                 of it. Nothing was done again. If nobody copied it, {again}."
            ),
        )
        .back_to(back)
    }

    /// What the framework's own refusals (a malformed path or query, a wrong method, an
    /// oversized form) say on a page.
    fn for_status(status: StatusCode) -> Self {
        let message = match status {
            StatusCode::NOT_FOUND => "There is no such page.",
            StatusCode::METHOD_NOT_ALLOWED => "This page cannot be used that way.",
            StatusCode::PAYLOAD_TOO_LARGE => "The form is too large.",
            StatusCode::REQUEST_TIMEOUT => "The request took too long. Try again.",
            s if s.is_server_error() => "Something went wrong on the server. Try again shortly.",
            _ => "The address or the form is malformed.",
        };
        Self::new(status, message)
    }

    fn heading(&self) -> &'static str {
        match self.status {
            StatusCode::FORBIDDEN => "Refused",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::GONE => "Already shown",
            s if s.is_server_error() => "Something went wrong",
            _ => "Cannot do that",
        }
    }

    /// The page, with this navigation.
    fn page(&self, nav: Option<Nav>) -> Response {
        let heading = self.heading();
        let page = ErrorPage {
            chrome: Chrome {
                nav,
                ..Chrome::plain(heading)
            },
            heading: heading.into(),
            message: self.message.clone(),
            back: self.back.clone(),
        };
        let mut response = render(&page);
        *response.status_mut() = self.status;
        response
    }
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        UiError::new(error.status, error.description)
    }
}

impl From<DomainError> for UiError {
    fn from(error: DomainError) -> Self {
        ApiError::from(error).into()
    }
}

impl IntoResponse for UiError {
    /// The page without navigation, and the error itself for [`error_pages`] to add it.
    fn into_response(self) -> Response {
        let mut response = self.page(None);
        response.extensions_mut().insert(self);
        response
    }
}

/// Every error of a UI route as a page of the UI: our own errors get the navigation of the
/// admin who is signed in, and the framework's plain-text refusals (a malformed query, a wrong
/// method, an oversized form) and any JSON error become pages too. The sign-in page's own
/// refusals are pages already and pass as they are.
async fn error_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let mut head = parts.clone();
    let response = next.run(Request::from_parts(parts, body)).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let error = match response.extensions().get::<UiError>() {
        Some(error) => error.clone(),
        None if is_page(&response) => return response,
        None => UiError::for_status(status),
    };
    let mut page = error.page(navigation(&mut head, &state).await);
    for name in [header::ALLOW, header::RETRY_AFTER, header::CONNECTION] {
        if let Some(value) = response.headers().get(&name) {
            page.headers_mut().insert(name, value.clone());
        }
    }
    page
}

fn is_page(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
}

/// The navigation of the admin signed in with this request's session, if any.
async fn navigation(head: &mut Parts, state: &AppState) -> Option<Nav> {
    match UiAdmin::from_request_parts(head, state).await {
        Ok(admin) => Some(admin.nav("")),
        Err(_) => None,
    }
}

/// Renders a page as `text/html`.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "page rendering failed");
            ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
    }
}

/// A time as the pages show it: `2026-11-23 09:47 UTC`, where a narrow table cell may wrap
/// between the date and the time but not before `UTC` (a no-break space).
pub fn display_time(at: UnixTime) -> String {
    let rfc = crate::domain::clock::rfc3339(at);
    match rfc.get(..16) {
        Some(minutes) => format!("{}\u{a0}UTC", minutes.replacen('T', " ", 1)),
        None => rfc,
    }
}

/// An optional time, or a dash.
pub fn display_optional_time(at: Option<UnixTime>) -> String {
    at.map(display_time).unwrap_or_else(|| "—".into())
}

/// A 303 back to a page after a form did its work.
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// What a form did, carried by its 303 as `?done=<word>` and shown on the page it leads to as
/// a status banner. Only these fixed words travel in the address, never what was posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// One token revoked.
    Revoked,
    /// Every token of an instance revoked.
    RevokedAll,
    /// Instance disabled.
    Disabled,
    /// Instance enabled.
    Enabled,
    /// WebTag origins saved.
    OriginsSaved,
    /// An instance's private_key_jwt keys saved.
    ClientKeysSaved,
    /// An instance's private_key_jwt keys removed.
    ClientKeysCleared,
    /// Tenant created without OAuth (so no secret to show).
    TenantCreated,
    /// OAuth turned on for a tenant that already had a secret.
    OAuthOn,
    /// OAuth turned off.
    OAuthOff,
    /// An administrator disabled.
    AdminDisabled,
    /// An administrator enabled.
    AdminEnabled,
    /// An administrator deleted.
    AdminDeleted,
    /// An administrator's API token revoked.
    AdminTokenRevoked,
    /// Every secureApi token of a tenant revoked (the count travels as `&count=N`).
    TenantTokensRevoked,
    /// A tenant's OAuth token format saved.
    TokenFormatSet,
}

impl Done {
    const ALL: [Done; 16] = [
        Done::Revoked,
        Done::RevokedAll,
        Done::Disabled,
        Done::Enabled,
        Done::OriginsSaved,
        Done::ClientKeysSaved,
        Done::ClientKeysCleared,
        Done::TenantCreated,
        Done::OAuthOn,
        Done::OAuthOff,
        Done::AdminDisabled,
        Done::AdminEnabled,
        Done::AdminDeleted,
        Done::AdminTokenRevoked,
        Done::TenantTokensRevoked,
        Done::TokenFormatSet,
    ];

    fn word(self) -> &'static str {
        match self {
            Done::Revoked => "revoked",
            Done::RevokedAll => "revoked-all",
            Done::Disabled => "disabled",
            Done::Enabled => "enabled",
            Done::OriginsSaved => "origins-saved",
            Done::ClientKeysSaved => "client-keys-saved",
            Done::ClientKeysCleared => "client-keys-cleared",
            Done::TenantCreated => "tenant-created",
            Done::OAuthOn => "oauth-on",
            Done::OAuthOff => "oauth-off",
            Done::AdminDisabled => "admin-disabled",
            Done::AdminEnabled => "admin-enabled",
            Done::AdminDeleted => "admin-deleted",
            Done::AdminTokenRevoked => "admin-token-revoked",
            Done::TenantTokensRevoked => "tenant-tokens-revoked",
            Done::TokenFormatSet => "token-format-set",
        }
    }

    /// The banner.
    pub fn message(self) -> &'static str {
        match self {
            Done::Revoked => "Token revoked: it no longer works.",
            Done::RevokedAll => "Every token of this instance is revoked.",
            Done::Disabled => {
                "Instance disabled: its password and tokens stop working until it is enabled."
            }
            Done::Enabled => "Instance enabled: its password and tokens work again.",
            Done::OriginsSaved => "Allowed origins saved.",
            Done::ClientKeysSaved => {
                "Client keys saved: private_key_jwt assertions signed by them authenticate this instance; the password still works."
            }
            Done::ClientKeysCleared => {
                "Client keys removed: this instance authenticates by password only."
            }
            Done::TenantCreated => "Tenant created.",
            Done::OAuthOn => {
                "OAuth turned on: secureApi callers must present the oauth_key_secret."
            }
            Done::OAuthOff => {
                "OAuth turned off: secureApi callers no longer need the oauth_key_secret."
            }
            Done::AdminDisabled => {
                "Administrator disabled: it cannot sign in and its API tokens stop working."
            }
            Done::AdminEnabled => "Administrator enabled: it can sign in and use its tokens.",
            Done::AdminDeleted => "Administrator deleted, with its sessions and API tokens.",
            Done::AdminTokenRevoked => "API token revoked: it no longer works.",
            Done::TenantTokensRevoked => {
                "Every secureApi token of the tenant is revoked: they no longer work."
            }
            Done::TokenFormatSet => {
                "OAuth token format saved: the tenant's next /oauth/token answers use it; tokens already issued keep working."
            }
        }
    }

    /// A 303 to `location`, saying this was done.
    pub fn redirect(self, location: &str) -> Response {
        see_other(&format!("{location}?done={}", self.word()))
    }

    /// A 303 to `location`, saying this was done to `count` things.
    pub fn redirect_counted(self, location: &str, count: u64) -> Response {
        see_other(&format!("{location}?done={}&count={count}", self.word()))
    }
}

/// The `?done=` of a page a form redirected to; an unknown word shows nothing.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
    /// How many, for the banners that say so; anything but a number is ignored.
    count: Option<String>,
}

impl DoneQuery {
    /// The banner to show, if any.
    pub fn message(&self) -> Option<&'static str> {
        let word = self.done.as_deref()?;
        Done::ALL
            .into_iter()
            .find(|d| d.word() == word)
            .map(Done::message)
    }

    /// The banner to show, with the count when the action carries one.
    pub fn banner(&self) -> Option<std::borrow::Cow<'static, str>> {
        let message = self.message()?;
        let count = self.count.as_deref().and_then(|n| n.parse::<u64>().ok());
        match (self.done.as_deref(), count) {
            (Some("tenant-tokens-revoked"), Some(1)) => {
                Some("1 secureApi token of the tenant revoked: it no longer works.".into())
            }
            (Some("tenant-tokens-revoked"), Some(n)) => Some(
                format!("{n} secureApi tokens of the tenant revoked: they no longer work.").into(),
            ),
            _ => Some(message.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_to_the_minute_in_utc() {
        assert_eq!(display_time(1_826_841_600), "2027-11-22 00:00\u{a0}UTC");
        assert_eq!(display_optional_time(None), "—");
    }

    #[test]
    fn every_done_word_reads_back() {
        for done in Done::ALL {
            let query = DoneQuery {
                done: Some(done.word().into()),
                count: None,
            };
            assert_eq!(query.message(), Some(done.message()));
        }
        let made_up = DoneQuery {
            done: Some("<script>".into()),
            count: Some("<script>".into()),
        };
        assert_eq!(made_up.message(), None);
    }
}
