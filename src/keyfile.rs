//! The server key: 32 random bytes kept outside the database (a file with mode 0600, or
//! `CDP_AUTH_SERVER_KEY`), from which every keyed hash and the token sealing key derive.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use crate::config::KeySource;
use crate::domain::secrets::{self, SERVER_KEY_LEN};

/// Why the server key could not be had.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The key file exists but cannot be read.
    #[error("cannot read server key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file could not be created.
    #[error("cannot create server key file {path}: {source}")]
    Create {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key is not base64 of 32 bytes.
    #[error("the server key in {origin} is not base64 of {SERVER_KEY_LEN} bytes")]
    Malformed {
        /// Where it came from.
        origin: String,
    },
    /// The database has been used with a key, and that key is gone: making a new one would
    /// silently invalidate every password and token.
    #[error(
        "server key file {path} is missing but the database was set up with a key; \
         restore the key file or set CDP_AUTH_SERVER_KEY"
    )]
    Missing {
        /// The file that should exist.
        path: String,
    },
    /// The key does not match the one the database was set up with.
    #[error("the server key does not match this database (wrong key file or CDP_AUTH_SERVER_KEY?)")]
    Mismatch,
    /// The RNG failed.
    #[error("cannot generate a server key: {0}")]
    Random(String),
}

/// Reads the key from its source, creating the key file when the database has never had one.
pub fn load_or_create(
    source: &KeySource,
    database_has_key: bool,
) -> Result<[u8; SERVER_KEY_LEN], KeyError> {
    match source {
        KeySource::Env(text) => decode(text, "CDP_AUTH_SERVER_KEY"),
        KeySource::File(path) => {
            if path.exists() {
                return read(path);
            }
            if database_has_key {
                return Err(KeyError::Missing {
                    path: path.display().to_string(),
                });
            }
            create(path)
        }
    }
}

/// Base64 text of a key, as stored in a key file.
pub fn encode(key: &[u8; SERVER_KEY_LEN]) -> String {
    STANDARD.encode(key)
}

/// Writes `key` beside `path` (as `….new`, mode 0600, synced) without touching `path`; the
/// caller renames it into place with [`install`] once the database accepts the new key.
pub fn stage(path: &Path, key: &[u8; SERVER_KEY_LEN]) -> Result<std::path::PathBuf, KeyError> {
    let staged = path.with_extension("key.new");
    let failed = |source| KeyError::Create {
        path: staged.display().to_string(),
        source,
    };
    let _ = fs::remove_file(&staged);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staged)
        .map_err(failed)?;
    file.write_all(format!("{}\n", encode(key)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    Ok(staged)
}

/// Moves a staged key file over `path` in one rename.
pub fn install(staged: &Path, path: &Path) -> Result<(), KeyError> {
    fs::rename(staged, path).map_err(|source| KeyError::Create {
        path: path.display().to_string(),
        source,
    })
}

fn read(path: &Path) -> Result<[u8; SERVER_KEY_LEN], KeyError> {
    let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "server key file is readable by other users; run chmod 600 on it"
        );
    }
    decode(&text, &path.display().to_string())
}

fn decode(text: &str, origin: &str) -> Result<[u8; SERVER_KEY_LEN], KeyError> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; SERVER_KEY_LEN]>::try_from(bytes).ok())
        .ok_or_else(|| KeyError::Malformed {
            origin: origin.to_owned(),
        })
}

/// Writes a fresh key to a private temporary file and links it into place, so a concurrent
/// starter either wins or reads the complete winner, never a half-written file.
fn create(path: &Path) -> Result<[u8; SERVER_KEY_LEN], KeyError> {
    let failed = |source| KeyError::Create {
        path: path.display().to_string(),
        source,
    };
    let mut key = [0u8; SERVER_KEY_LEN];
    secrets::fill_random(&mut key).map_err(|e| KeyError::Random(e.to_string()))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(failed)?;
    }
    let temporary = path.with_extension(format!("key.{}.tmp", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(failed)?;
    let written = file
        .write_all(format!("{}\n", encode(&key)).as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    let linked = written.and_then(|()| fs::hard_link(&temporary, path));
    let _ = fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new server key file (mode 0600); back it up with the database");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
        Err(e) => Err(failed(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/server.key");
        let source = KeySource::File(path.clone());
        let first = load_or_create(&source, false).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load_or_create(&source, true).unwrap(), first);
    }

    #[test]
    fn refuses_to_replace_a_lost_key() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::File(dir.path().join("gone.key"));
        assert!(matches!(
            load_or_create(&source, true),
            Err(KeyError::Missing { .. })
        ));
    }

    #[test]
    fn env_key_must_be_32_bytes() {
        let good = encode(&[1u8; 32]);
        assert_eq!(
            load_or_create(&KeySource::Env(good), false).unwrap(),
            [1u8; 32]
        );
        assert!(load_or_create(&KeySource::Env("c2hvcnQ=".into()), false).is_err());
    }
}
