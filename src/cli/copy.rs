//! `cdp-auth copy --from URL --to URL`: moves a whole deployment between databases (SQLite to
//! PostgreSQL and back) with every id, hash and timestamp as it was, so every credential still
//! logs in and every token still verifies under the same server key.

use serde::Serialize;

use super::print_json;
use crate::config::Config;
use crate::store::{self, StoreError};

/// Tokens moved per transaction.
const BATCH: u32 = 5_000;

#[derive(Serialize)]
struct Copied {
    tenants: usize,
    instances: usize,
    tokens: usize,
    admins: usize,
    audit_entries: usize,
}

pub async fn run(config: &Config, from: &str, to: &str) -> Result<(), String> {
    let source = store::open(from, &config.store)
        .await
        .map_err(|e| format!("source: {e}"))?;
    let target = store::open(to, &config.store)
        .await
        .map_err(|e| format!("target: {e}"))?;
    let fail = |e: StoreError| e.to_string();
    if !target.is_empty().await.map_err(fail)? {
        return Err(StoreError::TargetNotEmpty.to_string());
    }
    let head = source.export_head().await.map_err(fail)?;
    target.import_head(&head).await.map_err(fail)?;
    let admin = source.export_admin().await.map_err(fail)?;
    target.import_admin(&admin).await.map_err(fail)?;
    let mut tokens = 0;
    let mut after = 0;
    loop {
        let batch = source.export_tokens(after, BATCH).await.map_err(fail)?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        target.import_tokens(&batch).await.map_err(fail)?;
        tokens += batch.len();
    }
    target.finish_import().await.map_err(fail)?;
    print_json(&Copied {
        tenants: head.tenants.len(),
        instances: head.instances.len(),
        tokens,
        admins: admin.admins.len(),
        audit_entries: admin.audit.len(),
    })
}
