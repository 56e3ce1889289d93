//! A full disk under a SQLite deployment: writes answer `503 temporarily_unavailable` with
//! `Retry-After`, `/readyz` says not ready, and checks of tokens already verified still answer;
//! once space is freed the next write succeeds without a restart, and no write that was
//! acknowledged is lost.
//!
//! The database lives on a 2 MiB tmpfs mounted for the test, which needs root (or
//! `unshare --user --map-root-user --mount`). Without it the test says why and passes, unless
//! `CDP_AUTH_REQUIRE_TMPFS=1` (CI sets it). It runs on SQLite in every pass of the suite.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

use support::http::{self, Client, Reply, a1user_token, bearer, send_maybe_unavailable};
use support::{Deployment, Instance, Server};

/// A tmpfs of `size` mounted at a fresh folder; unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts it, or says why it cannot.
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if output.status.success() {
            Ok(SmallDisk { dir })
        } else {
            Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}

/// Writes zeros to `path` until the disk is full; returns how many bytes it holds.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).expect("a filler file");
    let chunk = vec![0u8; 4096];
    let mut written = 0u64;
    while file.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    // Whatever part of the last chunk fitted.
    let _ = file.flush();
    written
}

/// `POST /v2/{tenantId}/dw/tracker` of one customer record.
async fn push(server: &Server, instance: &Instance, token: &str, number: &str) -> Reply {
    let record = json!({
        "SourceCustomerNumber": number,
        "Email": format!("{number}@example.com"),
        "Attributes": {"note": "x".repeat(600)},
    });
    let request = server
        .post(&format!(
            "/v2/{}/dw/tracker?scheme=a1user",
            instance.tenant_id
        ))
        .header(AUTHORIZATION, bearer(token))
        .header(CONTENT_TYPE, "application/json")
        .body(record.to_string());
    send_maybe_unavailable(request, format!("push {number}")).await
}

/// `POST /token?scheme=a1user&action=create`: a write of a new token.
async fn create_token(server: &Server, instance: &Instance) -> Reply {
    let request = server
        .post("/token?scheme=a1user&action=create")
        .header(AUTHORIZATION, http::basic(instance))
        .header(CONTENT_TYPE, "application/json");
    send_maybe_unavailable(request, "create").await
}

async fn readyz(server: &Server) -> Reply {
    send_maybe_unavailable(server.get("/readyz"), "readyz").await
}

/// Every source customer number the tenant holds, read with a profiles-360 token.
async fn stored_numbers(server: &Server, reader: &Instance, token: &str) -> Vec<String> {
    let path = format!("/v2/{}/dw/a360/customers?limit=1000", reader.tenant_id);
    let request = server.get(&path).header(AUTHORIZATION, bearer(token));
    let reply = http::send_json_or_hal(request, "pull").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let customers = reply.json["_embedded"]["customers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    customers
        .iter()
        .flat_map(|c| c["sourceRecords"].as_array().cloned().unwrap_or_default())
        .filter_map(|r: Value| r["sourceCustomerNumber"].as_str().map(str::to_owned))
        .collect()
}

/// A 2 MiB tmpfs, or `None` (the test is skipped, saying why) where none can be mounted;
/// with `CDP_AUTH_REQUIRE_TMPFS=1` a missing tmpfs fails the test instead.
fn small_disk() -> Option<SmallDisk> {
    match SmallDisk::mount("2m") {
        Ok(disk) => Some(disk),
        Err(why) if std::env::var("CDP_AUTH_REQUIRE_TMPFS").as_deref() == Ok("1") => {
            panic!("CDP_AUTH_REQUIRE_TMPFS=1 but no tmpfs: {why}")
        }
        Err(why) => {
            eprintln!("skipped: cannot mount a small tmpfs ({why}); run as root to test");
            None
        }
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_keeps_cached_checks_and_recovers_when_space_is_freed() {
    let Some(disk) = small_disk() else {
        return;
    };
    let database = disk.path().join("cdp-auth.db");
    let deployment = Deployment::on_database(&format!("sqlite://{}", database.display()), &[]);
    deployment.tenant_without_oauth("acme", "uat");
    let loader = deployment.instance("acme", "loader", "dw-tracker");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    let token = a1user_token(&server, &loader).await;
    let reader_token = a1user_token(&server, &reader).await;
    let introspect = || http::introspect(&server, Client::basic(&loader), &token);
    assert_eq!(
        introspect().await.ok()["active"],
        true,
        "cached from now on"
    );
    assert_eq!(readyz(&server).await.status, 200);

    // Fill the disk, then push until a write fails: SQLite may still find room in its
    // write-ahead log for a few.
    let filler: PathBuf = disk.path().join("filler");
    let filled = fill(&filler);
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for n in 0..400 {
        let number = format!("c{n}");
        let reply = push(&server, &loader, &token, &number).await;
        match reply.status {
            202 => acknowledged.push(number),
            _ => {
                refused = Some(reply);
                break;
            }
        }
    }
    let refused = refused.expect("a push fails on a full disk");
    refused.expect_unavailable();
    eprintln!(
        "filler of {filled} bytes; {} pushes acknowledged before the first refusal",
        acknowledged.len()
    );

    // Every write keeps failing as documented, while reads that need no write still work.
    push(&server, &loader, &token, "refused")
        .await
        .expect_unavailable();
    create_token(&server, &loader).await.expect_unavailable();
    let ready = readyz(&server).await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(ready.json["status"], "unavailable", "{ready:?}");
    for _ in 0..3 {
        assert_eq!(introspect().await.ok()["active"], true);
    }

    // Space freed: the very next write succeeds, with no restart.
    std::fs::remove_file(&filler).expect("remove the filler");
    let after = push(&server, &loader, &token, "after").await;
    assert_eq!(after.status, 202, "{after:?}");
    acknowledged.push("after".to_owned());
    assert_eq!(create_token(&server, &loader).await.status, 200);
    assert_eq!(readyz(&server).await.status, 200);

    // No acknowledged write was lost, and the refused ones were not half-done.
    let stored = stored_numbers(&server, &reader, &reader_token).await;
    for number in &acknowledged {
        assert!(stored.contains(number), "acknowledged push {number} lost");
    }
    assert!(!stored.contains(&"refused".to_owned()), "{stored:?}");
}

#[tokio::test]
async fn readyz_says_not_ready_while_the_disk_is_full_and_ready_once_space_is_freed() {
    let Some(disk) = small_disk() else {
        return;
    };
    let database = disk.path().join("cdp-auth.db");
    let deployment = Deployment::on_database(&format!("sqlite://{}", database.display()), &[]);
    let server = deployment.serve();
    assert_eq!(readyz(&server).await.status, 200);
    let filler = disk.path().join("filler");
    fill(&filler);
    // With no client writing, readiness alone notices the full disk, and its recovery.
    let mut not_ready = false;
    for _ in 0..50 {
        if readyz(&server).await.status == 503 {
            not_ready = true;
            break;
        }
    }
    assert!(not_ready, "/readyz stayed ready on a full disk");
    std::fs::remove_file(&filler).expect("remove the filler");
    assert_eq!(readyz(&server).await.status, 200);
}
