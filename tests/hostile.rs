//! Hostile input against the real binary: every endpoint gets malformed and non-UTF-8 Basic
//! credentials, empty and huge Bearer tokens, SQL-injection strings, duplicate and NUL-laden
//! query parameters, truncated JSON, random bytes, a 3 MB body, path traversal and wrong
//! methods. SPEC ("Errors"): no input ever yields a 500; every error is JSON
//! `{"error","error_description"}`; every 401 carries `WWW-Authenticate`. Afterwards the server
//! must still answer `/healthz` and a normal login. Property-based tests (proptest) then drive
//! the credential, query and body parsers with generated input.
//!
//! The protected CDP API is probed the same way: DW Tracker pushes (`POST /v2/{tenantId}/dw/tracker
//! ?scheme=a1user`), 360 Profiles pulls (`GET /v2/{tenantId}/dw/a360/customers[/{gcrId}]`),
//! WebTag browser events (`POST|GET|OPTIONS …/dw/tracker?scheme=a1webtag&accessKey=…` from an
//! allowed `Origin`) and the secureApi CDP routes (`POST /api/v1/profile/b2b/basic`,
//! `POST /api/v1/gdpr/b2b/gdprRequestStatus`). Those secureApi routes answer errors in the
//! vendor's shape `{"status":"ERROR","message","error"}` by design (SPEC, "Protected CDP API"),
//! which is accepted for `/api/v1/…` paths only; a CORS preflight's `204` has no body. Pushes may
//! be up to 10 MiB, so a 3 MB body there is refused by validation (400), not by size (413).
//!
//! Requests go over a raw TCP connection rather than reqwest, so that the request target
//! reaches the server byte for byte (reqwest's URL parser would resolve `/token/../token` and
//! `%2e%2e` before sending) and any header bytes a client may legally send can be sent.
//!
//! The deployment runs with `CDP_AUTH_MAX_FAILED_ATTEMPTS=100000`, so the failed-attempt
//! throttle never fires and `429` is accepted nowhere: the suite measures input handling. For
//! the same reason the WebTag rate limit is raised far above what the suite sends.

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::http::{basic, basic_pair, bearer};
use support::{Deployment, Instance, Server};

const SQLI: &str = "' OR 1=1 --";
const SQLI_ENCODED: &str = "%27%20OR%201%3D1%20--";
/// SQL injection for lookups of customers: unlike [`SQLI`], no pushed record carries it, so it
/// must find nobody.
const SQLI_LOOKUP: &str = "nobody' OR '1'='1";
const MAX_FAILED: (&str, &str) = ("CDP_AUTH_MAX_FAILED_ATTEMPTS", "100000");
/// The WebTag key's rate limit, out of the way (default 50/s, burst 100).
const WEBTAG_RATE: (&str, &str) = ("CDP_AUTH_WEBTAG_RATE", "100000");
const WEBTAG_BURST: (&str, &str) = ("CDP_AUTH_WEBTAG_BURST", "100000");
/// The WebTag instance's one allowed origin.
const SHOP: &str = "https://shop.example";
/// When every valid event happened.
const EVENT_TIME: &str = "2026-11-20T10:00:00Z";

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client

/// One request, exactly as it goes on the wire.
#[derive(Clone)]
struct Probe {
    method: String,
    /// The request target, sent verbatim.
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// What the answer may be.
    expect: Expect,
    /// What was sent, for messages.
    what: String,
}

/// What an answer to a probe may be.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// An error: 4xx (never 429) with the JSON error shape.
    Error,
    /// The input may be valid (the hostile part is ignored, or harmless): a 2xx with a JSON
    /// body, or an error as for [`Expect::Error`].
    Any,
    /// A request hyper refuses while parsing the head, before any of our layers run: it
    /// answers this status with an empty body, so the JSON error shape cannot be had. Seen:
    /// `431` for more than 100 headers or a head larger than hyper's read buffer, `400` for a
    /// raw NUL byte in a header value. Allowed for exactly those probes, nowhere else.
    Hyper(u16),
    /// `POST /oauth/introspect` of a garbage token by a valid caller: `200 {"active":false}`
    /// (RFC 7662), or an error.
    Inactive,
    /// An error as for [`Expect::Error`], with exactly this status.
    Status(u16),
}

/// One response, read in full.
struct Answer {
    status: u16,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        write!(f, "{} {:?} {body}", self.status, self.headers)
    }
}

/// `host:port` of a server.
fn authority(server: &Server) -> String {
    server
        .base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Sends a probe on a fresh connection (`Connection: close`) and reads the answer. The body is
/// written while the answer is read, so an early answer (413) is seen even when the server
/// stops reading.
async fn exchange(authority: &str, probe: &Probe) -> Result<Answer, String> {
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n",
        probe.method, probe.target
    )
    .into_bytes();
    for (name, value) in &probe.headers {
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    }
    if !probe.body.is_empty() || !matches!(probe.method.as_str(), "GET" | "HEAD") {
        head.extend_from_slice(format!("Content-Length: {}\r\n", probe.body.len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let (mut reader, mut writer) = stream.into_split();
    let body = probe.body.clone();
    // The write half is kept open until the answer is read: a half-closed connection may be
    // dropped by the server without an answer.
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&head).await;
        let _ = writer.write_all(&body).await;
        let _ = writer.flush().await;
        writer
    });
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let answer = loop {
        if let Some(answer) = parse_answer(&buf, false) {
            break Ok(answer);
        }
        match reader.read(&mut chunk).await {
            Ok(0) => break parse_answer(&buf, true).ok_or_else(|| incomplete(&buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                break parse_answer(&buf, true).ok_or_else(|| format!("{e}; {}", incomplete(&buf)));
            }
        }
    };
    writing.abort();
    answer
}

fn incomplete(buf: &[u8]) -> String {
    format!(
        "no complete answer (got {:?})",
        String::from_utf8_lossy(&buf[..buf.len().min(300)])
    )
}

/// A complete response in `buf`, if there is one; `eof` means no more bytes will come.
fn parse_answer(buf: &[u8], eof: bool) -> Option<Answer> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &buf[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(length) = find("content-length") {
        let length: usize = length.parse().ok()?;
        rest.get(..length)?.to_vec()
    } else if find("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if eof {
        rest.to_vec()
    } else {
        return None;
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

/// A complete chunked body, decoded.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Whether a JSON error has the non-empty string fields of the OAuth shape
/// `{"error","error_description"}`, or, on the secureApi CDP routes (`/api/v1/…`), of the
/// vendor's shape `{"status":"ERROR","message","error"}`.
fn error_shape_ok(probe: &Probe, json: &Value) -> bool {
    let text = |f: &str| json[f].as_str().is_some_and(|s| !s.is_empty());
    let oauth = text("error") && text("error_description");
    let vendor = probe.target.starts_with("/api/v1/")
        && json["status"] == "ERROR"
        && text("message")
        && text("error");
    oauth || vendor
}

/// What is wrong with an answer to a probe, if anything (SPEC "Errors").
fn verdict(probe: &Probe, answer: &Answer) -> Option<String> {
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let content_type = answer.header("content-type").unwrap_or("");
    // Pulls answer HAL (`application/hal+json`), a JSON media type.
    let is_json = content_type.starts_with("application/json")
        || content_type.starts_with("application/hal+json");
    if let Expect::Hyper(status) = probe.expect
        && answer.status == status
        && answer.body.is_empty()
    {
        return None;
    }
    let problem = if answer.status >= 500 {
        Some("server error (SPEC: no input ever yields a 500)")
    } else if answer.status == 429 {
        Some("429 with the throttle off")
    } else if (200..300).contains(&answer.status) {
        match probe.expect {
            Expect::Error | Expect::Hyper(_) | Expect::Status(_) => {
                Some("accepted (2xx) although the input is invalid")
            }
            Expect::Inactive if json != json!({"active": false}) => {
                Some("introspection of a garbage token is not {\"active\":false}")
            }
            // A CORS preflight's answer: 204, no body.
            _ if probe.method == "OPTIONS" && answer.status == 204 => {
                (!answer.body.is_empty()).then_some("204 preflight with a body")
            }
            _ if !is_json || !json.is_object() => Some("2xx without a JSON object body"),
            _ => None,
        }
    } else if !(400..500).contains(&answer.status) {
        Some("neither 2xx nor 4xx")
    } else if !is_json {
        Some("error without Content-Type: application/json")
    } else if !error_shape_ok(probe, &json) {
        Some("error without `error` and `error_description`")
    } else if answer.status == 401 && answer.header("www-authenticate").is_none() {
        Some("401 without WWW-Authenticate")
    } else if let Expect::Status(status) = probe.expect
        && answer.status != status
    {
        Some("an error, but not with the expected status")
    } else {
        None
    };
    problem.map(|p| format!("{p}: {} → {answer:?}", probe.what))
}

// ---------------------------------------------------------------------------------------------
// The deployment and the endpoints

/// A served deployment with one OAuth tenant, an instance of each type, an a1user token and a
/// secureApi token; and for the CDP API: a pushed customer, a 360 Profiles token nothing
/// revokes, a WebTag key allowed from [`SHOP`], secureApi `profile` and `gdpr` tokens, and a
/// GDPR request.
struct Setup {
    _deployment: Deployment,
    /// Kept alive (killed when dropped).
    _server: Server,
    authority: String,
    /// The tenant's id, as the CDP paths carry it.
    tenant_id: String,
    /// The dw-tracker instance whose a1user token the suite holds.
    tracker: Instance,
    /// The profiles-360 instance: the DELETE endpoints revoke its tokens, not the tracker's.
    profiles: Instance,
    /// The webtag instance, allowed from [`SHOP`].
    webtag: Instance,
    tenant_hash: String,
    oauth_key_secret: String,
    a1user_token: String,
    profiles_token: String,
    secure_token: String,
    /// A token of a second profiles-360 instance, for pulls: no endpoint revokes it.
    puller_token: String,
    /// The webtag instance's browser key.
    access_key: String,
    /// The customer the setup pushed.
    gcr_id: String,
    /// A secureApi token of api `profile` holding `basic`.
    profile_token: String,
    /// A secureApi token of api `gdpr` holding `registerGdprRequest` and `gdprRequestStatus`.
    gdpr_token: String,
    /// A GDPR access request about nobody.
    gdpr_request_id: String,
}

/// The valid push: one record with an event.
fn push_record() -> Value {
    json!({
        "SourceCustomerNumber": "H-1",
        "Email": "h@example.com",
        "Type": "emailOpen",
        "EventTimeStamp": EVENT_TIME,
    })
}

/// The valid WebTag event (a browser may send event fields only).
fn webtag_event() -> Value {
    json!({"SourceCustomerNumber": "H-1", "Type": "emailOpen", "EventTimeStamp": EVENT_TIME})
}

async fn setup() -> Setup {
    let deployment = Deployment::with_env(&[MAX_FAILED, WEBTAG_RATE, WEBTAG_BURST]);
    let tenant = deployment.tenant("acme", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let profiles = deployment.instance("acme", "reader", "profiles-360");
    let puller = deployment.instance("acme", "puller", "profiles-360");
    let webtag = webtag_instance(&deployment, "acme", "site");
    let server = deployment.serve();
    let authority = authority(&server);
    let mut setup = Setup {
        tenant_hash: tenant["tenant_hash"]
            .as_str()
            .expect("tenant_hash")
            .to_owned(),
        oauth_key_secret: tenant["oauth_key_secret"]
            .as_str()
            .expect("oauth_key_secret")
            .to_owned(),
        tenant_id: tracker.tenant_id.clone(),
        _deployment: deployment,
        _server: server,
        authority,
        tracker,
        profiles,
        webtag,
        a1user_token: String::new(),
        profiles_token: String::new(),
        secure_token: String::new(),
        puller_token: String::new(),
        access_key: String::new(),
        gcr_id: String::new(),
        profile_token: String::new(),
        gdpr_token: String::new(),
        gdpr_request_id: String::new(),
    };
    setup.a1user_token = normal_login(&setup, &setup.tracker).await;
    setup.profiles_token = normal_login(&setup, &setup.profiles).await;
    setup.puller_token = normal_login(&setup, &puller).await;
    setup.secure_token = setup
        .secure_token("profile", json!({"resource": ["basic"], "validity": 60}))
        .await;
    setup.profile_token = setup
        .secure_token("profile", json!({"resource": ["basic"], "validity": 60}))
        .await;
    setup.gdpr_token = setup
        .secure_token(
            "gdpr",
            json!({"resource": ["registerGdprRequest", "gdprRequestStatus"], "validity": 60}),
        )
        .await;

    // The WebTag key.
    let created = setup
        .must(Probe {
            method: "POST".into(),
            target: "/token?scheme=a1webtag&action=create".into(),
            headers: vec![("Authorization".into(), basic(&setup.webtag).into_bytes())],
            body: Vec::new(),
            expect: Expect::Any,
            what: "WebTag key create".into(),
        })
        .await;
    setup.access_key = created["accessKey"].as_str().expect("accessKey").to_owned();

    // A customer, pushed and pulled back.
    let tenant_id = setup.tenant_id.clone();
    let push = Probe {
        method: "POST".into(),
        target: format!("/v2/{tenant_id}/dw/tracker?scheme=a1user"),
        headers: vec![
            (
                "Authorization".into(),
                bearer(&setup.a1user_token).into_bytes(),
            ),
            ("Content-Type".into(), b"application/json".to_vec()),
        ],
        body: json!([push_record()]).to_string().into_bytes(),
        expect: Expect::Any,
        what: "setup push".into(),
    };
    assert_eq!(setup.must(push).await, json!({"accepted": 1}));
    let pulled = setup
        .must(Probe {
            method: "GET".into(),
            target: format!("/v2/{tenant_id}/dw/a360/customers?fq=email:h@example.com"),
            headers: vec![(
                "Authorization".into(),
                bearer(&setup.puller_token).into_bytes(),
            )],
            body: Vec::new(),
            expect: Expect::Any,
            what: "setup pull".into(),
        })
        .await;
    setup.gcr_id = pulled["_embedded"]["customers"][0]["gcrId"]
        .as_str()
        .unwrap_or_else(|| panic!("no gcrId in {pulled}"))
        .to_owned();

    // A GDPR access request about nobody, for gdprRequestStatus.
    let mut register = setup.gdpr_probe(
        "registerGdprRequest",
        json!({"reqType": "access", "reqParam": "email", "reqSource": "hostile"}),
    );
    register
        .headers
        .push(("reqParamValue".into(), b"nobody@example.com".to_vec()));
    let registered = setup.must(register).await;
    setup.gdpr_request_id = registered["data"]["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("no requestId in {registered}"))
        .to_owned();
    setup
}

/// Creates a webtag instance allowed from [`SHOP`] through the real CLI.
fn webtag_instance(deployment: &Deployment, tenant: &str, name: &str) -> Instance {
    let json = deployment.cli_json(&[
        "instance", "create", "--tenant", tenant, "--name", name, "--type", "webtag", "--origin",
        SHOP, "--json",
    ]);
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

/// A login that must succeed: the token.
async fn normal_login(setup: &Setup, instance: &Instance) -> String {
    let probe = Probe {
        method: "POST".into(),
        target: "/authentication?action=login".into(),
        headers: vec![("Authorization".into(), basic(instance).into_bytes())],
        body: Vec::new(),
        expect: Expect::Any,
        what: format!("normal login as {}", instance.username),
    };
    let answer = send(setup, probe).await;
    assert_eq!(answer.status, 200, "normal login: {answer:?}");
    let json: Value = serde_json::from_slice(&answer.body).expect("JSON");
    json["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

impl Setup {
    /// Sends a probe that must succeed (2xx); its JSON body.
    async fn must(&self, probe: Probe) -> Value {
        let what = probe.what.clone();
        let answer = send(self, probe).await;
        assert!(
            (200..300).contains(&answer.status),
            "{what} failed: {answer:?}"
        );
        serde_json::from_slice(&answer.body).unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// A secureApi token of `api`, created with `body`.
    async fn secure_token(&self, api: &str, body: Value) -> String {
        let mut probe = self.secure(&format!("{api}/create"), body.to_string().into_bytes());
        probe.what = format!("secureApi {api} create");
        let created = self.must(probe).await;
        created["token"].as_str().expect("token").to_owned()
    }

    /// `POST /api/v1/gdpr/b2b/{action}` with the gdpr token and `tenant_hash`.
    fn gdpr_probe(&self, action: &str, body: Value) -> Probe {
        Probe {
            method: "POST".into(),
            target: format!("/api/v1/gdpr/b2b/{action}"),
            headers: vec![
                ("Content-Type".into(), b"application/json".to_vec()),
                ("access_token".into(), self.gdpr_token.clone().into_bytes()),
                ("tenant_hash".into(), self.tenant_hash.clone().into_bytes()),
            ],
            body: body.to_string().into_bytes(),
            expect: Expect::Any,
            what: format!("POST /api/v1/gdpr/b2b/{action}"),
        }
    }
}

/// Sends a probe; a transport failure panics.
async fn send(setup: &Setup, probe: Probe) -> Answer {
    tokio::time::timeout(Duration::from_secs(60), exchange(&setup.authority, &probe))
        .await
        .unwrap_or_else(|_| panic!("{}: no answer within 60 s", probe.what))
        .unwrap_or_else(|e| panic!("{}: {e}", probe.what))
}

/// How an endpoint's valid request authenticates.
#[derive(Clone, Copy, PartialEq)]
enum Cred {
    /// Nothing: a public endpoint.
    Open,
    /// `Authorization: Basic` of the tracker (or `victim` for DELETE).
    Basic,
    /// `Authorization: Bearer` of the tracker's a1user token.
    Bearer,
    /// `tenant_hash` and `oauth_key_secret` headers (secureApi).
    Tenant,
    /// `Authorization: Bearer` of the 360 Profiles token nothing revokes (CDP pulls).
    Pull,
    /// The WebTag `accessKey` in the query string and `Origin: https://shop.example`; an
    /// `Authorization` header means nothing there.
    AccessKey,
    /// The secureApi `profile` token in `access_token`, with `tenant_hash` and
    /// `email_address` (CDP profile).
    ProfileToken,
    /// The secureApi `gdpr` token in `access_token`, with `tenant_hash` (CDP GDPR).
    GdprToken,
}

impl Cred {
    /// Whether the credential is a token the request presents (Bearer or `access_token`).
    fn is_token(self) -> bool {
        matches!(
            self,
            Cred::Bearer | Cred::Pull | Cred::ProfileToken | Cred::GdprToken
        )
    }
}

/// What an endpoint's body is.
#[derive(Clone, Copy, PartialEq)]
enum BodyKind {
    /// Not read (or optional and empty by default).
    Ignored,
    /// An optional JSON body (login's `{"tenantName"}`).
    OptionalJson,
    /// A required JSON body (secureApi).
    Json,
    /// A form body (OAuth).
    Form,
    /// Records pushed to the tracker: a JSON array, one object or NDJSON (up to 10 MiB).
    Records,
    /// The secureApi CDP routes' JSON object (optional for profile resources).
    Vendor,
}

/// One endpoint and its valid request.
struct Endpoint {
    method: &'static str,
    target: String,
    cred: Cred,
    body: BodyKind,
    /// Uses the profiles-360 instance (DELETE revokes its tokens).
    profiles: bool,
}

fn ep(method: &'static str, target: impl Into<String>, cred: Cred, body: BodyKind) -> Endpoint {
    Endpoint {
        method,
        target: target.into(),
        cred,
        body,
        profiles: false,
    }
}

/// Every endpoint with its valid request; the CDP targets carry the setup's tenant id, WebTag
/// key and customer.
fn endpoints(setup: &Setup) -> Vec<Endpoint> {
    use BodyKind::*;
    use Cred::*;
    let tenant = &setup.tenant_id;
    let tracker = format!("/v2/{tenant}/dw/tracker");
    let webtag = format!("{tracker}?scheme=a1webtag&accessKey={}", setup.access_key);
    vec![
        ep("POST", format!("{tracker}?scheme=a1user"), Bearer, Records),
        ep(
            "GET",
            format!("/v2/{tenant}/dw/a360/customers?limit=5"),
            Pull,
            Ignored,
        ),
        ep(
            "GET",
            format!("/v2/{tenant}/dw/a360/customers/{}", setup.gcr_id),
            Pull,
            Ignored,
        ),
        ep("POST", webtag.clone(), AccessKey, Records),
        ep(
            "GET",
            format!("{webtag}&SourceCustomerNumber=H-1&Type=emailOpen&EventTimeStamp={EVENT_TIME}"),
            AccessKey,
            Ignored,
        ),
        ep("OPTIONS", webtag, AccessKey, Ignored),
        ep("POST", "/api/v1/profile/b2b/basic", ProfileToken, Vendor),
        ep(
            "POST",
            "/api/v1/gdpr/b2b/gdprRequestStatus",
            GdprToken,
            Vendor,
        ),
        ep("POST", "/authentication?action=login", Basic, OptionalJson),
        ep("GET", "/token?scheme=a1user", Basic, Ignored),
        ep("GET", "/token?scheme=a1user&action=create", Basic, Ignored),
        ep("POST", "/token?scheme=a1user", Basic, Ignored),
        ep("POST", "/token?scheme=a1user&action=create", Basic, Ignored),
        ep(
            "POST",
            "/token?scheme=a1user&action=extend",
            Bearer,
            Ignored,
        ),
        Endpoint {
            profiles: true,
            ..ep("DELETE", "/token?scheme=a1user", Bearer, Ignored)
        },
        Endpoint {
            profiles: true,
            ..ep("DELETE", "/token?scheme=a1user", Basic, Ignored)
        },
        Endpoint {
            profiles: true,
            ..ep(
                "DELETE",
                "/token?scheme=a1user&action=create",
                Basic,
                Ignored,
            )
        },
        ep("POST", "/secureApi/token/profile/create", Tenant, Json),
        ep("POST", "/secureApi/token/profile/update", Tenant, Json),
        ep("POST", "/oauth/token", Basic, Form),
        ep("POST", "/oauth/introspect", Basic, Form),
        ep("POST", "/oauth/revoke", Basic, Form),
        ep(
            "GET",
            "/.well-known/oauth-authorization-server",
            Open,
            Ignored,
        ),
        ep("GET", "/openapi.json", Open, Ignored),
        ep("GET", "/healthz", Open, Ignored),
        ep("GET", "/readyz", Open, Ignored),
    ]
}

impl Setup {
    /// A secureApi token request (`api_action` is e.g. `profile/create`) with the tenant's
    /// headers.
    fn secure(&self, api_action: &str, body: Vec<u8>) -> Probe {
        Probe {
            method: "POST".into(),
            target: format!("/secureApi/token/{api_action}"),
            headers: self.tenant_headers(),
            body,
            expect: Expect::Any,
            what: format!("POST /secureApi/token/{api_action}"),
        }
    }

    fn tenant_headers(&self) -> Vec<(String, Vec<u8>)> {
        vec![
            ("Content-Type".into(), b"application/json".to_vec()),
            ("tenant_hash".into(), self.tenant_hash.clone().into_bytes()),
            (
                "oauth_key_secret".into(),
                self.oauth_key_secret.clone().into_bytes(),
            ),
        ]
    }

    /// The endpoint's valid request.
    fn valid(&self, endpoint: &Endpoint) -> Probe {
        let instance = if endpoint.profiles {
            &self.profiles
        } else {
            &self.tracker
        };
        let mut headers = match endpoint.cred {
            Cred::Open => vec![],
            Cred::Basic => vec![("Authorization".into(), basic(instance).into_bytes())],
            Cred::Bearer => {
                let token = if endpoint.profiles {
                    &self.profiles_token
                } else {
                    &self.a1user_token
                };
                vec![("Authorization".into(), bearer(token).into_bytes())]
            }
            Cred::Tenant => self.tenant_headers(),
            Cred::Pull => vec![(
                "Authorization".into(),
                bearer(&self.puller_token).into_bytes(),
            )],
            Cred::AccessKey => vec![("Origin".into(), SHOP.as_bytes().to_vec())],
            Cred::ProfileToken => vec![
                (
                    "access_token".into(),
                    self.profile_token.clone().into_bytes(),
                ),
                ("tenant_hash".into(), self.tenant_hash.clone().into_bytes()),
                ("email_address".into(), b"h@example.com".to_vec()),
            ],
            Cred::GdprToken => vec![
                ("access_token".into(), self.gdpr_token.clone().into_bytes()),
                ("tenant_hash".into(), self.tenant_hash.clone().into_bytes()),
            ],
        };
        let body = match (endpoint.body, endpoint.target.as_str()) {
            (BodyKind::Records, _) if endpoint.cred == Cred::AccessKey => {
                json!([webtag_event()]).to_string().into_bytes()
            }
            (BodyKind::Records, _) => json!([push_record()]).to_string().into_bytes(),
            (BodyKind::Vendor, t) if t.starts_with("/api/v1/gdpr/") => {
                json!({"requestId": self.gdpr_request_id})
                    .to_string()
                    .into_bytes()
            }
            (BodyKind::Vendor, _) => b"{}".to_vec(),
            (BodyKind::Json, t) if t.ends_with("/create") => {
                br#"{"resource":["basic"],"validity":60}"#.to_vec()
            }
            (BodyKind::Json, _) => {
                json!({"resource": ["basic", "segments"], "token": self.secure_token})
                    .to_string()
                    .into_bytes()
            }
            (BodyKind::Form, "/oauth/token") => b"grant_type=client_credentials".to_vec(),
            (BodyKind::Form, _) => format!("token={}", self.secure_token).into_bytes(),
            _ => Vec::new(),
        };
        match endpoint.body {
            BodyKind::Form => headers.push((
                "Content-Type".into(),
                b"application/x-www-form-urlencoded".to_vec(),
            )),
            BodyKind::Ignored | BodyKind::OptionalJson if endpoint.cred != Cred::Open => {
                headers.push(("Content-Type".into(), b"application/json".to_vec()))
            }
            BodyKind::Records | BodyKind::Vendor => {
                headers.push(("Content-Type".into(), b"application/json".to_vec()))
            }
            _ => {}
        }
        Probe {
            method: endpoint.method.into(),
            target: endpoint.target.clone(),
            headers,
            body,
            expect: Expect::Any,
            what: format!("{} {}", endpoint.method, endpoint.target),
        }
    }
}

impl Probe {
    fn named(mut self, case: &str) -> Self {
        self.what = format!("{} [{case}]", self.what);
        self
    }

    fn expecting(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }

    /// Replaces the credentials (Authorization, tenant headers and the secureApi CDP routes'
    /// `access_token`) by this Authorization value.
    fn with_authorization(mut self, value: &[u8]) -> Self {
        self.headers.retain(|(n, _)| {
            ![
                "authorization",
                "tenant_hash",
                "oauth_key_secret",
                "access_token",
            ]
            .contains(&n.to_ascii_lowercase().as_str())
        });
        self.headers.push(("Authorization".into(), value.to_vec()));
        self
    }

    /// Sets a header, replacing any of that name.
    fn with_header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.to_vec()));
        self
    }

    /// Removes every header of that name.
    fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    /// Adds a header, keeping any of that name (a repeated header).
    fn plus_header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.into(), value.to_vec()));
        self
    }

    /// Replaces the request target.
    fn at(mut self, target: String) -> Self {
        self.what = format!("{} {target}", self.method);
        self.target = target;
        self
    }

    fn with_body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.body = body;
        self.with_header("Content-Type", content_type.as_bytes())
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Basic of raw bytes (`user:pass` not necessarily UTF-8).
fn basic_bytes(raw: &[u8]) -> Vec<u8> {
    format!("Basic {}", STANDARD.encode(raw)).into_bytes()
}

/// Every hostile variant of one endpoint's valid request.
fn hostile_probes(setup: &Setup, endpoint: &Endpoint) -> Vec<Probe> {
    let valid = setup.valid(endpoint);
    // A probe that breaks the credentials must be refused unless the endpoint is public, or
    // (WebTag) its credential is not a header at all.
    let needs_cred = !matches!(endpoint.cred, Cred::Open | Cred::AccessKey);
    let cred_expect = if needs_cred {
        Expect::Error
    } else {
        Expect::Any
    };
    let user = &setup.tracker.username;
    let pass = &setup.tracker.password;
    let mut probes = Vec::new();

    // Credentials.
    let mut hostile_auth: Vec<(&str, Vec<u8>)> = vec![
        (
            "malformed base64 in Basic",
            b"Basic !!!not*base64***".to_vec(),
        ),
        ("Basic with truncated base64", b"Basic dHJhY2tlcl9".to_vec()),
        ("Basic without a scheme value", b"Basic".to_vec()),
        ("Basic without a colon", basic_bytes(b"justausername")),
        (
            "non-UTF-8 Basic",
            basic_bytes(b"\xff\xfe\xfd:\xc3\x28\xa0\xa1"),
        ),
        (
            "valid user, non-UTF-8 password",
            basic_bytes(&[user.as_bytes(), b":\xff\xfe"].concat()),
        ),
        ("empty Bearer", b"Bearer ".to_vec()),
        ("bare Bearer", b"Bearer".to_vec()),
        ("9 KB Bearer", bearer(&"A".repeat(9 * 1024)).into_bytes()),
        ("SQL injection Basic", basic_pair(SQLI, SQLI).into_bytes()),
        (
            "SQL injection password",
            basic_pair(user, SQLI).into_bytes(),
        ),
        (
            "SQL injection username",
            basic_pair(SQLI, pass).into_bytes(),
        ),
        ("SQL injection Bearer", bearer(SQLI).into_bytes()),
        ("unknown scheme", b"Negotiate abc".to_vec()),
        ("obs-text bytes", b"Basic \xe9\xe8\xff".to_vec()),
    ];
    if endpoint.cred.is_token() && endpoint.method != "DELETE" {
        hostile_auth.push((
            "Basic where Bearer is due",
            basic(&setup.tracker).into_bytes(),
        ));
    }
    for (case, value) in hostile_auth {
        probes.push(
            valid
                .clone()
                .with_authorization(&value)
                .named(case)
                .expecting(cred_expect),
        );
    }

    // Query strings: duplicates and NUL.
    let (path, query) = endpoint
        .target
        .split_once('?')
        .unwrap_or((endpoint.target.as_str(), ""));
    let mut dup = valid.clone();
    dup.target = if query.is_empty() {
        format!("{path}?a=1&a=2&a=")
    } else {
        format!("{path}?{query}&{query}")
    };
    probes.push(dup.named("duplicate query parameters"));
    if !query.is_empty() {
        let mut conflicting = valid.clone();
        conflicting.target =
            format!("{path}?{query}&scheme={SQLI_ENCODED}&action={SQLI_ENCODED}&scheme=");
        probes.push(conflicting.named("conflicting duplicate query parameters"));
        let mut nul = valid.clone();
        let with_nul: Vec<String> = query.split('&').map(|p| format!("{p}%00")).collect();
        nul.target = format!("{path}?{}", with_nul.join("&"));
        probes.push(nul.named("%00 in query values").expecting(Expect::Error));
        let mut sqli = valid.clone();
        sqli.target = format!("{path}?scheme={SQLI_ENCODED}&action={SQLI_ENCODED}");
        // A pull needs no `scheme` and ignores parameters it does not know (SPEC); its own
        // parameters get SQL injection in [`cdp_probes`].
        let sqli_expect = if endpoint.cred == Cred::Pull {
            Expect::Any
        } else {
            Expect::Error
        };
        probes.push(sqli.named("SQL injection in query").expecting(sqli_expect));
    }
    let mut nul_extra = valid.clone();
    nul_extra.target = format!(
        "{}{}x%00=%00&token=%00",
        endpoint.target,
        if query.is_empty() { "?" } else { "&" }
    );
    probes.push(nul_extra.named("extra %00 parameters"));
    let mut bad_escape = valid.clone();
    bad_escape.target = format!(
        "{}{}%zz=%&%ff%fe=%c3%28",
        endpoint.target,
        if query.is_empty() { "?" } else { "&" }
    );
    probes.push(bad_escape.named("invalid percent-escapes in query"));

    // Bodies. Endpoints that parse their body must refuse these; the others may ignore them.
    let body_expect = match endpoint.body {
        BodyKind::Ignored => Expect::Any,
        _ => Expect::Error,
    };
    let content_type = match endpoint.body {
        BodyKind::Form => "application/x-www-form-urlencoded",
        _ => "application/json",
    };
    let truncated: &[u8] = match endpoint.body {
        BodyKind::Form => b"grant_type=client_credentials&token=%4",
        _ => br#"{"resource":["basic"],"validity":6"#,
    };
    probes.push(
        valid
            .clone()
            .with_body(content_type, truncated.to_vec())
            .named("truncated body")
            .expecting(if endpoint.body == BodyKind::Form {
                // `%4` decodes leniently; the form may still be acceptable.
                Expect::Any
            } else {
                body_expect
            }),
    );
    probes.push(
        valid
            .clone()
            .with_body(content_type, noise(512, 0x5eed))
            .named("random bytes as body")
            .expecting(body_expect),
    );
    probes.push(
        valid
            .clone()
            .with_body("application/octet-stream", noise(512, 0xbeef))
            .named("random bytes, octet-stream")
            .expecting(body_expect),
    );
    let mut big = noise(3 * 1024 * 1024, 0xb16);
    if endpoint.body != BodyKind::Form {
        big[0] = b'{';
    }
    probes.push(
        valid
            .clone()
            .with_body(content_type, big)
            .named("3 MB body")
            .expecting(if endpoint.body == BodyKind::Records {
                // Under the 10 MiB push limit: the records are read, and refused.
                Expect::Status(400)
            } else {
                body_expect
            }),
    );

    // Endpoint-specific NUL and SQL injection in bodies and headers.
    probes.extend(cdp_probes(setup, endpoint, &valid));
    match (endpoint.body, endpoint.target.as_str()) {
        (BodyKind::OptionalJson, _) => {
            for (case, body) in [
                (
                    "NUL in tenantName",
                    r#"{"tenantName":"acme\u0000"}"#.to_owned(),
                ),
                (
                    "SQL injection tenantName",
                    json!({"tenantName": SQLI}).to_string(),
                ),
                (
                    "tenantName not a string",
                    r#"{"tenantName":[{}]}"#.to_owned(),
                ),
                ("JSON not an object", r#"[1,2,3]"#.to_owned()),
            ] {
                probes.push(
                    valid
                        .clone()
                        .with_body("application/json", body.into_bytes())
                        .named(case)
                        .expecting(Expect::Error),
                );
            }
        }
        (BodyKind::Json, target) => {
            let create = target.ends_with("/create");
            let token = &setup.secure_token;
            let bodies = [
                (
                    "NUL in resource",
                    json!({"resource": ["basic\u{0}"], "token": token}),
                ),
                (
                    "SQL injection resource",
                    json!({"resource": [SQLI], "token": token}),
                ),
                (
                    "resource not a list",
                    json!({"resource": SQLI, "token": token}),
                ),
                (
                    "NUL in token",
                    json!({"resource": ["basic"], "token": "\u{0}"}),
                ),
                (
                    "SQL injection token",
                    json!({"resource": ["basic"], "token": SQLI}),
                ),
                (
                    "validity out of range",
                    json!({"resource": ["basic"], "validity": -1, "token": SQLI}),
                ),
                (
                    "validity huge",
                    json!({"resource": ["basic"], "validity": 1e300, "token": SQLI}),
                ),
            ];
            for (case, body) in bodies {
                // On create the token is not read: only the resource and validity cases break it.
                let expect = if create && case.contains("token") {
                    Expect::Any
                } else {
                    Expect::Error
                };
                probes.push(
                    valid
                        .clone()
                        .with_body("application/json", body.to_string().into_bytes())
                        .named(case)
                        .expecting(expect),
                );
            }
            // Hostile `{api}` names, with valid tenant headers and body: the route matches, so
            // the api name itself must be refused.
            let action = if create { "create" } else { "update" };
            for api in [
                "..%2f..%2fetc",
                "%2e%2e",
                "profile%00",
                SQLI_ENCODED,
                "%ff%fe",
            ] {
                let mut probe = valid.clone();
                probe.target = format!("/secureApi/token/{api}/{action}");
                probe.what = format!("POST {} [hostile api name]", probe.target);
                probes.push(probe.expecting(Expect::Error));
            }
            for (case, name, value) in [
                ("SQL injection tenant_hash", "tenant_hash", SQLI.as_bytes()),
                (
                    "SQL injection oauth_key_secret",
                    "oauth_key_secret",
                    SQLI.as_bytes(),
                ),
                ("empty tenant_hash", "tenant_hash", b"".as_slice()),
                ("9 KB tenant_hash", "tenant_hash", &[b'a'; 9 * 1024][..]),
                (
                    "non-UTF-8 tenant_hash",
                    "tenant_hash",
                    b"\xff\xfe\xfd".as_slice(),
                ),
            ] {
                probes.push(
                    valid
                        .clone()
                        .with_header(name, value)
                        .named(case)
                        .expecting(Expect::Error),
                );
            }
        }
        (BodyKind::Form, target) => {
            let garbage = target != "/oauth/token";
            let token_expect = match target {
                "/oauth/introspect" => Expect::Inactive,
                "/oauth/revoke" => Expect::Any,
                _ => Expect::Error,
            };
            let pairs: &[(&str, String, Expect)] = &[
                (
                    "SQL injection grant_type/token",
                    format!("grant_type={SQLI_ENCODED}&token={SQLI_ENCODED}"),
                    token_expect,
                ),
                (
                    "NUL in grant_type/token",
                    "grant_type=client_credentials%00&token=%00".into(),
                    token_expect,
                ),
                (
                    "SQL injection scope",
                    format!("grant_type=client_credentials&scope={SQLI_ENCODED}&token=x"),
                    if garbage { token_expect } else { Expect::Any },
                ),
                (
                    "SQL injection token_type_hint",
                    format!("grant_type={SQLI_ENCODED}&token=x&token_type_hint={SQLI_ENCODED}"),
                    token_expect,
                ),
                (
                    "duplicate token/grant_type",
                    "grant_type=client_credentials&grant_type=password&token=a&token=b".into(),
                    Expect::Any,
                ),
                (
                    "9 KB token",
                    format!("grant_type=x&token={}", "A".repeat(9 * 1024)),
                    token_expect,
                ),
            ];
            for (case, body, expect) in pairs {
                probes.push(
                    valid
                        .clone()
                        .with_body(content_type, body.clone().into_bytes())
                        .named(case)
                        .expecting(*expect),
                );
            }
            // client_secret_post with SQL injection, no Basic.
            let mut post = valid
                .clone()
                .with_body(
                    content_type,
                    format!(
                        "grant_type=client_credentials&token=x&client_id={SQLI_ENCODED}&client_secret={SQLI_ENCODED}"
                    )
                    .into_bytes(),
                )
                .named("SQL injection client_secret_post")
                .expecting(Expect::Error);
            post.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
            probes.push(post);
        }
        _ => {}
    }

    // Path traversal and wrong methods.
    for target in [
        format!("/..{}", endpoint.target),
        format!("/x/..{}", endpoint.target),
        format!("{path}/..{}", &endpoint.target[path.len()..]),
        format!("/%2e%2e{}", endpoint.target),
        format!("{path}%2f..%2f{}", &endpoint.target[path.len()..]),
    ] {
        let mut probe = valid.clone();
        probe.what = format!("{} {target} [path traversal]", endpoint.method);
        probe.target = target;
        probes.push(probe.expecting(Expect::Error));
    }
    for method in ["PUT", "PATCH"] {
        let mut probe = valid.clone();
        probe.method = method.into();
        probe.what = format!("{method} {} [wrong method]", endpoint.target);
        probes.push(probe.expecting(Expect::Error));
    }
    probes
}

/// About 3 MB of valid records (each a copy of `base` with its own padded
/// `SourceCustomerNumber`), all under the record limit, but the last with an invalid
/// `EventTimeStamp`: the whole push is refused.
fn big_batch(base: &Value) -> Vec<u8> {
    let pad = "x".repeat(300);
    let mut records: Vec<Value> = (0..8_000)
        .map(|i| {
            let mut record = base.clone();
            record["SourceCustomerNumber"] = json!(format!("B-{i}-{pad}"));
            record
        })
        .collect();
    if let Some(last) = records.last_mut() {
        last["EventTimeStamp"] = json!("not a time");
    }
    records_body(&records)
}

/// A push body of `records`.
fn records_body(records: &[Value]) -> Vec<u8> {
    Value::from(records.to_vec()).to_string().into_bytes()
}

/// The CDP endpoints' own hostile cases: tenant ids and customer ids in the path, their query
/// parameters, WebTag keys and origins, pushed records, `Idempotency-Key`s, the secureApi CDP
/// headers and bodies, and tokens of the wrong kind.
fn cdp_probes(setup: &Setup, endpoint: &Endpoint, valid: &Probe) -> Vec<Probe> {
    use Expect::{Any, Error};
    let mut probes = Vec::new();
    let target = endpoint.target.as_str();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    // Tokens of the wrong kind: refused (403), whatever else is right.
    let wrong_tokens: Vec<(&str, Vec<(&str, String)>)> = match endpoint.cred {
        Cred::Bearer if target.starts_with("/v2/") => vec![
            (
                "a 360 Profiles token where a DW Tracker one is due",
                vec![("Authorization", bearer(&setup.puller_token))],
            ),
            (
                "a secureApi token where a DW Tracker one is due",
                vec![("Authorization", bearer(&setup.profile_token))],
            ),
        ],
        Cred::Pull => vec![
            (
                "a DW Tracker token where a 360 Profiles one is due",
                vec![("Authorization", bearer(&setup.a1user_token))],
            ),
            (
                "a secureApi token where a 360 Profiles one is due",
                vec![("Authorization", bearer(&setup.profile_token))],
            ),
        ],
        Cred::ProfileToken => vec![
            (
                "a gdpr token where a profile one is due",
                vec![("access_token", setup.gdpr_token.clone())],
            ),
            (
                "an a1user token where a profile one is due",
                vec![("access_token", setup.puller_token.clone())],
            ),
            (
                "both access_token and Authorization",
                vec![("Authorization", bearer(&setup.profile_token))],
            ),
        ],
        Cred::GdprToken => vec![
            (
                "a profile token where a gdpr one is due",
                vec![("access_token", setup.profile_token.clone())],
            ),
            (
                "an a1user token where a gdpr one is due",
                vec![("access_token", setup.a1user_token.clone())],
            ),
        ],
        _ => vec![],
    };
    for (case, headers) in wrong_tokens {
        let mut probe = valid.clone();
        for (name, value) in headers {
            probe = probe.with_header(name, value.as_bytes());
        }
        probes.push(probe.named(case).expecting(Error));
    }

    // The tenant id in the path: anything but the token's (or the key's) tenant is refused.
    if let Some(rest) = target.strip_prefix(&format!("/v2/{}/", setup.tenant_id)) {
        for tenant in [
            "abc",
            "2",
            "-1",
            "0",
            "99999999999999999999",
            SQLI_ENCODED,
            "%00",
            "1%00",
            "%ff%fe",
            "..%2f1",
            "",
        ] {
            probes.push(
                valid
                    .clone()
                    .at(format!("/v2/{tenant}/{rest}"))
                    .named("hostile tenant id")
                    .expecting(Error),
            );
        }
    }

    // Pulls: their own query parameters, and hostile customer ids.
    if endpoint.cred == Cred::Pull {
        if !query.is_empty() {
            for (q, expect) in [
                (format!("limit={SQLI_ENCODED}"), Error),
                (format!("offset={SQLI_ENCODED}"), Error),
                (format!("after={SQLI_ENCODED}"), Error),
                (format!("fq={SQLI_ENCODED}"), Error),
                (format!("fq=updatedSince:{SQLI_ENCODED}"), Error),
                (format!("fq=email:{SQLI_ENCODED}"), Any),
                (format!("fq=email:{SQLI_ENCODED}&fq=email:h@example.com"), Any),
                // SERVER BUG: on PostgreSQL both answer 503 server_error (NUL in a text
                // parameter reaches the database); SQLite answers 200 with no customer.
                ("fq=email:%00".to_owned(), Any),
                ("fq=email:h%00@example.com".to_owned(), Any),
                ("fq=updatedSince:2026-11-20T10:00:00Z%00".to_owned(), Error),
                ("fq=updatedSince:99999-01-01T00:00:00Z".to_owned(), Error),
                ("fq=updatedSince:0000-01-01T00:00:00Z".to_owned(), Any),
                ("fq=updatedSince:2016-12-31T23:59:60Z".to_owned(), Any),
                ("fq=".to_owned(), Error),
                ("fq=email:".to_owned(), Error),
                ("limit=0".to_owned(), Error),
                ("limit=1001".to_owned(), Error),
                ("limit=-1".to_owned(), Error),
                ("limit=99999999999999999999".to_owned(), Error),
                ("limit=1e3".to_owned(), Error),
                ("offset=-1".to_owned(), Error),
                ("offset=9223372036854775807".to_owned(), Any),
                ("offset=9223372036854775808".to_owned(), Error),
                ("after=1.2".to_owned(), Any),
                ("after=-9223372036854775808.-9223372036854775808".to_owned(), Any),
                ("after=9223372036854775807.9223372036854775807".to_owned(), Any),
                ("after=99999999999999999999.1".to_owned(), Error),
                ("after=1.2.3".to_owned(), Error),
                ("after=".to_owned(), Error),
                (
                    "limit=1000&offset=9223372036854775807&after=1.1&fq=updatedSince:2026-11-20T10:00:00Z"
                        .to_owned(),
                    Any,
                ),
                ("after=%00".to_owned(), Error),
            ] {
                probes.push(
                    valid
                        .clone()
                        .at(format!("{path}?{q}"))
                        .named("hostile pull parameter")
                        .expecting(expect),
                );
            }
        } else {
            let customers = path.rsplit_once('/').map_or(path, |(c, _)| c);
            // SERVER BUG: on PostgreSQL the two ids with %00 answer 503 server_error instead of
            // 404 (NUL reaches the database).
            for gcr in [
                format!("gcr_{SQLI_ENCODED}"),
                SQLI_ENCODED.to_owned(),
                format!("{}%00", setup.gcr_id),
                "%00".to_owned(),
                format!("gcr_{}", "a".repeat(9 * 1024)),
                "gcr_%ff%fe".to_owned(),
                "gcr_aaaaaaaaaaaaaaaaaaaaaaaa".to_owned(),
                "%2e%2e".to_owned(),
                format!("{}%2f..", setup.gcr_id),
                format!("{}%20OR%201=1", setup.gcr_id),
            ] {
                probes.push(
                    valid
                        .clone()
                        .at(format!("{customers}/{gcr}"))
                        .named("hostile gcrId")
                        .expecting(Error),
                );
            }
        }
    }

    // WebTag: hostile keys and origins.
    if endpoint.cred == Cred::AccessKey {
        let key = &setup.access_key;
        let rest = query
            .split('&')
            .filter(|p| !p.starts_with("accessKey="))
            .collect::<Vec<_>>()
            .join("&");
        let long = "A".repeat(9 * 1024);
        for bad in [
            "",
            SQLI_ENCODED,
            "%00",
            &format!("{key}%00"),
            &format!("{key}x"),
            &key[..key.len() - 1],
            &long,
            "%ff%fe",
            &key.to_ascii_uppercase(),
        ] {
            probes.push(
                valid
                    .clone()
                    .at(format!("{path}?{rest}&accessKey={bad}"))
                    .named("hostile accessKey")
                    .expecting(Error),
            );
        }
        probes.push(
            valid
                .clone()
                .at(format!("{path}?{rest}"))
                .named("no accessKey")
                .expecting(Error),
        );
        probes.push(
            valid
                .clone()
                .at(format!("{path}?{rest}&accessKey={key}&accessKey={key}"))
                .named("accessKey twice")
                .expecting(Error),
        );
        probes.push(
            valid
                .clone()
                .at(format!("{path}?scheme=a1user&accessKey={key}"))
                .named("accessKey with scheme=a1user")
                .expecting(Error),
        );
        probes.push(
            valid
                .clone()
                .without_header("Origin")
                .named("no Origin")
                .expecting(Error),
        );
        for origin in [
            b"https://evil.example".as_slice(),
            b"https://shop.example.evil.example",
            b"https://evil.example/https://shop.example",
            b"http://shop.example",
            b"null",
            b"",
            SQLI.as_bytes(),
            b"https://shop.example\xff",
            &[b'a'; 9 * 1024],
        ] {
            probes.push(
                valid
                    .clone()
                    .with_header("Origin", origin)
                    .named(&format!("Origin {:?}", String::from_utf8_lossy(origin)))
                    .expecting(Error),
            );
        }
        probes.push(
            valid
                .clone()
                .plus_header("Origin", b"https://evil.example")
                .named("two Origin headers")
                .expecting(Error),
        );
        if endpoint.method == "GET" {
            // The event rides in the query string.
            for (q, expect) in [
                (format!("SourceCustomerNumber={SQLI_ENCODED}"), Any),
                // SERVER BUG: 503 server_error on PostgreSQL (NUL reaches the database).
                ("SourceCustomerNumber=%00".to_owned(), Any),
                ("SourceCustomerNumber=".to_owned(), Error),
                ("Type=".to_owned(), Error),
                (format!("EventTimeStamp={SQLI_ENCODED}"), Error),
                ("EventTimeStamp=99999-01-01T00:00:00Z".to_owned(), Error),
                ("Email=h@example.com".to_owned(), Error),
                (format!("{SQLI_ENCODED}=1"), Error),
            ] {
                let name = q.split('=').next().unwrap_or_default();
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|p| p.split('=').next() != Some(name))
                    .collect();
                probes.push(
                    valid
                        .clone()
                        .at(format!("{path}?{}&{q}", kept.join("&")))
                        .named("hostile event in the query")
                        .expecting(expect),
                );
            }
        }
    }

    // Pushed records.
    if endpoint.body == BodyKind::Records {
        let webtag = endpoint.cred == Cred::AccessKey;
        let base = if webtag {
            webtag_event()
        } else {
            push_record()
        };
        let with = |field: &str, value: Value| {
            let mut record = base.clone();
            record[field] = value;
            records_body(&[record])
        };
        let without = |field: &str| {
            let mut record = base.clone();
            record.as_object_mut().expect("object").remove(field);
            records_body(&[record])
        };
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep_attributes = {
            let mut nested = json!({"k\u{0}": SQLI});
            for _ in 0..100 {
                nested = json!({ "a": nested });
            }
            nested
        };
        let ndjson = |lines: &[&str]| lines.join("\n").into_bytes();
        let good = base.to_string();
        let mut bodies: Vec<(&str, Vec<u8>, Expect)> = vec![
            // SERVER BUG: on PostgreSQL (CDP_AUTH_TEST_POSTGRES) U+0000 in a pushed string field reaches
        // the database, which cannot store NUL in text: 503 server_error instead of 202 or 400
        // (SQLite stores it). Same for the NUL cases of the pull, the gcrId, the WebTag pixel
        // and gdprRequestStatus below.
            (
                "NUL in SourceCustomerNumber",
                with("SourceCustomerNumber", json!("H-\u{0}1")),
                Any,
            ),
            (
                "SQL injection SourceCustomerNumber",
                with("SourceCustomerNumber", json!(SQLI)),
                Any,
            ),
            (
                "SQL injection Type and Subtype",
                records_body(&[json!({
                    "SourceCustomerNumber": "H-2", "Type": SQLI, "Subtype": SQLI,
                    "EventTimeStamp": EVENT_TIME,
                })]),
                Any,
            ),
            (
                "NUL in Type and Subtype",
                records_body(&[json!({
                    "SourceCustomerNumber": "H-2", "Type": "x\u{0}", "Subtype": "\u{0}",
                    "EventTimeStamp": EVENT_TIME,
                })]),
                Any,
            ),
            (
                "9 KB SourceCustomerNumber",
                with("SourceCustomerNumber", json!("A".repeat(9 * 1024))),
                Any,
            ),
            (
                "SourceCustomerNumber 1e300",
                with("SourceCustomerNumber", json!(1e300)),
                Any,
            ),
            (
                "SourceCustomerNumber u64::MAX",
                with("SourceCustomerNumber", json!(u64::MAX)),
                Any,
            ),
            (
                "SourceCustomerNumber -2^63",
                with("SourceCustomerNumber", json!(i64::MIN)),
                Any,
            ),
            (
                "SourceCustomerNumber an object",
                with("SourceCustomerNumber", json!({"a": 1})),
                Error,
            ),
            (
                "SourceCustomerNumber null",
                with("SourceCustomerNumber", Value::Null),
                Error,
            ),
            (
                "SourceCustomerNumber blank",
                with("SourceCustomerNumber", json!(" \t ")),
                Error,
            ),
            (
                "SourceCustomerNumber missing",
                without("SourceCustomerNumber"),
                Error,
            ),
            ("unknown key", with(SQLI, json!(1)), Error),
            ("Type without EventTimeStamp", without("EventTimeStamp"), Error),
            (
                "EventTimeStamp not RFC 3339",
                with("EventTimeStamp", json!("yesterday")),
                Error,
            ),
            (
                "SQL injection EventTimeStamp",
                with("EventTimeStamp", json!(SQLI)),
                Error,
            ),
            (
                "EventTimeStamp year 99999",
                with("EventTimeStamp", json!("99999-01-01T00:00:00Z")),
                Error,
            ),
            (
                "EventTimeStamp year 0",
                with("EventTimeStamp", json!("0000-01-01T00:00:00Z")),
                Any,
            ),
            (
                "EventTimeStamp leap second",
                with("EventTimeStamp", json!("2016-12-31T23:59:60Z")),
                Any,
            ),
            (
                "EventTimeStamp offset +23:59",
                with("EventTimeStamp", json!("2026-11-20T10:00:00+23:59")),
                Any,
            ),
            (
                "EventTimeStamp with NUL",
                with("EventTimeStamp", json!("2026-11-20T10:00:00Z\u{0}")),
                Error,
            ),
            (
                "EventTimeStamp a number",
                with("EventTimeStamp", json!(1_732_350_000)),
                Error,
            ),
            ("empty array", b"[]".to_vec(), Error),
            ("array of numbers", b"[1,2,3]".to_vec(), Error),
            ("a JSON string", br#""x""#.to_vec(), Error),
            ("null", b"null".to_vec(), Error),
            ("whitespace only", b" \n\t\n ".to_vec(), Error),
            ("arrays nested 10,000 deep", deep.into_bytes(), Error),
            (
                "3 MB of records, the last one invalid",
                big_batch(&base),
                Expect::Status(400),
            ),
            (
                "10,001 records",
                records_body(&vec![base.clone(); 10_001]),
                Error,
            ),
            (
                "NDJSON with a broken line",
                ndjson(&[&good, r#"{"SourceCustomerNumber":"#, &good]),
                Error,
            ),
            (
                "NDJSON with blank lines",
                ndjson(&["", &good, "", "", &good, ""]),
                Any,
            ),
            ("NDJSON of arrays", ndjson(&["[1]", "[2]"]), Error),
            (
                "invalid UTF-8 in a string",
                [
                    br#"[{"SourceCustomerNumber":"H-"#.as_slice(),
                    b"\xff\xfe",
                    br#"","Type":"x","EventTimeStamp":"2026-11-20T10:00:00Z"}]"#,
                ]
                .concat(),
                Error,
            ),
            (
                "lone surrogate escape",
                format!(
                    r#"[{{"SourceCustomerNumber":"\ud800","Type":"x","EventTimeStamp":"{EVENT_TIME}"}}]"#
                )
                .into_bytes(),
                Any,
            ),
            (
                "UTF-8 byte order mark",
                format!("\u{feff}[{good}]").into_bytes(),
                Any,
            ),
            (
                "duplicate keys",
                format!(
                    r#"[{{"SourceCustomerNumber":"H-1","SourceCustomerNumber":"H-2","Type":"x","EventTimeStamp":"{EVENT_TIME}"}}]"#
                )
                .into_bytes(),
                Any,
            ),
            (
                "one valid record, one invalid",
                records_body(&[base.clone(), json!({"SourceCustomerNumber": ""})]),
                Error,
            ),
        ];
        if webtag {
            bodies.push((
                "Email from a browser",
                records_body(&[push_record()]),
                Error,
            ));
            bodies.push((
                "no event",
                records_body(&[json!({"SourceCustomerNumber": "H-1"})]),
                Error,
            ));
        } else {
            bodies.extend([
                // SERVER BUG: 503 on PostgreSQL (NUL in text), see "NUL in SourceCustomerNumber".
                (
                    "NUL in Email and names",
                    records_body(&[json!({
                        "SourceCustomerNumber": "H-3", "Email": "h\u{0}@example.com",
                        "FirstName": "\u{0}", "LastName": "a\u{0}b", "Phone": "\u{0}",
                    })]),
                    Any,
                ),
                (
                    "SQL injection Email and names",
                    records_body(&[json!({
                        "SourceCustomerNumber": "H-3", "Email": SQLI, "FirstName": SQLI,
                        "LastName": SQLI, "Phone": SQLI, "Attributes": {SQLI: SQLI},
                    })]),
                    Any,
                ),
                ("empty Email", with("Email", json!("")), Error),
                ("Email a number", with("Email", json!(5)), Error),
                ("Attributes a list", with("Attributes", json!([1])), Error),
                (
                    "Attributes nested 100 deep, NUL keys",
                    with("Attributes", deep_attributes),
                    Any,
                ),
                (
                    "1 MB Attributes value",
                    with("Attributes", json!({"big": "x".repeat(1024 * 1024)})),
                    Any,
                ),
            ]);
        }
        for (case, body, expect) in bodies {
            probes.push(
                valid
                    .clone()
                    .with_body("application/json", body)
                    .named(case)
                    .expecting(expect),
            );
        }
        for content_type in [
            b"application/x-ndjson".as_slice(),
            b"text/plain",
            b"multipart/form-data; boundary=x",
            b"application/json; charset=latin1",
            b"\xff\xfe",
        ] {
            probes.push(
                valid
                    .clone()
                    .with_header("Content-Type", content_type)
                    .named(&format!(
                        "Content-Type {:?}",
                        String::from_utf8_lossy(content_type)
                    )),
            );
        }
        probes.push(
            valid
                .clone()
                .without_header("Content-Type")
                .named("no Content-Type"),
        );
        // Over the 10 MiB push limit: refused by size.
        let mut over = b"[".to_vec();
        over.resize(10 * 1024 * 1024 + 1, b' ');
        probes.push(
            valid
                .clone()
                .with_body("application/json", over)
                .named("10 MiB + 1 byte body")
                .expecting(Expect::Status(413)),
        );
        if !webtag {
            for (case, key, expect) in [
                ("256-character Idempotency-Key", vec![b'k'; 256], Error),
                ("empty Idempotency-Key", Vec::new(), Any),
                ("obs-text Idempotency-Key", b"\xff\xfe".to_vec(), Error),
                ("tab in Idempotency-Key", b"a\tb".to_vec(), Error),
                (
                    "SQL injection Idempotency-Key",
                    SQLI.as_bytes().to_vec(),
                    Any,
                ),
            ] {
                probes.push(
                    valid
                        .clone()
                        .with_header("Idempotency-Key", &key)
                        .named(case)
                        .expecting(expect),
                );
            }
            probes.push(
                valid
                    .clone()
                    .with_header("Idempotency-Key", b"hostile-1")
                    .plus_header("Idempotency-Key", b"hostile-2")
                    .named("two Idempotency-Keys")
                    .expecting(Error),
            );
            // The same key again with another body: 422. Probes are sent in order.
            probes.push(
                valid
                    .clone()
                    .with_header("Idempotency-Key", b"hostile-reused")
                    .named("Idempotency-Key, first use"),
            );
            probes.push(
                valid
                    .clone()
                    .with_header("Idempotency-Key", b"hostile-reused")
                    .with_body(
                        "application/json",
                        records_body(&[json!({"SourceCustomerNumber": "H-9"})]),
                    )
                    .named("Idempotency-Key reused with another body")
                    .expecting(Expect::Status(422)),
            );
        }
    }

    // The secureApi CDP routes: their headers, bodies and names.
    if endpoint.body == BodyKind::Vendor {
        let gdpr = endpoint.cred == Cred::GdprToken;
        let mut headers: Vec<(&str, &str, Vec<u8>, Expect)> = vec![
            (
                "SQL injection tenant_hash",
                "tenant_hash",
                SQLI.into(),
                Error,
            ),
            ("empty tenant_hash", "tenant_hash", Vec::new(), Error),
            (
                "9 KB tenant_hash",
                "tenant_hash",
                vec![b'a'; 9 * 1024],
                Error,
            ),
            (
                "non-UTF-8 tenant_hash",
                "tenant_hash",
                b"\xff\xfe\xfd".to_vec(),
                Error,
            ),
            (
                "SQL injection access_token",
                "access_token",
                SQLI.into(),
                Error,
            ),
            ("empty access_token", "access_token", Vec::new(), Error),
            (
                "9 KB access_token",
                "access_token",
                vec![b'A'; 9 * 1024],
                Error,
            ),
            (
                "non-UTF-8 access_token",
                "access_token",
                b"\xff\xfe\xfd".to_vec(),
                Error,
            ),
        ];
        if !gdpr {
            headers.extend([
                (
                    "SQL injection email_address",
                    "email_address",
                    SQLI_LOOKUP.into(),
                    Error,
                ),
                (
                    "non-UTF-8 email_address",
                    "email_address",
                    b"h\xff@example.com".to_vec(),
                    Error,
                ),
                (
                    "9 KB email_address",
                    "email_address",
                    vec![b'a'; 9 * 1024],
                    Error,
                ),
            ]);
        }
        for (case, name, value, expect) in headers {
            probes.push(
                valid
                    .clone()
                    .with_header(name, &value)
                    .named(case)
                    .expecting(expect),
            );
        }
        probes.push(
            valid
                .clone()
                .plus_header("tenant_hash", setup.tenant_hash.as_bytes())
                .named("two tenant_hash headers")
                .expecting(Error),
        );
        probes.push(
            valid
                .clone()
                .without_header("tenant_hash")
                .named("no tenant_hash")
                .expecting(Error),
        );
        if !gdpr {
            probes.push(
                valid
                    .clone()
                    .without_header("email_address")
                    .named("no customer header")
                    .expecting(Error),
            );
            for (name, value) in [
                ("gcrId", SQLI_LOOKUP),
                ("gcrId", "%00"),
                ("mobile_number", SQLI_LOOKUP),
                ("customer_code_external", SQLI_LOOKUP),
                ("customer_code_external", ""),
            ] {
                probes.push(
                    valid
                        .clone()
                        .without_header("email_address")
                        .with_header(name, value.as_bytes())
                        .named(&format!("{name} {value:?}"))
                        .expecting(Error),
                );
            }
            probes.push(
                valid
                    .clone()
                    .without_header("email_address")
                    .with_header("gcrId", setup.gcr_id.as_bytes())
                    .named("by gcrId"),
            );
        }
        let bodies: Vec<(&str, Vec<u8>, Expect)> = if gdpr {
            vec![
                ("requestId x", br#"{"requestId":"x"}"#.to_vec(), Error),
                (
                    "SQL injection requestId",
                    json!({"requestId": SQLI}).to_string().into_bytes(),
                    Error,
                ),
                // SERVER BUG: 503 server_error on PostgreSQL instead of 404 (NUL reaches the
                // database).
                (
                    "NUL in requestId",
                    json!({"requestId": format!("{}\u{0}", setup.gdpr_request_id)})
                        .to_string()
                        .into_bytes(),
                    Error,
                ),
                (
                    "9 KB requestId",
                    json!({"requestId": "a".repeat(9 * 1024)})
                        .to_string()
                        .into_bytes(),
                    Error,
                ),
                ("requestId a number", br#"{"requestId":1}"#.to_vec(), Error),
                ("requestId null", br#"{"requestId":null}"#.to_vec(), Error),
                ("empty object", b"{}".to_vec(), Error),
                ("empty body", Vec::new(), Error),
                ("JSON not an object", b"[1,2,3]".to_vec(), Error),
            ]
        } else {
            vec![
                ("empty body", Vec::new(), Any),
                ("JSON not an object", b"[1,2,3]".to_vec(), Error),
                ("a JSON string", br#""x""#.to_vec(), Error),
                (
                    "NUL and SQL injection in ignored fields",
                    json!({"pageSize": SQLI, "\u{0}": "\u{0}"})
                        .to_string()
                        .into_bytes(),
                    Any,
                ),
                (
                    "arrays nested 10,000 deep",
                    format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
                    Error,
                ),
            ]
        };
        for (case, body, expect) in bodies {
            probes.push(
                valid
                    .clone()
                    .with_body("application/json", body)
                    .named(case)
                    .expecting(expect),
            );
        }
        // Hostile resource (or action) names: the route matches, the name is refused.
        let prefix = path.rsplit_once('/').map_or(path, |(p, _)| p);
        for name in [
            SQLI_ENCODED,
            "%00",
            "basic%00",
            "gdprRequestStatus%00",
            "%2e%2e",
            "..%2f..%2fsecureApi%2ftoken%2fprofile%2fcreate",
            "%ff%fe",
            "BASIC",
            "segments",
            "revokeGdprActions",
        ] {
            probes.push(
                valid
                    .clone()
                    .at(format!("{prefix}/{name}"))
                    .named("hostile resource name")
                    .expecting(Error),
            );
        }
        if gdpr {
            // registerGdprRequest, which the token also holds: hostile bodies and values. None
            // names a real person, so nothing is erased.
            let register = |body: Value, value: Option<&[u8]>| {
                let mut probe = setup.gdpr_probe("registerGdprRequest", body);
                if let Some(value) = value {
                    probe.headers.push(("reqParamValue".into(), value.to_vec()));
                }
                probe
            };
            let ok = json!({"reqType": "access", "reqParam": "email", "reqSource": "hostile"});
            let nobody = Some(b"nobody@example.com".as_slice());
            for (case, body, value, expect) in [
                (
                    "SQL injection reqType",
                    json!({"reqType": SQLI, "reqParam": "email", "reqSource": "x"}),
                    nobody,
                    Error,
                ),
                (
                    "SQL injection reqParam",
                    json!({"reqType": "access", "reqParam": SQLI, "reqSource": "x"}),
                    nobody,
                    Error,
                ),
                (
                    "11-character reqSource",
                    json!({"reqType": "access", "reqParam": "email", "reqSource": "a".repeat(11)}),
                    nobody,
                    Error,
                ),
                (
                    "NUL in reqSource",
                    json!({"reqType": "access", "reqParam": "email", "reqSource": "\u{0}"}),
                    nobody,
                    Any,
                ),
                ("no reqParamValue", ok.clone(), None, Error),
                (
                    "empty reqParamValue",
                    ok.clone(),
                    Some(b"".as_slice()),
                    Error,
                ),
                (
                    "non-UTF-8 reqParamValue",
                    ok.clone(),
                    Some(b"\xff\xfe".as_slice()),
                    Error,
                ),
                (
                    "SQL injection reqParamValue, access",
                    ok.clone(),
                    Some(SQLI.as_bytes()),
                    Any,
                ),
                (
                    "SQL injection reqParamValue, forget by gcrid",
                    json!({"reqType": "forget", "reqParam": "gcrid", "reqSource": "hostile"}),
                    Some(SQLI.as_bytes()),
                    Any,
                ),
                (
                    "SQL injection reqParamValue, forget by mobile",
                    json!({"reqType": "forget", "reqParam": "mobile", "reqSource": "hostile"}),
                    Some(SQLI.as_bytes()),
                    Any,
                ),
                (
                    "9 KB reqParamValue",
                    ok.clone(),
                    Some(&[b'a'; 9 * 1024][..]),
                    Any,
                ),
                (
                    "extra field",
                    json!({"reqType": "access", "reqParam": "email", "reqSource": "x", "x": 1}),
                    nobody,
                    Any,
                ),
                ("body a list", json!([ok.clone()]), nobody, Error),
            ] {
                probes.push(register(body, value).named(case).expecting(expect));
            }
        }
    }
    probes
}

/// The fixed path-traversal targets, with every method.
fn traversal_probes() -> Vec<Probe> {
    let mut probes = Vec::new();
    for target in [
        "/token/../token?scheme=a1user",
        "/%2e%2e/etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/secureApi/token/..%2f..%2fetc/create",
        "/secureApi/token/../../etc/create",
        "/secureApi/token/%2e%2e/update",
        "/oauth/../healthz",
        "/.well-known/../openapi.json",
        "//healthz",
        "/healthz%00",
        "/healthz/",
    ] {
        for method in ["GET", "POST", "DELETE", "PUT", "PATCH"] {
            probes.push(Probe {
                method: method.into(),
                target: target.into(),
                headers: vec![("Content-Type".into(), b"application/json".to_vec())],
                body: Vec::new(),
                expect: Expect::Error,
                what: format!("{method} {target} [path traversal]"),
            });
        }
    }
    probes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_survives_hostile_input_with_json_errors() {
    let setup = setup().await;
    let mut probes = traversal_probes();
    for endpoint in endpoints(&setup) {
        probes.extend(hostile_probes(&setup, &endpoint));
    }
    // The webtag instance's login, with hostile bodies too.
    let webtag_login = Probe {
        method: "POST".into(),
        target: "/authentication?action=login".into(),
        headers: vec![("Authorization".into(), basic(&setup.webtag).into_bytes())],
        body: br#"{"tenantName":"' OR 1=1 --"}"#.to_vec(),
        expect: Expect::Error,
        what: "webtag login with SQL injection tenantName".into(),
    };
    probes.push(webtag_login);
    // Too many headers: hyper's limit (100) is hit before our JSON layer runs.
    probes.push(Probe {
        method: "POST".into(),
        target: "/authentication?action=login".into(),
        headers: (0..120)
            .map(|i| (format!("X-Junk-{i}"), b"x".to_vec()))
            .collect(),
        body: Vec::new(),
        expect: Expect::Hyper(431),
        what: "login with 120 headers [too many headers]".into(),
    });
    probes.push(Probe {
        method: "POST".into(),
        target: "/authentication?action=login".into(),
        headers: vec![("X-Junk".into(), vec![b'x'; 512 * 1024])],
        body: Vec::new(),
        expect: Expect::Hyper(431),
        what: "login with a 512 KB header [head too large]".into(),
    });
    probes.push(Probe {
        method: "POST".into(),
        target: "/authentication?action=login".into(),
        headers: vec![("Authorization".into(), b"Basic \x00abc".to_vec())],
        body: Vec::new(),
        expect: Expect::Hyper(400),
        what: "login with a raw NUL in Authorization [header framing]".into(),
    });

    let mut failures = Vec::new();
    let total = probes.len();
    for probe in probes {
        let answer = send(&setup, probe.clone()).await;
        if let Some(failure) = verdict(&probe, &answer) {
            failures.push(failure);
        }
    }

    // Still alive and still serving.
    let health = send(
        &setup,
        Probe {
            method: "GET".into(),
            target: "/healthz".into(),
            headers: vec![],
            body: vec![],
            expect: Expect::Any,
            what: "GET /healthz afterwards".into(),
        },
    )
    .await;
    assert_eq!(health.status, 200, "healthz afterwards: {health:?}");
    normal_login(&setup, &setup.tracker).await;
    // And the CDP API still serves every valid request.
    for endpoint in endpoints(&setup)
        .iter()
        .filter(|e| e.target.starts_with("/v2/") || e.target.starts_with("/api/v1/"))
    {
        let probe = setup.valid(endpoint).named("afterwards");
        let answer = send(&setup, probe.clone()).await;
        assert!(
            (200..300).contains(&answer.status) && verdict(&probe, &answer).is_none(),
            "{} afterwards: {answer:?}",
            probe.what
        );
    }

    assert!(
        failures.is_empty(),
        "{} of {total} hostile requests answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Property-based

/// 64 cases each: enough to cover the parsers' branches, fast enough for every `cargo test`.
fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Bytes a client may put in a header value: visible ASCII, space, tab and obs-text.
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![4 => 0x21u8..=0x7e, 1 => Just(b' '), 1 => Just(b'\t'), 1 => 0x80u8..=0xff],
        0..max,
    )
}

/// Authorization values: Basic of arbitrary bytes, Basic of arbitrary text, Bearer of
/// arbitrary text, or any header bytes.
fn authorization() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|raw| basic_bytes(&raw)),
        (".{0,40}", ".{0,40}").prop_map(|(u, p)| basic_bytes(format!("{u}:{p}").as_bytes())),
        header_bytes(200).prop_map(|b| [b"Basic ".as_slice(), &b].concat()),
        header_bytes(200).prop_map(|b| [b"Bearer ".as_slice(), &b].concat()),
        header_bytes(200),
    ]
}

/// Runs a generated probe against the server; a wrong answer fails the case.
fn check_case(
    runtime: &tokio::runtime::Runtime,
    setup: &Setup,
    probe: Probe,
) -> Result<(), TestCaseError> {
    let answer = runtime
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(60), exchange(&setup.authority, &probe)).await
        })
        .map_err(|_| TestCaseError::fail(format!("{}: no answer within 60 s", probe.what)))?
        .map_err(|e| TestCaseError::fail(format!("{}: {e}", probe.what)))?;
    match verdict(&probe, &answer) {
        Some(failure) => Err(TestCaseError::fail(failure)),
        None => Ok(()),
    }
}

/// Starts the shared setup on its own runtime.
fn runtime_and_setup() -> (tokio::runtime::Runtime, Setup) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let setup = runtime.block_on(setup());
    (runtime, setup)
}

fn after_all(runtime: &tokio::runtime::Runtime, setup: &Setup) {
    runtime.block_on(async {
        normal_login(setup, &setup.tracker).await;
    });
}

#[test]
fn generated_authorization_values_are_refused_with_json_errors() {
    let (runtime, setup) = runtime_and_setup();
    let credentialed: Vec<Endpoint> = endpoints(&setup)
        .into_iter()
        .filter(|e| e.cred == Cred::Basic || e.cred.is_token())
        .collect();
    let strategy = (authorization(), 0..credentialed.len());
    runner()
        .run(&strategy, |(value, index)| {
            let probe = setup
                .valid(&credentialed[index])
                .with_authorization(&value)
                .expecting(Expect::Error)
                .named(&format!(
                    "Authorization {:?}",
                    String::from_utf8_lossy(&value)
                ));
            check_case(&runtime, &setup, probe)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    after_all(&runtime, &setup);
}

/// A query component: arbitrary text percent-encoded, or URI-legal raw junk (bad escapes).
fn query_part() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => ".{0,20}".prop_map(|s| serde_urlencoded::to_string([("", s)]).unwrap()[1..].to_owned()),
        1 => prop::sample::select(vec![
            "scheme", "action", "a1user", "a1webtag", "login", "create", "extend", "%", "%g1",
            "%ff%fe", "%00", "%2e%2e", "%27%20OR%201%3D1%20--", "", "%C0%AE",
        ])
        .prop_map(str::to_owned),
        1 => "[A-Za-z0-9._~!$'()*+,;:@/?-]{0,20}",
    ]
}

#[test]
fn generated_query_strings_never_break_the_server() {
    let (runtime, setup) = runtime_and_setup();
    let endpoints = endpoints(&setup);
    let strategy = (
        0..endpoints.len(),
        prop::collection::vec((query_part(), query_part()), 0..6),
    );
    runner()
        .run(&strategy, |(index, pairs)| {
            let endpoint = &endpoints[index];
            let path = endpoint.target.split('?').next().unwrap();
            let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mut probe = setup.valid(endpoint);
            probe.target = format!("{path}?{}", query.join("&"));
            probe.what = format!("{} {}", endpoint.method, probe.target);
            check_case(&runtime, &setup, probe)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    after_all(&runtime, &setup);
}

/// Arbitrary JSON, biased to the fields the endpoints read.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,30}".prop_map(Value::from),
        prop::sample::select(vec!["basic", "segments", "acme", SQLI, "\u{0}", ""])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "resource",
                        "validity",
                        "token",
                        "tenantName",
                        "SourceCustomerNumber",
                        "Email",
                        "Type",
                        "EventTimeStamp",
                        "requestId",
                    ])
                    .prop_map(str::to_owned),
                    ".{0,10}",
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum GeneratedBody {
    Json(Value),
    Form(Vec<(String, String)>),
    Bytes(Vec<u8>),
}

fn body() -> impl Strategy<Value = GeneratedBody> {
    let form_key = prop_oneof![
        prop::sample::select(vec![
            "grant_type",
            "token",
            "scope",
            "client_id",
            "client_secret",
            "token_type_hint",
        ])
        .prop_map(str::to_owned),
        ".{0,10}",
    ];
    let form_value = prop_oneof![
        prop::sample::select(vec!["client_credentials", SQLI, "\u{0}", "", "basic"])
            .prop_map(str::to_owned),
        ".{0,30}",
    ];
    prop_oneof![
        2 => json_value().prop_map(GeneratedBody::Json),
        2 => prop::collection::vec((form_key, form_value), 0..6).prop_map(GeneratedBody::Form),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(GeneratedBody::Bytes),
    ]
}

#[test]
fn generated_bodies_never_break_the_server() {
    let (runtime, setup) = runtime_and_setup();
    let with_bodies: Vec<Endpoint> = endpoints(&setup)
        .into_iter()
        .filter(|e| e.body != BodyKind::Ignored)
        .collect();
    let strategy = (0..with_bodies.len(), body(), any::<bool>());
    runner()
        .run(&strategy, |(index, body, as_form)| {
            let endpoint = &with_bodies[index];
            let (content_type, bytes) = match &body {
                GeneratedBody::Json(value) => ("application/json", value.to_string().into_bytes()),
                GeneratedBody::Form(pairs) => (
                    "application/x-www-form-urlencoded",
                    serde_urlencoded::to_string(pairs).unwrap().into_bytes(),
                ),
                GeneratedBody::Bytes(bytes) => (
                    if as_form {
                        "application/x-www-form-urlencoded"
                    } else {
                        "application/json"
                    },
                    bytes.clone(),
                ),
            };
            let probe = setup
                .valid(endpoint)
                .with_body(content_type, bytes)
                .named(&format!("body {body:?}"));
            check_case(&runtime, &setup, probe)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    after_all(&runtime, &setup);
}

/// A value a pushed record's field may get: valid text, blanks, NUL, SQL injection, numbers,
/// null, objects, lists, good and bad timestamps.
fn record_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "H-1", "h@example.com", "emailOpen", "checkout", "SKU-1", EVENT_TIME,
            "2026-11-20T10:00:00.123456+02:00", "0000-01-01T00:00:00Z", "2026-13-40T99:99:99Z",
            "yesterday", "", "   ", "\u{0}", SQLI, "\u{feff}",
        ])
        .prop_map(Value::from),
        2 => ".{0,30}".prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => any::<bool>().prop_map(Value::from),
        1 => json_value(),
    ]
}

/// A record-like object: mostly the record keys (sometimes an unknown one), with
/// [`record_value`]s; sometimes valid.
fn record() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        8 => prop::sample::select(vec![
            "SourceCustomerNumber", "Email", "FirstName", "LastName", "Phone", "Attributes",
            "Type", "Subtype", "EventTimeStamp",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,10}",
    ];
    let valid = prop::sample::select(vec!["H-1", "H-2", "P-77"]).prop_map(|scn| {
        json!({"SourceCustomerNumber": scn, "Type": "productBrowsed", "EventTimeStamp": EVENT_TIME})
    });
    prop_oneof![
        1 => valid,
        3 => prop::collection::btree_map(key, record_value(), 0..7)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
    ]
}

/// A push body: random bytes, any JSON, an array of records, one record, or NDJSON.
fn push_body() -> impl Strategy<Value = GeneratedBody> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..400).prop_map(GeneratedBody::Bytes),
        1 => json_value().prop_map(GeneratedBody::Json),
        3 => prop::collection::vec(record(), 0..5).prop_map(|r| GeneratedBody::Json(Value::from(r))),
        1 => record().prop_map(GeneratedBody::Json),
        2 => (prop::collection::vec(record(), 0..5), prop::sample::select(vec!["\n", "\n\n", "\r\n"]))
            .prop_map(|(records, separator)| {
                let lines: Vec<String> = records.iter().map(Value::to_string).collect();
                GeneratedBody::Bytes(lines.join(separator).into_bytes())
            }),
    ]
}

/// The push body parser via HTTP (SPEC "Protected CDP API"): whatever the body, a DW Tracker
/// push or a WebTag POST answers `202 {"accepted":N}` or `400` with the JSON error shape —
/// never a 5xx, never another status — and bytes that are not JSON at all are a 400.
// SERVER BUG: on PostgreSQL this fails whenever a generated record carries U+0000 in a string
// field; minimal input found: `[{"SourceCustomerNumber":"\u0000"}]` → 503 server_error (see
// "NUL in SourceCustomerNumber" in `cdp_probes`). SQLite passes.
#[test]
fn generated_push_bodies_are_accepted_or_refused_with_json_errors() {
    let (runtime, setup) = runtime_and_setup();
    let pushes: Vec<Endpoint> = endpoints(&setup)
        .into_iter()
        .filter(|e| e.body == BodyKind::Records)
        .collect();
    let strategy = (0..pushes.len(), push_body(), any::<bool>());
    runner()
        .run(&strategy, |(index, body, ndjson_type)| {
            let endpoint = &pushes[index];
            let bytes = match &body {
                GeneratedBody::Json(value) => value.to_string().into_bytes(),
                GeneratedBody::Bytes(bytes) => bytes.clone(),
                GeneratedBody::Form(_) => unreachable!("no forms here"),
            };
            let not_json = std::str::from_utf8(&bytes).map_or(true, |text| {
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .any(|l| serde_json::from_str::<Value>(l).is_err())
                    && serde_json::from_str::<Value>(text).is_err()
            });
            let content_type = if ndjson_type {
                "application/x-ndjson"
            } else {
                "application/json"
            };
            let probe = setup
                .valid(endpoint)
                .with_body(content_type, bytes)
                .named(&format!("push body {body:?}"));
            let what = probe.what.clone();
            let answer = runtime
                .block_on(async {
                    tokio::time::timeout(
                        Duration::from_secs(60),
                        exchange(&setup.authority, &probe),
                    )
                    .await
                })
                .map_err(|_| TestCaseError::fail(format!("{what}: no answer within 60 s")))?
                .map_err(|e| TestCaseError::fail(format!("{what}: {e}")))?;
            if let Some(failure) = verdict(&probe, &answer) {
                return Err(TestCaseError::fail(failure));
            }
            prop_assert!(
                matches!(answer.status, 202 | 400),
                "neither 202 nor 400: {what} → {answer:?}"
            );
            if answer.status == 202 {
                let json: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
                prop_assert!(
                    json["accepted"].as_u64().is_some_and(|n| n >= 1),
                    "202 without {{\"accepted\":N}}: {what} → {answer:?}"
                );
            }
            if not_json {
                prop_assert_eq!(answer.status, 400, "not JSON, yet: {} → {:?}", what, answer);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    after_all(&runtime, &setup);
}

/// Found by proptest on PostgreSQL: a username with a NUL byte (`Basic ADo=` is `"\0:"`)
/// reached the database, which cannot take NUL in text, and the answer was a 503. It is an
/// unknown username like any other.
#[tokio::test]
async fn a_nul_byte_in_a_username_is_an_unknown_username() {
    let deployment = support::Deployment::new();
    deployment.tenant("acme", "uat");
    let server = deployment.serve();
    for header in ["Basic ADo=", "Basic dHJhY2tlcl8AeDpwYXNz"] {
        support::http::send(
            server
                .post("/authentication?action=login")
                .header("Authorization", header),
            header,
        )
        .await
        .expect_error(401, "invalid_client");
    }
    support::http::send(
        server
            .post("/oauth/token")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=a%00b&client_secret=x"),
        "client_id with NUL",
    )
    .await
    .expect_error(401, "invalid_client");
}

/// Every answer, success or error, tells browsers not to render, frame or sniff it.
#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let deployment = support::Deployment::new();
    let server = deployment.serve();
    for (path, status) in [("/healthz", 200), ("/no/such/route", 404), ("/token", 400)] {
        let response = server.get(path).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let headers = response.headers();
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ] {
            assert_eq!(headers[name], value, "{name} on {path}");
        }
    }
}
