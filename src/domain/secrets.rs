//! How secrets are made and kept (SPEC, "How secrets are kept").
//!
//! * Secrets we generate with ≥ 128 bits of entropy (instance passwords, tokens) are stored as
//!   HMAC-SHA256 under a key derived from the server key: a slow hash would add cost and a
//!   denial-of-service lever, not safety, since nobody can guess them.
//! * a1user tokens must be handed back again by the daily retrieve, so besides the lookup hash
//!   the token is kept sealed with XChaCha20-Poly1305 under another derived key.
//! * Low-entropy secrets (`oauth_key_secret`, admin passwords) are argon2id PHC strings.
//!
//! The server key never enters the database, so a dump alone yields nothing usable.

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::error::DomainError;

/// Length of the server's master key in bytes.
pub const SERVER_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// Fills `buf` from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<(), DomainError> {
    SysRng
        .try_fill_bytes(buf)
        .map_err(|e| DomainError::Internal(format!("operating system RNG failed: {e}")))
}

/// `len` characters drawn uniformly from `alphabet` (≤ 256 symbols) with rejection sampling,
/// so no character is more likely than another.
pub fn random_string(alphabet: &[u8], len: usize) -> Result<String, DomainError> {
    debug_assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill_random(&mut buf)?;
        for &byte in &buf {
            if (byte as usize) < limit && out.len() < len {
                out.push(alphabet[byte as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

/// Lowercase hex of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> Result<String, DomainError> {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Unpadded URL-safe base64 of `bytes` random bytes: fit for cookies and headers as it is.
pub fn random_urlsafe(bytes: usize) -> Result<String, DomainError> {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// Alphabet of generated passwords and secureApi tokens.
pub const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Alphabet of the random part of usernames.
pub const LOWER_ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A string secret whose `Debug` prints `***`, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the few places that must show or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The data key and the purpose-bound keys derived from it with HKDF-SHA256 (see
/// [`super::keyring`] for how the data key is kept). Each
/// use gets its own key so that a hash made for one purpose never verifies for another.
#[derive(Clone)]
pub struct ServerKeys {
    password: Hmac<Sha256>,
    token_lookup: Hmac<Sha256>,
    attempt: Hmac<Sha256>,
    admin_credential: Hmac<Sha256>,
    csrf: Hmac<Sha256>,
    unknown_name: Hmac<Sha256>,
    jwt_id_lookup: Hmac<Sha256>,
    one_time_id: Hmac<Sha256>,
    sealing: XChaCha20Poly1305,
    signing_key_sealing: XChaCha20Poly1305,
}

impl fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKeys(***)")
    }
}

impl ServerKeys {
    /// Derives every purpose key from the master key.
    pub fn from_master(master: &[u8; SERVER_KEY_LEN]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"cdp-auth server key v1"), master);
        let derive = |info: &[u8]| {
            let mut okm = [0u8; 32];
            hkdf.expand(info, &mut okm)
                .expect("32 bytes is a valid HKDF-SHA256 output length");
            okm
        };
        let hmac = |key: [u8; 32]| {
            <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("HMAC takes keys of any length")
        };
        ServerKeys {
            password: hmac(derive(b"instance-password")),
            token_lookup: hmac(derive(b"token-lookup")),
            attempt: hmac(derive(b"attempt-fingerprint")),
            admin_credential: hmac(derive(b"admin-credential")),
            csrf: hmac(derive(b"admin-csrf")),
            unknown_name: hmac(derive(b"unknown-name")),
            jwt_id_lookup: hmac(derive(b"jwt-id-lookup")),
            one_time_id: hmac(derive(b"one-time-id")),
            sealing: XChaCha20Poly1305::new(&Key::from(derive(b"token-sealing"))),
            signing_key_sealing: XChaCha20Poly1305::new(&Key::from(derive(b"signing-key-sealing"))),
        }
    }

    /// Keyed hash of an instance password, as stored.
    pub fn password_hash(&self, password: &str) -> Vec<u8> {
        let mut mac = self.password.clone();
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Checks a presented password against the stored keyed hash in constant time. With
    /// `stored == None` (unknown username) it does the same work and fails, so the two cases
    /// cannot be told apart.
    pub fn verify_password(&self, password: &str, stored: Option<&[u8]>) -> bool {
        let presented = self.password_hash(password);
        match stored {
            Some(stored) => bool::from(presented.as_slice().ct_eq(stored)),
            None => {
                let dummy = [0u8; 32];
                let _ = presented.as_slice().ct_eq(&dummy);
                false
            }
        }
    }

    /// Keyed hash of a (name, secret) pair, by which the failed-attempt limiter remembers
    /// credentials that verified without keeping them.
    pub fn credential_fingerprint(&self, name: &str, secret: &str) -> [u8; 32] {
        let mut mac = self.attempt.clone();
        mac.update(&(name.len() as u64).to_be_bytes());
        mac.update(name.as_bytes());
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// How logs and the audit log name a presented name that is none of ours (it may be a
    /// password typed into the wrong field): `unknown:` and 12 hex digits of a keyed hash, so
    /// repeated attempts with one name can be told apart without the name being kept.
    pub fn unknown_name(&self, name: &str) -> String {
        let mut mac = self.unknown_name.clone();
        mac.update(name.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("unknown:{hex}")
    }

    /// Keyed hash of a token string: the key a bearer check looks the token up by.
    pub fn token_hash(&self, token: &str) -> Vec<u8> {
        let mut mac = self.token_lookup.clone();
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Keyed hash of a JWT access token's `jti`: the key its row (what revocation marks) is
    /// looked up by. Its own key, so a `jti` (which anyone holding the JWT can read) presented
    /// as an opaque bearer string can never match a token row.
    pub fn jwt_id_hash(&self, jti: &str) -> Vec<u8> {
        let mut mac = self.jwt_id_lookup.clone();
        mac.update(jti.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// Keyed hash of a one-time identifier (a client assertion's or a DPoP proof's `jti`),
    /// under what it is unique within (`kind`, and the client or key it came from): the key
    /// its sighting is recorded under, so a replay is found without storing what was sent.
    pub fn one_time_id_hash(&self, kind: &str, scope: &str, jti: &str) -> Vec<u8> {
        let mut mac = self.one_time_id.clone();
        // Lengths first, so that no two (kind, scope, jti) triples hash the same bytes.
        for part in [kind, scope, jti] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// Encrypts a JWT signing key's private half for the store, bound to its key id.
    pub fn seal_signing_key(&self, private: &[u8], kid: &str) -> Result<Vec<u8>, DomainError> {
        seal_with(&self.signing_key_sealing, private, kid.as_bytes())
    }

    /// Decrypts a sealed signing key.
    pub fn unseal_signing_key(&self, sealed: &[u8], kid: &str) -> Result<Vec<u8>, DomainError> {
        open_with(&self.signing_key_sealing, sealed, kid.as_bytes())
            .ok_or_else(|| DomainError::Internal("a stored signing key cannot be unsealed".into()))
    }

    /// Keyed hash of an admin session or API token: the key it is looked up by.
    pub fn admin_credential_hash(&self, token: &str) -> Vec<u8> {
        let mut mac = self.admin_credential.clone();
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The anti-CSRF token of an admin session: derived from the session token, so it needs
    /// no storage, differs per session, and cannot be computed without the server key.
    pub fn csrf_token(&self, session_token: &str) -> String {
        use base64::Engine;
        let mut mac = self.csrf.clone();
        mac.update(session_token.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Encrypts a token so the store can keep it for the daily retrieve. The ciphertext is
    /// bound to the token's lookup hash, so rows cannot be swapped.
    pub fn seal(&self, token: &str, token_hash: &[u8]) -> Result<Vec<u8>, DomainError> {
        seal_with(&self.sealing, token.as_bytes(), token_hash)
    }

    /// Decrypts a sealed token.
    pub fn unseal(&self, sealed: &[u8], token_hash: &[u8]) -> Result<String, DomainError> {
        let broken = || DomainError::Internal("a stored token cannot be unsealed".into());
        let plain = open_with(&self.sealing, sealed, token_hash).ok_or_else(broken)?;
        String::from_utf8(plain).map_err(|_| broken())
    }
}

/// XChaCha20-Poly1305 under a fresh random nonce, which leads the result.
fn seal_with(cipher: &XChaCha20Poly1305, msg: &[u8], aad: &[u8]) -> Result<Vec<u8>, DomainError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    let ciphertext = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg, aad })
        .map_err(|_| DomainError::Internal("sealing failed".into()))?;
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// Opens what [`seal_with`] sealed with the same `aad`; `None` if it was not.
fn open_with(cipher: &XChaCha20Poly1305, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() <= NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

/// A new a1user access token: UUID-shaped (lowercase 8-4-4-4-12 hex) with 122 random bits, as
/// the vendor's tokens look.
pub fn new_a1user_token() -> Result<Secret, DomainError> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes)?;
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    Ok(Secret::new(uuid.hyphenated().to_string()))
}

/// A new instance password: 24 characters of `[A-Za-z0-9]` (≈ 143 bits).
pub fn new_instance_password() -> Result<Secret, DomainError> {
    Ok(Secret::new(random_string(ALPHANUMERIC, 24)?))
}

/// How many leading characters of a token are kept in the clear for operators to tell tokens
/// apart: 8 of a UUID's 32 hex digits leave 90 random bits unknown.
pub const TOKEN_PREFIX_LEN: usize = 8;

/// The displayable start of a token.
pub fn token_prefix(token: &str) -> String {
    token.chars().take(TOKEN_PREFIX_LEN).collect()
}

/// argon2id PHC string of a low-entropy secret (m = 19 MiB, t = 2, p = 1, random salt). Slow
/// on purpose: call it off the async runtime.
pub fn argon2_hash(secret: &str) -> Result<String, DomainError> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| DomainError::Internal(format!("argon2 hashing failed: {e}")))
}

/// Verifies a low-entropy secret against its argon2id PHC string. Slow on purpose.
pub fn argon2_verify(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ServerKeys {
        ServerKeys::from_master(&[7u8; 32])
    }

    #[test]
    fn tokens_are_uuid_shaped_and_distinct() {
        let a = new_a1user_token().unwrap();
        let b = new_a1user_token().unwrap();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(a.expose()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(a.expose(), a.expose().to_lowercase());
        assert_eq!(format!("{a:?}"), "***");
    }

    #[test]
    fn passwords_are_24_alphanumerics() {
        let p = new_instance_password().unwrap();
        assert_eq!(p.expose().len(), 24);
        assert!(p.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn password_check_accepts_only_the_password() {
        let keys = keys();
        let stored = keys.password_hash("right");
        assert!(keys.verify_password("right", Some(&stored)));
        assert!(!keys.verify_password("wrong", Some(&stored)));
        assert!(!keys.verify_password("right", None));
    }

    #[test]
    fn seal_round_trips_and_is_bound_to_its_hash() {
        let keys = keys();
        let hash = keys.token_hash("abc");
        let sealed = keys.seal("abc", &hash).unwrap();
        assert_eq!(keys.unseal(&sealed, &hash).unwrap(), "abc");
        assert!(keys.unseal(&sealed, &keys.token_hash("other")).is_err());
        let other = ServerKeys::from_master(&[8u8; 32]);
        assert!(other.unseal(&sealed, &hash).is_err());
    }

    #[test]
    fn purposes_do_not_share_keys() {
        let keys = keys();
        assert_ne!(keys.password_hash("x"), keys.token_hash("x"));
        assert_ne!(
            keys.token_hash("x"),
            ServerKeys::from_master(&[8u8; 32]).token_hash("x")
        );
    }

    #[test]
    fn unknown_names_are_short_stable_fingerprints() {
        let keys = keys();
        let name = keys.unknown_name("hunter2-Secret!");
        assert_eq!(name, keys.unknown_name("hunter2-Secret!"));
        assert_ne!(name, keys.unknown_name("hunter3-Secret!"));
        assert!(name.starts_with("unknown:") && name.len() == 20, "{name}");
        assert!(!name.contains("hunter"));
    }

    #[test]
    fn argon2_round_trip() {
        let phc = argon2_hash("4faeaf752ee40a0f").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(phc.contains("m=19456,t=2,p=1"));
        assert!(argon2_verify("4faeaf752ee40a0f", &phc));
        assert!(!argon2_verify("4faeaf752ee40a0e", &phc));
        assert!(!argon2_verify("x", "not a phc string"));
    }

    #[test]
    fn random_strings_use_only_their_alphabet() {
        let s = random_string(LOWER_ALPHANUMERIC, 500).unwrap();
        assert_eq!(s.len(), 500);
        assert!(s.bytes().all(|c| LOWER_ALPHANUMERIC.contains(&c)));
        assert_eq!(random_hex(16).unwrap().len(), 32);
    }
}
