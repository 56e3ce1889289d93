//! `cdp-auth migrate`: apply the schema migrations and exit, so a deployment can migrate once
//! before rolling out many replicas.

use crate::config::Config;
use crate::store;

pub async fn run(config: &Config) -> Result<(), String> {
    store::open(&config.database, &config.store)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("migrations applied");
    Ok(())
}
