//! The one harness every black-box test uses: a real `cdp-auth` binary serving a real database
//! on an ephemeral port, plus helpers that set up tenants and instances through the real CLI.
//!
//! The backend is chosen by the environment, so the same suite runs on both: by default each
//! deployment is a fresh SQLite file in a temporary folder; with
//! `CDP_AUTH_TEST_POSTGRES=postgres://USER@HOST:PORT` each deployment gets a fresh database on
//! that PostgreSQL server (created with `psql`, dropped afterwards).

#![allow(dead_code)]

pub mod browser;
pub mod http;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// Path of the binary under test, built by cargo for integration tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_cdp-auth");

/// The variable naming a PostgreSQL server to run the suite against.
pub const POSTGRES_ENV: &str = "CDP_AUTH_TEST_POSTGRES";

/// The PostgreSQL server the suite runs against, if any.
pub fn postgres_server() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .map(|url| url.trim_end_matches('/').to_owned())
        .filter(|url| !url.is_empty())
}

/// A fresh, empty PostgreSQL database on `server`; returns its URL.
pub fn create_postgres_database(server: &str) -> (String, String) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "cdp_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        nanos
    );
    psql(server, &format!("CREATE DATABASE {name}"));
    (format!("{server}/{name}"), name)
}

/// Runs one SQL command on the server's `postgres` database.
pub fn psql(server: &str, sql: &str) {
    let output = Command::new("psql")
        .args([
            &format!("{server}/postgres"),
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        ])
        .output()
        .expect("run psql (install the PostgreSQL client)");
    assert!(
        output.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A deployment: its database (a SQLite file or a PostgreSQL database), its folder with the
/// key file, and its configuration.
pub struct Deployment {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    database_url: String,
    postgres: Option<(String, String)>,
}

impl Deployment {
    /// A fresh deployment with default settings.
    pub fn new() -> Self {
        Self::with_env(&[])
    }

    /// A fresh deployment with extra `CDP_AUTH_*` settings (e.g. short lifetimes).
    pub fn with_env(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let (database_url, postgres) = match postgres_server() {
            Some(server) => {
                let (url, name) = create_postgres_database(&server);
                (url, Some((server, name)))
            }
            None => (
                format!("sqlite://{}", dir.path().join("cdp-auth.db").display()),
                None,
            ),
        };
        Self::build(dir, database_url, postgres, env)
    }

    /// A fresh deployment on a database the test provides (a SQLite file on a small disk, a
    /// PostgreSQL server the test stops and starts), with extra settings; the key file lives
    /// in the deployment's own folder.
    pub fn on_database(database_url: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let key = dir.path().join("cdp-auth.key").display().to_string();
        let mut all = vec![("CDP_AUTH_SERVER_KEY_FILE", key.as_str())];
        all.extend_from_slice(env);
        Self::build(dir, database_url.to_owned(), None, &all)
    }

    fn build(
        dir: tempfile::TempDir,
        database_url: String,
        postgres: Option<(String, String)>,
        env: &[(&str, &str)],
    ) -> Self {
        // Refused credentials answer at once (the default waits 200 ms), so that suites full
        // of wrong credentials stay fast; a test of the delay sets it back.
        let mut all = vec![
            ("CDP_AUTH_DATABASE".to_owned(), database_url.clone()),
            ("CDP_AUTH_FAILURE_DELAY".to_owned(), "0s".to_owned()),
        ];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let deployment = Deployment {
            dir,
            env: all,
            database_url,
            postgres,
        };
        // Only `serve` and `migrate` make a new database; every other command needs one.
        let migrated = deployment.cli(&["migrate"]);
        assert!(
            migrated.status.success(),
            "cdp-auth migrate failed: {}",
            String::from_utf8_lossy(&migrated.stderr)
        );
        deployment
    }

    /// The database URL the deployment uses.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Whether this deployment runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Every byte the database holds, as an attacker with a copy of it would see them: the
    /// SQLite file and its write-ahead log, or a `pg_dump` of the PostgreSQL database.
    pub fn raw_database(&self) -> Vec<u8> {
        match &self.postgres {
            None => {
                let mut bytes = std::fs::read(self.database_file()).expect("database file");
                if let Ok(wal) = std::fs::read(self.database_file().with_extension("db-wal")) {
                    bytes.extend(wal);
                }
                bytes
            }
            Some(_) => {
                let output = Command::new("pg_dump")
                    .args(["--data-only", &self.database_url])
                    .output()
                    .expect("run pg_dump");
                assert!(output.status.success(), "pg_dump failed");
                output.stdout
            }
        }
    }

    /// The folder holding the database and key file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The SQLite database file.
    pub fn database_file(&self) -> PathBuf {
        self.dir.path().join("cdp-auth.db")
    }

    /// A `Command` for the binary with this deployment's settings, run in its folder.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.args(args).current_dir(self.dir.path());
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("CDP_AUTH_")) {
            command.env_remove(key);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs a CLI command to completion.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run cdp-auth")
    }

    /// Runs a CLI command that must succeed and print one JSON value.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        json_of(&self.cli(args), &format!("cdp-auth {args:?}"))
    }

    /// Creates a tenant in the given environment (`cs`, `uat`, `prod`).
    pub fn tenant(&self, name: &str, environment: &str) -> Value {
        self.tenant_with_oauth(name, environment, true)
    }

    /// Creates a tenant with OAuth off (`--no-oauth`): it has no `oauth_key_secret`, and
    /// creating it costs no argon2id hash of one (most of a second in a debug build).
    pub fn tenant_without_oauth(&self, name: &str, environment: &str) -> Value {
        self.tenant_with_oauth(name, environment, false)
    }

    /// Creates a tenant with OAuth on or off; returns `tenant create --json`'s answer.
    pub fn tenant_with_oauth(&self, name: &str, environment: &str, oauth: bool) -> Value {
        let mut args = vec![
            "tenant",
            "create",
            "--name",
            name,
            "--environment",
            environment,
        ];
        if !oauth {
            args.push("--no-oauth");
        }
        args.push("--json");
        self.cli_json(&args)
    }

    /// Runs `instance create --json`, whatever its outcome.
    pub fn instance_output(&self, tenant: &str, name: &str, instance_type: &str) -> Output {
        self.cli(&instance_create(tenant, name, instance_type))
    }

    /// Creates an instance; returns what `instance create --json` printed.
    pub fn instance_json(&self, tenant: &str, name: &str, instance_type: &str) -> Value {
        self.cli_json(&instance_create(tenant, name, instance_type))
    }

    /// Creates an instance and returns its shown-once credentials.
    pub fn instance(&self, tenant: &str, name: &str, instance_type: &str) -> Instance {
        let json = self.instance_json(tenant, name, instance_type);
        Instance {
            username: json["username"].as_str().expect("username").to_owned(),
            password: json["password"].as_str().expect("password").to_owned(),
            tenant_id: json["tenant_id"].as_str().expect("tenant_id").to_owned(),
            json,
        }
    }

    /// A `Command` for `cdp-auth serve` on an ephemeral loopback port, its stdout piped (for
    /// [`listening_url`]); the caller chooses what becomes of its stderr.
    pub fn serve_command(&self) -> Command {
        let mut command = self.command(&["serve", "--listen", "127.0.0.1:0"]);
        command.stdout(Stdio::piped());
        command
    }

    /// Starts `cdp-auth serve` on an ephemeral loopback port.
    pub fn serve(&self) -> Server {
        self.serve_with_env(&[])
    }

    /// Starts `cdp-auth serve` with extra settings for this process only (a replica
    /// configured differently from the others).
    pub fn serve_with_env(&self, env: &[(&str, &str)]) -> Server {
        let mut command = self.serve_command();
        command.envs(env.iter().copied());
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cdp-auth serve");
        match listening_url(&mut child) {
            Some(base) => Server {
                base,
                child,
                client: {
                    cdp_auth_client::install_tls_provider();
                    reqwest::Client::new()
                },
            },
            None => {
                let _ = child.kill();
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                let _ = child.wait();
                panic!("cdp-auth serve exited before listening: {stderr}");
            }
        }
    }
}

/// The arguments of `instance create --json`.
fn instance_create<'a>(tenant: &'a str, name: &'a str, instance_type: &'a str) -> [&'a str; 9] {
    [
        "instance",
        "create",
        "--tenant",
        tenant,
        "--name",
        name,
        "--type",
        instance_type,
        "--json",
    ]
}

/// Parses a command's stdout as exactly one JSON value (serde rejects anything after it),
/// after asserting that it succeeded.
pub fn json_of(output: &Output, what: &str) -> Value {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no single JSON value ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A loopback port nothing listens on when asked (the caller, or a process it starts, binds
/// it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// Reads a server's stdout until its `listening on URL` line (with JSON logs, the JSON line
/// whose `message` says so); `None` if it ends first.
pub fn listening_url(child: &mut Child) -> Option<String> {
    let mut lines = BufReader::new(child.stdout.take()?);
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let message = match serde_json::from_str::<Value>(line.trim()) {
            Ok(Value::Object(object)) => object
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            _ => line.trim().to_owned(),
        };
        if let Some(url) = message.strip_prefix("listening on ") {
            return Some(url.to_owned());
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres {
            let _ = Command::new("psql")
                .args([
                    &format!("{server}/postgres"),
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

/// An instance's credentials as `instance create --json` printed them.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Generated username.
    pub username: String,
    /// Generated password.
    pub password: String,
    /// Its tenant's id, as a string.
    pub tenant_id: String,
    /// Everything the CLI printed.
    pub json: Value,
}

/// A running server; killed when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Child,
    /// A client for requests.
    pub client: reqwest::Client,
}

impl Server {
    /// The URL of a path (with query) on this server.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    /// A request to a path (with query) on this server.
    pub fn request(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
    ) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path_and_query))
    }

    /// A `GET` of a path (with query) on this server.
    pub fn get(&self, path_and_query: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path_and_query))
    }

    /// A `POST` to a path (with query) on this server.
    pub fn post(&self, path_and_query: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path_and_query))
    }

    /// A `DELETE` of a path (with query) on this server.
    pub fn delete(&self, path_and_query: &str) -> reqwest::RequestBuilder {
        self.client.delete(self.url(path_and_query))
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the server to exit and returns its stderr (after a SIGTERM, say).
    pub fn wait_with_stderr(mut self) -> String {
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let _ = self.child.wait();
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Administrators

/// An admin as `admin create --json` printed it.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Sign-in name.
    pub username: String,
    /// The generated password, shown once.
    pub password: String,
}

impl Deployment {
    /// Creates an admin of the web UI and admin API through the real CLI.
    pub fn admin(&self, username: &str) -> Admin {
        let json = self.cli_json(&["admin", "create", "--username", username, "--json"]);
        Admin {
            username: json["username"].as_str().expect("username").to_owned(),
            password: json["password"].as_str().expect("password").to_owned(),
        }
    }

    /// Issues an admin API token through the real CLI; returns it.
    pub fn admin_api_token(&self, username: &str) -> String {
        let json = self.cli_json(&["admin", "api-token", "--username", username, "--json"]);
        json["token"].as_str().expect("token").to_owned()
    }
}

/// Polls `holds` every 20 ms until it is true; fails after 1 s. A change made by another
/// process (the CLI, a replica) reaches a server's caches of verified tokens and credentials
/// within that (SPEC: a revoke is honoured by every process within 1 s). Returns how long it
/// took.
pub async fn within_a_second<F, Fut>(what: &str, mut holds: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if holds().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "still not so after 1 s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Now, in Unix seconds, as the server counts time.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whether `python3` can import `modules` (e.g. `"jwt, cryptography"`). When it cannot, a test
/// of a third-party Python client fails under CI (which installs them) and is skipped with a
/// notice naming `install` otherwise.
pub fn python_modules_available(modules: &str, what: &str, install: &str) -> bool {
    let probe = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let why = match probe {
        Ok(output) if output.status.success() => return true,
        Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        Err(e) => format!("python3 did not run: {e}"),
    };
    if std::env::var_os("CI").is_some() {
        panic!("{what} is required under CI: {install} ({why})");
    }
    eprintln!("notice: skipping the {what} tests: {install} to run them ({why})");
    false
}
