//! A PostgreSQL outage. Slow (about 30 s): each test starts its own throwaway PostgreSQL
//! cluster (`initdb` and `pg_ctl` as the `postgres` user through `runuser`, from the newest
//! `/usr/lib/postgresql/*/bin`), serves against it, stops it (`pg_ctl -m immediate stop`) and
//! starts it again. It runs in the PostgreSQL pass of the suite (when `CDP_AUTH_TEST_POSTGRES`
//! is set, which also says PostgreSQL is installed) and is skipped otherwise.
//!
//! While the database is down, tokens already verified keep answering from the cache for
//! `stale_if_error`, writes answer `503 temporarily_unavailable` with `Retry-After` at once,
//! and `/readyz` says not ready; when it is back, requests work again without a restart.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use support::http::{self, Reply, a1user_token, send_maybe_unavailable};
use support::{Deployment, Instance, Server};

/// A private PostgreSQL cluster on a free port; stopped and removed when dropped.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    /// Creates and starts one, or `None` when this is not the PostgreSQL pass.
    fn start() -> Option<Self> {
        support::postgres_server()?;
        let bin = newest_pg_bin();
        let dir = tempfile::tempdir().expect("a temporary folder");
        run("chown", &["postgres".as_ref(), dir.path().as_os_str()]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Cluster { bin, dir, port };
        cluster.as_postgres(
            "initdb",
            &["-D", &cluster.data(), "-A", "trust", "-U", "postgres"],
        );
        cluster.up();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs one of PostgreSQL's programs as the `postgres` user.
    fn as_postgres(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program).display().to_string();
        let mut all = vec!["-u", "postgres", "--", program.as_str()];
        all.extend_from_slice(args);
        let all: Vec<&std::ffi::OsStr> = all.iter().map(|a| a.as_ref()).collect();
        run("runuser", &all);
    }

    fn up(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
    }

    fn down(&self) {
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &pg_ctl, "-D", &self.data()])
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// The `bin` folder of the newest PostgreSQL installed.
fn newest_pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL under /usr/lib/postgresql")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    found.sort();
    found.pop().expect("a PostgreSQL version").1
}

fn run(program: &str, args: &[&std::ffi::OsStr]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A served deployment on the cluster with one dw-tracker instance and its verified token.
struct Setup {
    _deployment: Deployment,
    server: Server,
    loader: Instance,
    token: String,
    tenant_hash: String,
    secure_token: String,
}

async fn setup(cluster: &Cluster, env: &[(&str, &str)]) -> Setup {
    let deployment = Deployment::on_database(&cluster.url(), env);
    let tenant = deployment.tenant_without_oauth("acme", "uat");
    let tenant_hash = tenant["tenant_hash"]
        .as_str()
        .expect("tenant_hash")
        .to_owned();
    let loader = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();
    let token = a1user_token(&server, &loader).await;
    let created = secure_create(&server, &tenant_hash).await;
    let secure_token = created.ok()["token"].as_str().expect("token").to_owned();
    let setup = Setup {
        _deployment: deployment,
        server,
        loader,
        token,
        tenant_hash,
        secure_token,
    };
    assert_eq!(introspect(&setup).await.status, 200, "verified and cached");
    setup
}

/// `POST /secureApi/token/profile/create`: a write, in the OAuth error shape.
async fn secure_create(server: &Server, tenant_hash: &str) -> Reply {
    let request = server
        .post("/secureApi/token/profile/create")
        .header("tenant_hash", tenant_hash)
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"resource":["basic"],"validity":60}"#);
    send_maybe_unavailable(request, "secureApi create").await
}

/// `POST /api/v1/profile/b2b/basic`: a read of customer data, in the vendor's error shape.
async fn profile(s: &Setup) -> Reply {
    let request = s
        .server
        .post("/api/v1/profile/b2b/basic")
        .header("access_token", &s.secure_token)
        .header("tenant_hash", &s.tenant_hash)
        .header("email_address", "ann@example.com")
        .header(CONTENT_TYPE, "application/json");
    send_maybe_unavailable(request, "profile").await
}

/// Introspects the token as its own instance: a check of verified credentials only.
async fn introspect(s: &Setup) -> Reply {
    let form = format!("token={}", s.token);
    let request = s
        .server
        .post("/oauth/introspect")
        .header(AUTHORIZATION, http::basic(&s.loader))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form);
    send_maybe_unavailable(request, "introspect").await
}

/// `POST /token?scheme=a1user&action=create`: a write.
async fn create_token(s: &Setup) -> Reply {
    let request = s
        .server
        .post("/token?scheme=a1user&action=create")
        .header(AUTHORIZATION, http::basic(&s.loader))
        .header(CONTENT_TYPE, "application/json");
    send_maybe_unavailable(request, "create").await
}

async fn readyz(s: &Setup) -> u16 {
    send_maybe_unavailable(s.server.get("/readyz"), "readyz")
        .await
        .status
}

/// A reply and how long it took.
async fn timed<F: std::future::Future<Output = Reply>>(request: F) -> (Reply, Duration) {
    let start = Instant::now();
    let reply = request.await;
    (reply, start.elapsed())
}

#[tokio::test]
async fn during_an_outage_cached_tokens_answer_writes_fail_fast_and_recovery_needs_no_restart() {
    let Some(cluster) = Cluster::start() else {
        eprintln!("skipped: the outage test runs in the PostgreSQL pass (CDP_AUTH_TEST_POSTGRES)");
        return;
    };
    let s = setup(&cluster, &[]).await;
    assert_eq!(create_token(&s).await.status, 200);

    cluster.down();
    let outage = Instant::now();
    let (first, first_took) = timed(create_token(&s)).await;
    first.expect_unavailable();
    let mut slowest_write = Duration::ZERO;
    let mut checks = 0;
    while outage.elapsed() < Duration::from_secs(10) {
        let reply = introspect(&s).await;
        assert_eq!(
            (reply.status, &reply.json["active"]),
            (200, &serde_json::Value::Bool(true)),
            "the cached token stopped answering {:?} into the outage: {reply:?}",
            outage.elapsed()
        );
        checks += 1;
        if outage.elapsed() > Duration::from_secs(3) && slowest_write == Duration::ZERO {
            // By now the server knows the database is down: writes fail at once.
            for _ in 0..3 {
                let (reply, took) = timed(create_token(&s)).await;
                reply.expect_unavailable();
                slowest_write = slowest_write.max(took);
            }
            let login = s
                .server
                .post("/authentication?action=login")
                .basic_auth(&s.loader.username, Some(&s.loader.password))
                .header(CONTENT_TYPE, "application/json");
            let (reply, took) = timed(send_maybe_unavailable(login, "login")).await;
            if reply.status != 200 {
                reply.expect_unavailable();
            }
            slowest_write = slowest_write.max(took);
            let (reply, took) = timed(secure_create(&s.server, &s.tenant_hash)).await;
            reply.expect_unavailable();
            slowest_write = slowest_write.max(took);
            // The secureApi CDP answers in the vendor's shape, with the same header.
            let reply = profile(&s).await;
            reply.expect_unavailable();
            assert_eq!(reply.json["status"], "ERROR", "{reply:?}");
            assert!(
                slowest_write < Duration::from_millis(500),
                "writes took {slowest_write:?} to fail"
            );
            assert_eq!(readyz(&s).await, 503);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slowest_write > Duration::ZERO, "the writes were tried");
    let cached_for = outage.elapsed();

    cluster.up();
    let back = Instant::now();
    loop {
        let reply = create_token(&s).await;
        if reply.status == 200 {
            break;
        }
        reply.expect_unavailable();
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "writes still fail {:?} after the database came back",
            back.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered_after = back.elapsed();
    assert_eq!(readyz(&s).await, 200);
    assert_eq!(introspect(&s).await.status, 200);
    eprintln!(
        "outage: first write failed after {first_took:?}, later ones within {slowest_write:?}; \
         the cached token answered {checks} checks over {cached_for:?}; writes worked again \
         {recovered_after:?} after PostgreSQL was back"
    );
}

#[tokio::test]
async fn past_stale_if_error_a_cached_token_is_no_longer_answered() {
    let Some(cluster) = Cluster::start() else {
        eprintln!("skipped: the outage test runs in the PostgreSQL pass (CDP_AUTH_TEST_POSTGRES)");
        return;
    };
    let s = setup(&cluster, &[("CDP_AUTH_STALE_IF_ERROR", "3s")]).await;

    cluster.down();
    let outage = Instant::now();
    let mut answered_for = Duration::ZERO;
    let refused = loop {
        let reply = introspect(&s).await;
        if reply.status == 200 {
            answered_for = outage.elapsed();
        } else {
            break reply;
        }
        assert!(
            outage.elapsed() < Duration::from_millis(4500),
            "the cached token still answers {:?} into the outage",
            outage.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    refused.expect_unavailable();
    assert!(
        answered_for >= Duration::from_millis(2500),
        "the cached token stopped answering after {answered_for:?}, before stale_if_error"
    );
    // Never verified again until the database answers.
    for _ in 0..5 {
        introspect(&s).await.expect_unavailable();
    }

    cluster.up();
    let back = Instant::now();
    while introspect(&s).await.status != 200 {
        assert!(back.elapsed() < Duration::from_secs(5), "no recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "stale_if_error=3s: the cached token answered for {answered_for:?}; checked again \
         {:?} after PostgreSQL was back",
        back.elapsed()
    );
}
