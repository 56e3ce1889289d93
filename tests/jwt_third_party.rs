//! JWT access tokens checked by a JOSE library written elsewhere: Python's PyJWT, in the
//! resource server of examples/jwt_resource_server.py (the one the docs show), fetching our
//! `/.well-known/jwks.json` and verifying each token offline — ES256 and EdDSA keys, across an
//! automatic signing-key rotation, and refusing what is not a valid access token.
//!
//! Needs `python3` with PyJWT and cryptography: `pip install "pyjwt[crypto]"`. Without them
//! the tests fail when `CI` is set and are skipped with a notice otherwise.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::AUTHORIZATION;

use support::http::{Client, a1user_token, bearer, post_form, revoke};
use support::{Deployment, Instance, Server};

const RESOURCE_SERVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/jwt_resource_server.py"
);
const INSTALL: &str = "pip install \"pyjwt[crypto]\"";

/// Whether PyJWT can be imported (see [`support::python_modules_available`]).
fn pyjwt_available() -> bool {
    support::python_modules_available("jwt, cryptography", "PyJWT", INSTALL)
}

/// The example resource server, trusting `issuer` for tokens meant for `audience`.
struct ResourceServer {
    base: String,
    child: Child,
    client: reqwest::Client,
}

impl ResourceServer {
    /// The server keeps the key set for `cache_seconds`.
    fn start(issuer: &str, audience: &str, cache_seconds: u32) -> Self {
        let mut child = Command::new("python3")
            .args([RESOURCE_SERVER, issuer, audience, "0"])
            .env("JWKS_CACHE_SECONDS", cache_seconds.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the resource server's first line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the resource server did not start: {line:?}"))
            .to_owned();
        ResourceServer {
            base,
            child,
            client: reqwest::Client::new(),
        }
    }

    /// `GET /` with `token` as Bearer: the status and the body.
    async fn call(&self, token: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}/", self.base))
            .header(AUTHORIZATION, bearer(token))
            .send()
            .await
            .expect("the resource server answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }
}

impl Drop for ResourceServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A served deployment issuing JWTs, with a profiles-360 instance.
fn setup(extra: &[(&str, &str)]) -> (Deployment, Server, Instance) {
    let mut env = vec![("CDP_AUTH_OAUTH_TOKEN_FORMAT", "jwt")];
    env.extend_from_slice(extra);
    let deployment = Deployment::with_env(&env);
    deployment.tenant("acme", "prod");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    (deployment, server, reader)
}

async fn access_token(server: &Server, instance: &Instance) -> String {
    post_form(
        server,
        "/oauth/token",
        Client::basic(instance),
        &[("grant_type", "client_credentials")],
    )
    .await
    .access_token()
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().expect("header");
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).unwrap();
    json["kid"].as_str().expect("kid").to_owned()
}

#[tokio::test]
async fn pyjwt_verifies_our_tokens_offline_across_a_key_rotation() {
    if !pyjwt_available() {
        return;
    }
    // The production timeline scaled down: keys rotate every 6 s (not 30 days) and are
    // published 3 s (not an hour) before they sign; the resource server caches the key set for
    // 1 s (not 300). It never meets a key it has not fetched already.
    let (_deployment, server, reader) = setup(&[("CDP_AUTH_JWT_KEY_ROTATION", "6s")]);
    let api = ResourceServer::start(&server.base, &server.base, 1);
    let first = access_token(&server, &reader).await;
    let (status, body) = api.call(&first).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&reader.username) && body.contains("of tenant 1 (dw:a360)"),
        "{body}"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let second = loop {
        assert!(Instant::now() < deadline, "no key rotation within 20 s");
        let token = access_token(&server, &reader).await;
        if kid_of(&token) != kid_of(&first) {
            break token;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let (status, body) = api.call(&second).await;
    assert_eq!(status, 200, "a token of the new key: {body}");
    let (status, body) = api.call(&first).await;
    assert_eq!(
        status, 200,
        "a token of the retired key, still live: {body}"
    );
}

#[tokio::test]
async fn pyjwt_verifies_eddsa_tokens_and_refuses_what_is_not_an_access_token_of_ours() {
    if !pyjwt_available() {
        return;
    }
    let (deployment, server, reader) = setup(&[("CDP_AUTH_JWT_ALGORITHM", "EdDSA")]);
    let api = ResourceServer::start(&server.base, &server.base, 300);
    let token = access_token(&server, &reader).await;
    assert_eq!(api.call(&token).await.0, 200);

    let elsewhere = ResourceServer::start(&server.base, "https://another.api", 300);
    let (status, body) = elsewhere.call(&token).await;
    assert_eq!(status, 401, "a token for another audience: {body}");
    let pieces: Vec<&str> = token.split('.').collect();
    let tampered = format!("{}.{}x.{}", pieces[0], pieces[1], pieces[2]);
    assert_eq!(api.call(&tampered).await.0, 401);
    let opaque = a1user_token(
        &server,
        &deployment.instance("acme", "loader", "dw-tracker"),
    )
    .await;
    assert_eq!(api.call(&opaque).await.0, 401);

    // Offline verification cannot see a revocation: the token stays valid there until `exp`,
    // which is why JWTs live 15 minutes. cdp-auth itself refuses it at once.
    revoke(&server, Client::basic(&reader), &token).await.ok();
    assert_eq!(api.call(&token).await.0, 200);
    let path = format!("/v2/{}/dw/a360/customers", reader.tenant_id);
    let ours = server
        .get(&path)
        .header(AUTHORIZATION, bearer(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(ours.status().as_u16(), 401);
}
