//! The secureApi profile API over HTTP — `POST /api/v1/profile/b2b/{resource}` — against the
//! real binary: data goes in the way an integration sends it (a DW Tracker instance's a1user
//! token pushing records to `/v2/{tenantId}/dw/tracker?scheme=a1user`), and comes out the way a
//! secureApi caller reads it, with a token from `/secureApi/token/profile/create`.
//!
//! Covered: every profile resource with values derived from the pushed events (basic,
//! segments, searchSegments, isCustomerInSegment, campaigns, userActivity, affinity,
//! recommendedProducts); naming the customer by each identifier header; who may call (tokens
//! without the resource, of api `gdpr`, a1user tokens, other tenants' tokens, revoked and
//! unknown tokens, no token, no `tenant_hash`); segments defined through the admin API and the
//! CLI with attribute, event and email-domain rules.
//!
//! Errors on this side are `{"status":"ERROR","message","error"}`, not the a1user shape, so
//! these answers go through [`send_cdp`] here rather than `support::http::send`.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use support::http::{self, Client, Reply, bearer, send, send_admin, send_vendor as send_cdp};
use support::{Deployment, Instance, Server};

/// Every resource of api `profile`.
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

// ---------------------------------------------------------------------------------------------
// The customers the suites push

/// Ann's phone, as pushed and as looked up.
const ANN_PHONE: &str = "+4915112345678";

/// One event of a fixture customer: `Type`, `Subtype`, and how many minutes before the
/// fixture's "now" it happened (every event of a customer at a different minute).
type Event = (&'static str, &'static str, i64);

/// Ann's events: C-1 is her CRM record, WEB-9 her web shop account (same email, other case).
const ANN_EVENTS: [(&str, Event); 14] = [
    ("C-1", ("categoryBrowsed", "shoes", 600)),
    ("C-1", ("categoryBrowsed", "shoes", 590)),
    ("C-1", ("categoryBrowsed", "shoes", 580)),
    ("C-1", ("categoryBrowsed", "hats", 570)),
    ("C-1", ("categoryBrowsed", "bags", 565)),
    ("WEB-9", ("productBrowsed", "SKU-1", 560)),
    ("WEB-9", ("productBrowsed", "SKU-1", 550)),
    ("WEB-9", ("productBrowsed", "SKU-2", 540)),
    ("WEB-9", ("checkout", "SKU-2", 530)),
    ("C-1", ("emailSend", "spring", 5000)),
    ("C-1", ("emailOpen", "spring", 4990)),
    ("C-1", ("emailSend", "autumn", 300)),
    ("C-1", ("emailSend", "autumn", 290)),
    ("C-1", ("emailBounce", "autumn", 280)),
];

/// Bob's events: twelve categories browsed once each, twelve searches, and one checkout
/// forty days ago — 25 events, more than a default page of 20.
fn bob_events() -> Vec<(String, String, i64)> {
    let mut events = Vec::new();
    for i in 1..=12 {
        events.push(("categoryBrowsed".into(), format!("cat-{i:02}"), 100 + i));
        events.push(("onsiteSearch".into(), format!("q-{i:02}"), 200 + i));
    }
    events.push(("checkout".into(), "SKU-9".into(), 40 * 24 * 60));
    events
}

/// An RFC 3339 instant (whole seconds, `Z`) this many minutes before `now`.
fn minutes_before(now: OffsetDateTime, minutes: i64) -> String {
    (now - time::Duration::minutes(minutes))
        .format(&Rfc3339)
        .expect("formats")
}

/// Parses an RFC 3339 instant from an answer.
#[track_caller]
fn instant(value: &Value) -> OffsetDateTime {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("not RFC 3339 {text:?}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Setting up

/// A tenant as `tenant create --json` printed it.
#[derive(Debug, Clone)]
struct Tenant {
    id: String,
    hash: String,
}

fn tenant(deployment: &Deployment, name: &str) -> Tenant {
    let json = deployment.tenant_without_oauth(name, "uat");
    Tenant {
        id: json["id"].as_str().expect("id").to_owned(),
        hash: json["tenant_hash"]
            .as_str()
            .expect("tenant_hash")
            .to_owned(),
    }
}

/// A served deployment: tenant `acme` (OAuth off) with a DW Tracker instance, a second
/// tenant `globex` with one of its own, and an admin `ops` with an admin API token; Ann and
/// Bob pushed into `acme`.
struct Cdp {
    deployment: Deployment,
    server: Server,
    acme: Tenant,
    globex: Tenant,
    tracker: Instance,
    globex_tracker: Instance,
    tracker_token: String,
    admin_token: String,
    /// The instant the fixture's event times count back from.
    now: OffsetDateTime,
}

async fn setup() -> Cdp {
    let deployment = Deployment::new();
    let acme = tenant(&deployment, "acme");
    let globex = tenant(&deployment, "globex");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let globex_tracker = deployment.instance("globex", "loader", "dw-tracker");
    deployment.admin("ops");
    let admin_token = deployment.admin_api_token("ops");
    let server = deployment.serve();
    let tracker_token = http::a1user_token(&server, &tracker).await;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("whole seconds");
    let cdp = Cdp {
        deployment,
        server,
        acme,
        globex,
        tracker,
        globex_tracker,
        tracker_token,
        admin_token,
        now,
    };
    cdp.push_fixture().await;
    cdp
}

impl Cdp {
    /// Pushes records into `acme` as its DW Tracker; asserts `202 {"accepted": N}`.
    async fn push(&self, records: Value) {
        let count = records.as_array().map_or(1, Vec::len);
        let path = format!("/v2/{}/dw/tracker?scheme=a1user", self.acme.id);
        let reply = send(
            self.server
                .post(&path)
                .header(AUTHORIZATION, bearer(&self.tracker_token))
                .json(&records),
            format!("POST {path} {records}"),
        )
        .await;
        assert_eq!(reply.status, 202, "push refused: {reply:?}");
        assert_eq!(reply.json, json!({ "accepted": count }), "{reply:?}");
    }

    /// A record carrying one event, `minutes` before the fixture's now.
    fn event(&self, source: &str, event_type: &str, subtype: &str, minutes: i64) -> Value {
        json!({
            "SourceCustomerNumber": source,
            "Type": event_type,
            "Subtype": subtype,
            "EventTimeStamp": minutes_before(self.now, minutes),
        })
    }

    /// Ann (two source records, unified by email) and Bob, with their events.
    async fn push_fixture(&self) {
        let mut records = vec![
            json!({
                "SourceCustomerNumber": "C-1",
                "Email": "Ann@Example.com",
                "FirstName": "Ann",
                "LastName": "Lee",
                "Phone": ANN_PHONE,
                "Attributes": {"tier": "gold"},
            }),
            json!({"SourceCustomerNumber": "WEB-9", "Email": " ann@EXAMPLE.com "}),
            json!({
                "SourceCustomerNumber": "B-2",
                "Email": "bob@other.test",
                "FirstName": "Bob",
                "LastName": null,
                "Phone": null,
                "Attributes": {"tier": "silver"},
            }),
        ];
        for (source, (event_type, subtype, minutes)) in ANN_EVENTS {
            records.push(self.event(source, event_type, subtype, minutes));
        }
        for (event_type, subtype, minutes) in bob_events() {
            records.push(self.event("B-2", &event_type, &subtype, minutes));
        }
        self.push(Value::Array(records)).await;
    }

    /// A secureApi token of `api` holding `resources`, for `tenant`.
    async fn secure_token(&self, tenant: &Tenant, api: &str, resources: &[&str]) -> String {
        let path = format!("/secureApi/token/{api}/create");
        let reply = send(
            self.server
                .post(&path)
                .header("tenant_hash", &tenant.hash)
                .json(&json!({"resource": resources, "validity": 60})),
            format!("POST {path} {resources:?}"),
        )
        .await;
        reply.ok()["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token: {reply:?}"))
            .to_owned()
    }

    /// A profile token of `acme` holding every resource.
    async fn full_token(&self) -> String {
        self.secure_token(&self.acme, "profile", &PROFILE_RESOURCES)
            .await
    }

    /// `POST /api/v1/profile/b2b/{resource}` with nothing set yet.
    fn profile_request(&self, resource: &str) -> RequestBuilder {
        self.server
            .post(&format!("/api/v1/profile/b2b/{resource}"))
            .header(CONTENT_TYPE, "application/json")
    }

    /// A profile call as the vendor's clients make it: the token in `access_token`, acme's
    /// `tenant_hash`, one identifier header, and the body (empty when `None`).
    async fn profile(
        &self,
        token: &str,
        resource: &str,
        who: Who<'_>,
        body: Option<Value>,
    ) -> Reply {
        let request = self
            .profile_request(resource)
            .header("access_token", token)
            .header("tenant_hash", &self.acme.hash);
        send_cdp(
            who.name(request)
                .body(body.map_or(String::new(), |b| b.to_string())),
            format!("POST {resource} {who:?}"),
        )
        .await
    }

    /// [`Cdp::profile`] that must succeed: its `data`.
    async fn data(&self, token: &str, resource: &str, who: Who<'_>, body: Option<Value>) -> Value {
        ok_data(&self.profile(token, resource, who, body).await)
    }

    /// An admin API request with the admin API token.
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .server
            .request(method.clone(), path)
            .header(AUTHORIZATION, bearer(&self.admin_token));
        if let Some(body) = &body {
            request = request.json(body);
        }
        send_admin(request, format!("{method} {path} {body:?}")).await
    }

    /// `PUT /admin/api/tenants/{acme}/segments/{name}` with this rule.
    async fn put_segment(&self, name: &str, rule: Value) -> Reply {
        let path = format!("/admin/api/tenants/{}/segments/{name}", self.acme.id);
        self.admin(Method::PUT, &path, Some(json!({ "rule": rule })))
            .await
    }

    /// `cdp-auth segment set --tenant acme --name NAME --rule RULE --json`, whatever its outcome.
    fn cli_segment(&self, name: &str, rule: &Value) -> std::process::Output {
        self.deployment.cli(&[
            "segment",
            "set",
            "--tenant",
            "acme",
            "--name",
            name,
            "--rule",
            &rule.to_string(),
            "--json",
        ])
    }

    /// Ann's gcrId, read through `basic`.
    async fn ann_gcr_id(&self, token: &str) -> String {
        self.data(token, "basic", ANN, None).await["gcrId"]
            .as_str()
            .expect("gcrId")
            .to_owned()
    }
}

/// The header naming the customer a profile call is about.
#[derive(Debug, Clone, Copy)]
enum Who<'a> {
    Email(&'a str),
    Mobile(&'a str),
    Gcr(&'a str),
    External(&'a str),
    Nobody,
}

const ANN: Who<'static> = Who::Email("ann@example.com");
const BOB: Who<'static> = Who::Email("bob@other.test");

impl Who<'_> {
    fn name(self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Who::Email(value) => request.header("email_address", value),
            Who::Mobile(value) => request.header("mobile_number", value),
            Who::Gcr(value) => request.header("gcrId", value),
            Who::External(value) => request.header("customer_code_external", value),
            Who::Nobody => request,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the secureApi CDP answers

/// Asserts `200 OK` and returns `data`.
#[track_caller]
fn ok_data(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "unexpected answer: {reply:?}");
    reply.json["data"].clone()
}

/// Asserts a 403 `insufficient_scope` with its Bearer challenge.
#[track_caller]
fn assert_insufficient_scope(reply: &Reply) {
    reply.expect_error(403, "insufficient_scope");
    let challenge = reply.header(WWW_AUTHENTICATE);
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"insufficient_scope\""),
        "403 without an insufficient_scope challenge: {reply:?}"
    );
}

/// Asserts a 401 `invalid_token` whose Bearer challenge names the error.
#[track_caller]
fn assert_dead_token(reply: &Reply) {
    reply.expect_error(401, "invalid_token");
    reply.expect_challenge("Bearer");
    assert!(
        reply
            .header(WWW_AUTHENTICATE)
            .contains("error=\"invalid_token\""),
        "a dead token's challenge names invalid_token: {reply:?}"
    );
}

/// The `name` of each object in a list.
fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["name"].as_str().expect("name").to_owned())
        .collect()
}

/// A list of `{"name", "score"}` as pairs.
fn scores(list: &Value) -> Vec<(String, i64)> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| {
            (
                item["name"].as_str().expect("name").to_owned(),
                item["score"].as_i64().expect("score"),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
    expected
        .iter()
        .map(|(n, s)| ((*n).to_owned(), *s))
        .collect()
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The resources

#[tokio::test]
async fn basic_names_the_unified_customer_with_all_its_source_ids() {
    let cdp = setup().await;
    let token = cdp.full_token().await;

    let ann = cdp.data(&token, "basic", ANN, None).await;
    let gcr_id = ann["gcrId"].as_str().expect("gcrId");
    assert!(
        gcr_id.len() == 28
            && gcr_id.starts_with("gcr_")
            && gcr_id[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
        "gcrId is not gcr_ + 24 lowercase alphanumerics: {ann}"
    );
    assert_eq!(ann["firstName"], "Ann", "{ann}");
    assert_eq!(ann["lastName"], "Lee", "{ann}");
    assert_eq!(ann["email"], "ann@example.com", "normalised: {ann}");
    assert_eq!(ann["phone"], ANN_PHONE, "{ann}");
    let mut sources = strings(&ann["sourceCustomerNumbers"]);
    sources.sort();
    assert_eq!(
        sources,
        ["C-1", "WEB-9"],
        "both records unify by email: {ann}"
    );
    let (created, updated) = (instant(&ann["createdAt"]), instant(&ann["updatedAt"]));
    assert!(created <= updated, "{ann}");
    let age = OffsetDateTime::now_utc() - created;
    assert!(
        age >= time::Duration::ZERO - time::Duration::seconds(5)
            && age < time::Duration::minutes(5),
        "created just now: {ann}"
    );

    let bob = cdp.data(&token, "basic", BOB, None).await;
    assert_eq!(bob["firstName"], "Bob", "{bob}");
    assert_eq!(bob["lastName"], Value::Null, "{bob}");
    assert_eq!(bob["phone"], Value::Null, "{bob}");
    assert_eq!(strings(&bob["sourceCustomerNumbers"]), ["B-2"], "{bob}");
    assert_ne!(bob["gcrId"], ann["gcrId"]);

    // A later push changes what basic shows; a null leaves the field as it was.
    cdp.push(json!([{"SourceCustomerNumber": "C-1", "LastName": "Lee-Smith", "FirstName": null}]))
        .await;
    let renamed = cdp.data(&token, "basic", ANN, None).await;
    assert_eq!(renamed["lastName"], "Lee-Smith", "{renamed}");
    assert_eq!(renamed["firstName"], "Ann", "{renamed}");
    assert_eq!(renamed["gcrId"], ann["gcrId"], "the gcrId is stable");
    assert!(instant(&renamed["updatedAt"]) >= instant(&ann["updatedAt"]));
}

#[tokio::test]
async fn campaigns_count_email_events_per_campaign_newest_activity_first() {
    let cdp = setup().await;
    let token = cdp.full_token().await;

    let ann = cdp.data(&token, "campaigns", ANN, None).await;
    let campaigns = ann["campaigns"].as_array().expect("campaigns");
    assert_eq!(names(&ann["campaigns"]), ["autumn", "spring"], "{ann}");
    let counts =
        |c: &Value| ["sent", "opened", "clicked", "bounced"].map(|k| c[k].as_i64().unwrap_or(-1));
    assert_eq!(counts(&campaigns[0]), [2, 0, 0, 1], "autumn: {ann}");
    assert_eq!(counts(&campaigns[1]), [1, 1, 0, 0], "spring: {ann}");
    assert_eq!(
        instant(&campaigns[0]["lastActivity"]),
        cdp.now - time::Duration::minutes(280),
        "autumn's last activity is its bounce: {ann}"
    );
    assert_eq!(
        instant(&campaigns[1]["lastActivity"]),
        cdp.now - time::Duration::minutes(4990),
        "spring's last activity is its open: {ann}"
    );

    // A click on spring, newer than anything of autumn, moves spring to the front.
    cdp.push(json!([cdp.event("C-1", "emailClick", "spring", 10)]))
        .await;
    let after = cdp.data(&token, "campaigns", ANN, None).await;
    assert_eq!(names(&after["campaigns"]), ["spring", "autumn"], "{after}");
    assert_eq!(counts(&after["campaigns"][0]), [1, 1, 1, 0], "{after}");

    // Browsing and searching are no campaigns.
    let bob = cdp.data(&token, "campaigns", BOB, None).await;
    assert_eq!(bob, json!({"campaigns": []}));
}

#[tokio::test]
async fn user_activity_lists_events_newest_first_and_honours_page_size() {
    let cdp = setup().await;
    let token = cdp.full_token().await;

    let mut expected: Vec<(String, String, i64)> = ANN_EVENTS
        .iter()
        .map(|(_, (t, s, m))| ((*t).to_owned(), (*s).to_owned(), *m))
        .collect();
    expected.sort_by_key(|(_, _, minutes)| *minutes);
    let shown = |data: &Value| -> Vec<(String, String, i64)> {
        data["activities"]
            .as_array()
            .unwrap_or_else(|| panic!("no activities: {data}"))
            .iter()
            .map(|a| {
                assert_eq!(a["channel"], "tracker", "{a}");
                let at = instant(&a["eventTimeStamp"]);
                (
                    a["type"].as_str().expect("type").to_owned(),
                    a["subtype"].as_str().expect("subtype").to_owned(),
                    (cdp.now - at).whole_minutes(),
                )
            })
            .collect()
    };

    let all = cdp.data(&token, "userActivity", ANN, None).await;
    assert_eq!(shown(&all), expected, "all 14 events, newest first");

    let page = cdp
        .data(&token, "userActivity", ANN, Some(json!({"pageSize": 3})))
        .await;
    assert_eq!(shown(&page), expected[..3], "the 3 newest");

    // Bob has 25 events: a page is 20 unless asked otherwise.
    let mut bob_expected = bob_events();
    bob_expected.sort_by_key(|(_, _, minutes)| *minutes);
    let default = cdp.data(&token, "userActivity", BOB, None).await;
    assert_eq!(shown(&default), bob_expected[..20], "default page of 20");
    let empty_body = cdp.data(&token, "userActivity", BOB, Some(json!({}))).await;
    assert_eq!(shown(&empty_body), bob_expected[..20]);
    let bigger = cdp
        .data(&token, "userActivity", BOB, Some(json!({"pageSize": 1000})))
        .await;
    assert_eq!(shown(&bigger), bob_expected);
    let one = cdp
        .data(&token, "userActivity", BOB, Some(json!({"pageSize": 1})))
        .await;
    assert_eq!(shown(&one), bob_expected[..1]);

    for bad in [
        json!({"pageSize": 0}),
        json!({"pageSize": 1001}),
        json!({"pageSize": "ten"}),
    ] {
        cdp.profile(&token, "userActivity", BOB, Some(bad))
            .await
            .expect_error(400, "invalid_request");
    }
}

#[tokio::test]
async fn affinity_ranks_browsed_categories_and_products_highest_first() {
    let cdp = setup().await;
    let token = cdp.full_token().await;

    let ann = cdp.data(&token, "affinity", ANN, None).await;
    assert_eq!(
        scores(&ann["categories"]),
        pairs(&[("shoes", 3), ("bags", 1), ("hats", 1)]),
        "3× shoes first, ties by name: {ann}"
    );
    assert_eq!(
        scores(&ann["products"]),
        pairs(&[("SKU-1", 2), ("SKU-2", 1)]),
        "{ann}"
    );

    // Twelve categories browsed once each: the top 10, by name.
    let bob = cdp.data(&token, "affinity", BOB, None).await;
    let top: Vec<(String, i64)> = (1..=10).map(|i| (format!("cat-{i:02}"), 1)).collect();
    assert_eq!(scores(&bob["categories"]), top, "{bob}");
    assert_eq!(bob["products"], json!([]), "{bob}");

    // Browsing hats three more times puts hats first.
    let more: Vec<Value> = (1..=3)
        .map(|i| cdp.event("C-1", "categoryBrowsed", "hats", i))
        .collect();
    cdp.push(Value::Array(more)).await;
    let after = cdp.data(&token, "affinity", ANN, None).await;
    assert_eq!(
        scores(&after["categories"]),
        pairs(&[("hats", 4), ("shoes", 3), ("bags", 1)]),
        "{after}"
    );
}

#[tokio::test]
async fn recommended_products_are_the_most_browsed_not_yet_bought() {
    let cdp = setup().await;
    let token = cdp.full_token().await;

    let ann = cdp.data(&token, "recommendedProducts", ANN, None).await;
    assert_eq!(
        ann,
        json!({"products": [{"name": "SKU-1", "score": 2}]}),
        "SKU-2 was bought"
    );

    // Browsing a new product adds it; buying SKU-1 removes it.
    cdp.push(json!([
        cdp.event("C-1", "productBrowsed", "SKU-3", 5),
        cdp.event("WEB-9", "checkout", "SKU-1", 4),
    ]))
    .await;
    let after = cdp.data(&token, "recommendedProducts", ANN, None).await;
    assert_eq!(after, json!({"products": [{"name": "SKU-3", "score": 1}]}));

    let bob = cdp.data(&token, "recommendedProducts", BOB, None).await;
    assert_eq!(bob, json!({"products": []}));
}

#[tokio::test]
async fn segments_defined_through_the_admin_api_and_the_cli_decide_membership() {
    let cdp = setup().await;
    let token = cdp.full_token().await;

    // Three through the admin API …
    let by_api = [
        ("vip", json!({"attribute": "tier", "equals": "gold"})),
        ("example-mail", json!({"emailDomain": "example.com"})),
        (
            "gold-buyers",
            json!({"all": [
                {"attribute": "tier", "equals": "gold"},
                {"event": "checkout", "atLeast": 1, "withinDays": 30},
            ]}),
        ),
    ];
    for (name, rule) in &by_api {
        let reply = cdp.put_segment(name, rule.clone()).await;
        let segment = reply.ok();
        assert_eq!(segment["name"], *name, "{reply:?}");
        assert_eq!(segment["rule"], *rule, "{reply:?}");
    }
    // … four through the CLI, while the server runs.
    let by_cli = [
        (
            "buyers",
            json!({"event": "checkout", "atLeast": 1, "withinDays": 30}),
        ),
        ("ever-bought", json!({"event": "checkout", "atLeast": 1})),
        ("repeat-buyers", json!({"event": "checkout", "atLeast": 2})),
        (
            "silver-or-other",
            json!({"any": [
                {"attribute": "tier", "equals": "silver"},
                {"emailDomain": "other.test"},
            ]}),
        ),
    ];
    for (name, rule) in &by_cli {
        let printed = support::json_of(&cdp.cli_segment(name, rule), "segment set");
        assert_eq!(printed["name"], *name, "{printed}");
        assert_eq!(printed["rule"], *rule, "{printed}");
    }

    let listed = cdp
        .admin(
            Method::GET,
            &format!("/admin/api/tenants/{}/segments", cdp.acme.id),
            None,
        )
        .await;
    let mut listed_names = names(listed.ok());
    listed_names.sort();
    let mut all_names: Vec<&str> = by_api.iter().chain(&by_cli).map(|(n, _)| *n).collect();
    all_names.sort();
    assert_eq!(listed_names, all_names, "{listed:?}");
    let cli_list = cdp
        .deployment
        .cli_json(&["segment", "list", "--tenant", "acme", "--json"]);
    let mut cli_names = names(&cli_list);
    cli_names.sort();
    assert_eq!(cli_names, all_names, "{cli_list}");

    // Membership: attribute, event (with and without a window), email domain, all, any.
    let ann_in = [
        "buyers",
        "ever-bought",
        "example-mail",
        "gold-buyers",
        "vip",
    ];
    let bob_in = ["ever-bought", "silver-or-other"];
    let ann = cdp.data(&token, "segments", ANN, None).await;
    assert_eq!(strings(&ann["segments"]), ann_in, "sorted: {ann}");
    let bob = cdp.data(&token, "segments", BOB, None).await;
    assert_eq!(
        strings(&bob["segments"]),
        bob_in,
        "Bob's checkout is 40 days old: {bob}"
    );

    for segment in &all_names {
        for (who, member_of) in [(ANN, &ann_in[..]), (BOB, &bob_in[..])] {
            let answer = cdp
                .data(
                    &token,
                    "isCustomerInSegment",
                    who,
                    Some(json!({ "segment": segment })),
                )
                .await;
            assert_eq!(
                answer,
                json!({"segment": segment, "inSegment": member_of.contains(segment)}),
                "{who:?} in {segment}"
            );
        }
    }

    // searchSegments: every segment whose name contains the query, any case, sorted.
    let found = cdp
        .data(&token, "searchSegments", ANN, Some(json!({"query": "BUY"})))
        .await;
    assert_eq!(
        found,
        json!({"segments": [
            {"name": "buyers", "member": true},
            {"name": "gold-buyers", "member": true},
            {"name": "repeat-buyers", "member": false},
        ]})
    );
    let everything = cdp.data(&token, "searchSegments", BOB, None).await;
    let expected: Vec<Value> = all_names
        .iter()
        .map(|name| json!({"name": name, "member": bob_in.contains(name)}))
        .collect();
    assert_eq!(everything, json!({ "segments": expected }));

    // Membership follows the data: a second checkout makes Ann a repeat buyer, a new tier
    // takes her out of vip.
    cdp.push(json!([
        cdp.event("WEB-9", "checkout", "SKU-1", 3),
        {"SourceCustomerNumber": "C-1", "Attributes": {"tier": "bronze"}},
    ]))
    .await;
    let ann = cdp.data(&token, "segments", ANN, None).await;
    assert_eq!(
        strings(&ann["segments"]),
        ["buyers", "ever-bought", "example-mail", "repeat-buyers"],
        "{ann}"
    );
}

#[tokio::test]
async fn is_customer_in_segment_needs_a_known_segment_in_its_body() {
    let cdp = setup().await;
    let token = cdp.full_token().await;
    cdp.put_segment("vip", json!({"attribute": "tier", "equals": "gold"}))
        .await
        .ok();

    cdp.profile(
        &token,
        "isCustomerInSegment",
        ANN,
        Some(json!({"segment": "no-such-segment"})),
    )
    .await
    .expect_error(404, "not_found");
    for body in [None, Some(json!({})), Some(json!({"segment": 7}))] {
        cdp.profile(&token, "isCustomerInSegment", ANN, body)
            .await
            .expect_error(400, "invalid_request");
    }

    // A deleted segment is gone for good.
    let path = format!("/admin/api/tenants/{}/segments/vip", cdp.acme.id);
    let deleted = cdp
        .server
        .delete(&path)
        .header(AUTHORIZATION, bearer(&cdp.admin_token))
        .send()
        .await
        .expect("DELETE answered");
    assert_eq!(deleted.status(), 204);
    cdp.profile(
        &token,
        "isCustomerInSegment",
        ANN,
        Some(json!({"segment": "vip"})),
    )
    .await
    .expect_error(404, "not_found");
    cdp.admin(Method::DELETE, &path, None)
        .await
        .expect_error(404, "not_found");
    let ann = cdp.data(&token, "segments", ANN, None).await;
    assert_eq!(ann, json!({"segments": []}));
}

#[tokio::test]
async fn invalid_segment_rules_are_refused_by_the_admin_api_and_the_cli() {
    let cdp = setup().await;
    let invalid = [
        json!({}),
        json!({"attribute": "tier"}),
        json!({"event": "checkout", "atLeast": "two"}),
        json!({"event": "checkout", "atLeast": 1, "withinDays": -3}),
        json!({"emailDomain": 42}),
        json!({"all": "vip"}),
        json!({"any": [{"nonsense": true}]}),
        json!({"unknownRule": 1}),
        json!("vip"),
    ];
    for rule in &invalid {
        cdp.put_segment("broken", rule.clone())
            .await
            .expect_error(400, "invalid_request");
        let output = cdp.cli_segment("broken", rule);
        assert!(
            !output.status.success(),
            "segment set accepted {rule}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
    // The body must carry a rule at all.
    let path = format!("/admin/api/tenants/{}/segments/broken", cdp.acme.id);
    cdp.admin(Method::PUT, &path, Some(json!({"name": "broken"})))
        .await
        .expect_error(400, "invalid_request");

    let listed = cdp
        .admin(
            Method::GET,
            &format!("/admin/api/tenants/{}/segments", cdp.acme.id),
            None,
        )
        .await;
    assert_eq!(listed.ok(), &json!([]), "nothing was stored");
}

// ---------------------------------------------------------------------------------------------
// Naming the customer

#[tokio::test]
async fn each_identifier_header_names_the_same_customer() {
    let cdp = setup().await;
    let token = cdp.full_token().await;
    let gcr_id = cdp.ann_gcr_id(&token).await;

    for who in [
        Who::Email("ann@example.com"),
        Who::Email("ANN@Example.COM"),
        Who::Mobile(ANN_PHONE),
        Who::Gcr(&gcr_id),
        Who::External("C-1"),
        Who::External("WEB-9"),
    ] {
        let ann = cdp.data(&token, "basic", who, None).await;
        assert_eq!(ann["gcrId"], gcr_id.as_str(), "{who:?}: {ann}");
        assert_eq!(ann["firstName"], "Ann", "{who:?}: {ann}");
    }

    cdp.profile(&token, "basic", Who::Nobody, None)
        .await
        .expect_error(400, "invalid_request");
    for unknown in [
        Who::Email("nobody@example.com"),
        Who::Mobile("+10000000000"),
        Who::Gcr("gcr_000000000000000000000000"),
        Who::External("C-404"),
    ] {
        cdp.profile(&token, "basic", unknown, None)
            .await
            .expect_error(404, "not_found");
        cdp.profile(&token, "segments", unknown, None)
            .await
            .expect_error(404, "not_found");
    }
}

#[tokio::test]
async fn another_tenants_customers_are_invisible() {
    let cdp = setup().await;
    // globex pushes its own Ann under the same email and source id.
    let globex_token = http::a1user_token(&cdp.server, &cdp.globex_tracker).await;
    let path = format!("/v2/{}/dw/tracker?scheme=a1user", cdp.globex.id);
    let pushed = send(
        cdp.server
            .post(&path)
            .header(AUTHORIZATION, bearer(&globex_token))
            .json(&json!([{"SourceCustomerNumber": "C-1", "Email": "ann@example.com", "FirstName": "Other Ann"}])),
        "globex push",
    )
    .await;
    assert_eq!(pushed.status, 202, "{pushed:?}");

    let acme_token = cdp.full_token().await;
    let acme_ann = cdp.data(&acme_token, "basic", ANN, None).await;
    let globex_profile = cdp
        .secure_token(&cdp.globex, "profile", &PROFILE_RESOURCES)
        .await;
    let as_globex = |who: Who<'_>| {
        let request = cdp
            .profile_request("basic")
            .header("access_token", &globex_profile)
            .header("tenant_hash", &cdp.globex.hash);
        send_cdp(who.name(request), format!("globex basic {who:?}"))
    };
    let globex_ann = ok_data(&as_globex(ANN).await);
    assert_eq!(globex_ann["firstName"], "Other Ann", "{globex_ann}");
    assert_ne!(globex_ann["gcrId"], acme_ann["gcrId"]);
    // acme's Bob and acme's gcrId mean nothing to globex.
    as_globex(BOB).await.expect_error(404, "not_found");
    let acme_gcr = acme_ann["gcrId"].as_str().expect("gcrId").to_owned();
    as_globex(Who::Gcr(&acme_gcr))
        .await
        .expect_error(404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// Who may call

#[tokio::test]
async fn the_token_may_come_in_access_token_or_authorization_bearer() {
    let cdp = setup().await;
    let token = cdp.full_token().await;
    let via_header = cdp.data(&token, "basic", ANN, None).await;

    let via_bearer = ok_data(
        &send_cdp(
            ANN.name(
                cdp.profile_request("basic")
                    .header(AUTHORIZATION, bearer(&token))
                    .header("tenant_hash", &cdp.acme.hash),
            ),
            "basic with Authorization: Bearer".into(),
        )
        .await,
    );
    assert_eq!(via_bearer, via_header);
}

#[tokio::test]
async fn a_token_serves_only_the_resources_it_holds() {
    let cdp = setup().await;
    let basic_only = cdp.secure_token(&cdp.acme, "profile", &["basic"]).await;
    cdp.data(&basic_only, "basic", ANN, None).await;
    for resource in &PROFILE_RESOURCES[1..] {
        let body = (*resource == "isCustomerInSegment").then(|| json!({"segment": "vip"}));
        assert_insufficient_scope(&cdp.profile(&basic_only, resource, ANN, body).await);
    }

    // A token holding each resource alone may call just that one.
    let two = cdp
        .secure_token(&cdp.acme, "profile", &["affinity", "campaigns"])
        .await;
    cdp.data(&two, "affinity", ANN, None).await;
    cdp.data(&two, "campaigns", ANN, None).await;
    assert_insufficient_scope(&cdp.profile(&two, "basic", ANN, None).await);

    // A resource no api has.
    let full = cdp.full_token().await;
    cdp.profile(&full, "creditScore", ANN, None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn tokens_of_other_apis_dialects_and_tenants_are_refused() {
    let cdp = setup().await;

    let gdpr = cdp
        .secure_token(
            &cdp.acme,
            "gdpr",
            &[
                "registerGdprRequest",
                "gdprRequestStatus",
                "revokeGdprActions",
            ],
        )
        .await;
    assert_insufficient_scope(&cdp.profile(&gdpr, "basic", ANN, None).await);

    // The tracker's a1user token, as access_token and as Bearer.
    assert_insufficient_scope(&cdp.profile(&cdp.tracker_token, "basic", ANN, None).await);
    let as_bearer = send_cdp(
        ANN.name(
            cdp.profile_request("basic")
                .header(AUTHORIZATION, bearer(&cdp.tracker_token))
                .header("tenant_hash", &cdp.acme.hash),
        ),
        "a1user token as Bearer".into(),
    )
    .await;
    assert_insufficient_scope(&as_bearer);

    // globex's token with acme's tenant_hash, and acme's token with globex's or a made-up one.
    let globex = cdp
        .secure_token(&cdp.globex, "profile", &PROFILE_RESOURCES)
        .await;
    assert_insufficient_scope(&cdp.profile(&globex, "basic", ANN, None).await);
    let acme = cdp.full_token().await;
    for hash in [cdp.globex.hash.as_str(), "0123456789abcdef0123456789abcdef"] {
        let reply = send_cdp(
            ANN.name(
                cdp.profile_request("basic")
                    .header("access_token", &acme)
                    .header("tenant_hash", hash),
            ),
            format!("acme token, tenant_hash {hash}"),
        )
        .await;
        assert_insufficient_scope(&reply);
    }
}

#[tokio::test]
async fn a_missing_tenant_hash_is_invalid_request() {
    let cdp = setup().await;
    let token = cdp.full_token().await;
    let reply = send_cdp(
        ANN.name(cdp.profile_request("basic").header("access_token", &token)),
        "basic without tenant_hash".into(),
    )
    .await;
    reply.expect_error(400, "invalid_request");
    assert!(
        !reply.text().contains(&token),
        "an error never echoes the token: {reply:?}"
    );
}

#[tokio::test]
async fn no_unknown_or_revoked_token_is_401() {
    let cdp = setup().await;

    let none = send_cdp(
        ANN.name(
            cdp.profile_request("basic")
                .header("tenant_hash", &cdp.acme.hash),
        ),
        "basic without a token".into(),
    )
    .await;
    none.expect_error(401, "invalid_token");
    none.expect_challenge("Bearer");
    // The answer names the header the vendor's clients send the token in.
    let message = none.json["message"].as_str().unwrap_or("");
    assert!(message.contains("access_token"), "{none:?}");
    assert!(
        none.header(WWW_AUTHENTICATE).contains("realm=\"cdp-auth\""),
        "{none:?}"
    );

    let made_up = "A".repeat(43);
    assert_dead_token(&cdp.profile(&made_up, "basic", ANN, None).await);

    let token = cdp.full_token().await;
    cdp.data(&token, "basic", ANN, None).await;
    let revoked = http::revoke(&cdp.server, Client::basic(&cdp.tracker), &token).await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert_dead_token(&cdp.profile(&token, "basic", ANN, None).await);
    let as_bearer = send_cdp(
        ANN.name(
            cdp.profile_request("basic")
                .header(AUTHORIZATION, bearer(&token))
                .header("tenant_hash", &cdp.acme.hash),
        ),
        "revoked token as Bearer".into(),
    )
    .await;
    assert_dead_token(&as_bearer);
}

/// Errors raised before a handler runs (unknown route, wrong method, oversized body, a
/// resource name that is not UTF-8) still come in the vendor's shape on `/api/v1/…`.
#[tokio::test]
async fn errors_before_any_handler_keep_the_vendor_shape() {
    let cdp = setup().await;
    let token = cdp.full_token().await;
    let authorised = |request: RequestBuilder| {
        request
            .header("access_token", &token)
            .header("tenant_hash", &cdp.acme.hash)
    };

    let wrong_method = send_cdp(
        authorised(cdp.server.get("/api/v1/profile/b2b/basic")),
        "GET of a POST-only resource".into(),
    )
    .await;
    wrong_method.expect_error(405, "method_not_allowed");
    assert_eq!(
        wrong_method.header(reqwest::header::ALLOW),
        "POST",
        "{wrong_method:?}"
    );

    let unknown_route = send_cdp(
        authorised(cdp.server.post("/api/v1/profile/b2b/basic/extra")),
        "a route that does not exist".into(),
    )
    .await;
    unknown_route.expect_error(404, "not_found");

    let oversized = send_cdp(
        ANN.name(authorised(cdp.profile_request("userActivity")))
            .body(format!(
                r#"{{"pageSize":1,"pad":"{}"}}"#,
                "x".repeat(100 * 1024)
            )),
        "a 100 KiB profile body".into(),
    )
    .await;
    oversized.expect_error(413, "payload_too_large");

    let not_utf8 = send_cdp(
        ANN.name(authorised(cdp.profile_request("%ff%fe"))),
        "a resource name that is not UTF-8".into(),
    )
    .await;
    assert_eq!(not_utf8.status, 400, "{not_utf8:?}");
}
