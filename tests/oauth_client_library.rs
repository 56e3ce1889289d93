//! A standard OAuth client library other than Authlib against the real server: oauth4webapi
//! (npm, pinned in `tests/oauth-client/package.json`), driven through
//! `tests/oauth-client/flows.mjs`. It validates our metadata its own way, form-encodes
//! `client_secret_basic` (a username's `_` arrives as `%5F`), and builds and signs
//! `private_key_jwt` assertions and DPoP proofs itself, with keys it generates (ES256, Ed25519,
//! RS256, PS256).
//!
//! Skipped with a notice when `node` or the npm modules are missing (`npm ci --prefix
//! tests/oauth-client`), unless `CDP_AUTH_REQUIRE_NODE_CLIENT=1`, as CI sets, when it fails.
//! Each scenario is one `node flows.mjs SCENARIO …` run: add one there, call it here.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use support::{Deployment, Instance, Server};

/// The folder holding `flows.mjs` and its `node_modules`.
fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oauth-client")
}

/// Whether node and oauth4webapi are there; when they are not, fails under
/// `CDP_AUTH_REQUIRE_NODE_CLIENT=1` and otherwise says why the test does nothing.
fn node_client_available() -> bool {
    let dir = client_dir();
    let why = match Command::new("node").arg("--version").output() {
        Err(e) => format!("node did not run: {e}"),
        Ok(_) if !dir.join("node_modules/oauth4webapi").is_dir() => {
            "oauth4webapi is not installed".to_owned()
        }
        Ok(output) if output.status.success() => return true,
        Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    };
    let install = "install node ≥ 20 and run `npm ci --prefix tests/oauth-client`";
    assert!(
        std::env::var("CDP_AUTH_REQUIRE_NODE_CLIENT").as_deref() != Ok("1"),
        "CDP_AUTH_REQUIRE_NODE_CLIENT=1 but the oauth4webapi client cannot run: {install} ({why})"
    );
    eprintln!("notice: skipping the oauth4webapi tests: {install} to run them ({why})");
    false
}

/// One run of `flows.mjs`: what it printed, and whether it succeeded.
struct Flow {
    ok: bool,
    json: Value,
}

/// Runs `scenario` against `server` with `args`, the client secret (if any) in the
/// environment, never on the command line.
fn flow(scenario: &str, server: &Server, args: &[&str], secret: Option<&str>) -> Flow {
    let mut command = Command::new("node");
    command
        .current_dir(client_dir())
        .args(["flows.mjs", scenario, "--server", &server.base])
        .args(args)
        .env_remove("OAUTH_CLIENT_SECRET");
    if let Some(secret) = secret {
        command.env("OAUTH_CLIENT_SECRET", secret);
    }
    let output = command.output().expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "flows.mjs {scenario} printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(
        output.status.success(),
        json["ok"] == true,
        "exit status and ok disagree: {json}"
    );
    Flow {
        ok: output.status.success(),
        json,
    }
}

impl Flow {
    #[track_caller]
    fn expect_ok(self, what: &str) -> Value {
        assert!(self.ok, "{what} failed: {}", self.json);
        self.json
    }
}

/// A client's way in: the secret (client_secret_basic) or a private key file (private_key_jwt).
enum Auth<'a> {
    Secret(&'a str),
    Key(&'a Path),
}

fn as_client<'a>(instance: &'a Instance, auth: &'a Auth<'a>) -> (Vec<String>, Option<&'a str>) {
    let mut args = vec!["--client-id".to_owned(), instance.username.clone()];
    match auth {
        Auth::Secret(secret) => (args, Some(secret)),
        Auth::Key(path) => {
            args.push("--key".to_owned());
            args.push(path.display().to_string());
            (args, None)
        }
    }
}

fn run_as(
    scenario: &str,
    server: &Server,
    instance: &Instance,
    auth: &Auth<'_>,
    extra: &[&str],
) -> Flow {
    let (mut args, secret) = as_client(instance, auth);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    flow(scenario, server, &args, secret)
}

#[test]
fn oauth4webapi_discovers_authenticates_both_ways_introspects_and_revokes() {
    if !node_client_available() {
        return;
    }
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let a360 = deployment.instance("acme", "reader", "profiles-360");
    assert!(tracker.username.contains('_'));
    let server = deployment.serve();

    // Discovery: oauth4webapi's own metadata validation accepts ours.
    let metadata = flow("discovery", &server, &[], None).expect_ok("discovery")["metadata"].clone();
    assert_eq!(metadata["issuer"], server.base.as_str());
    for method in ["client_secret_basic", "private_key_jwt"] {
        assert!(
            metadata["token_endpoint_auth_methods_supported"]
                .as_array()
                .is_some_and(|m| m.contains(&json!(method))),
            "{metadata}"
        );
    }

    // client_secret_basic: the library form-encodes the username's `_` before Basic.
    let secret = Auth::Secret(&tracker.password);
    let granted = run_as("client_credentials", &server, &tracker, &secret, &[]).expect_ok("basic");
    assert_eq!(granted["token"]["scope"], "dw:tracker", "{granted}");

    // private_key_jwt with a key of each algorithm, generated by node; their public JWKs
    // registered together with the CLI.
    let keys_dir = deployment.dir().join("client-keys");
    std::fs::create_dir_all(&keys_dir).expect("key folder");
    let mut public = Vec::new();
    let mut private = Vec::new();
    for alg in ["ES256", "EdDSA", "RS256", "PS256"] {
        let file = keys_dir.join(format!("{alg}.json"));
        let out = file.display().to_string();
        let made =
            flow("keygen", &server, &["--alg", alg, "--out", &out], None).expect_ok("keygen");
        public.push(made["public"].clone());
        private.push((alg, file));
    }
    let jwks = keys_dir.join("public.jwks");
    std::fs::write(&jwks, json!({"keys": public}).to_string()).expect("write JWK Set");
    let registered = deployment.cli_json(&[
        "instance",
        "set-jwks",
        "--instance",
        &tracker.username,
        "--jwks",
        &jwks.display().to_string(),
        "--json",
    ]);
    assert_eq!(
        registered["keys"].as_array().map(Vec::len),
        Some(4),
        "{registered}"
    );

    let mut tokens = Vec::new();
    for (alg, file) in &private {
        let key = Auth::Key(file);
        let granted = run_as("client_credentials", &server, &tracker, &key, &[])
            .expect_ok(&format!("private_key_jwt {alg}"));
        assert_eq!(granted["token"]["scope"], "dw:tracker", "{alg}: {granted}");
        tokens.push(
            granted["token"]["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
        );
    }

    // Introspection and revocation with private_key_jwt.
    let es256 = Auth::Key(&private[0].1);
    let eddsa = Auth::Key(&private[1].1);
    let found = run_as(
        "introspect",
        &server,
        &tracker,
        &es256,
        &["--token", &tokens[2]],
    )
    .expect_ok("introspect");
    assert_eq!(found["introspection"]["active"], true, "{found}");
    assert_eq!(
        found["introspection"]["client_id"],
        tracker.username.as_str()
    );
    run_as(
        "revoke",
        &server,
        &tracker,
        &eddsa,
        &["--token", &tokens[2]],
    )
    .expect_ok("revoke");
    let gone = run_as(
        "introspect",
        &server,
        &tracker,
        &es256,
        &["--token", &tokens[2]],
    )
    .expect_ok("introspect after revoke");
    assert_eq!(gone["introspection"]["active"], false, "{gone}");

    // Another instance cannot use these keys: the library sees invalid_client.
    let refused = run_as("client_credentials", &server, &a360, &es256, &[]);
    assert!(!refused.ok, "{}", refused.json);
    assert_eq!(refused.json["error"], "invalid_client", "{}", refused.json);
}

#[test]
fn oauth4webapi_binds_tokens_with_dpop_and_reads_the_cdp_api_with_its_own_proofs() {
    if !node_client_available() {
        return;
    }
    let deployment = Deployment::new();
    deployment.tenant("acme", "uat");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    let resource = server.url(&format!("/v2/{}/dw/a360/customers", reader.tenant_id));
    let secret = Auth::Secret(&reader.password);
    // Each algorithm the metadata offers, with a key the library makes; EdDSA proofs come
    // under the RFC 9864 name the library sends.
    for (alg, proof_alg) in [
        ("ES256", "ES256"),
        ("EdDSA", "Ed25519"),
        ("RS256", "RS256"),
        ("PS256", "PS256"),
    ] {
        let seen = run_as(
            "dpop",
            &server,
            &reader,
            &secret,
            &["--alg", alg, "--resource", &resource],
        )
        .expect_ok(&format!("DPoP {alg}"));
        assert_eq!(seen["token_type"], "dpop", "{alg}: {seen}");
        assert_eq!(seen["proof_alg"], proof_alg, "{alg}: {seen}");
        assert_eq!(seen["bound"]["status"], 200, "{alg}: {seen}");
        assert!(seen["bound"]["body"]["count"].is_number(), "{alg}: {seen}");
        assert_eq!(seen["replayed"]["status"], 401, "{alg}: {seen}");
        assert_eq!(
            seen["replayed"]["body"]["error"], "invalid_dpop_proof",
            "{alg}: {seen}"
        );
        assert!(
            seen["replayed"]["challenge"]
                .as_str()
                .is_some_and(|c| c.contains("DPoP")),
            "{alg}: {seen}"
        );
        assert_eq!(seen["plain_bearer"]["status"], 401, "{alg}: {seen}");
        assert_eq!(
            seen["plain_bearer"]["body"]["error"], "invalid_token",
            "{alg}: {seen}"
        );
    }
}
