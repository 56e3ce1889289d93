//! Hostile input against the real binary: every endpoint gets malformed and non-UTF-8 Basic
//! credentials, empty and huge Bearer tokens, SQL-injection strings, duplicate and NUL-laden
//! query parameters, truncated JSON, random bytes, a 3 MB body, path traversal and wrong
//! methods. SPEC ("Errors"): no input ever yields a 500; every error is JSON
//! `{"error","error_description"}`; every 401 carries `WWW-Authenticate`. Afterwards the server
//! must still answer `/healthz` and a normal login. Property-based tests (proptest) then drive
//! the credential, query and body parsers with generated input.
//!
//! Requests go over a raw TCP connection rather than reqwest, so that the request target
//! reaches the server byte for byte (reqwest's URL parser would resolve `/token/../token` and
//! `%2e%2e` before sending) and any header bytes a client may legally send can be sent.
//!
//! The deployment runs with `CDP_AUTH_MAX_FAILED_ATTEMPTS=100000`, so the failed-attempt
//! throttle never fires and `429` is accepted nowhere: the suite measures input handling.

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
const MAX_FAILED: (&str, &str) = ("CDP_AUTH_MAX_FAILED_ATTEMPTS", "100000");

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

/// What is wrong with an answer to a probe, if anything (SPEC "Errors").
fn verdict(probe: &Probe, answer: &Answer) -> Option<String> {
    let json: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let content_type = answer.header("content-type").unwrap_or("");
    let is_json = content_type.starts_with("application/json");
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
            Expect::Error | Expect::Hyper(_) => {
                Some("accepted (2xx) although the input is invalid")
            }
            Expect::Inactive if json != json!({"active": false}) => {
                Some("introspection of a garbage token is not {\"active\":false}")
            }
            _ if !is_json || !json.is_object() => Some("2xx without a JSON object body"),
            _ => None,
        }
    } else if !(400..500).contains(&answer.status) {
        Some("neither 2xx nor 4xx")
    } else if !is_json {
        Some("error without Content-Type: application/json")
    } else if !["error", "error_description"]
        .iter()
        .all(|f| json[f].as_str().is_some_and(|s| !s.is_empty()))
    {
        Some("error without `error` and `error_description`")
    } else if answer.status == 401 && answer.header("www-authenticate").is_none() {
        Some("401 without WWW-Authenticate")
    } else {
        None
    };
    problem.map(|p| format!("{p}: {} → {answer:?}", probe.what))
}

// ---------------------------------------------------------------------------------------------
// The deployment and the endpoints

/// A served deployment with one OAuth tenant, an instance of each type, an a1user token and a
/// secureApi token.
struct Setup {
    _deployment: Deployment,
    /// Kept alive (killed when dropped).
    _server: Server,
    authority: String,
    /// The dw-tracker instance whose a1user token the suite holds.
    tracker: Instance,
    /// The profiles-360 instance: the DELETE endpoints revoke its tokens, not the tracker's.
    profiles: Instance,
    /// The webtag instance.
    webtag: Instance,
    tenant_hash: String,
    oauth_key_secret: String,
    a1user_token: String,
    profiles_token: String,
    secure_token: String,
}

async fn setup() -> Setup {
    let deployment = Deployment::with_env(&[MAX_FAILED]);
    let tenant = deployment.tenant("acme", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let profiles = deployment.instance("acme", "reader", "profiles-360");
    let webtag = deployment.instance("acme", "site", "webtag");
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
        _deployment: deployment,
        _server: server,
        authority,
        tracker,
        profiles,
        webtag,
        a1user_token: String::new(),
        profiles_token: String::new(),
        secure_token: String::new(),
    };
    setup.a1user_token = normal_login(&setup, &setup.tracker).await;
    setup.profiles_token = normal_login(&setup, &setup.profiles).await;
    let created = send(
        &setup,
        setup.secure(
            "create",
            br#"{"resource":["basic"],"validity":60}"#.to_vec(),
        ),
    )
    .await;
    assert_eq!(created.status, 200, "secureApi create: {created:?}");
    let created: Value = serde_json::from_slice(&created.body).expect("JSON");
    setup.secure_token = created["token"].as_str().expect("token").to_owned();
    setup
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
}

/// One endpoint and its valid request.
struct Endpoint {
    method: &'static str,
    target: &'static str,
    cred: Cred,
    body: BodyKind,
    /// Uses the profiles-360 instance (DELETE revokes its tokens).
    profiles: bool,
}

const fn ep(method: &'static str, target: &'static str, cred: Cred, body: BodyKind) -> Endpoint {
    Endpoint {
        method,
        target,
        cred,
        body,
        profiles: false,
    }
}

fn endpoints() -> Vec<Endpoint> {
    use BodyKind::*;
    use Cred::*;
    vec![
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
    /// A secureApi request with the tenant's headers.
    fn secure(&self, action: &str, body: Vec<u8>) -> Probe {
        Probe {
            method: "POST".into(),
            target: format!("/secureApi/token/profile/{action}"),
            headers: self.tenant_headers(),
            body,
            expect: Expect::Any,
            what: format!("POST /secureApi/token/profile/{action}"),
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
        };
        let body = match (endpoint.body, endpoint.target) {
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
            _ => {}
        }
        Probe {
            method: endpoint.method.into(),
            target: endpoint.target.into(),
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

    /// Replaces the credentials (Authorization and tenant headers) by this Authorization value.
    fn with_authorization(mut self, value: &[u8]) -> Self {
        self.headers.retain(|(n, _)| {
            !["authorization", "tenant_hash", "oauth_key_secret"]
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
    let needs_cred = endpoint.cred != Cred::Open;
    // A probe that breaks the credentials must be refused unless the endpoint is public.
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
    if endpoint.cred == Cred::Bearer && endpoint.method != "DELETE" {
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
        .unwrap_or((endpoint.target, ""));
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
        probes.push(
            sqli.named("SQL injection in query")
                .expecting(Expect::Error),
        );
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
            .expecting(body_expect),
    );

    // Endpoint-specific NUL and SQL injection in bodies and headers.
    match (endpoint.body, endpoint.target) {
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
    for endpoint in endpoints() {
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
    let credentialed: Vec<Endpoint> = endpoints()
        .into_iter()
        .filter(|e| matches!(e.cred, Cred::Basic | Cred::Bearer))
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
    let endpoints = endpoints();
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
                    prop::sample::select(vec!["resource", "validity", "token", "tenantName"])
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
    let with_bodies: Vec<Endpoint> = endpoints()
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
