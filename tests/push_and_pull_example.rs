//! `examples/push_and_pull.rs` against a live server: CI runs the example on every backend.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::Deployment;

/// The example's binary, built by `cargo test` (which builds examples) or built here.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile folder");
    let binary = profile_dir.join("examples").join("push_and_pull");
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "--example", "push_and_pull"])
            .status()
            .expect("run cargo build --example push_and_pull");
        assert!(status.success(), "building the example failed");
    }
    binary
}

#[test]
fn the_example_pushes_with_a_tracker_and_pulls_with_a_profiles_instance() {
    let deployment = Deployment::new();
    deployment.tenant_without_oauth("acme", "uat");
    let tracker = deployment.instance("acme", "Orders feed", "dw-tracker");
    let profiles = deployment.instance("acme", "Profiles", "profiles-360");
    let server = deployment.serve();

    let output = Command::new(example_binary())
        .env("CDP_AUTH_URL", &server.base)
        .env("CDP_API_URL", &server.base)
        .env("CDP_TENANT_ID", &tracker.tenant_id)
        .env("CDP_TRACKER_USERNAME", &tracker.username)
        .env("CDP_TRACKER_PASSWORD", &tracker.password)
        .env("CDP_PROFILES_USERNAME", &profiles.username)
        .env("CDP_PROFILES_PASSWORD", &profiles.password)
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the example failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("pushed 2 records"), "{stdout}");
    assert!(stdout.contains("2 source records, 2 events"), "{stdout}");
    assert!(stdout.contains("holds 1 customers"), "{stdout}");

    // Without its settings it fails, saying which is missing.
    let output = Command::new(example_binary())
        .env_remove("CDP_AUTH_URL")
        .output()
        .expect("run the example");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("CDP_AUTH_URL"));
}
