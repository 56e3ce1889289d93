//! The cryptography behind `jsonwebtoken`: its own RustCrypto provider, with one change made
//! through the crate's documented extension point ([`CryptoProvider`]): an ES256 signing key is
//! parsed once, not at every signature.
//!
//! `jsonwebtoken::encode` builds a signer from the PKCS #8 key at each call, and for P-256 that
//! parse (which derives the public key, a scalar multiplication) costs twice the signature
//! itself (`cargo bench --bench hot_path -- jwt`). The signature is still RustCrypto's ECDSA,
//! the same one the crate's provider makes; only the parsed key is kept.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, rust_crypto};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{Error, Signer};
use jsonwebtoken::{Algorithm, EncodingKey};
use p256::pkcs8::DecodePrivateKey;

/// At most this many parsed keys are kept (keys rotate monthly; a handful are ever live).
const MOST_KEYS: usize = 16;

/// Parsed ES256 keys, by their PKCS #8 bytes.
fn parsed() -> &'static RwLock<HashMap<Vec<u8>, Arc<p256::ecdsa::SigningKey>>> {
    static KEYS: OnceLock<RwLock<HashMap<Vec<u8>, Arc<p256::ecdsa::SigningKey>>>> = OnceLock::new();
    KEYS.get_or_init(|| RwLock::new(HashMap::new()))
}

/// An ES256 signer over a key parsed before.
struct Es256(Arc<p256::ecdsa::SigningKey>);

impl Signer<Vec<u8>> for Es256 {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, Error> {
        let signature: p256::ecdsa::Signature = self.0.try_sign(message)?;
        Ok(signature.to_vec())
    }
}

impl JwtSigner for Es256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

/// The provider's signer factory: ES256 from the parsed keys, every other algorithm as the
/// crate's own provider makes it.
fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::ES256 {
        return (rust_crypto::DEFAULT_PROVIDER.signer_factory)(algorithm, key);
    }
    let der = key.as_bytes();
    let known = parsed()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(der)
        .cloned();
    let signing = match known {
        Some(signing) => signing,
        None => {
            let signing = Arc::new(
                p256::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map_err(|_| ErrorKind::InvalidEcdsaKey)?,
            );
            let mut keys = parsed()
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if keys.len() >= MOST_KEYS {
                keys.clear();
            }
            keys.insert(der.to_vec(), signing.clone());
            signing
        }
    };
    Ok(Box::new(Es256(signing)))
}

/// Makes this the process's provider, unless one was chosen already (then signing works the
/// same, only slower). Call before the first JWT is signed or checked.
pub fn install() {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        signer_factory: signer,
        ..rust_crypto::DEFAULT_PROVIDER.clone()
    });
    if CryptoProvider::install_default(provider).is_err() {
        tracing::debug!("a JOSE crypto provider was installed before ours");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::DecodingKey;
    use p256::pkcs8::EncodePrivateKey;

    #[test]
    fn our_es256_signatures_verify_with_the_crates_own_verifier() {
        let secret = p256::SecretKey::from_slice(&[9u8; 32]).unwrap();
        let der = secret.to_pkcs8_der().unwrap().as_bytes().to_vec();
        let key = EncodingKey::from_ec_der(&der);
        let message = b"header.claims";
        let ours = signer(&Algorithm::ES256, &key).unwrap();
        let again = signer(&Algorithm::ES256, &key).unwrap();
        for signer in [ours, again] {
            let signature = signer.try_sign(message).unwrap();
            let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
            let decoding = DecodingKey::from_jwk(&jwk).unwrap();
            let verifier =
                (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(&Algorithm::ES256, &decoding)
                    .unwrap();
            assert!(verifier.verify(message, &signature).is_ok());
            assert!(verifier.verify(b"another message", &signature).is_err());
        }
    }
}
