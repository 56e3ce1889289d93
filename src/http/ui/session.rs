//! Signing in and out. The sign-in form is protected against login CSRF by a double-submit
//! token: a random value in a short-lived cookie that the form must repeat.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::pages::{Chrome, LoginPage};
use super::{CsrfOnly, UiAdmin, UiError, UiForm, render, see_other};
use crate::domain::DomainError;
use crate::domain::secrets::{self, Secret};
use crate::http::AppState;
use crate::http::admin::{SESSION_COOKIE, set_cookie};
use crate::http::credentials::SourceAddress;

/// The cookie carrying the sign-in form's double-submit token.
const LOGIN_COOKIE: &str = "cdp_auth_login";
/// How long a sign-in form stays valid.
const LOGIN_FORM_LIFETIME: i64 = 60 * 60;

/// `/ui/`: the instance list when signed in, the sign-in page otherwise.
pub async fn home(admin: Result<UiAdmin, Response>) -> Response {
    match admin {
        Ok(_) => see_other("/ui/instances"),
        Err(_) => see_other("/ui/login"),
    }
}

/// The sign-in page, with a fresh double-submit token.
pub async fn login_page(State(state): State<AppState>) -> Response {
    sign_in_page(&state, StatusCode::OK, None, String::new())
}

fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    username: String,
) -> Response {
    let Ok(token) = secrets::random_urlsafe(32) else {
        return UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server cannot make random numbers.",
        )
        .into_response();
    };
    let mut response = render(&LoginPage {
        chrome: Chrome::plain("Sign in"),
        error,
        username,
        csrf: token.clone(),
    });
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &token,
            state.secure_cookies,
            LOGIN_FORM_LIFETIME,
        ),
    );
    response
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

fn login_token_matches(headers: &HeaderMap, presented: &str) -> bool {
    CookieJar::from_headers(headers)
        .get(LOGIN_COOKIE)
        .is_some_and(|cookie| {
            !presented.is_empty()
                && bool::from(cookie.value().as_bytes().ct_eq(presented.as_bytes()))
        })
}

/// Checks the password, opens a session and sends the browser to the instance list. A wrong
/// username or password answers the same page either way.
pub async fn login(
    State(state): State<AppState>,
    source: SourceAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !login_token_matches(&headers, &form.csrf) {
        return sign_in_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Please try again.".into()),
            form.username,
        );
    }
    let password = Secret::new(form.password);
    let outcome = state
        .services
        .accounts
        .sign_in(&form.username, &password, source.0)
        .await;
    match outcome {
        Ok(session) => {
            let mut response = see_other("/ui/instances");
            let lifetime = session.expires_at - crate::domain::clock::now();
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    session.token.expose(),
                    state.secure_cookies,
                    lifetime,
                ),
            );
            headers.append(
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", state.secure_cookies, 0),
            );
            response
        }
        Err(DomainError::InvalidCredentials) => sign_in_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("The username or password is incorrect.".into()),
            form.username,
        ),
        Err(error @ (DomainError::TooManyAttempts { .. } | DomainError::Busy)) => {
            let (status, retry_after) = match error {
                DomainError::TooManyAttempts { retry_after } => {
                    (StatusCode::TOO_MANY_REQUESTS, retry_after)
                }
                _ => (StatusCode::SERVICE_UNAVAILABLE, 1),
            };
            let mut page = sign_in_page(&state, status, Some(error.to_string()), form.username);
            page.headers_mut()
                .insert(header::RETRY_AFTER, retry_after.into());
            page
        }
        Err(other) => UiError::from(other).back_to("/ui/login").into_response(),
    }
}

/// Ends the session and clears its cookie.
pub async fn logout(State(state): State<AppState>, posted: UiForm<CsrfOnly>) -> Response {
    let admin = posted.admin;
    if let Err(error) = state
        .services
        .accounts
        .sign_out(&admin.principal, &admin.session)
        .await
    {
        return UiError::from(error).into_response();
    }
    let mut response = see_other("/ui/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", state.secure_cookies, 0),
    );
    response
}
