//! Two levels of keys, so the server key can be rotated without re-hashing anything.
//!
//! * The **server key** (key file or `CDP_AUTH_SERVER_KEY`) is a key-encryption key: it never
//!   hashes a secret itself, it seals the data key.
//! * The **data key** is 32 random bytes from which every keyed hash and the token sealing key
//!   derive ([`ServerKeys`]). It is stored in the database sealed with XChaCha20-Poly1305 under
//!   a key derived from the server key, so a dump alone still yields nothing usable.
//!
//! Rotating the server key re-seals the data key under the new one: every password hash,
//! token hash and sealed token stays valid. A database set up before data keys existed used the
//! server key directly as its data key; it keeps doing so (its data key is the old server key,
//! sealed at its first rotation).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;

use super::error::DomainError;
use super::secrets::{self, SERVER_KEY_LEN};

const NONCE_LEN: usize = 24;
const WRAP_AAD: &[u8] = b"cdp-auth data key v1";

/// What the database records about its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Fingerprint of the server key that seals the data key.
    pub fingerprint: String,
    /// The sealed data key (base64); `None` for a database from before data keys, whose data
    /// key is the server key itself.
    pub sealed_data_key: Option<String>,
}

/// The server key, in its role of sealing the data key.
pub struct KeyEncryptionKey {
    master: [u8; SERVER_KEY_LEN],
    wrapping: XChaCha20Poly1305,
    fingerprint: String,
}

impl KeyEncryptionKey {
    /// Derives the wrapping key and the fingerprint from the server key's bytes.
    pub fn new(master: &[u8; SERVER_KEY_LEN]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"cdp-auth server key v1"), master);
        let mut wrapping = [0u8; 32];
        let mut fingerprint = [0u8; 32];
        hkdf.expand(b"data-key-wrapping", &mut wrapping)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        // The same derivation the fingerprint has always had, so older databases still match.
        hkdf.expand(b"fingerprint", &mut fingerprint)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        KeyEncryptionKey {
            master: *master,
            wrapping: XChaCha20Poly1305::new(&Key::from(wrapping)),
            fingerprint: fingerprint.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// Identifies the key without revealing it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A fresh data key and the record that stores it sealed under this key.
    pub fn new_record(&self) -> Result<KeyRecord, DomainError> {
        let mut data_key = [0u8; SERVER_KEY_LEN];
        secrets::fill_random(&mut data_key)?;
        self.record_for(&data_key)
    }

    /// The record that stores `data_key` sealed under this key.
    pub fn record_for(&self, data_key: &[u8; SERVER_KEY_LEN]) -> Result<KeyRecord, DomainError> {
        let mut nonce = [0u8; NONCE_LEN];
        secrets::fill_random(&mut nonce)?;
        let sealed = self
            .wrapping
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: data_key,
                    aad: WRAP_AAD,
                },
            )
            .map_err(|_| DomainError::Internal("data key sealing failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(KeyRecord {
            fingerprint: self.fingerprint.clone(),
            sealed_data_key: Some(STANDARD.encode(bytes)),
        })
    }

    /// The data key a record holds, or `None` when the record belongs to another server key
    /// or cannot be opened with this one.
    pub fn data_key(&self, record: &KeyRecord) -> Option<[u8; SERVER_KEY_LEN]> {
        if record.fingerprint != self.fingerprint {
            return None;
        }
        let Some(sealed) = &record.sealed_data_key else {
            return Some(self.master);
        };
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let plain = self
            .wrapping
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: WRAP_AAD,
                },
            )
            .ok()?;
        plain.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_record_opens_to_the_same_data_key_under_the_new_key_only() {
        let old = KeyEncryptionKey::new(&[1u8; 32]);
        let new = KeyEncryptionKey::new(&[2u8; 32]);
        let record = old.new_record().unwrap();
        let data_key = old.data_key(&record).unwrap();
        let rotated = new.record_for(&data_key).unwrap();
        assert_eq!(new.data_key(&rotated), Some(data_key));
        assert_eq!(old.data_key(&rotated), None);
        assert_eq!(new.data_key(&record), None);
    }

    #[test]
    fn a_record_from_before_data_keys_uses_the_server_key() {
        let kek = KeyEncryptionKey::new(&[3u8; 32]);
        let legacy = KeyRecord {
            fingerprint: kek.fingerprint().to_owned(),
            sealed_data_key: None,
        };
        assert_eq!(kek.data_key(&legacy), Some([3u8; 32]));
    }

    #[test]
    fn a_tampered_record_does_not_open() {
        let kek = KeyEncryptionKey::new(&[4u8; 32]);
        let mut record = kek.new_record().unwrap();
        record.sealed_data_key = Some(STANDARD.encode([0u8; 72]));
        assert_eq!(kek.data_key(&record), None);
    }
}
