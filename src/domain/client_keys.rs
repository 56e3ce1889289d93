//! An instance's registered public keys for `private_key_jwt` client authentication
//! (RFC 7523 §2.2): a JSON Web Key Set (RFC 7517), checked once, when it is registered, so that
//! verifying an assertion never meets a key it cannot use.
//!
//! Only what the assertion check can use is accepted: P-256 (`ES256`), Ed25519 (`EdDSA`, also
//! named `Ed25519` after RFC 9864) and RSA of at least 2048 bits (`RS256`, `PS256`). Anything
//! that carries private material (`d`, the RSA primes, a symmetric `k`) is refused outright: a
//! caller who pastes a private key by mistake must learn so, not have it stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use thiserror::Error;

use super::error::DomainError;

/// Most keys one instance may register (a current key and a few being rotated in or out).
pub const MAX_KEYS: usize = 10;
/// Longest JWK Set accepted, in bytes of JSON.
pub const MAX_JWKS_BYTES: usize = 16 * 1024;
/// Shortest RSA modulus accepted (RFC 7518 §3.3 asks for 2048 bits or more).
pub const MIN_RSA_BITS: usize = 2048;
/// Longest RSA modulus accepted: longer keys only make every verification slower.
pub const MAX_RSA_BITS: usize = 8192;

/// JWK members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

/// Why a JWK Set was refused; each message says what to change.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeySetError {
    /// More than [`MAX_JWKS_BYTES`].
    #[error("The JWK Set is larger than {MAX_JWKS_BYTES} bytes.")]
    TooLarge,
    /// Not JSON, or not an object with a `keys` array.
    #[error("A JWK Set is a JSON object {{\"keys\":[…]}} (RFC 7517 §5): {0}")]
    NotASet(String),
    /// More than [`MAX_KEYS`].
    #[error("A JWK Set may hold at most {MAX_KEYS} keys.")]
    TooManyKeys,
    /// A key holds private material.
    #[error("Key #{0} holds private key material ({1:?}); register the public key only.")]
    PrivateKey(usize, String),
    /// A symmetric key.
    #[error(
        "Key #{0} is a symmetric (\"oct\") key; private_key_jwt takes public keys (EC, OKP or RSA)."
    )]
    Symmetric(usize),
    /// A `kty` or `crv` we do not verify with.
    #[error("Key #{0}: {1}; supported are EC P-256, OKP Ed25519 and RSA.")]
    Unsupported(usize, String),
    /// An `alg`, `use` or `key_ops` that does not allow signature verification with this key.
    #[error("Key #{0}: {1}")]
    NotForSignatures(usize, String),
    /// An RSA modulus out of bounds.
    #[error("Key #{0} is an RSA key of {1} bits; use {MIN_RSA_BITS} to {MAX_RSA_BITS} bits.")]
    RsaSize(usize, usize),
    /// The key's numbers are not a valid public key.
    #[error("Key #{0} is not a valid public key: {1}")]
    Invalid(usize, String),
    /// Two keys with one `kid`.
    #[error("Two keys have the key id {0:?}; each kid must be unique.")]
    DuplicateKid(String),
}

impl From<KeySetError> for DomainError {
    fn from(error: KeySetError) -> Self {
        DomainError::InvalidRequest(error.to_string())
    }
}

/// What kind of key a JWK is, which decides the algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// EC P-256: `ES256`.
    P256,
    /// OKP Ed25519: `EdDSA`.
    Ed25519,
    /// RSA: `RS256` and `PS256`.
    Rsa,
}

impl KeyKind {
    /// The signature algorithms a key of this kind may verify.
    pub fn algorithms(self) -> &'static [Algorithm] {
        match self {
            KeyKind::P256 => &[Algorithm::ES256],
            KeyKind::Ed25519 => &[Algorithm::EdDSA],
            KeyKind::Rsa => &[Algorithm::RS256, Algorithm::PS256],
        }
    }
}

/// The JOSE algorithm names an assertion may be signed with, as the metadata lists them.
pub const SIGNING_ALGORITHMS: [&str; 5] = ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"];

/// The algorithm a JOSE `alg` name (header or JWK) stands for, among those we verify:
/// `Ed25519` (RFC 9864's fully-specified name) is `EdDSA` over Ed25519, the only curve we take.
pub fn algorithm_named(name: &str) -> Option<Algorithm> {
    match name {
        "ES256" => Some(Algorithm::ES256),
        "EdDSA" | "Ed25519" => Some(Algorithm::EdDSA),
        "RS256" => Some(Algorithm::RS256),
        "PS256" => Some(Algorithm::PS256),
        _ => None,
    }
}

/// One registered public key, ready to verify with.
#[derive(Clone)]
pub struct ClientKey {
    /// Its `kid`, if it has one.
    pub kid: Option<String>,
    /// What kind of key it is.
    pub kind: KeyKind,
    /// The one algorithm its `alg` pins it to, if it names one.
    pub alg: Option<Algorithm>,
    /// Its RFC 7638 SHA-256 thumbprint (base64url), to show and to refer to it by.
    pub thumbprint: String,
    /// The key as `jsonwebtoken` verifies with it.
    pub decoding: DecodingKey,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// Whether this key may verify a signature made with `alg`.
    pub fn verifies(&self, alg: Algorithm) -> bool {
        self.kind.algorithms().contains(&alg) && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

/// A checked JWK Set of public keys, with the JSON it was read from (public members only).
#[derive(Debug, Clone)]
pub struct ClientKeySet {
    keys: Vec<ClientKey>,
    json: String,
}

impl ClientKeySet {
    /// Reads and checks a JWK Set. An empty set is `Ok(None)`: registering it clears the keys.
    pub fn parse(text: &str) -> Result<Option<Self>, KeySetError> {
        if text.len() > MAX_JWKS_BYTES {
            return Err(KeySetError::TooLarge);
        }
        let value = super::json::value_from_str(text)
            .map_err(|error| KeySetError::NotASet(error.to_string()))?;
        let Value::Object(mut set) = value else {
            return Err(KeySetError::NotASet("not an object".into()));
        };
        let Some(Value::Array(members)) = set.remove("keys") else {
            return Err(KeySetError::NotASet("no \"keys\" array".into()));
        };
        if members.is_empty() {
            return Ok(None);
        }
        if members.len() > MAX_KEYS {
            return Err(KeySetError::TooManyKeys);
        }
        let mut keys: Vec<ClientKey> = Vec::with_capacity(members.len());
        for (index, member) in members.iter().enumerate() {
            let key = checked_key(index + 1, member)?;
            if let Some(kid) = &key.kid
                && keys.iter().any(|k| k.kid.as_ref() == Some(kid))
            {
                return Err(KeySetError::DuplicateKid(kid.clone()));
            }
            keys.push(key);
        }
        let json = serde_json::json!({ "keys": members }).to_string();
        Ok(Some(ClientKeySet { keys, json }))
    }

    /// Reads a set stored earlier (checked when it was registered).
    pub fn stored(text: &str) -> Result<Self, KeySetError> {
        Self::parse(text)?.ok_or_else(|| KeySetError::NotASet("no keys".into()))
    }

    /// The keys, in the order given.
    pub fn keys(&self) -> &[ClientKey] {
        &self.keys
    }

    /// The set as JSON, to store and show.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The keys that may verify a signature by `alg` with key id `kid`: the one with that
    /// `kid` when one is named, else every key whose kind (and `alg`, if pinned) fits.
    pub fn candidates(&self, kid: Option<&str>, alg: Algorithm) -> Vec<&ClientKey> {
        self.keys
            .iter()
            .filter(|key| kid.is_none_or(|kid| key.kid.as_deref() == Some(kid)))
            .filter(|key| key.verifies(alg))
            .collect()
    }
}

/// Checks one member of the set: a public key of a kind we verify with, for signatures.
fn checked_key(index: usize, member: &Value) -> Result<ClientKey, KeySetError> {
    let Value::Object(fields) = member else {
        return Err(KeySetError::NotASet(format!(
            "key #{index} is not an object"
        )));
    };
    if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| fields.contains_key(**m)) {
        return Err(KeySetError::PrivateKey(index, (*private).to_owned()));
    }
    let text = |name: &str| -> Result<Option<&str>, KeySetError> {
        match fields.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(KeySetError::Invalid(
                index,
                format!("{name} is not a string"),
            )),
        }
    };
    let kind = match (text("kty")?, text("crv")?) {
        (Some("oct"), _) => return Err(KeySetError::Symmetric(index)),
        (Some("EC"), Some("P-256")) => KeyKind::P256,
        (Some("OKP"), Some("Ed25519")) => KeyKind::Ed25519,
        (Some("RSA"), _) => KeyKind::Rsa,
        (Some(kty @ ("EC" | "OKP")), crv) => {
            return Err(KeySetError::Unsupported(
                index,
                format!(
                    "kty {kty:?} with crv {:?} is not supported",
                    crv.unwrap_or("")
                ),
            ));
        }
        (Some(kty), _) => {
            return Err(KeySetError::Unsupported(
                index,
                format!("kty {kty:?} is not supported"),
            ));
        }
        (None, _) => return Err(KeySetError::Invalid(index, "kty is missing".into())),
    };
    let alg = match text("alg")? {
        None => None,
        Some(name) => match algorithm_named(name) {
            Some(alg) if kind.algorithms().contains(&alg) => Some(alg),
            _ => {
                return Err(KeySetError::NotForSignatures(
                    index,
                    format!("alg {name:?} is not one this key can verify with"),
                ));
            }
        },
    };
    if let Some(usage) = text("use")?
        && usage != "sig"
    {
        return Err(KeySetError::NotForSignatures(
            index,
            format!("use {usage:?}: a client key must be for signatures (\"sig\")"),
        ));
    }
    if let Some(ops) = fields.get("key_ops")
        && !ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op == "verify"))
    {
        return Err(KeySetError::NotForSignatures(
            index,
            "key_ops must include \"verify\"".into(),
        ));
    }
    let kid = text("kid")?.map(str::to_owned);
    if kid
        .as_ref()
        .is_some_and(|kid| kid.is_empty() || kid.len() > 256)
    {
        return Err(KeySetError::Invalid(
            index,
            "kid must be 1 to 256 characters".into(),
        ));
    }
    check_numbers(index, kind, fields)?;
    let jwk = jwk_of(index, kind, fields)?;
    let decoding = DecodingKey::from_jwk(&jwk)
        .map_err(|error| KeySetError::Invalid(index, error.to_string()))?;
    if kind != KeyKind::Rsa {
        // Building the crate's verifier parses the point: an EC point off the curve, or an
        // Ed25519 encoding that is no point, is refused now rather than at every assertion.
        jsonwebtoken::crypto::verify("", b"", &decoding, kind.algorithms()[0])
            .map_err(|error| KeySetError::Invalid(index, error.to_string()))?;
    }
    let thumbprint = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|error| KeySetError::Invalid(index, error.to_string()))?;
    Ok(ClientKey {
        kid,
        kind,
        alg,
        thumbprint,
        decoding,
    })
}

/// The key's numbers are base64url of the right lengths (an Ed25519 `x` is 32 bytes, P-256
/// coordinates 32 each) and an RSA modulus has an accepted size.
fn check_numbers(
    index: usize,
    kind: KeyKind,
    fields: &Map<String, Value>,
) -> Result<(), KeySetError> {
    let bytes = |name: &str| -> Result<Vec<u8>, KeySetError> {
        fields
            .get(name)
            .and_then(Value::as_str)
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
            .ok_or_else(|| KeySetError::Invalid(index, format!("{name} is not base64url")))
    };
    let exactly = |name: &str, len: usize| -> Result<(), KeySetError> {
        if bytes(name)?.len() == len {
            Ok(())
        } else {
            Err(KeySetError::Invalid(
                index,
                format!("{name} must be {len} bytes"),
            ))
        }
    };
    match kind {
        KeyKind::P256 => {
            exactly("x", 32)?;
            exactly("y", 32)
        }
        KeyKind::Ed25519 => exactly("x", 32),
        KeyKind::Rsa => {
            let modulus = bytes("n")?;
            let leading_zeros = modulus.iter().take_while(|b| **b == 0).count();
            let significant = &modulus[leading_zeros..];
            let bits = significant.first().map_or(0, |top| {
                significant.len() * 8 - top.leading_zeros() as usize
            });
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(KeySetError::RsaSize(index, bits));
            }
            let exponent = bytes("e")?;
            if exponent.is_empty()
                || exponent.len() > 4
                || exponent.last().is_none_or(|b| b % 2 == 0)
            {
                return Err(KeySetError::Invalid(
                    index,
                    "e is not a usable RSA exponent".into(),
                ));
            }
            Ok(())
        }
    }
}

/// The key as `jsonwebtoken` reads JWKs, from its public members only (an `alg` it does not
/// know by name, such as `Ed25519`, is left out: [`KeyKind`] and `ClientKey::alg` carry it).
fn jwk_of(index: usize, kind: KeyKind, fields: &Map<String, Value>) -> Result<Jwk, KeySetError> {
    let public: &[&str] = match kind {
        KeyKind::P256 => &["kty", "crv", "x", "y", "kid"],
        KeyKind::Ed25519 => &["kty", "crv", "x", "kid"],
        KeyKind::Rsa => &["kty", "n", "e", "kid"],
    };
    let members: Map<String, Value> = public
        .iter()
        .filter_map(|name| fields.get(*name).map(|v| ((*name).to_owned(), v.clone())))
        .collect();
    serde_json::from_value(Value::Object(members))
        .map_err(|error| KeySetError::Invalid(index, error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const ED25519: &str = r#"{"kty":"OKP","crv":"Ed25519","alg":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

    fn set(keys: &[&str]) -> String {
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    #[test]
    fn public_p256_and_ed25519_keys_are_accepted_with_their_thumbprints() {
        let parsed = ClientKeySet::parse(&set(&[P256, ED25519]))
            .unwrap()
            .unwrap();
        let keys = parsed.keys();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].kind, KeyKind::P256);
        assert_eq!(keys[1].alg, Some(Algorithm::EdDSA));
        // RFC 8037 appendix A.3's thumbprint of this very Ed25519 key.
        assert_eq!(
            keys[1].thumbprint,
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        assert_eq!(parsed.candidates(Some("ec1"), Algorithm::ES256).len(), 1);
        assert!(parsed.candidates(Some("ec1"), Algorithm::EdDSA).is_empty());
        assert_eq!(parsed.candidates(None, Algorithm::EdDSA).len(), 1);
    }

    #[test]
    fn private_symmetric_unknown_and_oversized_keys_are_refused() {
        let with_d = P256.replace(r#""kid":"ec1""#, r#""kid":"ec1","d":"AAAA""#);
        let refusals = [
            (set(&[&with_d]), "private key material"),
            (set(&[r#"{"kty":"oct","k":"c2VjcmV0"}"#]), "symmetric"),
            (
                set(&[r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#]),
                "not supported",
            ),
            (set(&[r#"{"kty":"XYZ"}"#]), "not supported"),
            (
                set(&[&P256.replace("\"kid\":\"ec1\",", "\"alg\":\"RS256\",")]),
                "alg",
            ),
            (set(&[P256, P256]), "unique"),
            (set(&[&P256.replace("f83O", "AAAA")]), "valid public key"),
            (set(&[r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#]), "bits"),
            (set(&[ED25519; MAX_KEYS + 1]), "at most"),
            ("[]".to_owned(), "JSON object"),
            (" ".repeat(MAX_JWKS_BYTES + 1), "larger"),
        ];
        for (text, says) in refusals {
            let error = ClientKeySet::parse(&text).unwrap_err().to_string();
            assert!(error.contains(says), "{text:.80}: {error}");
        }
    }

    #[test]
    fn an_empty_set_clears() {
        assert!(ClientKeySet::parse(r#"{"keys":[]}"#).unwrap().is_none());
    }

    #[test]
    fn rfc_9864_and_classic_names_map_to_the_algorithms_verified() {
        assert_eq!(algorithm_named("Ed25519"), Some(Algorithm::EdDSA));
        assert_eq!(algorithm_named("EdDSA"), Some(Algorithm::EdDSA));
        assert_eq!(algorithm_named("none"), None);
        assert_eq!(algorithm_named("HS256"), None);
    }
}
