//! `/forward-auth` over HTTP against the real binary, with rules from a configuration file the
//! test writes: each kind of token (a JWT access token too) allowed with the `X-Auth-*`
//! headers saying who it is; wrong
//! scope, another tenant, no rule, no token, a revoked token and a disabled instance refused;
//! the three ways a gateway names the original request (nginx, Traefik/Caddy, Envoy), methods,
//! `*` and `**`, the query ignored; every malformed original request a 400; no rules deny
//! everything; a rule that could never match stops `serve`, naming its line.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use serde_json::json;

use support::http::{Client, Reply, a1user_token, bearer, post_form, send, send_maybe_unavailable};
use support::{Deployment, Instance, Server, within_a_second};

/// The rules every test here serves, in the order they are tried.
const RULES: &str = r#"
[[forward_auth.rules]]
path = "/v2/{tenantId}/dw/tracker"
methods = ["POST"]
scopes = ["dw:tracker"]

[[forward_auth.rules]]
path = "/v2/{tenantId}/dw/a360/**"
methods = ["GET"]
scopes = ["dw:a360"]

[[forward_auth.rules]]
path = "/api/v1/profile/b2b/*"
methods = ["POST"]
scopes = ["profile:basic"]

[[forward_auth.rules]]
path = "/public/**"
"#;

// ---------------------------------------------------------------------------------------------
// Setting up

/// A served deployment with the rules above: tenant `acme` with a DW Tracker and a 360
/// Profiles instance, tenant `other` with a DW Tracker (both with OAuth off, so that
/// secureApi creates need only the `tenant_hash`).
struct Setup {
    _config: tempfile::TempDir,
    deployment: Deployment,
    server: Server,
    acme: String,
    acme_hash: String,
    other: String,
    other_hash: String,
    tracker: Instance,
    a360: Instance,
    other_tracker: Instance,
}

/// A configuration file holding `text`, in a folder of its own.
fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("cdp-auth.toml");
    std::fs::write(&path, text).expect("write the configuration");
    (dir, path)
}

fn setup() -> Setup {
    let (config, path) = config_file(RULES);
    let path = path.display().to_string();
    let deployment = Deployment::with_env(&[("CDP_AUTH_CONFIG", &path)]);
    let acme = deployment.tenant_without_oauth("acme", "uat");
    let other = deployment.tenant_without_oauth("other", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let a360 = deployment.instance("acme", "reader", "profiles-360");
    let other_tracker = deployment.instance("other", "loader", "dw-tracker");
    let server = deployment.serve();
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().expect(key).to_owned();
    Setup {
        _config: config,
        acme: text(&acme, "id"),
        acme_hash: text(&acme, "tenant_hash"),
        other: text(&other, "id"),
        other_hash: text(&other, "tenant_hash"),
        deployment,
        server,
        tracker,
        a360,
        other_tracker,
    }
}

impl Setup {
    /// A secureApi `profile` token of `acme` holding `resources`.
    async fn secure_token(&self, resources: &[&str]) -> String {
        let reply = send(
            self.server
                .post("/secureApi/token/profile/create")
                .header("tenant_hash", &self.acme_hash)
                .header(CONTENT_TYPE, "application/json")
                .body(json!({"resource": resources, "validity": 60}).to_string()),
            "secureApi create",
        )
        .await;
        reply.ok()["token"].as_str().expect("token").to_owned()
    }

    /// An OAuth client_credentials token of the 360 Profiles instance.
    async fn oauth_token(&self) -> String {
        post_form(
            &self.server,
            "/oauth/token",
            Client::basic(&self.a360),
            &[("grant_type", "client_credentials")],
        )
        .await
        .access_token()
    }
}

// ---------------------------------------------------------------------------------------------
// Asking

/// How a gateway names the original request.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// `X-Original-Method` + `X-Original-URI` (nginx `auth_request`).
    Nginx,
    /// `X-Forwarded-Method` + `X-Forwarded-Uri` (Traefik `ForwardAuth`, Caddy `forward_auth`).
    Traefik,
    /// The original method, and the original target appended to `/forward-auth` (Envoy
    /// `ext_authz` with `path_prefix`).
    Envoy,
}

const FORMS: [Form; 3] = [Form::Nginx, Form::Traefik, Form::Envoy];

/// Credentials sent with a question.
#[derive(Clone, Copy)]
enum Token<'a> {
    None,
    Bearer(&'a str),
    /// The secureApi headers: `access_token` and `tenant_hash`.
    SecureApi(&'a str, &'a str),
}

/// Asks `/forward-auth` about `method target` in the given form.
async fn ask(server: &Server, form: Form, method: &str, target: &str, token: Token<'_>) -> Reply {
    let mut request = match form {
        Form::Nginx => server
            .get("/forward-auth")
            .header("X-Original-Method", method)
            .header("X-Original-URI", target),
        Form::Traefik => server
            .get("/forward-auth")
            .header("X-Forwarded-Method", method)
            .header("X-Forwarded-Uri", target),
        Form::Envoy => server.request(
            Method::from_bytes(method.as_bytes()).expect("a method"),
            &format!("/forward-auth{target}"),
        ),
    };
    request = match token {
        Token::None => request,
        Token::Bearer(token) => request.header(AUTHORIZATION, bearer(token)),
        Token::SecureApi(token, hash) => request
            .header("access_token", token)
            .header("tenant_hash", hash),
    };
    answer(request, format!("{form:?} {method} {target}")).await
}

/// Sends a question and checks what every answer of `/forward-auth` must be: never a 5xx; an
/// allowed request `200` with an empty body and `Cache-Control: no-store`; a refusal a JSON
/// error, a 401 with its challenge.
async fn answer(request: reqwest::RequestBuilder, what: String) -> Reply {
    let reply = send_maybe_unavailable(request, what).await;
    assert!(reply.status < 500, "server error: {reply:?}");
    assert_eq!(reply.header(CACHE_CONTROL), "no-store", "{reply:?}");
    if reply.status == 200 {
        assert!(
            reply.body.is_empty(),
            "an allowed answer has a body: {reply:?}"
        );
    } else {
        assert!(
            reply.header(CONTENT_TYPE).starts_with("application/json"),
            "{reply:?}"
        );
        assert!(
            !reply.error().is_empty() && !reply.description().is_empty(),
            "{reply:?}"
        );
        if reply.status == 401 {
            assert!(!reply.challenges().is_empty(), "{reply:?}");
        }
    }
    reply
}

fn header<'r>(reply: &'r Reply, name: &'static str) -> &'r str {
    reply.header(HeaderName::from_static(name))
}

/// Asserts `200` and returns the `X-Auth-*` headers: tenant, client, scope, kind, expiry.
#[track_caller]
fn allowed(reply: &Reply) -> (String, String, String, String, i64) {
    assert_eq!(reply.status, 200, "refused: {reply:?}");
    let expires_at = header(reply, "x-auth-expires-at")
        .parse()
        .unwrap_or_else(|_| panic!("no X-Auth-Expires-At in seconds: {reply:?}"));
    (
        header(reply, "x-auth-tenant-id").to_owned(),
        header(reply, "x-auth-client-id").to_owned(),
        header(reply, "x-auth-scope").to_owned(),
        header(reply, "x-auth-token-kind").to_owned(),
        expires_at,
    )
}

/// Asserts `200` with these `X-Auth-*` headers (tenant, client, scope, kind); returns
/// `X-Auth-Expires-At`.
#[track_caller]
fn allowed_as(reply: &Reply, tenant: &str, client: &str, scope: &str, kind: &str) -> i64 {
    let (t, c, sc, k, expires_at) = allowed(reply);
    assert_eq!(
        (t.as_str(), c.as_str(), sc.as_str(), k.as_str()),
        (tenant, client, scope, kind),
        "X-Auth-* headers (tenant, client, scope, kind): {reply:?}"
    );
    expires_at
}

/// Asserts `403 insufficient_scope` whose description says `why`.
#[track_caller]
fn insufficient(reply: &Reply, why: &str) {
    reply.expect_error(403, "insufficient_scope");
    assert!(reply.description().contains(why), "{reply:?}");
    assert!(
        reply
            .challenges()
            .iter()
            .any(|c| c.contains("error=\"insufficient_scope\"")),
        "{reply:?}"
    );
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[track_caller]
fn about(actual: i64, expected: i64) {
    assert!(
        (actual - expected).abs() <= 5,
        "expires at {actual}, expected about {expected}"
    );
}

fn push_path(tenant: &str) -> String {
    format!("/v2/{tenant}/dw/tracker?scheme=a1user")
}

fn pull_path(tenant: &str) -> String {
    format!("/v2/{tenant}/dw/a360/customers?limit=5")
}

// ---------------------------------------------------------------------------------------------
// Allowed, for every kind of token

#[tokio::test]
async fn an_a1user_token_is_allowed_with_headers_saying_who_it_is() {
    let s = setup();
    let login = support::http::login(&s.server, &s.tracker).await;
    let token = login.access_token();
    let expires_in = login.ok()["expires_in"].as_i64().expect("expires_in");
    let reply = ask(
        &s.server,
        Form::Nginx,
        "POST",
        &push_path(&s.acme),
        Token::Bearer(&token),
    )
    .await;
    let expires_at = allowed_as(&reply, &s.acme, &s.tracker.username, "dw:tracker", "a1user");
    about(expires_at, now() + expires_in);
}

#[tokio::test]
async fn an_oauth_token_is_allowed_with_its_scope_and_expiry() {
    let s = setup();
    let token = s.oauth_token().await;
    let reply = ask(
        &s.server,
        Form::Traefik,
        "GET",
        &pull_path(&s.acme),
        Token::Bearer(&token),
    )
    .await;
    let expires_at = allowed_as(&reply, &s.acme, &s.a360.username, "dw:a360", "oauth");
    // oauth_token_lifetime defaults to an hour.
    about(expires_at, now() + 3600);
}

#[tokio::test]
async fn a_jwt_access_token_is_allowed_as_an_oauth_token_and_refused_once_revoked() {
    let s = setup();
    s.deployment
        .cli_json(&["tenant", "set-token-format", "acme", "jwt", "--json"]);
    let latest = std::sync::Mutex::new(String::new());
    within_a_second("the next OAuth token is a JWT", || async {
        let token = s.oauth_token().await;
        let is_jwt = token.matches('.').count() == 2;
        *latest.lock().expect("not poisoned") = token;
        is_jwt
    })
    .await;
    let token = latest.into_inner().expect("not poisoned");
    let pull = pull_path(&s.acme);
    let reply = ask(&s.server, Form::Envoy, "GET", &pull, Token::Bearer(&token)).await;
    let expires_at = allowed_as(&reply, &s.acme, &s.a360.username, "dw:a360", "oauth");
    // jwt_lifetime defaults to 15 minutes.
    about(expires_at, now() + 15 * 60);
    let other = ask(
        &s.server,
        Form::Envoy,
        "GET",
        &pull_path(&s.other),
        Token::Bearer(&token),
    )
    .await;
    insufficient(&other, "another tenant");
    let revoked = post_form(
        &s.server,
        "/oauth/revoke",
        Client::basic(&s.a360),
        &[("token", &token)],
    )
    .await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    let reply = ask(&s.server, Form::Envoy, "GET", &pull, Token::Bearer(&token)).await;
    reply.expect_error(401, "invalid_token");
}

#[tokio::test]
async fn a_secure_api_token_is_allowed_through_the_access_token_and_tenant_hash_headers() {
    let s = setup();
    let token = s.secure_token(&["basic", "segments"]).await;
    let path = "/api/v1/profile/b2b/basic";
    for form in FORMS {
        let reply = ask(
            &s.server,
            form,
            "POST",
            path,
            Token::SecureApi(&token, &s.acme_hash),
        )
        .await;
        // The client of a secureApi token is its tenant.
        let expires_at = allowed_as(
            &reply,
            &s.acme,
            &s.acme_hash,
            "profile:basic profile:segments",
            "secureapi",
        );
        about(expires_at, now() + 60 * 60);
    }
    // As a Bearer token too, without the tenant_hash.
    let reply = ask(&s.server, Form::Nginx, "POST", path, Token::Bearer(&token)).await;
    allowed(&reply);
    // A tenant_hash naming another tenant is refused.
    let reply = ask(
        &s.server,
        Form::Nginx,
        "POST",
        path,
        Token::SecureApi(&token, &s.other_hash),
    )
    .await;
    insufficient(&reply, "another tenant");
    // A token without profile:basic is refused by the rule.
    let segments_only = s.secure_token(&["segments"]).await;
    let reply = ask(
        &s.server,
        Form::Nginx,
        "POST",
        path,
        Token::SecureApi(&segments_only, &s.acme_hash),
    )
    .await;
    insufficient(&reply, "profile:basic");
}

// ---------------------------------------------------------------------------------------------
// Refused

#[tokio::test]
async fn wrong_scope_other_tenant_and_no_rule_are_403_insufficient_scope() {
    let s = setup();
    let tracker = a1user_token(&s.server, &s.tracker).await;
    let a360 = a1user_token(&s.server, &s.a360).await;
    let other = a1user_token(&s.server, &s.other_tracker).await;
    let push = push_path(&s.acme);

    // A 360 Profiles token may not push.
    let reply = ask(&s.server, Form::Nginx, "POST", &push, Token::Bearer(&a360)).await;
    insufficient(
        &reply,
        "none of the scopes rule /v2/{tenantId}/dw/tracker asks for: dw:tracker",
    );
    // Another tenant's tracker may not push to acme, nor acme's to it.
    let reply = ask(&s.server, Form::Nginx, "POST", &push, Token::Bearer(&other)).await;
    insufficient(&reply, "another tenant");
    let reply = ask(
        &s.server,
        Form::Nginx,
        "POST",
        &push_path(&s.other),
        Token::Bearer(&tracker),
    )
    .await;
    insufficient(&reply, "another tenant");
    // A tenant id written otherwise is not the tenant.
    let padded = format!("/v2/0{}/dw/tracker", s.acme);
    let reply = ask(
        &s.server,
        Form::Nginx,
        "POST",
        &padded,
        Token::Bearer(&tracker),
    )
    .await;
    insufficient(&reply, "another tenant");
    // No rule matches.
    let reply = ask(
        &s.server,
        Form::Nginx,
        "GET",
        "/admin/api/tenants",
        Token::Bearer(&tracker),
    )
    .await;
    insufficient(
        &reply,
        "No forward-auth rule matches GET /admin/api/tenants",
    );
}

#[tokio::test]
async fn no_token_or_an_unknown_one_is_401_with_a_bearer_challenge() {
    let s = setup();
    let push = push_path(&s.acme);
    for form in FORMS {
        let reply = ask(&s.server, form, "POST", &push, Token::None).await;
        reply
            .expect_error(401, "invalid_token")
            .expect_challenge("Bearer");
        assert_eq!(
            reply.challenges(),
            [
                "Bearer realm=\"cdp-auth\"",
                "DPoP realm=\"cdp-auth\", algs=\"ES256 EdDSA Ed25519 RS256 PS256\""
            ],
            "{reply:?}"
        );
        let reply = ask(
            &s.server,
            form,
            "POST",
            &push,
            Token::Bearer("no-such-token"),
        )
        .await;
        reply.expect_error(401, "invalid_token");
        assert!(
            reply.challenges()[0].contains("error=\"invalid_token\""),
            "{reply:?}"
        );
    }
    // Basic credentials are not a token.
    let reply = answer(
        s.server
            .get("/forward-auth")
            .header("X-Original-Method", "POST")
            .header("X-Original-URI", &push)
            .basic_auth(&s.tracker.username, Some(&s.tracker.password)),
        "Basic".into(),
    )
    .await;
    reply
        .expect_error(401, "invalid_token")
        .expect_challenge("Bearer");
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once() {
    let s = setup();
    let token = a1user_token(&s.server, &s.tracker).await;
    let push = push_path(&s.acme);
    allowed(&ask(&s.server, Form::Nginx, "POST", &push, Token::Bearer(&token)).await);
    let revoked = send(
        s.server
            .delete("/token?scheme=a1user")
            .header(AUTHORIZATION, bearer(&token)),
        "revoke",
    )
    .await;
    assert_eq!(revoked.ok()["revoked"], 1, "{revoked:?}");
    let reply = ask(&s.server, Form::Nginx, "POST", &push, Token::Bearer(&token)).await;
    reply
        .expect_error(401, "invalid_token")
        .expect_challenge("Bearer");
}

#[tokio::test]
async fn a_disabled_instances_token_is_refused_as_the_cdp_api_refuses_it() {
    let s = setup();
    let token = a1user_token(&s.server, &s.tracker).await;
    let push = push_path(&s.acme);
    allowed(&ask(&s.server, Form::Nginx, "POST", &push, Token::Bearer(&token)).await);
    let disabled = s
        .deployment
        .cli_json(&["instance", "disable", &s.tracker.username, "--json"]);
    assert_eq!(disabled["disabled"], true);
    within_a_second("the disabled instance's token is refused", || async {
        let reply = ask(&s.server, Form::Nginx, "POST", &push, Token::Bearer(&token)).await;
        reply.status == 403 && reply.error() == "instance_disabled"
    })
    .await;
    // The CDP API answers the same.
    let pushed = send(
        s.server
            .post(&push)
            .header(AUTHORIZATION, bearer(&token))
            .header(CONTENT_TYPE, "application/json")
            .body("[]"),
        "push",
    )
    .await;
    pushed.expect_error(403, "instance_disabled");
    s.deployment
        .cli_json(&["instance", "enable", &s.tracker.username, "--json"]);
    within_a_second("the enabled instance's token is allowed again", || async {
        let reply = ask(&s.server, Form::Nginx, "POST", &push, Token::Bearer(&token)).await;
        reply.status == 200
    })
    .await;
}

#[tokio::test]
async fn with_no_rules_configured_everything_is_denied_and_the_answer_says_so() {
    let deployment = Deployment::new();
    deployment.tenant_without_oauth("acme", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    let token = a1user_token(&server, &tracker).await;
    for target in [push_path(&tracker.tenant_id), "/".to_owned()] {
        let reply = ask(&server, Form::Nginx, "POST", &target, Token::Bearer(&token)).await;
        insufficient(&reply, "No forward-auth rules are configured");
    }
}

// ---------------------------------------------------------------------------------------------
// Naming the original request, and matching it

#[tokio::test]
async fn the_three_header_forms_name_the_original_request() {
    let s = setup();
    let tracker = a1user_token(&s.server, &s.tracker).await;
    let push = push_path(&s.acme);
    for form in FORMS {
        allowed(&ask(&s.server, form, "POST", &push, Token::Bearer(&tracker)).await);
        let reply = ask(
            &s.server,
            form,
            "POST",
            &push_path(&s.other),
            Token::Bearer(&tracker),
        )
        .await;
        insufficient(&reply, "another tenant");
    }
    // nginx's headers win over Traefik's, and both over the path below /forward-auth.
    let both = answer(
        s.server
            .get("/forward-auth/public/x")
            .header(AUTHORIZATION, bearer(&tracker))
            .header("X-Original-Method", "POST")
            .header("X-Original-URI", &push)
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", "/nowhere"),
        "both pairs".into(),
    )
    .await;
    assert_eq!(allowed(&both).2, "dw:tracker");
    let forwarded = answer(
        s.server
            .get("/forward-auth/public/x")
            .header(AUTHORIZATION, bearer(&tracker))
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", "/nowhere"),
        "Traefik's pair and a path".into(),
    )
    .await;
    insufficient(&forwarded, "No forward-auth rule matches GET /nowhere");
}

#[tokio::test]
async fn methods_are_part_of_the_match_and_case_sensitive() {
    let s = setup();
    let tracker = a1user_token(&s.server, &s.tracker).await;
    let a360 = a1user_token(&s.server, &s.a360).await;
    let push = push_path(&s.acme);
    for form in FORMS {
        // The push rule is for POST only; GET of the same path matches no rule.
        let reply = ask(&s.server, form, "GET", &push, Token::Bearer(&tracker)).await;
        insufficient(&reply, "No forward-auth rule matches GET");
        let reply = ask(
            &s.server,
            form,
            "DELETE",
            &pull_path(&s.acme),
            Token::Bearer(&a360),
        )
        .await;
        insufficient(&reply, "No forward-auth rule matches DELETE");
        allowed(
            &ask(
                &s.server,
                form,
                "GET",
                &pull_path(&s.acme),
                Token::Bearer(&a360),
            )
            .await,
        );
    }
    // Methods are case-sensitive: `post` is not POST.
    let reply = ask(
        &s.server,
        Form::Nginx,
        "post",
        &push,
        Token::Bearer(&tracker),
    )
    .await;
    insufficient(&reply, "No forward-auth rule matches post");
}

#[tokio::test]
async fn one_star_is_one_segment_and_two_stars_the_rest_also_nothing() {
    let s = setup();
    let secure = s.secure_token(&["basic"]).await;
    let tracker = a1user_token(&s.server, &s.tracker).await;
    let token = Token::SecureApi(&secure, &s.acme_hash);
    for form in FORMS {
        allowed(&ask(&s.server, form, "POST", "/api/v1/profile/b2b/basic", token).await);
        for target in [
            "/api/v1/profile/b2b",
            "/api/v1/profile/b2b/",
            "/api/v1/profile/b2b/basic/more",
        ] {
            let reply = ask(&s.server, form, "POST", target, token).await;
            insufficient(&reply, "No forward-auth rule matches");
        }
        // `/public/**` takes any valid token, of any tenant.
        for target in ["/public", "/public/", "/public/a/b/c"] {
            allowed(&ask(&s.server, form, "PUT", target, Token::Bearer(&tracker)).await);
        }
        let reply = ask(
            &s.server,
            form,
            "GET",
            "/publicity",
            Token::Bearer(&tracker),
        )
        .await;
        insufficient(&reply, "No forward-auth rule matches");
    }
    // A360 reads: ** below the customers.
    let a360 = a1user_token(&s.server, &s.a360).await;
    let one = format!("/v2/{}/dw/a360/customers/gcr_1", s.acme);
    allowed(&ask(&s.server, Form::Nginx, "GET", &one, Token::Bearer(&a360)).await);
}

#[tokio::test]
async fn the_query_plays_no_part_and_paths_match_decoded() {
    let s = setup();
    let tracker = a1user_token(&s.server, &s.tracker).await;
    let encoded: String = s.acme.bytes().map(|b| format!("%{b:02X}")).collect();
    for form in FORMS {
        for target in [
            format!("/v2/{}/dw/tracker?scheme=a1user&next=../../admin", s.acme),
            format!("/v2/{}/dw/tracker?x=%2F%2e%2e%zz", s.acme),
            format!("/v2/{encoded}/dw/%74racker"),
        ] {
            allowed(&ask(&s.server, form, "POST", &target, Token::Bearer(&tracker)).await);
        }
    }
    // A query cannot make a path match.
    let reply = ask(
        &s.server,
        Form::Nginx,
        "POST",
        "/elsewhere?/v2/1/dw/tracker",
        Token::Bearer(&tracker),
    )
    .await;
    insufficient(&reply, "No forward-auth rule matches POST /elsewhere");
}

// ---------------------------------------------------------------------------------------------
// Malformed original requests

/// Sends raw bytes and reads the whole answer (the connection is closed by the request).
fn raw(server: &Server, request: &str) -> String {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn every_malformed_original_request_is_a_400_saying_what_is_wrong() {
    let s = setup();
    let tracker = a1user_token(&s.server, &s.tracker).await;
    let ask_with = |pairs: Vec<(&'static str, String)>| {
        let mut request = s
            .server
            .get("/forward-auth")
            .header(AUTHORIZATION, bearer(&tracker));
        for (name, value) in &pairs {
            request = request.header(*name, value);
        }
        answer(request, format!("{pairs:?}"))
    };
    let nginx = |uri: &str| {
        vec![
            ("X-Original-Method", "GET".to_owned()),
            ("X-Original-URI", uri.to_owned()),
        ]
    };
    let cases: Vec<(Vec<(&'static str, String)>, &str)> = vec![
        (vec![], "No original request"),
        (
            vec![("X-Original-Method", "GET".into())],
            "X-Original-Method came without X-Original-URI",
        ),
        (
            vec![("X-Original-URI", "/public".into())],
            "X-Original-URI came without X-Original-Method",
        ),
        (
            vec![("X-Forwarded-Uri", "/public".into())],
            "X-Forwarded-Uri came without X-Forwarded-Method",
        ),
        (
            vec![("X-Forwarded-Method", "GET".into())],
            "X-Forwarded-Method came without X-Forwarded-Uri",
        ),
        (
            vec![
                ("X-Original-Method", "GE T".into()),
                ("X-Original-URI", "/public".into()),
            ],
            "method (X-Original-Method) is not an HTTP method token",
        ),
        (
            vec![
                ("X-Forwarded-Method", "(GET)".into()),
                ("X-Forwarded-Uri", "/public".into()),
            ],
            "method (X-Forwarded-Method) is not an HTTP method token",
        ),
        (nginx("public"), "does not start with /"),
        (nginx(""), "does not start with /"),
        (
            nginx("http://api.example.com/public"),
            "does not start with /",
        ),
        (nginx("/public/a b"), "does not parse"),
        (nginx("/public/a#b"), "does not parse"),
        (nginx("/public/%zz"), "does not parse"),
        (nginx("/public/%4"), "does not parse"),
        (nginx("/public/%FF"), "not valid UTF-8 once percent-decoded"),
        (
            nginx("/public/%C3%28"),
            "not valid UTF-8 once percent-decoded",
        ),
        (nginx("/public/../admin"), ". or .. segment"),
        (nginx("/public/./x"), ". or .. segment"),
        (nginx("/public/%2e%2E/admin"), ". or .. segment"),
        (nginx("/public/.."), ". or .. segment"),
        (nginx("/public/a%2Fb"), "encoded / or \\"),
        (nginx("/public/a%2fb"), "encoded / or \\"),
        (nginx("/public/a%5Cb"), "encoded / or \\"),
        (nginx("/public/a\\b"), "encoded / or \\"),
    ];
    for (pairs, says) in cases {
        let reply = ask_with(pairs).await;
        reply.expect_error(400, "invalid_request");
        assert!(
            reply.description().contains(says),
            "wanted {says:?}: {reply:?}"
        );
    }
    // Two copies of a header.
    let twice = answer(
        s.server
            .get("/forward-auth")
            .header("X-Original-Method", "GET")
            .header("X-Original-URI", "/public")
            .header("X-Original-URI", "/admin"),
        "two X-Original-URI".into(),
    )
    .await;
    twice.expect_error(400, "invalid_request");
    assert!(
        twice.description().contains("exactly one X-Original-URI"),
        "{twice:?}"
    );
    // Malformed is malformed with or without a token: the gateway's mistake comes first.
    let reply = answer(
        s.server
            .get("/forward-auth")
            .header("X-Original-Method", "GET"),
        "no token".into(),
    )
    .await;
    reply.expect_error(400, "invalid_request");

    // The Envoy form, sent raw so that no client library resolves the dot segments first.
    let bearer = bearer(&tracker);
    for (target, says) in [
        ("/forward-auth/public/../admin", ". or .. segment"),
        ("/forward-auth/public/%2e%2e/admin", ". or .. segment"),
        ("/forward-auth/public/a%2Fb", "encoded / or \\"),
        ("/forward-auth/public/%FF", "not valid UTF-8"),
        ("/forward-auth", "No original request"),
        ("/forward-auth?/public", "No original request"),
    ] {
        let answer = raw(
            &s.server,
            &format!(
                "GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: {bearer}\r\nConnection: close\r\n\r\n"
            ),
        );
        assert!(answer.starts_with("HTTP/1.1 400 "), "{target}: {answer}");
        assert!(
            answer.contains("\"invalid_request\"") && answer.contains(says),
            "{target}: wanted {says:?}: {answer}"
        );
        assert!(
            answer.contains("the path below /forward-auth") || says == "No original request",
            "{target}: {answer}"
        );
    }
}

#[tokio::test]
async fn the_body_is_never_read_so_a_forwarded_content_length_does_not_hold_the_answer() {
    let s = setup();
    let tracker = a1user_token(&s.server, &s.tracker).await;
    // A Content-Length of the original push, over the token routes' 64 KiB, and no body.
    let started = Instant::now();
    let answer = raw(
        &s.server,
        &format!(
            "POST /forward-auth HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tracker}\r\n\
             X-Original-Method: POST\r\nX-Original-URI: {}\r\nContent-Length: 1000000\r\n\
             Connection: close\r\n\r\n",
            push_path(&s.acme)
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered after {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// The rules at start

#[test]
fn a_rule_that_could_never_match_stops_serve_naming_its_line() {
    let deployment = Deployment::new();
    let good = "listen = \"127.0.0.1:0\"\n\n[[forward_auth.rules]]\npath = \"/public/**\"\n\n[[forward_auth.rules]]\n";
    for (rule, line, says) in [
        ("path = \"v2/{tenantId}\"", 7, "must start with /"),
        ("path = \"/v2/**/x\"", 7, "may only be the last segment"),
        (
            "path = \"/v2/{tenantId}/{tenantId}\"",
            7,
            "{tenantId} more than once",
        ),
        (
            "path = \"/v2/{tenant_id}\"",
            7,
            "unknown parameter {tenant_id}",
        ),
        ("path = \"/x\"\nmethods = []", 8, "methods lists no method"),
        ("path = \"/x\"\nscopes = []", 8, "scopes lists no scope"),
        (
            "path = \"/x\"\nmethods = [\"GET\", \"G T\"]",
            8,
            "\"G T\" is not an HTTP method",
        ),
        (
            "path = \"/x\"\n\nscopes = [\n  \"dw:tracker\",\n  \"tracker\",\n]",
            11,
            "\"tracker\" is not a scope of the form a:b",
        ),
        (
            "path = \"/x\"\nscope = [\"dw:tracker\"]",
            8,
            "unknown field `scope`",
        ),
    ] {
        let (_dir, path) = config_file(&format!("{good}{rule}\n"));
        let output = deployment
            .command(&["serve", "--config", &path.display().to_string()])
            .output()
            .expect("run cdp-auth serve");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{rule}: serve started");
        assert!(
            stderr.contains(&format!("line {line}")) && stderr.contains(says),
            "{rule}: wanted line {line} and {says:?} in: {stderr}"
        );
        assert!(
            stderr.contains(&path.display().to_string()),
            "{rule}: the file is not named: {stderr}"
        );
    }
}
