//! The pure functions a bearer check runs, measured one by one: reading the `Authorization`
//! header, the keyed hash a token is looked up by, and the token cache lookup (a hit, and a
//! miss); then what `/forward-auth` adds to it (reading the original path, deciding by the
//! rules), and a DPoP proof check. `cargo bench --bench hot_path`.

use std::hint::black_box;

use axum::http::{HeaderMap, HeaderValue, header};
use cdp_auth::domain::model::{Environment, StoredToken, Tenant, TokenKind};
use cdp_auth::domain::secrets::ServerKeys;
use cdp_auth::domain::verified_cache::VerifiedCache;
use cdp_auth::http::credentials::{SourceAddress, presented};
use cdp_auth::store::BearerContext;
use criterion::{Criterion, criterion_group, criterion_main};

const TOKEN: &str = "f265e508-c599-44e3-ab60-60a040a9154a";

fn context(id: i64, hash: Vec<u8>) -> BearerContext {
    BearerContext {
        token: StoredToken {
            id,
            kind: TokenKind::A1user,
            tenant_id: 1,
            instance_id: None,
            sealed: None,
            token_hash: hash,
            api: None,
            scope: None,
            issued_at: 0,
            expires_at: i64::MAX,
            last_used_at: Some(i64::MAX),
            dpop_jkt: None,
        },
        instance: None,
        tenant: Tenant {
            id: 1,
            name: "acme".into(),
            environment: Environment::Uat,
            tenant_hash: "0".repeat(32),
            oauth_enabled: true,
            secret_generation: 1,
            token_format: None,
            created_at: 0,
        },
    }
}

fn hot_path(c: &mut Criterion) {
    let keys = ServerKeys::from_master(&[7; 32]);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
    );
    c.bench_function("parse Authorization: Bearer", |b| {
        b.iter(|| presented(black_box(&headers), SourceAddress(None)).unwrap())
    });
    c.bench_function("keyed hash of a token (HMAC-SHA256)", |b| {
        b.iter(|| keys.token_hash(black_box(TOKEN)))
    });

    // A cache holding 100,000 tokens, as a busy server's would.
    let cache = VerifiedCache::new();
    let mut hit = Vec::new();
    for i in 0..100_000 {
        let hash = keys.token_hash(&format!("token-{i}"));
        cache.insert(&hash, context(i, hash.clone()), cache.generation());
        if i == 4_242 {
            hit = hash;
        }
    }
    let miss = keys.token_hash("not cached");
    c.bench_function("token cache lookup, hit (100k held)", |b| {
        b.iter(|| cache.get(black_box(&hit), 1).is_some())
    });
    c.bench_function("token cache lookup, miss", |b| {
        b.iter(|| cache.get(black_box(&miss), 1).is_none())
    });
    c.bench_function("bearer check without I/O: parse + hash + cache hit", |b| {
        b.iter(|| {
            let token = match presented(black_box(&headers), SourceAddress(None)).unwrap() {
                cdp_auth::http::credentials::Presented::Bearer(token) => token,
                _ => unreachable!(),
            };
            let hash = keys.token_hash(token.expose());
            cache.get(&hash, 1).is_some()
        })
    });
}

/// A push body of about 10 MiB (the push limit): an array of records with attributes.
fn ten_mib_push() -> String {
    let record = r#"{"SourceCustomerNumber":"C-NNNNNNN","Email":"c-NNNNNNN@example.com","FirstName":"Ann","LastName":"Lee","Attributes":{"tier":"gold","points":1234,"tags":["a","b"]}}"#;
    let mut body = String::from("[");
    let mut n = 0u32;
    while body.len() < 10 * 1024 * 1024 - record.len() - 2 {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&record.replace("NNNNNNN", &format!("{n:07}")));
        n += 1;
    }
    body.push(']');
    body
}

/// Reading a 10 MiB push: serde_json's own `Value` (what pushes used before duplicate keys
/// were refused) beside the strict reader, and the whole push parse and validation.
fn push_body(c: &mut Criterion) {
    let body = ten_mib_push();
    let mut group = c.benchmark_group("10 MiB push body");
    group.sample_size(10);
    group.bench_function("serde_json::from_str::<Value>", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(&body).expect("json"))
    });
    group.bench_function("json::value_from_str (duplicate keys refused)", |b| {
        b.iter(|| cdp_auth::domain::json::value_from_str(&body).expect("json"))
    });
    group.bench_function("parse_push_body (strict, validated)", |b| {
        b.iter(|| {
            cdp_auth::domain::cdp::records::parse_push_body(
                body.as_bytes(),
                cdp_auth::domain::cdp::model::Channel::Tracker,
                usize::MAX,
            )
            .expect("records")
        })
    });
    group.finish();
}

/// What a JWT access token costs: an ES256 signature through jsonwebtoken with our provider
/// (the key parsed once), the parse that the crate's own provider repeats at every signature,
/// an EdDSA signature, and an ES256 verification.
fn jwt(c: &mut Criterion) {
    cdp_auth::domain::jose::install();
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::from_slice(&[7u8; 32]).expect("a valid scalar");
    let der = secret.to_pkcs8_der().expect("PKCS #8").as_bytes().to_vec();
    let encoding = EncodingKey::from_ec_der(&der);
    let claims = serde_json::json!({
        "iss": "https://auth.example.com", "sub": "profiles_ab12cd", "aud": "https://api.example.com",
        "exp": 4_000_000_000_i64, "iat": 1_800_000_000_i64, "nbf": 1_800_000_000_i64,
        "jti": "sZ91ev1ytXGQtRJOpRIi6uiI", "client_id": "profiles_ab12cd", "scope": "dw:a360",
        "tenant_id": "7"
    });
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("zA5kxd4u7ZKLZslTkKomkB3yETzsM4QpNo5wettayRE".into());
    let mut group = c.benchmark_group("jwt");
    group.bench_function("ES256 sign (jsonwebtoken::encode, key parsed once)", |b| {
        b.iter(|| jsonwebtoken::encode(black_box(&header), black_box(&claims), &encoding))
    });
    group.bench_function(
        "P-256 PKCS #8 parse (the crate provider repeats it per signature)",
        |b| {
            use p256::pkcs8::DecodePrivateKey;
            b.iter(|| p256::ecdsa::SigningKey::from_pkcs8_der(black_box(&der)))
        },
    );
    let token = jsonwebtoken::encode(&header, &claims, &encoding).expect("signs");
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::ES256).expect("JWK");
    let decoding = DecodingKey::from_jwk(&jwk).expect("decoding key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_aud = false;
    group.bench_function("ES256 verify (jsonwebtoken::decode)", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &decoding, &validation)
        })
    });
    let ed = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let ed_der = {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        ed.to_pkcs8_der().expect("PKCS #8").as_bytes().to_vec()
    };
    let ed_encoding = EncodingKey::from_ed_der(&ed_der);
    let mut ed_header = header.clone();
    ed_header.alg = Algorithm::EdDSA;
    group.bench_function("EdDSA sign (jsonwebtoken::encode)", |b| {
        b.iter(|| jsonwebtoken::encode(black_box(&ed_header), black_box(&claims), &ed_encoding))
    });
    group.finish();
}

/// A DPoP proof check (RFC 9449) as a resource runs it per request, signature included, for
/// ES256 and EdDSA proofs; without the replay record (a database write, measured over HTTP by
/// `scripts/bench`).
fn dpop(c: &mut Criterion) {
    cdp_auth::domain::jose::install();
    use cdp_auth::domain::dpop::{ProofTarget, access_token_hash, check_proof, normalized_url};
    use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
    use p256::pkcs8::EncodePrivateKey;
    let url = "https://api.example.com/v2/7/dw/a360/customers/gcr-1";
    let token = "f265e508-c599-44e3-ab60-60a040a9154a";
    let now = 1_800_000_000_i64;
    let claims = serde_json::json!({
        "jti": "e1j3V9mQk3WgYl7Q", "htm": "GET", "htu": url, "iat": now,
        "ath": access_token_hash(token)
    });
    let es = {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).expect("a valid scalar");
        EncodingKey::from_ec_der(secret.to_pkcs8_der().expect("PKCS #8").as_bytes())
    };
    let ed_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let ed = {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        EncodingKey::from_ed_der(ed_key.to_pkcs8_der().expect("PKCS #8").as_bytes())
    };
    // jsonwebtoken derives no JWK from this PKCS #8 form of an Ed25519 key: written out here.
    let ed_jwk: Jwk = serde_json::from_value(serde_json::json!({
        "kty": "OKP", "crv": "Ed25519",
        "x": base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ed_key.verifying_key().as_bytes()
        )
    }))
    .expect("a JWK");
    let es_jwk = Jwk::from_encoding_key(&es, Algorithm::ES256).expect("a JWK");
    let urls = [normalized_url(url).expect("a URL")];
    let target = ProofTarget {
        method: "GET",
        urls: &urls,
        access_token: Some(token),
        now,
    };
    let mut group = c.benchmark_group("dpop");
    for (name, algorithm, key, jwk) in [
        ("ES256", Algorithm::ES256, &es, &es_jwk),
        ("EdDSA", Algorithm::EdDSA, &ed, &ed_jwk),
    ] {
        let mut header = Header::new(algorithm);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(jwk.clone());
        let proof = jsonwebtoken::encode(&header, &claims, key).expect("signs");
        assert!(
            check_proof(&proof, &target).is_ok(),
            "the {name} proof checks out"
        );
        group.bench_function(
            format!("{name} proof check (parse, verify, thumbprint)"),
            |b| b.iter(|| check_proof(black_box(&proof), black_box(&target))),
        );
    }
    group.finish();
}

/// What a `private_key_jwt` token request costs beyond the grant: reading the registered JWK
/// Set (done per request) and verifying the assertion, per algorithm. RSA is left out: the
/// workspace has no RSA key generator (scripts/bench and the oauth4webapi test cover RS256
/// and PS256 end to end).
fn client_assertion(c: &mut Criterion) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use cdp_auth::domain::client_assertion::{Expected, verify};
    use cdp_auth::domain::client_keys::ClientKeySet;
    use ed25519_dalek::Signer;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use p256::pkcs8::EncodePrivateKey;
    cdp_auth::domain::jose::install();
    let now = 1_800_000_000_i64;
    let claims = serde_json::json!({
        "iss": "tracker_ab12cd", "sub": "tracker_ab12cd", "aud": "https://auth.example.com",
        "iat": now, "exp": now + 60, "jti": "sZ91ev1ytXGQtRJOpRIi6uiI"
    });
    let p256 = p256::SecretKey::from_slice(&[7u8; 32]).expect("a valid scalar");
    let es_der = p256.to_pkcs8_der().expect("PKCS #8").as_bytes().to_vec();
    let es_encoding = EncodingKey::from_ec_der(&es_der);
    let mut es_jwk = serde_json::to_value(
        jsonwebtoken::jwk::Jwk::from_encoding_key(&es_encoding, Algorithm::ES256).expect("JWK"),
    )
    .expect("JSON");
    es_jwk["kid"] = "es".into();
    let ed = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let ed_jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed",
        "x": URL_SAFE_NO_PAD.encode(ed.verifying_key().as_bytes())});
    let set_json = serde_json::json!({"keys": [es_jwk, ed_jwk]}).to_string();
    let keys = ClientKeySet::parse(&set_json)
        .expect("a valid set")
        .expect("keys");
    let mut es_header = Header::new(Algorithm::ES256);
    es_header.kid = Some("es".into());
    let es256 = jsonwebtoken::encode(&es_header, &claims, &es_encoding).expect("signs");
    let ed_signed = |alg: &str| {
        let header = serde_json::json!({"alg": alg, "kid": "ed"});
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = ed.sign(message.as_bytes()).to_bytes();
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    let audiences = ["https://auth.example.com".to_owned()];
    let expected = Expected {
        client_id: "tracker_ab12cd",
        audiences: &audiences,
        now,
    };
    let mut group = c.benchmark_group("client_assertion");
    group.bench_function("JWK Set parse (2 keys, per request)", |b| {
        b.iter(|| ClientKeySet::parse(black_box(&set_json)))
    });
    for (name, assertion) in [
        ("ES256", es256),
        ("EdDSA", ed_signed("EdDSA")),
        ("Ed25519 (RFC 9864 name)", ed_signed("Ed25519")),
    ] {
        assert!(verify(&assertion, &keys, &expected).is_ok(), "{name}");
        group.bench_function(format!("{name} verify + claims"), |b| {
            b.iter(|| verify(black_box(&assertion), &keys, &expected))
        });
    }
    group.finish();
}

/// What `/forward-auth` does beyond the bearer check: parse the original request target and
/// walk a dozen rules to the one that decides (the eighth), for a token of the path's tenant.
fn forward_auth(c: &mut Criterion) {
    use cdp_auth::domain::forward_auth::{
        OriginalPath, PathTemplate, Rule, RuleMethod, RuleScope, Rules, TokenFacts, TokenScopes,
    };
    let rule = |path: &str, method: &str, scope: &str| {
        Rule::new(
            PathTemplate::parse(path).unwrap(),
            Some(vec![RuleMethod::parse(method).unwrap()]),
            Some(vec![RuleScope::parse(scope).unwrap()]),
        )
        .unwrap()
    };
    let mut rules: Vec<Rule> = (0..7)
        .map(|i| rule(&format!("/api/v{i}/**"), "GET", "dw:a360"))
        .collect();
    rules.push(rule("/v2/{tenantId}/dw/tracker", "POST", "dw:tracker"));
    rules.extend((0..4).map(|i| rule(&format!("/other/{i}/*"), "GET", "dw:a360")));
    let rules = Rules::new(rules);
    let token = TokenFacts {
        tenant_id: 7,
        scopes: TokenScopes::Words("dw:tracker"),
    };
    let target = "/v2/7/dw/tracker?scheme=a1user";
    c.bench_function("forward auth: parse the original path", |b| {
        b.iter(|| OriginalPath::parse(black_box(target)).unwrap())
    });
    c.bench_function(
        "forward auth: parse + decide (12 rules, the 8th matches)",
        |b| {
            b.iter(|| {
                let path = OriginalPath::parse(black_box(target)).unwrap();
                rules.decide("POST", &path, &token).is_ok()
            })
        },
    );
}

criterion_group!(
    benches,
    hot_path,
    push_body,
    jwt,
    dpop,
    client_assertion,
    forward_auth
);
criterion_main!(benches);
