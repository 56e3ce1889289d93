//! JWT access tokens (RFC 9068) over HTTP against the real binary: what `/oauth/token` issues
//! when a deployment or a tenant asks for JWTs, the published keys, a JWT's use and revocation
//! wherever an OAuth token is accepted, and each way a JWT that is not ours (or no longer
//! valid) is refused. Signing keys rotating (by command and by themselves) keep earlier tokens
//! valid while they live. A JOSE library outside Rust checks the same tokens in
//! tests/jwt_third_party.rs.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{Value, json};

use support::http::{
    Client, Reply, bearer, introspect, post_form, revoke, send, send_admin, send_typed,
};
use support::{Deployment, Instance, Server};

/// A fixed issuer, so that a server restarted on another port still names the same one.
const PUBLIC_URL: &str = "http://cdp-auth.test";

/// A deployment issuing JWTs by default, with tenant `acme` and a profiles-360 instance.
fn jwt_deployment(extra: &[(&str, &str)]) -> (Deployment, Instance) {
    let mut env = vec![
        ("CDP_AUTH_OAUTH_TOKEN_FORMAT", "jwt"),
        ("CDP_AUTH_PUBLIC_URL", PUBLIC_URL),
    ];
    env.extend_from_slice(extra);
    let deployment = Deployment::with_env(&env);
    deployment.tenant("acme", "prod");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    (deployment, reader)
}

/// `POST /oauth/token` (client_credentials) as `instance`; the access token.
async fn access_token(server: &Server, instance: &Instance) -> String {
    let reply = post_form(
        server,
        "/oauth/token",
        Client::basic(instance),
        &[("grant_type", "client_credentials")],
    )
    .await;
    reply.access_token()
}

/// The header and claims of a JWT, decoded without checking anything.
fn parts(token: &str) -> (Value, Value) {
    let pieces: Vec<&str> = token.split('.').collect();
    assert_eq!(pieces.len(), 3, "not a JWS compact serialization: {token}");
    let decode = |piece: &str| -> Value {
        let bytes = URL_SAFE_NO_PAD.decode(piece).expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    (decode(pieces[0]), decode(pieces[1]))
}

/// The `kid` a JWT names.
fn kid_of(token: &str) -> String {
    parts(token).0["kid"].as_str().expect("kid").to_owned()
}

/// `GET /.well-known/jwks.json`.
async fn jwks(server: &Server) -> Reply {
    send_typed(
        server.get("/.well-known/jwks.json"),
        "GET jwks",
        "application/jwk-set+json",
    )
    .await
}

/// The key ids the JWKS publishes.
async fn published_kids(server: &Server) -> Vec<String> {
    jwks(server).await.json["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

/// `GET /v2/{tenantId}/dw/a360/customers` with `token`: a read any profiles-360 token may do.
async fn pull(server: &Server, instance: &Instance, token: &str) -> Reply {
    let path = format!("/v2/{}/dw/a360/customers", instance.tenant_id);
    let request = server
        .request(Method::GET, &path)
        .header(AUTHORIZATION, bearer(token));
    support::http::send_json_or_hal(request, format!("GET {path}")).await
}

#[track_caller]
fn assert_refused(reply: &Reply) {
    reply.expect_error(401, "invalid_token");
}

#[tokio::test]
async fn client_credentials_in_a_jwt_deployment_returns_an_rfc_9068_access_token() {
    let (deployment, reader) = jwt_deployment(&[]);
    let server = deployment.serve();
    let before = support::unix_now();
    let reply = post_form(
        &server,
        "/oauth/token",
        Client::basic(&reader),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let json = reply.ok();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(
        json["expires_in"], 900,
        "jwt_lifetime defaults to 15 minutes"
    );
    assert_eq!(json["scope"], "dw:a360");
    let token = json["access_token"].as_str().unwrap();
    let (header, claims) = parts(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], PUBLIC_URL);
    assert_eq!(claims["aud"], PUBLIC_URL, "the API Host URL by default");
    assert_eq!(claims["sub"], reader.username.as_str());
    assert_eq!(claims["client_id"], reader.username.as_str());
    assert_eq!(claims["scope"], "dw:a360");
    assert_eq!(claims["tenant_id"], reader.tenant_id.as_str());
    let iat = claims["iat"].as_i64().unwrap();
    assert!(iat >= before - 1 && iat <= support::unix_now() + 1);
    assert_eq!(claims["nbf"], iat);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 900);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 22));

    let metadata = send(
        server.get("/.well-known/oauth-authorization-server"),
        "metadata",
    )
    .await;
    assert_eq!(
        metadata.ok()["jwks_uri"],
        format!("{PUBLIC_URL}/.well-known/jwks.json")
    );
    let keys = jwks(&server).await;
    assert_eq!(keys.header(CONTENT_TYPE), "application/jwk-set+json");
    assert_eq!(keys.header(CACHE_CONTROL), "public, max-age=300");
    let published = keys.json["keys"].as_array().unwrap();
    assert_eq!(published.len(), 1, "{keys:?}");
    let key = &published[0];
    assert_eq!(key["kid"], header["kid"]);
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"], &key["use"]),
        (
            &json!("EC"),
            &json!("P-256"),
            &json!("ES256"),
            &json!("sig")
        )
    );
    assert!(
        key.get("d").is_none(),
        "no private part is published: {key}"
    );
}

#[tokio::test]
async fn a_jwt_unlocks_the_api_and_introspects_until_it_is_revoked() {
    let (deployment, reader) = jwt_deployment(&[]);
    let server = deployment.serve();
    let token = access_token(&server, &reader).await;
    assert_eq!(pull(&server, &reader, &token).await.status, 200);
    let active = introspect(&server, Client::basic(&reader), &token).await;
    let json = active.ok();
    assert_eq!(json["active"], true);
    assert_eq!(json["client_id"], reader.username.as_str());
    assert_eq!(json["dialect"], "oauth");

    revoke(&server, Client::basic(&reader), &token).await.ok();
    assert_refused(&pull(&server, &reader, &token).await);
    let inactive = introspect(&server, Client::basic(&reader), &token).await;
    assert_eq!(inactive.ok(), &json!({"active": false}));
}

#[tokio::test]
async fn a_revoke_through_one_replica_reaches_the_other_within_a_second() {
    let (deployment, reader) = jwt_deployment(&[]);
    let one = deployment.serve();
    let other = deployment.serve();
    assert_eq!(
        published_kids(&one).await,
        published_kids(&other).await,
        "replicas publish the same keys"
    );
    let token = access_token(&one, &reader).await;
    assert_eq!(pull(&other, &reader, &token).await.status, 200);
    revoke(&one, Client::basic(&reader), &token).await.ok();
    support::within_a_second("the other replica refuses the revoked JWT", || async {
        pull(&other, &reader, &token).await.status == 401
    })
    .await;
}

#[tokio::test]
async fn the_token_format_is_chosen_per_tenant() {
    let deployment = Deployment::new();
    deployment.tenant("acme", "prod");
    let reader = deployment.instance("acme", "reader", "profiles-360");
    deployment.admin("root");
    let admin = deployment.admin_api_token("root");
    let server = deployment.serve();
    let opaque = access_token(&server, &reader).await;
    assert!(!opaque.contains('.'), "opaque by default: {opaque}");

    let shown = deployment.cli_json(&["tenant", "set-token-format", "acme", "jwt", "--json"]);
    assert_eq!(shown["token_format"], "jwt");
    // The running server hears of the change made by the CLI (another process).
    support::within_a_second("the next token is a JWT", || async {
        access_token(&server, &reader).await.contains('.')
    })
    .await;
    let jwt = access_token(&server, &reader).await;
    assert_eq!(parts(&jwt).0["typ"], "at+jwt");
    assert_eq!(pull(&server, &reader, &jwt).await.status, 200);
    assert_eq!(
        pull(&server, &reader, &opaque).await.status,
        200,
        "tokens already issued keep working"
    );

    let set = |format: Value| {
        let request = server
            .request(Method::PUT, "/admin/api/tenants/acme/token-format")
            .header(AUTHORIZATION, bearer(&admin))
            .json(&json!({ "format": format }));
        send_admin(request, format!("PUT token-format {format}"))
    };
    let back = set(json!("opaque")).await;
    assert_eq!(back.ok()["token_format"], "opaque");
    assert!(!access_token(&server, &reader).await.contains('.'));
    set(json!("paper"))
        .await
        .expect_error(400, "invalid_request");
    let default = set(Value::Null).await;
    assert_eq!(default.ok()["token_format"], Value::Null);
    let unknown = server
        .request(Method::PUT, "/admin/api/tenants/nobody/token-format")
        .header(AUTHORIZATION, bearer(&admin))
        .json(&json!({"format": "jwt"}));
    send_admin(unknown, "PUT token-format of an unknown tenant")
        .await
        .expect_error(404, "not_found");
    let audit = deployment.cli(&["tenant", "show", "acme"]);
    assert!(String::from_utf8_lossy(&audit.stdout).contains("token_format:  default"));
}

#[tokio::test]
async fn a_jwt_stops_working_at_its_exp() {
    let (deployment, reader) = jwt_deployment(&[("CDP_AUTH_JWT_LIFETIME", "2s")]);
    let server = deployment.serve();
    let token = access_token(&server, &reader).await;
    assert_eq!(pull(&server, &reader, &token).await.status, 200);
    let exp = parts(&token).1["exp"].as_i64().unwrap();
    while support::unix_now() < exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_refused(&pull(&server, &reader, &token).await);
}

#[tokio::test]
async fn a_jwt_for_another_audience_or_from_another_issuer_is_refused() {
    let (deployment, reader) = jwt_deployment(&[]);
    let issuer = deployment.serve();
    let token = access_token(&issuer, &reader).await;
    // Replicas of the same database, hence the same keys, configured as other services.
    let elsewhere = deployment.serve_with_env(&[("CDP_AUTH_JWT_AUDIENCE", "https://other.api")]);
    assert_refused(&pull(&elsewhere, &reader, &token).await);
    let other_issuer = deployment.serve_with_env(&[("CDP_AUTH_PUBLIC_URL", "http://other.test")]);
    assert_refused(&pull(&other_issuer, &reader, &token).await);
    assert_eq!(pull(&issuer, &reader, &token).await.status, 200);
}

#[tokio::test]
async fn a_jwt_that_is_not_exactly_as_signed_is_refused() {
    let (deployment, reader) = jwt_deployment(&[]);
    let server = deployment.serve();
    let token = access_token(&server, &reader).await;
    let pieces: Vec<&str> = token.split('.').collect();
    let (header, claims) = parts(&token);
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());

    let mut none = header.clone();
    none["alg"] = json!("none");
    let unsigned = format!("{}.{}.", encode(&none), pieces[1]);
    let mut hs256 = header.clone();
    hs256["alg"] = json!("HS256");
    let swapped_alg = format!("{}.{}.{}", encode(&hs256), pieces[1], pieces[2]);
    let mut plain = header.clone();
    plain["typ"] = json!("JWT");
    let wrong_typ = format!("{}.{}.{}", encode(&plain), pieces[1], pieces[2]);
    let mut wider = claims.clone();
    wider["scope"] = json!("dw:tracker");
    let tampered = format!("{}.{}.{}", pieces[0], encode(&wider), pieces[2]);
    let mut signature = URL_SAFE_NO_PAD.decode(pieces[2]).unwrap();
    signature[10] ^= 1;
    let bad_signature = format!(
        "{}.{}.{}",
        pieces[0],
        pieces[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    let jti = claims["jti"].as_str().unwrap().to_owned();
    for (what, forged) in [
        ("alg none", unsigned),
        ("alg HS256", swapped_alg),
        ("typ JWT", wrong_typ),
        ("claims changed", tampered),
        ("signature changed", bad_signature),
        ("the jti as an opaque token", jti),
    ] {
        let reply = pull(&server, &reader, &forged).await;
        assert_eq!(reply.status, 401, "{what}: {reply:?}");
        let inactive = introspect(&server, Client::basic(&reader), &forged).await;
        assert_eq!(inactive.ok(), &json!({"active": false}), "{what}");
    }
    assert_eq!(pull(&server, &reader, &token).await.status, 200);
}

#[tokio::test]
async fn a_jwt_of_another_deployment_is_refused() {
    let (ours, reader) = jwt_deployment(&[]);
    let (theirs, their_reader) = jwt_deployment(&[]);
    let server = ours.serve();
    let their_server = theirs.serve();
    let foreign = access_token(&their_server, &their_reader).await;
    assert_refused(&pull(&server, &reader, &foreign).await);
}

#[tokio::test]
async fn rotating_the_signing_key_keeps_earlier_tokens_valid() {
    let (deployment, reader) = jwt_deployment(&[]);
    let server = deployment.serve();
    let first = access_token(&server, &reader).await;
    let first_kid = kid_of(&first);

    let rotated = deployment.cli_json(&["key", "rotate-signing", "--json"]);
    let second_kid = rotated["kid"].as_str().expect("kid").to_owned();
    assert_ne!(second_kid, first_kid);
    let listed = deployment.cli_json(&["key", "signing-keys", "--json"]);
    let states: Vec<(String, bool, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["signing"].as_bool().unwrap(),
                k["published"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (first_kid.clone(), false, true),
            (second_kid.clone(), true, true)
        ]
    );

    // A server started now signs with the new key and still honours the old key's tokens.
    drop(server);
    let server = deployment.serve();
    let second = access_token(&server, &reader).await;
    assert_eq!(kid_of(&second), second_kid);
    assert_eq!(published_kids(&server).await, vec![first_kid, second_kid]);
    assert_eq!(pull(&server, &reader, &first).await.status, 200);
    assert_eq!(pull(&server, &reader, &second).await.status, 200);
}

#[tokio::test]
async fn keys_rotate_by_themselves_and_are_published_before_they_sign() {
    // A 4 s rotation publishes the next key 2 s ahead, checked every second.
    let (deployment, reader) = jwt_deployment(&[("CDP_AUTH_JWT_KEY_ROTATION", "4s")]);
    let server = deployment.serve();
    let first = access_token(&server, &reader).await;
    let first_kid = kid_of(&first);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen_ahead = false;
    let rotated = loop {
        assert!(Instant::now() < deadline, "no rotation within 15 s");
        let kids = published_kids(&server).await;
        let token = access_token(&server, &reader).await;
        let kid = kid_of(&token);
        if kid != first_kid {
            assert!(kids.contains(&first_kid), "the retired key stays published");
            break token;
        }
        if kids.len() == 2 {
            seen_ahead = true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(seen_ahead, "the next key was published before it signed");
    assert_eq!(pull(&server, &reader, &first).await.status, 200);
    assert_eq!(pull(&server, &reader, &rotated).await.status, 200);
}

#[tokio::test]
async fn eddsa_keys_by_config() {
    let (deployment, reader) = jwt_deployment(&[("CDP_AUTH_JWT_ALGORITHM", "EdDSA")]);
    let server = deployment.serve();
    let token = access_token(&server, &reader).await;
    assert_eq!(parts(&token).0["alg"], "EdDSA");
    let keys = jwks(&server).await;
    let key = &keys.json["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"))
    );
    assert_eq!(pull(&server, &reader, &token).await.status, 200);
}

#[test]
fn unknown_formats_and_algorithms_are_start_up_errors() {
    for (name, value) in [
        ("CDP_AUTH_OAUTH_TOKEN_FORMAT", "paseto"),
        ("CDP_AUTH_JWT_ALGORITHM", "RS256"),
        ("CDP_AUTH_JWT_LIFETIME", "0s"),
    ] {
        let deployment = Deployment::new();
        let output = deployment
            .serve_command()
            .env(name, value)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run serve");
        assert!(!output.status.success(), "{name}={value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let setting = name.trim_start_matches("CDP_AUTH_").to_lowercase();
        assert!(stderr.contains(&setting), "{name}: {stderr}");
    }
}
