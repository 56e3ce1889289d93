//! JWT access tokens (RFC 9068): the signing keys every replica shares, how they rotate, the
//! key set published at `/.well-known/jwks.json`, and signing and verifying the tokens.
//!
//! Signing and verifying are the `jsonwebtoken` crate's; keys are made with the RustCrypto
//! curve crates it uses. Nothing here parses or signs by hand.
//!
//! **Keys.** Each key is a row of the store (its private half sealed under the data key), so
//! every replica signs with the same key and publishes the same set. Rows are only inserted:
//! the key that signs is the one of highest generation whose `active_from` has come. A new key
//! is inserted [`prepublish`] ahead of its `active_from`, so that verifiers that cache the key
//! set (for [`JWKS_MAX_AGE`]) already hold it when the first token it signs reaches them. A key
//! stops signing when a later one becomes active and stays published until every token it can
//! have signed has expired (the lifetime, plus [`RELOAD_INTERVAL`] for replicas that have not
//! yet noticed the change, plus [`LEEWAY`]).
//!
//! **Checking.** A JWT is accepted only with `typ: at+jwt`, a `kid` of a published key, that
//! key's algorithm (so `alg: none` or a swapped algorithm never verifies), this server's `iss`
//! and `aud`, and `exp`/`nbf` around now. Revocation needs more than the signature: the
//! token's row, found by a keyed hash of its `jti`, must still be active — which is how a JWT
//! is revocable wherever an opaque token is.

use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::clock::{self, UnixTime};
use super::error::DomainError;
use super::model::{SigningKeyRecord, TokenFormat};
use super::secrets::{self, ServerKeys};
use crate::store::DynStore;

/// How long verifiers may cache the published key set (`Cache-Control: max-age`).
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// How often, at most, each process reads the key set again (and rotates when it is due): a
/// key made by another process is signed with here within this long.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(30);

/// Clock difference tolerated between this server and verifiers, for `exp`, `nbf` and `iat`.
pub const LEEWAY: i64 = 5;

/// The longest a JWT may be: a few hundred bytes in practice; longer ones are not ours.
pub const MAX_JWT_LEN: usize = 4096;

/// The `typ` header of an RFC 9068 access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The signing algorithms offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// ECDSA on P-256 with SHA-256: the default, verifiable by every JOSE library.
    Es256,
    /// Ed25519: smaller and faster, where every verifier supports it.
    EdDsa,
}

impl SigningAlgorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::EdDsa => "EdDSA",
        }
    }

    fn jose(self) -> Algorithm {
        match self {
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl FromStr for SigningAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(SigningAlgorithm::Es256),
            "EdDSA" => Ok(SigningAlgorithm::EdDsa),
            other => Err(format!(
                "unknown signing algorithm {other:?}: expected ES256 or EdDSA"
            )),
        }
    }
}

/// The JWT settings of a deployment.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// What `/oauth/token` issues for tenants without a format of their own.
    pub default_format: TokenFormat,
    /// Lifetime of a JWT access token: short, since offline verifiers honour it until `exp`.
    pub lifetime: Duration,
    /// `aud`; `None` means the API Host URL.
    pub audience: Option<String>,
    /// Algorithm of new keys.
    pub algorithm: SigningAlgorithm,
    /// How long a key signs before the next one takes over.
    pub rotation: Duration,
}

impl Default for JwtSettings {
    fn default() -> Self {
        JwtSettings {
            default_format: TokenFormat::Opaque,
            lifetime: Duration::from_secs(15 * 60),
            audience: None,
            algorithm: SigningAlgorithm::Es256,
            rotation: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

impl JwtSettings {
    /// The lifetime in whole seconds (at least one).
    pub fn lifetime_secs(&self) -> i64 {
        i64::try_from(self.lifetime.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    fn rotation_secs(&self) -> i64 {
        i64::try_from(self.rotation.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// How often each process reads the keys again: [`RELOAD_INTERVAL`], or a quarter of a
    /// (short) rotation period so that no rotation is missed.
    pub fn reload_interval(&self) -> Duration {
        (self.rotation / 4).clamp(Duration::from_secs(1), RELOAD_INTERVAL)
    }

    /// How long a key that stopped signing stays published: until the last token a process
    /// that has not yet read the change may sign with it has expired.
    fn retired_for(&self) -> i64 {
        self.lifetime_secs()
            .saturating_add(self.reload_interval().as_secs() as i64)
            .saturating_add(LEEWAY)
    }
}

/// How far ahead of its first signature a key is published: long enough for caches of the key
/// set to have read it again, but never more than half the rotation period.
pub fn prepublish(rotation_secs: i64) -> i64 {
    (rotation_secs / 2).min(3600)
}

/// Who the tokens are from and for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtIdentity {
    /// `iss`: the issuer named in the server metadata.
    pub issuer: String,
    /// `aud`: the API the tokens are for.
    pub audience: String,
    /// The API Host URL: where the resources are (DPoP proofs there name it).
    pub resource: String,
}

/// The claims of an access token (RFC 9068 §2.2, plus `tenant_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The issuer.
    pub iss: String,
    /// The instance username.
    pub sub: String,
    /// The API the token is for.
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// The token's id: what its row is found by, and what revocation marks.
    pub jti: String,
    /// The instance username, again (RFC 9068 asks for both).
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// The tenant, as a string like everywhere else.
    pub tenant_id: String,
    /// A DPoP-bound token's confirmation (RFC 9449 §6.1): the thumbprint of its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// `cnf` of a DPoP-bound token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The JWK SHA-256 thumbprint of the key (RFC 7638).
    pub jkt: String,
}

/// Whether a bearer string is shaped like a JWS compact serialization (a JSON header, three
/// parts). Opaque tokens of every dialect never are.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|&b| b == b'.').count() == 2
}

/// One key, ready to use.
struct LoadedKey {
    kid: String,
    generation: i64,
    kind: SigningAlgorithm,
    algorithm: Algorithm,
    active_from: UnixTime,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

/// The keys as last read from the store.
struct KeySet {
    /// Ascending generation.
    keys: Vec<LoadedKey>,
    /// `{"keys":[…]}` of the published ones, serialised once per read.
    jwks: Arc<str>,
}

impl KeySet {
    /// The key that signs at `now`.
    fn active(&self, now: UnixTime) -> Option<&LoadedKey> {
        self.keys.iter().rev().find(|k| k.active_from <= now)
    }

    /// When the key at `index` stopped signing, if it has.
    fn ended(&self, index: usize, now: UnixTime) -> Option<UnixTime> {
        self.keys[index + 1..]
            .iter()
            .map(|k| k.active_from)
            .filter(|&from| from <= now)
            .min()
    }

    /// Whether the key at `index` is published at `now`.
    fn published(&self, index: usize, now: UnixTime, retired_for: i64) -> bool {
        self.ended(index, now)
            .is_none_or(|ended| now < ended.saturating_add(retired_for))
    }
}

/// Signs and verifies JWT access tokens with the deployment's shared keys.
#[derive(Clone)]
pub struct JwtAuthority {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    keys: Arc<ServerKeys>,
    settings: JwtSettings,
    identity: JwtIdentity,
    set: RwLock<Arc<KeySet>>,
    /// When a verification last read the keys again for a `kid` it did not know, so a flood of
    /// made-up `kid`s costs one read a second.
    last_unknown_kid_reload: Mutex<Option<Instant>>,
}

impl JwtAuthority {
    /// An authority with no keys yet: [`JwtAuthority::maintain`] loads (and if need be makes)
    /// them before the first token is signed.
    pub fn new(
        store: DynStore,
        keys: Arc<ServerKeys>,
        settings: JwtSettings,
        identity: JwtIdentity,
    ) -> Self {
        super::jose::install();
        JwtAuthority {
            inner: Arc::new(Inner {
                store,
                keys,
                settings,
                identity,
                set: RwLock::new(Arc::new(KeySet {
                    keys: Vec::new(),
                    jwks: Arc::from(r#"{"keys":[]}"#),
                })),
                last_unknown_kid_reload: Mutex::new(None),
            }),
        }
    }

    /// The settings, for the token endpoint.
    pub fn settings(&self) -> &JwtSettings {
        &self.inner.settings
    }

    /// The issuer and audience.
    pub fn identity(&self) -> &JwtIdentity {
        &self.inner.identity
    }

    fn current(&self) -> Arc<KeySet> {
        self.inner
            .set
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The published key set, as JSON.
    pub fn jwks_json(&self) -> Arc<str> {
        self.current().jwks.clone()
    }

    /// Reads the keys again and makes the next one when rotation is due (or the first one for
    /// a new deployment). Every process runs this every [`RELOAD_INTERVAL`]; when two make the
    /// same generation at once, the store keeps one and both read it back.
    pub async fn maintain(&self) -> Result<(), DomainError> {
        let now = clock::now();
        self.reload(now).await?;
        let set = self.current();
        let rotation = self.inner.settings.rotation_secs();
        let newest = set.keys.last();
        let next = match (set.active(now), newest) {
            (None, None) => Some((1, now)),
            (None, Some(newest)) => Some((newest.generation + 1, now)),
            (Some(active), Some(newest)) if newest.generation == active.generation => {
                let due = active.active_from.saturating_add(rotation);
                let ahead = prepublish(rotation);
                (now >= due.saturating_sub(ahead))
                    .then(|| (active.generation + 1, due.max(now.saturating_add(ahead))))
            }
            _ => None,
        };
        if let Some((generation, active_from)) = next {
            self.add_key(generation, now, active_from).await?;
            self.reload(now).await?;
        }
        Ok(())
    }

    /// `key rotate-signing`: a new key signs from now on (a key already published ahead of its
    /// time is promoted instead, since verifiers may hold it already). The previous key stays
    /// published until its tokens have expired. Returns the new active key's id.
    pub async fn rotate_now(&self) -> Result<String, DomainError> {
        let now = clock::now();
        self.reload(now).await?;
        if self.inner.store.activate_signing_keys(now).await? == 0 {
            let generation = self.current().keys.last().map_or(1, |k| k.generation + 1);
            self.add_key(generation, now, now).await?;
        }
        self.reload(now).await?;
        self.current()
            .active(now)
            .map(|k| k.kid.clone())
            .ok_or_else(|| DomainError::Internal("no signing key after a rotation".into()))
    }

    /// The key ids and their state, for the CLI.
    pub async fn describe(&self) -> Result<Vec<KeyState>, DomainError> {
        let now = clock::now();
        self.reload(now).await?;
        let set = self.current();
        let active = set.active(now).map(|k| k.generation);
        let retired_for = self.inner.settings.retired_for();
        Ok(set
            .keys
            .iter()
            .enumerate()
            .map(|(index, key)| KeyState {
                kid: key.kid.clone(),
                algorithm: key.kind.as_str().to_owned(),
                active_from: key.active_from,
                signing: Some(key.generation) == active,
                published: set.published(index, now, retired_for),
            })
            .collect())
    }

    async fn add_key(
        &self,
        generation: i64,
        now: UnixTime,
        active_from: UnixTime,
    ) -> Result<(), DomainError> {
        let record = new_key(
            &self.inner.keys,
            self.inner.settings.algorithm,
            generation,
            now,
            active_from,
        )?;
        let retired_for = self.inner.settings.retired_for();
        let set = self.current();
        // Keys no longer published can go, keeping the newest of them (the order of generations
        // is all the published window is computed from).
        let prune_before = (0..set.keys.len())
            .find(|&index| set.published(index, now, retired_for))
            .map_or(generation, |index| set.keys[index].generation);
        self.inner
            .store
            .add_signing_key(&record, prune_before)
            .await?;
        Ok(())
    }

    /// Reads every key from the store and replaces the set.
    async fn reload(&self, now: UnixTime) -> Result<(), DomainError> {
        let records = self.inner.store.signing_keys().await?;
        let keys = records
            .iter()
            .map(|record| load_key(&self.inner.keys, record))
            .collect::<Result<Vec<_>, _>>()?;
        let mut set = KeySet {
            keys,
            jwks: Arc::from(""),
        };
        let retired_for = self.inner.settings.retired_for();
        let published: Vec<&Jwk> = (0..set.keys.len())
            .filter(|&index| set.published(index, now, retired_for))
            .map(|index| &set.keys[index].jwk)
            .collect();
        let jwks = serde_json::json!({ "keys": published }).to_string();
        set.jwks = Arc::from(jwks);
        *self
            .inner
            .set
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// Signs `claims` with the active key.
    pub async fn sign(&self, claims: &AccessClaims) -> Result<String, DomainError> {
        let now = clock::now();
        let mut set = self.current();
        if set.active(now).is_none() {
            self.maintain().await?;
            set = self.current();
        }
        let key = set
            .active(now)
            .ok_or_else(|| DomainError::Internal("no JWT signing key".into()))?;
        let mut header = Header::new(key.algorithm);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| DomainError::Internal(format!("JWT signing failed: {e}")))
    }

    /// The claims of a JWT access token of ours whose signature, type, issuer, audience and
    /// times check out; `InvalidToken` for anything else. Whether it was revoked is the
    /// caller's to ask (by its `jti`).
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, DomainError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| DomainError::InvalidToken)?;
        let kid = header.kid.as_deref().ok_or(DomainError::InvalidToken)?;
        let mut set = self.current();
        if !set.keys.iter().any(|k| k.kid == kid)
            && kid.len() <= 128
            && self.may_reload_for_unknown_kid()
        {
            self.reload(clock::now()).await?;
            set = self.current();
        }
        check(
            &set,
            token,
            &self.inner.identity,
            self.inner.settings.retired_for(),
            clock::now(),
        )
    }

    fn may_reload_for_unknown_kid(&self) -> bool {
        let mut last = self
            .inner
            .last_unknown_kid_reload
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1));
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    /// Runs [`JwtAuthority::maintain`] every [`JwtSettings::reload_interval`] until dropped.
    pub fn spawn_maintainer(&self) -> tokio::task::JoinHandle<()> {
        let authority = self.clone();
        let every = self.inner.settings.reload_interval();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = authority.maintain().await {
                    tracing::warn!(%error, "could not read or rotate the JWT signing keys");
                }
            }
        })
    }
}

/// Checks a JWT against a key set: the header's `typ`, `kid` (a published key) and `alg` (that
/// key's, so `none` or an HMAC keyed with the public key never verifies), the signature, and
/// `iss`, `aud`, `exp`, `nbf`, `iat`, `sub`.
fn check(
    set: &KeySet,
    token: &str,
    identity: &JwtIdentity,
    retired_for: i64,
    now: UnixTime,
) -> Result<AccessClaims, DomainError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| DomainError::InvalidToken)?;
    let typ_ok = header.typ.as_deref().is_some_and(|typ| {
        typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
            || typ.eq_ignore_ascii_case("application/at+jwt")
    });
    let kid = header.kid.as_deref().ok_or(DomainError::InvalidToken)?;
    if !typ_ok {
        return Err(DomainError::InvalidToken);
    }
    let key = set
        .keys
        .iter()
        .enumerate()
        .find(|(index, k)| k.kid == kid && set.published(*index, now, retired_for))
        .map(|(_, k)| k)
        .ok_or(DomainError::InvalidToken)?;
    if header.alg != key.algorithm {
        return Err(DomainError::InvalidToken);
    }
    let mut validation = Validation::new(key.algorithm);
    validation.leeway = LEEWAY as u64;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
    validation.set_issuer(&[&identity.issuer]);
    validation.set_audience(&[&identity.audience]);
    let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
        .map_err(|_| DomainError::InvalidToken)?
        .claims;
    if claims.iat > now + LEEWAY || claims.sub != claims.client_id {
        return Err(DomainError::InvalidToken);
    }
    Ok(claims)
}

/// A key as the CLI lists it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyState {
    /// Key id.
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub algorithm: String,
    /// When it starts (or started) signing.
    pub active_from: UnixTime,
    /// Whether it signs now.
    pub signing: bool,
    /// Whether `/.well-known/jwks.json` lists it.
    pub published: bool,
}

/// A fresh key of `algorithm`, sealed for the store.
fn new_key(
    keys: &ServerKeys,
    algorithm: SigningAlgorithm,
    generation: i64,
    now: UnixTime,
    active_from: UnixTime,
) -> Result<SigningKeyRecord, DomainError> {
    let broken = |what: &str| DomainError::Internal(format!("making a signing key: {what}"));
    let (private, mut jwk) = match algorithm {
        SigningAlgorithm::Es256 => {
            use p256::pkcs8::EncodePrivateKey;
            let secret = loop {
                let mut bytes = [0u8; 32];
                secrets::fill_random(&mut bytes)?;
                // All but a 2^-32 sliver of 32-byte strings are valid scalars.
                if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                    break secret;
                }
            };
            let der = secret.to_pkcs8_der().map_err(|e| broken(&e.to_string()))?;
            let der = der.as_bytes().to_vec();
            let jwk = Jwk::from_encoding_key(&EncodingKey::from_ec_der(&der), Algorithm::ES256)
                .map_err(|e| broken(&e.to_string()))?;
            (der, jwk)
        }
        SigningAlgorithm::EdDsa => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let mut bytes = [0u8; 32];
            secrets::fill_random(&mut bytes)?;
            let signing = ed25519_dalek::SigningKey::from_bytes(&bytes);
            let der = signing.to_pkcs8_der().map_err(|e| broken(&e.to_string()))?;
            let jwk = Jwk {
                common: CommonParameters {
                    key_algorithm: Some(KeyAlgorithm::EdDSA),
                    ..CommonParameters::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
                }),
            };
            (der.as_bytes().to_vec(), jwk)
        }
    };
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| broken(&e.to_string()))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let public_jwk = serde_json::to_string(&jwk).map_err(|e| broken(&e.to_string()))?;
    Ok(SigningKeyRecord {
        sealed_private: keys.seal_signing_key(&private, &kid)?,
        kid,
        generation,
        algorithm: algorithm.as_str().to_owned(),
        public_jwk,
        created_at: now,
        active_from,
    })
}

/// A stored key, unsealed and parsed.
fn load_key(keys: &ServerKeys, record: &SigningKeyRecord) -> Result<LoadedKey, DomainError> {
    let broken = || DomainError::Internal(format!("signing key {} is unreadable", record.kid));
    let algorithm = SigningAlgorithm::from_str(&record.algorithm).map_err(|_| broken())?;
    let private = keys.unseal_signing_key(&record.sealed_private, &record.kid)?;
    let jwk: Jwk = serde_json::from_str(&record.public_jwk).map_err(|_| broken())?;
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| broken())?;
    let encoding = match algorithm {
        SigningAlgorithm::Es256 => EncodingKey::from_ec_der(&private),
        SigningAlgorithm::EdDsa => EncodingKey::from_ed_der(&private),
    };
    Ok(LoadedKey {
        kid: record.kid.clone(),
        generation: record.generation,
        kind: algorithm,
        algorithm: algorithm.jose(),
        active_from: record.active_from,
        encoding,
        decoding,
        jwk,
    })
}

/// Key ids by their position, for tests.
#[cfg(test)]
fn kids(set: &KeySet) -> std::collections::HashMap<i64, &str> {
    set.keys
        .iter()
        .map(|k| (k.generation, k.kid.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_told_from_opaque_tokens_by_shape() {
        assert!(looks_like_jwt("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(!looks_like_jwt("0f8b6d3c-1a2b-4c5d-8e9f-0a1b2c3d4e5f"));
        assert!(!looks_like_jwt("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0"));
        assert!(!looks_like_jwt("abc.def.ghi"));
    }

    #[test]
    fn keys_are_published_ahead_of_use_but_never_for_more_than_half_a_rotation() {
        assert_eq!(prepublish(30 * 24 * 3600), 3600);
        assert_eq!(prepublish(600), 300);
        assert_eq!(prepublish(1), 0);
    }

    #[test]
    fn a_retired_key_stays_published_until_its_last_token_expired() {
        let keys = ServerKeys::from_master(&[7u8; 32]);
        let first = new_key(&keys, SigningAlgorithm::Es256, 1, 0, 0).unwrap();
        let second = new_key(&keys, SigningAlgorithm::EdDsa, 2, 1000, 2000).unwrap();
        let set = KeySet {
            keys: vec![
                load_key(&keys, &first).unwrap(),
                load_key(&keys, &second).unwrap(),
            ],
            jwks: Arc::from(""),
        };
        assert_eq!(kids(&set).len(), 2);
        // Before the second key's time, the first signs and both are published.
        assert_eq!(set.active(1500).unwrap().generation, 1);
        assert!(set.published(0, 1500, 900) && set.published(1, 1500, 900));
        // After it, the second signs; the first stays published for `retired_for`.
        assert_eq!(set.active(2000).unwrap().generation, 2);
        assert!(set.published(0, 2899, 900));
        assert!(!set.published(0, 2900, 900));
    }

    #[test]
    fn a_sealed_key_opens_only_under_its_own_kid_and_server_key() {
        let keys = ServerKeys::from_master(&[7u8; 32]);
        let mut record = new_key(&keys, SigningAlgorithm::Es256, 1, 0, 0).unwrap();
        assert!(load_key(&keys, &record).is_ok());
        let other = ServerKeys::from_master(&[8u8; 32]);
        assert!(load_key(&other, &record).is_err());
        record.kid = "another".into();
        assert!(load_key(&keys, &record).is_err());
    }

    /// jsonwebtoken checks times against the system clock, so the tests use it too.
    fn now() -> UnixTime {
        clock::now()
    }

    fn identity() -> JwtIdentity {
        JwtIdentity {
            issuer: "https://auth.example".into(),
            audience: "https://api.example".into(),
            resource: "https://api.example".into(),
        }
    }

    fn claims(now: UnixTime) -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example".into(),
            sub: "tracker_abc123".into(),
            aud: "https://api.example".into(),
            exp: now + 900,
            iat: now,
            nbf: now,
            jti: "an-id".into(),
            client_id: "tracker_abc123".into(),
            scope: "dw:tracker".into(),
            tenant_id: "7".into(),
            cnf: None,
        }
    }

    fn one_key_set(algorithm: SigningAlgorithm) -> KeySet {
        let keys = ServerKeys::from_master(&[7u8; 32]);
        let record = new_key(&keys, algorithm, 1, 0, 0).unwrap();
        KeySet {
            keys: vec![load_key(&keys, &record).unwrap()],
            jwks: Arc::from(""),
        }
    }

    fn signed(set: &KeySet, typ: Option<&str>, claims: &AccessClaims) -> String {
        let key = &set.keys[0];
        let mut header = Header::new(key.algorithm);
        header.typ = typ.map(str::to_owned);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
    }

    fn b64(json: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn a_token_we_signed_checks_out_with_either_algorithm() {
        for algorithm in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let set = one_key_set(algorithm);
            let token = signed(&set, Some("at+jwt"), &claims(now()));
            assert!(looks_like_jwt(&token));
            let checked = check(&set, &token, &identity(), 900, now()).unwrap();
            assert_eq!(checked, claims(now()));
        }
    }

    #[test]
    fn the_header_must_say_at_jwt_and_name_a_published_key() {
        let set = one_key_set(SigningAlgorithm::Es256);
        for typ in [None, Some("JWT"), Some("jwt")] {
            let token = signed(&set, typ, &claims(now()));
            assert!(
                check(&set, &token, &identity(), 900, now()).is_err(),
                "{typ:?}"
            );
        }
        let token = signed(&set, Some("application/at+jwt"), &claims(now()));
        assert!(check(&set, &token, &identity(), 900, now()).is_ok());
        let other = one_key_set(SigningAlgorithm::Es256);
        let token = signed(&other, Some("at+jwt"), &claims(now()));
        assert!(
            check(&set, &token, &identity(), 900, now()).is_err(),
            "unknown kid"
        );
    }

    #[test]
    fn alg_none_another_algorithm_and_another_key_are_refused() {
        let set = one_key_set(SigningAlgorithm::Es256);
        let kid = set.keys[0].kid.clone();
        let body = b64(&serde_json::to_value(claims(now())).unwrap());
        let none = format!(
            "{}.{body}.",
            b64(&serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid}))
        );
        assert!(
            check(&set, &none, &identity(), 900, now()).is_err(),
            "alg none"
        );
        // HS256 keyed with the public key's published coordinates: the classic confusion.
        let public = set.keys[0].jwk.clone();
        let secret = serde_json::to_vec(&public).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.clone());
        let hmac = jsonwebtoken::encode(
            &header,
            &claims(now()),
            &EncodingKey::from_secret(&secret).unwrap(),
        )
        .unwrap();
        assert!(
            check(&set, &hmac, &identity(), 900, now()).is_err(),
            "HS256"
        );
        // Another key under our kid.
        let forger = one_key_set(SigningAlgorithm::Es256);
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid);
        let forged =
            jsonwebtoken::encode(&header, &claims(now()), &forger.keys[0].encoding).unwrap();
        assert!(
            check(&set, &forged, &identity(), 900, now()).is_err(),
            "other key"
        );
        // A signature of other claims.
        let token = signed(&set, Some("at+jwt"), &claims(now()));
        let parts: Vec<&str> = token.split('.').collect();
        let mut more = claims(now());
        more.scope = "dw:a360".into();
        let swapped = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::to_value(more).unwrap()),
            parts[2]
        );
        assert!(
            check(&set, &swapped, &identity(), 900, now()).is_err(),
            "tampered"
        );
    }

    #[test]
    fn another_issuer_or_audience_and_times_outside_the_token_are_refused() {
        let set = one_key_set(SigningAlgorithm::Es256);
        let mut wrong_aud = claims(now());
        wrong_aud.aud = "https://other.example".into();
        let mut wrong_iss = claims(now());
        wrong_iss.iss = "https://other.example".into();
        let mut expired = claims(now() - 1000);
        expired.exp = now() - LEEWAY - 1;
        let mut early = claims(now());
        early.nbf = now() + LEEWAY + 60;
        let mut other_sub = claims(now());
        other_sub.sub = "profiles_zzz999".into();
        for (what, claims) in [
            ("aud", wrong_aud),
            ("iss", wrong_iss),
            ("exp", expired),
            ("nbf", early),
            ("sub", other_sub),
        ] {
            let token = signed(&set, Some("at+jwt"), &claims);
            assert!(
                check(&set, &token, &identity(), 900, now()).is_err(),
                "{what}"
            );
        }
    }

    #[test]
    fn a_retired_key_verifies_only_while_it_is_published() {
        let keys = ServerKeys::from_master(&[7u8; 32]);
        let first = new_key(&keys, SigningAlgorithm::Es256, 1, 0, 0).unwrap();
        let second = new_key(&keys, SigningAlgorithm::Es256, 2, now(), now()).unwrap();
        let set = KeySet {
            keys: vec![
                load_key(&keys, &first).unwrap(),
                load_key(&keys, &second).unwrap(),
            ],
            jwks: Arc::from(""),
        };
        let token = signed(&set, Some("at+jwt"), &claims(now() - 10));
        assert!(check(&set, &token, &identity(), 900, now() + 100).is_ok());
        assert!(check(&set, &token, &identity(), 900, now() + 900).is_err());
    }
}
