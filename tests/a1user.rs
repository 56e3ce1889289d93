//! The a1user dialect over HTTP, against the real binary on a real SQLite file: every request
//! of SPEC's a1user table, the exact token response, lifetimes and limits, the admin actions
//! that change what a client sees, and every error a client can provoke. Every response the
//! suite receives goes through [`send_json_or_hal`], which refuses a 5xx and checks the error
//! shape.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
mod support;

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{
    ACCEPT, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue,
};
use reqwest::{Method, RequestBuilder};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use support::http::{Reply, basic, basic_pair, bearer, send_json_or_hal};
use support::{Deployment, Instance, Server, within_a_second};

const LOGIN: &str = "/authentication?action=login";
const TOKEN: &str = "/token?scheme=a1user";
const CREATE: &str = "/token?scheme=a1user&action=create";
const EXTEND: &str = "/token?scheme=a1user&action=extend";

/// Vendor lifetimes, in seconds.
const CS_LIFETIME: i64 = 90 * 86_400;
const UAT_PROD_LIFETIME: i64 = 180 * 86_400;

/// The token response's keys, in the vendor's order.
const TOKEN_KEYS: [&str; 7] = [
    "access_token",
    "token_type",
    "expires_in",
    "tenantId",
    "username",
    "userType",
    "passwordExpiryDate",
];

// ---------------------------------------------------------------------------------------------
// Setting up

/// A served deployment holding one tenant (`acme`) and one dw-tracker instance in it. Its
/// tenants have OAuth off: the a1user dialect does not use it.
struct Setup {
    deployment: Deployment,
    server: Server,
    instance: Instance,
}

fn setup(environment: &str) -> Setup {
    setup_with(environment, &[])
}

fn setup_with(environment: &str, env: &[(&str, &str)]) -> Setup {
    let deployment = Deployment::with_env(env);
    deployment.tenant_without_oauth("acme", environment);
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    Setup {
        deployment,
        server,
        instance,
    }
}

/// `instance show --json`'s `active_tokens`, through the real CLI.
fn active_tokens(deployment: &Deployment, instance: &Instance) -> u64 {
    let shown = deployment.cli_json(&["instance", "show", &instance.username, "--json"]);
    shown["active_tokens"]
        .as_u64()
        .unwrap_or_else(|| panic!("no active_tokens in {shown}"))
}

// ---------------------------------------------------------------------------------------------
// Sending and what came back

/// A request with extra settings (headers, body).
async fn send_with(
    server: &Server,
    method: Method,
    path: &str,
    build: impl FnOnce(RequestBuilder) -> RequestBuilder,
) -> Reply {
    let what = format!("{method} {path}");
    send_json_or_hal(build(server.request(method, path)), what).await
}

/// A request carrying this `Authorization` value, or none.
async fn send(server: &Server, method: Method, path: &str, auth: Option<&str>) -> Reply {
    send_with(server, method, path, |r| match auth {
        Some(auth) => r.header(AUTHORIZATION, auth),
        None => r,
    })
    .await
}

async fn try_login(server: &Server, auth: &str) -> Reply {
    send(server, Method::POST, LOGIN, Some(auth)).await
}

/// A login that must succeed; its token response.
async fn login(server: &Server, instance: &Instance) -> Value {
    try_login(server, &basic(instance)).await.ok().clone()
}

async fn retrieve(server: &Server, auth: &str) -> Reply {
    send(server, Method::GET, TOKEN, Some(auth)).await
}

async fn create(server: &Server, auth: &str) -> Reply {
    send(server, Method::POST, CREATE, Some(auth)).await
}

async fn extend(server: &Server, token: &str) -> Reply {
    send(server, Method::POST, EXTEND, Some(&bearer(token))).await
}

/// `DELETE /token?scheme=a1user`: Bearer revokes one token, Basic all.
async fn revoke(server: &Server, auth: &str) -> Reply {
    send(server, Method::DELETE, TOKEN, Some(auth)).await
}

fn access_token(json: &Value) -> String {
    json["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {json}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Shapes

/// The keys of a JSON object in the order they were sent.
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        deserializer.deserialize_map(KeysVisitor)
    }
}

/// Lowercase UUID 8-4-4-4-12 with 122 random bits (version 4, RFC 4122 variant).
fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// `YYYY-MM-DDTHH:MM:SS`, no zone, no fraction.
fn is_iso_without_zone(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// What `expires_in` should be, in seconds.
#[derive(Debug, Clone, Copy)]
enum ExpiresIn {
    /// A whole lifetime, give or take the second the request took.
    Full(i64),
    /// Positive and no more than this.
    AtMost(i64),
}

/// Asserts SPEC's token response for this instance and returns the token.
#[track_caller]
fn assert_token_response(reply: &Reply, instance: &Instance, expires_in: ExpiresIn) -> String {
    let json = reply.ok();
    let keys: Keys = serde_json::from_slice(&reply.body).expect("a JSON object");
    assert_eq!(keys.0, TOKEN_KEYS, "keys or their order: {reply:?}");
    assert!(
        reply.header(CONTENT_TYPE).starts_with("application/json"),
        "{reply:?}"
    );
    let token = access_token(json);
    assert!(
        is_uuid_v4(&token),
        "access_token not a lowercase UUID: {token}"
    );
    assert_eq!(json["token_type"], "bearer", "{reply:?}");
    let left = json["expires_in"]
        .as_i64()
        .unwrap_or_else(|| panic!("expires_in not an integer: {reply:?}"));
    let range = match expires_in {
        ExpiresIn::Full(lifetime) => lifetime - 1..=lifetime,
        ExpiresIn::AtMost(most) => 1..=most,
    };
    assert!(
        range.contains(&left),
        "expires_in {left} not in {range:?}: {reply:?}"
    );
    assert_eq!(json["tenantId"], json!(instance.tenant_id), "{reply:?}");
    assert_eq!(json["username"], json!(instance.username), "{reply:?}");
    assert_eq!(json["userType"], "CLIENT", "{reply:?}");
    let expiry = json["passwordExpiryDate"].as_str().unwrap_or("");
    assert!(is_iso_without_zone(expiry), "passwordExpiryDate {expiry:?}");
    assert_eq!(
        json["passwordExpiryDate"], instance.json["password_expiry_date"],
        "passwordExpiryDate differs from what the CLI printed: {reply:?}"
    );
    token
}

// ---------------------------------------------------------------------------------------------
// SPEC's table, row by row

#[tokio::test]
async fn login_returns_the_vendor_token_response_with_the_environment_lifetime() {
    let deployment = Deployment::new();
    let instances: Vec<(Instance, i64)> = [
        ("sandbox", "cs", CS_LIFETIME),
        ("staging", "uat", UAT_PROD_LIFETIME),
        ("live", "prod", UAT_PROD_LIFETIME),
    ]
    .iter()
    .map(|(name, environment, lifetime)| {
        deployment.tenant_without_oauth(name, environment);
        (deployment.instance(name, "loader", "dw-tracker"), *lifetime)
    })
    .collect();
    let server = deployment.serve();
    for (instance, lifetime) in &instances {
        let reply = try_login(&server, &basic(instance)).await;
        assert_token_response(&reply, instance, ExpiresIn::Full(*lifetime));
    }
}

#[tokio::test]
async fn login_is_idempotent_and_answers_the_newest_token() {
    let s = setup("uat");
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
    let first = access_token(&login(&s.server, &s.instance).await);
    let again = access_token(&login(&s.server, &s.instance).await);
    assert_eq!(first, again, "a repeated login must return the same token");
    assert_eq!(
        active_tokens(&s.deployment, &s.instance),
        1,
        "login minted twice"
    );

    let newer = create(&s.server, &basic(&s.instance)).await.access_token();
    assert_eq!(access_token(&login(&s.server, &s.instance).await), newer);
    assert_eq!(active_tokens(&s.deployment, &s.instance), 2);
}

#[tokio::test]
async fn daily_retrieve_returns_the_newest_active_token() {
    let s = setup("prod");
    retrieve(&s.server, &basic(&s.instance))
        .await
        .expect_error(404, "no_active_token");
    let logged_in = access_token(&login(&s.server, &s.instance).await);
    let reply = retrieve(&s.server, &basic(&s.instance)).await;
    let retrieved = assert_token_response(&reply, &s.instance, ExpiresIn::Full(UAT_PROD_LIFETIME));
    assert_eq!(retrieved, logged_in);
    assert_eq!(
        active_tokens(&s.deployment, &s.instance),
        1,
        "retrieve minted"
    );
}

#[tokio::test]
async fn create_mints_a_new_token_beside_the_old_ones() {
    let s = setup("cs");
    let first = access_token(&login(&s.server, &s.instance).await);
    let reply = create(&s.server, &basic(&s.instance)).await;
    let second = assert_token_response(&reply, &s.instance, ExpiresIn::Full(CS_LIFETIME));
    assert_ne!(first, second);
    assert_eq!(active_tokens(&s.deployment, &s.instance), 2);
    // Both stay valid.
    extend(&s.server, &first).await.ok();
    extend(&s.server, &second).await.ok();
}

#[tokio::test]
async fn create_works_without_a_prior_login() {
    let s = setup("uat");
    let token = create(&s.server, &basic(&s.instance)).await.access_token();
    assert_eq!(
        retrieve(&s.server, &basic(&s.instance))
            .await
            .access_token(),
        token
    );
    assert_eq!(access_token(&login(&s.server, &s.instance).await), token);
}

#[tokio::test]
async fn extend_renews_the_token_to_a_full_lifetime() {
    let s = setup("uat");
    let token = access_token(&login(&s.server, &s.instance).await);
    let reply = extend(&s.server, &token).await;
    let extended = assert_token_response(&reply, &s.instance, ExpiresIn::Full(UAT_PROD_LIFETIME));
    assert_eq!(extended, token, "extend must keep the token string");
    assert_eq!(
        retrieve(&s.server, &basic(&s.instance))
            .await
            .access_token(),
        token
    );
    assert_eq!(
        active_tokens(&s.deployment, &s.instance),
        1,
        "extend minted"
    );
}

#[tokio::test]
async fn bearer_delete_revokes_that_token_and_retrieve_falls_back() {
    let s = setup("uat");
    let oldest = access_token(&login(&s.server, &s.instance).await);
    let middle = create(&s.server, &basic(&s.instance)).await.access_token();
    let newest = create(&s.server, &basic(&s.instance)).await.access_token();
    assert_eq!(
        retrieve(&s.server, &basic(&s.instance))
            .await
            .access_token(),
        newest
    );

    let reply = revoke(&s.server, &bearer(&newest)).await;
    assert_eq!(reply.ok(), &json!({"revoked": 1}), "{reply:?}");
    assert_eq!(
        retrieve(&s.server, &basic(&s.instance))
            .await
            .access_token(),
        middle
    );
    extend(&s.server, &newest)
        .await
        .expect_error(401, "invalid_token")
        .expect_challenge("Bearer");

    revoke(&s.server, &bearer(&middle)).await.ok();
    assert_eq!(
        retrieve(&s.server, &basic(&s.instance))
            .await
            .access_token(),
        oldest
    );
    assert_eq!(active_tokens(&s.deployment, &s.instance), 1);
}

#[tokio::test]
async fn basic_delete_revokes_every_token() {
    let s = setup("cs");
    let tokens = vec![
        access_token(&login(&s.server, &s.instance).await),
        create(&s.server, &basic(&s.instance)).await.access_token(),
        create(&s.server, &basic(&s.instance)).await.access_token(),
        create(&s.server, &basic(&s.instance)).await.access_token(),
    ];
    let reply = revoke(&s.server, &basic(&s.instance)).await;
    assert_eq!(reply.ok(), &json!({"revoked": 4}), "{reply:?}");
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
    retrieve(&s.server, &basic(&s.instance))
        .await
        .expect_error(404, "no_active_token");
    for token in &tokens {
        extend(&s.server, token)
            .await
            .expect_error(401, "invalid_token")
            .expect_challenge("Bearer");
    }
    // Nothing left to revoke.
    let again = revoke(&s.server, &basic(&s.instance)).await;
    assert_eq!(again.ok(), &json!({"revoked": 0}), "{again:?}");
    // A new login starts over with a new token.
    let fresh = access_token(&login(&s.server, &s.instance).await);
    assert!(!tokens.contains(&fresh));
}

#[tokio::test]
async fn basic_delete_counts_only_tokens_still_active() {
    let s = setup("uat");
    let first = access_token(&login(&s.server, &s.instance).await);
    create(&s.server, &basic(&s.instance)).await.ok();
    create(&s.server, &basic(&s.instance)).await.ok();
    revoke(&s.server, &bearer(&first)).await.ok();
    let reply = revoke(&s.server, &basic(&s.instance)).await;
    assert_eq!(reply.ok(), &json!({"revoked": 2}), "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// Request variants a client may send

#[tokio::test]
async fn login_with_the_right_tenant_name_works() {
    let s = setup("uat");
    let reply = send_with(&s.server, Method::POST, LOGIN, |r| {
        r.header(AUTHORIZATION, basic(&s.instance))
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"tenantName":"acme"}"#)
    })
    .await;
    assert_token_response(&reply, &s.instance, ExpiresIn::Full(UAT_PROD_LIFETIME));
    let empty_object = send_with(&s.server, Method::POST, LOGIN, |r| {
        r.header(AUTHORIZATION, basic(&s.instance))
            .header(CONTENT_TYPE, "application/json")
            .body("{}")
    })
    .await;
    assert_eq!(empty_object.access_token(), reply.access_token());
}

#[tokio::test]
async fn login_with_a_wrong_tenant_name_says_the_tenant_name_is_wrong() {
    let s = setup("uat");
    s.deployment.tenant_without_oauth("globex", "uat");
    let login_naming = |auth: String, tenant_name: &str| {
        let body = json!({ "tenantName": tenant_name }).to_string();
        move |r: RequestBuilder| {
            r.header(AUTHORIZATION, auth)
                .header(CONTENT_TYPE, "application/json")
                .body(body)
        }
    };
    // A wrong password is a wrong password, whatever tenantName says.
    send_with(
        &s.server,
        Method::POST,
        LOGIN,
        login_naming(basic_pair(&s.instance.username, "wrong"), "acme"),
    )
    .await
    .expect_error(401, "invalid_client")
    .expect_challenge("Basic");
    // Right credentials, another tenant's name (one that exists, one that does not): the
    // answer says it is the tenant name that is wrong, and mints nothing.
    for other in ["globex", "initech"] {
        let wrong_tenant = send_with(
            &s.server,
            Method::POST,
            LOGIN,
            login_naming(basic(&s.instance), other),
        )
        .await;
        wrong_tenant.expect_error(400, "invalid_request");
        let description = wrong_tenant.json["error_description"]
            .as_str()
            .unwrap_or("");
        assert!(
            description.contains("tenantName") && description.contains(other),
            "{wrong_tenant:?}"
        );
        assert!(!description.contains("incorrect"), "{wrong_tenant:?}");
    }
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
}

#[tokio::test]
async fn json_content_type_with_an_empty_body_is_accepted_everywhere() {
    let s = setup("uat");
    let json_empty = |method: Method, path: &'static str, auth: String| {
        send_with(&s.server, method, path, move |r| {
            r.header(AUTHORIZATION, auth)
                .header(CONTENT_TYPE, "application/json")
                .body("")
        })
    };
    let token = json_empty(Method::POST, LOGIN, basic(&s.instance))
        .await
        .access_token();
    let got = json_empty(Method::GET, TOKEN, basic(&s.instance)).await;
    assert_eq!(got.access_token(), token);
    let created = json_empty(Method::POST, CREATE, basic(&s.instance))
        .await
        .access_token();
    let extended = json_empty(Method::POST, EXTEND, bearer(&token)).await;
    assert_eq!(extended.access_token(), token);
    let one = json_empty(Method::DELETE, TOKEN, bearer(&created)).await;
    assert_eq!(one.ok(), &json!({"revoked": 1}));
    let all = json_empty(Method::DELETE, TOKEN, basic(&s.instance)).await;
    assert_eq!(all.ok(), &json!({"revoked": 1}));
}

#[tokio::test]
async fn accept_hal_json_is_honoured() {
    let s = setup("cs");
    let hal = |auth: String| {
        move |r: RequestBuilder| {
            r.header(AUTHORIZATION, auth)
                .header(ACCEPT, "application/hal+json")
        }
    };
    let token = send_with(&s.server, Method::POST, LOGIN, hal(basic(&s.instance)))
        .await
        .access_token();
    for (method, path, auth) in [
        (Method::GET, TOKEN, basic(&s.instance)),
        (Method::POST, EXTEND, bearer(&token)),
        (Method::POST, CREATE, basic(&s.instance)),
    ] {
        let reply = send_with(&s.server, method, path, hal(auth)).await;
        assert!(is_uuid_v4(&reply.access_token()), "{reply:?}");
        let keys: Keys = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(keys.0, TOKEN_KEYS, "{reply:?}");
    }
    let revoked = send_with(&s.server, Method::DELETE, TOKEN, hal(basic(&s.instance))).await;
    assert_eq!(revoked.ok(), &json!({"revoked": 2}));
}

#[tokio::test]
async fn basic_scheme_name_is_case_insensitive() {
    let s = setup("uat");
    let encoded = STANDARD.encode(format!("{}:{}", s.instance.username, s.instance.password));
    for scheme in ["basic", "BASIC"] {
        try_login(&s.server, &format!("{scheme} {encoded}"))
            .await
            .ok();
    }
}

#[tokio::test]
async fn malformed_login_body_is_invalid_request() {
    let s = setup("uat");
    let bodies: [&[u8]; 7] = [
        b"{",
        b"not json",
        b"[]",
        b"\"acme\"",
        b"{\"tenantName\":5}",
        b"{\"tenantName\":\"acme\"} trailing",
        b"\xff\xfe{}",
    ];
    for body in bodies {
        send_with(&s.server, Method::POST, LOGIN, |r| {
            r.header(AUTHORIZATION, basic(&s.instance))
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec())
        })
        .await
        .expect_error(400, "invalid_request");
    }
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
}

#[tokio::test]
async fn a_login_body_naming_a_key_twice_is_invalid_request() {
    let s = setup("uat");
    let reply = send_with(&s.server, Method::POST, LOGIN, |r| {
        r.header(AUTHORIZATION, basic(&s.instance))
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"tenantName":"other","tenantName":"acme"}"#)
    })
    .await;
    reply.expect_error(400, "invalid_request");
    assert!(
        reply
            .description()
            .contains(r#"the key "tenantName" appears twice"#),
        "{reply:?}"
    );
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
}

// ---------------------------------------------------------------------------------------------
// Lifetimes

#[tokio::test]
async fn extend_past_max_token_age_is_refused() {
    let s = setup_with(
        "uat",
        &[
            ("CDP_AUTH_TOKEN_LIFETIME_UAT", "10s"),
            ("CDP_AUTH_MAX_TOKEN_AGE", "5s"),
        ],
    );
    let reply = try_login(&s.server, &basic(&s.instance)).await;
    let token = assert_token_response(&reply, &s.instance, ExpiresIn::AtMost(10));
    extend(&s.server, &token)
        .await
        .expect_error(400, "extension_limit_reached");
    // The refused extend leaves the token as it was.
    assert_eq!(
        retrieve(&s.server, &basic(&s.instance))
            .await
            .access_token(),
        token
    );
}

#[tokio::test]
async fn tokens_expire_after_their_lifetime() {
    let s = setup_with("cs", &[("CDP_AUTH_TOKEN_LIFETIME_CS", "2s")]);
    let reply = try_login(&s.server, &basic(&s.instance)).await;
    let token = assert_token_response(&reply, &s.instance, ExpiresIn::AtMost(2));
    extend(&s.server, &token).await.ok();
    // Expiry is kept in whole seconds: 2.5 s is past it however the second was split.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    extend(&s.server, &token)
        .await
        .expect_error(401, "invalid_token")
        .expect_challenge("Bearer");
    retrieve(&s.server, &basic(&s.instance))
        .await
        .expect_error(404, "no_active_token");
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
    // Login then mints a fresh one.
    let fresh = access_token(&login(&s.server, &s.instance).await);
    assert_ne!(fresh, token);
}

#[tokio::test]
async fn expired_password_is_refused_with_a_basic_challenge() {
    let s = setup_with("uat", &[("CDP_AUTH_PASSWORD_LIFETIME", "1s")]);
    // Expiry is kept in whole seconds: 1.5 s is past it however the second was split.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for reply in [
        try_login(&s.server, &basic(&s.instance)).await,
        retrieve(&s.server, &basic(&s.instance)).await,
        create(&s.server, &basic(&s.instance)).await,
        revoke(&s.server, &basic(&s.instance)).await,
    ] {
        reply
            .expect_error(401, "password_expired")
            .expect_challenge("Basic");
    }
    // Only the right password learns that it expired.
    try_login(&s.server, &basic_pair(&s.instance.username, "wrong"))
        .await
        .expect_error(401, "invalid_client");
}

// ---------------------------------------------------------------------------------------------
// Token limit

#[tokio::test]
async fn active_token_limit_is_three_in_uat_and_prod_and_five_in_cs() {
    let deployment = Deployment::new();
    let instances: Vec<(Instance, usize)> = [
        ("sandbox", "cs", 5),
        ("staging", "uat", 3),
        ("live", "prod", 3),
    ]
    .iter()
    .map(|(name, environment, max)| {
        deployment.tenant_without_oauth(name, environment);
        (deployment.instance(name, "loader", "dw-tracker"), *max)
    })
    .collect();
    let server = deployment.serve();
    for (instance, max) in &instances {
        let mut tokens = vec![access_token(&login(&server, instance).await)];
        for _ in 1..*max {
            tokens.push(create(&server, &basic(instance)).await.access_token());
        }
        create(&server, &basic(instance))
            .await
            .expect_error(409, "token_limit_reached");
        assert_eq!(active_tokens(&deployment, instance), *max as u64);
        // Revoking one makes room again.
        revoke(&server, &bearer(&tokens[0])).await.ok();
        create(&server, &basic(instance)).await.ok();
        create(&server, &basic(instance))
            .await
            .expect_error(409, "token_limit_reached");
    }
}

#[tokio::test]
async fn concurrent_creates_respect_the_limit_atomically() {
    let s = setup("uat");
    let mut requests = JoinSet::new();
    for i in 0..20 {
        let request = s
            .server
            .client
            .post(s.server.url(CREATE))
            .header(AUTHORIZATION, basic(&s.instance));
        requests.spawn(send_json_or_hal(request, format!("concurrent create #{i}")));
    }
    let replies = requests.join_all().await;
    let mut tokens: Vec<String> = replies
        .iter()
        .filter(|r| r.status == 200)
        .map(Reply::access_token)
        .collect();
    for reply in replies.iter().filter(|r| r.status != 200) {
        reply.expect_error(409, "token_limit_reached");
    }
    assert_eq!(tokens.len(), 3, "creates that succeeded: {tokens:?}");
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 3, "duplicate tokens issued");
    assert_eq!(active_tokens(&s.deployment, &s.instance), 3);
}

#[tokio::test]
async fn concurrent_first_logins_settle_on_one_token() {
    let s = setup("prod");
    let mut requests = JoinSet::new();
    for i in 0..10 {
        let request = s
            .server
            .client
            .post(s.server.url(LOGIN))
            .header(AUTHORIZATION, basic(&s.instance));
        requests.spawn(send_json_or_hal(request, format!("concurrent login #{i}")));
    }
    let tokens: Vec<String> = requests
        .join_all()
        .await
        .iter()
        .map(Reply::access_token)
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "logins answered different tokens: {tokens:?}"
    );
    assert_eq!(active_tokens(&s.deployment, &s.instance), 1);
}

// ---------------------------------------------------------------------------------------------
// Admin actions as a client sees them

#[tokio::test]
async fn disabled_instance_is_refused_until_enabled() {
    let s = setup("uat");
    let token = access_token(&login(&s.server, &s.instance).await);
    let disabled = s
        .deployment
        .cli_json(&["instance", "disable", &s.instance.username, "--json"]);
    assert_eq!(disabled["disabled"], true);
    // The CLI is another process: the server learns of the change within a second.
    within_a_second("the disabled instance's login is refused", || async {
        try_login(&s.server, &basic(&s.instance)).await.status == 403
    })
    .await;

    for reply in [
        try_login(&s.server, &basic(&s.instance)).await,
        retrieve(&s.server, &basic(&s.instance)).await,
        create(&s.server, &basic(&s.instance)).await,
        revoke(&s.server, &basic(&s.instance)).await,
        extend(&s.server, &token).await,
        revoke(&s.server, &bearer(&token)).await,
    ] {
        reply.expect_error(403, "instance_disabled");
    }
    // Without the password, nothing about the instance is revealed.
    try_login(&s.server, &basic_pair(&s.instance.username, "wrong"))
        .await
        .expect_error(401, "invalid_client");

    let enabled = s
        .deployment
        .cli_json(&["instance", "enable", &s.instance.username, "--json"]);
    assert_eq!(enabled["disabled"], false);
    assert_eq!(access_token(&login(&s.server, &s.instance).await), token);
    extend(&s.server, &token).await.ok();
    create(&s.server, &basic(&s.instance)).await.ok();
}

#[tokio::test]
async fn rotated_password_replaces_the_old_one_and_keeps_tokens() {
    let s = setup("uat");
    let token = access_token(&login(&s.server, &s.instance).await);
    let rotated = s.deployment.cli_json(&[
        "instance",
        "rotate-password",
        &s.instance.username,
        "--json",
    ]);
    let mut renewed = s.instance.clone();
    renewed.password = rotated["password"].as_str().expect("password").to_owned();
    renewed.json["password_expiry_date"] = rotated["password_expiry_date"].clone();
    assert_ne!(renewed.password, s.instance.password);

    // The old password verified before (and is remembered by its fingerprint); the CLI is
    // another process, and the server forgets it within a second.
    within_a_second("the old password is refused", || async {
        try_login(&s.server, &basic(&s.instance)).await.status == 401
    })
    .await;
    try_login(&s.server, &basic(&s.instance))
        .await
        .expect_error(401, "invalid_client")
        .expect_challenge("Basic");
    retrieve(&s.server, &basic(&s.instance))
        .await
        .expect_error(401, "invalid_client");

    let reply = try_login(&s.server, &basic(&renewed)).await;
    assert_eq!(
        assert_token_response(&reply, &renewed, ExpiresIn::Full(UAT_PROD_LIFETIME)),
        token
    );
    extend(&s.server, &token).await.ok();
    assert_eq!(
        retrieve(&s.server, &basic(&renewed)).await.access_token(),
        token
    );
}

// ---------------------------------------------------------------------------------------------
// Scheme, action and query errors

#[tokio::test]
async fn missing_or_unknown_scheme_is_unsupported_scheme() {
    let s = setup("uat");
    let auth = basic(&s.instance);
    for (method, path) in [
        (Method::GET, "/token"),
        (Method::GET, "/token?scheme=bogus"),
        (Method::GET, "/token?scheme="),
        (Method::GET, "/token?scheme=A1USER"),
        (Method::POST, "/token?action=create"),
        (Method::POST, "/token?scheme=oauth&action=create"),
        (Method::DELETE, "/token"),
        (Method::DELETE, "/token?scheme=bogus"),
    ] {
        send(&s.server, method, path, Some(&auth))
            .await
            .expect_error(400, "unsupported_scheme");
    }
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
}

#[tokio::test]
async fn missing_or_unknown_action_is_invalid_request() {
    let s = setup("uat");
    let auth = basic(&s.instance);
    for (method, path) in [
        (Method::POST, "/token?scheme=a1user"),
        (Method::POST, "/token?scheme=a1user&action=bogus"),
        (Method::POST, "/token?scheme=a1user&action="),
        (Method::POST, "/token?scheme=a1user&action=CREATE"),
        (Method::POST, "/authentication"),
        (Method::POST, "/authentication?action=bogus"),
        (Method::POST, "/authentication?action=create"),
    ] {
        send(&s.server, method, path, Some(&auth))
            .await
            .expect_error(400, "invalid_request");
    }
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
}

#[tokio::test]
async fn repeated_query_parameters_are_refused() {
    let s = setup("uat");
    let auth = basic(&s.instance);
    for (method, path) in [
        (Method::POST, "/authentication?action=login&action=login"),
        (Method::GET, "/token?scheme=a1user&scheme=a1user"),
        (
            Method::POST,
            "/token?scheme=a1user&action=create&action=create",
        ),
        (
            Method::POST,
            "/token?scheme=a1user&scheme=bogus&action=create",
        ),
        (Method::DELETE, "/token?scheme=a1user&scheme=a1user"),
    ] {
        let reply = send(&s.server, method, path, Some(&auth)).await;
        assert_eq!(reply.status, 400, "{reply:?}");
    }
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
}

// ---------------------------------------------------------------------------------------------
// Wrong kind of credentials

#[tokio::test]
async fn basic_where_bearer_is_required_asks_for_a_bearer_token() {
    let s = setup("uat");
    login(&s.server, &s.instance).await;
    send(&s.server, Method::POST, EXTEND, Some(&basic(&s.instance)))
        .await
        .expect_error(401, "invalid_token")
        .expect_challenge("Bearer");
    send(&s.server, Method::POST, EXTEND, None)
        .await
        .expect_challenge("Bearer");
}

#[tokio::test]
async fn bearer_where_basic_is_required_asks_for_basic_credentials() {
    let s = setup("uat");
    let token = access_token(&login(&s.server, &s.instance).await);
    for (method, path) in [
        (Method::POST, LOGIN),
        (Method::GET, TOKEN),
        (Method::POST, CREATE),
    ] {
        let reply = send(&s.server, method, path, Some(&bearer(&token))).await;
        reply.expect_error(401, "invalid_client");
        assert!(
            reply
                .challenges()
                .iter()
                .any(|c| c.starts_with("Basic realm=\"cdp-auth\"")),
            "{reply:?}"
        );
    }
    assert_eq!(active_tokens(&s.deployment, &s.instance), 1);
}

#[tokio::test]
async fn no_credentials_is_a_401_with_a_challenge() {
    let s = setup("uat");
    for (method, path) in [
        (Method::POST, LOGIN),
        (Method::GET, TOKEN),
        (Method::POST, CREATE),
    ] {
        send(&s.server, method, path, None)
            .await
            .expect_challenge("Basic");
    }
    send(&s.server, Method::POST, EXTEND, None)
        .await
        .expect_challenge("Bearer");
    let reply = send(&s.server, Method::DELETE, TOKEN, None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
}

#[tokio::test]
async fn malformed_authorization_headers_are_clear_client_errors() {
    let s = setup("uat");
    let token = access_token(&login(&s.server, &s.instance).await);
    let user = &s.instance.username;
    let headers: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("not base64", vec![b"Basic !!!not-base64!!!".to_vec()]),
        (
            "no colon",
            vec![format!("Basic {}", STANDARD.encode(user)).into_bytes()],
        ),
        (
            "non-UTF-8 after decoding",
            vec![format!("Basic {}", STANDARD.encode(b"\xff\xfe:\xc3\x28")).into_bytes()],
        ),
        ("raw non-ASCII bytes", vec![b"Basic \xff\xfe\xfd".to_vec()]),
        ("empty value", vec![b"".to_vec()]),
        ("scheme only", vec![b"Basic".to_vec()]),
        (
            "extra words",
            vec![format!("{} extra", basic(&s.instance)).into_bytes()],
        ),
        (
            "two Authorization headers",
            vec![
                basic(&s.instance).into_bytes(),
                basic(&s.instance).into_bytes(),
            ],
        ),
        ("unknown scheme", vec![b"Digest username=\"x\"".to_vec()]),
        ("bearer without token", vec![b"Bearer".to_vec()]),
        (
            "Bearer and Basic together",
            vec![bearer(&token).into_bytes(), basic(&s.instance).into_bytes()],
        ),
        (
            "8 KiB of password",
            vec![basic_pair(user, &"x".repeat(8 * 1024)).into_bytes()],
        ),
    ];
    for (what, values) in &headers {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        }
        for (method, path) in [
            (Method::POST, LOGIN),
            (Method::GET, TOKEN),
            (Method::POST, CREATE),
            (Method::POST, EXTEND),
            (Method::DELETE, TOKEN),
        ] {
            let reply = send_with(&s.server, method, path, |r| r.headers(map.clone())).await;
            assert!(
                (400..500).contains(&reply.status),
                "{what}: not a client error: {reply:?}"
            );
        }
    }
    // None of that touched the instance's token.
    assert_eq!(active_tokens(&s.deployment, &s.instance), 1);
    assert_eq!(
        retrieve(&s.server, &basic(&s.instance))
            .await
            .access_token(),
        token
    );
}

#[tokio::test]
async fn unknown_username_and_wrong_password_answer_identically() {
    let s = setup("uat");
    let wrong_password = basic_pair(&s.instance.username, "not-the-password-at-all");
    let unknown_user = basic_pair("tracker_zz9zz9", &s.instance.password);
    for (method, path) in [
        (Method::POST, LOGIN),
        (Method::GET, TOKEN),
        (Method::POST, CREATE),
        (Method::DELETE, TOKEN),
    ] {
        let a = send(&s.server, method.clone(), path, Some(&wrong_password)).await;
        let b = send(&s.server, method, path, Some(&unknown_user)).await;
        a.expect_error(401, "invalid_client")
            .expect_challenge("Basic");
        assert_eq!(a.observable(), b.observable(), "{a:?}\n{b:?}");
    }
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);
}

#[tokio::test]
async fn unknown_bearer_tokens_are_invalid_token() {
    let s = setup("uat");
    for token in [
        "f265e508-c599-44e3-ab60-60a040a9154a",
        "not-a-token",
        &"a".repeat(4096),
    ] {
        extend(&s.server, token)
            .await
            .expect_error(401, "invalid_token")
            .expect_challenge("Bearer");
        let reply = revoke(&s.server, &bearer(token)).await;
        assert_eq!(reply.status, 401, "{reply:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP surface around the dialect

#[tokio::test]
async fn unknown_route_is_a_json_404() {
    let s = setup("uat");
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::GET, "/tokens?scheme=a1user"),
        (Method::POST, "/authentication/login"),
    ] {
        let reply = send(&s.server, method, path, Some(&basic(&s.instance))).await;
        assert_eq!(reply.status, 404, "{reply:?}");
    }
}

#[tokio::test]
async fn wrong_method_is_a_json_405() {
    let s = setup("uat");
    for (method, path) in [
        (Method::PUT, TOKEN),
        (Method::PATCH, CREATE),
        (Method::GET, LOGIN),
        (Method::DELETE, LOGIN),
    ] {
        let reply = send(&s.server, method, path, Some(&basic(&s.instance))).await;
        assert_eq!(reply.status, 405, "{reply:?}");
        assert!(
            reply.headers.contains_key(ALLOW),
            "405 without Allow: {reply:?}"
        );
    }
}

#[tokio::test]
async fn oversized_login_body_is_413_and_a_large_one_within_the_limit_is_read() {
    let s = setup("uat");
    let oversized = vec![b' '; 100 * 1024];
    send_with(&s.server, Method::POST, LOGIN, |r| {
        r.header(AUTHORIZATION, basic(&s.instance))
            .header(CONTENT_TYPE, "application/json")
            .body(oversized)
    })
    .await
    .expect_error(413, "payload_too_large");
    assert_eq!(active_tokens(&s.deployment, &s.instance), 0);

    let mut padded = br#"{"tenantName":"acme"}"#.to_vec();
    padded.resize(60 * 1024, b' ');
    let reply = send_with(&s.server, Method::POST, LOGIN, |r| {
        r.header(AUTHORIZATION, basic(&s.instance))
            .header(CONTENT_TYPE, "application/json")
            .body(padded)
    })
    .await;
    assert_token_response(&reply, &s.instance, ExpiresIn::Full(UAT_PROD_LIFETIME));
}

#[tokio::test]
async fn token_responses_are_not_cacheable() {
    let s = setup("uat");
    let token = access_token(&login(&s.server, &s.instance).await);
    for reply in [
        try_login(&s.server, &basic(&s.instance)).await,
        retrieve(&s.server, &basic(&s.instance)).await,
        create(&s.server, &basic(&s.instance)).await,
        extend(&s.server, &token).await,
    ] {
        reply.ok();
        assert!(
            reply.header(CACHE_CONTROL).contains("no-store"),
            "a token response must say Cache-Control: no-store (RFC 6749 §5.1): {reply:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// What a database dump yields

#[tokio::test]
async fn database_file_holds_no_token_and_no_password() {
    let s = setup("cs");
    let mut tokens = vec![access_token(&login(&s.server, &s.instance).await)];
    for _ in 0..3 {
        tokens.push(create(&s.server, &basic(&s.instance)).await.access_token());
    }
    extend(&s.server, &tokens[1]).await.ok();
    revoke(&s.server, &bearer(&tokens[2])).await.ok();
    let rotated = s.deployment.cli_json(&[
        "instance",
        "rotate-password",
        &s.instance.username,
        "--json",
    ]);
    let new_password = rotated["password"].as_str().expect("password").to_owned();
    let mut after_rotation = s.instance.clone();
    after_rotation.password = new_password.clone();
    tokens.push(
        create(&s.server, &basic(&after_rotation))
            .await
            .access_token(),
    );

    let dump = s.deployment.raw_database();
    let contains = |needle: &[u8]| dump.windows(needle.len()).any(|w| w == needle);
    for token in &tokens {
        assert!(
            !contains(token.as_bytes()),
            "token {token} found in the database"
        );
        let upper = token.to_uppercase();
        assert!(
            !contains(upper.as_bytes()),
            "token {token} found in upper case"
        );
        let hex: String = token.chars().filter(|c| *c != '-').collect();
        assert!(
            !contains(hex.as_bytes()),
            "token {token} found without dashes"
        );
        let raw: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert!(!contains(&raw), "token {token} found as raw bytes");
    }
    for password in [&s.instance.password, &new_password] {
        assert!(
            !contains(password.as_bytes()),
            "a password was found in the database"
        );
    }
}
