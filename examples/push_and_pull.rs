//! Pushes records with a DW Tracker instance and pulls them back, unified, with a 360 Profiles
//! instance, using only the client crate.
//!
//! ```sh
//! export CDP_AUTH_URL=http://127.0.0.1:8080          # Authentication Host URL
//! export CDP_API_URL=http://127.0.0.1:8080           # API Host URL (default: CDP_AUTH_URL)
//! export CDP_TENANT_ID=1
//! export CDP_TRACKER_USERNAME=tracker_… CDP_TRACKER_PASSWORD=…
//! export CDP_PROFILES_USERNAME=profiles_… CDP_PROFILES_PASSWORD=…
//! cargo run --example push_and_pull
//! ```

use std::process::ExitCode;

use cdp_auth_client::{Client, Credentials, PullQuery, Record, TokenManager};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("push_and_pull failed: {message}");
            ExitCode::FAILURE
        }
    }
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("set {name}"))
}

async fn run() -> Result<(), String> {
    let auth_url = var("CDP_AUTH_URL")?;
    let api_url = var("CDP_API_URL").unwrap_or_else(|_| auth_url.clone());
    let tenant_id = var("CDP_TENANT_ID")?;
    let client = Client::new(&auth_url)
        .and_then(|c| c.with_api_url(&api_url))
        .map_err(|e| e.to_string())?;

    // One token manager per instance, kept for the life of the integration.
    let tracker = TokenManager::new(
        client.clone(),
        Credentials::new(var("CDP_TRACKER_USERNAME")?, var("CDP_TRACKER_PASSWORD")?),
    );
    let profiles = TokenManager::new(
        client.clone(),
        Credentials::new(var("CDP_PROFILES_USERNAME")?, var("CDP_PROFILES_PASSWORD")?),
    );

    // Two source systems know the same person under different ids; the e-mail unifies them.
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let email = format!("ann.lee+{run_id}@example.com");
    let records = [
        Record::new(format!("WEB-{run_id}"))
            .email(email.to_uppercase())
            .name("Ann", "Lee")
            .event("productBrowsed", Some("SKU-42"), "2026-11-20T10:00:00Z"),
        Record::new(format!("POS-{run_id}"))
            .email(format!(" {email} "))
            .phone("+15550100")
            .event("checkout", Some("SKU-42"), "2026-11-21T09:30:00Z"),
    ];
    let token = tracker.current().await.map_err(|e| e.to_string())?;
    if token.tenant_id != tenant_id {
        return Err(format!(
            "the DW Tracker instance belongs to tenant {}, not {tenant_id}",
            token.tenant_id
        ));
    }
    let idempotency_key = format!("push-and-pull-{run_id}");
    let accepted = client
        .push(
            &token.access_token,
            &tenant_id,
            &records,
            Some(&idempotency_key),
        )
        .await
        .map_err(|e| format!("push: {e}"))?;
    println!(
        "pushed {} records as {} to tenant {tenant_id}",
        accepted.accepted,
        tracker.username()
    );

    let token = profiles.token().await.map_err(|e| e.to_string())?;
    let query = PullQuery {
        email: Some(email.clone()),
        ..PullQuery::default()
    };
    let customers = client
        .all_customers(&token, &tenant_id, &query)
        .await
        .map_err(|e| format!("pull: {e}"))?;
    let [customer] = customers.as_slice() else {
        return Err(format!(
            "expected one unified customer for {email}, pulled {}",
            customers.len()
        ));
    };
    println!(
        "pulled {} as {}: {} source records, {} events",
        customer.gcr_id,
        profiles.username(),
        customer.source_records.len(),
        customer.events.len()
    );
    if customer.source_records.len() != 2 || customer.events.len() != 2 {
        return Err("the customer does not carry both pushed records and events".into());
    }

    // A paged pull of the whole tenant, following _links.next.
    let everyone = client
        .all_customers(
            &token,
            &tenant_id,
            &PullQuery {
                limit: Some(1),
                ..PullQuery::default()
            },
        )
        .await
        .map_err(|e| format!("paged pull: {e}"))?;
    println!("tenant {tenant_id} holds {} customers", everyone.len());
    Ok(())
}
