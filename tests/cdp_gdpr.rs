//! The secureApi GDPR API over HTTP — `POST /api/v1/gdpr/b2b/{registerGdprRequest,
//! gdprRequestStatus, revokeGdprActions}` — against the real binary and its real database.
//!
//! Data goes in the way an integration sends it (a DW Tracker's a1user push); a person then
//! asks what is held on them (`access`: pending, then done with an export of their records and
//! events) or to be forgotten (`forget`: afterwards no API knows them — the profile API answers
//! 404, the 360 pull shows nobody — and no table of the database holds their email, phone,
//! names, source ids or gcrId, while everyone else's data stays). Also covered: the audit log
//! (`gdpr.*` actions, never the person's data), revoking a pending request (with the worker
//! held back by `CDP_AUTH_GDPR_SCHEDULE=daily`), refusing to revoke a done one, unknown
//! request ids, malformed requests, and who may call.
//!
//! Errors on this side are `{"status":"ERROR","message","error"}`, so answers go through
//! [`send_cdp`] here rather than `support::http::send`.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use support::http::{
    self, Reply, bearer, send, send_admin, send_json_or_hal, send_vendor as send_cdp,
};
use support::{Deployment, Instance, Server};

/// Every resource of api `gdpr`.
const GDPR_RESOURCES: [&str; 3] = [
    "registerGdprRequest",
    "gdprRequestStatus",
    "revokeGdprActions",
];

/// Every table of the CDP and the audit log: what "nothing remains" is checked against.
const TABLES: [&str; 8] = [
    "cdp_customers",
    "cdp_records",
    "cdp_events",
    "gdpr_requests",
    "audit_log",
    "webtag_keys",
    "cdp_push_keys",
    "cdp_segments",
];

// ---------------------------------------------------------------------------------------------
// The people

/// A person as pushed: two source records unified by email, and some events.
struct Person {
    sources: [&'static str; 2],
    /// As pushed (mixed case).
    email: &'static str,
    /// Normalised, as the CDP keeps it.
    normalised_email: &'static str,
    first_name: &'static str,
    last_name: &'static str,
    phone: &'static str,
    loyalty_card: &'static str,
}

/// The person who asks to be forgotten.
const ANN: Person = Person {
    sources: ["SRC-ANN-7731", "WEB-ANN-0042"],
    email: "Annabel.Quist@Example.com",
    normalised_email: "annabel.quist@example.com",
    first_name: "Annabel",
    last_name: "Quistorp",
    phone: "+4915198765432",
    loyalty_card: "LC-ANN-5521",
};

/// Everyone else, who must stay.
const BOB: Person = Person {
    sources: ["SRC-BOB-1188", "WEB-BOB-0077"],
    email: "Bobby.Stayer@Other.test",
    normalised_email: "bobby.stayer@other.test",
    first_name: "Bobbington",
    last_name: "Stayerhof",
    phone: "+4915100001111",
    loyalty_card: "LC-BOB-9034",
};

/// The events each person has: (source index, Type, Subtype, EventTimeStamp).
const EVENTS: [(usize, &str, &str, &str); 5] = [
    (0, "emailSend", "spring", "2026-03-01T09:00:00Z"),
    (0, "emailOpen", "spring", "2026-03-01T10:00:00Z"),
    (1, "productBrowsed", "SKU-1", "2026-03-02T11:00:00Z"),
    (1, "categoryBrowsed", "shoes", "2026-03-02T11:05:00Z"),
    (1, "checkout", "SKU-1", "2026-03-02T11:30:00Z"),
];

impl Person {
    /// The records that push this person and their events.
    fn records(&self) -> Vec<Value> {
        let mut records = vec![
            json!({
                "SourceCustomerNumber": self.sources[0],
                "Email": self.email,
                "FirstName": self.first_name,
                "LastName": self.last_name,
                "Phone": self.phone,
                "Attributes": {"loyaltyCard": self.loyalty_card},
            }),
            json!({"SourceCustomerNumber": self.sources[1], "Email": self.normalised_email}),
        ];
        for (source, event_type, subtype, at) in EVENTS {
            records.push(json!({
                "SourceCustomerNumber": self.sources[source],
                "Type": event_type,
                "Subtype": subtype,
                "EventTimeStamp": at,
            }));
        }
        records
    }

    /// Every string that identifies the person, lowercased (the database is searched without
    /// regard to case), given their gcrId.
    fn traces(&self, gcr_id: &str) -> Vec<String> {
        [
            self.email,
            self.normalised_email,
            self.first_name,
            self.last_name,
            self.phone,
            self.loyalty_card,
            self.sources[0],
            self.sources[1],
            gcr_id,
        ]
        .iter()
        .map(|s| s.to_lowercase())
        .collect::<std::collections::BTreeSet<String>>()
        .into_iter()
        .collect()
    }
}

/// The traces of `traces` found in `text`, compared without regard to case.
fn found_in(text: &str, traces: &[String]) -> Vec<String> {
    let text = text.to_lowercase();
    traces
        .iter()
        .filter(|t| text.contains(t.as_str()))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Setting up

/// A served deployment: tenant `acme` (OAuth off) with a DW Tracker and a 360 Profiles
/// instance, a second tenant `globex`, an admin API token; Ann and Bob pushed into `acme`.
struct Cdp {
    deployment: Deployment,
    server: Server,
    acme_id: String,
    acme_hash: String,
    globex_hash: String,
    tracker: Instance,
    viewer: Instance,
    admin_token: String,
    /// A gdpr token of acme holding every resource.
    gdpr: String,
    /// A profile token of acme holding `basic`.
    profile: String,
    ann_gcr: String,
    bob_gcr: String,
}

async fn setup() -> Cdp {
    setup_with(&[]).await
}

async fn setup_with(env: &[(&str, &str)]) -> Cdp {
    let deployment = Deployment::with_env(env);
    let acme = deployment.tenant_without_oauth("acme", "uat");
    let globex = deployment.tenant_without_oauth("globex", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let viewer = deployment.instance("acme", "viewer", "profiles-360");
    deployment.admin("ops");
    let admin_token = deployment.admin_api_token("ops");
    let server = deployment.serve();
    let acme_hash = acme["tenant_hash"].as_str().expect("hash").to_owned();
    let gdpr = secure_token(&server, &acme_hash, "gdpr", &GDPR_RESOURCES).await;
    let profile = secure_token(&server, &acme_hash, "profile", &["basic"]).await;
    let mut cdp = Cdp {
        deployment,
        server,
        acme_id: acme["id"].as_str().expect("id").to_owned(),
        acme_hash,
        globex_hash: globex["tenant_hash"].as_str().expect("hash").to_owned(),
        tracker,
        viewer,
        admin_token,
        gdpr,
        profile,
        ann_gcr: String::new(),
        bob_gcr: String::new(),
    };
    let mut records = ANN.records();
    records.extend(BOB.records());
    cdp.push(Value::Array(records)).await;
    cdp.ann_gcr = cdp.gcr_id_of(&ANN).await;
    cdp.bob_gcr = cdp.gcr_id_of(&BOB).await;
    cdp
}

/// A secureApi token of `api` holding `resources`, for the tenant with this hash.
async fn secure_token(server: &Server, tenant_hash: &str, api: &str, resources: &[&str]) -> String {
    let path = format!("/secureApi/token/{api}/create");
    let reply = send(
        server
            .post(&path)
            .header("tenant_hash", tenant_hash)
            .json(&json!({"resource": resources, "validity": 60})),
        format!("POST {path} {resources:?}"),
    )
    .await;
    reply.ok()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {reply:?}"))
        .to_owned()
}

impl Cdp {
    /// Pushes records into `acme` as its DW Tracker; asserts `202 {"accepted": N}`.
    async fn push(&self, records: Value) {
        let token = http::a1user_token(&self.server, &self.tracker).await;
        let count = records.as_array().map_or(1, Vec::len);
        let path = format!("/v2/{}/dw/tracker?scheme=a1user", self.acme_id);
        let reply = send(
            self.server
                .post(&path)
                .header(AUTHORIZATION, bearer(&token))
                .json(&records),
            format!("POST {path}"),
        )
        .await;
        assert_eq!(reply.status, 202, "push refused: {reply:?}");
        assert_eq!(reply.json, json!({ "accepted": count }), "{reply:?}");
    }

    /// `POST /api/v1/profile/b2b/basic` about the customer named by `header: value`.
    async fn basic(&self, header: &str, value: &str) -> Reply {
        send_cdp(
            self.server
                .post("/api/v1/profile/b2b/basic")
                .header(CONTENT_TYPE, "application/json")
                .header("access_token", &self.profile)
                .header("tenant_hash", &self.acme_hash)
                .header(header, value),
            format!("basic {header}: {value}"),
        )
        .await
    }

    async fn gcr_id_of(&self, person: &Person) -> String {
        let reply = self.basic("email_address", person.normalised_email).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json["data"]["gcrId"]
            .as_str()
            .expect("gcrId")
            .to_owned()
    }

    /// `POST /api/v1/gdpr/b2b/{resource}` with nothing set yet but the JSON content type.
    fn gdpr_request(&self, resource: &str) -> RequestBuilder {
        self.server
            .post(&format!("/api/v1/gdpr/b2b/{resource}"))
            .header(CONTENT_TYPE, "application/json")
    }

    /// A GDPR call with acme's full gdpr token and `tenant_hash`.
    async fn gdpr(&self, resource: &str, value: Option<&str>, body: &str) -> Reply {
        let mut request = self
            .gdpr_request(resource)
            .header("access_token", &self.gdpr)
            .header("tenant_hash", &self.acme_hash)
            .body(body.to_owned());
        if let Some(value) = value {
            request = request.header("reqParamValue", value);
        }
        send_cdp(request, format!("POST {resource} {value:?} {body}")).await
    }

    /// Registers a request that must be accepted; returns its id.
    async fn register(&self, req_type: &str, req_param: &str, value: &str) -> String {
        let body = json!({"reqType": req_type, "reqParam": req_param, "reqSource": "web"});
        let reply = self
            .gdpr("registerGdprRequest", Some(value), &body.to_string())
            .await;
        let data = ok_data(&reply);
        assert_eq!(
            data["status"], "pending",
            "a new request is pending: {reply:?}"
        );
        let id = data["requestId"].as_str().expect("requestId").to_owned();
        assert_uuid(&id);
        id
    }

    /// `gdprRequestStatus` of a request.
    async fn status(&self, request_id: &str) -> Reply {
        let body = json!({ "requestId": request_id }).to_string();
        self.gdpr("gdprRequestStatus", None, &body).await
    }

    /// `revokeGdprActions` of a request.
    async fn revoke(&self, request_id: &str) -> Reply {
        let body = json!({ "requestId": request_id }).to_string();
        self.gdpr("revokeGdprActions", None, &body).await
    }

    /// Polls `gdprRequestStatus` until the request is done (at most 5 s); returns its data.
    async fn wait_done(&self, request_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let data = ok_data(&self.status(request_id).await);
            assert_eq!(data["requestId"], request_id, "{data}");
            match data["status"].as_str() {
                Some("done") => return data,
                Some("pending") if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => panic!("request {request_id} not done within 5 s: {data}"),
            }
        }
    }

    /// A 360 pull of acme's customers (`query` is the query string after `?`, or empty).
    async fn pull(&self, path_and_query: &str) -> Reply {
        let token = http::a1user_token(&self.server, &self.viewer).await;
        let path = format!("/v2/{}/dw/a360/customers{path_and_query}", self.acme_id);
        send_json_or_hal(
            self.server.get(&path).header(AUTHORIZATION, bearer(&token)),
            format!("GET {path}"),
        )
        .await
    }

    /// An admin API GET with the admin API token.
    async fn admin_get(&self, path: &str) -> Reply {
        send_admin(
            self.server
                .request(Method::GET, path)
                .header(AUTHORIZATION, bearer(&self.admin_token)),
            format!("GET {path}"),
        )
        .await
    }

    /// Audit entries of one action, waiting briefly for `count` of them (entries may be
    /// written a moment after the request that caused them).
    async fn audit(&self, action: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let reply = self
                .admin_get(&format!("/admin/api/audit?action={action}"))
                .await;
            let entries = reply.ok().as_array().expect("a list").clone();
            if entries.len() >= count || Instant::now() > deadline {
                return entries;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every row of a table as text, read with the database's own client — `sqlite3` on the
    /// SQLite file, `psql` on PostgreSQL.
    fn table_rows(&self, table: &str) -> String {
        let output = if self.deployment.is_postgres() {
            Command::new("psql")
                .args([
                    self.deployment.database_url(),
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-Atc",
                    &format!("SELECT t::text FROM {table} t"),
                ])
                .output()
                .expect("run psql")
        } else {
            Command::new("sqlite3")
                .arg(self.deployment.database_file())
                .arg(format!("SELECT * FROM {table};"))
                .output()
                .expect("run sqlite3 (install the SQLite command-line client)")
        };
        assert!(
            output.status.success(),
            "reading {table} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
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

/// Parses an RFC 3339 instant from an answer.
#[track_caller]
fn instant(value: &Value) -> OffsetDateTime {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("not RFC 3339 {text:?}: {e}"))
}

/// Asserts a lowercase 8-4-4-4-12 hex UUID.
#[track_caller]
fn assert_uuid(id: &str) {
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert!(
        groups == [8, 4, 4, 4, 12]
            && id
                .bytes()
                .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "requestId is not a UUID: {id:?}"
    );
}

/// Asserts a 403 `insufficient_scope` with its Bearer challenge.
#[track_caller]
fn assert_insufficient_scope(reply: &Reply) {
    reply.expect_error(403, "insufficient_scope");
    assert!(
        reply
            .header(WWW_AUTHENTICATE)
            .contains("error=\"insufficient_scope\""),
        "403 without an insufficient_scope challenge: {reply:?}"
    );
}

/// The `sourceCustomerNumber`s of a customer's source records, sorted.
fn source_numbers(customer: &Value) -> Vec<String> {
    let mut numbers: Vec<String> = customer["sourceRecords"]
        .as_array()
        .unwrap_or_else(|| panic!("no sourceRecords: {customer}"))
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

/// The `(type, subtype)` of a customer's events, sorted.
fn event_kinds(customer: &Value) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = customer["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events: {customer}"))
        .iter()
        .map(|e| {
            (
                e["type"].as_str().expect("type").to_owned(),
                e["subtype"].as_str().expect("subtype").to_owned(),
            )
        })
        .collect();
    kinds.sort();
    kinds
}

fn expected_event_kinds() -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = EVENTS
        .iter()
        .map(|(_, t, s, _)| ((*t).to_owned(), (*s).to_owned()))
        .collect();
    kinds.sort();
    kinds
}

/// The customers of a 360 pull answer.
fn pulled(reply: &Reply) -> Vec<Value> {
    let json = reply.ok();
    json["_embedded"]["customers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// access

#[tokio::test]
async fn an_access_request_is_pending_then_done_with_everything_held_on_the_person() {
    let cdp = setup().await;

    let by_email = cdp.register("access", "email", ANN.normalised_email).await;
    let done = cdp.wait_done(&by_email).await;
    assert_eq!(done["reqType"], "access", "{done}");
    assert!(
        instant(&done["processedAt"]) >= instant(&done["registeredAt"]),
        "{done}"
    );
    let customers = done["export"]["customers"]
        .as_array()
        .unwrap_or_else(|| panic!("no export: {done}"));
    assert_eq!(customers.len(), 1, "{done}");
    let ann = &customers[0];
    assert_eq!(ann["gcrId"], cdp.ann_gcr.as_str(), "{ann}");
    assert_eq!(ann["email"], ANN.normalised_email, "{ann}");
    assert_eq!(ann["firstName"], ANN.first_name, "{ann}");
    assert_eq!(ann["lastName"], ANN.last_name, "{ann}");
    assert_eq!(ann["phone"], ANN.phone, "{ann}");
    assert_eq!(ann["attributes"]["loyaltyCard"], ANN.loyalty_card, "{ann}");
    assert_eq!(source_numbers(ann), ANN.sources, "{ann}");
    assert_eq!(event_kinds(ann), expected_event_kinds(), "{ann}");
    assert_eq!(
        found_in(&done.to_string(), &BOB.traces(&cdp.bob_gcr)),
        Vec::<String>::new(),
        "nothing of Bob in Ann's export"
    );

    // The same person by gcrId and by mobile number.
    for (param, value) in [("gcrid", cdp.ann_gcr.as_str()), ("mobile", ANN.phone)] {
        let id = cdp.register("access", param, value).await;
        let data = cdp.wait_done(&id).await;
        let customers = data["export"]["customers"].as_array().expect("customers");
        assert_eq!(customers.len(), 1, "{param}: {data}");
        assert_eq!(customers[0]["gcrId"], cdp.ann_gcr.as_str(), "{param}");
        assert_eq!(
            event_kinds(&customers[0]),
            expected_event_kinds(),
            "{param}"
        );
    }

    // Nobody by that address: done, with an empty export.
    let nobody = cdp.register("access", "email", "nobody@example.com").await;
    let data = cdp.wait_done(&nobody).await;
    assert_eq!(data["export"]["customers"], json!([]), "{data}");

    // The audit log names the requests, never the person.
    let registered = cdp.audit("gdpr.registered", 4).await;
    assert_eq!(registered.len(), 4, "{registered:?}");
    let accessed = cdp.audit("gdpr.access", 4).await;
    assert_eq!(accessed.len(), 4, "{accessed:?}");
    assert!(
        accessed
            .iter()
            .any(|e| e["detail"].as_str().is_some_and(|d| d.contains(&by_email))),
        "gdpr.access names the request: {accessed:?}"
    );
    for entry in &accessed {
        assert_eq!(entry["tenant_id"], cdp.acme_id.as_str(), "{entry}");
    }
    let whole = cdp.admin_get("/admin/api/audit?limit=500").await;
    assert_eq!(
        found_in(&whole.text(), &ANN.traces(&cdp.ann_gcr)),
        Vec::<String>::new(),
        "the audit log holds nothing of Ann: {whole:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// forget

#[tokio::test]
async fn forget_erases_the_person_everywhere_and_keeps_everyone_else() {
    let cdp = setup().await;
    let ann_traces = ANN.traces(&cdp.ann_gcr);
    let bob_traces = BOB.traces(&cdp.bob_gcr);

    // An earlier access request left an export about her.
    let access = cdp.register("access", "email", ANN.normalised_email).await;
    cdp.wait_done(&access).await;

    let forget = cdp.register("forget", "email", ANN.normalised_email).await;
    let done = cdp.wait_done(&forget).await;
    assert_eq!(done["reqType"], "forget", "{done}");
    assert_eq!(
        found_in(&done.to_string(), &ann_traces),
        Vec::<String>::new(),
        "{done}"
    );
    let earlier = cdp.status(&access).await;
    assert_eq!(
        found_in(&earlier.text(), &ann_traces),
        Vec::<String>::new(),
        "the earlier export is erased: {earlier:?}"
    );

    // No API knows her any more.
    for (header, value) in [
        ("email_address", ANN.normalised_email),
        ("gcrId", cdp.ann_gcr.as_str()),
        ("mobile_number", ANN.phone),
        ("customer_code_external", ANN.sources[0]),
        ("customer_code_external", ANN.sources[1]),
    ] {
        cdp.basic(header, value)
            .await
            .expect_error(404, "not_found");
    }
    let by_email = cdp
        .pull(&format!("?fq=email:{}", ANN.normalised_email))
        .await;
    assert_eq!(by_email.ok()["count"], 0, "{by_email:?}");
    assert_eq!(pulled(&by_email), Vec::<Value>::new(), "{by_email:?}");
    cdp.pull(&format!("/{}", cdp.ann_gcr))
        .await
        .expect_error(404, "not_found");
    let everyone = cdp.pull("").await;
    let customers = pulled(&everyone);
    assert_eq!(customers.len(), 1, "only Bob is left: {everyone:?}");
    assert_eq!(customers[0]["gcrId"], cdp.bob_gcr.as_str());
    assert_eq!(
        found_in(&everyone.text(), &ann_traces),
        Vec::<String>::new()
    );

    // Bob is untouched.
    let bob = ok_data(&cdp.basic("email_address", BOB.normalised_email).await);
    assert_eq!(bob["gcrId"], cdp.bob_gcr.as_str(), "{bob}");
    assert_eq!(bob["firstName"], BOB.first_name, "{bob}");
    assert_eq!(event_kinds(&customers[0]), expected_event_kinds());
    assert_eq!(source_numbers(&customers[0]), BOB.sources);

    // Not a trace of her in any table; Bob's rows are all there.
    for table in TABLES {
        let rows = cdp.table_rows(table);
        assert_eq!(
            found_in(&rows, &ann_traces),
            Vec::<String>::new(),
            "{table} still holds Ann's data:\n{rows}"
        );
    }
    assert_eq!(
        found_in(&cdp.table_rows("cdp_customers"), &bob_traces).len(),
        6,
        "Bob's customer row: email, names, phone, attributes, gcrId"
    );
    assert_eq!(
        found_in(
            &cdp.table_rows("cdp_records"),
            &BOB.sources.map(str::to_lowercase)
        )
        .len(),
        2,
        "Bob's source records"
    );
    let bob_events = cdp
        .table_rows("cdp_events")
        .lines()
        .filter(|row| row.contains(BOB.sources[0]) || row.contains(BOB.sources[1]))
        .count();
    assert_eq!(bob_events, EVENTS.len(), "Bob's events");

    // The audit log tells that it happened, and nothing about her.
    let forgotten = cdp.audit("gdpr.forget", 1).await;
    assert_eq!(forgotten.len(), 1, "{forgotten:?}");
    assert!(
        forgotten[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&forget)),
        "gdpr.forget names the request: {forgotten:?}"
    );
    assert_eq!(cdp.audit("gdpr.access", 1).await.len(), 1);
    let whole = cdp.admin_get("/admin/api/audit?limit=500").await;
    assert_eq!(
        found_in(&whole.text(), &ann_traces),
        Vec::<String>::new(),
        "{whole:?}"
    );
}

#[tokio::test]
async fn forget_leaves_none_of_the_persons_bytes_in_the_database_files() {
    let cdp = setup().await;
    let access = cdp.register("access", "mobile", ANN.phone).await;
    cdp.wait_done(&access).await;
    let forget = cdp.register("forget", "gcrid", &cdp.ann_gcr).await;
    cdp.wait_done(&forget).await;
    cdp.basic("gcrId", &cdp.ann_gcr)
        .await
        .expect_error(404, "not_found");

    // What someone with a copy of the database files (or a dump) would read.
    let bytes = String::from_utf8_lossy(&cdp.deployment.raw_database()).into_owned();
    assert_eq!(
        found_in(&bytes, &BOB.traces(&cdp.bob_gcr)).len(),
        8,
        "the search finds what is there: every trace of Bob"
    );
    assert_eq!(
        found_in(&bytes, &ANN.traces(&cdp.ann_gcr)),
        Vec::<String>::new(),
        "Ann's data is still in the database's bytes (SQLite keeps deleted rows in free pages \
         and old WAL frames unless secure_delete is on and the WAL is checkpointed)"
    );
}

#[tokio::test]
async fn forget_of_nobody_is_done_and_erases_nothing() {
    let cdp = setup().await;
    let forget = cdp.register("forget", "mobile", "+10000000000").await;
    let done = cdp.wait_done(&forget).await;
    assert_eq!(done["reqType"], "forget", "{done}");
    let everyone = cdp.pull("").await;
    assert_eq!(pulled(&everyone).len(), 2, "{everyone:?}");
}

// ---------------------------------------------------------------------------------------------
// revoking

#[tokio::test]
async fn a_pending_request_can_be_revoked_and_then_never_runs() {
    let cdp = setup_with(&[("CDP_AUTH_GDPR_SCHEDULE", "daily")]).await;

    let forget = cdp.register("forget", "email", ANN.normalised_email).await;
    let access = cdp.register("access", "email", ANN.normalised_email).await;
    // The daily worker holds both back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for id in [&forget, &access] {
        let pending = ok_data(&cdp.status(id).await);
        assert_eq!(pending["status"], "pending", "{pending}");
        assert_eq!(pending["processedAt"], Value::Null, "{pending}");
        assert_eq!(pending["export"], Value::Null, "{pending}");
        assert!(pending["registeredAt"].is_string(), "{pending}");
    }
    assert_eq!(ok_data(&cdp.status(&forget).await)["reqType"], "forget");

    let revoked = ok_data(&cdp.revoke(&forget).await);
    assert_eq!(
        revoked,
        json!({"requestId": forget, "status": "revoked"}),
        "{revoked}"
    );
    let status = ok_data(&cdp.status(&forget).await);
    assert_eq!(status["status"], "revoked", "{status}");
    cdp.revoke(&forget)
        .await
        .expect_error(409, "invalid_request");

    // Ann is still there; the other request is still pending.
    ok_data(&cdp.basic("email_address", ANN.normalised_email).await);
    assert_eq!(ok_data(&cdp.status(&access).await)["status"], "pending");

    let audited = cdp.audit("gdpr.revoked", 1).await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(
        audited[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&forget)),
        "{audited:?}"
    );
    assert_eq!(cdp.audit("gdpr.forget", 0).await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_done_request_cannot_be_revoked() {
    let cdp = setup().await;
    let access = cdp.register("access", "email", ANN.normalised_email).await;
    cdp.wait_done(&access).await;
    cdp.revoke(&access)
        .await
        .expect_error(409, "invalid_request");
    assert_eq!(ok_data(&cdp.status(&access).await)["status"], "done");
}

#[tokio::test]
async fn unknown_request_ids_are_not_found() {
    let cdp = setup().await;
    let unknown = "0b6f7c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e";
    cdp.status(unknown).await.expect_error(404, "not_found");
    cdp.revoke(unknown).await.expect_error(404, "not_found");

    // Another tenant's request is unknown here too.
    let globex_gdpr = secure_token(&cdp.server, &cdp.globex_hash, "gdpr", &GDPR_RESOURCES).await;
    let ours = cdp.register("access", "email", ANN.normalised_email).await;
    let theirs = send_cdp(
        cdp.gdpr_request("gdprRequestStatus")
            .header("access_token", &globex_gdpr)
            .header("tenant_hash", &cdp.globex_hash)
            .body(json!({ "requestId": ours }).to_string()),
        "globex asks for acme's request".into(),
    )
    .await;
    theirs.expect_error(404, "not_found");

    for body in ["{}", r#"{"requestId": 7}"#, "not json"] {
        cdp.gdpr("gdprRequestStatus", None, body)
            .await
            .expect_error(400, "invalid_request");
        cdp.gdpr("revokeGdprActions", None, body)
            .await
            .expect_error(400, "invalid_request");
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed requests and who may call

#[tokio::test]
async fn malformed_registrations_are_invalid_request() {
    let cdp = setup().await;
    let value = Some(ANN.normalised_email);
    let bad_bodies = [
        json!({"reqType": "delete", "reqParam": "email", "reqSource": "web"}),
        json!({"reqParam": "email", "reqSource": "web"}),
        json!({"reqType": "access", "reqParam": "phone", "reqSource": "web"}),
        json!({"reqType": "access", "reqSource": "web"}),
        json!({"reqType": "access", "reqParam": "email", "reqSource": "elevenchars"}),
        json!({"reqType": "access", "reqParam": "email", "reqSource": ""}),
        json!({"reqType": "access", "reqParam": "email"}),
        json!({"reqType": "access", "reqParam": "email", "reqSource": 5}),
        json!([]),
    ];
    for body in bad_bodies {
        cdp.gdpr("registerGdprRequest", value, &body.to_string())
            .await
            .expect_error(400, "invalid_request");
    }
    cdp.gdpr("registerGdprRequest", value, "not json")
        .await
        .expect_error(400, "invalid_request");
    cdp.gdpr("registerGdprRequest", value, "")
        .await
        .expect_error(400, "invalid_request");

    let good = json!({"reqType": "access", "reqParam": "email", "reqSource": "tenchars10"});
    cdp.gdpr("registerGdprRequest", None, &good.to_string())
        .await
        .expect_error(400, "invalid_request");
    cdp.gdpr("registerGdprRequest", Some(""), &good.to_string())
        .await
        .expect_error(400, "invalid_request");
    let accepted = cdp
        .gdpr("registerGdprRequest", value, &good.to_string())
        .await;
    assert_eq!(
        ok_data(&accepted)["status"],
        "pending",
        "10 chars of reqSource are fine"
    );

    // Only the accepted one was registered.
    assert_eq!(cdp.audit("gdpr.registered", 1).await.len(), 1);
}

#[tokio::test]
async fn gdpr_calls_need_a_gdpr_token_holding_the_resource() {
    let cdp = setup().await;
    let body = json!({"reqType": "access", "reqParam": "email", "reqSource": "web"}).to_string();
    let register = |token: &str, hash: Option<&str>| {
        let mut request = cdp
            .gdpr_request("registerGdprRequest")
            .header("reqParamValue", ANN.normalised_email)
            .body(body.clone());
        if !token.is_empty() {
            request = request.header("access_token", token);
        }
        if let Some(hash) = hash {
            request = request.header("tenant_hash", hash);
        }
        send_cdp(request, format!("register with {token:?} {hash:?}"))
    };
    let acme = Some(cdp.acme_hash.as_str());

    // A profile token, and a gdpr token without registerGdprRequest.
    assert_insufficient_scope(&register(&cdp.profile, acme).await);
    let status_only =
        secure_token(&cdp.server, &cdp.acme_hash, "gdpr", &["gdprRequestStatus"]).await;
    assert_insufficient_scope(&register(&status_only, acme).await);
    // An a1user token.
    let a1user = http::a1user_token(&cdp.server, &cdp.tracker).await;
    assert_insufficient_scope(&register(&a1user, acme).await);
    // Another tenant's gdpr token, with acme's hash.
    let globex = secure_token(&cdp.server, &cdp.globex_hash, "gdpr", &GDPR_RESOURCES).await;
    assert_insufficient_scope(&register(&globex, acme).await);

    // No tenant_hash; no token; a made-up token.
    register(&cdp.gdpr, None)
        .await
        .expect_error(400, "invalid_request");
    let none = register("", acme).await;
    none.expect_error(401, "invalid_token");
    none.expect_challenge("Bearer");
    register(&"Z".repeat(43), acme)
        .await
        .expect_error(401, "invalid_token");

    // The right token via Authorization: Bearer works.
    let via_bearer = send_cdp(
        cdp.gdpr_request("registerGdprRequest")
            .header(AUTHORIZATION, bearer(&cdp.gdpr))
            .header("tenant_hash", &cdp.acme_hash)
            .header("reqParamValue", ANN.normalised_email)
            .body(body.clone()),
        "register with Bearer".into(),
    )
    .await;
    assert_eq!(ok_data(&via_bearer)["status"], "pending");

    // Nothing but that one was registered.
    assert_eq!(cdp.audit("gdpr.registered", 1).await.len(), 1);
}
