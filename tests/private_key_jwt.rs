//! `private_key_jwt` client authentication (RFC 7523 §2.2, RFC 7521) over HTTP, against the real
//! binary: registering keys (CLI, admin API), authenticating at `/oauth/token`,
//! `/oauth/introspect` and `/oauth/revoke` with assertions this test signs with `jsonwebtoken`,
//! and every assertion a strict server must refuse, answered exactly like a wrong password.
//! On PostgreSQL, a `jti` accepted by one replica is refused by another.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use support::http::{Client, Reply, introspect, post_form, revoke, send, send_admin};
use support::{Deployment, Instance, Server, postgres_server, unix_now};

// ---------------------------------------------------------------------------------------------
// Keys and assertions

/// A signing key made from fixed bytes (distinct per `seed`), with its public JWK.
struct TestKey {
    alg: Algorithm,
    encoding: EncodingKey,
    /// The public JWK, with `kid` set.
    public: Value,
    kid: String,
}

impl TestKey {
    fn es256(seed: u8, kid: &str) -> Self {
        use p256::pkcs8::EncodePrivateKey;
        let secret = p256::SecretKey::from_slice(&[seed; 32]).expect("P-256 scalar");
        let der = secret.to_pkcs8_der().expect("PKCS #8").as_bytes().to_vec();
        Self::new(Algorithm::ES256, EncodingKey::from_ec_der(&der), kid, None)
    }

    fn ed25519(seed: u8, kid: &str) -> Self {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let signing = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let der = signing.to_pkcs8_der().expect("PKCS #8").as_bytes().to_vec();
        // `Jwk::from_encoding_key` reads only the 48-byte PKCS #8 v1 form; this is v2.
        let public = json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
        });
        Self::new(
            Algorithm::EdDSA,
            EncodingKey::from_ed_der(&der),
            kid,
            Some(public),
        )
    }

    fn new(alg: Algorithm, encoding: EncodingKey, kid: &str, public: Option<Value>) -> Self {
        let mut public = public.unwrap_or_else(|| {
            let jwk = Jwk::from_encoding_key(&encoding, alg).expect("public JWK");
            serde_json::to_value(&jwk).expect("JWK as JSON")
        });
        public["kid"] = json!(kid);
        if let Some(fields) = public.as_object_mut() {
            fields.remove("alg");
        }
        TestKey {
            alg,
            encoding,
            public,
            kid: kid.to_owned(),
        }
    }

    /// A JWK Set of these keys' public halves.
    fn set(keys: &[&TestKey]) -> String {
        json!({"keys": keys.iter().map(|k| k.public.clone()).collect::<Vec<_>>()}).to_string()
    }
}

/// Claims of a good assertion for `client` at `audience`, with a fresh `jti`.
fn claims(client: &str, audience: &str) -> Value {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let now = unix_now();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "iss": client, "sub": client, "aud": audience,
        "iat": now, "exp": now + 60,
        "jti": format!("{}-{n}-{}", std::process::id(), now),
    })
}

/// Signs `claims` with `key` (its `kid` in the header).
fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    header.typ = None;
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
}

/// A JWS with a header and claims as given and a signature of `signature` bytes: for headers
/// `jsonwebtoken` will not sign (`alg: none`, RFC 9864's `Ed25519` name).
fn compact(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

/// Signs with an Ed25519 key under the header `alg: "Ed25519"` (RFC 9864), as current
/// clients do: the signature is Ed25519's over the header and claims as sent.
fn sign_ed25519_named(seed: u8, kid: &str, claims: &Value) -> String {
    use ed25519_dalek::Signer;
    let signing = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let header = json!({"alg": "Ed25519", "kid": kid});
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signing.sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Setting up

/// A served deployment with a dw-tracker instance and a profiles-360 instance in tenant `acme`.
struct Setup {
    deployment: Deployment,
    server: Server,
    tracker: Instance,
    a360: Instance,
    issuer: String,
}

fn setup_with(env: &[(&str, &str)]) -> Setup {
    let deployment = Deployment::with_env(env);
    deployment.tenant("acme", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let a360 = deployment.instance("acme", "reader", "profiles-360");
    let server = deployment.serve();
    let issuer = server.base.clone();
    Setup {
        deployment,
        server,
        tracker,
        a360,
        issuer,
    }
}

fn setup() -> Setup {
    setup_with(&[])
}

impl Setup {
    /// `instance set-jwks --json` with a file holding `jwks`.
    fn register(&self, instance: &Instance, jwks: &str) -> Value {
        let file = self
            .deployment
            .dir()
            .join(format!("{}.jwks", instance.username));
        std::fs::write(&file, jwks).expect("write the JWK Set");
        let path = file.display().to_string();
        self.deployment.cli_json(&[
            "instance",
            "set-jwks",
            "--instance",
            &instance.username,
            "--jwks",
            &path,
            "--json",
        ])
    }

    fn token_endpoint(&self) -> String {
        format!("{}/oauth/token", self.issuer)
    }
}

/// `POST /oauth/token` (client_credentials) as `client`, with extra parameters.
async fn token(server: &Server, client: Client<'_>, extra: &[(&str, &str)]) -> Reply {
    let mut pairs = vec![("grant_type", "client_credentials")];
    pairs.extend_from_slice(extra);
    post_form(server, "/oauth/token", client, &pairs).await
}

async fn token_with(server: &Server, assertion: &str) -> Reply {
    token(server, Client::Assertion(assertion), &[]).await
}

// ---------------------------------------------------------------------------------------------
// Registering and using keys

#[tokio::test]
async fn registered_keys_authenticate_at_token_introspection_and_revocation() {
    let setup = setup();
    let server = &setup.server;
    let (es, ed) = (TestKey::es256(7, "es-1"), TestKey::ed25519(8, "ed-1"));
    let registered = setup.register(&setup.tracker, &TestKey::set(&[&es, &ed]));
    assert_eq!(registered["username"], setup.tracker.username.as_str());
    let keys = registered["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2, "{registered}");
    assert_eq!(keys[0]["kid"], "es-1");
    assert_eq!(keys[0]["algorithms"], json!(["ES256"]));
    assert_eq!(keys[1]["kty"], "OKP");
    assert!(
        keys[1]["thumbprint"]
            .as_str()
            .is_some_and(|t| t.len() == 43)
    );
    let user = setup.tracker.username.as_str();

    // Each algorithm, each accepted audience: the issuer, the token endpoint, an array.
    let endpoint = setup.token_endpoint();
    let audiences = [
        json!(setup.issuer),
        json!(endpoint),
        json!(["https://elsewhere.example", setup.issuer]),
    ];
    let mut tokens = Vec::new();
    for (key, aud) in [
        (&es, &audiences[0]),
        (&ed, &audiences[1]),
        (&es, &audiences[2]),
    ] {
        let mut claims = claims(user, "");
        claims["aud"] = aud.clone();
        let reply = token_with(server, &sign(key, &claims)).await;
        let json = reply.ok();
        assert_eq!(json["token_type"], "Bearer", "{reply:?}");
        assert_eq!(json["scope"], "dw:tracker");
        tokens.push(json["access_token"].as_str().expect("token").to_owned());
    }

    // RFC 9864's name for EdDSA in the header, as current clients send it.
    let named = sign_ed25519_named(8, "ed-1", &claims(user, &setup.issuer));
    token_with(server, &named).await.ok();

    // Without a kid, the keys whose kind fits are tried.
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = None;
    let keyless =
        jsonwebtoken::encode(&header, &claims(user, &setup.issuer), &ed.encoding).expect("sign");
    token_with(server, &keyless).await.ok();

    // client_id in the form is fine when it names the same client.
    let assertion = sign(&es, &claims(user, &setup.issuer));
    token(
        server,
        Client::Assertion(&assertion),
        &[("client_id", user)],
    )
    .await
    .ok();

    // Introspection and revocation authenticate the same way.
    let assertion = sign(&es, &claims(user, &setup.issuer));
    let found = introspect(server, Client::Assertion(&assertion), &tokens[0]).await;
    assert_eq!(found.ok()["active"], true, "{found:?}");
    let assertion = sign(&ed, &claims(user, &setup.issuer));
    revoke(server, Client::Assertion(&assertion), &tokens[0])
        .await
        .ok();
    let assertion = sign(&es, &claims(user, &setup.issuer));
    let found = introspect(server, Client::Assertion(&assertion), &tokens[0]).await;
    assert_eq!(found.ok(), &json!({"active": false}));

    // Registering keys adds a method: the password keeps working.
    token(server, Client::basic(&setup.tracker), &[]).await.ok();
    token(server, Client::post(&setup.tracker), &[]).await.ok();

    // Registered keys are audit-logged with their thumbprints.
    setup.deployment.admin("ops");
    let api_token = setup.deployment.admin_api_token("ops");
    let audit = send_admin(
        server
            .get("/admin/api/audit?action=instance.client_keys_set")
            .bearer_auth(&api_token),
        "audit",
    )
    .await;
    let detail = audit.json[0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(keys[0]["thumbprint"].as_str().unwrap_or("?")),
        "no audit entry naming the thumbprint: {audit:?}"
    );
    assert_eq!(audit.json[0]["actor"], "cli");
}

#[tokio::test]
async fn cleared_keys_stop_assertions_and_keep_the_password() {
    let setup = setup();
    let server = &setup.server;
    let key = TestKey::es256(9, "k");
    setup.register(&setup.tracker, &TestKey::set(&[&key]));
    let user = setup.tracker.username.as_str();
    token_with(server, &sign(&key, &claims(user, &setup.issuer)))
        .await
        .ok();
    let cleared = setup.deployment.cli_json(&[
        "instance",
        "set-jwks",
        "--instance",
        setup.tracker.json["id"].as_str().unwrap_or_default(),
        "--clear",
        "--json",
    ]);
    assert_eq!(cleared["keys"], json!([]), "{cleared}");
    assert_eq!(cleared["jwks"], Value::Null);
    token_with(server, &sign(&key, &claims(user, &setup.issuer)))
        .await
        .expect_error(401, "invalid_client");
    token(server, Client::basic(&setup.tracker), &[]).await.ok();
}

#[tokio::test]
async fn the_admin_api_registers_shows_refuses_and_clears_keys() {
    let setup = setup();
    let server = &setup.server;
    setup.deployment.admin("ops");
    let api_token = setup.deployment.admin_api_token("ops");
    let path = format!("/admin/api/instances/{}/jwks", setup.tracker.username);
    let put = |body: String| {
        server
            .request(reqwest::Method::PUT, &path)
            .bearer_auth(&api_token)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
    };
    let key = TestKey::ed25519(3, "ed");
    let shown = send_admin(put(TestKey::set(&[&key])), "PUT jwks").await;
    assert_eq!(shown.status, 200, "{shown:?}");
    assert_eq!(shown.json["keys"][0]["kid"], "ed");
    let user = setup.tracker.username.as_str();
    token_with(server, &sign(&key, &claims(user, &setup.issuer)))
        .await
        .ok();

    let mut private = key.public.clone();
    private["d"] = json!(URL_SAFE_NO_PAD.encode([3u8; 32]));
    let mut small_rsa = json!({"kty": "RSA", "e": "AQAB"});
    small_rsa["n"] = json!(URL_SAFE_NO_PAD.encode([0xc5u8; 128]));
    let refused = [
        (
            json!({"keys": [private]}).to_string(),
            "private key material",
        ),
        (
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string(),
            "symmetric",
        ),
        (
            json!({"keys": [{"kty": "OKP", "crv": "X25519", "x": "AA"}]}).to_string(),
            "not supported",
        ),
        (
            json!({"keys": [{"kty": "Foo"}]}).to_string(),
            "not supported",
        ),
        (json!({"keys": [small_rsa]}).to_string(), "1024 bits"),
        (TestKey::set(&[&key; 11]), "at most 10"),
        (
            format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(17 * 1024)),
            "larger",
        ),
        ("not json".to_owned(), "JWK Set"),
    ];
    for (body, says) in refused {
        let reply = send_admin(put(body.clone()), "PUT bad jwks").await;
        reply.expect_error(400, "invalid_request");
        assert!(reply.description().contains(says), "{body:.80}: {reply:?}");
    }
    // Still the key registered first.
    let shown = send_admin(server.get(&path).bearer_auth(&api_token), "GET jwks").await;
    assert_eq!(
        shown.json["keys"].as_array().map(Vec::len),
        Some(1),
        "{shown:?}"
    );

    let cleared = send_admin(
        server
            .request(reqwest::Method::DELETE, &path)
            .bearer_auth(&api_token),
        "DELETE jwks",
    )
    .await;
    assert_eq!(cleared.json["keys"], json!([]), "{cleared:?}");
    token_with(server, &sign(&key, &claims(user, &setup.issuer)))
        .await
        .expect_error(401, "invalid_client");

    // An empty set clears as well.
    send_admin(put(TestKey::set(&[&key])), "PUT jwks").await;
    let emptied = send_admin(put(r#"{"keys":[]}"#.into()), "PUT empty jwks").await;
    assert_eq!(emptied.json["keys"], json!([]), "{emptied:?}");
}

// ---------------------------------------------------------------------------------------------
// Refusals

/// The body a wrong password gets at `/oauth/token`.
async fn wrong_password_body(setup: &Setup) -> Vec<u8> {
    let reply = token(
        &setup.server,
        Client::Basic(&setup.tracker.username, &"A".repeat(24)),
        &[],
    )
    .await;
    reply.expect_error(401, "invalid_client");
    reply.body.clone()
}

#[tokio::test]
async fn every_bad_assertion_is_refused_exactly_like_a_wrong_password() {
    // Many refusals from one address: the limiter is set above them (its own test is below).
    let setup = setup_with(&[("CDP_AUTH_MAX_FAILED_ATTEMPTS", "1000")]);
    let server = &setup.server;
    let key = TestKey::es256(11, "good");
    let unregistered = TestKey::es256(12, "good");
    let other_kid = TestKey::es256(11, "other");
    setup.register(&setup.tracker, &TestKey::set(&[&key]));
    let user = setup.tracker.username.as_str();
    let iss = setup.issuer.as_str();
    let good = || claims(user, iss);
    let with = |name: &str, value: Value| {
        let mut claims = good();
        claims[name] = value;
        claims
    };
    let without = |name: &str| {
        let mut claims = good();
        if let Some(fields) = claims.as_object_mut() {
            fields.remove(name);
        }
        claims
    };
    let now = unix_now();
    let public_x = key.public["x"].as_str().unwrap_or_default().to_owned();
    let hs256_with_public_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good(),
        &EncodingKey::from_secret(key.public.to_string().as_bytes()).expect("HMAC key"),
    )
    .expect("sign");
    let hs256_with_x = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good(),
        &EncodingKey::from_secret(public_x.as_bytes()).expect("HMAC key"),
    )
    .expect("sign");
    let replayed = sign(&key, &good());
    token_with(server, &replayed).await.ok();

    let cases: Vec<(&str, String)> = vec![
        (
            "wrong iss",
            sign(&key, &with("iss", json!("tracker_other"))),
        ),
        (
            "wrong sub",
            sign(&key, &with("sub", json!(setup.a360.username))),
        ),
        (
            "wrong aud",
            sign(&key, &with("aud", json!("https://evil.example"))),
        ),
        (
            "aud array without us",
            sign(&key, &with("aud", json!(["https://a.example"]))),
        ),
        ("no aud", sign(&key, &without("aud"))),
        ("exp missing", sign(&key, &without("exp"))),
        ("exp past", sign(&key, &with("exp", json!(now - 120)))),
        (
            "exp too far ahead",
            sign(&key, &with("exp", json!(now + 3600))),
        ),
        ("exp not a number", sign(&key, &with("exp", json!("soon")))),
        ("nbf future", sign(&key, &with("nbf", json!(now + 600)))),
        ("iat future", sign(&key, &with("iat", json!(now + 600)))),
        ("no jti", sign(&key, &without("jti"))),
        (
            "alg none",
            compact(&json!({"alg": "none", "kid": "good"}), &good(), b""),
        ),
        ("HS256 keyed with the public JWK", hs256_with_public_key),
        ("HS256 keyed with its x", hs256_with_x),
        ("a key not registered", sign(&unregistered, &good())),
        ("an unknown kid", sign(&other_kid, &good())),
        ("a replayed jti", replayed),
        ("malformed", "not.a.jwt".to_owned()),
        ("garbage", "%%%".to_owned()),
        ("two parts", "eyJhbGciOiJFUzI1NiJ9.e30".to_owned()),
        (
            "header not JSON",
            format!("{}.e30.AA", URL_SAFE_NO_PAD.encode("{oops")),
        ),
        (
            "crit",
            compact(&json!({"alg": "ES256", "crit": ["exp"]}), &good(), b"x"),
        ),
        ("oversized", "a".repeat(20_000)),
    ];
    let expected = wrong_password_body(&setup).await;
    for (what, assertion) in &cases {
        let reply = token_with(server, assertion).await;
        reply.expect_error(401, "invalid_client");
        assert_eq!(
            reply.body, expected,
            "{what}: not the wrong-password answer: {reply:?}"
        );
        assert!(
            reply.challenges().iter().any(|c| c.starts_with("Basic ")),
            "{what}: {reply:?}"
        );
    }

    // An instance with no keys, and an unknown client.
    let assertion = sign(&key, &claims(&setup.a360.username, iss));
    let reply = token_with(server, &assertion).await;
    assert_eq!(reply.body, expected, "no keys registered: {reply:?}");
    let assertion = sign(&key, &claims("tracker_nobody", iss));
    let reply = token_with(server, &assertion).await;
    assert_eq!(reply.body, expected, "unknown client: {reply:?}");
    // client_id naming another client than the assertion.
    let assertion = sign(&key, &good());
    let reply = token(
        server,
        Client::Assertion(&assertion),
        &[("client_id", &setup.a360.username)],
    )
    .await;
    assert_eq!(reply.body, expected, "another client_id: {reply:?}");
}

#[tokio::test]
async fn one_method_at_a_time_and_only_the_jwt_bearer_type() {
    let setup = setup();
    let server = &setup.server;
    let key = TestKey::ed25519(21, "k");
    setup.register(&setup.tracker, &TestKey::set(&[&key]));
    let user = setup.tracker.username.as_str();
    let assertion = sign(&key, &claims(user, &setup.issuer));
    let jwt_bearer = support::http::JWT_BEARER;

    // Basic and an assertion.
    let request = server
        .post("/oauth/token")
        .basic_auth(user, Some(&setup.tracker.password))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", jwt_bearer),
            ("client_assertion", &assertion),
        ]);
    send(request, "basic + assertion")
        .await
        .expect_error(400, "invalid_request");
    // client_secret and an assertion.
    let both = token(
        server,
        Client::Assertion(&assertion),
        &[
            ("client_id", user),
            ("client_secret", &setup.tracker.password),
        ],
    )
    .await;
    both.expect_error(400, "invalid_request");
    // An unknown assertion type; a type without an assertion; an assertion without a type.
    for pairs in [
        vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ],
        vec![("client_assertion_type", jwt_bearer)],
        vec![("client_assertion", assertion.as_str())],
    ] {
        token(server, Client::None, &pairs)
            .await
            .expect_error(400, "invalid_request");
    }
    // The assertion itself was never used: it still works.
    token_with(server, &assertion).await.ok();
}

#[tokio::test]
async fn a_disabled_instance_is_refused_after_its_key_verified() {
    let setup = setup();
    let server = &setup.server;
    let key = TestKey::es256(31, "k");
    setup.register(&setup.tracker, &TestKey::set(&[&key]));
    let user = setup.tracker.username.as_str();
    setup
        .deployment
        .cli_json(&["instance", "disable", user, "--json"]);
    support::within_a_second("the disable reaches the server", || async {
        token_with(server, &sign(&key, &claims(user, &setup.issuer)))
            .await
            .status
            == 403
    })
    .await;
    token_with(server, &sign(&key, &claims(user, &setup.issuer)))
        .await
        .expect_error(403, "instance_disabled");
    // A bad assertion of a disabled instance learns nothing.
    let stranger = TestKey::es256(32, "k");
    token_with(server, &sign(&stranger, &claims(user, &setup.issuer)))
        .await
        .expect_error(401, "invalid_client");
}

#[tokio::test]
async fn bad_assertions_count_as_failed_attempts_but_a_working_key_is_not_locked_out() {
    let setup = setup_with(&[("CDP_AUTH_MAX_FAILED_ATTEMPTS", "3")]);
    let server = &setup.server;
    let key = TestKey::es256(41, "good");
    let forged = TestKey::es256(42, "forged");
    setup.register(&setup.tracker, &TestKey::set(&[&key]));
    let user = setup.tracker.username.as_str();
    // The working key verified once before the attack.
    token_with(server, &sign(&key, &claims(user, &setup.issuer)))
        .await
        .ok();
    for _ in 0..3 {
        token_with(server, &sign(&forged, &claims(user, &setup.issuer)))
            .await
            .expect_error(401, "invalid_client");
    }
    let throttled = token_with(server, &sign(&forged, &claims(user, &setup.issuer))).await;
    throttled.expect_error(429, "too_many_attempts");
    // The key that verified recently still works from the same address.
    token_with(server, &sign(&key, &claims(user, &setup.issuer)))
        .await
        .ok();
}

// ---------------------------------------------------------------------------------------------
// Replicas

#[tokio::test]
async fn an_assertion_accepted_by_one_replica_is_refused_by_another() {
    if postgres_server().is_none() {
        assert!(
            std::env::var_os("CDP_AUTH_REQUIRE_POSTGRES").is_none(),
            "CDP_AUTH_REQUIRE_POSTGRES is set but CDP_AUTH_TEST_POSTGRES names no server"
        );
        eprintln!("skipped: set CDP_AUTH_TEST_POSTGRES=postgres://USER@HOST:PORT to run");
        return;
    }
    let setup = setup();
    let replica = setup.deployment.serve();
    let key = TestKey::ed25519(51, "k");
    setup.register(&setup.tracker, &TestKey::set(&[&key]));
    let user = setup.tracker.username.as_str();
    // Both replicas name the same issuer when configured alike; here each is its own
    // address, so the assertion names both.
    for (first, second) in [(&setup.server, &replica), (&replica, &setup.server)] {
        let mut claims = claims(user, "");
        claims["aud"] = json!([first.base, second.base]);
        let assertion = sign(&key, &claims);
        token_with(first, &assertion).await.ok();
        token_with(second, &assertion)
            .await
            .expect_error(401, "invalid_client");
    }
    // Many at once, alternating: each accepted exactly once between the two.
    let mut attempts = tokio::task::JoinSet::new();
    let mut assertions = Vec::new();
    for _ in 0..20 {
        let mut claims = claims(user, "");
        claims["aud"] = json!([setup.server.base, replica.base]);
        assertions.push(sign(&key, &claims));
    }
    for assertion in &assertions {
        for server in [&setup.server, &replica] {
            let request = server.post("/oauth/token").form(&[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", support::http::JWT_BEARER),
                ("client_assertion", assertion.as_str()),
            ]);
            attempts.spawn(send(request, "racing replicas"));
        }
    }
    let granted = attempts
        .join_all()
        .await
        .iter()
        .filter(|reply| reply.status == 200)
        .count();
    assert_eq!(granted, assertions.len(), "each assertion once");
}

#[tokio::test]
async fn copy_carries_the_registered_keys() {
    let folder = tempfile::tempdir().expect("temporary folder");
    let key_file = folder.path().join("server.key").display().to_string();
    let url = |name: &str| format!("sqlite://{}", folder.path().join(name).display());
    let on = |database: &str| {
        Deployment::with_env(&[
            ("CDP_AUTH_DATABASE", database),
            ("CDP_AUTH_SERVER_KEY_FILE", key_file.as_str()),
        ])
    };
    let (origin_url, copy_url) = (url("origin.db"), url("copy.db"));
    let origin = on(&origin_url);
    origin.tenant("acme", "uat");
    let tracker = origin.instance("acme", "loader", "dw-tracker");
    let key = TestKey::ed25519(61, "moved");
    let jwks = folder.path().join("keys.jwks");
    std::fs::write(&jwks, TestKey::set(&[&key])).expect("write the JWK Set");
    let jwks = jwks.display().to_string();
    origin.cli_json(&[
        "instance",
        "set-jwks",
        "--instance",
        &tracker.username,
        "--jwks",
        &jwks,
        "--json",
    ]);
    origin.cli_json(&["copy", "--from", &origin_url, "--to", &copy_url]);

    let copied = on(&copy_url);
    let server = copied.serve();
    let user = tracker.username.as_str();
    token_with(&server, &sign(&key, &claims(user, &server.base)))
        .await
        .ok();
    let shown = copied.cli_json(&[
        "instance",
        "set-jwks",
        "--instance",
        user,
        "--clear",
        "--json",
    ]);
    assert_eq!(shown["username"], user);
}
