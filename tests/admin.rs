//! The admin JSON API under `/admin/api/`, the admin CLI words, the Postman exports and the
//! audit log, as a script sees them: the real binary, an admin and its API token made with the
//! CLI, every answer checked by [`send_admin`] (never a 5xx, errors as `{"error",
//! "error_description"}`, every 401 with a challenge). What an admin action did is checked
//! where a client feels it: the a1user API.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use serde_json::{Value, json};

use support::browser::Browser;
use support::http::{self, Reply, basic, basic_pair, bearer, send, send_admin};
use support::{Admin, Deployment, Instance, Server};

const CREATE: &str = "/token?scheme=a1user&action=create";

/// The collection's requests, in the order a user runs them.
const POSTMAN_ITEMS: [&str; 6] = [
    "Step 1 - Authenticate with Username and Password (One Time)",
    "Step 2 - Request Access Token (Daily)",
    "Extend - Current Token",
    "Create - Token",
    "Revoke - A Token",
    "Revoke All Access Tokens",
];

// ---------------------------------------------------------------------------------------------
// Setting up

/// A served deployment with one admin (`ops`) and an API token for it.
struct Api {
    deployment: Deployment,
    server: Server,
    admin: Admin,
    token: String,
}

fn setup() -> Api {
    setup_then(|_| {})
}

/// [`setup`], with tenants and instances made by `prepare` through the CLI before serving.
fn setup_then(prepare: impl FnOnce(&Deployment)) -> Api {
    let deployment = Deployment::new();
    let admin = deployment.admin("ops");
    let token = deployment.admin_api_token("ops");
    prepare(&deployment);
    let server = deployment.serve();
    Api {
        deployment,
        server,
        admin,
        token,
    }
}

/// [`setup`] with a tenant `acme` (OAuth off) holding one instance, `loader`.
fn setup_with_instance() -> (Api, Instance) {
    let mut instance = None;
    let api = setup_then(|d| {
        d.tenant_without_oauth("acme", "uat");
        instance = Some(d.instance("acme", "loader", "dw-tracker"));
    });
    (api, instance.expect("instance"))
}

impl Api {
    /// An admin API request with the API token.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .server
            .request(method.clone(), path)
            .header(AUTHORIZATION, bearer(&self.token));
        if let Some(body) = body {
            request = request.json(&body);
        }
        send_admin(request, format!("{method} {path}")).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Audit entries matching a query string (`action=…&actor=…`), newest first.
    async fn audit(&self, query: &str) -> Vec<Value> {
        let reply = self.get(&format!("/admin/api/audit?{query}")).await;
        reply.ok().as_array().expect("a list").clone()
    }

    /// [`Api::audit`], waiting (briefly) until `done` holds: failed attempts are written
    /// asynchronously.
    async fn audit_once(&self, query: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let entries = self.audit(query).await;
            if done(&entries) || Instant::now() > deadline {
                return entries;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The instance credentials in a `POST /admin/api/instances` or `rotate-password` answer.
fn instance_of(reply: &Reply) -> Instance {
    let json = reply.json.clone();
    let field = |key: &str| {
        json[key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key}: {reply:?}"))
            .to_owned()
    };
    Instance {
        username: field("username"),
        password: field("password"),
        tenant_id: field("tenant_id"),
        json: json.clone(),
    }
}

/// A JSON object's keys.
fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

#[track_caller]
fn assert_keys(value: &Value, expected: &[&str]) {
    assert_eq!(keys(value), expected.iter().copied().collect(), "{value}");
}

fn is_generated_password(password: &str) -> bool {
    password.len() == 24 && password.chars().all(|c| c.is_ascii_alphanumeric())
}

/// An a1user token minted with `action=create` (a second one beside the login's).
async fn create_token(server: &Server, instance: &Instance) -> String {
    send(
        server
            .post(CREATE)
            .header(AUTHORIZATION, basic(instance))
            .header(CONTENT_TYPE, "application/json"),
        "create",
    )
    .await
    .access_token()
}

/// `(action, actor)` of each entry, newest first.
fn actions(entries: &[Value]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["actor"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Asserts that no secret appears anywhere in an answer.
#[track_caller]
fn assert_no_secret(reply: &Reply, secrets: &[&str]) {
    let text = reply.text();
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "{} shows a secret ({secret}): {text}",
            reply.what
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The CLI words

#[tokio::test]
async fn the_cli_creates_admins_and_api_tokens_shown_once() {
    let deployment = Deployment::new();
    let created = deployment.cli_json(&["admin", "create", "--username", "ops", "--json"]);
    assert_keys(&created, &["username", "password"]);
    assert_eq!(created["username"], "ops");
    let password = created["password"].as_str().expect("password");
    assert!(is_generated_password(password), "{password}");

    let again = deployment.cli(&["admin", "create", "--username", "ops", "--json"]);
    assert!(!again.status.success(), "a second admin named ops");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(
        !deployment
            .cli(&["admin", "create", "--username", "two words", "--json"])
            .status
            .success()
    );

    let first = deployment.cli_json(&["admin", "api-token", "--username", "ops", "--json"]);
    assert_keys(&first, &["token", "id", "expires_at"]);
    let first = first["token"].as_str().expect("token").to_owned();
    let second = deployment.admin_api_token("ops");
    for token in [&first, &second] {
        assert!(token.starts_with("cdpa_") && token.len() > 40, "{token}");
    }
    assert_ne!(first, second);
    assert!(
        !deployment
            .cli(&["admin", "api-token", "--username", "nobody", "--json"])
            .status
            .success()
    );

    let server = deployment.serve();
    for token in [&first, &second] {
        let reply = send_admin(
            server
                .get("/admin/api/tenants")
                .header(AUTHORIZATION, bearer(token)),
            "tenants",
        )
        .await;
        assert_eq!(reply.ok(), &json!([]));
    }
    // The admin's password is not an API credential, in any form.
    for auth in [bearer(password), basic_pair("ops", password)] {
        send_admin(
            server.get("/admin/api/tenants").header(AUTHORIZATION, auth),
            "tenants",
        )
        .await
        .expect_challenge("Bearer");
    }

    let api = Api {
        deployment,
        server,
        admin: Admin {
            username: "ops".into(),
            password: password.into(),
        },
        token: first.clone(),
    };
    let audit = api.get("/admin/api/audit").await;
    assert_no_secret(&audit, &[password, &first, &second]);
    assert_eq!(
        actions(audit.ok().as_array().expect("a list")),
        [
            ("admin.api_token_created".into(), "cli".into()),
            ("admin.api_token_created".into(), "cli".into()),
            ("admin.created".into(), "cli".into()),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Who may call the admin API

#[tokio::test]
async fn the_admin_api_answers_only_admin_credentials() {
    let (api, instance) = setup_with_instance();
    let id = instance.json["id"].as_str().expect("id");
    let instance_token = http::a1user_token(&api.server, &instance).await;
    let paths = [
        (Method::GET, "/admin/api/tenants".to_owned()),
        (Method::GET, "/admin/api/instances".into()),
        (Method::GET, format!("/admin/api/instances/{id}")),
        (Method::GET, "/admin/api/audit".into()),
        (Method::POST, "/admin/api/instances".into()),
        (Method::POST, format!("/admin/api/instances/{id}/disable")),
        (Method::DELETE, format!("/admin/api/instances/{id}/tokens")),
        (Method::GET, format!("/postman/{id}/collection.json")),
        (Method::GET, format!("/postman/{id}/environment.json")),
    ];
    let refused = [
        None,
        Some(bearer("cdpa_not-a-real-token")),
        Some(bearer(&instance_token)),
        Some(basic(&instance)),
        Some(basic_pair(&api.admin.username, &api.admin.password)),
    ];
    for (method, path) in &paths {
        for auth in &refused {
            let mut request = api.server.request(method.clone(), path);
            if let Some(auth) = auth {
                request = request.header(AUTHORIZATION, auth);
            }
            if *method == Method::POST {
                request = request.json(&json!({"name": "sneaky", "type": "webtag"}));
            }
            send_admin(request, format!("{method} {path} as {auth:?}"))
                .await
                .expect_challenge("Bearer");
        }
    }
    // Nothing was done: one instance, enabled, with its token.
    let listed = api.get("/admin/api/instances").await;
    let listed = listed.ok().as_array().expect("a list").clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["disabled"], false);
    http::extend(&api.server, &instance_token).await.ok();
}

// ---------------------------------------------------------------------------------------------
// A walk through with an API token

#[tokio::test]
async fn an_api_token_walks_an_instance_through_its_life() {
    let api = setup();

    // A tenant, its secret shown once.
    let tenant = api
        .post(
            "/admin/api/tenants",
            json!({"name": "acme", "environment": "uat"}),
        )
        .await;
    assert_eq!(tenant.status, 201, "{tenant:?}");
    assert_eq!(tenant.header(CACHE_CONTROL), "no-store");
    assert_eq!(tenant.json["name"], "acme");
    assert_eq!(tenant.json["environment"], "uat");
    assert_eq!(tenant.json["oauth_enabled"], true);
    let tenant_id = tenant.json["id"].as_str().expect("id").to_owned();
    let oauth_key_secret = tenant.json["oauth_key_secret"]
        .as_str()
        .expect("the secret, this once")
        .to_owned();
    let tenants = api.get("/admin/api/tenants").await;
    assert_eq!(tenants.ok().as_array().map(Vec::len), Some(1));
    assert!(
        tenants.json[0].get("oauth_key_secret").is_none(),
        "{tenants:?}"
    );

    // An instance, its password shown once.
    let created = api
        .post(
            "/admin/api/instances",
            json!({"tenant": "acme", "name": "loader", "type": "dw-tracker"}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.header(CACHE_CONTROL), "no-store");
    assert_keys(
        &created.json,
        &[
            "id",
            "tenant_id",
            "name",
            "type",
            "api_host_url",
            "auth_host_url",
            "username",
            "password",
            "password_expiry_date",
        ],
    );
    assert_eq!(created.json["auth_host_url"], api.server.base.as_str());
    assert_eq!(created.json["api_host_url"], api.server.base.as_str());
    assert_eq!(created.json["type"], "dw-tracker");
    let instance = instance_of(&created);
    assert_eq!(instance.tenant_id, tenant_id);
    assert!(is_generated_password(&instance.password));
    let id = instance.json["id"].as_str().expect("id").to_owned();

    // Its credentials log in; two tokens are listed by their prefixes.
    let first = http::a1user_token(&api.server, &instance).await;
    let second = create_token(&api.server, &instance).await;
    let tokens = api.get(&format!("/admin/api/instances/{id}/tokens")).await;
    let tokens = tokens.ok().as_array().expect("a list").clone();
    for token in &tokens {
        assert_keys(
            token,
            &[
                "id",
                "kind",
                "prefix",
                "issued_at",
                "expires_at",
                "last_used_at",
            ],
        );
        assert_eq!(token["kind"], "a1user");
    }
    let prefixes: BTreeSet<&str> = tokens.iter().filter_map(|t| t["prefix"].as_str()).collect();
    assert_eq!(prefixes, BTreeSet::from([&first[..8], &second[..8]]));
    let shown = api
        .get(&format!("/admin/api/instances/{}", instance.username))
        .await;
    assert_keys(
        shown.ok(),
        &[
            "id",
            "tenant_id",
            "name",
            "type",
            "username",
            "created_at",
            "password_expiry_date",
            "disabled",
            "active_tokens",
            "last_used_at",
        ],
    );
    assert_eq!(shown.json["id"], id.as_str());
    assert_eq!(shown.json["active_tokens"], 2);
    assert_eq!(shown.json["disabled"], false);

    // Revoke one: that one stops working, the other goes on.
    let second_id = tokens
        .iter()
        .find(|t| t["prefix"] == second[..8])
        .and_then(|t| t["id"].as_str())
        .expect("the second token's id");
    let revoke_one = format!("/admin/api/instances/{id}/tokens/{second_id}");
    assert_eq!(api.delete(&revoke_one).await.ok(), &json!({"revoked": 1}));
    http::extend(&api.server, &second)
        .await
        .expect_error(401, "invalid_token");
    http::extend(&api.server, &first).await.ok();
    api.delete(&revoke_one).await.expect_error(404, "not_found");

    // Revoke all.
    let all = api
        .delete(&format!("/admin/api/instances/{id}/tokens"))
        .await;
    assert_eq!(all.ok(), &json!({"revoked": 1}));
    http::extend(&api.server, &first)
        .await
        .expect_error(401, "invalid_token");
    let tokens = api.get(&format!("/admin/api/instances/{id}/tokens")).await;
    assert_eq!(tokens.ok(), &json!([]));

    // Rotate the password: the old one is refused, the new one logs in.
    let rotated = api
        .post(
            &format!("/admin/api/instances/{id}/rotate-password"),
            json!({}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    assert_eq!(rotated.header(CACHE_CONTROL), "no-store");
    let renewed = instance_of(&rotated);
    assert!(is_generated_password(&renewed.password));
    assert_ne!(renewed.password, instance.password);
    http::login(&api.server, &instance)
        .await
        .expect_error(401, "invalid_client");
    let third = http::a1user_token(&api.server, &renewed).await;

    // Disable, then enable.
    let disabled = api
        .post(&format!("/admin/api/instances/{id}/disable"), json!({}))
        .await;
    assert_eq!(disabled.ok()["disabled"], true);
    http::login(&api.server, &renewed)
        .await
        .expect_error(403, "instance_disabled");
    let enabled = api
        .post(&format!("/admin/api/instances/{id}/enable"), json!({}))
        .await;
    assert_eq!(enabled.ok()["disabled"], false);
    assert_eq!(http::a1user_token(&api.server, &renewed).await, third);

    // The audit log tells the story, newest first, each with its actor and instance.
    let by_admin = api.audit("actor=ops").await;
    assert_eq!(
        actions(&by_admin),
        [
            "instance.enabled",
            "instance.disabled",
            "instance.password_rotated",
            "token.revoked_all",
            "token.revoked",
            "instance.created",
            "tenant.created",
        ]
        .map(|a| (a.to_owned(), "ops".to_owned()))
    );
    for entry in &by_admin[..6] {
        assert_eq!(entry["instance_id"], id.as_str(), "{entry}");
        assert_eq!(entry["tenant_id"], tenant_id.as_str(), "{entry}");
    }
    let by_instance = api.audit(&format!("actor={}", instance.username)).await;
    let issued = actions(&by_instance)
        .iter()
        .filter(|(action, _)| action == "token.issued")
        .count();
    assert_eq!(issued, 3, "{by_instance:?}");
    // The old password's refusal is written a moment later.
    let failed = api
        .audit_once("action=sign_in.failed", |e| !e.is_empty())
        .await;
    assert_eq!(
        actions(&failed),
        [("sign_in.failed".to_owned(), instance.username.clone())]
    );

    let whole = api.get("/admin/api/audit?limit=500").await;
    assert_no_secret(
        &whole,
        &[
            &instance.password,
            &renewed.password,
            &first,
            &second,
            &third,
            &oauth_key_secret,
            &api.token,
            &api.admin.password,
        ],
    );
}

#[tokio::test]
async fn tenant_secrets_rotate_and_oauth_switches_through_the_api() {
    let api = setup();
    let created = api
        .post(
            "/admin/api/tenants",
            json!({"name": "acme", "environment": "cs", "oauth_enabled": false}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.json["oauth_enabled"], false);
    assert!(
        created.json.get("oauth_key_secret").is_none(),
        "{created:?}"
    );
    let tenant_id = created.json["id"].as_str().expect("id").to_owned();

    // Turning OAuth on for a tenant that never had a secret issues one, shown this once.
    let on = api
        .send(
            Method::PUT,
            "/admin/api/tenants/acme/oauth",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(on.ok()["oauth_enabled"], true);
    let first = on.json["oauth_key_secret"]
        .as_str()
        .expect("a new secret")
        .to_owned();
    let rotated = api
        .post(
            &format!("/admin/api/tenants/{tenant_id}/rotate-secret"),
            json!({}),
        )
        .await;
    let second = rotated.ok()["oauth_key_secret"]
        .as_str()
        .expect("the rotated secret")
        .to_owned();
    assert_ne!(first, second);
    let off = api
        .send(
            Method::PUT,
            "/admin/api/tenants/acme/oauth",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(off.ok()["oauth_enabled"], false);
    assert!(off.json.get("oauth_key_secret").is_none(), "{off:?}");

    let listed = api.get("/admin/api/tenants").await;
    assert_eq!(listed.ok()[0]["oauth_enabled"], false);
    assert_no_secret(&listed, &[&first, &second]);
    // Turning OAuth on issued the first secret: that is on record too.
    let audit = api.audit(&format!("tenant={tenant_id}")).await;
    assert_eq!(
        actions(&audit),
        [
            "tenant.oauth_disabled",
            "tenant.secret_rotated",
            "tenant.oauth_enabled",
            "tenant.secret_rotated",
            "tenant.created",
        ]
        .map(|a| (a.to_owned(), "ops".to_owned()))
    );
    assert_no_secret(&api.get("/admin/api/audit").await, &[&first, &second]);
}

#[tokio::test]
async fn rotating_a_secret_leaves_the_oauth_switch_alone() {
    let api = setup_then(|d| {
        d.tenant_without_oauth("acme", "cs");
    });
    let rotated = api
        .post("/admin/api/tenants/acme/rotate-secret", json!({}))
        .await;
    assert!(rotated.ok()["oauth_key_secret"].is_string(), "{rotated:?}");

    let listed = api.get("/admin/api/tenants").await;
    assert_eq!(
        listed.ok()[0]["oauth_enabled"],
        false,
        "a rotation must not switch OAuth on: {listed:?}"
    );
    assert_eq!(actions(&api.audit("action=tenant.oauth_enabled").await), []);
}

#[tokio::test]
async fn the_admin_api_says_what_is_wrong_with_a_request() {
    let (api, loader) = setup_with_instance();
    let other = api.deployment.instance("acme", "other", "webtag");
    api.deployment.tenant_without_oauth("globex", "cs");
    let other_token = http::a1user_token(&api.server, &other).await;
    let other_token_id = api
        .get(&format!("/admin/api/instances/{}/tokens", other.username))
        .await
        .ok()[0]["id"]
        .as_str()
        .expect("token id")
        .to_owned();

    for (body, status, error) in [
        // Two tenants: which one?
        (
            json!({"name": "x", "type": "webtag"}),
            400,
            "invalid_request",
        ),
        (
            json!({"tenant": "acme", "name": "x", "type": "mainframe"}),
            400,
            "invalid_request",
        ),
        (
            json!({"tenant": "acme", "name": "x", "type": "webtag", "colour": "red"}),
            400,
            "invalid_request",
        ),
        (
            json!({"tenant": "initech", "name": "x", "type": "webtag"}),
            404,
            "not_found",
        ),
    ] {
        api.post("/admin/api/instances", body)
            .await
            .expect_error(status, error);
    }
    api.post(
        "/admin/api/tenants",
        json!({"name": "acme", "environment": "cs", "oauth_enabled": false}),
    )
    .await
    .expect_error(409, "conflict");
    api.post(
        "/admin/api/tenants",
        json!({"name": "moon", "environment": "moon", "oauth_enabled": false}),
    )
    .await
    .expect_error(400, "invalid_request");
    api.get("/admin/api/instances/nobody")
        .await
        .expect_error(404, "not_found");
    api.get("/admin/api/audit?action=no.such.thing")
        .await
        .expect_error(400, "invalid_request");

    // A token is revoked only through its own instance.
    api.delete(&format!(
        "/admin/api/instances/{}/tokens/{other_token_id}",
        loader.username
    ))
    .await
    .expect_error(404, "not_found");
    http::extend(&api.server, &other_token).await.ok();

    // Listings filter by tenant.
    let acme = api.get("/admin/api/instances?tenant=acme").await;
    assert_eq!(acme.ok().as_array().map(Vec::len), Some(2));
    let globex = api.get("/admin/api/instances?tenant=globex").await;
    assert_eq!(globex.ok(), &json!([]));
}

// ---------------------------------------------------------------------------------------------
// A signed-in browser calling the API

#[tokio::test]
async fn a_session_writes_through_the_api_only_with_its_csrf_header() {
    let (api, instance) = setup_with_instance();
    let id = instance.json["id"].as_str().expect("id");
    let token = http::a1user_token(&api.server, &instance).await;
    let mut browser = Browser::signed_in(&api.server, &api.admin).await;
    let csrf = browser.csrf().await;
    let globex = json!({"name": "globex", "environment": "cs", "oauth_enabled": false});
    let revoke_all = format!("/admin/api/instances/{id}/tokens");

    // Reads need no header.
    let listed = browser
        .api(Method::GET, "/admin/api/tenants", None, None)
        .await;
    assert_eq!(listed.ok().as_array().map(Vec::len), Some(1));

    for header in [None, Some(""), Some("not-the-token")] {
        browser
            .api(Method::POST, "/admin/api/tenants", header, Some(&globex))
            .await
            .expect_error(403, "invalid_csrf_token");
        browser
            .api(Method::DELETE, &revoke_all, header, None)
            .await
            .expect_error(403, "invalid_csrf_token");
    }
    let listed = api.get("/admin/api/tenants").await;
    assert_eq!(listed.ok().as_array().map(Vec::len), Some(1));
    http::extend(&api.server, &token).await.ok();

    let created = browser
        .api(
            Method::POST,
            "/admin/api/tenants",
            Some(&csrf),
            Some(&globex),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let revoked = browser
        .api(Method::DELETE, &revoke_all, Some(&csrf), None)
        .await;
    assert_eq!(revoked.ok(), &json!({"revoked": 1}));
    http::extend(&api.server, &token)
        .await
        .expect_error(401, "invalid_token");
    // The audit log names the signed-in admin.
    let entries = api.audit("action=tenant.created").await;
    assert_eq!(entries[0]["actor"], "ops");
    assert_eq!(
        entries[0]["detail"].as_str().map(|d| d.contains("globex")),
        Some(true)
    );
}

// ---------------------------------------------------------------------------------------------
// The audit log

#[tokio::test]
async fn the_audit_log_filters_and_pages() {
    let mut instances = Vec::new();
    let api = setup_then(|d| {
        d.tenant_without_oauth("acme", "uat");
        d.tenant_without_oauth("globex", "cs");
        instances.push(d.instance("acme", "loader", "dw-tracker"));
        instances.push(d.instance("globex", "tagger", "webtag"));
    });
    for instance in &instances {
        http::a1user_token(&api.server, instance).await;
    }
    let loader = &instances[0];
    let loader_id = loader.json["id"].as_str().expect("id");

    let everything = api.audit("").await;
    assert_eq!(everything.len(), 8, "{everything:?}");
    for entry in &everything {
        assert_keys(
            entry,
            &[
                "id",
                "at",
                "actor",
                "action",
                "tenant_id",
                "instance_id",
                "source",
                "detail",
            ],
        );
        assert!(
            entry["at"].as_str().is_some_and(|at| at.ends_with('Z')),
            "{entry}"
        );
    }
    let ids: Vec<i64> = everything.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let created = api.audit("action=instance.created").await;
    assert_eq!(
        actions(&created),
        vec![("instance.created".to_owned(), "cli".to_owned()); 2]
    );
    assert_eq!(api.audit("actor=cli").await.len(), 6);
    let of_loader = api.audit(&format!("instance={loader_id}")).await;
    assert_eq!(
        actions(&of_loader),
        [
            ("token.issued".to_owned(), loader.username.clone()),
            ("instance.created".to_owned(), "cli".to_owned()),
        ]
    );
    let of_acme = api.audit(&format!("tenant={}", loader.tenant_id)).await;
    assert_eq!(of_acme.len(), 3, "tenant, instance, token: {of_acme:?}");

    // Pages of two, each continuing where the last stopped.
    let mut paged = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = api.audit(&query).await;
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        query = format!("limit=2&before={}", last["id"]);
        paged.extend(page);
    }
    assert_eq!(paged, everything);
}

#[tokio::test]
async fn failed_sign_ins_are_audited_without_what_was_tried() {
    let (api, instance) = setup_with_instance();
    let guess = "Guessed-Password-4711";
    http::login_as(&api.server, &instance.username, guess)
        .await
        .expect_error(401, "invalid_client");
    let mut browser = Browser::new(&api.server);
    assert_eq!(browser.sign_in("ops", guess).await.status, 401);

    let failed = api
        .audit_once("action=sign_in.failed", |e| e.len() >= 2)
        .await;
    let mut seen: Vec<(String, String)> = failed
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or_default().to_owned(),
                e["detail"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("ops".to_owned(), "admin password".to_owned()),
            (instance.username.clone(), "instance password".to_owned()),
        ]
    );
    for entry in &failed {
        assert_eq!(entry["source"], "127.0.0.1", "{entry}");
    }
    assert_no_secret(&api.get("/admin/api/audit").await, &[guess]);
}

// ---------------------------------------------------------------------------------------------
// Administrators and their API tokens

/// A request to the admin API with some other token.
async fn with_token(server: &Server, token: &str, path: &str) -> Reply {
    send_admin(
        server.get(path).header(AUTHORIZATION, bearer(token)),
        format!("GET {path} with another token"),
    )
    .await
}

#[tokio::test]
async fn admin_api_tokens_are_listed_revoked_and_expire() {
    let api = setup();
    let issued = api.post("/admin/api/admins/ops/tokens", json!({})).await;
    assert_eq!(issued.status, 201, "{issued:?}");
    assert_keys(&issued.json, &["token", "id", "expires_at"]);
    let token = issued.json["token"].as_str().expect("token").to_owned();
    let id = issued.json["id"].as_i64().expect("a numeric id");
    assert_eq!(issued.header(CACHE_CONTROL), "no-store");
    // The default lifetime is 90 days.
    let expires = issued.json["expires_at"].as_str().expect("expires_at");
    let in_90_days = time_in(90 * 24 * 3600);
    assert_eq!(&expires[..10], &in_90_days[..10], "{expires}");
    with_token(&api.server, &token, "/admin/api/tenants")
        .await
        .ok();

    let listed = api.get("/admin/api/admins/ops/tokens").await;
    let listed = listed.ok().as_array().expect("a list").clone();
    assert_eq!(listed.len(), 2, "the setup token and this one: {listed:?}");
    for entry in &listed {
        assert_keys(entry, &["id", "created_at", "expires_at", "last_used_at"]);
    }
    let this_one = listed.iter().find(|t| t["id"] == id).expect("listed");
    assert!(this_one["last_used_at"].is_string(), "{this_one}");
    assert_no_secret(
        &api.get("/admin/api/admins/ops/tokens").await,
        &[&token, &api.token],
    );

    let revoked = api
        .delete(&format!("/admin/api/admins/ops/tokens/{id}"))
        .await;
    assert_eq!(revoked.ok(), &json!({"revoked": 1}));
    with_token(&api.server, &token, "/admin/api/tenants")
        .await
        .expect_error(401, "invalid_token");
    api.delete(&format!("/admin/api/admins/ops/tokens/{id}"))
        .await
        .expect_error(404, "not_found");

    let short = api
        .post("/admin/api/admins/ops/tokens", json!({"expires_in": "2s"}))
        .await;
    let short = short.json["token"].as_str().expect("token").to_owned();
    with_token(&api.server, &short, "/admin/api/tenants")
        .await
        .ok();
    // Expiry is kept in whole seconds, so a 2 s token lives at least 1 s.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    with_token(&api.server, &short, "/admin/api/tenants")
        .await
        .expect_error(401, "invalid_token");
    api.post(
        "/admin/api/admins/ops/tokens",
        json!({"expires_in": "soon"}),
    )
    .await
    .expect_error(400, "invalid_request");

    let actions: Vec<String> = api
        .audit("action=admin.api_token_revoked")
        .await
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(actions, [format!("ops token {id}")]);
}

/// RFC 3339 of now plus `secs`, as the server writes it.
fn time_in(secs: u64) -> String {
    let at = std::time::SystemTime::now() + Duration::from_secs(secs);
    let days = at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        / 86_400;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[tokio::test]
async fn admins_are_disabled_enabled_reset_and_deleted_but_never_the_last() {
    let api = setup();
    let created = api
        .post("/admin/api/admins", json!({"username": "dev"}))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_keys(&created.json, &["username", "password"]);
    let dev_password = created.json["password"]
        .as_str()
        .expect("password")
        .to_owned();
    let dev_token = api.post("/admin/api/admins/dev/tokens", json!({})).await;
    let dev_token = dev_token.json["token"].as_str().expect("token").to_owned();
    let listed = api.get("/admin/api/admins").await;
    let names: Vec<_> = listed
        .ok()
        .as_array()
        .expect("list")
        .iter()
        .map(|a| (a["username"].clone(), a["enabled"].clone()))
        .collect();
    assert_eq!(
        names,
        [(json!("dev"), json!(true)), (json!("ops"), json!(true))]
    );
    assert_no_secret(&listed, &[&dev_password, &dev_token, &api.token]);

    let mut browser = Browser::new(&api.server);
    assert_eq!(browser.sign_in("dev", &dev_password).await.status, 303);
    let disabled = api.post("/admin/api/admins/dev/disable", json!({})).await;
    assert_eq!(disabled.ok()["enabled"], false);
    with_token(&api.server, &dev_token, "/admin/api/tenants")
        .await
        .expect_error(401, "invalid_token");
    // Its session ended, and it cannot sign in again.
    assert_eq!(browser.get("/ui/instances").await.status, 303);
    assert_eq!(
        Browser::new(&api.server)
            .sign_in("dev", &dev_password)
            .await
            .status,
        401
    );

    let enabled = api.post("/admin/api/admins/dev/enable", json!({})).await;
    assert_eq!(enabled.ok()["enabled"], true);
    with_token(&api.server, &dev_token, "/admin/api/tenants")
        .await
        .ok();
    assert_eq!(
        Browser::new(&api.server)
            .sign_in("dev", &dev_password)
            .await
            .status,
        303
    );

    let reset = api
        .post("/admin/api/admins/dev/reset-password", json!({}))
        .await;
    assert_keys(reset.ok(), &["username", "password"]);
    let new_password = reset.ok()["password"].as_str().expect("password");
    assert!(is_generated_password(new_password));
    assert_eq!(
        Browser::new(&api.server)
            .sign_in("dev", &dev_password)
            .await
            .status,
        401
    );
    assert_eq!(
        Browser::new(&api.server)
            .sign_in("dev", new_password)
            .await
            .status,
        303
    );

    // ops is the only other enabled admin: with dev disabled, ops is the last.
    api.post("/admin/api/admins/dev/disable", json!({}))
        .await
        .ok();
    let refused = api.post("/admin/api/admins/ops/disable", json!({})).await;
    refused.expect_error(409, "conflict");
    assert!(
        refused.description().contains("last enabled admin"),
        "{refused:?}"
    );
    api.delete("/admin/api/admins/ops")
        .await
        .expect_error(409, "conflict");
    with_token(&api.server, &api.token, "/admin/api/tenants")
        .await
        .ok();

    // 204 without a body, which `send_admin` would refuse.
    let deleted = api
        .server
        .request(Method::DELETE, "/admin/api/admins/dev")
        .header(AUTHORIZATION, bearer(&api.token))
        .send()
        .await
        .expect("delete dev");
    assert_eq!(deleted.status(), 204);
    api.get("/admin/api/admins/dev/tokens")
        .await
        .expect_error(404, "not_found");
    api.delete("/admin/api/admins/nobody")
        .await
        .expect_error(404, "not_found");
    api.delete("/admin/api/admins/ops")
        .await
        .expect_error(409, "conflict");

    let audited: BTreeSet<String> = api
        .audit("actor=ops")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    for action in [
        "admin.created",
        "admin.disabled",
        "admin.enabled",
        "admin.password_reset",
        "admin.deleted",
        "admin.api_token_created",
    ] {
        assert!(audited.contains(action), "{action} not in {audited:?}");
    }
    assert_no_secret(
        &api.get("/admin/api/audit").await,
        &[&dev_password, new_password, &dev_token],
    );
}

#[tokio::test]
async fn a_password_typed_as_a_username_is_audited_as_a_fingerprint() {
    let (api, _instance) = setup_with_instance();
    let typed = "Correct-Horse-Battery-9";
    http::login_as(&api.server, typed, "whatever")
        .await
        .expect_error(401, "invalid_client");
    assert_eq!(
        Browser::new(&api.server).sign_in(typed, "x").await.status,
        401
    );
    let failed = api
        .audit_once("action=sign_in.failed", |e| e.len() >= 2)
        .await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    let actor = failed[0]["actor"].as_str().expect("actor");
    assert!(
        actor.starts_with("unknown:") && actor.len() == 20,
        "{actor}"
    );
    // The same name gets the same fingerprint, whichever door it knocked on.
    assert_eq!(failed[1]["actor"], actor);
    assert_no_secret(&api.get("/admin/api/audit").await, &[typed]);
}

// ---------------------------------------------------------------------------------------------
// Postman exports

#[tokio::test]
async fn the_postman_exports_have_the_walk_through_and_every_variable() {
    let (api, instance) = setup_with_instance();
    let id = instance.json["id"].as_str().expect("id");

    let collection = api.get(&format!("/postman/{id}/collection.json")).await;
    let json = collection.ok();
    assert_eq!(
        collection.header(CONTENT_DISPOSITION),
        format!(
            "attachment; filename=\"cdp-auth-{}.postman_collection.json\"",
            instance.username
        )
    );
    assert_eq!(
        json["info"]["schema"],
        "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    );
    let items = json["item"].as_array().expect("items");
    let names: Vec<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, POSTMAN_ITEMS);
    let expected = [
        ("POST", "basic"),
        ("GET", "basic"),
        ("POST", "bearer"),
        ("POST", "basic"),
        ("DELETE", "bearer"),
        ("DELETE", "basic"),
    ];
    for (item, (method, auth)) in items.iter().zip(expected) {
        let request = &item["request"];
        assert_eq!(request["method"], method, "{item}");
        assert_eq!(request["auth"]["type"], auth, "{item}");
        assert!(
            request["url"]["raw"]
                .as_str()
                .is_some_and(|raw| raw.starts_with("{{auth_host_url}}/")),
            "{item}"
        );
        let tests = &item["event"][0];
        assert_eq!(tests["listen"], "test", "{item}");
        let exec = tests["script"]["exec"].as_array().expect("script lines");
        assert!(
            exec.iter().any(|line| line
                .as_str()
                .is_some_and(|l| l.contains("to.have.status(200)"))),
            "{item} checks no status"
        );
    }

    let environment = api.get(&format!("/postman/{id}/environment.json")).await;
    assert!(
        environment
            .header(CONTENT_DISPOSITION)
            .ends_with(".postman_environment.json\""),
        "{environment:?}"
    );
    let values = environment_values(environment.ok());
    let keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "auth_host_url",
            "api_host_url",
            "tenant_id",
            "username",
            "password",
            "access_token",
            "created_token",
        ]
    );
    let values: HashMap<String, String> = values.into_iter().collect();
    assert_eq!(values["auth_host_url"], api.server.base);
    assert_eq!(values["api_host_url"], api.server.base);
    assert_eq!(values["tenant_id"], instance.tenant_id);
    assert_eq!(values["username"], instance.username);
    assert_eq!(values["password"], "", "to be filled in by the user");
    assert_no_secret(&environment, &[&instance.password]);
    assert_no_secret(&collection, &[&instance.password]);

    // By username too; an unknown instance is not found.
    let by_name = api
        .get(&format!("/postman/{}/collection.json", instance.username))
        .await;
    assert_eq!(by_name.ok(), json);
    api.get("/postman/999/environment.json")
        .await
        .expect_error(404, "not_found");
}

/// `(key, value)` of each variable of a Postman environment, in order.
fn environment_values(environment: &Value) -> Vec<(String, String)> {
    environment["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| {
            (
                v["key"].as_str().expect("key").to_owned(),
                v["value"].as_str().expect("value").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_postman_collection_runs_in_order_against_the_server() {
    let (api, instance) = setup_with_instance();
    let id = instance.json["id"].as_str().expect("id");
    let collection = api.get(&format!("/postman/{id}/collection.json")).await;
    let environment = api.get(&format!("/postman/{id}/environment.json")).await;
    let mut variables: HashMap<String, String> =
        environment_values(environment.ok()).into_iter().collect();
    // The one edit a user makes.
    variables.insert("password".into(), instance.password.clone());

    // What newman would do: each request in order, its variables filled in, and the
    // `pm.environment.set(…, body.access_token)` of its script applied.
    let mut answers = Vec::new();
    for item in collection.ok()["item"].as_array().expect("items") {
        let reply = run_postman_request(&api.server, item, &variables).await;
        assert_eq!(reply.status, 200, "{}: {reply:?}", item["name"]);
        for line in item["event"][0]["script"]["exec"]
            .as_array()
            .expect("script")
        {
            let line = line.as_str().unwrap_or_default();
            if let Some(rest) = line.strip_prefix("pm.environment.set('")
                && let Some((variable, _)) = rest.split_once('\'')
                && line.contains("body.access_token")
            {
                let token = reply.json["access_token"].as_str().expect("access_token");
                variables.insert(variable.to_owned(), token.to_owned());
            }
        }
        answers.push(reply.json.clone());
    }
    let [login, daily, extended, created, revoke_one, revoke_all] =
        answers.try_into().expect("six answers");
    assert_eq!(login["username"], instance.username.as_str());
    assert_eq!(daily["access_token"], login["access_token"]);
    assert_eq!(extended["access_token"], login["access_token"]);
    assert_ne!(created["access_token"], login["access_token"]);
    assert_eq!(revoke_one, json!({"revoked": 1}));
    assert_eq!(revoke_all, json!({"revoked": 1}));
    let tokens = api.get(&format!("/admin/api/instances/{id}/tokens")).await;
    assert_eq!(tokens.ok(), &json!([]));
}

/// Sends one request of a Postman collection with `{{variables}}` filled in.
async fn run_postman_request(
    server: &Server,
    item: &Value,
    variables: &HashMap<String, String>,
) -> Reply {
    let fill = |text: &str| {
        variables
            .iter()
            .fold(text.to_owned(), |text, (key, value)| {
                text.replace(&format!("{{{{{key}}}}}"), value)
            })
    };
    let request = &item["request"];
    let method: Method = request["method"]
        .as_str()
        .and_then(|m| m.parse().ok())
        .expect("method");
    let url = fill(request["url"]["raw"].as_str().expect("url"));
    let mut builder = server.client.request(method, url);
    for header in request["header"].as_array().into_iter().flatten() {
        builder = builder.header(
            header["key"].as_str().expect("header name"),
            fill(header["value"].as_str().expect("header value")),
        );
    }
    let auth = &request["auth"];
    let parameter = |kind: &str, key: &str| {
        auth[kind]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["key"] == key))
            .and_then(|p| p["value"].as_str())
            .map(fill)
            .unwrap_or_else(|| panic!("no {kind} {key} in {auth}"))
    };
    builder = match auth["type"].as_str() {
        Some("basic") => builder.header(
            AUTHORIZATION,
            basic_pair(
                &parameter("basic", "username"),
                &parameter("basic", "password"),
            ),
        ),
        Some("bearer") => builder.header(AUTHORIZATION, bearer(&parameter("bearer", "token"))),
        other => panic!("unexpected auth {other:?}"),
    };
    send(builder, item["name"].as_str().unwrap_or_default()).await
}

// ---------------------------------------------------------------------------------------------
// A tenant's secureApi tokens

/// Mints a secureApi profile token for the tenant with these headers (`tenant_hash`, and
/// `oauth_key_secret` when given).
async fn secure_api_token(server: &Server, tenant_hash: &str, secret: Option<&str>) -> String {
    let mut request = server
        .post("/secureApi/token/profile/create")
        .header("tenant_hash", tenant_hash)
        .json(&json!({"resource": ["basic"]}));
    if let Some(secret) = secret {
        request = request.header("oauth_key_secret", secret);
    }
    let reply = send(request, "secureApi create").await;
    reply.ok()["token"].as_str().expect("token").to_owned()
}

/// Whether `token` introspects active, asked by `caller`.
async fn active(server: &Server, caller: &Instance, token: &str) -> bool {
    let reply = http::introspect(server, http::Client::basic(caller), token).await;
    reply.ok()["active"] == true
}

#[tokio::test]
async fn deleting_a_tenants_tokens_revokes_its_secure_api_tokens_at_once() {
    let (api, loader) = setup_with_instance();
    let hash = api.get("/admin/api/tenants").await.ok()[0]["tenant_hash"]
        .as_str()
        .expect("tenant_hash")
        .to_owned();
    let first = secure_api_token(&api.server, &hash, None).await;
    let second = secure_api_token(&api.server, &hash, None).await;
    let a1user = http::a1user_token(&api.server, &loader).await;
    assert!(active(&api.server, &loader, &first).await);

    let revoked = api.delete("/admin/api/tenants/acme/tokens").await;
    assert_eq!(revoked.ok(), &json!({"revoked": 2}));
    // This process refuses them at once; the instance's own a1user token is not the tenant's
    // secureApi token and goes on working.
    assert!(!active(&api.server, &loader, &first).await);
    assert!(!active(&api.server, &loader, &second).await);
    http::extend(&api.server, &a1user).await.ok();
    let again = api.delete("/admin/api/tenants/acme/tokens").await;
    assert_eq!(again.ok(), &json!({"revoked": 0}));
    api.delete("/admin/api/tenants/initech/tokens")
        .await
        .expect_error(404, "not_found");

    let audit = api.audit("action=token.revoked_all").await;
    assert_eq!(actions(&audit).len(), 2, "{audit:?}");
    assert_eq!(audit[1]["detail"], "acme: 2 secure_api tokens", "{audit:?}");
    assert_no_secret(&api.get("/admin/api/audit").await, &[&first, &second]);
}

#[tokio::test]
async fn rotating_a_secret_through_the_api_ends_its_tokens_at_once() {
    let mut loader = None;
    let api = setup_then(|d| {
        d.tenant("acme", "uat");
        loader = Some(d.instance("acme", "loader", "dw-tracker"));
    });
    let loader = loader.expect("instance");
    let off = api
        .send(
            Method::PUT,
            "/admin/api/tenants/acme/oauth",
            Some(json!({"enabled": false})),
        )
        .await;
    let hash = off.ok()["tenant_hash"].as_str().expect("hash").to_owned();
    let unchecked = secure_api_token(&api.server, &hash, None).await;
    let rotated = api
        .post("/admin/api/tenants/acme/rotate-secret", json!({}))
        .await;
    // With OAuth off no secret was checked for the token: a rotation leaves it alone...
    assert!(rotated.ok().get("tokens_ended").is_none(), "{rotated:?}");
    let secret = rotated.json["oauth_key_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert!(active(&api.server, &loader, &unchecked).await);
    // ...and turning OAuth on ends it.
    let on = api
        .send(
            Method::PUT,
            "/admin/api/tenants/acme/oauth",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(on.ok()["tokens_ended"], 1, "{on:?}");
    assert!(!active(&api.server, &loader, &unchecked).await);

    let checked = secure_api_token(&api.server, &hash, Some(&secret)).await;
    let rotated = api
        .post("/admin/api/tenants/acme/rotate-secret", json!({}))
        .await;
    assert_eq!(rotated.ok()["tokens_ended"], 1, "{rotated:?}");
    assert!(!active(&api.server, &loader, &checked).await);
    let audit = api.audit("action=tenant.secret_rotated").await;
    assert_eq!(
        audit[0]["detail"], "acme: 1 secure_api token ended",
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_admin_api_body_naming_a_key_twice_is_invalid_request() {
    let api = setup_then(|d| {
        d.tenant_without_oauth("acme", "cs");
    });
    let raw = |method: Method, path: &str, body: &str| {
        let request = api
            .server
            .request(method.clone(), path)
            .header(AUTHORIZATION, bearer(&api.token))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        send_admin(request, format!("{method} {path} {body}"))
    };
    for (method, path, body, key) in [
        (
            Method::POST,
            "/admin/api/tenants",
            r#"{"name":"globex","environment":"cs","name":"initech"}"#,
            "name",
        ),
        (
            Method::PUT,
            "/admin/api/tenants/acme/oauth",
            r#"{"enabled":false,"enabled":true}"#,
            "enabled",
        ),
        // Deep inside a segment rule, which is free JSON.
        (
            Method::PUT,
            "/admin/api/tenants/acme/segments/vip",
            r#"{"rule":{"all":[{"field":"email","op":"exists","op":"eq"}]}}"#,
            "op",
        ),
    ] {
        let reply = raw(method, path, body).await;
        reply.expect_error(400, "invalid_request");
        let expected = format!("the key \"{key}\" appears twice");
        assert!(reply.description().contains(&expected), "{reply:?}");
    }
    let tenants = api.get("/admin/api/tenants").await;
    assert_eq!(
        tenants.ok().as_array().map(Vec::len),
        Some(1),
        "{tenants:?}"
    );
    assert_eq!(tenants.json[0]["oauth_enabled"], false);
    let segments = api.get("/admin/api/tenants/acme/segments").await;
    assert_eq!(segments.ok(), &json!([]));
}

// ---------------------------------------------------------------------------------------------
// Names

#[tokio::test]
async fn tenant_names_are_unique_ignoring_case_and_compatibility_forms() {
    let api = setup();
    let create = |name: &str| {
        api.post(
            "/admin/api/tenants",
            json!({"name": name, "environment": "cs", "oauth_enabled": false}),
        )
    };
    assert_eq!(create("acme").await.status, 201);
    assert_eq!(create("full").await.status, 201);
    for taken in ["ACME", "Acme", "ｆｕｌｌ", "ＦＵＬＬ"] {
        let refused = create(taken).await;
        refused.expect_error(409, "conflict");
        assert!(
            refused.description().contains("ignoring case"),
            "{refused:?}"
        );
    }
    // A Cyrillic а among Latin letters.
    let mixed = create("\u{430}cme").await;
    mixed.expect_error(400, "invalid_request");
    assert!(mixed.description().contains("mixes scripts"), "{mixed:?}");
    // One script, not Latin, is an ordinary name.
    assert_eq!(create("Ελλάδα").await.status, 201);
    assert_eq!(create("東京").await.status, 201);
    assert_eq!(create("ελλάδα").await.status, 409);

    // A name finds its tenant whatever its case.
    let listed = api.get("/admin/api/tenants").await;
    let names: Vec<&str> = listed
        .ok()
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["acme", "full", "Ελλάδα", "東京"]);
    let segments = api.get("/admin/api/tenants/ACME/segments").await;
    assert_eq!(segments.ok(), &json!([]));
    api.get("/admin/api/tenants/\u{430}cme/segments")
        .await
        .expect_error(404, "not_found");
}
