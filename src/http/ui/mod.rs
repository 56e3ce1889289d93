//! The self-service web UI at `/ui/`: server-rendered pages with every asset embedded in the
//! binary. Anonymous browsers are sent to the sign-in page; every form that changes state
//! carries the session's anti-CSRF token and is refused without it.

mod audit;
mod instances;
pub mod pages;
mod session;
mod tenants;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use tower_http::set_header::SetResponseHeaderLayer;

use super::AppState;
use super::admin::authenticate;
use super::error::ApiError;
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

/// Every UI route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(session::home))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route(
            "/ui/instances",
            get(instances::list).post(instances::create),
        )
        .route("/ui/instances/new", get(instances::new_form))
        .route("/ui/instances/{id}", get(instances::show))
        .route(
            "/ui/instances/{id}/rotate-password",
            post(instances::rotate_password),
        )
        .route("/ui/instances/{id}/disable", post(instances::disable))
        .route("/ui/instances/{id}/enable", post(instances::enable))
        .route("/ui/instances/{id}/revoke-all", post(instances::revoke_all))
        .route("/ui/instances/{id}/origins", post(instances::set_origins))
        .route(
            "/ui/instances/{id}/tokens/{token}/revoke",
            post(instances::revoke_token),
        )
        .route("/ui/tenants", get(tenants::list).post(tenants::create))
        .route(
            "/ui/tenants/{id}/rotate-secret",
            post(tenants::rotate_secret),
        )
        .route("/ui/tenants/{id}/oauth", post(tenants::set_oauth))
        .route("/ui/audit", get(audit::list))
        .route("/ui/assets/app.css", get(stylesheet))
        .route("/ui/assets/app.js", get(script))
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
            title: title.into(),
            nav: Some(Nav {
                username: self.principal.admin.username.clone(),
                csrf: self.csrf(),
                active,
            }),
        }
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

/// An error shown as a page.
#[derive(Debug)]
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
    fn into_response(self) -> Response {
        let heading = match self.status {
            StatusCode::FORBIDDEN => "Refused",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::CONFLICT => "Cannot do that",
            s if s.is_server_error() => "Something went wrong",
            _ => "Cannot do that",
        };
        let page = ErrorPage {
            chrome: Chrome {
                title: heading.into(),
                nav: None,
            },
            heading: heading.into(),
            message: self.message,
            back: self.back,
        };
        let mut response = render(&page);
        *response.status_mut() = self.status;
        response
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_to_the_minute_in_utc() {
        assert_eq!(display_time(1_826_841_600), "2027-11-22 00:00\u{a0}UTC");
        assert_eq!(display_optional_time(None), "—");
    }
}
