//! DPoP (RFC 9449) over HTTP against the real binary: a proof at `/oauth/token` binds the
//! token to the proof's key (`token_type` `DPoP`, `cnf.jkt` in introspection and in a JWT);
//! the bound token then works on the CDP API and `/forward-auth` only as `Authorization: DPoP`
//! with a fresh proof of that key for the request; every bad proof is refused (400 at the
//! token endpoint, 401 with a DPoP challenge at a resource), a replay too, across replicas as
//! well. The proofs are made here with `jsonwebtoken`; tests/oauth_client_library.rs has a
//! standard client library make its own.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use support::http::{
    Client, Reply, bearer, introspect, post_form, send, send_json_or_hal, send_maybe_unavailable,
};
use support::{Deployment, Instance, Server};

/// A fixed public URL, so that two servers on other ports are one deployment to a client.
const PUBLIC_URL: &str = "http://cdp-auth.test";

/// A client's DPoP key (P-256) and the proofs it signs.
struct DpopKey {
    encoding: EncodingKey,
    jwk: Value,
}

impl DpopKey {
    fn new(seed: u8) -> Self {
        let secret = p256::SecretKey::from_slice(&[seed; 32]).expect("a P-256 scalar");
        let der = secret.to_pkcs8_der().expect("PKCS #8");
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let public = Jwk::from_encoding_key(&encoding, Algorithm::ES256).expect("a JWK");
        let mut jwk = serde_json::to_value(&public).expect("JSON");
        let members = jwk.as_object_mut().expect("an object");
        members.retain(|name, _| ["kty", "crv", "x", "y"].contains(&name.as_str()));
        DpopKey { encoding, jwk }
    }

    /// The JWK SHA-256 thumbprint a token bound to this key carries.
    fn thumbprint(&self) -> String {
        let jwk: Jwk = serde_json::from_value(self.jwk.clone()).expect("a JWK");
        jwk.thumbprint(ThumbprintHash::SHA256)
            .expect("a thumbprint")
    }

    /// A proof with these claims and the header `edit` leaves.
    fn sign(&self, claims: &Value, edit: impl FnOnce(&mut Header)) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).expect("a JWK"));
        edit(&mut header);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signs")
    }

    /// A fresh proof for `method url`, with `ath` when a token goes with it.
    fn proof(&self, method: &str, url: &str, token: Option<&str>) -> String {
        self.sign(&claims(method, url, token), |_| {})
    }
}

/// Fresh proof claims: a new `jti`, `iat` now.
fn claims(method: &str, url: &str, token: Option<&str>) -> Value {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let jti = format!(
        "{}-{}-{}",
        std::process::id(),
        support::unix_now(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut claims = json!({"jti": jti, "htm": method, "htu": url, "iat": support::unix_now()});
    if let Some(token) = token {
        claims["ath"] = URL_SAFE_NO_PAD
            .encode(Sha256::digest(token.as_bytes()))
            .into();
    }
    claims
}

/// A served deployment with tenant `acme` (tokens in `format`) and a 360 Profiles instance.
struct Setup {
    /// Kept so that its folder (and database) outlive the server.
    _deployment: Deployment,
    server: Server,
    reader: Instance,
}

fn setup(format: &str) -> Setup {
    let deployment = Deployment::with_env(&[("CDP_AUTH_PUBLIC_URL", PUBLIC_URL)]);
    deployment.tenant("acme", "uat");
    deployment.cli_json(&["tenant", "set-token-format", "acme", format, "--json"]);
    let reader = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    Setup {
        _deployment: deployment,
        server,
        reader,
    }
}

/// The token endpoint's public URL, as proofs name it.
fn token_url() -> String {
    format!("{PUBLIC_URL}/oauth/token")
}

/// The 360 pull every test here makes with its token.
fn pull_path(instance: &Instance) -> String {
    format!("/v2/{}/dw/a360/customers", instance.tenant_id)
}

/// `POST /oauth/token` as `instance`, with these `DPoP` header values.
async fn token_request(server: &Server, instance: &Instance, proofs: &[&str]) -> Reply {
    let mut request = server
        .post("/oauth/token")
        .basic_auth(&instance.username, Some(&instance.password))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials");
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    send(request, "POST /oauth/token with DPoP").await
}

/// A token bound to `key`.
async fn bound_token(server: &Server, instance: &Instance, key: &DpopKey) -> String {
    let reply = token_request(server, instance, &[&key.proof("POST", &token_url(), None)]).await;
    assert_eq!(reply.ok()["token_type"], "DPoP", "{reply:?}");
    reply.access_token()
}

/// The pull with `authorization` and these `DPoP` header values.
async fn pull(server: &Server, instance: &Instance, authorization: &str, proofs: &[&str]) -> Reply {
    let path = pull_path(instance);
    let mut request = server
        .request(Method::GET, &path)
        .header(AUTHORIZATION, authorization);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    send_json_or_hal(request, format!("GET {path}")).await
}

/// The pull's public URL, as a proof for it names it.
fn pull_url(instance: &Instance) -> String {
    format!("{PUBLIC_URL}{}", pull_path(instance))
}

#[track_caller]
fn assert_dpop_challenge(reply: &Reply, error: &str) {
    let challenges = reply.challenges();
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("DPoP ") && c.contains(&format!("error=\"{error}\""))),
        "no DPoP {error} challenge: {reply:?}"
    );
}

#[tokio::test]
async fn a_proof_at_the_token_endpoint_binds_the_token_to_its_key() {
    let s = setup("opaque");
    let key = DpopKey::new(3);
    let reply = token_request(
        &s.server,
        &s.reader,
        &[&key.proof("POST", &token_url(), None)],
    )
    .await;
    let json = reply.ok();
    assert_eq!(json["token_type"], "DPoP");
    let token = reply.access_token();
    let seen = introspect(&s.server, Client::basic(&s.reader), &token).await;
    assert_eq!(seen.ok()["active"], true);
    assert_eq!(seen.json["token_type"], "DPoP");
    assert_eq!(seen.json["cnf"]["jkt"], key.thumbprint());

    // Without a proof the same client gets a plain Bearer token, unbound.
    let plain = token_request(&s.server, &s.reader, &[]).await;
    assert_eq!(plain.ok()["token_type"], "Bearer");
    let seen = introspect(&s.server, Client::basic(&s.reader), &plain.access_token()).await;
    assert_eq!(seen.ok()["token_type"], "Bearer");
    assert!(seen.json.get("cnf").is_none(), "{seen:?}");
}

#[tokio::test]
async fn a_bound_token_works_on_the_cdp_api_only_with_a_fresh_proof_of_its_key() {
    let s = setup("opaque");
    let key = DpopKey::new(4);
    let token = bound_token(&s.server, &s.reader, &key).await;
    let dpop = format!("DPoP {token}");
    let url = pull_url(&s.reader);

    let proof = key.proof("GET", &url, Some(&token));
    pull(&s.server, &s.reader, &dpop, &[&proof]).await.ok();

    // The same proof again is a replay.
    let again = pull(&s.server, &s.reader, &dpop, &[&proof]).await;
    again.expect_error(401, "invalid_dpop_proof");
    assert_dpop_challenge(&again, "invalid_dpop_proof");

    // As a Bearer token it is refused, with or without a proof.
    for proofs in [vec![], vec![key.proof("GET", &url, Some(&token))]] {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let reply = pull(&s.server, &s.reader, &bearer(&token), &proofs).await;
        reply.expect_error(401, "invalid_token");
        assert_dpop_challenge(&reply, "invalid_token");
    }

    // Each bad proof is a 401 invalid_dpop_proof.
    let other = DpopKey::new(5);
    let stale = {
        let mut c = claims("GET", &url, Some(&token));
        c["iat"] = (support::unix_now() - 120).into();
        key.sign(&c, |_| {})
    };
    let early = {
        let mut c = claims("GET", &url, Some(&token));
        c["iat"] = (support::unix_now() + 120).into();
        key.sign(&c, |_| {})
    };
    let no_ath = {
        let mut c = claims("GET", &url, Some(&token));
        c.as_object_mut().unwrap().remove("ath");
        key.sign(&c, |_| {})
    };
    let bad = [
        ("no proof", None),
        ("another key", Some(other.proof("GET", &url, Some(&token)))),
        (
            "another method",
            Some(key.proof("POST", &url, Some(&token))),
        ),
        (
            "another URL",
            Some(key.proof("GET", &format!("{url}/x"), Some(&token))),
        ),
        (
            "another token's ath",
            Some(key.proof("GET", &url, Some("another-token"))),
        ),
        ("no ath", Some(no_ath)),
        ("iat two minutes ago", Some(stale)),
        ("iat two minutes ahead", Some(early)),
        (
            "wrong typ",
            Some(key.sign(&claims("GET", &url, Some(&token)), |h| {
                h.typ = Some("JWT".into())
            })),
        ),
        ("not a JWT", Some("abc.def.ghi".to_owned())),
    ];
    for (what, proof) in bad {
        let proofs: Vec<&str> = proof.iter().map(String::as_str).collect();
        let reply = pull(&s.server, &s.reader, &dpop, &proofs).await;
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
        assert_eq!(reply.error(), "invalid_dpop_proof", "{what}: {reply:?}");
        assert_dpop_challenge(&reply, "invalid_dpop_proof");
    }
    // Two proofs at once are malformed.
    let two = [
        key.proof("GET", &url, Some(&token)),
        key.proof("GET", &url, Some(&token)),
    ];
    pull(&s.server, &s.reader, &dpop, &[&two[0], &two[1]])
        .await
        .expect_error(400, "invalid_request");

    // The query plays no part in htu; a fresh proof still works after all the refusals.
    let with_query = format!("{}?page=1", pull_path(&s.reader));
    let request = s
        .server
        .request(Method::GET, &with_query)
        .header(AUTHORIZATION, &dpop)
        .header("DPoP", key.proof("GET", &url, Some(&token)));
    send_json_or_hal(request, "pull with a query").await.ok();
}

#[tokio::test]
async fn bad_proofs_at_the_token_endpoint_are_400_invalid_dpop_proof_and_bind_nothing() {
    let s = setup("opaque");
    let key = DpopKey::new(6);
    let url = token_url();
    let private_jwk = {
        // The proof's header carries the private scalar too.
        let good = key.proof("POST", &url, None);
        let (head, rest) = good.split_once('.').unwrap();
        let mut header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap();
        header["jwk"]["d"] = URL_SAFE_NO_PAD.encode([6u8; 32]).into();
        format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
        )
    };
    let unsigned = {
        let header = URL_SAFE_NO_PAD
            .encode(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}).to_string());
        let body = URL_SAFE_NO_PAD.encode(claims("POST", &url, None).to_string());
        format!("{header}.{body}.")
    };
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(key.jwk.clone()).unwrap());
        jsonwebtoken::encode(
            &header,
            &claims("POST", &url, None),
            &EncodingKey::from_secret(b"guess").unwrap(),
        )
        .unwrap()
    };
    let replayed = key.proof("POST", &url, None);
    token_request(&s.server, &s.reader, &[&replayed]).await.ok();
    let bad = [
        ("a replayed proof", replayed.clone()),
        (
            "another URL",
            key.proof("POST", &format!("{PUBLIC_URL}/oauth/revoke"), None),
        ),
        ("another method", key.proof("GET", &url, None)),
        ("a private key in the header", private_jwk),
        ("alg none", unsigned),
        ("HS256", hs256),
        (
            "no jwk",
            key.sign(&claims("POST", &url, None), |h| h.jwk = None),
        ),
        ("garbage", "not-a-proof".to_owned()),
    ];
    for (what, proof) in bad {
        let reply = token_request(&s.server, &s.reader, &[&proof]).await;
        assert_eq!(reply.status, 400, "{what}: {reply:?}");
        assert_eq!(reply.error(), "invalid_dpop_proof", "{what}: {reply:?}");
        assert!(
            !reply.json.to_string().contains(&s.reader.password),
            "{what}: the answer shows the password"
        );
    }
    let two = token_request(
        &s.server,
        &s.reader,
        &[
            &key.proof("POST", &url, None),
            &key.proof("POST", &url, None),
        ],
    )
    .await;
    two.expect_error(400, "invalid_request");
    // Wrong client credentials with a good proof: the usual 401, the proof unspent matters
    // not (it is checked after the client).
    let wrong = s
        .server
        .post("/oauth/token")
        .basic_auth(&s.reader.username, Some("wrong"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("DPoP", key.proof("POST", &url, None))
        .body("grant_type=client_credentials");
    send(wrong, "wrong password with a proof")
        .await
        .expect_error(401, "invalid_client");
}

#[tokio::test]
async fn an_unbound_token_sent_as_dpop_is_refused() {
    let s = setup("opaque");
    let plain = token_request(&s.server, &s.reader, &[])
        .await
        .access_token();
    let key = DpopKey::new(7);
    let proof = key.proof("GET", &pull_url(&s.reader), Some(&plain));
    let reply = pull(&s.server, &s.reader, &format!("DPoP {plain}"), &[&proof]).await;
    reply.expect_error(401, "invalid_token");
    assert_dpop_challenge(&reply, "invalid_token");
    // As Bearer it works, and a 401 without a token offers both schemes.
    pull(&s.server, &s.reader, &bearer(&plain), &[]).await.ok();
    let none = send_json_or_hal(
        s.server.request(Method::GET, &pull_path(&s.reader)),
        "pull without a token",
    )
    .await;
    let schemes: Vec<String> = none
        .challenges()
        .iter()
        .map(|c| c.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(schemes, ["Bearer", "DPoP"], "{none:?}");
    assert!(
        none.header(WWW_AUTHENTICATE).starts_with("Bearer "),
        "{none:?}"
    );
}

#[tokio::test]
async fn a_jwt_access_token_carries_cnf_and_is_bound_the_same_way() {
    let s = setup("jwt");
    let key = DpopKey::new(8);
    let token = bound_token(&s.server, &s.reader, &key).await;
    let claims_part = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims_part).unwrap()).unwrap();
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint(), "{claims}");
    let url = pull_url(&s.reader);
    let dpop = format!("DPoP {token}");
    pull(
        &s.server,
        &s.reader,
        &dpop,
        &[&key.proof("GET", &url, Some(&token))],
    )
    .await
    .ok();
    pull(&s.server, &s.reader, &bearer(&token), &[])
        .await
        .expect_error(401, "invalid_token");
    let seen = introspect(&s.server, Client::basic(&s.reader), &token).await;
    assert_eq!(seen.ok()["cnf"]["jkt"], key.thumbprint());
    // Revoked, it is refused even with a good proof.
    post_form(
        &s.server,
        "/oauth/revoke",
        Client::basic(&s.reader),
        &[("token", &token)],
    )
    .await
    .ok();
    let reply = pull(
        &s.server,
        &s.reader,
        &dpop,
        &[&key.proof("GET", &url, Some(&token))],
    )
    .await;
    reply.expect_error(401, "invalid_token");
}

/// A configuration file with one forward-auth rule for the 360 API, in a folder of its own.
fn rules_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("cdp-auth.toml");
    std::fs::write(
        &path,
        "[[forward_auth.rules]]\npath = \"/v2/{tenantId}/dw/a360/**\"\nmethods = [\"GET\"]\nscopes = [\"dw:a360\"]\n",
    )
    .expect("write the configuration");
    (dir, path)
}

#[tokio::test]
async fn forward_auth_checks_the_proof_against_the_original_request() {
    let (_config, path) = rules_file();
    let deployment = Deployment::with_env(&[
        ("CDP_AUTH_PUBLIC_URL", PUBLIC_URL),
        ("CDP_AUTH_CONFIG", &path.display().to_string()),
    ]);
    deployment.tenant("acme", "uat");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    let key = DpopKey::new(9);
    let token = bound_token(&server, &reader, &key).await;
    let original = format!("/v2/{}/dw/a360/customers/42?expand=all", reader.tenant_id);
    let gateway_url = format!(
        "https://profiles.example.com/v2/{}/dw/a360/customers/42",
        reader.tenant_id
    );
    let ask = |proof: Option<String>, origin: bool| {
        let mut request = server
            .get("/forward-auth")
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", &original)
            .header(AUTHORIZATION, format!("DPoP {token}"));
        if origin {
            request = request
                .header("X-Forwarded-Proto", "https")
                .header("X-Forwarded-Host", "profiles.example.com");
        }
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        // An allowed answer has an empty body: read it as it is.
        send_maybe_unavailable(request, "forward-auth with DPoP")
    };
    // Traefik and Caddy name the original origin: the proof names the URL the client called.
    let allowed = ask(Some(key.proof("GET", &gateway_url, Some(&token))), true).await;
    assert_eq!(allowed.status, 200, "{allowed:?}");
    assert_eq!(
        allowed.header(reqwest::header::HeaderName::from_static("x-auth-client-id")),
        reader.username
    );
    // Without the origin headers, the proof names the API Host URL.
    let api_url = format!("{PUBLIC_URL}{}", original.split('?').next().unwrap());
    assert_eq!(
        ask(Some(key.proof("GET", &api_url, Some(&token))), false)
            .await
            .status,
        200
    );
    // A proof for /forward-auth itself, for another method, or none: refused.
    for (what, proof) in [
        (
            "the endpoint's own URL",
            Some(key.proof("GET", &format!("{PUBLIC_URL}/forward-auth"), Some(&token))),
        ),
        (
            "another method",
            Some(key.proof("POST", &gateway_url, Some(&token))),
        ),
        ("none", None),
    ] {
        let reply = ask(proof, true).await;
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
        assert_eq!(reply.error(), "invalid_dpop_proof", "{what}: {reply:?}");
    }
    // As a Bearer token, the bound token is refused there too.
    let bearer_use = server
        .get("/forward-auth")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Uri", &original)
        .header(AUTHORIZATION, bearer(&token));
    send(bearer_use, "forward-auth as Bearer")
        .await
        .expect_error(401, "invalid_token");
}

#[tokio::test]
async fn a_proof_used_at_one_replica_is_refused_at_the_other() {
    // Two servers on one database (PostgreSQL when the suite runs on it; else one SQLite
    // file): a proof one of them accepted is a replay to the other.
    let deployment = Deployment::with_env(&[("CDP_AUTH_PUBLIC_URL", PUBLIC_URL)]);
    deployment.tenant("acme", "uat");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    let a = deployment.serve();
    let b = deployment.serve();
    let key = DpopKey::new(10);
    let token_proof = key.proof("POST", &token_url(), None);
    let token = token_request(&a, &reader, &[&token_proof])
        .await
        .access_token();
    token_request(&b, &reader, &[&token_proof])
        .await
        .expect_error(400, "invalid_dpop_proof");
    let proof = key.proof("GET", &pull_url(&reader), Some(&token));
    let dpop = format!("DPoP {token}");
    pull(&b, &reader, &dpop, &[&proof]).await.ok();
    pull(&a, &reader, &dpop, &[&proof])
        .await
        .expect_error(401, "invalid_dpop_proof");
    // A fresh proof works on either.
    pull(
        &a,
        &reader,
        &dpop,
        &[&key.proof("GET", &pull_url(&reader), Some(&token))],
    )
    .await
    .ok();
}
