//! The secureApi dialect over HTTP, against the real binary on a real SQLite file: every rule
//! of SPEC's "secureApi dialect" section — create and update with the `tenant_hash` and
//! `oauth_key_secret` headers, validity, resources, every error a caller can provoke — and the
//! CLI words that change what a caller sees (`tenant rotate-secret`, `tenant set-oauth`).
//!
//! Every response goes through [`send`], which refuses a 5xx and checks the JSON error shape.
//! Checking an `oauth_key_secret` costs an argon2id verification (about 0.3 s in a debug
//! build), so tests that are not about the secret use a `--no-oauth` tenant.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use support::http::{self, Client, Reply, send};
use support::{Deployment, Instance, Server, within_a_second};

/// The default resources of api `profile`, in SPEC's order.
const PROFILE_RESOURCES: [&str; 8] = [
    "basic",
    "segments",
    "searchSegments",
    "isCustomerInSegment",
    "campaigns",
    "userActivity",
    "affinity",
    "recommendedProducts",
];

/// The default resources of api `gdpr`.
const GDPR_RESOURCES: [&str; 3] = [
    "registerGdprRequest",
    "gdprRequestStatus",
    "revokeGdprActions",
];

// ---------------------------------------------------------------------------------------------
// Setting up

/// A tenant as `tenant create --json` printed it.
#[derive(Debug, Clone)]
struct Tenant {
    id: String,
    name: String,
    hash: String,
    /// `None` for a `--no-oauth` tenant.
    secret: Option<String>,
}

impl Tenant {
    fn from_json(json: &Value) -> Tenant {
        let field = |name: &str| {
            json[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {json}"))
                .to_owned()
        };
        Tenant {
            id: field("id"),
            name: field("name"),
            hash: field("tenant_hash"),
            secret: json["oauth_key_secret"].as_str().map(str::to_owned),
        }
    }

    /// The secret of an OAuth tenant.
    fn secret(&self) -> &str {
        self.secret.as_deref().expect("an OAuth tenant's secret")
    }
}

/// Creates a tenant through the real CLI, with or without OAuth.
fn tenant(deployment: &Deployment, name: &str, oauth: bool) -> Tenant {
    let tenant = Tenant::from_json(&deployment.tenant_with_oauth(name, "uat", oauth));
    assert_is_hex(&tenant.hash, 32, "tenant_hash");
    match &tenant.secret {
        Some(secret) => {
            assert!(oauth, "a --no-oauth tenant was given a secret");
            assert_is_hex(secret, 16, "oauth_key_secret");
        }
        None => assert!(!oauth, "an OAuth tenant was created without a secret"),
    }
    tenant
}

#[track_caller]
fn assert_is_hex(text: &str, len: usize, what: &str) {
    assert!(
        text.len() == len
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{what} is not {len} lowercase hex chars: {text:?}"
    );
}

/// A served deployment with one tenant and one dw-tracker instance in it (to introspect with).
struct Setup {
    deployment: Deployment,
    server: Server,
    tenant: Tenant,
    instance: Instance,
}

fn setup(oauth: bool) -> Setup {
    setup_with(oauth, &[])
}

fn setup_with(oauth: bool, env: &[(&str, &str)]) -> Setup {
    let deployment = Deployment::with_env(env);
    let tenant = tenant(&deployment, "acme", oauth);
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    Setup {
        deployment,
        server,
        tenant,
        instance,
    }
}

// ---------------------------------------------------------------------------------------------
// Sending and what came back

/// What a secureApi `create` answers.
trait Created {
    /// Asserts `200 {"token": …}` with a well-formed token and returns it.
    fn secure_token(&self) -> String;
}

impl Created for Reply {
    #[track_caller]
    fn secure_token(&self) -> String {
        let json = self.ok();
        let keys: Vec<&String> = json.as_object().map(|o| o.keys().collect()).unwrap();
        assert_eq!(
            keys,
            ["token"],
            "create answers exactly {{\"token\"}}: {self:?}"
        );
        let token = json["token"].as_str().unwrap().to_owned();
        assert_token_shape(&token);
        token
    }
}

/// SPEC: ≥ 256 bits of entropy, `[A-Za-z0-9]` only — so at least 43 characters.
#[track_caller]
fn assert_token_shape(token: &str) {
    assert!(
        token.len() >= 43 && token.bytes().all(|b| b.is_ascii_alphanumeric()),
        "token is not ≥ 43 chars of [A-Za-z0-9]: {token:?}"
    );
}

/// Which tenant headers a request carries.
#[derive(Clone, Copy)]
enum Headers<'a> {
    /// No `tenant_hash` (and no secret).
    None,
    /// `tenant_hash` only.
    Hash(&'a str),
    /// `tenant_hash` and `oauth_key_secret`.
    HashAndSecret(&'a str, &'a str),
}

impl<'a> Headers<'a> {
    /// The tenant's own headers: with its secret if it has one.
    fn of(tenant: &'a Tenant) -> Self {
        match &tenant.secret {
            Some(secret) => Headers::HashAndSecret(&tenant.hash, secret),
            None => Headers::Hash(&tenant.hash),
        }
    }
}

/// `POST /secureApi/token/{api}/{action}` with a raw body.
async fn post_raw(
    server: &Server,
    api: &str,
    action: &str,
    headers: Headers<'_>,
    body: &str,
) -> Reply {
    let path = format!("/secureApi/token/{api}/{action}");
    let mut request = server
        .post(&path)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned());
    request = match headers {
        Headers::None => request,
        Headers::Hash(hash) => request.header("tenant_hash", hash),
        Headers::HashAndSecret(hash, secret) => request
            .header("tenant_hash", hash)
            .header("oauth_key_secret", secret),
    };
    send(request, format!("POST {path} {body}")).await
}

async fn create(server: &Server, api: &str, headers: Headers<'_>, body: Value) -> Reply {
    post_raw(server, api, "create", headers, &body.to_string()).await
}

async fn update(server: &Server, api: &str, headers: Headers<'_>, body: Value) -> Reply {
    post_raw(server, api, "update", headers, &body.to_string()).await
}

/// `POST /oauth/introspect` as `caller` (Basic auth).
async fn introspect(server: &Server, caller: &Instance, token: &str) -> Value {
    http::introspect(server, Client::basic(caller), token)
        .await
        .ok()
        .clone()
}

/// Introspects an active secureApi token and returns `exp - iat` in seconds.
async fn lifetime_secs(setup: &Setup, token: &str) -> i64 {
    let found = introspect(&setup.server, &setup.instance, token).await;
    assert_eq!(found["active"], true, "token not active: {found}");
    found["exp"].as_i64().expect("exp") - found["iat"].as_i64().expect("iat")
}

/// `POST /oauth/revoke` as `caller` (Basic auth).
async fn revoke(server: &Server, caller: &Instance, token: &str) {
    http::revoke(server, Client::basic(caller), token)
        .await
        .ok();
}

// ---------------------------------------------------------------------------------------------
// create

#[tokio::test]
async fn create_answers_a_token_valid_15_minutes_by_default_or_the_asked_validity() {
    let setup = setup(true);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));

    let default = create(server, "profile", headers, json!({"resource": ["basic"]}))
        .await
        .secure_token();
    assert_eq!(lifetime_secs(&setup, &default).await, 15 * 60);

    let explicit = create(
        server,
        "profile",
        headers,
        json!({"resource": ["basic", "segments"], "validity": 300}),
    )
    .await
    .secure_token();
    assert_ne!(default, explicit, "two creates must mint two tokens");
    assert_eq!(lifetime_secs(&setup, &explicit).await, 300 * 60);

    // Introspection tells the token's tenant, api and resources.
    let found = introspect(server, &setup.instance, &explicit).await;
    assert_eq!(found["tenant_id"], setup.tenant.id.as_str(), "{found}");
    assert_eq!(found["scope"], "basic segments", "{found}");
    assert!(found["client_id"].as_str().is_some(), "{found}");
}

#[tokio::test]
async fn validity_bounds_are_inclusive_and_null_means_the_default() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    for (validity, minutes) in [(json!(1), 1), (json!(1440), 1440), (Value::Null, 15)] {
        let token = create(
            server,
            "gdpr",
            headers,
            json!({"resource": ["registerGdprRequest"], "validity": validity}),
        )
        .await
        .secure_token();
        assert_eq!(
            lifetime_secs(&setup, &token).await,
            minutes * 60,
            "validity {validity}"
        );
    }
}

#[tokio::test]
async fn max_validity_is_configurable() {
    let setup = setup_with(false, &[("CDP_AUTH_MAX_VALIDITY", "60")]);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    let token = create(
        server,
        "profile",
        headers,
        json!({"resource": ["basic"], "validity": 60}),
    )
    .await
    .secure_token();
    assert_eq!(lifetime_secs(&setup, &token).await, 3600);
    create(
        server,
        "profile",
        headers,
        json!({"resource": ["basic"], "validity": 61}),
    )
    .await
    .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn bad_validity_is_invalid_request() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    // Raw JSON text, so 10^30 and 1.5 reach the server exactly as written.
    for validity in [
        "0",
        "-1",
        "1441",
        "1000000000000000000000000000000",
        "1e30",
        "\"abc\"",
        "\"15\"",
        "1.5",
        "true",
        "[15]",
        "{}",
    ] {
        let body = format!(r#"{{"resource":["basic"],"validity":{validity}}}"#);
        let reply = post_raw(server, "profile", "create", headers, &body).await;
        reply.expect_error(400, "invalid_request");
    }
}

// ---------------------------------------------------------------------------------------------
// update

#[tokio::test]
async fn update_replaces_the_resource_set_and_keeps_the_expiry() {
    let setup = setup(true);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    let token = create(
        server,
        "profile",
        headers,
        json!({"resource": ["basic"], "validity": 60}),
    )
    .await
    .secure_token();
    let before = introspect(server, &setup.instance, &token).await;

    let reply = update(
        server,
        "profile",
        headers,
        json!({"resource": ["segments", "campaigns"], "token": token}),
    )
    .await;
    assert_eq!(
        reply.ok(),
        &json!({
            "message": "Token updated successfully",
            "token": token,
            "resource": ["segments", "campaigns"],
        })
    );

    let after = introspect(server, &setup.instance, &token).await;
    assert_eq!(after["active"], true, "{after}");
    assert_eq!(
        after["scope"], "segments campaigns",
        "replaced, not added: {after}"
    );
    assert_eq!(after["exp"], before["exp"], "expiry unchanged");
    assert_eq!(after["iat"], before["iat"], "issue time unchanged");
}

#[tokio::test]
async fn update_refuses_unknown_revoked_foreign_and_other_api_tokens() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    let new_token = |api: &'static str, resource: &'static str| async move {
        create(server, api, headers, json!({"resource": [resource]}))
            .await
            .secure_token()
    };
    let refused = |api: &'static str, token: String, why: &'static str| async move {
        let resource = if api == "gdpr" {
            "gdprRequestStatus"
        } else {
            "segments"
        };
        let reply = update(
            server,
            api,
            headers,
            json!({"resource": [resource], "token": token}),
        )
        .await;
        reply.expect_error(401, "invalid_token");
        assert!(
            reply
                .challenges()
                .iter()
                .any(|c| c.starts_with("Bearer ") && c.contains("error=\"invalid_token\"")),
            "{why}: no Bearer error=\"invalid_token\" challenge: {reply:?}"
        );
    };

    // Unknown: well-formed but never issued, and not even well-formed.
    refused("profile", "A".repeat(48), "unknown").await;
    refused("profile", "not a token!".to_owned(), "malformed").await;

    // Revoked through RFC 7009 (the black-box stand-in for expired: both are inactive).
    let revoked = new_token("profile", "basic").await;
    revoke(server, &setup.instance, &revoked).await;
    assert_eq!(
        introspect(server, &setup.instance, &revoked).await,
        json!({"active": false})
    );
    refused("profile", revoked, "revoked").await;

    // Created on gdpr, updated on profile (and the other way round).
    let gdpr = new_token("gdpr", "registerGdprRequest").await;
    refused("profile", gdpr.clone(), "gdpr token on profile").await;
    let profile = new_token("profile", "basic").await;
    refused("gdpr", profile.clone(), "profile token on gdpr").await;

    // Another tenant's token, presented with our tenant's headers.
    let globex = tenant(&setup.deployment, "globex", false);
    let foreign = create(
        server,
        "profile",
        Headers::of(&globex),
        json!({"resource": ["basic"]}),
    )
    .await
    .secure_token();
    refused("profile", foreign.clone(), "another tenant's token").await;

    // Tokens of the other dialects are not secureApi tokens.
    let a1user = http::a1user_token(server, &setup.instance).await;
    refused("profile", a1user, "an a1user token").await;

    // None of the refusals changed the tokens they named.
    for (token, scope) in [(&gdpr, "registerGdprRequest"), (&profile, "basic")] {
        let found = introspect(server, &setup.instance, token).await;
        assert_eq!(found["scope"], scope, "{found}");
    }
    // And the globex token is globex's: our instance cannot even see it.
    assert_eq!(
        introspect(server, &setup.instance, &foreign).await,
        json!({"active": false})
    );
}

/// A real expiry rather than a revocation: a 1-minute token, 61 seconds later. Too slow for
/// every run; `cargo test --test secure_api -- --ignored` runs it.
#[tokio::test]
#[ignore = "waits 61 s for a 1-minute token to expire"]
async fn an_expired_token_cannot_be_updated() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    let token = create(
        server,
        "profile",
        headers,
        json!({"resource": ["basic"], "validity": 1}),
    )
    .await
    .secure_token();
    tokio::time::sleep(std::time::Duration::from_secs(61)).await;
    update(
        server,
        "profile",
        headers,
        json!({"resource": ["segments"], "token": token}),
    )
    .await
    .expect_error(401, "invalid_token");
}

#[tokio::test]
async fn update_needs_a_token_string() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    for body in [
        json!({"resource": ["basic"]}),
        json!({"resource": ["basic"], "token": ""}),
        json!({"resource": ["basic"], "token": 42}),
        json!({"resource": ["basic"], "token": null}),
    ] {
        update(server, "profile", headers, body)
            .await
            .expect_error(400, "invalid_request");
    }
}

// ---------------------------------------------------------------------------------------------
// Tenant credentials

#[tokio::test]
async fn a_missing_tenant_hash_is_invalid_request() {
    let setup = setup(true);
    let server = &setup.server;
    let body = json!({"resource": ["basic"]});
    for action in ["create", "update"] {
        let body = if action == "update" {
            json!({"resource": ["basic"], "token": "A".repeat(48)})
        } else {
            body.clone()
        };
        post_raw(server, "profile", action, Headers::None, &body.to_string())
            .await
            .expect_error(400, "invalid_request");
        // A secret alone is still no tenant_hash.
        let request = server
            .post(&format!("/secureApi/token/profile/{action}"))
            .header(CONTENT_TYPE, "application/json")
            .header("oauth_key_secret", setup.tenant.secret())
            .body(body.to_string());
        send(request, format!("{action} with only a secret"))
            .await
            .expect_error(400, "invalid_request");
        // An empty tenant_hash is no tenant_hash either.
        post_raw(
            server,
            "profile",
            action,
            Headers::Hash(""),
            &body.to_string(),
        )
        .await
        .expect_error(400, "invalid_request");
    }
}

#[tokio::test]
async fn unknown_tenant_wrong_secret_and_missing_secret_answer_byte_identically() {
    let setup = setup(true);
    let server = &setup.server;
    let tenant = &setup.tenant;
    let body = json!({"resource": ["basic"]});
    let unknown = create(
        server,
        "profile",
        Headers::HashAndSecret(&"0".repeat(32), tenant.secret()),
        body.clone(),
    )
    .await;
    let wrong_secret = if tenant.secret() == "0123456789abcdef" {
        "fedcba9876543210"
    } else {
        "0123456789abcdef"
    };
    let wrong = create(
        server,
        "profile",
        Headers::HashAndSecret(&tenant.hash, wrong_secret),
        body.clone(),
    )
    .await;
    let missing = create(server, "profile", Headers::Hash(&tenant.hash), body.clone()).await;
    for reply in [&unknown, &wrong, &missing] {
        reply.expect_error(401, "invalid_client");
    }
    assert_eq!(
        String::from_utf8_lossy(&unknown.body),
        String::from_utf8_lossy(&wrong.body),
        "unknown tenant and wrong secret must answer the same bytes"
    );
    assert_eq!(
        String::from_utf8_lossy(&wrong.body),
        String::from_utf8_lossy(&missing.body),
        "wrong and missing secret must answer the same bytes"
    );
    assert_eq!(unknown.challenges(), wrong.challenges());
    assert_eq!(wrong.challenges(), missing.challenges());

    // Nothing secret is echoed back.
    for reply in [&unknown, &wrong, &missing] {
        let text = String::from_utf8_lossy(&reply.body);
        assert!(!text.contains(tenant.secret()) && !text.contains(wrong_secret));
    }

    // The same refusal on update.
    update(
        server,
        "profile",
        Headers::HashAndSecret(&tenant.hash, wrong_secret),
        json!({"resource": ["basic"], "token": "A".repeat(48)}),
    )
    .await
    .expect_error(401, "invalid_client");
}

#[tokio::test]
async fn a_tenant_without_oauth_needs_no_secret_and_ignores_a_wrong_one() {
    let setup = setup(false);
    let (server, tenant) = (&setup.server, &setup.tenant);
    let body = json!({"resource": ["basic"]});
    let token = create(server, "profile", Headers::Hash(&tenant.hash), body.clone())
        .await
        .secure_token();
    create(
        server,
        "profile",
        Headers::HashAndSecret(&tenant.hash, "0123456789abcdef"),
        body,
    )
    .await
    .secure_token();
    update(
        server,
        "profile",
        Headers::HashAndSecret(&tenant.hash, "not even hex"),
        json!({"resource": ["affinity"], "token": token}),
    )
    .await
    .ok();
    // An unknown tenant is still refused.
    create(
        server,
        "profile",
        Headers::Hash(&"f".repeat(32)),
        json!({"resource": ["basic"]}),
    )
    .await
    .expect_error(401, "invalid_client");
}

// ---------------------------------------------------------------------------------------------
// Resources, bodies, apis

#[tokio::test]
async fn unknown_resources_are_refused_naming_the_allowed_ones() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    for (api, bad, allowed) in [
        ("profile", json!(["basic", "nope"]), &PROFILE_RESOURCES[..]),
        (
            "profile",
            json!(["registerGdprRequest"]),
            &PROFILE_RESOURCES[..],
        ),
        ("gdpr", json!(["basic"]), &GDPR_RESOURCES[..]),
        ("profile", json!(["Basic"]), &PROFILE_RESOURCES[..]),
    ] {
        let reply = create(server, api, headers, json!({"resource": bad})).await;
        reply.expect_error(400, "invalid_resource");
        for name in allowed {
            assert!(
                reply.description().contains(name),
                "description does not name {name}: {reply:?}"
            );
        }
    }
    // The same on update (of a live token, which keeps its resources).
    let token = create(server, "profile", headers, json!({"resource": ["basic"]}))
        .await
        .secure_token();
    let reply = update(
        server,
        "profile",
        headers,
        json!({"resource": ["nope"], "token": token}),
    )
    .await;
    reply.expect_error(400, "invalid_resource");
    assert!(
        reply.description().contains("recommendedProducts"),
        "{reply:?}"
    );
    let found = introspect(server, &setup.instance, &token).await;
    assert_eq!(found["scope"], "basic", "{found}");
}

#[tokio::test]
async fn an_empty_or_missing_or_malformed_resource_list_is_refused() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    for body in [
        json!({"resource": []}),
        json!({}),
        json!({"resource": null}),
        json!({"resource": "basic"}),
        json!({"resource": [1]}),
        json!({"resource": [["basic"]]}),
        json!({"validity": 15}),
    ] {
        let reply = create(server, "profile", headers, body).await;
        assert_eq!(reply.status, 400, "{reply:?}");
        assert!(
            ["invalid_request", "invalid_resource"].contains(&reply.error()),
            "{reply:?}"
        );
    }
    let token = create(server, "profile", headers, json!({"resource": ["basic"]}))
        .await
        .secure_token();
    let reply = update(
        server,
        "profile",
        headers,
        json!({"resource": [], "token": token}),
    )
    .await;
    assert_eq!(reply.status, 400, "{reply:?}");
}

#[tokio::test]
async fn malformed_and_non_object_bodies_are_invalid_request() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    for action in ["create", "update"] {
        for body in [
            "",
            "{",
            "{\"resource\":[\"basic\"]",
            "not json",
            "[]",
            "[\"basic\"]",
            "\"basic\"",
            "42",
            "null",
            "true",
        ] {
            post_raw(server, "profile", action, headers, body)
                .await
                .expect_error(400, "invalid_request");
        }
    }
}

#[tokio::test]
async fn an_unknown_api_is_a_json_404() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    for api in ["nope", "Profile", "profile.json", "%20"] {
        create(server, api, headers, json!({"resource": ["basic"]}))
            .await
            .expect_error(404, "not_found");
        update(
            server,
            api,
            headers,
            json!({"resource": ["basic"], "token": "A".repeat(48)}),
        )
        .await
        .expect_error(404, "not_found");
    }
    // Unknown actions and methods are JSON too.
    post_raw(server, "profile", "delete", headers, "{}")
        .await
        .expect_error(404, "not_found");
    let reply = send(server.get("/secureApi/token/profile/create"), "GET create").await;
    assert_eq!(reply.status, 405, "{reply:?}");
}

// ---------------------------------------------------------------------------------------------
// The CLI words that change what a caller sees

#[tokio::test]
async fn rotate_secret_retires_the_old_secret_and_the_new_one_works() {
    let setup = setup(true);
    let (server, old) = (&setup.server, &setup.tenant);
    let body = json!({"resource": ["basic"]});
    // The old secret verified, so the server remembers it (by a keyed fingerprint)...
    create(server, "profile", Headers::of(old), body.clone())
        .await
        .secure_token();
    let rotated = setup
        .deployment
        .cli_json(&["tenant", "rotate-secret", &old.name, "--json"]);
    let rotated = Tenant::from_json(&rotated);
    assert_eq!(rotated.id, old.id);
    assert_eq!(rotated.hash, old.hash, "rotation keeps the tenant_hash");
    assert_is_hex(rotated.secret(), 16, "rotated oauth_key_secret");
    assert_ne!(rotated.secret(), old.secret());

    // ...until the rotation, made by another process (the CLI), reaches it: within a second.
    within_a_second("the old secret is refused", || async {
        create(server, "profile", Headers::of(old), body.clone())
            .await
            .status
            == 401
    })
    .await;
    create(server, "profile", Headers::of(old), body.clone())
        .await
        .expect_error(401, "invalid_client");
    create(server, "profile", Headers::of(&rotated), body)
        .await
        .secure_token();
}

#[tokio::test]
async fn set_oauth_off_drops_the_secret_requirement_and_on_restores_it() {
    let setup = setup(true);
    let (server, tenant) = (&setup.server, &setup.tenant);
    let body = json!({"resource": ["basic"]});

    let off = setup
        .deployment
        .cli_json(&["tenant", "set-oauth", &tenant.name, "off", "--json"]);
    assert_eq!(off["oauth_enabled"], false, "{off}");
    create(server, "profile", Headers::Hash(&tenant.hash), body.clone())
        .await
        .secure_token();

    let on = setup
        .deployment
        .cli_json(&["tenant", "set-oauth", &tenant.name, "on", "--json"]);
    assert_eq!(on["oauth_enabled"], true, "{on}");
    // The CLI is another process: the server learns of the switch within a second.
    within_a_second("a caller without the secret is refused", || async {
        create(server, "profile", Headers::Hash(&tenant.hash), body.clone())
            .await
            .status
            == 401
    })
    .await;
    create(server, "profile", Headers::Hash(&tenant.hash), body.clone())
        .await
        .expect_error(401, "invalid_client");
    // The secret it had before applies again.
    create(server, "profile", Headers::of(tenant), body)
        .await
        .secure_token();
}

#[tokio::test]
async fn set_oauth_on_for_a_tenant_that_never_had_a_secret_issues_one() {
    let setup = setup(false);
    let (server, tenant) = (&setup.server, &setup.tenant);
    let body = json!({"resource": ["basic"]});
    let on = setup
        .deployment
        .cli_json(&["tenant", "set-oauth", &tenant.name, "on", "--json"]);
    let on = Tenant::from_json(&on);
    assert_is_hex(on.secret(), 16, "issued oauth_key_secret");
    create(server, "profile", Headers::Hash(&tenant.hash), body.clone())
        .await
        .expect_error(401, "invalid_client");
    create(server, "profile", Headers::of(&on), body)
        .await
        .secure_token();
}

#[tokio::test]
async fn a_body_naming_a_key_twice_is_invalid_request() {
    let setup = setup(false);
    let (server, headers) = (&setup.server, Headers::of(&setup.tenant));
    let token = create(server, "profile", headers, json!({"resource": ["basic"]}))
        .await
        .secure_token();
    let create_body = r#"{"resource":["basic"],"validity":5,"validity":500}"#;
    let update_body =
        format!(r#"{{"token":"{token}","resource":["basic"],"resource":["segments"]}}"#);
    for (action, body, key) in [
        ("create", create_body.to_owned(), "validity"),
        ("update", update_body, "resource"),
    ] {
        let reply = post_raw(server, "profile", action, headers, &body).await;
        reply.expect_error(400, "invalid_request");
        let expected = format!("the key \"{key}\" appears twice");
        assert!(reply.description().contains(&expected), "{reply:?}");
    }
    // The update changed nothing.
    let found = introspect(server, &setup.instance, &token).await;
    assert_eq!(found["scope"], "basic", "{found}");
}

// ---------------------------------------------------------------------------------------------
// Tokens that end with the secret or the switch they were minted under

/// The status of a profile call (`POST /api/v1/profile/b2b/basic`) made with `token`: 401
/// when the token is refused; anything else means it was honoured (the customer may be
/// unknown).
async fn profile_status(server: &Server, tenant: &Tenant, token: &str) -> u16 {
    server
        .post("/api/v1/profile/b2b/basic")
        .header(CONTENT_TYPE, "application/json")
        .header("access_token", token)
        .header("tenant_hash", &tenant.hash)
        .header("email_address", "ann@example.com")
        .send()
        .await
        .expect("profile call")
        .status()
        .as_u16()
}

/// Asserts the token works on the profile API and introspects active.
async fn assert_honoured(setup: &Setup, token: &str) {
    assert_ne!(
        profile_status(&setup.server, &setup.tenant, token).await,
        401,
        "token refused"
    );
    let found = introspect(&setup.server, &setup.instance, token).await;
    assert_eq!(found["active"], true, "{found}");
}

/// Waits (a change by the CLI reaches the server within a second) until the token is refused
/// on the profile API, then asserts it introspects inactive.
async fn assert_ended(setup: &Setup, token: &str) {
    within_a_second("the token is refused on the profile API", || async {
        profile_status(&setup.server, &setup.tenant, token).await == 401
    })
    .await;
    let found = introspect(&setup.server, &setup.instance, token).await;
    assert_eq!(found, json!({"active": false}));
}

#[tokio::test]
async fn rotating_the_secret_ends_the_tokens_minted_with_the_old_one() {
    let setup = setup(true);
    let body = json!({"resource": ["basic"]});
    let old = &setup.tenant;
    let first = create(&setup.server, "profile", Headers::of(old), body.clone())
        .await
        .secure_token();
    let second = create(&setup.server, "profile", Headers::of(old), body.clone())
        .await
        .secure_token();
    assert_honoured(&setup, &first).await;

    let rotated = setup
        .deployment
        .cli_json(&["tenant", "rotate-secret", &old.name, "--json"]);
    assert_eq!(rotated["tokens_ended"], 2, "{rotated}");
    assert_ended(&setup, &first).await;
    assert_ended(&setup, &second).await;

    // The new secret mints tokens that work.
    let rotated = Tenant::from_json(&rotated);
    let fresh = create(&setup.server, "profile", Headers::of(&rotated), body)
        .await
        .secure_token();
    assert_honoured(&setup, &fresh).await;
}

#[tokio::test]
async fn turning_oauth_on_ends_the_tokens_minted_while_it_was_off() {
    let setup = setup(true);
    let body = json!({"resource": ["basic"]});
    let tenant = &setup.tenant;
    let with_secret = create(&setup.server, "profile", Headers::of(tenant), body.clone())
        .await
        .secure_token();
    setup
        .deployment
        .cli_json(&["tenant", "set-oauth", &tenant.name, "off", "--json"]);
    let without_secret = create(
        &setup.server,
        "profile",
        Headers::Hash(&tenant.hash),
        body.clone(),
    )
    .await
    .secure_token();
    assert_honoured(&setup, &without_secret).await;

    let on = setup
        .deployment
        .cli_json(&["tenant", "set-oauth", &tenant.name, "on", "--json"]);
    assert_eq!(on["tokens_ended"], 1, "{on}");
    // No secret was checked for this one: it ends. The one minted with the secret, which is
    // still the tenant's, goes on working.
    assert_ended(&setup, &without_secret).await;
    assert_honoured(&setup, &with_secret).await;
}
