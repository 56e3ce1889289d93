//! SPEC, "Errors": nothing secret (password, token, oauth_key_secret) ever appears in a log
//! line or an error. This suite serves a deployment that logs at `debug` (and `sqlx` at
//! `trace`), walks every dialect through the real HTTP API and the real CLI, collects every
//! secret the run produced or sent, stops the server with SIGTERM and then searches all the
//! server's stdout and stderr, and every CLI command's stderr, for each secret (and for the
//! base64 of `username:password`, as an `Authorization: Basic` header would carry it).
//!
//! The flow covers the protected CDP API too: a DW Tracker push (with an `Idempotency-Key`),
//! 360 Profiles pulls, a WebTag key and browser events carrying it in the query string (the
//! `accessKey` is a secret: the access line logs the route template only), secureApi profile
//! reads and GDPR requests. The personal data pushed (email, names, phone) is searched for as well: the
//! server logs none of it, not even from a pull's `fq=email:…` query or a GDPR request's
//! `reqParamValue`.
//!
//! The server is spawned here rather than through `Deployment::serve`, so that its stdout is
//! read to the end, not only up to the `listening on URL` line.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

#[allow(clippy::zombie_processes)]
mod support;

use support::http::{Reply, basic_pair, bearer, send, send_json_or_hal};
use support::{Deployment, json_of};

/// The log filter: everything of ours at `debug`, the database driver at `trace`.
const LOG_FILTER: &str = "debug,sqlx=trace";

/// The WebTag instance's allowed origin.
const SHOP: &str = "https://shop.example";
/// The personal data pushed to the CDP: never logged either.
const PERSON_EMAIL: &str = "quiet.customer@example.com";
const PERSON_FIRST_NAME: &str = "Quillonna";
const PERSON_LAST_NAME: &str = "Hushworth";
const PERSON_PHONE: &str = "+15550100199";

/// A secret the run produced or sent, and what it is, for messages.
struct Secret {
    what: String,
    value: String,
}

/// Everything the run must never see logged, and everything it logged.
#[derive(Default)]
struct Run {
    secrets: Vec<Secret>,
    /// (what produced it, text): CLI stderr, server stdout, server stderr.
    outputs: Vec<(String, String)>,
}

impl Run {
    fn secret(&mut self, what: impl Into<String>, value: &str) {
        assert!(!value.is_empty(), "empty secret");
        self.secrets.push(Secret {
            what: what.into(),
            value: value.to_owned(),
        });
    }

    /// A username/password pair: the password, and the base64 an `Authorization: Basic`
    /// header carries.
    fn credentials(&mut self, what: &str, username: &str, password: &str) {
        self.secret(format!("{what} password"), password);
        let header = basic_pair(username, password);
        let encoded = header.strip_prefix("Basic ").expect("a Basic value");
        self.secret(format!("base64 of {what} username:password"), encoded);
    }

    /// Runs a CLI command that must succeed and print one JSON value; keeps its stderr.
    fn cli_json(&mut self, deployment: &Deployment, args: &[&str]) -> Value {
        let output = deployment.cli(args);
        self.outputs.push((
            format!("stderr of cdp-auth {}", args.join(" ")),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
        json_of(&output, &format!("cdp-auth {args:?}"))
    }

    /// Every line of every output that holds any secret, as messages.
    fn leaks(&self) -> Vec<String> {
        let mut leaks = Vec::new();
        for (source, text) in &self.outputs {
            for (number, line) in text.lines().enumerate() {
                for secret in &self.secrets {
                    if line.contains(&secret.value) {
                        leaks.push(format!(
                            "{} ({:?}) in {source}, line {}: {line}",
                            secret.what,
                            secret.value,
                            number + 1
                        ));
                    }
                }
            }
        }
        leaks
    }
}

/// A served deployment whose every byte of output is kept.
struct Served {
    base: String,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    client: reqwest::Client,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a pipe to its end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

impl Served {
    fn start(deployment: &Deployment) -> Served {
        let mut child = deployment
            .serve_command()
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cdp-auth serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(url) = line.trim().strip_prefix("listening on ") {
                    let _ = tx.send(url.to_owned());
                }
                all.push_str(&line);
                line.clear();
            }
            all
        });
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => Served {
                base,
                child,
                stdout: Some(reader),
                stderr: Some(stderr),
                client: {
                    cdp_auth_client::install_tls_provider();
                    reqwest::Client::new()
                },
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = stderr.join().unwrap_or_default();
                panic!("cdp-auth serve did not report listening: {stderr}");
            }
        }
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.base))
    }

    fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.delete(format!("{}{path}", self.base))
    }

    fn options(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(Method::OPTIONS, format!("{}{path}", self.base))
    }

    /// A form POST, the client authenticated by `client_secret_basic` (`post == false`) or
    /// `client_secret_post`.
    async fn form(
        &self,
        path: &str,
        (id, secret): (&str, &str),
        post: bool,
        pairs: &[(&str, &str)],
    ) -> Reply {
        let mut pairs = pairs.to_vec();
        let mut request = self.post(path);
        if post {
            pairs.push(("client_id", id));
            pairs.push(("client_secret", secret));
        } else {
            request = request.basic_auth(id, Some(secret));
        }
        let body = serde_urlencoded::to_string(&pairs).expect("form encodes");
        send(
            request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body),
            format!("POST {path}"),
        )
        .await
    }

    /// SIGTERM, then everything the server wrote: (stdout, stderr).
    fn stop(mut self) -> (String, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().expect("wait for serve").is_none() {
            assert!(
                Instant::now() < deadline,
                "serve did not exit within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let stdout = self.stdout.take().expect("stdout reader").join();
        let stderr = self.stderr.take().expect("stderr reader").join();
        (
            stdout.expect("stdout reader"),
            stderr.expect("stderr reader"),
        )
    }
}

/// A string field of a JSON value.
fn field(json: &Value, name: &str) -> String {
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {json}"))
        .to_owned()
}

/// An instance's credentials from `instance create --json`.
struct Creds {
    username: String,
    password: String,
    tenant_id: String,
}

fn instance(run: &mut Run, deployment: &Deployment, tenant: &str, kind: &str) -> Creds {
    let name = format!("{kind}-one");
    let json = run.cli_json(
        deployment,
        &[
            "instance", "create", "--tenant", tenant, "--name", &name, "--type", kind, "--json",
        ],
    );
    let creds = Creds {
        username: field(&json, "username"),
        password: field(&json, "password"),
        tenant_id: field(&json, "tenant_id"),
    };
    run.credentials(kind, &creds.username, &creds.password);
    creds
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_or_cli_stderr() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_LOG", LOG_FILTER)]);
    let mut run = Run::default();

    // --- The CLI: a tenant with OAuth, one without, an instance of each type.
    let tenant = run.cli_json(
        &deployment,
        &[
            "tenant",
            "create",
            "--name",
            "acme",
            "--environment",
            "uat",
            "--json",
        ],
    );
    let tenant_hash = field(&tenant, "tenant_hash");
    let tenant_secret = field(&tenant, "oauth_key_secret");
    run.secret("oauth_key_secret", &tenant_secret);
    run.cli_json(
        &deployment,
        &[
            "tenant",
            "create",
            "--name",
            "open",
            "--environment",
            "cs",
            "--no-oauth",
            "--json",
        ],
    );
    let tracker = instance(&mut run, &deployment, "acme", "dw-tracker");
    let profiles = instance(&mut run, &deployment, "acme", "profiles-360");
    let webtag = instance(&mut run, &deployment, "acme", "webtag");
    let _open = instance(&mut run, &deployment, "open", "dw-tracker");
    // The WebTag instance may send events from the shop.
    run.cli_json(
        &deployment,
        &[
            "instance",
            "origins",
            "--instance",
            &webtag.username,
            "--origin",
            SHOP,
            "--json",
        ],
    );

    let server = Served::start(&deployment);
    let basic = |c: &Creds| basic_pair(&c.username, &c.password);

    // --- a1user: login, retrieve, extend, create, revoke one, revoke all.
    let login = send(
        server
            .post("/authentication?action=login")
            .header("authorization", basic(&tracker))
            .header(CONTENT_TYPE, "application/json"),
        "login",
    )
    .await
    .access_token();
    run.secret("a1user login token", &login);
    let retrieved = send(
        server
            .get("/token?scheme=a1user")
            .header("authorization", basic(&tracker)),
        "retrieve",
    )
    .await
    .access_token();
    assert_eq!(retrieved, login, "retrieve answers the newest token");
    send(
        server
            .post("/token?scheme=a1user&action=extend")
            .header("authorization", bearer(&login)),
        "extend",
    )
    .await
    .ok();
    let created = send(
        server
            .post("/token?scheme=a1user&action=create")
            .header("authorization", basic(&tracker)),
        "create",
    )
    .await
    .access_token();
    run.secret("a1user created token", &created);
    let revoked = send(
        server
            .delete("/token?scheme=a1user")
            .header("authorization", bearer(&created)),
        "revoke one",
    )
    .await;
    assert_eq!(revoked.ok()["revoked"], 1, "{revoked:?}");
    // A revoked token used again: an error path that holds a token.
    send(
        server
            .post("/token?scheme=a1user&action=extend")
            .header("authorization", bearer(&created)),
        "extend a revoked token",
    )
    .await
    .expect_error(401, "invalid_token");

    // The other types log in too.
    let mut logins = Vec::new();
    for creds in [&profiles, &webtag] {
        let token = send(
            server
                .post("/authentication?action=login")
                .header("authorization", basic(creds)),
            "login",
        )
        .await
        .access_token();
        run.secret(format!("{} login token", creds.username), &token);
        logins.push(token);
    }
    let profiles_token = logins[0].clone();

    // A wrong password, and an unknown user: the attempted passwords are secrets too.
    let wrong = "WrongPassword0123456789abcdef";
    run.credentials("wrong", &tracker.username, wrong);
    send(
        server
            .post("/authentication?action=login")
            .header("authorization", basic_pair(&tracker.username, wrong)),
        "login with a wrong password",
    )
    .await
    .expect_challenge("Basic");
    let stranger = "StrangerPassword0123456789xyz";
    run.credentials("unknown user's", "tracker_nobody", stranger);
    send(
        server
            .post("/authentication?action=login")
            .header("authorization", basic_pair("tracker_nobody", stranger)),
        "login as nobody",
    )
    .await
    .expect_challenge("Basic");
    // A bogus bearer token.
    let bogus = "0b0e5b6e-1c1a-4c1e-9d5f-6a7b8c9d0e1f";
    run.secret("bogus bearer token", bogus);
    send(
        server
            .post("/token?scheme=a1user&action=extend")
            .header("authorization", bearer(bogus)),
        "extend a bogus token",
    )
    .await
    .expect_error(401, "invalid_token");

    // --- OAuth: token, introspect, revoke, with both client authentication methods.
    let client = (tracker.username.as_str(), tracker.password.as_str());
    let caller = (profiles.username.as_str(), profiles.password.as_str());
    let mut oauth_tokens = Vec::new();
    for post in [false, true] {
        let token = server
            .form(
                "/oauth/token",
                client,
                post,
                &[("grant_type", "client_credentials")],
            )
            .await
            .access_token();
        run.secret(format!("oauth token (post={post})"), &token);
        oauth_tokens.push(token);
    }
    for (i, token) in oauth_tokens.iter().enumerate() {
        let post = i == 1;
        let active = server
            .form("/oauth/introspect", caller, post, &[("token", token)])
            .await;
        assert_eq!(active.ok()["active"], true, "{active:?}");
        // Introspect an a1user token too, and a bogus one.
        server
            .form("/oauth/introspect", caller, post, &[("token", &login)])
            .await
            .ok();
        server
            .form("/oauth/introspect", caller, post, &[("token", bogus)])
            .await
            .ok();
        server
            .form("/oauth/revoke", client, post, &[("token", token)])
            .await
            .ok();
        server
            .form("/oauth/revoke", caller, post, &[("token", bogus)])
            .await
            .ok();
    }
    // A wrong client secret on each method.
    for post in [false, true] {
        server
            .form(
                "/oauth/token",
                (&tracker.username, wrong),
                post,
                &[("grant_type", "client_credentials")],
            )
            .await
            .expect_error(401, "invalid_client");
    }

    // --- secureApi: create and update with the secret, and a wrong secret.
    let secure = |secret: &str| {
        server
            .post("/secureApi/token/profile/create")
            .header("tenant_hash", &tenant_hash)
            .header("oauth_key_secret", secret)
            .json(&json!({"resource": ["basic"], "validity": 30}))
    };
    let secure_token = field(
        send(secure(&tenant_secret), "secureApi create").await.ok(),
        "token",
    );
    run.secret("secureApi token", &secure_token);
    send(
        server
            .post("/secureApi/token/profile/update")
            .header("tenant_hash", &tenant_hash)
            .header("oauth_key_secret", &tenant_secret)
            .json(&json!({"resource": ["basic", "segments"], "token": secure_token})),
        "secureApi update",
    )
    .await
    .ok();
    let wrong_secret = "0123456789abcdef";
    run.secret("wrong oauth_key_secret", wrong_secret);
    send(secure(wrong_secret), "secureApi create with a wrong secret")
        .await
        .expect_error(401, "invalid_client");
    let bogus_secure = "AAAAbogusSecureTokenAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    run.secret("bogus secureApi token", bogus_secure);
    send(
        server
            .post("/secureApi/token/profile/update")
            .header("tenant_hash", &tenant_hash)
            .header("oauth_key_secret", &tenant_secret)
            .json(&json!({"resource": ["basic"], "token": bogus_secure})),
        "secureApi update of a bogus token",
    )
    .await
    .expect_error(401, "invalid_token");
    send(
        server
            .post("/oauth/introspect")
            .basic_auth(&profiles.username, Some(&profiles.password))
            .form(&[("token", &secure_token)]),
        "introspect a secureApi token",
    )
    .await
    .ok();

    // --- The CDP API.
    cdp_flow(
        &mut run,
        &server,
        &Cdp {
            tenant_id: tracker.tenant_id.clone(),
            tenant_hash: tenant_hash.clone(),
            tenant_secret: tenant_secret.clone(),
            tracker_token: login.clone(),
            revoked_token: created.clone(),
            profiles_token,
            secure_token: secure_token.clone(),
            bogus_secure: bogus_secure.to_owned(),
        },
        &webtag,
    )
    .await;

    // --- Rotations through the CLI while the server runs; the new secrets are used.
    let rotated = run.cli_json(
        &deployment,
        &["instance", "rotate-password", &tracker.username, "--json"],
    );
    let new_password = field(&rotated, "password");
    run.credentials("rotated dw-tracker", &tracker.username, &new_password);
    let rotated_tenant = run.cli_json(&deployment, &["tenant", "rotate-secret", "acme", "--json"]);
    let new_secret = field(&rotated_tenant, "oauth_key_secret");
    run.secret("rotated oauth_key_secret", &new_secret);

    // The old password and secret now fail, the new ones work. The CLI is another process:
    // the server notices its changes within its epoch poll (250 ms), so wait for that first.
    support::within_a_second("the old password is refused", || async {
        send(
            server
                .get("/token?scheme=a1user")
                .header("authorization", basic(&tracker)),
            "retrieve with the old password, waiting for the rotation",
        )
        .await
        .status
            == 401
    })
    .await;
    support::within_a_second("the old tenant secret is refused", || async {
        send(
            secure(&tenant_secret),
            "secureApi create with the old secret, waiting for the rotation",
        )
        .await
        .status
            == 401
    })
    .await;
    send(
        server
            .get("/token?scheme=a1user")
            .header("authorization", basic(&tracker)),
        "retrieve with the old password",
    )
    .await
    .expect_challenge("Basic");
    let rotated_creds = Creds {
        username: tracker.username.clone(),
        password: new_password.clone(),
        tenant_id: tracker.tenant_id.clone(),
    };
    send(
        server
            .get("/token?scheme=a1user")
            .header("authorization", basic(&rotated_creds)),
        "retrieve with the new password",
    )
    .await
    .ok();
    let fresh = server
        .form(
            "/oauth/token",
            (&tracker.username, &new_password),
            true,
            &[("grant_type", "client_credentials")],
        )
        .await
        .access_token();
    run.secret("oauth token after rotation", &fresh);
    send(
        secure(&tenant_secret),
        "secureApi create with the old secret",
    )
    .await
    .expect_error(401, "invalid_client");
    let secure_fresh = field(
        send(secure(&new_secret), "secureApi create with the new secret")
            .await
            .ok(),
        "token",
    );
    run.secret("secureApi token after rotation", &secure_fresh);

    // Revoke all: Basic with the new password.
    send(
        server
            .delete("/token?scheme=a1user")
            .header("authorization", basic(&rotated_creds)),
        "revoke all",
    )
    .await
    .ok();

    // --- Stop the server and search everything it wrote.
    let (stdout, stderr) = server.stop();
    assert!(
        stderr.lines().count() > 10,
        "the server logged almost nothing at {LOG_FILTER}; is CDP_AUTH_LOG honoured?\n{stderr}"
    );
    run.outputs.push(("server stdout".to_owned(), stdout));
    run.outputs.push(("server stderr".to_owned(), stderr));

    // The personal data the CDP flow pushed, pulled and asked about is not logged either.
    for (what, value) in [
        ("pushed Email", PERSON_EMAIL),
        ("pushed Email as sent", "Quiet.Customer@Example.COM"),
        ("pushed FirstName", PERSON_FIRST_NAME),
        ("pushed LastName", PERSON_LAST_NAME),
        ("pushed Phone", PERSON_PHONE),
    ] {
        run.secret(format!("personal data: {what}"), value);
    }

    // The server key (the key file next to the database) is a secret as well.
    for entry in std::fs::read_dir(deployment.dir()).expect("deployment folder") {
        let path = entry.expect("folder entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_file() && !name.starts_with("cdp-auth.db") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let text = text.trim();
            if !text.is_empty() {
                run.secret(format!("server key file {name}"), text);
                if let Ok(raw) = STANDARD.decode(text) {
                    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                    run.secret(format!("server key file {name}, as hex"), &hex);
                }
            }
        }
    }

    let leaks = run.leaks();
    assert!(
        leaks.is_empty(),
        "{} secret(s) leaked:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// What the CDP part of the flow needs from the rest of it.
struct Cdp {
    tenant_id: String,
    tenant_hash: String,
    tenant_secret: String,
    /// The DW Tracker's live a1user token.
    tracker_token: String,
    /// A DW Tracker token revoked earlier.
    revoked_token: String,
    /// The 360 Profiles instance's login token.
    profiles_token: String,
    /// A secureApi token of api `profile` holding `basic` and `segments`.
    secure_token: String,
    /// A secureApi token that does not exist.
    bogus_secure: String,
}

/// A DW Tracker push, 360 Profiles pulls, a WebTag key and its events, secureApi profile reads
/// and GDPR requests (access, then forget), with their error paths; every new secret is added
/// to `run`.
async fn cdp_flow(run: &mut Run, server: &Served, cdp: &Cdp, webtag: &Creds) {
    let tenant_id = &cdp.tenant_id;

    // Push: two source records of one person (same email), retried with its Idempotency-Key.
    let push_path = format!("/v2/{tenant_id}/dw/tracker?scheme=a1user");
    let records = json!([
        {
            "SourceCustomerNumber": "LS-1", "Email": PERSON_EMAIL,
            "FirstName": PERSON_FIRST_NAME, "LastName": PERSON_LAST_NAME, "Phone": PERSON_PHONE,
            "Attributes": {"tier": "gold"},
            "Type": "productBrowsed", "Subtype": "SKU-1", "EventTimeStamp": "2026-11-20T10:00:00Z",
        },
        {
            "SourceCustomerNumber": "LS-2", "Email": " Quiet.Customer@Example.COM ",
            "Type": "checkout", "Subtype": "SKU-2", "EventTimeStamp": "2026-11-21T10:00:00Z",
        },
    ]);
    for what in ["push", "push retried with its Idempotency-Key"] {
        let reply = send(
            server
                .post(&push_path)
                .header("authorization", bearer(&cdp.tracker_token))
                .header("Idempotency-Key", "log-secrecy-push-1")
                .json(&records),
            what,
        )
        .await;
        assert_eq!(reply.status, 202, "{reply:?}");
        assert_eq!(reply.json, json!({"accepted": 2}), "{reply:?}");
    }
    // Refused pushes: an invalid record (the error names record and field, not the value), a
    // revoked token, a reused Idempotency-Key.
    send(
        server
            .post(&push_path)
            .header("authorization", bearer(&cdp.tracker_token))
            .json(&json!([{"SourceCustomerNumber": "LS-3", "Email": PERSON_EMAIL, "Phone": ""}])),
        "push with an empty Phone",
    )
    .await
    .expect_error(400, "invalid_request");
    send(
        server
            .post(&push_path)
            .header("authorization", bearer(&cdp.revoked_token))
            .json(&records),
        "push with a revoked token",
    )
    .await
    .expect_error(401, "invalid_token");
    send(
        server
            .post(&push_path)
            .header("authorization", bearer(&cdp.tracker_token))
            .header("Idempotency-Key", "log-secrecy-push-1")
            .json(&json!([{"SourceCustomerNumber": "LS-1", "Phone": PERSON_PHONE}])),
        "push reusing an Idempotency-Key",
    )
    .await
    .expect_error(422, "invalid_request");

    // Pull, by email in the query string, then the one customer.
    let customers = format!("/v2/{tenant_id}/dw/a360/customers");
    let pulled = send_json_or_hal(
        server
            .get(&format!("{customers}?fq=email:{PERSON_EMAIL}&limit=10"))
            .header("authorization", bearer(&cdp.profiles_token)),
        "pull by email",
    )
    .await;
    assert_eq!(pulled.ok()["count"], 1, "{pulled:?}");
    let gcr_id = field(&pulled.json["_embedded"]["customers"][0], "gcrId");
    let one = send_json_or_hal(
        server
            .get(&format!("{customers}/{gcr_id}"))
            .header("authorization", bearer(&cdp.profiles_token)),
        "pull one customer",
    )
    .await;
    assert_eq!(one.ok()["email"], PERSON_EMAIL, "{one:?}");
    send(
        server
            .get(&customers)
            .header("authorization", bearer(&cdp.tracker_token)),
        "pull with a DW Tracker token",
    )
    .await
    .expect_error(403, "insufficient_scope");

    // WebTag: a key, events with it in the query string, a preflight, refusals.
    let created = send(
        server.post("/token?scheme=a1webtag&action=create").header(
            "authorization",
            basic_pair(&webtag.username, &webtag.password),
        ),
        "WebTag key create",
    )
    .await;
    let access_key = field(created.ok(), "accessKey");
    let webtag_token = field(created.ok(), "access_token");
    run.secret("WebTag accessKey", &access_key);
    run.secret("WebTag token", &webtag_token);
    let events = format!("/v2/{tenant_id}/dw/tracker?scheme=a1webtag&accessKey={access_key}");
    let event = json!({
        "SourceCustomerNumber": "LS-1", "Type": "categoryBrowsed", "Subtype": "shoes",
        "EventTimeStamp": "2026-11-22T12:00:00Z",
    });
    let reply = send(
        server.post(&events).header("origin", SHOP).json(&event),
        "WebTag event",
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let reply = send(
        server
            .get(&format!(
                "{events}&SourceCustomerNumber=LS-1&Type=productBrowsed&Subtype=SKU-1&EventTimeStamp=2026-11-22T12:01:00Z"
            ))
            .header("origin", SHOP),
        "WebTag pixel",
    )
    .await;
    assert_eq!(reply.status, 202, "{reply:?}");
    let preflight = server
        .options(&events)
        .header("origin", SHOP)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("preflight answered");
    assert_eq!(preflight.status().as_u16(), 204, "{preflight:?}");
    send(
        server
            .post(&events)
            .header("origin", "https://evil.example")
            .json(&event),
        "WebTag event from another origin",
    )
    .await
    .expect_error(403, "insufficient_scope");
    let bogus_key = "BogusAccessKey0123456789abcdefghijklmnopqr";
    run.secret("bogus accessKey", bogus_key);
    send(
        server
            .post(&format!(
                "/v2/{tenant_id}/dw/tracker?scheme=a1webtag&accessKey={bogus_key}"
            ))
            .header("origin", SHOP)
            .json(&event),
        "WebTag event with a bogus key",
    )
    .await
    .expect_error(401, "invalid_token");
    // Revoking the token kills its key.
    let revoked = send(
        server
            .delete("/token?scheme=a1user")
            .header("authorization", bearer(&webtag_token)),
        "revoke the WebTag token",
    )
    .await;
    assert_eq!(revoked.ok()["revoked"], 1, "{revoked:?}");
    send(
        server.post(&events).header("origin", SHOP).json(&event),
        "WebTag event with a dead key",
    )
    .await
    .expect_error(401, "invalid_token");

    // secureApi profile: the token in access_token, then as Bearer; refusals.
    let profile = |resource: &str| {
        server
            .post(&format!("/api/v1/profile/b2b/{resource}"))
            .header("tenant_hash", &cdp.tenant_hash)
            .header("email_address", PERSON_EMAIL)
    };
    let basic = send(
        profile("basic").header("access_token", &cdp.secure_token),
        "profile basic",
    )
    .await;
    assert_eq!(basic.ok()["data"]["gcrId"], gcr_id.as_str(), "{basic:?}");
    send(
        profile("segments").header("access_token", &cdp.secure_token),
        "profile segments",
    )
    .await
    .ok();
    send(
        server
            .post("/api/v1/profile/b2b/basic")
            .header("authorization", bearer(&cdp.secure_token))
            .header("tenant_hash", &cdp.tenant_hash)
            .header("customer_code_external", "LS-2"),
        "profile basic with Bearer",
    )
    .await
    .ok();
    send(
        profile("affinity").header("access_token", &cdp.secure_token),
        "profile resource the token lacks",
    )
    .await
    .expect_error(403, "insufficient_scope");
    send(
        profile("basic").header("access_token", &cdp.bogus_secure),
        "profile with a bogus token",
    )
    .await
    .expect_error(401, "invalid_token");

    // GDPR: a gdpr token; an access request, then a forget request, each processed at once.
    let gdpr_token = field(
        send(
            server
                .post("/secureApi/token/gdpr/create")
                .header("tenant_hash", &cdp.tenant_hash)
                .header("oauth_key_secret", &cdp.tenant_secret)
                .json(&json!({
                    "resource": ["registerGdprRequest", "gdprRequestStatus"], "validity": 30,
                })),
            "secureApi gdpr create",
        )
        .await
        .ok(),
        "token",
    );
    run.secret("secureApi gdpr token", &gdpr_token);
    let gdpr = |action: &str, body: Value| {
        server
            .post(&format!("/api/v1/gdpr/b2b/{action}"))
            .header("access_token", &gdpr_token)
            .header("tenant_hash", &cdp.tenant_hash)
            .json(&body)
    };
    send(
        gdpr(
            "registerGdprRequest",
            json!({"reqType": "access", "reqParam": "email", "reqSource": "web"}),
        ),
        "GDPR request without reqParamValue",
    )
    .await
    .expect_error(400, "invalid_request");
    for req_type in ["access", "forget"] {
        let registered = send(
            gdpr(
                "registerGdprRequest",
                json!({"reqType": req_type, "reqParam": "email", "reqSource": "web"}),
            )
            .header("reqParamValue", PERSON_EMAIL),
            format!("GDPR {req_type} request"),
        )
        .await;
        let request_id = field(&registered.ok()["data"], "requestId");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = send(
                gdpr("gdprRequestStatus", json!({"requestId": request_id})),
                format!("GDPR {req_type} request status"),
            )
            .await;
            if status.ok()["data"]["status"] == "done" {
                if req_type == "access" {
                    let export = &status.json["data"]["export"]["customers"];
                    assert_eq!(export[0]["gcrId"], gcr_id.as_str(), "{status:?}");
                }
                break;
            }
            assert!(
                Instant::now() < deadline,
                "GDPR {req_type} request not done within 10 s: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Forgotten: the pull by email finds nobody.
    let pulled = send_json_or_hal(
        server
            .get(&format!("{customers}?fq=email:{PERSON_EMAIL}"))
            .header("authorization", bearer(&cdp.profiles_token)),
        "pull by email after forget",
    )
    .await;
    assert_eq!(pulled.ok()["count"], 0, "{pulled:?}");
}

/// A client that puts a secret in the query string (RFC 6749 §2.3.1 forbids the client secret
/// there, RFC 6750 §2.3 allows `access_token` there) must not get it logged either: the request
/// span's `uri` field must not carry it.
#[tokio::test]
async fn secrets_in_the_query_string_are_not_logged() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_LOG", LOG_FILTER)]);
    let mut run = Run::default();
    run.cli_json(
        &deployment,
        &[
            "tenant",
            "create",
            "--name",
            "acme",
            "--environment",
            "uat",
            "--no-oauth",
            "--json",
        ],
    );
    let tracker = instance(&mut run, &deployment, "acme", "dw-tracker");
    let server = Served::start(&deployment);
    let token = send(
        server
            .post("/authentication?action=login")
            .basic_auth(&tracker.username, Some(&tracker.password)),
        "login",
    )
    .await
    .access_token();
    run.secret("a1user token", &token);

    let query = serde_urlencoded::to_string([
        ("grant_type", "client_credentials"),
        ("client_id", tracker.username.as_str()),
        ("client_secret", tracker.password.as_str()),
    ])
    .expect("query encodes");
    let reply = send(
        server.post(&format!("/oauth/token?{query}")),
        "client secret in the query",
    )
    .await;
    assert!(reply.status >= 400, "{reply:?}");
    let reply = send(
        server.post(&format!(
            "/token?scheme=a1user&action=extend&access_token={token}"
        )),
        "bearer token in the query",
    )
    .await;
    assert!(reply.status >= 400, "{reply:?}");

    let (stdout, stderr) = server.stop();
    run.outputs.push(("server stdout".to_owned(), stdout));
    run.outputs.push(("server stderr".to_owned(), stderr));
    let leaks = run.leaks();
    assert!(
        leaks.is_empty(),
        "{} secret(s) leaked:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// SPEC, "Resilience": a name that is none of ours (here a password typed into the username
/// field of a Basic login and as an OAuth `client_id`) is logged as a keyed fingerprint,
/// never verbatim; a name that is ours may be logged as it is.
#[tokio::test]
async fn unknown_usernames_are_logged_as_fingerprints() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_LOG", LOG_FILTER)]);
    let mut run = Run::default();
    run.cli_json(
        &deployment,
        &[
            "tenant",
            "create",
            "--name",
            "acme",
            "--environment",
            "uat",
            "--no-oauth",
            "--json",
        ],
    );
    let tracker = instance(&mut run, &deployment, "acme", "dw-tracker");
    let typed = "My-Own-Password-Typed-Here-7";
    run.secret("a password typed as a username", typed);
    let server = Served::start(&deployment);
    let reply = send(
        server
            .post("/authentication?action=login")
            .basic_auth(typed, Some("anything")),
        "login with a password as the username",
    )
    .await;
    assert_eq!(reply.status, 401, "{reply:?}");
    let reply = send(
        server
            .post("/oauth/token")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={typed}&client_secret=x"
            )),
        "client_credentials with a password as the client_id",
    )
    .await;
    assert!(reply.status == 400 || reply.status == 401, "{reply:?}");
    let reply = send(
        server
            .post("/authentication?action=login")
            .basic_auth(&tracker.username, Some("wrong-password")),
        "login with a wrong password",
    )
    .await;
    assert_eq!(reply.status, 401, "{reply:?}");

    let (stdout, stderr) = server.stop();
    let failed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("failed credential attempt"))
        .collect();
    assert_eq!(failed.len(), 3, "{stderr}");
    assert_eq!(
        failed.iter().filter(|l| l.contains("unknown:")).count(),
        2,
        "{failed:?}"
    );
    assert!(
        failed.iter().any(|l| l.contains(&tracker.username)),
        "our own username may be logged as it is: {failed:?}"
    );
    run.outputs.push(("server stdout".to_owned(), stdout));
    run.outputs.push(("server stderr".to_owned(), stderr));
    let leaks = run.leaks();
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
