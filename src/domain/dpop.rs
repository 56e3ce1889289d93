//! DPoP (RFC 9449): proofs of possession that bind an OAuth access token to a key the client
//! holds, so that a stolen token is useless without the key.
//!
//! A proof is a JWT the client signs for each request (`typ: dpop+jwt`, its public key in the
//! header's `jwk`), naming the request's method (`htm`) and URL (`htu`), when it was made
//! (`iat`), a one-time `jti` and, at a resource, a hash of the access token (`ath`). At
//! `/oauth/token` a proof binds the new token to the key's JWK SHA-256 thumbprint (RFC 7638,
//! `cnf.jkt`); at the CDP API and forward auth a bound token is accepted only with a fresh
//! proof signed by that key.
//!
//! Signatures are checked by `jsonwebtoken` (on `ring` for ES256 and EdDSA, see
//! [`super::jose`]) and thumbprints computed by it; `jti`s go through the
//! [`ReplayGuard`], so a proof is accepted once across every replica.

use crate::telemetry::metrics::{CredentialKind, metrics};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use std::sync::Arc;

use super::client_keys::{SIGNING_ALGORITHMS, algorithm_named};
use super::clock::UnixTime;
use super::error::DomainError;
use super::replay::ReplayGuard;
use super::secrets::ServerKeys;

/// The signature algorithms a proof may use, as metadata lists them
/// (`dpop_signing_alg_values_supported`): the same as client assertions'. `Ed25519` is RFC
/// 9864's name for EdDSA over Ed25519, which current clients send.
pub const PROOF_ALGORITHMS: [&str; 5] = SIGNING_ALGORITHMS;

/// How far a proof's `iat` may be from now, either way (clock skew and transit).
pub const IAT_WINDOW_SECS: i64 = 60;

/// Longest proof read: a header with an RSA-4096 JWK and a few claims fit well within it.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Longest `jti` accepted (RFC 9449 asks for enough entropy, not a length; this bounds what is
/// hashed and keeps junk out).
const MAX_JTI_LEN: usize = 256;

/// Smallest RSA modulus accepted, in bytes (2048 bits).
const MIN_RSA_MODULUS: usize = 256;

/// What a proof is checked against: the request it must be for.
#[derive(Debug, Clone, Copy)]
pub struct ProofTarget<'a> {
    /// The request's method (`POST`, or a gateway's original method).
    pub method: &'a str,
    /// The URLs the proof's `htu` may name, without query or fragment: the public URL of the
    /// endpoint, and the URL as the request itself names it (they differ behind a proxy).
    pub urls: &'a [String],
    /// At a resource, the access token presented with the proof (`ath` is its SHA-256).
    pub access_token: Option<&'a str>,
    /// The time to judge `iat` by.
    pub now: UnixTime,
}

/// Why a proof was refused: said to the client in `error_description`, so nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProofError(pub String);

fn refused(why: impl Into<String>) -> ProofError {
    ProofError(why.into())
}

/// A proof whose signature and claims checked out (its `jti` not yet recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// The JWK SHA-256 thumbprint of the key that signed it (what `cnf.jkt` binds).
    pub jkt: String,
    /// Its one-time identifier.
    pub jti: String,
    /// When it was made.
    pub iat: UnixTime,
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ProofClaims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
}

/// The JWK members only a private (or symmetric) key has: a proof's key must be public.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// Whether the key's type fits the algorithm (so `alg` cannot pick a verifier the key was not
/// made for), and an RSA key is large enough.
fn key_fits(jwk: &Jwk, algorithm: Algorithm) -> bool {
    match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == jsonwebtoken::jwk::EllipticCurve::P256
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == jsonwebtoken::jwk::EllipticCurve::Ed25519
        }
        (AlgorithmParameters::RSA(rsa), Algorithm::RS256 | Algorithm::PS256) => URL_SAFE_NO_PAD
            .decode(rsa.n.as_bytes())
            .is_ok_and(|n| n.len() >= MIN_RSA_MODULUS),
        _ => false,
    }
}

/// A URL as `htu` comparisons see it: parsed (so scheme and host case, default ports and
/// percent-encoding are normalised) and without query or fragment.
pub fn normalized_url(url: &str) -> Option<String> {
    let mut url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

/// The base64url SHA-256 of an access token: a proof's `ath`.
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// Checks a proof's form, signature and claims against `target` (not its `jti`'s novelty:
/// that is [`Dpop::check`]'s).
pub fn check_proof(proof: &str, target: &ProofTarget<'_>) -> Result<CheckedProof, ProofError> {
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
        return Err(refused("The DPoP proof is empty or too long."));
    }
    let mut parts = proof.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused("The DPoP proof is not a signed JWT."));
    };
    let header: ProofHeader = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| refused("The DPoP proof's header is not base64url JSON."))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(refused("The DPoP proof's typ must be dpop+jwt."));
    }
    let algorithm = algorithm_named(&header.alg).ok_or_else(|| {
        refused(format!(
            "The DPoP proof's alg must be one of {}.",
            PROOF_ALGORITHMS.join(", ")
        ))
    })?;
    let jwk_value = header
        .jwk
        .ok_or_else(|| refused("The DPoP proof's header must carry its public key as jwk."))?;
    let is_public = jwk_value
        .as_object()
        .is_some_and(|members| PRIVATE_MEMBERS.iter().all(|m| !members.contains_key(*m)));
    if !is_public {
        return Err(refused("The DPoP proof's jwk must be a public key."));
    }
    let jwk: Jwk = serde_json::from_value(jwk_value)
        .map_err(|_| refused("The DPoP proof's jwk is not a key we can read."))?;
    if !key_fits(&jwk, algorithm) {
        return Err(refused(
            "The DPoP proof's jwk does not fit its alg (P-256 for ES256, Ed25519 for EdDSA, RSA of 2048 bits or more for RS256 and PS256).",
        ));
    }
    let key = DecodingKey::from_jwk(&jwk)
        .map_err(|_| refused("The DPoP proof's jwk is not a key we can read."))?;
    let signed = &proof[..proof.len() - signature.len() - 1];
    let verified = jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key, algorithm)
        .unwrap_or(false);
    if !verified {
        return Err(refused("The DPoP proof's signature does not verify."));
    }
    let claims: ProofClaims = URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| refused("The DPoP proof's claims are not base64url JSON."))?;
    let jti = claims
        .jti
        .filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI_LEN)
        .ok_or_else(|| refused("The DPoP proof needs a jti."))?;
    if claims.htm.as_deref() != Some(target.method) {
        return Err(refused(format!(
            "The DPoP proof's htm must be this request's method, {}.",
            target.method
        )));
    }
    let htu = claims.htu.as_deref().and_then(normalized_url);
    if !htu.is_some_and(|htu| target.urls.contains(&htu)) {
        return Err(refused(match target.urls.first() {
            Some(url) => format!("The DPoP proof's htu must be this request's URL, {url}."),
            None => "The DPoP proof's htu must be this request's URL.".to_owned(),
        }));
    }
    let iat = claims
        .iat
        .and_then(|iat| iat.as_i64().or_else(|| iat.as_f64().map(|f| f as i64)))
        .ok_or_else(|| refused("The DPoP proof needs an iat (Unix seconds)."))?;
    if (iat - target.now).abs() > IAT_WINDOW_SECS {
        return Err(refused(format!(
            "The DPoP proof's iat must be within {IAT_WINDOW_SECS} seconds of now."
        )));
    }
    match (target.access_token, claims.ath) {
        (None, _) => {}
        (Some(token), Some(ath)) if ath == access_token_hash(token) => {}
        (Some(_), Some(_)) => {
            return Err(refused(
                "The DPoP proof's ath is not the hash of this access token.",
            ));
        }
        (Some(_), None) => {
            return Err(refused(
                "The DPoP proof needs ath, the hash of the access token.",
            ));
        }
    }
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| refused("The DPoP proof's jwk has no thumbprint."))?;
    Ok(CheckedProof { jkt, jti, iat })
}

/// Proof checking with replay refusal: what the token endpoint and the resources call.
#[derive(Clone)]
pub struct Dpop {
    keys: Arc<ServerKeys>,
    replay: ReplayGuard,
    /// The token endpoint's public URL, as proofs there must name it.
    token_endpoint: [String; 1],
    /// The API Host URL without a trailing slash: a resource's URL is it and the path.
    resource_base: String,
}

impl Dpop {
    /// Checks proofs, recording their `jti`s with `replay`; `issuer` and `resource_base` are
    /// the deployment's public Authentication and API Host URLs.
    pub fn new(
        keys: Arc<ServerKeys>,
        replay: ReplayGuard,
        issuer: &str,
        resource_base: &str,
    ) -> Self {
        let token_endpoint = format!("{}/oauth/token", issuer.trim_end_matches('/'));
        Dpop {
            keys,
            replay,
            token_endpoint: [normalized_url(&token_endpoint).unwrap_or(token_endpoint)],
            resource_base: resource_base.trim_end_matches('/').to_owned(),
        }
    }

    /// The `htu` a proof at the token endpoint must name.
    pub fn token_endpoint_urls(&self) -> &[String] {
        &self.token_endpoint
    }

    /// The `htu`s a proof for the resource at `path` (the path the request names; its query
    /// plays no part) may name: under the API Host URL, or under `origin` when a gateway told
    /// the original request's (forward auth).
    pub fn resource_urls(&self, path: &str, origin: Option<&str>) -> Vec<String> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let base = origin.map_or(self.resource_base.as_str(), |o| o.trim_end_matches('/'));
        normalized_url(&format!("{base}{path}"))
            .into_iter()
            .collect()
    }

    /// Checks a proof for `target` and records its `jti`: the thumbprint of its key, or why it
    /// was refused (a replay included). A database failure is an error of its own (503).
    pub async fn check(
        &self,
        proof: &str,
        target: &ProofTarget<'_>,
    ) -> Result<String, DpopRefusal> {
        let outcome = self.check_fresh(proof, target).await;
        if let Err(DpopRefusal::Proof(_)) = outcome {
            metrics().credential_failed(CredentialKind::DpopProof);
        }
        outcome
    }

    async fn check_fresh(
        &self,
        proof: &str,
        target: &ProofTarget<'_>,
    ) -> Result<String, DpopRefusal> {
        let checked = check_proof(proof, target).map_err(DpopRefusal::Proof)?;
        // A proof older than the window is refused for its age, so its jti need not be kept
        // longer than that (plus the window ahead, for clocks running fast).
        let until = checked.iat.max(target.now) + IAT_WINDOW_SECS + 1;
        let key = self
            .keys
            .one_time_id_hash("dpop", &checked.jkt, &checked.jti);
        match self.replay.first_use(key, until).await {
            Ok(true) => Ok(checked.jkt),
            Ok(false) => Err(DpopRefusal::Proof(refused(
                "The DPoP proof was used before: send a new one with each request.",
            ))),
            Err(error) => Err(DpopRefusal::Unavailable(error)),
        }
    }
}

/// Why [`Dpop::check`] refused.
#[derive(Debug)]
pub enum DpopRefusal {
    /// The proof is not good for this request.
    Proof(ProofError),
    /// Its `jti` could not be recorded (the database failed).
    Unavailable(DomainError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use p256::pkcs8::EncodePrivateKey;

    const URL: &str = "https://auth.example/oauth/token";

    fn key() -> (EncodingKey, serde_json::Value) {
        let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
        let der = secret.to_pkcs8_der().unwrap();
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
        let mut value = serde_json::to_value(&jwk).unwrap();
        // Only the key's own members, as a client sends it.
        for extra in ["alg", "use", "kid", "key_ops"] {
            value.as_object_mut().unwrap().remove(extra);
        }
        (encoding, value)
    }

    fn proof(claims: serde_json::Value, edit: impl FnOnce(&mut Header)) -> String {
        let (encoding, jwk) = key();
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(jwk).unwrap());
        edit(&mut header);
        encode(&header, &claims, &encoding).unwrap()
    }

    fn claims(now: i64) -> serde_json::Value {
        serde_json::json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": now})
    }

    fn target<'a>(urls: &'a [String], token: Option<&'a str>) -> ProofTarget<'a> {
        ProofTarget {
            method: "POST",
            urls,
            access_token: token,
            now: 1_000_000,
        }
    }

    #[test]
    fn a_good_proof_yields_the_thumbprint_of_its_key() {
        let urls = [normalized_url(URL).unwrap()];
        let checked = check_proof(&proof(claims(1_000_000), |_| {}), &target(&urls, None)).unwrap();
        let (_, jwk) = key();
        let jwk: Jwk = serde_json::from_value(jwk).unwrap();
        assert_eq!(checked.jkt, jwk.thumbprint(ThumbprintHash::SHA256).unwrap());
        assert_eq!(checked.jti, "j-1");
    }

    #[test]
    fn htu_is_compared_without_query_and_with_normal_case() {
        let urls = [normalized_url(URL).unwrap()];
        let mut c = claims(1_000_000);
        c["htu"] = "HTTPS://Auth.Example:443/oauth/token?x=1#f".into();
        assert!(check_proof(&proof(c, |_| {}), &target(&urls, None)).is_ok());
        let mut c = claims(1_000_000);
        c["htu"] = "https://auth.example/oauth/revoke".into();
        assert!(check_proof(&proof(c, |_| {}), &target(&urls, None)).is_err());
    }

    #[test]
    fn each_claim_and_header_rule_refuses() {
        let urls = [normalized_url(URL).unwrap()];
        let t = target(&urls, None);
        let bad_claims = [
            serde_json::json!({"htm": "POST", "htu": URL, "iat": 1_000_000}),
            serde_json::json!({"jti": "j", "htm": "GET", "htu": URL, "iat": 1_000_000}),
            serde_json::json!({"jti": "j", "htm": "POST", "iat": 1_000_000}),
            serde_json::json!({"jti": "j", "htm": "POST", "htu": URL}),
            serde_json::json!({"jti": "j", "htm": "POST", "htu": URL, "iat": 1_000_061}),
            serde_json::json!({"jti": "j", "htm": "POST", "htu": URL, "iat": 999_939}),
        ];
        for c in bad_claims {
            assert!(check_proof(&proof(c.clone(), |_| {}), &t).is_err(), "{c}");
        }
        let typ = proof(claims(1_000_000), |h| h.typ = Some("JWT".into()));
        assert!(check_proof(&typ, &t).is_err());
        let no_jwk = proof(claims(1_000_000), |h| h.jwk = None);
        assert!(check_proof(&no_jwk, &t).is_err());
        let good = proof(claims(1_000_000), |_| {});
        let (head, rest) = good.split_once('.').unwrap();
        let tampered = format!("{head}.{}", rest.replacen('e', "f", 1));
        assert!(check_proof(&tampered, &t).is_err());
        assert!(check_proof("not.a.proof", &t).is_err());
        assert!(check_proof("", &t).is_err());
    }

    #[test]
    fn a_private_key_in_the_header_is_refused() {
        let urls = [normalized_url(URL).unwrap()];
        let good = proof(claims(1_000_000), |_| {});
        let (head, rest) = good.split_once('.').unwrap();
        let mut header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap();
        header["jwk"]["d"] = "AAAA".into();
        let forged = format!(
            "{}.{rest}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
        );
        let error = check_proof(&forged, &target(&urls, None)).unwrap_err();
        assert!(error.0.contains("public"), "{error}");
    }

    #[test]
    fn at_a_resource_ath_must_hash_the_token() {
        let urls = [normalized_url(URL).unwrap()];
        let mut c = claims(1_000_000);
        c["ath"] = access_token_hash("tok").into();
        let with_ath = proof(c, |_| {});
        assert!(check_proof(&with_ath, &target(&urls, Some("tok"))).is_ok());
        assert!(check_proof(&with_ath, &target(&urls, Some("other"))).is_err());
        let without = proof(claims(1_000_000), |_| {});
        assert!(check_proof(&without, &target(&urls, Some("tok"))).is_err());
    }
}
