//! The a1user side of SPEC's "Protected CDP API" over HTTP, against the real binary on a real
//! database, per the contract of issue 6:
//!
//! - who may call what: a dw-tracker token pushes (`POST /v2/{tenantId}/dw/tracker?scheme=a1user`),
//!   a profiles-360 token pulls (`GET /v2/{tenantId}/dw/a360/customers[/{gcrId}]`); every other
//!   token type, another tenant's id, a non-numeric id → 403 `insufficient_scope`; no, unknown or
//!   revoked token → 401 `invalid_token` with a Bearer challenge; a disabled instance → 403
//!   `instance_disabled`;
//! - push: array, single object and NDJSON bodies; validation errors naming record and field
//!   with nothing stored; `Idempotency-Key` retries; the body limit (413);
//! - unification: by normalised email, else by source customer number; stable `gcrId`s; events
//!   newest first; customer fields keep the newest non-null value;
//! - pull: `limit`/`offset`, `fq=email:` and `fq=updatedSince:`, bad parameters, the HAL shape
//!   and `_links.next` while more remain, and a delta pull that sees every customer exactly once
//!   while pushes run concurrently.
//!
//! Every response goes through [`send_json_or_hal`], which refuses a 5xx and checks the JSON
//! error shape (and a Bearer challenge on every 401).

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinSet;

use support::http::{Reply, a1user_token, bearer, send_json_or_hal};
use support::{Deployment, Instance, Server};

// ---------------------------------------------------------------------------------------------
// Setting up

/// A served deployment: tenant `acme` (OAuth off) with a dw-tracker instance (`loader`) and a
/// profiles-360 instance (`reader`), and an a1user token of each.
struct Setup {
    deployment: Deployment,
    server: Server,
    tenant_id: String,
    tenant_hash: String,
    tracker: Instance,
    profiles: Instance,
    tracker_token: String,
    profiles_token: String,
}

async fn setup() -> Setup {
    setup_with(&[]).await
}

async fn setup_with(env: &[(&str, &str)]) -> Setup {
    let deployment = Deployment::with_env(env);
    let tenant = deployment.tenant_without_oauth("acme", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let profiles = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    let tracker_token = a1user_token(&server, &tracker).await;
    let profiles_token = a1user_token(&server, &profiles).await;
    Setup {
        tenant_id: tracker.tenant_id.clone(),
        tenant_hash: tenant["tenant_hash"]
            .as_str()
            .expect("tenant_hash")
            .to_owned(),
        deployment,
        server,
        tracker,
        profiles,
        tracker_token,
        profiles_token,
    }
}

fn push_path(tenant_id: &str) -> String {
    format!("/v2/{tenant_id}/dw/tracker?scheme=a1user")
}

fn customers_path(tenant_id: &str) -> String {
    format!("/v2/{tenant_id}/dw/a360/customers")
}

/// `?fq=<value>`, percent-encoded.
fn fq(value: &str) -> String {
    serde_urlencoded::to_string([("fq", value)]).expect("query encodes")
}

// ---------------------------------------------------------------------------------------------
// Records

/// A profile record.
fn person(number: &str, email: Option<&str>) -> Value {
    json!({"SourceCustomerNumber": number, "Email": email, "FirstName": "Ann"})
}

/// A record carrying only an event.
fn event(number: &str, kind: &str, subtype: &str, at: &str) -> Value {
    json!({"SourceCustomerNumber": number, "Type": kind, "Subtype": subtype, "EventTimeStamp": at})
}

// ---------------------------------------------------------------------------------------------
// Sending and what came back

/// A request with extra settings (headers, body), through [`send_json_or_hal`].
async fn send_with(
    server: &Server,
    method: Method,
    path: &str,
    build: impl FnOnce(RequestBuilder) -> RequestBuilder,
) -> Reply {
    let what = format!("{method} {path}");
    send_json_or_hal(build(server.request(method, path)), what).await
}

/// A request carrying this Bearer token, or none.
async fn send_bearer(server: &Server, method: Method, path: &str, token: Option<&str>) -> Reply {
    send_with(server, method, path, |r| match token {
        Some(token) => r.header(AUTHORIZATION, bearer(token)),
        None => r,
    })
    .await
}

/// `POST` of a raw body to `path` with this token and `Content-Type` (if any).
async fn post_body(
    server: &Server,
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: String,
) -> Reply {
    let what = format!("POST {path} {}", abbreviated(&body));
    let mut request = server
        .post(path)
        .header(AUTHORIZATION, bearer(token))
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    send_json_or_hal(request, what).await
}

fn abbreviated(body: &str) -> String {
    if body.len() > 300 {
        format!("{}… ({} bytes)", &body[..300], body.len())
    } else {
        body.to_owned()
    }
}

/// Pushes a JSON body with the tracker token.
async fn push(s: &Setup, body: &Value) -> Reply {
    post_body(
        &s.server,
        &push_path(&s.tenant_id),
        &s.tracker_token,
        Some("application/json"),
        body.to_string(),
    )
    .await
}

/// Pushes a JSON body that must be accepted whole.
async fn push_ok(s: &Setup, body: &Value) {
    let expected = body.as_array().map_or(1, Vec::len);
    let reply = push(s, body).await;
    assert_accepted(&reply, expected);
}

#[track_caller]
fn assert_accepted(reply: &Reply, n: usize) {
    assert_eq!(
        (reply.status, &reply.json),
        (202, &json!({ "accepted": n })),
        "unexpected answer: {reply:?}"
    );
}

/// `GET /v2/{tenantId}/dw/a360/customers{query}` with the profiles-360 token.
async fn pull(s: &Setup, query: &str) -> Reply {
    let path = format!("{}{query}", customers_path(&s.tenant_id));
    send_bearer(&s.server, Method::GET, &path, Some(&s.profiles_token)).await
}

/// Asserts a `200` HAL page and returns its customers.
#[track_caller]
fn page(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "unexpected answer: {reply:?}");
    assert_hal(reply);
    let customers = match &reply.json["_embedded"]["customers"] {
        Value::Array(customers) => customers.clone(),
        Value::Null if reply.json["count"] == 0 => Vec::new(),
        _ => panic!("no _embedded.customers: {reply:?}"),
    };
    assert_eq!(
        reply.json["count"],
        json!(customers.len()),
        "count is not the page's size: {reply:?}"
    );
    assert!(
        reply.json["_links"]["self"]["href"].is_string(),
        "no _links.self: {reply:?}"
    );
    for customer in &customers {
        assert_customer_shape(customer);
    }
    customers
}

#[track_caller]
fn assert_hal(reply: &Reply) {
    assert!(
        reply
            .header(CONTENT_TYPE)
            .starts_with("application/hal+json"),
        "not application/hal+json: {reply:?}"
    );
}

/// The page's `_links.next.href`, if any.
fn next_link(reply: &Reply) -> Option<String> {
    reply.json["_links"]["next"]["href"]
        .as_str()
        .map(str::to_owned)
}

/// A path (with query) on the server for a link, absolute or not.
fn link_path(server: &Server, href: &str) -> String {
    href.strip_prefix(&server.base).unwrap_or(href).to_owned()
}

/// Every customer of the tenant, following `_links.next` from a first page of `limit`.
async fn pull_all(s: &Setup, limit: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut path = format!("{}?limit={limit}", customers_path(&s.tenant_id));
    loop {
        let reply = send_bearer(&s.server, Method::GET, &path, Some(&s.profiles_token)).await;
        let customers = page(&reply);
        assert!(customers.len() <= limit, "page over its limit: {reply:?}");
        all.extend(customers);
        match next_link(&reply) {
            Some(href) => path = link_path(&s.server, &href),
            None => return all,
        }
    }
}

/// The only customer holding this email.
async fn customer_by_email(s: &Setup, email: &str) -> Value {
    let reply = pull(s, &format!("?{}", fq(&format!("email:{email}")))).await;
    let customers = page(&reply);
    assert_eq!(customers.len(), 1, "not one customer: {reply:?}");
    customers[0].clone()
}

#[track_caller]
fn assert_customer_shape(customer: &Value) {
    for key in [
        "gcrId",
        "email",
        "firstName",
        "lastName",
        "phone",
        "attributes",
        "createdAt",
        "updatedAt",
        "sourceRecords",
        "events",
        "_links",
    ] {
        assert!(
            customer.get(key).is_some(),
            "customer without {key}: {customer}"
        );
    }
    let gcr_id = gcr_id(customer);
    assert!(
        gcr_id.len() == 28
            && gcr_id.starts_with("gcr_")
            && gcr_id[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
        "gcrId is not gcr_ + 24 lowercase alphanumerics: {customer}"
    );
    for key in ["createdAt", "updatedAt"] {
        timestamp(&customer[key]);
    }
    assert!(customer["sourceRecords"].is_array(), "{customer}");
    assert!(customer["events"].is_array(), "{customer}");
    let href = customer["_links"]["self"]["href"].as_str().unwrap_or("");
    assert!(
        href.ends_with(&format!("/dw/a360/customers/{gcr_id}")),
        "self link does not name the customer: {customer}"
    );
}

#[track_caller]
fn gcr_id(customer: &Value) -> &str {
    customer["gcrId"]
        .as_str()
        .unwrap_or_else(|| panic!("no gcrId: {customer}"))
}

/// An RFC 3339 instant.
#[track_caller]
fn timestamp(value: &Value) -> OffsetDateTime {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {text}"))
}

/// The source customer numbers of a customer, sorted.
fn source_numbers(customer: &Value) -> Vec<String> {
    let mut numbers: Vec<String> = customer["sourceRecords"]
        .as_array()
        .expect("sourceRecords")
        .iter()
        .map(|r| {
            r["sourceCustomerNumber"]
                .as_str()
                .expect("number")
                .to_owned()
        })
        .collect();
    numbers.sort();
    numbers
}

/// Asserts a 403 `insufficient_scope` with its Bearer challenge.
#[track_caller]
fn assert_insufficient_scope(reply: &Reply) {
    reply.expect_error(403, "insufficient_scope");
    assert!(
        reply
            .challenges()
            .iter()
            .any(|c| c.starts_with("Bearer ") && c.contains(r#"error="insufficient_scope""#)),
        "no Bearer insufficient_scope challenge: {reply:?}"
    );
}

/// Asserts a 401 `invalid_token` with a Bearer challenge naming the error.
#[track_caller]
fn assert_invalid_token(reply: &Reply) {
    reply
        .expect_error(401, "invalid_token")
        .expect_challenge("Bearer");
    assert!(
        reply
            .challenges()
            .iter()
            .any(|c| c.contains(r#"realm="cdp-auth""#) && c.contains(r#"error="invalid_token""#)),
        "no Bearer invalid_token challenge: {reply:?}"
    );
}

/// A push of one record with this token, or none.
async fn push_with(s: &Setup, token: Option<&str>) -> Reply {
    let body = json!([person("X-1", Some("x@example.com"))]).to_string();
    let push_path = push_path(&s.tenant_id);
    send_with(&s.server, Method::POST, &push_path, |r| {
        let r = r.header(CONTENT_TYPE, "application/json").body(body);
        match token {
            Some(token) => r.header(AUTHORIZATION, bearer(token)),
            None => r,
        }
    })
    .await
}

/// A pull of the first page with this token, or none.
async fn pull_with(s: &Setup, token: Option<&str>) -> Reply {
    send_bearer(&s.server, Method::GET, &customers_path(&s.tenant_id), token).await
}

/// A push and a pull with this token; both answers.
async fn push_and_pull_with(s: &Setup, token: Option<&str>) -> [Reply; 2] {
    [push_with(s, token).await, pull_with(s, token).await]
}

// ---------------------------------------------------------------------------------------------
// Who may call what

#[tokio::test]
async fn a_tracker_token_pushes_and_a_profiles_token_pulls_what_was_pushed() {
    let s = setup().await;
    let reply = push(
        &s,
        &json!([
            {"SourceCustomerNumber": "C-1", "Email": "ann@example.com", "FirstName": "Ann",
             "LastName": "Lee", "Phone": "+4915100000001", "Attributes": {"tier": "gold"},
             "Type": "emailOpen", "Subtype": "spring", "EventTimeStamp": "2026-11-20T10:00:00Z"},
            {"SourceCustomerNumber": "C-2", "Email": "bob@example.com"},
        ]),
    )
    .await;
    assert_accepted(&reply, 2);

    let reply = pull(&s, "").await;
    let customers = page(&reply);
    assert_eq!(customers.len(), 2, "{reply:?}");
    assert!(
        next_link(&reply).is_none(),
        "next with nothing left: {reply:?}"
    );
    let ann = customers
        .iter()
        .find(|c| c["email"] == "ann@example.com")
        .unwrap_or_else(|| panic!("Ann not pulled: {reply:?}"));
    assert_eq!(ann["firstName"], "Ann");
    assert_eq!(ann["lastName"], "Lee");
    assert_eq!(ann["phone"], "+4915100000001");
    assert_eq!(ann["attributes"], json!({"tier": "gold"}));
    assert_eq!(source_numbers(ann), ["C-1"]);
    let record = &ann["sourceRecords"][0];
    assert_eq!(record["email"], "ann@example.com");
    timestamp(&record["receivedAt"]);
    let events = ann["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{ann}");
    assert_eq!(events[0]["type"], "emailOpen");
    assert_eq!(events[0]["subtype"], "spring");
    assert_eq!(events[0]["channel"], "tracker");
    assert_eq!(
        timestamp(&events[0]["eventTimeStamp"]),
        timestamp(&json!("2026-11-20T10:00:00Z"))
    );

    // `scheme=a1user` on a pull is accepted and ignored.
    let with_scheme = pull(&s, "?scheme=a1user").await;
    assert_eq!(page(&with_scheme).len(), 2, "{with_scheme:?}");
}

#[tokio::test]
async fn other_instance_types_and_secure_api_tokens_are_insufficient_scope() {
    let s = setup().await;
    let webtag = s.deployment.instance("acme", "tag", "webtag");
    let webtag_token = a1user_token(&s.server, &webtag).await;
    let secure = send_with(
        &s.server,
        Method::POST,
        "/secureApi/token/profile/create",
        |r| {
            r.header("tenant_hash", &s.tenant_hash)
                .header(CONTENT_TYPE, "application/json")
                .body(json!({"resource": ["basic"]}).to_string())
        },
    )
    .await;
    let secure_token = secure.ok()["token"].as_str().expect("token").to_owned();
    push_ok(&s, &json!(person("C-1", Some("ann@example.com")))).await;
    let gcr = gcr_id(&customer_by_email(&s, "ann@example.com").await).to_owned();

    // A profiles-360 token cannot push; a dw-tracker token cannot pull.
    assert_insufficient_scope(&push_with(&s, Some(&s.profiles_token)).await);
    assert_insufficient_scope(&pull_with(&s, Some(&s.tracker_token)).await);
    let one = format!("{}/{gcr}", customers_path(&s.tenant_id));
    assert_insufficient_scope(
        &send_bearer(&s.server, Method::GET, &one, Some(&s.tracker_token)).await,
    );
    // A webtag instance's a1user token and a secureApi token can do neither.
    for token in [&webtag_token, &secure_token] {
        for reply in push_and_pull_with(&s, Some(token)).await {
            assert_insufficient_scope(&reply);
        }
        assert_insufficient_scope(&send_bearer(&s.server, Method::GET, &one, Some(token)).await);
    }
    // Nothing was stored by the refused pushes.
    assert_eq!(pull_all(&s, 100).await.len(), 1);
}

#[tokio::test]
async fn another_tenants_id_or_a_non_numeric_id_in_the_path_is_insufficient_scope() {
    let s = setup().await;
    s.deployment.tenant_without_oauth("globex", "uat");
    let other = s.deployment.instance("globex", "loader", "dw-tracker");
    let other_reader = s.deployment.instance("globex", "reader", "profiles-360");
    let other_token = a1user_token(&s.server, &other).await;
    let other_reader_token = a1user_token(&s.server, &other_reader).await;
    assert_ne!(other.tenant_id, s.tenant_id);
    push_ok(&s, &json!(person("C-1", Some("ann@example.com")))).await;
    let gcr = gcr_id(&customer_by_email(&s, "ann@example.com").await).to_owned();

    let body = json!(person("C-9", Some("eve@example.com"))).to_string();
    // globex's tokens on acme's paths.
    let reply = post_body(
        &s.server,
        &push_path(&s.tenant_id),
        &other_token,
        Some("application/json"),
        body.clone(),
    )
    .await;
    assert_insufficient_scope(&reply);
    for path in [
        customers_path(&s.tenant_id),
        format!("{}/{gcr}", customers_path(&s.tenant_id)),
    ] {
        let reply = send_bearer(&s.server, Method::GET, &path, Some(&other_reader_token)).await;
        assert_insufficient_scope(&reply);
    }
    // acme's tokens on a non-numeric tenant id.
    for tenant_id in ["abc", "1x", "-1"] {
        let reply = post_body(
            &s.server,
            &push_path(tenant_id),
            &s.tracker_token,
            Some("application/json"),
            body.clone(),
        )
        .await;
        assert_insufficient_scope(&reply);
        let reply = send_bearer(
            &s.server,
            Method::GET,
            &customers_path(tenant_id),
            Some(&s.profiles_token),
        )
        .await;
        assert_insufficient_scope(&reply);
    }
    // globex sees nothing of acme's customer, even through its own path.
    let reply = send_bearer(
        &s.server,
        Method::GET,
        &format!("{}/{gcr}", customers_path(&other.tenant_id)),
        Some(&other_reader_token),
    )
    .await;
    reply.expect_error(404, "not_found");
    assert_eq!(pull_all(&s, 100).await.len(), 1, "a refused push stored");
}

#[tokio::test]
async fn no_unknown_or_revoked_token_is_invalid_token_with_a_bearer_challenge() {
    let s = setup().await;
    for reply in push_and_pull_with(&s, None).await {
        reply
            .expect_error(401, "invalid_token")
            .expect_challenge("Bearer");
        assert!(
            reply
                .challenges()
                .iter()
                .any(|c| c.contains(r#"realm="cdp-auth""#) && !c.contains("error=")),
            "a request without a token is challenged without an error: {reply:?}"
        );
    }
    for reply in push_and_pull_with(&s, Some("4f1c2b4e-8a9d-4c3e-9f00-000000000000")).await {
        assert_invalid_token(&reply);
    }

    // Revoking the tokens (DELETE /token?scheme=a1user with Bearer) ends them here too.
    for token in [&s.tracker_token, &s.profiles_token] {
        let revoked = send_bearer(
            &s.server,
            Method::DELETE,
            "/token?scheme=a1user",
            Some(token),
        )
        .await;
        assert_eq!(revoked.ok(), &json!({"revoked": 1}));
    }
    assert_invalid_token(&push_with(&s, Some(&s.tracker_token)).await);
    assert_invalid_token(&pull_with(&s, Some(&s.profiles_token)).await);
}

#[tokio::test]
async fn a_disabled_instances_token_is_refused_until_it_is_enabled() {
    let s = setup().await;
    let disabled = s
        .deployment
        .cli_json(&["instance", "disable", &s.tracker.username, "--json"]);
    assert_eq!(disabled["disabled"], true);
    let reply = push(&s, &json!(person("C-1", Some("ann@example.com")))).await;
    reply.expect_error(403, "instance_disabled");
    assert!(pull_all(&s, 100).await.is_empty(), "a refused push stored");

    s.deployment
        .cli_json(&["instance", "enable", &s.tracker.username, "--json"]);
    push_ok(&s, &json!(person("C-1", Some("ann@example.com")))).await;
    assert_eq!(pull_all(&s, 100).await.len(), 1);

    // The same holds for pulls. The server has this token in its cache: a change made by
    // another process (here the CLI) reaches it within 1 s (SPEC).
    s.deployment
        .cli_json(&["instance", "disable", &s.profiles.username, "--json"]);
    let start = std::time::Instant::now();
    loop {
        let reply = pull(&s, "").await;
        if reply.status == 403 {
            reply.expect_error(403, "instance_disabled");
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "a disabled instance's cached token still pulls after 1 s: {reply:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    s.deployment
        .cli_json(&["instance", "enable", &s.profiles.username, "--json"]);
    assert_eq!(pull_all(&s, 100).await.len(), 1);
}

#[tokio::test]
async fn a_push_without_scheme_a1user_is_unsupported_scheme() {
    let s = setup().await;
    let body = json!(person("C-1", Some("ann@example.com"))).to_string();
    for path in [
        format!("/v2/{}/dw/tracker", s.tenant_id),
        format!("/v2/{}/dw/tracker?scheme=bogus", s.tenant_id),
    ] {
        let reply = post_body(
            &s.server,
            &path,
            &s.tracker_token,
            Some("application/json"),
            body.clone(),
        )
        .await;
        reply.expect_error(400, "unsupported_scheme");
    }
    assert!(pull_all(&s, 100).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Push

#[tokio::test]
async fn a_push_accepts_an_array_a_single_object_and_ndjson() {
    let s = setup().await;
    let path = push_path(&s.tenant_id);
    let array = json!([person("A-1", Some("a1@example.com")), person("A-2", None)]);
    assert_accepted(&push(&s, &array).await, 2);
    assert_accepted(&push(&s, &person("O-1", Some("o1@example.com"))).await, 1);

    let ndjson = [
        person("N-1", Some("n1@example.com")).to_string(),
        String::new(),
        event("N-2", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z").to_string(),
        "   ".to_owned(),
        person("N-3", None).to_string(),
        String::new(),
    ]
    .join("\n");
    for (content_type, prefix) in [
        (Some("application/x-ndjson"), "ND"),
        (None, "NO"),
        (Some("application/json"), "NJ"),
    ] {
        // The same NDJSON under new numbers, so each push adds three customers.
        let body = ndjson.replace("\"N-", &format!("\"{prefix}-"));
        let body = body.replace("@example", &format!(".{prefix}@example"));
        let reply = post_body(&s.server, &path, &s.tracker_token, content_type, body).await;
        assert_accepted(&reply, 3);
    }
    // A number is accepted as the source customer number, as its decimal text.
    assert_accepted(
        &push(
            &s,
            &json!({"SourceCustomerNumber": 4711, "Email": "num@example.com"}),
        )
        .await,
        1,
    );

    let all = pull_all(&s, 100).await;
    let numbers: BTreeSet<String> = all.iter().flat_map(source_numbers).collect();
    let expected: BTreeSet<String> = [
        "A-1", "A-2", "O-1", "ND-1", "ND-2", "ND-3", "NO-1", "NO-2", "NO-3", "NJ-1", "NJ-2",
        "NJ-3", "4711",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(numbers, expected);
    assert_eq!(all.len(), expected.len(), "one customer per new number");
}

/// A body of three good records and `bad` at index 3 (or `bad` alone at index 0).
fn with_bad_record(bad: Value, alone: bool) -> (Value, usize) {
    if alone {
        (json!([bad]), 0)
    } else {
        (
            json!([
                person("G-1", Some("g1@example.com")),
                event("G-2", "emailSend", "spring", "2026-11-20T10:00:00Z"),
                person("G-3", None),
                bad,
            ]),
            3,
        )
    }
}

#[tokio::test]
async fn invalid_records_are_refused_naming_record_and_field_and_nothing_is_stored() {
    let s = setup().await;
    let cases: [(&str, Value, &[&str]); 9] = [
        (
            "missing SourceCustomerNumber",
            json!({"Email": "x@example.com"}),
            &["SourceCustomerNumber"],
        ),
        (
            "null SourceCustomerNumber",
            json!({"SourceCustomerNumber": null, "Email": "x@example.com"}),
            &["SourceCustomerNumber"],
        ),
        (
            "empty Email",
            json!({"SourceCustomerNumber": "B-1", "Email": ""}),
            &["Email"],
        ),
        (
            "blank FirstName",
            json!({"SourceCustomerNumber": "B-1", "FirstName": "   "}),
            &["FirstName"],
        ),
        (
            "empty SourceCustomerNumber",
            json!({"SourceCustomerNumber": "", "Email": "x@example.com"}),
            &["SourceCustomerNumber"],
        ),
        // The contract does not say which of the pair a missing timestamp is blamed on.
        (
            "Type without EventTimeStamp",
            json!({"SourceCustomerNumber": "B-1", "Type": "emailOpen"}),
            &["EventTimeStamp", "Type"],
        ),
        (
            "EventTimeStamp not RFC 3339",
            json!({"SourceCustomerNumber": "B-1", "Type": "emailOpen", "EventTimeStamp": "yesterday"}),
            &["EventTimeStamp"],
        ),
        (
            "unknown key",
            json!({"SourceCustomerNumber": "B-1", "Emial": "x@example.com"}),
            &["Emial"],
        ),
        (
            "Attributes not an object",
            json!({"SourceCustomerNumber": "B-1", "Attributes": "gold"}),
            &["Attributes"],
        ),
    ];
    for (what, bad, fields) in cases {
        for alone in [false, true] {
            let (body, index) = with_bad_record(bad.clone(), alone);
            let reply = push(&s, &body).await;
            reply.expect_error(400, "invalid_request");
            let errors = reply.json["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: no errors list: {reply:?}"));
            let error = errors
                .iter()
                .find(|e| e["record"] == json!(index))
                .unwrap_or_else(|| panic!("{what}: record {index} not named: {reply:?}"));
            let field = error["field"].as_str().unwrap_or("");
            assert!(
                fields.contains(&field),
                "{what}: field {field:?} named instead of {fields:?}: {reply:?}"
            );
            assert!(
                error["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{what}: error without message: {reply:?}"
            );
            let description = reply.description();
            assert!(
                description.contains(&format!("record {index}")) && description.contains(field),
                "{what}: description does not name record {index} and {field}: {reply:?}"
            );
            // The good records before the bad one were not stored either.
            assert!(
                pull_all(&s, 100).await.is_empty(),
                "{what}: a refused push stored records"
            );
        }
    }
    // A bad record in NDJSON is named by its line among the records (blank lines ignored).
    let ndjson = format!(
        "{}\n\n{}\n",
        person("N-1", Some("n1@example.com")),
        json!({"SourceCustomerNumber": "N-2", "Phone": ""})
    );
    let reply = post_body(
        &s.server,
        &push_path(&s.tenant_id),
        &s.tracker_token,
        Some("application/x-ndjson"),
        ndjson,
    )
    .await;
    reply.expect_error(400, "invalid_request");
    assert_eq!(reply.json["errors"][0]["record"], 1, "{reply:?}");
    assert_eq!(reply.json["errors"][0]["field"], "Phone", "{reply:?}");
    assert!(pull_all(&s, 100).await.is_empty());
}

#[tokio::test]
async fn an_empty_malformed_or_non_object_body_is_invalid_request() {
    let s = setup().await;
    for body in [
        "[]",
        "",
        "{\"SourceCustomerNumber\": ",
        "not json",
        "[1, 2]",
        "\"C-1\"",
    ] {
        let reply = post_body(
            &s.server,
            &push_path(&s.tenant_id),
            &s.tracker_token,
            Some("application/json"),
            body.to_owned(),
        )
        .await;
        reply.expect_error(400, "invalid_request");
    }
    assert!(pull_all(&s, 100).await.is_empty());
}

#[tokio::test]
async fn a_push_naming_a_key_twice_in_a_record_is_invalid_request() {
    let s = setup().await;
    let path = push_path(&s.tenant_id);
    let good = person("D-1", Some("d1@example.com")).to_string();
    for (body, key) in [
        // An array, one object and NDJSON; at the top of a record and deep inside one.
        (format!(r#"[{good}, {{"SourceCustomerNumber":"D-2","Email":"x@example.com","Email":"y@example.com"}}]"#), "Email"),
        (r#"{"SourceCustomerNumber":"D-3","SourceCustomerNumber":"D-4"}"#.to_owned(), "SourceCustomerNumber"),
        (format!("{good}\n{{\"SourceCustomerNumber\":\"D-5\",\"Attributes\":{{\"tier\":{{\"x\":1,\"x\":2}}}}}}\n"), "x"),
        (
            "{\n  \"SourceCustomerNumber\": \"D-6\",\n  \"Email\": \"a@example.com\",\n  \"Email\": \"b@example.com\"\n}".to_owned(),
            "Email",
        ),
    ] {
        let reply = post_body(&s.server, &path, &s.tracker_token, Some("application/json"), body).await;
        reply.expect_error(400, "invalid_request");
        let expected = format!("the key \"{key}\" appears twice");
        assert!(reply.description().contains(&expected), "{reply:?}");
    }
    // Nothing of those bodies was stored, not even their good records.
    assert!(pull_all(&s, 100).await.is_empty());
}

/// A push of a raw JSON body with this token and `Idempotency-Key`.
async fn push_keyed(s: &Setup, token: &str, key: &str, body: String) -> Reply {
    let path = push_path(&s.tenant_id);
    send_with(&s.server, Method::POST, &path, |r| {
        r.header(AUTHORIZATION, bearer(token))
            .header(CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", key)
            .body(body)
    })
    .await
}

#[tokio::test]
async fn a_retried_push_with_the_same_idempotency_key_stores_nothing_more() {
    let s = setup().await;
    let body = json!([
        person("C-1", Some("ann@example.com")),
        event("C-1", "emailOpen", "spring", "2026-11-20T10:00:00Z"),
        event("C-1", "emailClick", "spring", "2026-11-20T10:05:00Z"),
    ])
    .to_string();
    let keyed = |key: &'static str, body: String| push_keyed(&s, &s.tracker_token, key, body);
    let events = || async { customer_by_email(&s, "ann@example.com").await["events"].clone() };

    assert_accepted(&keyed("batch-2026-11-23", body.clone()).await, 3);
    let first = events().await;
    assert_eq!(first.as_array().map(Vec::len), Some(2), "{first}");
    for _ in 0..2 {
        assert_accepted(&keyed("batch-2026-11-23", body.clone()).await, 3);
    }
    assert_eq!(events().await, first, "a retry stored events again");

    // Same key, another body: refused, nothing stored.
    let other = json!([event(
        "C-1",
        "emailBounce",
        "spring",
        "2026-11-21T10:00:00Z"
    )])
    .to_string();
    keyed("batch-2026-11-23", other.clone())
        .await
        .expect_error(422, "invalid_request");
    assert_eq!(events().await, first);

    // Another key stores again.
    assert_accepted(&keyed("batch-2026-11-24", other).await, 1);
    assert_eq!(events().await.as_array().map(Vec::len), Some(3));

    // Keys are per instance: another tracker instance may use the same key for its own push.
    let second = s.deployment.instance("acme", "loader-2", "dw-tracker");
    let second_token = a1user_token(&s.server, &second).await;
    let body = json!([person("D-1", Some("dan@example.com"))]).to_string();
    let reply = push_keyed(&s, &second_token, "batch-2026-11-23", body).await;
    assert_accepted(&reply, 1);
    customer_by_email(&s, "dan@example.com").await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_payload_too_large_and_stores_nothing() {
    let s = setup_with(&[("CDP_AUTH_MAX_PUSH_BODY", "1024")]).await;
    let records: Vec<Value> = (0..20)
        .map(|i| {
            person(
                &format!("C-{i}"),
                Some(&format!("customer-{i}@example.com")),
            )
        })
        .collect();
    let big = json!(records).to_string();
    assert!(big.len() > 1024);
    let reply = push(&s, &json!(records)).await;
    reply.expect_error(413, "payload_too_large");
    assert!(pull_all(&s, 100).await.is_empty());

    // The same body sent chunked, with no Content-Length to refuse it by, is cut off at the
    // limit as it streams in.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = s.server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        push_path(&s.tenant_id),
        s.tracker_token,
        big.len(),
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert!(pull_all(&s, 100).await.is_empty());

    let small = json!(records[..3]);
    assert!(small.to_string().len() <= 1024);
    push_ok(&s, &small).await;
    assert_eq!(pull_all(&s, 100).await.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Unification

#[tokio::test]
async fn emails_differing_in_case_and_whitespace_unify_into_one_customer() {
    let s = setup().await;
    push_ok(&s, &json!(person("C-1", Some("Ann@Example.com ")))).await;
    push_ok(&s, &json!(person("C-2", Some("  ann@EXAMPLE.COM")))).await;
    push_ok(&s, &json!(person("C-3", Some("bob@example.com")))).await;

    let all = pull_all(&s, 100).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let ann = customer_by_email(&s, "ANN@example.com").await;
    assert_eq!(source_numbers(&ann), ["C-1", "C-2"]);
    assert_eq!(ann["email"], "ann@example.com", "{ann}");
    // Each source record keeps what its source sent, trimmed.
    let sent: BTreeSet<&str> = ann["sourceRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["email"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        sent,
        BTreeSet::from(["Ann@Example.com", "ann@EXAMPLE.COM"]),
        "source records keep the email as sent, without surrounding spaces: {ann}"
    );
}

#[tokio::test]
async fn a_record_without_email_joins_the_customer_its_source_number_belongs_to() {
    let s = setup().await;
    push_ok(&s, &json!(person("C-1", Some("ann@example.com")))).await;
    let ann = customer_by_email(&s, "ann@example.com").await;
    push_ok(
        &s,
        &json!([
            {"SourceCustomerNumber": "C-1", "LastName": "Lee"},
            event("C-1", "emailOpen", "spring", "2026-11-20T10:00:00Z"),
        ]),
    )
    .await;
    let all = pull_all(&s, 100).await;
    assert_eq!(all.len(), 1, "a new customer was made: {all:?}");
    assert_eq!(gcr_id(&all[0]), gcr_id(&ann));
    assert_eq!(all[0]["lastName"], "Lee");
    assert_eq!(all[0]["events"].as_array().map(Vec::len), Some(1));

    // An unseen number without email is a new customer.
    push_ok(
        &s,
        &json!({"SourceCustomerNumber": "C-2", "FirstName": "Bob"}),
    )
    .await;
    assert_eq!(pull_all(&s, 100).await.len(), 2);
}

#[tokio::test]
async fn customer_fields_keep_the_newest_non_null_value_and_source_records_are_replaced() {
    let s = setup().await;
    push_ok(
        &s,
        &json!({"SourceCustomerNumber": "C-1", "Email": "ann@example.com", "FirstName": "Ann",
                "Phone": "+4915100000001"}),
    )
    .await;
    push_ok(
        &s,
        &json!({"SourceCustomerNumber": "C-1", "Email": "ann@example.com", "FirstName": null,
                "LastName": "Lee", "Phone": "+4915100000002"}),
    )
    .await;
    let ann = customer_by_email(&s, "ann@example.com").await;
    assert_eq!(
        ann["firstName"], "Ann",
        "a null cleared the customer: {ann}"
    );
    assert_eq!(ann["lastName"], "Lee");
    assert_eq!(ann["phone"], "+4915100000002");
    let records = ann["sourceRecords"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{ann}");
    assert_eq!(records[0]["firstName"], Value::Null, "{ann}");
    assert_eq!(records[0]["lastName"], "Lee");
}

#[tokio::test]
async fn events_are_listed_newest_first() {
    let s = setup().await;
    push_ok(&s, &json!(person("C-1", Some("ann@example.com")))).await;
    push_ok(
        &s,
        &json!([
            event("C-1", "emailSend", "b", "2026-11-20T10:00:00Z"),
            event("C-1", "emailClick", "d", "2026-11-22T09:00:00+02:00"),
            event("C-1", "emailOpen", "a", "2026-11-19T23:59:59.5Z"),
        ]),
    )
    .await;
    push_ok(
        &s,
        &json!([
            event("C-1", "checkout", "e", "2026-11-23T08:00:00Z"),
            event("C-1", "productBrowsed", "c", "2026-11-21T00:00:00Z"),
        ]),
    )
    .await;
    let ann = customer_by_email(&s, "ann@example.com").await;
    let events = ann["events"].as_array().unwrap();
    let subtypes: Vec<&str> = events
        .iter()
        .map(|e| e["subtype"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(subtypes, ["e", "d", "c", "b", "a"], "{ann}");
    assert_eq!(
        timestamp(&events[1]["eventTimeStamp"]),
        timestamp(&json!("2026-11-22T07:00:00Z"))
    );
    assert!(events.iter().all(|e| e["channel"] == "tracker"), "{ann}");
}

#[tokio::test]
async fn gcr_ids_are_stable_and_one_customer_can_be_fetched_by_it() {
    let s = setup().await;
    push_ok(&s, &json!(person("C-1", Some("ann@example.com")))).await;
    let before = customer_by_email(&s, "ann@example.com").await;
    push_ok(
        &s,
        &json!([
            {"SourceCustomerNumber": "C-2", "Email": "ANN@example.com", "LastName": "Lee"},
            event("C-1", "emailOpen", "spring", "2026-11-20T10:00:00Z"),
        ]),
    )
    .await;
    let after = customer_by_email(&s, "ann@example.com").await;
    assert_eq!(gcr_id(&after), gcr_id(&before));
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert!(timestamp(&after["updatedAt"]) > timestamp(&before["updatedAt"]));

    let path = format!("{}/{}", customers_path(&s.tenant_id), gcr_id(&before));
    let one = send_bearer(&s.server, Method::GET, &path, Some(&s.profiles_token)).await;
    assert_hal(&one);
    assert_eq!(one.ok(), &after);
    // The self link leads to the same answer.
    let href = after["_links"]["self"]["href"].as_str().unwrap();
    let by_link = send_bearer(
        &s.server,
        Method::GET,
        &link_path(&s.server, href),
        Some(&s.profiles_token),
    )
    .await;
    assert_eq!(by_link.ok(), &after);

    for unknown in ["gcr_000000000000000000000000", "nobody", "1"] {
        let path = format!("{}/{unknown}", customers_path(&s.tenant_id));
        send_bearer(&s.server, Method::GET, &path, Some(&s.profiles_token))
            .await
            .expect_error(404, "not_found");
    }
    // An id that is not UTF-8 once percent-decoded is malformed, not another tenant's.
    let path = format!("{}/gcr_%ff%fe", customers_path(&s.tenant_id));
    send_bearer(&s.server, Method::GET, &path, Some(&s.profiles_token))
        .await
        .expect_error(400, "invalid_request");
}

// ---------------------------------------------------------------------------------------------
// Pull

/// Pushes `n` customers one push each (so their update times ascend), returning their emails
/// in push order.
async fn push_customers(s: &Setup, n: usize) -> Vec<String> {
    let mut emails = Vec::new();
    for i in 0..n {
        let email = format!("c{i}@example.com");
        push_ok(s, &json!(person(&format!("C-{i}"), Some(&email)))).await;
        emails.push(email);
    }
    emails
}

fn emails_of(customers: &[Value]) -> Vec<String> {
    customers
        .iter()
        .map(|c| c["email"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn limit_and_offset_page_through_customers_in_update_order() {
    let s = setup().await;
    let emails = push_customers(&s, 5).await;

    let all = page(&pull(&s, "").await);
    assert_eq!(emails_of(&all), emails, "not in update order");
    let updated: Vec<OffsetDateTime> = all.iter().map(|c| timestamp(&c["updatedAt"])).collect();
    assert!(updated.windows(2).all(|w| w[0] < w[1]), "{updated:?}");

    for (query, expected) in [
        ("?limit=2", &emails[0..2]),
        ("?limit=2&offset=2", &emails[2..4]),
        ("?offset=4", &emails[4..5]),
        ("?limit=1000&offset=3", &emails[3..5]),
        ("?limit=2&offset=5", &emails[5..5]),
        ("?offset=0&limit=1", &emails[0..1]),
    ] {
        let reply = pull(&s, query).await;
        assert_eq!(emails_of(&page(&reply)), expected, "{reply:?}");
    }
    // `next` is there iff more remain.
    assert!(next_link(&pull(&s, "?limit=4").await).is_some());
    assert!(next_link(&pull(&s, "?limit=5").await).is_none());
    assert!(next_link(&pull(&s, "?limit=2&offset=2").await).is_some());
    assert!(next_link(&pull(&s, "?limit=2&offset=3").await).is_none());
}

#[tokio::test]
async fn next_links_lead_through_every_customer_once() {
    let s = setup().await;
    let emails = push_customers(&s, 7).await;
    for limit in [1, 2, 3, 7, 100] {
        let all = pull_all(&s, limit).await;
        assert_eq!(emails_of(&all), emails, "limit {limit}");
    }
    // The next link keeps the limit and the filter.
    let since = timestamp(&page(&pull(&s, "?limit=1").await)[0]["updatedAt"]);
    let since = since.format(&Rfc3339).unwrap();
    let first = pull(
        &s,
        &format!("?limit=2&{}", fq(&format!("updatedSince:{since}"))),
    )
    .await;
    assert_eq!(emails_of(&page(&first)), &emails[1..3]);
    let mut seen = emails_of(&page(&first));
    let mut next = next_link(&first);
    while let Some(href) = next {
        let reply = send_bearer(
            &s.server,
            Method::GET,
            &link_path(&s.server, &href),
            Some(&s.profiles_token),
        )
        .await;
        let customers = page(&reply);
        assert!(
            customers.len() <= 2,
            "the next link lost the limit: {reply:?}"
        );
        seen.extend(emails_of(&customers));
        next = next_link(&reply);
    }
    assert_eq!(seen, &emails[1..], "the next links lost the filter");
}

#[tokio::test]
async fn fq_filters_by_email_and_by_update_time() {
    let s = setup().await;
    let emails = push_customers(&s, 5).await;
    let all = page(&pull(&s, "").await);

    for query in ["c3@example.com", "C3@Example.COM", " c3@example.com "] {
        let reply = pull(&s, &format!("?{}", fq(&format!("email:{query}")))).await;
        assert_eq!(emails_of(&page(&reply)), ["c3@example.com"], "{reply:?}");
    }
    let none = pull(&s, &format!("?{}", fq("email:nobody@example.com"))).await;
    assert!(page(&none).is_empty(), "{none:?}");

    // Strictly after the third customer's update.
    let since = all[2]["updatedAt"].as_str().unwrap();
    let reply = pull(&s, &format!("?{}", fq(&format!("updatedSince:{since}")))).await;
    assert_eq!(emails_of(&page(&reply)), &emails[3..], "{reply:?}");
    let reply = pull(&s, &format!("?{}", fq("updatedSince:2000-01-01T00:00:00Z"))).await;
    assert_eq!(emails_of(&page(&reply)), emails);
    let last = all[4]["updatedAt"].as_str().unwrap();
    let reply = pull(&s, &format!("?{}", fq(&format!("updatedSince:{last}")))).await;
    assert!(page(&reply).is_empty(), "{reply:?}");

    // Repeated fq narrow each other.
    let both = format!(
        "?{}&{}",
        fq(&format!("updatedSince:{since}")),
        fq("email:c4@example.com")
    );
    assert_eq!(emails_of(&page(&pull(&s, &both).await)), ["c4@example.com"]);
    let neither = format!(
        "?{}&{}",
        fq(&format!("updatedSince:{since}")),
        fq("email:c1@example.com")
    );
    assert!(page(&pull(&s, &neither).await).is_empty());
}

#[tokio::test]
async fn bad_query_parameters_are_invalid_request() {
    let s = setup().await;
    push_customers(&s, 2).await;
    for query in [
        "?limit=0".to_owned(),
        "?limit=1001".to_owned(),
        "?limit=-1".to_owned(),
        "?limit=ten".to_owned(),
        "?offset=-1".to_owned(),
        "?offset=x".to_owned(),
        format!("?{}", fq("phone:+4915100000001")),
        format!("?{}", fq("email")),
        format!("?{}", fq("updatedSince:yesterday")),
        format!("?{}", fq("updatedSince:2026-11-23")),
        format!("?{}", fq("")),
    ] {
        let reply = pull(&s, &query).await;
        reply.expect_error(400, "invalid_request");
    }
    for query in ["?limit=1", "?limit=1000"] {
        page(&pull(&s, query).await);
    }
}

#[tokio::test]
async fn a_delta_pull_sees_every_customer_exactly_once_while_pushes_run() {
    const TASKS: usize = 4;
    const PUSHES: usize = 50;
    const RECORDS: usize = 5;
    const LIMIT: usize = 7;
    let s = setup().await;
    let done = Arc::new(AtomicBool::new(false));

    let mut pushers = JoinSet::new();
    for task in 0..TASKS {
        let client = s.server.client.clone();
        let url = s.server.url(&push_path(&s.tenant_id));
        let token = s.tracker_token.clone();
        pushers.spawn(async move {
            for n in 0..PUSHES {
                let records: Vec<Value> = (0..RECORDS)
                    .map(|i| {
                        let number = format!("T{task}-{n}-{i}");
                        let email = format!("t{task}.{n}.{i}@example.com");
                        person(&number, Some(&email))
                    })
                    .collect();
                let request = client
                    .post(&url)
                    .header(AUTHORIZATION, bearer(&token))
                    .header(CONTENT_TYPE, "application/json")
                    .body(json!(records).to_string());
                let reply = send_json_or_hal(request, format!("push {task}/{n}")).await;
                assert_accepted(&reply, RECORDS);
            }
        });
    }
    let pushing = {
        let done = Arc::clone(&done);
        async move {
            while let Some(joined) = pushers.join_next().await {
                joined.expect("a pusher failed");
            }
            done.store(true, Ordering::SeqCst);
        }
    };

    let pulling = async {
        let first = format!("{}?limit={LIMIT}", customers_path(&s.tenant_id));
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut numbers = Vec::new();
        let mut last_updated: Option<String> = None;
        let mut path = first.clone();
        let mut seen_while_pushing = 0;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(Instant::now() < deadline, "the delta pull never settled");
            let pushes_were_done = done.load(Ordering::SeqCst);
            let reply = send_bearer(&s.server, Method::GET, &path, Some(&s.profiles_token)).await;
            let customers = page(&reply);
            assert!(customers.len() <= LIMIT, "{reply:?}");
            if !pushes_were_done {
                seen_while_pushing += customers.len();
            }
            for customer in &customers {
                *seen.entry(gcr_id(customer).to_owned()).or_default() += 1;
                numbers.extend(source_numbers(customer));
                last_updated = Some(customer["updatedAt"].as_str().unwrap().to_owned());
            }
            if let Some(href) = next_link(&reply) {
                path = link_path(&s.server, &href);
                continue;
            }
            if customers.is_empty() && pushes_were_done {
                return (seen, numbers, seen_while_pushing);
            }
            path = match &last_updated {
                Some(since) => format!("{first}&{}", fq(&format!("updatedSince:{since}"))),
                None => first.clone(),
            };
            if customers.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };

    let ((), (seen, mut numbers, seen_while_pushing)) = tokio::join!(pushing, pulling);
    assert!(
        seen_while_pushing > 0,
        "the pull never overlapped the pushes: nothing was tested"
    );
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "customers pulled more than once: {twice:?}"
    );
    assert_eq!(seen.len(), TASKS * PUSHES * RECORDS, "customers missed");
    numbers.sort();
    let mut expected: Vec<String> = (0..TASKS)
        .flat_map(|t| {
            (0..PUSHES).flat_map(move |n| (0..RECORDS).map(move |i| format!("T{t}-{n}-{i}")))
        })
        .collect();
    expected.sort();
    assert_eq!(numbers, expected);
}
