//! A real third-party OAuth 2.0 client against the real server: tests/authlib_client.py drives
//! Python Authlib's `OAuth2Session` (client_credentials with client_secret_basic and
//! client_secret_post, introspection, revocation) against a live `cdp-auth serve`.
//!
//! Needs `python3` with Authlib: `pip install authlib requests`. Without it the tests fail
//! when `CI` is set and are skipped with a notice otherwise.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Deployment, Instance, Server};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/authlib_client.py");
const INSTALL: &str = "pip install authlib requests";
/// Far more than the script needs (a few seconds), so a hung client cannot hang the suite.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Whether Python Authlib can be imported (see [`support::python_modules_available`]).
fn authlib_available() -> bool {
    support::python_modules_available("authlib, requests", "Python Authlib", INSTALL)
}

/// Runs the script against `server` as `instance`; returns (success, stdout, stderr).
fn run_client(server: &Server, instance: &Instance, extra: &[&str]) -> (bool, String, String) {
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .args([&server.base, &instance.username, &instance.password])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    // Read both pipes on threads, so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for python3") {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    match status {
        Some(status) => (status.success(), stdout, stderr),
        None => (
            false,
            stdout,
            format!("{stderr}\n(killed after {TIMEOUT:?})"),
        ),
    }
}

/// A served deployment with a tenant and one instance of the given type.
fn setup(instance_type: &str) -> (Deployment, Server, Instance) {
    let deployment = Deployment::new();
    deployment.tenant_without_oauth("acme", "uat");
    let instance = deployment.instance("acme", "client", instance_type);
    let server = deployment.serve();
    (deployment, server, instance)
}

#[test]
fn authlib_fetches_introspects_and_revokes_tokens() {
    if !authlib_available() {
        return;
    }
    for instance_type in ["dw-tracker", "profiles-360"] {
        let (_deployment, server, instance) = setup(instance_type);
        let (ok, stdout, stderr) = run_client(&server, &instance, &[]);
        assert!(
            ok,
            "Authlib client failed against a {instance_type} instance:\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("authlib_client: all checks passed"),
            "{stdout}\n{stderr}"
        );
    }
}

/// The script is not vacuous: wrong credentials make it fail with a message.
#[test]
fn the_authlib_client_reports_failure() {
    if !authlib_available() {
        return;
    }
    let (_deployment, server, mut instance) = setup("dw-tracker");
    instance.password = "W".repeat(24);
    let (ok, stdout, stderr) = run_client(&server, &instance, &[]);
    assert!(!ok, "the client passed with a wrong password:\n{stdout}");
    assert!(
        stderr.contains("authlib_client: FAILED") && stderr.contains("invalid_client"),
        "{stdout}\n{stderr}"
    );
}
