//! `private_key_jwt` (RFC 7523 §2.2, §3; RFC 7521 §4.2): checking a client assertion against
//! the client's registered keys. Pure: the caller finds the client and its keys, and records
//! the `jti` to refuse replays ([`super::replay`]).
//!
//! The signature is always checked by `jsonwebtoken`, with the one algorithm the header names
//! and only if the chosen key may verify it: never `none`, never an HMAC (a public key used as
//! a shared secret), never an algorithm the key's kind or pinned `alg` does not allow.

use std::net::IpAddr;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use super::client_keys::{ClientKeySet, algorithm_named};
use super::clock::UnixTime;
use super::secrets::Secret;

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest assertion read; a JWT signed by a 8192-bit RSA key with ordinary claims is far
/// shorter.
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;

/// How far ahead `exp` may be: an assertion is for one request, made just before it.
pub const MAX_LIFETIME_SECS: i64 = 5 * 60;

/// Clock skew forgiven on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: i64 = 30;

/// A client assertion as presented, with the `client_id` the form named, if any.
#[derive(Debug, Clone)]
pub struct PresentedAssertion {
    /// The JWT.
    pub assertion: Secret,
    /// `client_id` from the form (optional with an assertion; must then match `sub`).
    pub client_id: Option<String>,
    /// Where the request came from.
    pub source: Option<IpAddr>,
}

/// Why an assertion was refused. Every one is answered `invalid_client`, alike; the variant
/// is for the log and for tests.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AssertionError {
    /// Not a JWS compact serialisation with a JSON header and claims.
    #[error("malformed assertion")]
    Malformed,
    /// `alg` is not one we verify (`none`, an HMAC, …).
    #[error("algorithm not accepted")]
    Algorithm,
    /// `crit`: extensions we do not understand (RFC 7515 §4.1.11).
    #[error("critical header parameters")]
    Critical,
    /// No registered key may verify it (none registered, unknown `kid`, no key of that kind).
    #[error("no registered key fits")]
    NoKey,
    /// No key's signature check passed.
    #[error("signature does not verify")]
    Signature,
    /// `iss` or `sub` is not the client, or the form's `client_id` another one.
    #[error("iss or sub is not the client")]
    Subject,
    /// `aud` names neither the token endpoint nor the issuer.
    #[error("audience not accepted")]
    Audience,
    /// `exp` missing, past, or more than five minutes ahead.
    #[error("exp missing, past, or too far ahead")]
    Expiry,
    /// `nbf` or `iat` in the future.
    #[error("not yet valid")]
    NotYetValid,
    /// `jti` missing or empty.
    #[error("jti missing")]
    NoJti,
}

/// The claims of an accepted assertion that the caller still needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The `jti`, to record against replays.
    pub jti: String,
    /// Until when a replay of it must be refused (its `exp`).
    pub expires_at: UnixTime,
}

/// What the claims must say.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The client id (the instance username): `iss` and `sub`.
    pub client_id: &'a str,
    /// Accepted `aud` values: the token endpoint URL and the issuer.
    pub audiences: &'a [String],
    /// The time to check against.
    pub now: UnixTime,
}

/// The parts of the header we decide on, read before any key is chosen.
#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

/// Claims as sent: numbers that may be missing or of the wrong type are read as JSON values,
/// so a malformed claim is a refusal, never a panic.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    iat: Option<Value>,
    jti: Option<String>,
}

/// The client an assertion says it is (`sub`, else `iss`), read without verifying anything: to
/// find whose keys to verify it with. `None` for anything that is not a JWT with such a claim.
pub fn claimed_client(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return None;
    }
    let claims: Claims = jsonwebtoken::dangerous::insecure_decode_claims(assertion).ok()?;
    claims.sub.or(claims.iss).filter(|name| !name.is_empty())
}

/// The `kid` of the assertion's header, read without verifying anything.
pub fn key_id(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return None;
    }
    header_of(assertion).ok()?.kid
}

/// Verifies `assertion` with one of `keys` and checks its claims (RFC 7523 §3).
pub fn verify(
    assertion: &str,
    keys: &ClientKeySet,
    expected: &Expected<'_>,
) -> Result<VerifiedAssertion, AssertionError> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(AssertionError::Malformed);
    }
    let header = header_of(assertion)?;
    if header.crit.is_some() {
        return Err(AssertionError::Critical);
    }
    let alg = algorithm_named(&header.alg).ok_or(AssertionError::Algorithm)?;
    let candidates = keys.candidates(header.kid.as_deref(), alg);
    if candidates.is_empty() {
        return Err(AssertionError::NoKey);
    }
    let claims = candidates
        .iter()
        .find_map(|key| signed_claims(assertion, &header.alg, alg, &key.decoding))
        .ok_or(AssertionError::Signature)?;
    check_claims(&claims, expected)
}

fn header_of(assertion: &str) -> Result<Header, AssertionError> {
    use base64::Engine;
    let encoded = assertion
        .split('.')
        .next()
        .ok_or(AssertionError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AssertionError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AssertionError::Malformed)
}

/// The claims, if the signature verifies with `key`. `jsonwebtoken::decode` checks it (and
/// the header's `alg` against ours); it does not know RFC 9864's name `Ed25519` for EdDSA, so
/// such a header (whose bytes the signature covers, so cannot be rewritten) is checked by the
/// crate's own verifier for EdDSA, and its claims read once that passed.
fn signed_claims(
    assertion: &str,
    alg_name: &str,
    alg: Algorithm,
    key: &jsonwebtoken::DecodingKey,
) -> Option<Claims> {
    if alg_name == "Ed25519" {
        let (message, signature) = assertion.rsplit_once('.')?;
        if message.matches('.').count() != 1 {
            return None;
        }
        let verified =
            jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg).ok()?;
        return verified
            .then(|| jsonwebtoken::dangerous::insecure_decode_claims(assertion).ok())
            .flatten();
    }
    // Claims are checked by `check_claims`, one rule for every algorithm; the crate checks
    // the signature and the algorithm only.
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Claims>(assertion, key, &validation)
        .ok()
        .map(|data| data.claims)
}

/// A NumericDate claim (RFC 7519 §2): a JSON number, possibly with a fraction.
fn numeric_date(value: &Option<Value>) -> Result<Option<i64>, AssertionError> {
    match value {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(AssertionError::Malformed),
    }
}

fn check_claims(
    claims: &Claims,
    expected: &Expected<'_>,
) -> Result<VerifiedAssertion, AssertionError> {
    let client = Some(expected.client_id);
    if claims.iss.as_deref() != client || claims.sub.as_deref() != client {
        return Err(AssertionError::Subject);
    }
    let audience_ok = match &claims.aud {
        Some(Value::String(aud)) => expected.audiences.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| expected.audiences.iter().any(|ok| ok == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err(AssertionError::Audience);
    }
    let now = expected.now;
    let exp = numeric_date(&claims.exp)?.ok_or(AssertionError::Expiry)?;
    if exp + LEEWAY_SECS <= now || exp > now + MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(AssertionError::Expiry);
    }
    for not_before in [numeric_date(&claims.nbf)?, numeric_date(&claims.iat)?]
        .into_iter()
        .flatten()
    {
        if not_before > now + LEEWAY_SECS {
            return Err(AssertionError::NotYetValid);
        }
    }
    let jti = claims
        .jti
        .clone()
        .filter(|jti| !jti.is_empty() && jti.len() <= 256)
        .ok_or(AssertionError::NoJti)?;
    Ok(VerifiedAssertion {
        jti,
        // A replay must be refused for as long as the assertion would be accepted.
        expires_at: exp + LEEWAY_SECS,
    })
}
