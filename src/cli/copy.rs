//! `cdp-auth copy --from URL --to URL`: moves a whole deployment between databases (SQLite to
//! PostgreSQL and back) with every id, hash and timestamp as it was, so every credential still
//! logs in and every token still verifies under the same server key; the customer data
//! (customers, source records, events, segments, GDPR requests, WebTag keys) comes along.

use serde::Serialize;

use super::print_json;
use crate::config::Config;
use crate::store::cdp_copy::{CDP_TABLES, CdpTable};
use crate::store::{self, DynStore, StoreError};

/// Tokens (and rows of each customer-data table) moved per transaction.
const BATCH: u32 = 5_000;

#[derive(Serialize)]
struct Copied {
    tenants: usize,
    instances: usize,
    tokens: usize,
    admins: usize,
    audit_entries: usize,
    customers: usize,
    source_records: usize,
    events: usize,
    idempotency_keys: usize,
    segments: usize,
    gdpr_requests: usize,
    webtag_keys: usize,
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
    // Customer data after tokens: WebTag keys reference them.
    let origins = source.export_allowed_origins().await.map_err(fail)?;
    target
        .import_allowed_origins(&origins)
        .await
        .map_err(fail)?;
    let mut counts = [0; CDP_TABLES.len()];
    for (count, table) in counts.iter_mut().zip(CDP_TABLES) {
        *count = copy_table(&source, &target, table).await.map_err(fail)?;
    }
    target.finish_import().await.map_err(fail)?;
    let [
        customers,
        source_records,
        events,
        idempotency_keys,
        segments,
        gdpr_requests,
        webtag_keys,
    ] = counts;
    print_json(&Copied {
        tenants: head.tenants.len(),
        instances: head.instances.len(),
        tokens,
        admins: admin.admins.len(),
        audit_entries: admin.audit.len(),
        customers,
        source_records,
        events,
        idempotency_keys,
        segments,
        gdpr_requests,
        webtag_keys,
    })
}

/// Copies every row of one customer-data table in key order; returns how many.
async fn copy_table(
    source: &DynStore,
    target: &DynStore,
    table: &CdpTable,
) -> Result<usize, StoreError> {
    let mut copied = 0;
    let mut after = None;
    loop {
        let batch = source
            .export_cdp_rows(table, after.as_deref(), BATCH)
            .await?;
        let Some(last) = batch.last() else { break };
        after = Some(table.key_of(last));
        target.import_cdp_rows(table, &batch).await?;
        copied += batch.len();
    }
    Ok(copied)
}
