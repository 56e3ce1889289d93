//! The cryptography behind `jsonwebtoken`: its own RustCrypto provider, with one change made
//! through the crate's documented extension point ([`CryptoProvider`]): an ES256 signing key is
//! parsed once, not at every signature.
//!
//! `jsonwebtoken::encode` builds a signer from the PKCS #8 key at each call, and for P-256 that
//! parse (which derives the public key, a scalar multiplication) costs twice the signature
//! itself (`cargo bench --bench hot_path -- jwt`). The signature is still RustCrypto's ECDSA,
//! the same one the crate's provider makes; only the parsed key is kept.
//!
//! Verification of ES256 and EdDSA signatures goes to `ring`, whose P-256 and Ed25519
//! verifiers (assembly, constant-time) are several times faster than the pure-Rust ones: a
//! DPoP proof is verified on every request a bound token makes, so this is the hot path.
//! Every other algorithm is verified by the crate's own provider.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, rust_crypto};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{Error, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
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

/// An ES256 or EdDSA verifier over `ring`.
struct RingVerifier {
    algorithm: Algorithm,
    scheme: &'static dyn ring::signature::VerificationAlgorithm,
    public: Vec<u8>,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), Error> {
        ring::signature::UnparsedPublicKey::new(self.scheme, &self.public)
            .verify(message, signature)
            .map_err(|_| Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// The provider's verifier factory: ES256 (an uncompressed SEC1 point, as a JWK's `x` and `y`
/// make it) and EdDSA (a 32-byte Ed25519 key) on `ring`, every other algorithm as the crate's
/// own provider makes it.
fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let (family, scheme): (_, &'static dyn ring::signature::VerificationAlgorithm) = match algorithm
    {
        Algorithm::ES256 => (
            AlgorithmFamily::Ec,
            &ring::signature::ECDSA_P256_SHA256_FIXED,
        ),
        Algorithm::EdDSA => (AlgorithmFamily::Ed, &ring::signature::ED25519),
        _ => return (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(algorithm, key),
    };
    if key.family() != family {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let public = key.try_get_as_bytes()?;
    let well_formed = match algorithm {
        Algorithm::ES256 => public.len() == 65 && public[0] == 0x04,
        _ => public.len() == 32,
    };
    if !well_formed {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(RingVerifier {
        algorithm: *algorithm,
        scheme,
        public: public.to_vec(),
    }))
}

/// Makes this the process's provider, unless one was chosen already (then signing works the
/// same, only slower). Call before the first JWT is signed or checked.
pub fn install() {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        signer_factory: signer,
        verifier_factory: verifier,
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
