//! WebTag over HTTP, against the real binary on a real database, per SPEC's "Protected CDP API"
//! and the contract of issue 6:
//!
//! - `POST /token?scheme=a1webtag&action=create` (Basic, webtag instance) answers the token
//!   response plus a browser-safe `accessKey`; other instance types are refused; the tokens count
//!   against the instance's active token limit;
//! - `GET|POST /v2/{tenantId}/dw/tracker?scheme=a1webtag&accessKey=…` takes events only, only
//!   from the instance's allowed origins (CORS, with an `OPTIONS` preflight), rate limited per key
//!   (`CDP_AUTH_WEBTAG_RATE` per second, bursts of `CDP_AUTH_WEBTAG_BURST`);
//! - a bad key, a revoked token or a disabled instance → 401;
//! - the events reach a profiles-360 pull with channel `webtag`;
//! - `cdp-auth instance origins` and `PUT /admin/api/instances/{id}/origins` change the allowed
//!   origins.
//!
//! Every JSON response goes through [`send`], which refuses a 5xx and checks the JSON error
//! shape, a challenge on every 401 and a `Retry-After` on every 429; the preflight's empty 204
//! is read directly.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::collections::BTreeSet;
use std::time::Instant;

use reqwest::header::{
    ACCEPT, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, AUTHORIZATION, CONTENT_TYPE, HeaderMap,
    ORIGIN, REFERER, RETRY_AFTER, VARY,
};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use support::http::{Reply, a1user_token, basic, bearer, send, send_admin, send_json_or_hal};
use support::{Deployment, Instance, Server};

const SHOP: &str = "https://shop.example";
const CREATE: &str = "/token?scheme=a1webtag&action=create";

/// The a1user token response's keys; a WebTag create adds `accessKey`.
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

/// A served deployment: tenant `acme` (OAuth off, UAT) with a webtag instance (`tag`) allowed
/// from [`SHOP`], a dw-tracker instance (`loader`) and a profiles-360 instance (`reader`).
struct Setup {
    deployment: Deployment,
    server: Server,
    tenant_id: String,
    webtag: Instance,
    tracker: Instance,
    profiles: Instance,
}

fn setup() -> Setup {
    setup_with(&[])
}

fn setup_with(env: &[(&str, &str)]) -> Setup {
    let deployment = Deployment::with_env(env);
    deployment.tenant_without_oauth("acme", "uat");
    let webtag = webtag_instance(&deployment, "acme", "tag", &[SHOP]);
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let profiles = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    Setup {
        tenant_id: webtag.tenant_id.clone(),
        deployment,
        server,
        webtag,
        tracker,
        profiles,
    }
}

/// Creates a webtag instance allowed from `origins` through the real CLI.
fn webtag_instance(
    deployment: &Deployment,
    tenant: &str,
    name: &str,
    origins: &[&str],
) -> Instance {
    let mut args = vec![
        "instance", "create", "--tenant", tenant, "--name", name, "--type", "webtag",
    ];
    for origin in origins {
        args.extend(["--origin", origin]);
    }
    args.push("--json");
    let json = deployment.cli_json(&args);
    let field = |name: &str| {
        json[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {json}"))
            .to_owned()
    };
    Instance {
        username: field("username"),
        password: field("password"),
        tenant_id: field("tenant_id"),
        json: json.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Sending and what came back

/// `POST /token?scheme=a1webtag&action=create` with the instance's Basic credentials.
async fn create(server: &Server, instance: &Instance) -> Reply {
    send(
        server
            .post(CREATE)
            .header(AUTHORIZATION, basic(instance))
            .header(CONTENT_TYPE, "application/json"),
        format!("POST {CREATE} as {}", instance.username),
    )
    .await
}

/// A WebTag token response: its `access_token` and `accessKey`.
struct Key {
    token: String,
    access_key: String,
}

/// A create that must succeed.
async fn new_key(s: &Setup) -> Key {
    let reply = create(&s.server, &s.webtag).await;
    let json = reply.ok();
    Key {
        token: json["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        access_key: json["accessKey"].as_str().expect("accessKey").to_owned(),
    }
}

fn events_path(tenant_id: &str, access_key: &str) -> String {
    format!("/v2/{tenant_id}/dw/tracker?scheme=a1webtag&accessKey={access_key}")
}

/// A WebTag request to the events path from `origin` (none if `None`).
fn tag_request(
    s: &Setup,
    method: Method,
    access_key: &str,
    query: &str,
    origin: Option<&str>,
) -> RequestBuilder {
    let path = format!("{}{query}", events_path(&s.tenant_id, access_key));
    let request = s.server.request(method, &path);
    match origin {
        Some(origin) => request.header(ORIGIN, origin),
        None => request,
    }
}

/// `POST` of events as a browser on `origin` sends them.
async fn tag_post(s: &Setup, access_key: &str, origin: Option<&str>, body: &Value) -> Reply {
    let request = tag_request(s, Method::POST, access_key, "", origin)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string());
    send(request, format!("WebTag POST from {origin:?} {body}")).await
}

/// `GET` with the record's fields as query parameters, as a pixel sends them.
async fn tag_get(
    s: &Setup,
    access_key: &str,
    origin: Option<&str>,
    fields: &[(&str, &str)],
) -> Reply {
    let query = format!(
        "&{}",
        serde_urlencoded::to_string(fields).expect("query encodes")
    );
    let request = tag_request(s, Method::GET, access_key, &query, origin);
    send(request, format!("WebTag GET from {origin:?} {query}")).await
}

/// An event record.
fn event(number: &str, kind: &str, subtype: &str, at: &str) -> Value {
    json!({"SourceCustomerNumber": number, "Type": kind, "Subtype": subtype, "EventTimeStamp": at})
}

#[track_caller]
fn assert_accepted_from(reply: &Reply, n: usize, origin: &str) {
    assert_eq!(
        (reply.status, &reply.json),
        (202, &json!({ "accepted": n })),
        "unexpected answer: {reply:?}"
    );
    assert_eq!(
        reply.header(ACCESS_CONTROL_ALLOW_ORIGIN),
        origin,
        "no Access-Control-Allow-Origin for {origin}: {reply:?}"
    );
    assert!(
        reply.headers.get_all(VARY).iter().any(|v| v
            .to_str()
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("origin")),
        "no Vary: Origin: {reply:?}"
    );
}

/// Asserts a 403 `insufficient_scope` that grants no origin.
#[track_caller]
fn assert_origin_refused(reply: &Reply) {
    reply.expect_error(403, "insufficient_scope");
    assert!(
        !reply.headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN),
        "a refused origin was granted: {reply:?}"
    );
}

/// An `OPTIONS` preflight's status and headers (a 204 has no body to check).
async fn preflight(s: &Setup, access_key: &str, origin: Option<&str>) -> (u16, HeaderMap, Vec<u8>) {
    let response = tag_request(s, Method::OPTIONS, access_key, "", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .expect("preflight answered");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("preflight body").to_vec();
    assert!(
        status < 500,
        "server error on preflight: {status} {headers:?}"
    );
    (status, headers, body)
}

fn header<'a>(headers: &'a HeaderMap, name: &reqwest::header::HeaderName) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Every customer a profiles-360 pull returns (one page is enough for these tests).
async fn pulled_customers(s: &Setup) -> Vec<Value> {
    let token = a1user_token(&s.server, &s.profiles).await;
    let path = format!("/v2/{}/dw/a360/customers?limit=1000", s.tenant_id);
    let reply = send_json_or_hal(
        s.server.get(&path).header(AUTHORIZATION, bearer(&token)),
        format!("GET {path}"),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(next_is_absent(&reply), "{reply:?}");
    reply.json["_embedded"]["customers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn next_is_absent(reply: &Reply) -> bool {
    reply.json["_links"]["next"].is_null()
}

/// The pulled customer holding this source customer number.
async fn pulled_customer(s: &Setup, number: &str) -> Value {
    pulled_customers(s)
        .await
        .into_iter()
        .find(|c| {
            c["sourceRecords"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["sourceCustomerNumber"] == number))
        })
        .unwrap_or_else(|| panic!("no customer with source number {number}"))
}

/// The number of events stored for all customers, as a profiles-360 pull shows them.
async fn stored_events(s: &Setup) -> usize {
    pulled_customers(s)
        .await
        .iter()
        .map(|c| c["events"].as_array().map_or(0, Vec::len))
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Creating keys

#[tokio::test]
async fn create_answers_the_token_response_with_a_browser_safe_access_key() {
    let s = setup();
    let reply = create(&s.server, &s.webtag).await;
    let json = reply.ok();
    let keys: BTreeSet<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected: BTreeSet<&str> = TOKEN_KEYS.into_iter().collect();
    expected.insert("accessKey");
    assert_eq!(keys, expected, "{reply:?}");
    assert_eq!(json["tenantId"], json!(s.tenant_id), "{reply:?}");
    assert_eq!(json["username"], json!(s.webtag.username), "{reply:?}");
    let access_key = json["accessKey"].as_str().unwrap();
    assert!(
        access_key.len() == 43
            && access_key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "accessKey is not 43 URL-safe characters: {access_key:?}"
    );
    assert_ne!(access_key, json["access_token"].as_str().unwrap());

    // Each create makes a new key.
    let other = new_key(&s).await;
    assert_ne!(other.access_key, access_key);
}

#[tokio::test]
async fn create_refuses_other_instance_types() {
    let s = setup();
    for instance in [&s.tracker, &s.profiles] {
        create(&s.server, instance)
            .await
            .expect_error(403, "insufficient_scope");
    }
}

#[tokio::test]
async fn webtag_tokens_count_against_the_active_token_limit() {
    let s = setup();
    // UAT: three active tokens per instance.
    let keys = [new_key(&s).await, new_key(&s).await, new_key(&s).await];
    create(&s.server, &s.webtag)
        .await
        .expect_error(409, "token_limit_reached");
    revoke(&s, &keys[0].token).await;
    new_key(&s).await;
}

/// `DELETE /token?scheme=a1user` with the token as Bearer: it is revoked.
async fn revoke(s: &Setup, token: &str) {
    let reply = send(
        s.server
            .delete("/token?scheme=a1user")
            .header(AUTHORIZATION, bearer(token)),
        "revoke",
    )
    .await;
    assert_eq!(reply.ok(), &json!({"revoked": 1}));
}

// ---------------------------------------------------------------------------------------------
// Sending events from a browser

#[tokio::test]
async fn events_from_an_allowed_origin_are_accepted_with_cors_headers() {
    let s = setup();
    let key = new_key(&s).await;
    let reply = tag_post(
        &s,
        &key.access_key,
        Some(SHOP),
        &json!([
            event("V-1", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z"),
            event("V-1", "categoryBrowsed", "shoes", "2026-11-20T10:01:00Z"),
        ]),
    )
    .await;
    assert_accepted_from(&reply, 2, SHOP);
    let single = tag_post(
        &s,
        &key.access_key,
        Some(SHOP),
        &event("V-2", "cartUpdated", "SKU-2", "2026-11-20T10:02:00Z"),
    )
    .await;
    assert_accepted_from(&single, 1, SHOP);
    assert_eq!(stored_events(&s).await, 3);
}

#[tokio::test]
async fn a_get_with_the_record_in_the_query_is_accepted() {
    let s = setup();
    let key = new_key(&s).await;
    let reply = tag_get(
        &s,
        &key.access_key,
        Some(SHOP),
        &[
            ("SourceCustomerNumber", "V-1"),
            ("Type", "onsiteSearch"),
            ("Subtype", "red shoes"),
            ("EventTimeStamp", "2026-11-20T10:00:00+01:00"),
        ],
    )
    .await;
    assert_accepted_from(&reply, 1, SHOP);
    let customer = pulled_customer(&s, "V-1").await;
    assert_eq!(customer["events"][0]["type"], "onsiteSearch", "{customer}");
    assert_eq!(customer["events"][0]["subtype"], "red shoes", "{customer}");
}

/// The query a pixel adds for one `productBrowsed` event of customer `number`.
fn pixel_query(number: &str) -> String {
    let fields = [
        ("SourceCustomerNumber", number),
        ("Type", "productBrowsed"),
        ("EventTimeStamp", "2026-11-20T10:00:00Z"),
    ];
    format!(
        "&{}",
        serde_urlencoded::to_string(fields).expect("query encodes")
    )
}

/// A pixel as a browser sends it: no `Origin` (browsers send none for images), only the
/// page's address in `Referer`.
async fn pixel(s: &Setup, access_key: &str, referer: Option<&str>, number: &str) -> Reply {
    let request = tag_request(s, Method::GET, access_key, &pixel_query(number), None);
    let request = match referer {
        Some(referer) => request.header(REFERER, referer),
        None => request,
    };
    send(request, format!("pixel with Referer {referer:?}")).await
}

#[tokio::test]
async fn a_pixel_without_origin_is_admitted_by_its_pages_referer() {
    let s = setup();
    let key = new_key(&s).await;
    let page = format!("{SHOP}/products/red-shoes?utm_source=mail");
    assert_accepted_from(
        &pixel(&s, &key.access_key, Some(&page), "V-1").await,
        1,
        SHOP,
    );
    let customer = pulled_customer(&s, "V-1").await;
    assert_eq!(
        customer["events"][0]["type"], "productBrowsed",
        "{customer}"
    );
    // Another site's page, a look-alike host, a non-URL, and no Referer at all are refused.
    for referer in [
        Some("https://evil.example/products"),
        Some("https://shop.example.evil.example/"),
        Some("http://shop.example/"),
        None,
    ] {
        assert_origin_refused(&pixel(&s, &key.access_key, referer, "V-2").await);
    }
    pixel(&s, &key.access_key, Some("not a url"), "V-2")
        .await
        .expect_error(400, "invalid_request");
    // Origin, when a browser sends one, is what counts; Referer cannot stand in for a POST.
    let record = event("V-3", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z");
    let post = tag_request(&s, Method::POST, &key.access_key, "", None)
        .header(REFERER, format!("{SHOP}/"))
        .header(CONTENT_TYPE, "application/json")
        .body(record.to_string());
    assert_origin_refused(&send(post, "POST with only a Referer").await);
    let spoofed = tag_request(
        &s,
        Method::GET,
        &key.access_key,
        &pixel_query("V-4"),
        Some("https://evil.example"),
    )
    .header(REFERER, format!("{SHOP}/"));
    assert_origin_refused(&send(spoofed, "pixel from another Origin").await);
    // A browser's image load (Accept: image/… first) is answered with an image, which the
    // browser does not block as it blocks JSON answers to images.
    let image = tag_request(&s, Method::GET, &key.access_key, &pixel_query("V-5"), None)
        .header(REFERER, format!("{SHOP}/"))
        .header(
            ACCEPT,
            "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
        )
        .send()
        .await
        .expect("pixel answered");
    assert_eq!(image.status(), 202);
    assert_eq!(image.headers()[CONTENT_TYPE], "image/gif");
    assert!(image.bytes().await.expect("body").starts_with(b"GIF89a"));
    assert_eq!(stored_events(&s).await, 2);
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_with_cors_headers() {
    let s = setup();
    let key = new_key(&s).await;
    let (status, headers, body) = preflight(&s, &key.access_key, Some(SHOP)).await;
    assert_eq!(status, 204, "{headers:?}");
    assert!(body.is_empty(), "a 204 with a body");
    assert_eq!(header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN), SHOP);
    let methods = header(&headers, &ACCESS_CONTROL_ALLOW_METHODS);
    assert!(
        methods.contains("GET") && methods.contains("POST"),
        "Allow-Methods: {methods:?}"
    );
    let allowed_headers = header(&headers, &ACCESS_CONTROL_ALLOW_HEADERS).to_ascii_lowercase();
    assert!(
        allowed_headers.contains("content-type"),
        "Allow-Headers: {allowed_headers:?}"
    );
    assert!(
        header(&headers, &ACCESS_CONTROL_MAX_AGE)
            .parse::<u64>()
            .is_ok(),
        "no Access-Control-Max-Age: {headers:?}"
    );
}

#[tokio::test]
async fn other_or_missing_origins_are_refused_without_cors_headers() {
    let s = setup();
    let key = new_key(&s).await;
    let record = event("V-1", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z");
    for origin in [
        Some("https://evil.example"),
        Some("http://shop.example"),
        Some("https://shop.example:8443"),
        Some("https://shop.example.evil.example"),
        Some("null"),
        None,
    ] {
        assert_origin_refused(&tag_post(&s, &key.access_key, origin, &record).await);
        let fields = [
            ("SourceCustomerNumber", "V-1"),
            ("Type", "productBrowsed"),
            ("EventTimeStamp", "2026-11-20T10:00:00Z"),
        ];
        assert_origin_refused(&tag_get(&s, &key.access_key, origin, &fields).await);
        let (status, headers, body) = preflight(&s, &key.access_key, origin).await;
        assert_eq!(status, 403, "preflight from {origin:?}: {headers:?}");
        assert!(
            !headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN),
            "a refused preflight was granted: {headers:?}"
        );
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(
            json["error"], "insufficient_scope",
            "preflight from {origin:?}"
        );
    }
    assert_eq!(stored_events(&s).await, 0);
}

#[tokio::test]
async fn profile_fields_and_records_without_an_event_are_refused() {
    let s = setup();
    let key = new_key(&s).await;
    let good = event("V-1", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z");
    let mut cases = Vec::new();
    for (field, value) in [
        ("Email", json!("ann@example.com")),
        ("FirstName", json!("Ann")),
        ("LastName", json!("Lee")),
        ("Phone", json!("+4915100000001")),
        ("Attributes", json!({"tier": "gold"})),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        cases.push(bad);
    }
    cases.push(json!({"SourceCustomerNumber": "V-1"}));
    cases.push(json!({"SourceCustomerNumber": "V-1", "Type": "productBrowsed"}));
    cases.push(json!({"Type": "productBrowsed", "EventTimeStamp": "2026-11-20T10:00:00Z"}));
    for bad in cases {
        let reply = tag_post(&s, &key.access_key, Some(SHOP), &json!([good.clone(), bad])).await;
        reply.expect_error(400, "invalid_request");
        assert_eq!(reply.json["errors"][0]["record"], 1, "{reply:?}");
    }
    let reply = tag_get(
        &s,
        &key.access_key,
        Some(SHOP),
        &[
            ("SourceCustomerNumber", "V-1"),
            ("Email", "ann@example.com"),
            ("Type", "productBrowsed"),
            ("EventTimeStamp", "2026-11-20T10:00:00Z"),
        ],
    )
    .await;
    reply.expect_error(400, "invalid_request");
    assert_eq!(stored_events(&s).await, 0);
    assert!(pulled_customers(&s).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Dead keys

#[tokio::test]
async fn an_unknown_key_is_invalid_token() {
    let s = setup();
    new_key(&s).await;
    let record = event("V-1", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z");
    for access_key in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "short", ""] {
        tag_post(&s, access_key, Some(SHOP), &record)
            .await
            .expect_error(401, "invalid_token");
    }
    // Without the accessKey parameter at all.
    let path = format!("/v2/{}/dw/tracker?scheme=a1webtag", s.tenant_id);
    let reply = send(
        s.server
            .post(&path)
            .header(ORIGIN, SHOP)
            .header(CONTENT_TYPE, "application/json")
            .body(record.to_string()),
        format!("POST {path}"),
    )
    .await;
    reply.expect_error(401, "invalid_token");
    // The token itself is not the access key.
    let key = new_key(&s).await;
    tag_post(&s, &key.token, Some(SHOP), &record)
        .await
        .expect_error(401, "invalid_token");
    assert_eq!(stored_events(&s).await, 0);
}

#[tokio::test]
async fn revoking_the_token_kills_its_key_only() {
    let s = setup();
    let doomed = new_key(&s).await;
    let kept = new_key(&s).await;
    let record = event("V-1", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z");
    assert_accepted_from(
        &tag_post(&s, &doomed.access_key, Some(SHOP), &record).await,
        1,
        SHOP,
    );
    revoke(&s, &doomed.token).await;
    tag_post(&s, &doomed.access_key, Some(SHOP), &record)
        .await
        .expect_error(401, "invalid_token");
    assert_accepted_from(
        &tag_post(&s, &kept.access_key, Some(SHOP), &record).await,
        1,
        SHOP,
    );
    assert_eq!(stored_events(&s).await, 2);
}

#[tokio::test]
async fn a_disabled_instances_keys_are_invalid_until_it_is_enabled() {
    let s = setup();
    let key = new_key(&s).await;
    let record = event("V-1", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z");
    s.deployment
        .cli_json(&["instance", "disable", &s.webtag.username, "--json"]);
    tag_post(&s, &key.access_key, Some(SHOP), &record)
        .await
        .expect_error(401, "invalid_token");
    s.deployment
        .cli_json(&["instance", "enable", &s.webtag.username, "--json"]);
    assert_accepted_from(
        &tag_post(&s, &key.access_key, Some(SHOP), &record).await,
        1,
        SHOP,
    );
    assert_eq!(stored_events(&s).await, 1);
}

// ---------------------------------------------------------------------------------------------
// Rate limit

#[tokio::test]
async fn a_burst_beyond_the_rate_limit_is_too_many_attempts_with_retry_after() {
    const BURST: usize = 5;
    const SENT: usize = 30;
    let s = setup_with(&[
        ("CDP_AUTH_WEBTAG_RATE", "1"),
        ("CDP_AUTH_WEBTAG_BURST", "5"),
    ]);
    let key = new_key(&s).await;
    let other = new_key(&s).await;
    let started = Instant::now();
    let mut requests = JoinSet::new();
    for i in 0..SENT {
        let subtype = format!("page-{i}");
        let query = format!(
            "&{}",
            serde_urlencoded::to_string([
                ("SourceCustomerNumber", "V-1"),
                ("Type", "pageView"),
                ("Subtype", subtype.as_str()),
                ("EventTimeStamp", "2026-11-20T10:00:00Z"),
            ])
            .unwrap()
        );
        let request = tag_request(&s, Method::GET, &key.access_key, &query, Some(SHOP));
        requests.spawn(send(request, format!("burst #{i}")));
    }
    let replies = requests.join_all().await;
    // At 1 request/s, the bucket refills by at most one per second the burst took.
    let refilled = started.elapsed().as_secs() as usize + 1;
    for reply in &replies {
        assert!(
            reply.status == 202 || reply.status == 429,
            "neither accepted nor limited: {reply:?}"
        );
    }
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    assert!(
        (BURST..=BURST + refilled).contains(&accepted),
        "{accepted} of {SENT} accepted with a burst of {BURST}"
    );
    for reply in replies.iter().filter(|r| r.status == 429) {
        reply.expect_error(429, "too_many_attempts");
        let retry_after = reply.header(RETRY_AFTER).parse::<u64>();
        assert!(
            retry_after.is_ok_and(|secs| secs >= 1),
            "Retry-After is not a positive number of seconds: {reply:?}"
        );
    }
    // The limit is per key: another key of the same instance is not held back.
    let reply = tag_post(
        &s,
        &other.access_key,
        Some(SHOP),
        &event("V-2", "pageView", "home", "2026-11-20T10:00:00Z"),
    )
    .await;
    assert_accepted_from(&reply, 1, SHOP);
    // Only the accepted requests stored events.
    assert_eq!(stored_events(&s).await, accepted + 1);
}

// ---------------------------------------------------------------------------------------------
// What the rest of the CDP sees

#[tokio::test]
async fn webtag_events_reach_a_profiles_pull_with_channel_webtag() {
    let s = setup();
    // The shop's back end pushed the customer; the browser adds what she looked at.
    let tracker_token = a1user_token(&s.server, &s.tracker).await;
    let path = format!("/v2/{}/dw/tracker?scheme=a1user", s.tenant_id);
    let pushed = send(
        s.server
            .post(&path)
            .header(AUTHORIZATION, bearer(&tracker_token))
            .header(CONTENT_TYPE, "application/json")
            .body(
                json!({"SourceCustomerNumber": "C-1", "Email": "ann@example.com",
                       "Type": "emailOpen", "Subtype": "spring",
                       "EventTimeStamp": "2026-11-20T09:00:00Z"})
                .to_string(),
            ),
        "tracker push",
    )
    .await;
    assert_eq!(pushed.status, 202, "{pushed:?}");
    let key = new_key(&s).await;
    let reply = tag_post(
        &s,
        &key.access_key,
        Some(SHOP),
        &json!([
            event("C-1", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z"),
            event("W-1", "categoryBrowsed", "shoes", "2026-11-20T11:00:00Z"),
        ]),
    )
    .await;
    assert_accepted_from(&reply, 2, SHOP);

    let ann = pulled_customer(&s, "C-1").await;
    assert_eq!(ann["email"], "ann@example.com", "{ann}");
    let events: Vec<(&str, &str)> = ann["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or(""),
                e["channel"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        events,
        [("productBrowsed", "webtag"), ("emailOpen", "tracker")],
        "{ann}"
    );
    let visitor = pulled_customer(&s, "W-1").await;
    assert_eq!(visitor["events"][0]["channel"], "webtag", "{visitor}");
    assert_eq!(visitor["events"][0]["subtype"], "shoes", "{visitor}");
}

/// The `origins` an instance view lists, in any order.
#[track_caller]
fn origins(view: &Value) -> BTreeSet<&str> {
    view["origins"]
        .as_array()
        .unwrap_or_else(|| panic!("no origins list: {view}"))
        .iter()
        .map(|o| o.as_str().expect("an origin"))
        .collect()
}

#[tokio::test]
async fn instance_origins_replaces_the_allowed_origins() {
    let s = setup();
    let key = new_key(&s).await;
    let record = event("V-1", "productBrowsed", "SKU-1", "2026-11-20T10:00:00Z");
    const NEW: &str = "https://www.shop.example";
    const LOCAL: &str = "http://localhost:3000";

    let changed = s.deployment.cli_json(&[
        "instance",
        "origins",
        "--instance",
        &s.webtag.username,
        "--origin",
        NEW,
        "--origin",
        LOCAL,
        "--json",
    ]);
    assert_eq!(origins(&changed), BTreeSet::from([NEW, LOCAL]), "{changed}");
    assert_origin_refused(&tag_post(&s, &key.access_key, Some(SHOP), &record).await);
    for origin in [NEW, LOCAL] {
        assert_accepted_from(
            &tag_post(&s, &key.access_key, Some(origin), &record).await,
            1,
            origin,
        );
        let (status, headers, _) = preflight(&s, &key.access_key, Some(origin)).await;
        assert_eq!(status, 204, "{headers:?}");
        assert_eq!(header(&headers, &ACCESS_CONTROL_ALLOW_ORIGIN), origin);
    }

    // The admin API sets them too.
    s.deployment.admin("ops");
    let admin_token = s.deployment.admin_api_token("ops");
    let id = match &s.webtag.json["id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    let path = format!("/admin/api/instances/{id}/origins");
    let reply = send_admin(
        s.server
            .request(Method::PUT, &path)
            .header(AUTHORIZATION, bearer(&admin_token))
            .header(CONTENT_TYPE, "application/json")
            .body(json!({"origins": [SHOP]}).to_string()),
        format!("PUT {path}"),
    )
    .await;
    assert_eq!(origins(reply.ok()), BTreeSet::from([SHOP]), "{reply:?}");
    assert_accepted_from(
        &tag_post(&s, &key.access_key, Some(SHOP), &record).await,
        1,
        SHOP,
    );
    assert_origin_refused(&tag_post(&s, &key.access_key, Some(NEW), &record).await);
}
