//! PostgreSQL deployments: several replicas on one database, moving a deployment between
//! SQLite and PostgreSQL, `migrate`, health checks. These need a PostgreSQL server
//! (`CDP_AUTH_TEST_POSTGRES=postgres://USER@HOST:PORT`); without one they say so and pass,
//! unless `CDP_AUTH_REQUIRE_POSTGRES` is set (as CI does), when they fail.

mod support;

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, ORIGIN};
use serde_json::{Value, json};
use support::http::{self, Client, Reply, a1user_token, basic, bearer};
use support::{Deployment, Instance, Server, postgres_server};

/// The PostgreSQL server, or `None` after printing why the test does nothing.
fn postgres() -> Option<String> {
    let server = postgres_server();
    if server.is_none() {
        assert!(
            std::env::var_os("CDP_AUTH_REQUIRE_POSTGRES").is_none(),
            "CDP_AUTH_REQUIRE_POSTGRES is set but CDP_AUTH_TEST_POSTGRES names no server"
        );
        eprintln!("skipped: set CDP_AUTH_TEST_POSTGRES=postgres://USER@HOST:PORT to run");
    }
    server
}

/// Polls `check` until it holds or `within` passes; returns how long it took.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "not seen within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_replicas_share_tokens_and_honour_each_others_revocations() {
    let Some(_) = postgres() else { return };
    let deployment = Deployment::new();
    assert!(deployment.is_postgres());
    deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let a = deployment.serve();
    let b = deployment.serve();

    // A token minted on A works on B; revoked on B, A refuses it within 1 s.
    let token = a1user_token(&a, &instance).await;
    http::extend(&b, &token).await.ok();
    let revoke = b.delete("/token?scheme=a1user").bearer_auth(&token);
    http::send(revoke, "revoke one").await.ok();
    eventually(Duration::from_secs(1), || async {
        http::extend(&a, &token).await.status == 401
    })
    .await;

    // Revoke-all on A: B refuses every token.
    let first = a1user_token(&b, &instance).await;
    let revoke_all = a
        .delete("/token?scheme=a1user")
        .basic_auth(&instance.username, Some(&instance.password));
    http::send(revoke_all, "revoke all").await.ok();
    eventually(Duration::from_secs(1), || async {
        http::extend(&b, &first).await.status == 401
    })
    .await;

    // Password rotation (made by the CLI on the shared database): the old password stops
    // working on both replicas.
    deployment.cli_json(&["instance", "rotate-password", &instance.username, "--json"]);
    for server in [&a, &b] {
        eventually(Duration::from_secs(1), || async {
            http::login(server, &instance).await.status == 401
        })
        .await;
    }

    // Disabling the instance stops its tokens on both replicas.
    let other = deployment.instance("acme", "second", "dw-tracker");
    let token = a1user_token(&a, &other).await;
    deployment.cli_json(&["instance", "disable", &other.username, "--json"]);
    for server in [&a, &b] {
        eventually(Duration::from_secs(1), || async {
            http::extend(server, &token).await.status == 403
        })
        .await;
    }
}

/// Whether `token` introspects active on `server`, asked by `caller`.
async fn introspects_active(server: &Server, caller: &Instance, token: &str) -> bool {
    let reply = http::introspect(server, Client::basic(caller), token).await;
    reply.ok()["active"] == true
}

#[tokio::test]
async fn secret_rotation_and_tenant_revocation_reach_every_replica() {
    let Some(_) = postgres() else { return };
    let deployment = Deployment::new();
    let acme = deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    deployment.admin("ops");
    let admin_token = deployment.admin_api_token("ops");
    let (a, b) = (deployment.serve(), deployment.serve());
    let hash = acme["tenant_hash"].as_str().expect("hash").to_owned();
    let admin = |server: &Server, method: reqwest::Method, path: &str| {
        let request = server
            .request(method, path)
            .header(AUTHORIZATION, bearer(&admin_token));
        http::send(request, path.to_owned())
    };

    // Minted on A, honoured (and so cached) on B; the rotation made through A ends it on A at
    // once and on B within a second.
    let secret = acme["oauth_key_secret"].as_str().expect("secret");
    let token = secure_create(&a, &hash, secret).await.ok()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert!(introspects_active(&b, &instance, &token).await);
    let rotated = admin(
        &a,
        reqwest::Method::POST,
        "/admin/api/tenants/acme/rotate-secret",
    )
    .await;
    assert_eq!(rotated.ok()["tokens_ended"], 1, "{rotated:?}");
    assert!(!introspects_active(&a, &instance, &token).await);
    eventually(Duration::from_secs(1), || async {
        !introspects_active(&b, &instance, &token).await
    })
    .await;

    // The new secret mints on B; revoking the tenant's tokens through B ends it on A.
    let secret = rotated.json["oauth_key_secret"]
        .as_str()
        .expect("new secret");
    let token = secure_create(&b, &hash, secret).await.ok()["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert!(introspects_active(&a, &instance, &token).await);
    let revoked = admin(
        &b,
        reqwest::Method::DELETE,
        "/admin/api/tenants/acme/tokens",
    )
    .await;
    assert_eq!(revoked.ok(), &json!({"revoked": 1}));
    assert!(!introspects_active(&b, &instance, &token).await);
    eventually(Duration::from_secs(1), || async {
        !introspects_active(&a, &instance, &token).await
    })
    .await;
}

#[tokio::test]
async fn token_limits_hold_across_replicas() {
    let Some(_) = postgres() else { return };
    let deployment = Deployment::new();
    deployment.tenant("acme", "prod");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let (a, b) = (deployment.serve(), deployment.serve());
    let mut creates = Vec::new();
    for i in 0..12 {
        let server = if i % 2 == 0 { &a } else { &b };
        let request = server
            .post("/token?scheme=a1user&action=create")
            .basic_auth(&instance.username, Some(&instance.password));
        creates.push(http::send(request, format!("create #{i}")));
    }
    let mut created = 0;
    for reply in futures_join(creates).await {
        assert!(reply.status == 200 || reply.status == 409, "{reply:?}");
        created += usize::from(reply.status == 200);
    }
    assert_eq!(created, 3, "prod allows 3 active tokens per instance");
}

/// Awaits every future concurrently.
async fn futures_join<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

#[tokio::test]
async fn health_and_readiness() {
    let Some(_) = postgres() else { return };
    let deployment = Deployment::new();
    let server = deployment.serve();
    for path in ["/healthz", "/readyz"] {
        let reply = http::send(server.get(path), path).await;
        assert_eq!(reply.ok()["status"], "ok", "{reply:?}");
    }
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let Some(_) = postgres() else { return };
    let deployment = Deployment::new();
    let output = deployment.cli(&["migrate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The schema is there: a tenant can be created without any further migration.
    deployment.tenant("acme", "cs");
}

#[test]
fn an_unreachable_database_is_retried_then_reported() {
    let Some(_) = postgres() else { return };
    let deployment = Deployment::new();
    let started = Instant::now();
    let output = deployment
        .command(&["tenant", "list", "--json"])
        .env("CDP_AUTH_DATABASE", "postgres://postgres@127.0.0.1:1/none")
        .env("CDP_AUTH_DB_CONNECT_TIMEOUT", "1s")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("database"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Everything a populated deployment holds, and the credentials to check it with.
struct Populated {
    instance: Instance,
    tenant_hash: String,
    oauth_key_secret: String,
    a1user_token: String,
    oauth_token: String,
    secure_token: String,
    admin_token: String,
    cdp: CustomerData,
}

/// The customer data of a populated deployment, with the credentials that read it back.
struct CustomerData {
    tenant_id: String,
    /// A dw-tracker token (the `a1user_token` of `instance`).
    tracker_token: String,
    /// A profiles-360 token.
    profiles_token: String,
    /// A secureApi `gdpr` token.
    gdpr_token: String,
    /// The WebTag browser key.
    access_key: String,
    /// The done GDPR access request: its id and `gdprRequestStatus` data.
    gdpr_request: (String, Value),
    /// What a profiles-360 pull answered, and what `segment list` printed.
    expected: Expected,
}

/// What the customer data reads as, to compare a copy with.
#[derive(Clone)]
struct Expected {
    customers: Value,
    segments: Value,
}

const SHOP: &str = "https://shop.example";

/// The body of the first push, sent with `Idempotency-Key: copy-1`.
fn first_push() -> Value {
    json!([
        {"SourceCustomerNumber": "C-1", "Email": "ann@example.com", "FirstName": "Ann",
         "Type": "emailOpen", "Subtype": "spring", "EventTimeStamp": "2026-11-20T10:00:00Z"},
        {"SourceCustomerNumber": "C-1", "Email": "ann@example.com", "FirstName": "Ann",
         "Type": "checkout", "Subtype": "SKU-1", "EventTimeStamp": "2026-11-21T10:00:00Z"},
        {"SourceCustomerNumber": "C-2", "Email": "bob@example.org", "FirstName": "Bob",
         "Type": "emailOpen", "Subtype": "spring", "EventTimeStamp": "2026-11-20T11:00:00Z"},
    ])
}

async fn populate(deployment: &Deployment) -> Populated {
    let tenant = deployment.tenant("acme", "uat");
    let instance = deployment.instance("acme", "loader", "dw-tracker");
    let profiles = deployment.instance("acme", "profiles", "profiles-360");
    deployment.cli_json(&["admin", "create", "--username", "ops", "--json"]);
    let admin_token =
        deployment.cli_json(&["admin", "api-token", "--username", "ops", "--json"])["token"]
            .as_str()
            .unwrap()
            .to_owned();
    let server = deployment.serve();
    let a1user_token = a1user_token(&server, &instance).await;
    let oauth_token = http::post_form(
        &server,
        "/oauth/token",
        Client::basic(&instance),
        &[("grant_type", "client_credentials")],
    )
    .await
    .access_token();
    let tenant_hash = tenant["tenant_hash"].as_str().unwrap().to_owned();
    let oauth_key_secret = tenant["oauth_key_secret"].as_str().unwrap().to_owned();
    let secure = secure_create(&server, &tenant_hash, &oauth_key_secret).await;
    let cdp = populate_customer_data(
        deployment,
        &server,
        &instance,
        &profiles,
        &a1user_token,
        &tenant_hash,
        &oauth_key_secret,
    )
    .await;
    Populated {
        instance,
        tenant_hash,
        oauth_key_secret,
        a1user_token,
        oauth_token,
        secure_token: secure.ok()["token"].as_str().unwrap().to_owned(),
        admin_token,
        cdp,
    }
}

/// Pushes records with events (twice under one idempotency key), defines a segment, creates
/// a WebTag instance and key, and has a GDPR access request processed.
async fn populate_customer_data(
    deployment: &Deployment,
    server: &Server,
    tracker: &Instance,
    profiles: &Instance,
    tracker_token: &str,
    tenant_hash: &str,
    oauth_key_secret: &str,
) -> CustomerData {
    let tenant_id = tracker.tenant_id.clone();
    let pushed = push(server, &tenant_id, tracker_token, "copy-1", &first_push()).await;
    assert_eq!(pushed.json, json!({"accepted": 3}), "{pushed:?}");
    deployment.cli_json(&[
        "segment",
        "set",
        "--tenant",
        "acme",
        "--name",
        "vip",
        "--rule",
        r#"{"emailDomain":"example.com"}"#,
        "--json",
    ]);
    let webtag = deployment.cli_json(&[
        "instance", "create", "--tenant", "acme", "--name", "tag", "--type", "webtag", "--origin",
        SHOP, "--json",
    ]);
    let webtag = Instance {
        username: webtag["username"].as_str().unwrap().to_owned(),
        password: webtag["password"].as_str().unwrap().to_owned(),
        tenant_id: tenant_id.clone(),
        json: webtag,
    };
    let created = http::send(
        server
            .post("/token?scheme=a1webtag&action=create")
            .header(AUTHORIZATION, basic(&webtag))
            .header("Content-Type", "application/json"),
        "WebTag key",
    )
    .await;
    let access_key = created.ok()["accessKey"].as_str().unwrap().to_owned();
    let profiles_token = a1user_token(server, profiles).await;

    let gdpr = server
        .post("/secureApi/token/gdpr/create")
        .header("tenant_hash", tenant_hash)
        .header("oauth_key_secret", oauth_key_secret)
        .json(&json!({"resource": ["registerGdprRequest", "gdprRequestStatus"]}));
    let gdpr_token = http::send(gdpr, "secureApi gdpr create").await.ok()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let registered = gdpr_call(
        server,
        &gdpr_token,
        tenant_hash,
        "registerGdprRequest",
        Some("ann@example.com"),
        json!({"reqType": "access", "reqParam": "email", "reqSource": "web"}),
    )
    .await;
    let request_id = registered.ok()["data"]["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let done = loop {
        let data = gdpr_status(server, &gdpr_token, tenant_hash, &request_id).await;
        if data["status"] == "done" {
            break data;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not done: {data}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        done["export"]["customers"][0]["email"], "ann@example.com",
        "{done}"
    );

    let mut cdp = CustomerData {
        tenant_id,
        tracker_token: tracker_token.to_owned(),
        profiles_token,
        gdpr_token,
        access_key,
        gdpr_request: (request_id, done),
        expected: Expected {
            customers: Value::Null,
            segments: Value::Null,
        },
    };
    cdp.expected = read_customer_data(deployment, server, &cdp).await;
    let customers = cdp.expected.customers.as_array().unwrap();
    assert_eq!(customers.len(), 2, "{customers:?}");
    assert_eq!(customers[0]["events"].as_array().unwrap().len(), 2);
    cdp
}

/// `POST /v2/{tenant}/dw/tracker?scheme=a1user` with an idempotency key; must be accepted.
async fn push(server: &Server, tenant_id: &str, token: &str, key: &str, body: &Value) -> Reply {
    let path = format!("/v2/{tenant_id}/dw/tracker?scheme=a1user");
    let reply = http::send(
        server
            .post(&path)
            .header(AUTHORIZATION, bearer(token))
            .header("Idempotency-Key", key)
            .json(body),
        format!("POST {path}"),
    )
    .await;
    assert_eq!(reply.status, 202, "push refused: {reply:?}");
    reply
}

/// A secureApi GDPR call.
async fn gdpr_call(
    server: &Server,
    token: &str,
    tenant_hash: &str,
    resource: &str,
    value: Option<&str>,
    body: Value,
) -> Reply {
    let mut request = server
        .post(&format!("/api/v1/gdpr/b2b/{resource}"))
        .header("access_token", token)
        .header("tenant_hash", tenant_hash)
        .json(&body);
    if let Some(value) = value {
        request = request.header("reqParamValue", value);
    }
    http::send(request, format!("GDPR {resource}")).await
}

/// `gdprRequestStatus` data of a request.
async fn gdpr_status(server: &Server, token: &str, tenant_hash: &str, id: &str) -> Value {
    let reply = gdpr_call(
        server,
        token,
        tenant_hash,
        "gdprRequestStatus",
        None,
        json!({ "requestId": id }),
    )
    .await;
    reply.ok()["data"].clone()
}

/// Every customer a profiles-360 pull answers, and the tenant's segments.
async fn read_customer_data(
    deployment: &Deployment,
    server: &Server,
    cdp: &CustomerData,
) -> Expected {
    let path = format!("/v2/{}/dw/a360/customers?limit=1000", cdp.tenant_id);
    let pulled = http::send_json_or_hal(
        server
            .get(&path)
            .header(AUTHORIZATION, bearer(&cdp.profiles_token)),
        format!("GET {path}"),
    )
    .await;
    Expected {
        customers: pulled.ok()["_embedded"]["customers"].clone(),
        segments: deployment.cli_json(&["segment", "list", "--tenant", "acme", "--json"]),
    }
}

/// The customer data reads as `expected` on `server`, the idempotency key and the GDPR
/// request came along, and the WebTag key still takes events from its origin.
async fn assert_customer_data_intact(
    deployment: &Deployment,
    server: &Server,
    populated: &Populated,
    expected: &Expected,
) {
    let cdp = &populated.cdp;
    // A retry of the first push is answered from its stored key and stores nothing.
    let retried = push(
        server,
        &cdp.tenant_id,
        &cdp.tracker_token,
        "copy-1",
        &first_push(),
    )
    .await;
    assert_eq!(retried.json, json!({"accepted": 3}), "{retried:?}");
    let read = read_customer_data(deployment, server, cdp).await;
    assert_eq!(
        read.customers, expected.customers,
        "customers changed in the copy"
    );
    assert_eq!(
        read.segments, expected.segments,
        "segments changed in the copy"
    );
    let (request_id, data) = &cdp.gdpr_request;
    let status = gdpr_status(server, &cdp.gdpr_token, &populated.tenant_hash, request_id).await;
    assert_eq!(&status, data, "GDPR request changed in the copy");
    let path = format!(
        "/v2/{}/dw/tracker?scheme=a1webtag&accessKey={}",
        cdp.tenant_id, cdp.access_key
    );
    let tagged = http::send(
        server.post(&path).header(ORIGIN, SHOP).json(&json!([{
            "SourceCustomerNumber": "C-1", "Type": "productBrowsed", "Subtype": "SKU-2",
            "EventTimeStamp": "2026-11-22T10:00:00Z"
        }])),
        "WebTag events",
    )
    .await;
    assert_eq!(
        tagged.status, 202,
        "WebTag key lost in the copy: {tagged:?}"
    );
}

/// `POST /secureApi/token/profile/create` of a `basic` token with the tenant's headers.
async fn secure_create(server: &Server, tenant_hash: &str, oauth_key_secret: &str) -> Reply {
    let request = server
        .post("/secureApi/token/profile/create")
        .header("tenant_hash", tenant_hash)
        .header("oauth_key_secret", oauth_key_secret)
        .json(&serde_json::json!({"resource": ["basic"]}));
    http::send(request, "secureApi create").await
}

/// Every token still verifies and every credential still logs in on `server`.
async fn assert_intact(server: &Server, populated: &Populated) {
    for token in [
        &populated.a1user_token,
        &populated.oauth_token,
        &populated.secure_token,
    ] {
        let found = http::introspect(server, Client::basic(&populated.instance), token).await;
        assert_eq!(
            found.ok()["active"],
            true,
            "token lost in the copy: {found:?}"
        );
    }
    // Login answers the same token: the sealed copy survived too.
    assert_eq!(
        a1user_token(server, &populated.instance).await,
        populated.a1user_token
    );
    let created = secure_create(server, &populated.tenant_hash, &populated.oauth_key_secret).await;
    assert_eq!(created.status, 200, "tenant secret lost: {created:?}");
    // The admin API token still works, and the audit log came along.
    let audit: Value = server
        .get("/admin/api/audit?action=instance.created")
        .bearer_auth(&populated.admin_token)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the admin API token survives the copy")
        .json()
        .await
        .expect("a JSON array");
    let created: Vec<&str> = audit
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["instance_id"].as_str())
        .collect();
    assert!(
        created.contains(&"1") && created.contains(&"2"),
        "audit log lost in the copy: {audit}"
    );
}

fn copy(from: &Deployment, source: &str, target: &str) -> Value {
    from.cli_json(&["copy", "--from", source, "--to", target])
}

#[tokio::test]
async fn a_deployment_moves_from_sqlite_to_postgres_and_back() {
    let Some(server_url) = postgres() else { return };
    let folder = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", folder.path().join("origin.db").display());
    let key_file = folder.path().join("origin.key");
    let key = key_file.display().to_string();
    let on = |url: &str| {
        Deployment::with_env(&[
            ("CDP_AUTH_DATABASE", url),
            ("CDP_AUTH_SERVER_KEY_FILE", key.as_str()),
        ])
    };
    let origin = on(&sqlite_url);
    let populated = populate(&origin).await;

    let (postgres_url, _name) = support::create_postgres_database(&server_url);
    let counts = copy(&origin, &sqlite_url, &postgres_url);
    assert_eq!(counts["tenants"], 1, "{counts}");
    assert_eq!(counts["instances"], 3, "{counts}");
    assert_eq!(counts["tokens"], 6, "{counts}");
    assert_eq!(counts["admins"], 1, "{counts}");
    assert_eq!(counts["customers"], 2, "{counts}");
    assert_eq!(counts["source_records"], 2, "{counts}");
    assert_eq!(counts["events"], 3, "{counts}");
    assert_eq!(counts["idempotency_keys"], 1, "{counts}");
    assert_eq!(counts["segments"], 1, "{counts}");
    assert_eq!(counts["gdpr_requests"], 1, "{counts}");
    assert_eq!(counts["webtag_keys"], 1, "{counts}");
    let moved = on(&postgres_url);
    // The JWT signing keys came along, so JWTs signed before the move stay valid after it.
    let signing_keys = |deployment: &Deployment| {
        deployment.cli_json(&["key", "signing-keys", "--json"])[0]["kid"].clone()
    };
    assert!(signing_keys(&origin).is_string());
    assert_eq!(signing_keys(&moved), signing_keys(&origin));
    let server = moved.serve();
    assert_intact(&server, &populated).await;
    assert_customer_data_intact(&moved, &server, &populated, &populated.cdp.expected).await;
    // New rows get fresh ids after the copied ones.
    moved.instance("acme", "after-move", "webtag");
    moved.cli_json(&["admin", "create", "--username", "after-move", "--json"]);
    let cdp = &populated.cdp;
    let later = json!([{"SourceCustomerNumber": "C-3", "Email": "cy@example.com",
        "Type": "emailOpen", "Subtype": "spring", "EventTimeStamp": "2026-11-23T10:00:00Z"}]);
    push(
        &server,
        &cdp.tenant_id,
        &cdp.tracker_token,
        "after-move",
        &later,
    )
    .await;
    moved.cli_json(&[
        "segment",
        "set",
        "--tenant",
        "acme",
        "--name",
        "later",
        "--rule",
        r#"{"event":"emailOpen","atLeast":1}"#,
        "--json",
    ]);
    let expected = read_customer_data(&moved, &server, cdp).await;
    assert_eq!(expected.customers.as_array().unwrap().len(), 3);
    drop(server);

    // A copy refuses a target that already holds a deployment.
    let refused = origin.cli(&["copy", "--from", &sqlite_url, "--to", &postgres_url]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));

    let back_url = format!("sqlite://{}", folder.path().join("back.db").display());
    copy(&origin, &postgres_url, &back_url);
    let back = on(&back_url);
    let server = back.serve();
    assert_intact(&server, &populated).await;
    assert_customer_data_intact(&back, &server, &populated, &expected).await;
}
