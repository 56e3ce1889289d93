//! Talking to a served deployment over HTTP: one [`Reply`] type that reads a whole response,
//! the checks every answer must pass whatever the suite, and the credentials and requests the
//! suites share.
//!
//! Every response goes through [`send`] (or [`send_json_or_hal`] where a client may ask for
//! `application/hal+json`), which refuses a 5xx and checks the shape of every answer: a JSON
//! object, errors as `{"error", "error_description"}`, every 401 with a `WWW-Authenticate`
//! challenge, every 429 with a `Retry-After`.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::RequestBuilder;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, DATE, HeaderMap, HeaderName, RETRY_AFTER, WWW_AUTHENTICATE,
};
use serde_json::Value;

use super::{Instance, Server};

// ---------------------------------------------------------------------------------------------
// Credentials

/// An `Authorization: Basic` value for these credentials.
pub fn basic_pair(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{username}:{password}"))
    )
}

/// An `Authorization: Basic` value for an instance's credentials.
pub fn basic(instance: &Instance) -> String {
    basic_pair(&instance.username, &instance.password)
}

/// An `Authorization: Bearer` value for a token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

// ---------------------------------------------------------------------------------------------
// What came back

/// One response, read in full.
pub struct Reply {
    /// What was sent, for messages.
    pub what: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The body as JSON; `Null` if it is not JSON.
    pub json: Value,
}

/// What a client can observe of a response but its `Date`: status, headers in order, body.
pub type Observable = (u16, Vec<(String, Vec<u8>)>, Vec<u8>);

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} → {} {:?} {}",
            self.what,
            self.status,
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

impl Reply {
    /// Sends a request and reads the whole response, checking nothing.
    async fn read(request: RequestBuilder, what: String) -> Reply {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no response: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{what}: body not read: {e}"))
            .to_vec();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Reply {
            what,
            status,
            headers,
            body,
            json,
        }
    }

    /// The `error` code, or `""`.
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    /// The `error_description`, or `""`.
    pub fn description(&self) -> &str {
        self.json["error_description"].as_str().unwrap_or("")
    }

    /// A header's value as text, or `""`.
    pub fn header(&self, name: HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Every `WWW-Authenticate` value.
    pub fn challenges(&self) -> Vec<String> {
        self.headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// Asserts an error answer: this status and this `error` code.
    #[track_caller]
    pub fn expect_error(&self, status: u16, error: &str) -> &Self {
        assert_eq!(
            (self.status, self.error()),
            (status, error),
            "unexpected answer: {self:?}"
        );
        self
    }

    /// Asserts a 401 whose challenges include one of this scheme (`Basic`, `Bearer`).
    #[track_caller]
    pub fn expect_challenge(&self, scheme: &str) -> &Self {
        assert_eq!(self.status, 401, "{self:?}");
        assert!(
            self.challenges()
                .iter()
                .any(|c| c.starts_with(&format!("{scheme} "))),
            "no {scheme} challenge: {self:?}"
        );
        self
    }

    /// Asserts `200 OK` and returns the JSON.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "unexpected answer: {self:?}");
        &self.json
    }

    /// Asserts `200 OK` and returns `access_token`.
    #[track_caller]
    pub fn access_token(&self) -> String {
        self.ok()["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token: {self:?}"))
            .to_owned()
    }

    /// Status, headers but `Date`, and body, for byte-for-byte comparisons.
    pub fn observable(&self) -> Observable {
        let headers = self
            .headers
            .iter()
            // The date and the request id differ between any two answers.
            .filter(|(name, _)| **name != DATE && name.as_str() != "x-request-id")
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        (self.status, headers, self.body.clone())
    }

    /// Checks what every answer must be: never a 5xx, a `Content-Type` starting with one of
    /// `media_types`, a JSON object, errors with `error` and `error_description` (or the
    /// secureApi vendor's `status: ERROR` with `error` and `message`), every 401
    /// with `WWW-Authenticate`, every 429 with `Retry-After`.
    #[track_caller]
    fn check(&self, media_types: &[&str]) {
        assert!(self.status < 500, "server error: {self:?}");
        let content_type = self.header(CONTENT_TYPE);
        assert!(
            media_types.iter().any(|m| content_type.starts_with(m)),
            "not JSON: {self:?}"
        );
        assert!(self.json.is_object(), "body is not a JSON object: {self:?}");
        if self.status >= 400 {
            // The secureApi CDP endpoints answer in the vendor's shape.
            let fields = if self.json["status"] == "ERROR" {
                ["error", "message"]
            } else {
                ["error", "error_description"]
            };
            for field in fields {
                assert!(
                    self.json[field].as_str().is_some_and(|s| !s.is_empty()),
                    "error without {field}: {self:?}"
                );
            }
        }
        if self.status == 401 {
            assert!(
                !self.challenges().is_empty(),
                "401 without WWW-Authenticate: {self:?}"
            );
        }
        if self.status == 429 {
            assert!(
                self.headers.contains_key(RETRY_AFTER),
                "429 without Retry-After: {self:?}"
            );
        }
    }
}

/// Sends a request and checks the answer as every answer must be (see [`Reply::check`]), with
/// a `Content-Type` of `application/json`.
pub async fn send(request: RequestBuilder, what: impl Into<String>) -> Reply {
    let reply = Reply::read(request, what.into()).await;
    reply.check(&["application/json"]);
    reply
}

/// [`send`] for an answer of another JSON media type (`application/jwk-set+json`, say).
pub async fn send_typed(
    request: RequestBuilder,
    what: impl Into<String>,
    media_type: &str,
) -> Reply {
    let reply = Reply::read(request, what.into()).await;
    reply.check(&[media_type]);
    reply
}

/// [`send`], but `application/hal+json` passes for JSON too: what an a1user client that
/// sends `Accept: application/hal+json` may get.
pub async fn send_json_or_hal(request: RequestBuilder, what: impl Into<String>) -> Reply {
    let reply = Reply::read(request, what.into()).await;
    reply.check(&["application/json", "application/hal+json"]);
    reply
}

/// Sends a request whose answer may be a 503 (the database unavailable); reads it as it is,
/// for [`Reply::expect_unavailable`].
pub async fn send_maybe_unavailable(request: RequestBuilder, what: impl Into<String>) -> Reply {
    Reply::read(request, what.into()).await
}

impl Reply {
    /// Asserts `503 temporarily_unavailable` with a `Retry-After` of a few seconds, in either
    /// error shape.
    #[track_caller]
    pub fn expect_unavailable(&self) -> &Self {
        assert_eq!(
            (self.status, self.error()),
            (503, "temporarily_unavailable"),
            "unexpected answer: {self:?}"
        );
        let retry_after: u64 = self
            .header(RETRY_AFTER)
            .parse()
            .unwrap_or_else(|_| panic!("503 without a Retry-After in seconds: {self:?}"));
        assert!((1..=30).contains(&retry_after), "{self:?}");
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Requests more than one suite sends

/// `POST /authentication?action=login` with the instance's credentials in `Authorization:
/// Basic` and `Content-Type: application/json`, and no body.
pub async fn login_as(server: &Server, username: &str, password: &str) -> Reply {
    send(
        server
            .post("/authentication?action=login")
            .basic_auth(username, Some(password))
            .header(CONTENT_TYPE, "application/json"),
        "login",
    )
    .await
}

/// [`login_as`] the instance.
pub async fn login(server: &Server, instance: &Instance) -> Reply {
    login_as(server, &instance.username, &instance.password).await
}

/// A [`login`] that must succeed: the instance's a1user token.
pub async fn a1user_token(server: &Server, instance: &Instance) -> String {
    login(server, instance).await.access_token()
}

/// `POST /token?scheme=a1user&action=extend` with this Bearer token and `Content-Type:
/// application/json`: 200 while the token is active.
pub async fn extend(server: &Server, token: &str) -> Reply {
    send(
        server
            .post("/token?scheme=a1user&action=extend")
            .header(AUTHORIZATION, bearer(token))
            .header(CONTENT_TYPE, "application/json"),
        "extend",
    )
    .await
}

/// `client_assertion_type` of `private_key_jwt` (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How a request to an OAuth endpoint authenticates its client.
#[derive(Clone, Copy)]
pub enum Client<'a> {
    /// No client authentication.
    None,
    /// `client_secret_basic`: `Authorization: Basic`.
    Basic(&'a str, &'a str),
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post(&'a str, &'a str),
    /// `private_key_jwt`: a client assertion (a signed JWT) in the form.
    Assertion(&'a str),
}

impl<'a> Client<'a> {
    /// `client_secret_basic` with the instance's credentials.
    pub fn basic(instance: &'a Instance) -> Self {
        Client::Basic(&instance.username, &instance.password)
    }

    /// `client_secret_post` with the instance's credentials.
    pub fn post(instance: &'a Instance) -> Self {
        Client::Post(&instance.username, &instance.password)
    }
}

/// `POST path` with a form body built from `pairs` and the client's credentials.
pub async fn post_form(
    server: &Server,
    path: &str,
    client: Client<'_>,
    pairs: &[(&str, &str)],
) -> Reply {
    let mut pairs = pairs.to_vec();
    let mut request = server.post(path);
    match client {
        Client::None => {}
        Client::Basic(username, password) => {
            request = request.basic_auth(username, Some(password));
        }
        Client::Post(id, secret) => {
            pairs.push(("client_id", id));
            pairs.push(("client_secret", secret));
        }
        Client::Assertion(assertion) => {
            pairs.push(("client_assertion_type", JWT_BEARER));
            pairs.push(("client_assertion", assertion));
        }
    }
    let body = serde_urlencoded::to_string(&pairs).expect("form encodes");
    post_raw_form(request, body, format!("POST {path}")).await
}

/// A form POST with the body exactly as given (for repeated parameters).
pub async fn post_raw_form(request: RequestBuilder, body: String, what: String) -> Reply {
    let request = request
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.clone());
    send(request, format!("{what} {body}")).await
}

/// `POST /oauth/introspect` of `token`, authenticated as `caller`.
pub async fn introspect(server: &Server, caller: Client<'_>, token: &str) -> Reply {
    post_form(server, "/oauth/introspect", caller, &[("token", token)]).await
}

/// `POST /oauth/revoke` of `token`, authenticated as `caller`.
pub async fn revoke(server: &Server, caller: Client<'_>, token: &str) -> Reply {
    post_form(server, "/oauth/revoke", caller, &[("token", token)]).await
}

// ---------------------------------------------------------------------------------------------
// The admin API and the web UI

impl Reply {
    /// The body as text (an HTML page, say).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Every `Set-Cookie` value, as sent.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The `Set-Cookie` value that sets cookie `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&prefix))
    }

    /// Asserts `303 See Other` to `location`.
    #[track_caller]
    pub fn expect_see_other(&self, location: &str) -> &Self {
        assert_eq!(
            (self.status, self.header(reqwest::header::LOCATION)),
            (303, location),
            "not a redirect to {location}: {self:?}"
        );
        self
    }
}

/// [`send`] for the admin API: the same checks, except that a listing (a JSON array) passes
/// as well as an object.
pub async fn send_admin(request: RequestBuilder, what: impl Into<String>) -> Reply {
    let reply = Reply::read(request, what.into()).await;
    assert!(reply.status < 500, "server error: {reply:?}");
    assert!(
        reply.header(CONTENT_TYPE).starts_with("application/json"),
        "not JSON: {reply:?}"
    );
    assert!(
        reply.json.is_object() || reply.json.is_array(),
        "body is neither a JSON object nor a list: {reply:?}"
    );
    if reply.status >= 400 {
        for field in ["error", "error_description"] {
            assert!(
                reply.json[field].as_str().is_some_and(|s| !s.is_empty()),
                "error without {field}: {reply:?}"
            );
        }
    }
    if reply.status == 401 {
        assert!(
            !reply.challenges().is_empty(),
            "401 without WWW-Authenticate: {reply:?}"
        );
    }
    reply
}

/// Sends a request as a browser would and reads whatever comes back (a page, a redirect),
/// refusing only a 5xx.
pub async fn send_page(request: RequestBuilder, what: impl Into<String>) -> Reply {
    let reply = Reply::read(request, what.into()).await;
    assert!(reply.status < 500, "server error: {reply:?}");
    reply
}

/// Sends a request and reads the whole answer, checking what every secureApi CDP answer must
/// be: never a 5xx, JSON, `{"status":"OK","message":"","data":{…}}` on success and
/// `{"status":"ERROR","message":<sentence>,"error":<code>}` otherwise, a 401 with a
/// `WWW-Authenticate` challenge.
pub async fn send_vendor(request: RequestBuilder, what: String) -> Reply {
    let reply = Reply::read(request, what).await;
    assert!(reply.status < 500, "server error: {reply:?}");
    assert!(
        reply.header(CONTENT_TYPE).starts_with("application/json"),
        "not JSON: {reply:?}"
    );
    assert!(reply.json.is_object(), "not a JSON object: {reply:?}");
    if reply.status == 200 {
        assert_eq!(reply.json["status"], "OK", "{reply:?}");
        assert_eq!(reply.json["message"], "", "{reply:?}");
        assert!(reply.json["data"].is_object(), "no data: {reply:?}");
    } else {
        assert_eq!(reply.json["status"], "ERROR", "{reply:?}");
        for field in ["message", "error"] {
            assert!(
                reply.json[field].as_str().is_some_and(|s| !s.is_empty()),
                "error without {field}: {reply:?}"
            );
        }
    }
    if reply.status == 401 {
        assert!(
            !reply.challenges().is_empty(),
            "401 without challenge: {reply:?}"
        );
    }
    reply
}
