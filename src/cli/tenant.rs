//! `cdp-auth tenant create|list|show`.

use clap::Subcommand;
use serde::Serialize;

use super::print_json;
use crate::app::Services;
use crate::domain::clock;
use crate::domain::model::{Environment, Tenant};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; its oauth_key_secret is shown this once.
    Create {
        /// Unique tenant name.
        #[arg(long)]
        name: String,
        /// cs (Customer Sandbox), uat or prod.
        #[arg(long)]
        environment: Environment,
        /// secureApi callers need no oauth_key_secret.
        #[arg(long)]
        no_oauth: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one tenant.
    Show {
        /// Tenant id or name.
        tenant: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

impl clap::ValueEnum for Environment {
    fn value_variants<'a>() -> &'a [Self] {
        &[Environment::Cs, Environment::Uat, Environment::Prod]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

#[derive(Serialize)]
struct CreatedJson<'a> {
    id: String,
    name: &'a str,
    environment: Environment,
    tenant_hash: &'a str,
    oauth_key_secret: Option<&'a str>,
}

#[derive(Serialize)]
struct TenantJson<'a> {
    id: String,
    name: &'a str,
    environment: Environment,
    tenant_hash: &'a str,
    oauth_enabled: bool,
    created_at: String,
}

fn tenant_json(tenant: &Tenant) -> TenantJson<'_> {
    TenantJson {
        id: tenant.id.to_string(),
        name: &tenant.name,
        environment: tenant.environment,
        tenant_hash: &tenant.tenant_hash,
        oauth_enabled: tenant.oauth_enabled,
        created_at: clock::rfc3339(tenant.created_at),
    }
}

fn print_tenant(tenant: &Tenant) {
    println!("id:            {}", tenant.id);
    println!("name:          {}", tenant.name);
    println!("environment:   {}", tenant.environment);
    println!("tenant_hash:   {}", tenant.tenant_hash);
    println!("oauth_enabled: {}", tenant.oauth_enabled);
    println!("created_at:    {}", clock::rfc3339(tenant.created_at));
}

pub async fn run(command: TenantCommand, services: &Services) -> Result<(), String> {
    let admin = &services.admin;
    match command {
        TenantCommand::Create {
            name,
            environment,
            no_oauth,
            json,
        } => {
            let created = admin
                .create_tenant(&name, environment, !no_oauth)
                .await
                .map_err(|e| e.to_string())?;
            let secret = created.oauth_key_secret.as_ref().map(|s| s.expose());
            if json {
                print_json(&CreatedJson {
                    id: created.tenant.id.to_string(),
                    name: &created.tenant.name,
                    environment: created.tenant.environment,
                    tenant_hash: &created.tenant.tenant_hash,
                    oauth_key_secret: secret,
                })
            } else {
                print_tenant(&created.tenant);
                if let Some(secret) = secret {
                    println!("oauth_key_secret: {secret}");
                    println!("Keep the oauth_key_secret now: it cannot be shown again.");
                }
                Ok(())
            }
        }
        TenantCommand::List { json } => {
            let tenants = admin.tenants().await.map_err(|e| e.to_string())?;
            if json {
                print_json(&tenants.iter().map(tenant_json).collect::<Vec<_>>())
            } else {
                println!("{:>5}  {:<6} {:<32}  name", "id", "env", "tenant_hash");
                for t in &tenants {
                    println!(
                        "{:>5}  {:<6} {:<32}  {}",
                        t.id, t.environment, t.tenant_hash, t.name
                    );
                }
                Ok(())
            }
        }
        TenantCommand::Show { tenant, json } => {
            let tenant = admin.tenant(&tenant).await.map_err(|e| e.to_string())?;
            if json {
                print_json(&tenant_json(&tenant))
            } else {
                print_tenant(&tenant);
                Ok(())
            }
        }
    }
}
