//! A real nginx in front of an API, asking cdp-auth about every request through
//! `auth_request`, with the very configuration docs/forward-auth.md shows (its `nginx` block,
//! with this test's addresses put in): an allowed request reaches the API with the `X-Auth-*`
//! headers cdp-auth answered; wrong scope, another tenant and no rule are `403`; no token and a
//! revoked token are `401` with cdp-auth's `WWW-Authenticate` passed through; a secureApi token
//! gets through in its underscored headers; headers a client makes up change nothing.
//!
//! The API is a second `server` of the same nginx that answers with what it was told. nginx
//! runs as the current user in the foreground, everything in a temporary folder, on loopback
//! ports. Without /usr/sbin/nginx (or an `nginx` on the `PATH`) the test is skipped with a
//! notice, unless `CDP_AUTH_REQUIRE_NGINX=1` (CI sets it), which makes that a failure.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::json;

use support::http::{a1user_token, bearer, send};
use support::{Deployment, Instance, Server, free_port};

/// Where Debian's `nginx` package puts the binary.
const NGINX: &str = "/usr/sbin/nginx";

/// The page whose `nginx` block this test runs.
const DOCS: &str = include_str!("../docs/forward-auth.md");

/// The addresses the documented block uses, replaced with this test's.
const DOC_CDP_AUTH: &str = "127.0.0.1:8080";
const DOC_API: &str = "127.0.0.1:9000";
const DOC_LISTEN: &str = "listen 8000;";

/// The rules cdp-auth decides by.
const RULES: &str = r#"
[[forward_auth.rules]]
path = "/v2/{tenantId}/dw/tracker"
methods = ["POST"]
scopes = ["dw:tracker"]

[[forward_auth.rules]]
path = "/v2/{tenantId}/dw/a360/customers/**"
methods = ["GET"]
scopes = ["dw:a360"]

[[forward_auth.rules]]
path = "/api/v1/profile/b2b/basic"
methods = ["POST"]
scopes = ["profile:basic"]
"#;

/// The nginx binary, or `None` (the test says why and passes) where there is none, unless
/// `CDP_AUTH_REQUIRE_NGINX=1`.
fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("nginx"));
    if let Some(found) = std::iter::once(PathBuf::from(NGINX))
        .chain(on_path)
        .find(|candidate| candidate.is_file())
    {
        return Some(found);
    }
    if std::env::var("CDP_AUTH_REQUIRE_NGINX").as_deref() == Ok("1") {
        panic!("CDP_AUTH_REQUIRE_NGINX=1 but there is no nginx at {NGINX} or on the PATH");
    }
    eprintln!(
        "notice: skipping the nginx forward-auth test: install nginx (apt-get install nginx) to run it"
    );
    None
}

/// The one `nginx` block of docs/forward-auth.md.
fn documented_block() -> String {
    let mut blocks = DOCS.split("```nginx\n").skip(1);
    let block = blocks
        .next()
        .expect("docs/forward-auth.md has an nginx block");
    assert!(
        blocks.next().is_none(),
        "docs/forward-auth.md has more than one nginx block"
    );
    let (block, _) = block
        .split_once("\n```")
        .expect("the nginx block is closed");
    block.to_owned()
}

/// A running nginx; killed when dropped.
struct Nginx {
    child: Child,
    /// `http://127.0.0.1:PORT`, the gateway.
    base: String,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Starts nginx with the documented block in front of cdp-auth at `cdp_auth`
    /// (`127.0.0.1:PORT`), and a stand-in API that answers with the headers it was given.
    fn start(binary: &Path, cdp_auth: &str) -> Nginx {
        let dir = tempfile::tempdir().expect("temporary folder");
        let (gateway, api) = (free_port(), free_port());
        let documented = documented_block();
        for placeholder in [DOC_CDP_AUTH, DOC_API, DOC_LISTEN] {
            assert_eq!(
                documented.matches(placeholder).count(),
                1,
                "the documented nginx block should name {placeholder:?} once"
            );
        }
        let block = documented
            .replace(DOC_CDP_AUTH, cdp_auth)
            .replace(DOC_API, &format!("127.0.0.1:{api}"))
            .replace(DOC_LISTEN, &format!("listen 127.0.0.1:{gateway};"));
        let path = dir.path().display().to_string();
        let config = format!(
            r#"daemon off;
master_process off;
worker_processes 1;
pid {path}/nginx.pid;
error_log {path}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {path}/client_body;
    proxy_temp_path {path}/proxy;
    fastcgi_temp_path {path}/fastcgi;
    uwsgi_temp_path {path}/uwsgi;
    scgi_temp_path {path}/scgi;

    # The API behind the gateway: it answers with what it was told.
    server {{
        listen 127.0.0.1:{api};
        location / {{
            default_type text/plain;
            return 200 "upstream saw tenant=$http_x_auth_tenant_id client=$http_x_auth_client_id scope=$http_x_auth_scope kind=$http_x_auth_token_kind expires=$http_x_auth_expires_at method=$request_method uri=$request_uri authorization=$http_authorization";
        }}
    }}

{block}
}}
"#
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config).expect("write nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx {
            child,
            base: format!("http://127.0.0.1:{gateway}"),
            dir,
        };
        nginx.wait_until_listening(&[gateway, api]);
        nginx
    }

    fn wait_until_listening(&mut self, ports: &[u16]) {
        let started = Instant::now();
        loop {
            if ports
                .iter()
                .all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok())
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                let log =
                    std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
                panic!("nginx exited ({status}): {stderr}{log}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// cdp-auth with the rules, tenants `acme` and `other` (OAuth off) with a DW Tracker and a 360
/// Profiles instance in `acme` and a DW Tracker in `other`, and nginx in front of it.
struct Setup {
    _config: tempfile::TempDir,
    _deployment: Deployment,
    server: Server,
    nginx: Nginx,
    client: reqwest::Client,
    acme: String,
    acme_hash: String,
    other: String,
    tracker: Instance,
    a360: Instance,
}

fn setup(binary: &Path) -> Setup {
    let config = tempfile::tempdir().expect("temporary folder");
    let file = config.path().join("cdp-auth.toml");
    std::fs::write(&file, RULES).expect("write the rules");
    let file = file.display().to_string();
    let deployment = Deployment::with_env(&[("CDP_AUTH_CONFIG", &file)]);
    let acme = deployment.tenant_without_oauth("acme", "uat");
    let other = deployment.tenant_without_oauth("other", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let a360 = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    let nginx = Nginx::start(binary, server.base.trim_start_matches("http://"));
    Setup {
        _config: config,
        _deployment: deployment,
        client: server.client.clone(),
        server,
        nginx,
        acme: acme["id"].as_str().expect("id").to_owned(),
        acme_hash: acme["tenant_hash"]
            .as_str()
            .expect("tenant_hash")
            .to_owned(),
        other: other["id"].as_str().expect("id").to_owned(),
        tracker,
        a360,
    }
}

/// What came back through nginx.
#[derive(Debug)]
struct Through {
    status: u16,
    challenge: Option<String>,
    body: String,
}

impl Setup {
    /// Sends `method path` to nginx with these headers.
    async fn through(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Through {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.nginx.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("nginx answers");
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.expect("a body");
        Through {
            status,
            challenge,
            body,
        }
    }

    async fn push(&self, tenant: &str, token: Option<&str>) -> Through {
        let authorization = token.map(bearer);
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|value| (AUTHORIZATION.as_str(), value.as_str()))
            .collect();
        self.through(
            reqwest::Method::POST,
            &format!("/v2/{tenant}/dw/tracker?scheme=a1user"),
            &headers,
        )
        .await
    }
}

#[tokio::test]
async fn nginx_auth_request_lets_through_only_what_the_rules_allow() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let s = setup(&binary);
    let tracker = a1user_token(&s.server, &s.tracker).await;
    let a360 = a1user_token(&s.server, &s.a360).await;

    // Allowed: the API sees who the token is.
    let allowed = s.push(&s.acme, Some(&tracker)).await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    for part in [
        format!("upstream saw tenant={} ", s.acme),
        format!("client={} ", s.tracker.username),
        "scope=dw:tracker ".to_owned(),
        "kind=a1user ".to_owned(),
        "method=POST ".to_owned(),
        format!("uri=/v2/{}/dw/tracker?scheme=a1user ", s.acme),
    ] {
        assert!(allowed.body.contains(&part), "{part:?} not in {allowed:?}");
    }
    let expires: i64 = allowed
        .body
        .split("expires=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no expiry in {allowed:?}"));
    assert!(expires > 0, "{allowed:?}");

    // Wrong scope: a 360 Profiles token may not push.
    let wrong_scope = s.push(&s.acme, Some(&a360)).await;
    assert_eq!(wrong_scope.status, 403, "{wrong_scope:?}");
    assert!(
        !wrong_scope.body.contains("upstream saw"),
        "{wrong_scope:?}"
    );
    // Another tenant.
    let other_tenant = s.push(&s.other, Some(&tracker)).await;
    assert_eq!(other_tenant.status, 403, "{other_tenant:?}");
    // No rule: nothing allows DELETE, nor any other path.
    let authorization = bearer(&tracker);
    for (method, path) in [
        (
            reqwest::Method::DELETE,
            format!("/v2/{}/dw/tracker", s.acme),
        ),
        (reqwest::Method::GET, "/admin/api/tenants".to_owned()),
    ] {
        let no_rule = s
            .through(method, &path, &[(AUTHORIZATION.as_str(), &authorization)])
            .await;
        assert_eq!(no_rule.status, 403, "{path}: {no_rule:?}");
    }
    // The a360 rule takes its own token through.
    let pull = s
        .through(
            reqwest::Method::GET,
            &format!("/v2/{}/dw/a360/customers?limit=5", s.acme),
            &[(AUTHORIZATION.as_str(), &bearer(&a360))],
        )
        .await;
    assert!(
        pull.status == 200 && pull.body.contains("scope=dw:a360 "),
        "{pull:?}"
    );

    // No token: 401 with cdp-auth's challenge.
    let no_token = s.push(&s.acme, None).await;
    assert_eq!(no_token.status, 401, "{no_token:?}");
    assert_eq!(
        no_token.challenge.as_deref(),
        Some("Bearer realm=\"cdp-auth\""),
        "{no_token:?}"
    );

    // Revoked: refused at the very next request.
    let revoked = send(
        s.server
            .delete("/token?scheme=a1user")
            .header(AUTHORIZATION, bearer(&tracker)),
        "revoke",
    )
    .await;
    assert_eq!(revoked.ok()["revoked"], 1, "{revoked:?}");
    let after = s.push(&s.acme, Some(&tracker)).await;
    assert_eq!(after.status, 401, "{after:?}");
    assert!(
        after
            .challenge
            .as_deref()
            .is_some_and(|c| c.contains("error=\"invalid_token\"")),
        "{after:?}"
    );
}

#[tokio::test]
async fn through_nginx_secure_api_headers_pass_and_made_up_headers_change_nothing() {
    let Some(binary) = nginx_binary() else {
        return;
    };
    let s = setup(&binary);

    // A secureApi token in its own headers, underscores and all.
    let created = send(
        s.server
            .post("/secureApi/token/profile/create")
            .header("tenant_hash", &s.acme_hash)
            .header(CONTENT_TYPE, "application/json")
            .body(json!({"resource": ["basic"]}).to_string()),
        "secureApi create",
    )
    .await;
    let token = created.ok()["token"].as_str().expect("token").to_owned();
    let profile = s
        .through(
            reqwest::Method::POST,
            "/api/v1/profile/b2b/basic",
            &[("access_token", &token), ("tenant_hash", &s.acme_hash)],
        )
        .await;
    assert_eq!(profile.status, 200, "{profile:?}");
    assert!(
        profile.body.contains(&format!("client={} ", s.acme_hash))
            && profile.body.contains("scope=profile:basic ")
            && profile.body.contains("kind=secureapi "),
        "{profile:?}"
    );

    // A client's own X-Auth-* headers are replaced by cdp-auth's, and its own X-Original-URI
    // does not change which request is decided.
    let tracker = a1user_token(&s.server, &s.tracker).await;
    let authorization = bearer(&tracker);
    let spoofed = s
        .through(
            reqwest::Method::POST,
            &format!("/v2/{}/dw/tracker?scheme=a1user", s.acme),
            &[
                (AUTHORIZATION.as_str(), &authorization),
                ("X-Auth-Tenant-Id", "999"),
                ("X-Auth-Scope", "everything"),
            ],
        )
        .await;
    assert_eq!(spoofed.status, 200, "{spoofed:?}");
    assert!(
        spoofed.body.contains(&format!("tenant={} ", s.acme))
            && spoofed.body.contains("scope=dw:tracker "),
        "{spoofed:?}"
    );
    let disguised = s
        .through(
            reqwest::Method::GET,
            "/admin/api/tenants",
            &[
                (AUTHORIZATION.as_str(), &authorization),
                ("X-Original-Method", "POST"),
                (
                    "X-Original-URI",
                    &format!("/v2/{}/dw/tracker?scheme=a1user", s.acme),
                ),
            ],
        )
        .await;
    assert_eq!(disguised.status, 403, "{disguised:?}");
    // Encoded dot segments never reach the API: cdp-auth refuses to decide on them. Sent raw,
    // since a client library would resolve them first.
    let dotted = raw(
        &s.nginx.base,
        &format!(
            "GET /v2/{}/dw/a360/customers/%2e%2e/%2e%2e/tracker HTTP/1.1\r\nHost: x\r\n\
             Authorization: {authorization}\r\nConnection: close\r\n\r\n",
            s.acme
        ),
    );
    assert!(!dotted.starts_with("HTTP/1.1 200"), "{dotted}");
    assert!(!dotted.contains("upstream saw"), "{dotted}");
}

/// Sends raw bytes to `base` and reads the whole answer (the request closes the connection).
fn raw(base: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}
