//! `cdp-auth key rotate`: replaces the server key; `key rotate-signing` and `key signing-keys`
//! act on the JWT signing keys. Only the sealed data key is re-sealed, so
//! every password, token and secret stays valid, and running replicas (which hold the data
//! key) carry on; each needs the new server key when it next starts.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::print_json;
use crate::app;
use crate::config::{Config, KeySource};
use crate::domain::keyring::KeyEncryptionKey;
use crate::domain::secrets::{self, SERVER_KEY_LEN};
use crate::keyfile;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Replace the server key; every password and token stays valid.
    Rotate {
        /// Where to write the new key (default: the configured key file, replaced in place;
        /// required when the key comes from CDP_AUTH_SERVER_KEY).
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Make a new JWT signing key sign from now on; the previous one stays published until
    /// the tokens it signed have expired. Running servers sign with it within 30 seconds.
    RotateSigning {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the JWT signing keys: which signs, which are published.
    SigningKeys {
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct Rotated {
    key_file: String,
    fingerprint: String,
}

pub async fn run(command: KeyCommand, config: &Config) -> Result<(), String> {
    match command {
        KeyCommand::Rotate { new_key_file, json } => rotate(new_key_file, json, config).await,
        KeyCommand::RotateSigning { json } => {
            let services = super::open(config).await?;
            let kid = services
                .authn
                .jwt()
                .rotate_now()
                .await
                .map_err(|e| e.to_string())?;
            if json {
                print_json(&serde_json::json!({ "kid": kid }))
            } else {
                println!("JWT access tokens are now signed with key {kid}.");
                Ok(())
            }
        }
        KeyCommand::SigningKeys { json } => {
            let services = super::open(config).await?;
            let keys = services
                .authn
                .jwt()
                .describe()
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&keys);
            }
            println!(
                "{:<44} {:<6} {:<20} {:<8} PUBLISHED",
                "KID", "ALG", "ACTIVE FROM", "SIGNING"
            );
            for key in keys {
                println!(
                    "{:<44} {:<6} {:<20} {:<8} {}",
                    key.kid,
                    key.algorithm,
                    crate::domain::clock::rfc3339(key.active_from),
                    if key.signing { "yes" } else { "no" },
                    if key.published { "yes" } else { "no" },
                );
            }
            Ok(())
        }
    }
}

async fn rotate(new_key_file: Option<PathBuf>, json: bool, config: &Config) -> Result<(), String> {
    let target = match (new_key_file, &config.server_key) {
        (Some(path), _) => path,
        (None, KeySource::File(path)) => path.clone(),
        (None, KeySource::Env(_)) => {
            return Err(
                "the server key comes from CDP_AUTH_SERVER_KEY: say where to write the new key \
                 with --new-key-file"
                    .into(),
            );
        }
    };
    let store = store::open(&config.database, &config.store)
        .await
        .map_err(|e| e.to_string())?;
    let (old, data_key) = app::unlock(&store, &config.server_key)
        .await
        .map_err(|e| e.to_string())?;
    let mut master = [0u8; SERVER_KEY_LEN];
    secrets::fill_random(&mut master).map_err(|e| e.to_string())?;
    let new = KeyEncryptionKey::new(&master);
    let record = new.record_for(&data_key).map_err(|e| e.to_string())?;
    // The new key is on disk before the database names it, and in place only after: a crash
    // between the two leaves it in `….key.new`, never lost.
    let staged = keyfile::stage(&target, &master).map_err(|e| e.to_string())?;
    if !store
        .rotate_key_record(old.fingerprint(), &record)
        .await
        .map_err(|e| e.to_string())?
    {
        let _ = std::fs::remove_file(&staged);
        return Err("the server key was changed by another process; nothing was rotated".into());
    }
    keyfile::install(&staged, &target).map_err(|e| e.to_string())?;
    let rotated = Rotated {
        key_file: target.display().to_string(),
        fingerprint: new.fingerprint().to_owned(),
    };
    if json {
        print_json(&rotated)
    } else {
        println!("New server key written to {}", rotated.key_file);
        println!("Give it to every replica (file or CDP_AUTH_SERVER_KEY) before it restarts.");
        Ok(())
    }
}
