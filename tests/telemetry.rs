//! SPEC, "Operating it": what an operator watches, through the real server.
//!
//! - `/metrics` counts what happened (tokens issued, credentials refused, cache hits and
//!   misses, requests by route *template*, never a raw path), can be turned off, and can move
//!   to an address of its own.
//! - Every answer carries `X-Request-Id` (a gateway's own id is kept); with
//!   `log_format = "json"` every line the server writes, on stdout and stderr, is one JSON
//!   object, and the lines logged while serving a request carry its request id; the access
//!   line can be turned off.
//! - With `otlp_endpoint` set, spans reach an OTLP/HTTP receiver started here, decoded with
//!   the official OpenTelemetry protocol definitions (`opentelemetry-proto`): a server span per
//!   request continuing the caller's W3C `traceparent`, with route, status and tenant, a client
//!   span per database call beneath it, and no secret anywhere in what was exported.
//!
//! The real Prometheus scraping the server is in `tests/prometheus.rs`.

#[allow(clippy::zombie_processes)]
mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Attribute;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use support::http::{a1user_token, bearer, login, login_as, send};
use support::{Deployment, Server, free_port};

/// The series of one scrape: `name{labels}` → value.
type Scrape = BTreeMap<String, f64>;

/// Scrapes `/metrics` at `base` and parses the text format.
async fn scrape_at(client: &reqwest::Client, base: &str) -> Scrape {
    let response = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("text");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("series value");
            (series.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

async fn scrape(server: &Server) -> Scrape {
    scrape_at(&server.client, &server.base).await
}

/// The value of one series, 0 when absent.
fn value(scrape: &Scrape, series: &str) -> f64 {
    scrape.get(series).copied().unwrap_or(0.0)
}

/// How much each series grew between two scrapes.
fn grew(before: &Scrape, after: &Scrape, series: &str) -> f64 {
    value(after, series) - value(before, series)
}

#[tokio::test]
async fn metrics_count_tokens_failures_cache_and_requests_by_route_template() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "cs");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    let before = scrape(&server).await;
    assert_eq!(
        value(
            &before,
            &format!(
                "cdp_auth_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    for fixed in [
        "cdp_auth_tokens_issued_total{dialect=\"oauth\"}",
        "cdp_auth_tokens_revoked_total{dialect=\"admin\"}",
        "cdp_auth_credential_failures_total{kind=\"tenant_secret\"}",
        "cdp_auth_webhook_deliveries_total{result=\"failed\"}",
        "cdp_auth_throttled_total",
        "cdp_auth_slow_hash_rejected_total",
    ] {
        assert!(before.contains_key(fixed), "{fixed} missing: {before:?}");
    }
    assert!(value(&before, "cdp_auth_slow_hash_queue_capacity") >= 2.0);
    assert!(
        before
            .keys()
            .any(|series| series.starts_with("cdp_auth_db_pool_max_connections{pool=")),
        "{before:?}"
    );

    let token = a1user_token(&server, &reader).await;
    login_as(&server, &reader.username, "wrong password")
        .await
        .expect_error(401, "invalid_client");
    let path = format!("/v2/{}/dw/a360/customers/nobody", reader.tenant_id);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let reply = send(
            server.get(&path).header(AUTHORIZATION, bearer(&token)),
            "pull",
        )
        .await;
        statuses.push(reply.status);
    }
    send(
        server
            .get(&path)
            .header(AUTHORIZATION, bearer("not-a-token")),
        "bad token",
    )
    .await
    .expect_error(401, "invalid_token");
    send(server.get("/no/such/route/42"), "unknown route")
        .await
        .expect_error(404, "not_found");

    let after = scrape(&server).await;
    let grew = |series: &str| grew(&before, &after, series);
    assert_eq!(
        grew("cdp_auth_tokens_issued_total{dialect=\"a1user\"}"),
        1.0
    );
    assert_eq!(
        grew("cdp_auth_credential_failures_total{kind=\"instance_password\"}"),
        1.0
    );
    assert_eq!(
        grew("cdp_auth_credential_failures_total{kind=\"token\"}"),
        1.0
    );
    // The first check reads the database, the next ones the cache; the bad token misses.
    assert_eq!(
        grew("cdp_auth_token_cache_requests_total{result=\"hit\"}"),
        2.0
    );
    assert_eq!(
        grew("cdp_auth_token_cache_requests_total{result=\"miss\"}"),
        2.0
    );
    assert_eq!(
        grew(
            "cdp_auth_http_requests_total{method=\"POST\",route=\"/authentication\",status=\"401\"}"
        ),
        1.0
    );
    let template = "/v2/{tenantId}/dw/a360/customers/{gcrId}";
    let pulls: f64 = after
        .iter()
        .filter(|(series, _)| {
            series.starts_with("cdp_auth_http_requests_total{")
                && series.contains(&format!("route=\"{template}\""))
        })
        .map(|(series, count)| count - value(&before, series))
        .sum();
    assert_eq!(pulls, 4.0, "three pulls and the bad token: {statuses:?}");
    assert_eq!(
        grew(&format!(
            "cdp_auth_http_request_duration_seconds_count{{route=\"{template}\"}}"
        )),
        4.0
    );
    assert_eq!(
        grew("cdp_auth_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"),
        1.0
    );
    // Labels are templates: neither the tenant id nor a raw path is in any series.
    for series in after.keys() {
        assert!(
            !series.contains(&format!("/{}/", reader.tenant_id))
                && !series.contains("nobody")
                && !series.contains("/no/such"),
            "a raw path in {series}"
        );
    }
}

#[tokio::test]
async fn metrics_can_be_turned_off_or_served_on_their_own_address() {
    let deployment = Deployment::new();
    let off = deployment.serve_with_env(&[("CDP_AUTH_METRICS", "false")]);
    send(off.get("/metrics"), "metrics off")
        .await
        .expect_error(404, "not_found");
    drop(off);

    let port = free_port();
    let apart =
        deployment.serve_with_env(&[("CDP_AUTH_METRICS_LISTEN", &format!("127.0.0.1:{port}"))]);
    send(apart.get("/metrics"), "metrics on the main listener")
        .await
        .expect_error(404, "not_found");
    send(apart.get("/healthz"), "health").await.ok();
    let own = format!("http://127.0.0.1:{port}");
    let scraped = scrape_at(&apart.client, &own).await;
    assert_eq!(
        value(
            &scraped,
            "cdp_auth_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}"
        ),
        1.0,
        "the main listener's requests are counted: {scraped:?}"
    );
    let elsewhere = apart
        .client
        .get(format!("{own}/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        elsewhere.status(),
        404,
        "only /metrics on the metrics address"
    );
}

/// Stops the server with SIGTERM and returns its stderr.
fn stop(server: Server) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    server.wait_with_stderr()
}

#[tokio::test]
async fn answers_carry_request_ids_and_json_logs_are_one_object_per_line() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "cs");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve_with_env(&[("CDP_AUTH_LOG_FORMAT", "json")]);

    let kept = send(
        server
            .get("/healthz")
            .header("x-request-id", "gateway-id-41"),
        "health with an id",
    )
    .await;
    assert_eq!(
        kept.header("x-request-id".parse().unwrap()),
        "gateway-id-41"
    );
    let mut made = Vec::new();
    for _ in 0..2 {
        let reply = send(server.get("/healthz"), "health").await;
        made.push(reply.header("x-request-id".parse().unwrap()).to_owned());
    }
    assert_ne!(made[0], made[1]);
    assert!(made.iter().all(|id| id.len() == 36), "{made:?}");
    let error = send(
        server
            .post("/authentication?action=login")
            .basic_auth(&reader.username, Some("wrong"))
            .header(CONTENT_TYPE, "application/json")
            .header("x-request-id", "bad-login-7"),
        "wrong password",
    )
    .await;
    error.expect_error(401, "invalid_client");
    assert_eq!(error.header("x-request-id".parse().unwrap()), "bad-login-7");

    let stderr = stop(server);
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let parsed: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(parsed.is_object(), "{line}");
            assert!(
                parsed["timestamp"].is_string() && parsed["level"].is_string(),
                "{line}"
            );
            parsed
        })
        .collect();
    assert!(
        lines.iter().any(|l| l["message"] == "cdp-auth serving"),
        "the start-up lines are JSON too: {stderr}"
    );
    let access = lines
        .iter()
        .find(|l| l["target"] == "cdp_auth::access" && l["request_id"] == "gateway-id-41")
        .unwrap_or_else(|| panic!("no access line for gateway-id-41: {stderr}"));
    assert_eq!(access["route"], "/healthz");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["status"], 200);
    assert!(access["duration_us"].as_u64().is_some(), "{access}");
    let failure = lines
        .iter()
        .find(|l| l["message"] == "failed credential attempt")
        .unwrap_or_else(|| panic!("no failed-attempt line: {stderr}"));
    assert_eq!(
        failure["request_id"], "bad-login-7",
        "a line logged while serving carries the request id: {failure}"
    );
    for id in &made {
        assert!(stderr.contains(id.as_str()), "{id} logged");
    }
}

#[test]
fn with_json_logs_the_listening_line_on_stdout_is_json_too() {
    use std::io::BufRead;
    let deployment = Deployment::new();
    let mut child = deployment
        .serve_command()
        .env("CDP_AUTH_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    let _ = child.kill();
    let _ = child.wait();
    let parsed: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(parsed["level"], "INFO", "{line}");
    assert!(
        parsed["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("listening on http://127.0.0.1:")),
        "{line}"
    );
}

#[tokio::test]
async fn the_access_log_can_be_turned_off() {
    let deployment = Deployment::new();
    let server = deployment.serve_with_env(&[("CDP_AUTH_ACCESS_LOG", "false")]);
    send(server.get("/healthz"), "health").await.ok();
    let stderr = stop(server);
    assert!(stderr.contains("cdp-auth serving"), "{stderr}");
    assert!(!stderr.contains("cdp_auth::access"), "{stderr}");
}

#[tokio::test]
async fn a_bad_log_format_or_otlp_endpoint_stops_the_start_with_its_name() {
    let deployment = Deployment::new();
    for (name, value, says) in [
        ("CDP_AUTH_LOG_FORMAT", "xml", "log_format"),
        (
            "CDP_AUTH_OTLP_ENDPOINT",
            "https://collector:4318",
            "otlp_endpoint",
        ),
        ("CDP_AUTH_OTLP_ENDPOINT", "collector:4318", "otlp_endpoint"),
    ] {
        let output = deployment
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .env(name, value)
            .output()
            .expect("serve");
        assert_eq!(output.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{name}={value}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Traces

/// An OTLP/HTTP receiver: keeps every `POST /v1/traces` body, answers 200 with an empty
/// `ExportTraceServiceResponse`.
struct Receiver {
    base: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Receiver {
    async fn start() -> Self {
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let kept = bodies.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    kept.lock().unwrap().push(body.to_vec());
                    ([(CONTENT_TYPE, "application/x-protobuf")], Vec::<u8>::new())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { base, bodies }
    }

    /// Every span received so far, decoded.
    fn spans(&self) -> Vec<Span> {
        let bodies = self.bodies.lock().unwrap();
        let mut spans = Vec::new();
        for body in bodies.iter() {
            let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("OTLP");
            for resource in request.resource_spans {
                let service = resource
                    .resource
                    .as_ref()
                    .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
                    .and_then(|a| a.value.as_ref())
                    .and_then(|v| v.value.clone());
                assert_eq!(service, Some(Attribute::StringValue("cdp-auth".into())));
                for scope in resource.scope_spans {
                    spans.extend(scope.spans);
                }
            }
        }
        spans
    }

    /// Every byte received, for the secret search.
    fn raw(&self) -> Vec<u8> {
        self.bodies.lock().unwrap().concat()
    }
}

/// A span's attribute as text (numbers too).
fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span
        .attributes
        .iter()
        .find(|a| a.key == key)?
        .value
        .as_ref()?;
    match value.value.as_ref()? {
        Attribute::StringValue(text) => Some(text.clone()),
        Attribute::IntValue(number) => Some(number.to_string()),
        Attribute::BoolValue(flag) => Some(flag.to_string()),
        Attribute::DoubleValue(number) => Some(number.to_string()),
        _ => None,
    }
}

// Multi-threaded: the receiver must answer while the test waits for the server to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_continuing_the_callers_trace() {
    let receiver = Receiver::start().await;
    let deployment = Deployment::new();
    deployment.tenant("acme", "cs");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve_with_env(&[("CDP_AUTH_OTLP_ENDPOINT", &receiver.base)]);

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let traced = send(
        server
            .post("/authentication?action=login")
            .basic_auth(&reader.username, Some(&reader.password))
            .header(CONTENT_TYPE, "application/json")
            .header("traceparent", format!("00-{trace_id}-{parent_id}-01")),
        "login with a traceparent",
    )
    .await;
    let token = traced.access_token();
    let path = format!("/v2/{}/dw/a360/customers/nobody", reader.tenant_id);
    send(
        server.get(&path).header(AUTHORIZATION, bearer(&token)),
        "pull without a traceparent",
    )
    .await;
    login(&server, &reader).await;
    // SIGTERM flushes the spans still batched.
    let stderr = stop(server);

    let spans = receiver.spans();
    // Every request has its span, each request's own.
    let logins = spans
        .iter()
        .filter(|s| s.name == "POST /authentication")
        .count();
    assert_eq!(
        logins,
        2,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let login_span = spans
        .iter()
        .find(|s| s.name == "POST /authentication" && hex(&s.trace_id) == trace_id)
        .unwrap_or_else(|| {
            panic!(
                "no server span continuing the trace among {:?}; server said {stderr}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(hex(&login_span.parent_span_id), parent_id);
    assert_eq!(login_span.kind, SpanKind::Server as i32);
    assert_eq!(
        attribute(login_span, "http.route").as_deref(),
        Some("/authentication")
    );
    assert_eq!(
        attribute(login_span, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute(login_span, "tenant_id").as_deref(),
        Some(reader.tenant_id.as_str())
    );
    assert!(attribute(login_span, "request_id").is_some());
    let database = spans
        .iter()
        .filter(|s| s.trace_id == login_span.trace_id && s.kind == SpanKind::Client as i32)
        .collect::<Vec<_>>();
    assert!(
        !database.is_empty(),
        "no database span in the login's trace"
    );
    let system = if deployment.is_postgres() {
        "postgresql"
    } else {
        "sqlite"
    };
    for span in &database {
        assert_eq!(span.parent_span_id, login_span.span_id, "{}", span.name);
        assert_eq!(attribute(span, "db.system.name").as_deref(), Some(system));
        assert!(
            ["query", "transaction"].contains(&span.name.as_str()),
            "{}",
            span.name
        );
    }

    let template = "/v2/{tenantId}/dw/a360/customers/{gcrId}";
    let pull = spans
        .iter()
        .find(|s| s.name == format!("GET {template}"))
        .unwrap_or_else(|| {
            panic!(
                "no pull span among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_ne!(
        hex(&pull.trace_id),
        trace_id,
        "a request without traceparent starts a trace"
    );
    assert!(pull.parent_span_id.is_empty());
    assert_eq!(attribute(pull, "http.route").as_deref(), Some(template));

    let raw = receiver.raw();
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", reader.username, reader.password));
    for secret in [reader.password.as_str(), token.as_str(), basic.as_str()] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a secret was exported"
        );
    }
    assert!(
        !raw.windows(6).any(|w| w == b"nobody"),
        "raw paths stay out of the spans"
    );
}
