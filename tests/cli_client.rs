//! The client's CLI words through the real binary: `cdp-auth token …` and
//! `cdp-auth secure-token …` print the server's JSON, fail with its `error_description`, take
//! secrets only from the environment (or a prompt), and touch no database.

mod support;

use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{Deployment, Instance, Server};

/// A deployment, served, with a tenant and a DW Tracker instance.
struct Setup {
    deployment: Deployment,
    server: Server,
    tenant: Value,
    tracker: Instance,
    /// An empty folder the client commands run in: they must leave it empty.
    workdir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let deployment = Deployment::new();
        let tenant = deployment.tenant("acme", "uat");
        let tracker = deployment.instance("acme", "Orders feed", "dw-tracker");
        let server = deployment.serve();
        Setup {
            deployment,
            server,
            tenant,
            tracker,
            workdir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    /// A client command with these secrets in its environment, checked to carry none of them
    /// in its arguments; run in an empty folder, with a database URL that cannot be opened.
    fn run(&self, args: &[&str], secrets: &[(&str, &str)]) -> Output {
        for arg in args {
            for (_, secret) in secrets {
                assert!(
                    !arg.contains(secret),
                    "a secret is in the arguments: {args:?}"
                );
            }
        }
        let mut command = self.deployment.command(args);
        command
            .current_dir(self.workdir.path())
            .env(
                "CDP_AUTH_DATABASE",
                "sqlite:///nonexistent/folder/cdp-auth.db",
            )
            .stdin(Stdio::null());
        for (name, value) in secrets {
            command.env(name, value);
        }
        let output = command.output().expect("run cdp-auth");
        assert!(
            std::fs::read_dir(self.workdir.path())
                .expect("workdir")
                .next()
                .is_none(),
            "a client command wrote files"
        );
        output
    }

    /// A token command as the DW Tracker instance, its password in the environment.
    fn token(&self, action: &str) -> Output {
        let args = [
            "token",
            action,
            "--auth-url",
            &self.server.base,
            "--username",
            &self.tracker.username,
        ];
        self.run(&args, &[("CDP_AUTH_PASSWORD", &self.tracker.password)])
    }

    /// A token command with a bearer token in the environment.
    fn with_token(&self, action: &str, token: &str) -> Output {
        let args = ["token", action, "--auth-url", &self.server.base];
        self.run(&args, &[("CDP_AUTH_TOKEN", token)])
    }

    fn tenant_secrets(&self) -> [(&'static str, &str); 2] {
        [
            (
                "CDP_AUTH_TENANT_HASH",
                self.tenant["tenant_hash"].as_str().expect("tenant_hash"),
            ),
            (
                "CDP_AUTH_OAUTH_KEY_SECRET",
                self.tenant["oauth_key_secret"]
                    .as_str()
                    .expect("oauth_key_secret"),
            ),
        ]
    }
}

fn json(output: &Output) -> Value {
    support::json_of(output, "the client command")
}

/// Asserts a failure whose stderr carries the server's `error_description`.
fn fails_with(output: &Output, description: &str) {
    assert!(!output.status.success(), "the command succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(description),
        "{stderr:?} lacks {description:?}"
    );
    assert!(output.stdout.is_empty(), "a failure printed on stdout");
}

#[tokio::test]
async fn token_words_print_the_servers_answers() {
    let s = Setup::new();
    let login = json(&s.token("login"));
    let keys: Vec<&str> = login
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "token_type",
            "expires_in",
            "tenantId",
            "username",
            "userType",
            "passwordExpiryDate"
        ]
    );
    assert_eq!(login["username"], s.tracker.username.as_str());
    let token = login["access_token"].as_str().expect("token").to_owned();

    let retrieved = json(&s.token("retrieve"));
    assert_eq!(retrieved["access_token"], token.as_str());
    let extended = json(&s.with_token("extend", &token));
    assert_eq!(extended["access_token"], token.as_str());
    let created = json(&s.token("create"));
    assert_ne!(created["access_token"], token.as_str());
    let revoked = json(&s.with_token("revoke", &token));
    assert_eq!(revoked, serde_json::json!({"revoked": 1}));
    let all = json(&s.token("revoke-all"));
    assert_eq!(all, serde_json::json!({"revoked": 1}));

    // Errors: the server's error_description on stderr, a failure status.
    let answer = support::http::send(
        s.server
            .get("/token?scheme=a1user")
            .header("Authorization", support::http::basic(&s.tracker)),
        "retrieve",
    )
    .await;
    answer.expect_error(404, "no_active_token");
    fails_with(&s.token("retrieve"), answer.description());
    let dead = s.with_token("extend", &token);
    fails_with(&dead, "invalid_token");
    let wrong = s.run(
        &[
            "token",
            "login",
            "--auth-url",
            &s.server.base,
            "--username",
            &s.tracker.username,
        ],
        &[("CDP_AUTH_PASSWORD", "not-the-password-at-all")],
    );
    fails_with(&wrong, "invalid_client");
}

#[test]
fn secrets_never_come_from_flags() {
    let s = Setup::new();
    // No password in the environment and no terminal to prompt on: a clear refusal, at once.
    let output = s.run(
        &[
            "token",
            "login",
            "--auth-url",
            &s.server.base,
            "--username",
            &s.tracker.username,
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("CDP_AUTH_PASSWORD"));
    // There is no flag to put one on the command line.
    for flag in ["--password", "--token", "--oauth-key-secret"] {
        let output = s.run(
            &[
                "token",
                "login",
                "--auth-url",
                &s.server.base,
                "--username",
                &s.tracker.username,
                flag,
                "x",
            ],
            &[],
        );
        assert_eq!(output.status.code(), Some(2), "{flag} was accepted");
    }
}

#[test]
fn the_password_prompt_keeps_the_secret_out_of_the_arguments() {
    // While the command waits at its prompt, its arguments (what `ps` shows) hold no secret.
    // The prompt needs a terminal; `script` gives it one where available.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to give the prompt a terminal");
        return;
    }
    let s = Setup::new();
    let line = format!(
        "{} token login --auth-url {} --username {}",
        support::BIN,
        s.server.base,
        s.tracker.username
    );
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env(
            "CDP_AUTH_DATABASE",
            "sqlite:///nonexistent/folder/cdp-auth.db",
        )
        .env_remove("CDP_AUTH_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn script");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let cmdlines: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .filter(|line| line.contains(&s.tracker.username))
        .collect();
    assert!(
        cmdlines.iter().any(|l| l.contains("token login")),
        "the prompting process was not found"
    );
    for line in &cmdlines {
        assert!(!line.contains(&s.tracker.password), "secret in {line:?}");
    }
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().expect("stdin");
        let _ = writeln!(stdin, "{}", s.tracker.password);
    }
    let output = child.wait_with_output().expect("script output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("access_token"), "{stdout}");
}

#[test]
fn secure_token_words_print_the_servers_answers() {
    let s = Setup::new();
    let secrets = s.tenant_secrets();
    let create = [
        "secure-token",
        "create",
        "--api-url",
        &s.server.base,
        "--api",
        "profile",
        "--resource",
        "basic",
        "--validity",
        "30",
    ];
    let created = json(&s.run(&create, &secrets));
    assert_eq!(
        created
            .as_object()
            .expect("object")
            .keys()
            .collect::<Vec<_>>(),
        ["token"]
    );
    let token = created["token"].as_str().expect("token").to_owned();

    let update = [
        "secure-token",
        "update",
        "--api-url",
        &s.server.base,
        "--api",
        "profile",
        "--resource",
        "basic",
        "--resource",
        "segments",
    ];
    let mut with_token = secrets.to_vec();
    with_token.push(("CDP_AUTH_TOKEN", &token));
    let updated = json(&s.run(&update, &with_token));
    assert_eq!(
        updated,
        serde_json::json!({"message": "Token updated successfully", "token": token,
                           "resource": ["basic", "segments"]})
    );

    let unknown = [
        "secure-token",
        "create",
        "--api-url",
        &s.server.base,
        "--api",
        "profile",
        "--resource",
        "nope",
    ];
    fails_with(&s.run(&unknown, &secrets), "invalid_resource");
    let wrong = [
        ("CDP_AUTH_TENANT_HASH", secrets[0].1),
        ("CDP_AUTH_OAUTH_KEY_SECRET", "0000000000000000"),
    ];
    fails_with(&s.run(&create, &wrong), "invalid_client");
    // Unreachable server: a failure naming the cause, not a panic.
    let nowhere = [
        "secure-token",
        "create",
        "--api-url",
        "http://127.0.0.1:9",
        "--api",
        "profile",
        "--resource",
        "basic",
    ];
    fails_with(&s.run(&nowhere, &secrets), "cannot reach the server");
}
