//! `cdp-auth tenant create|list|show|rotate-secret|set-oauth|set-token-format|revoke-tokens`.

use clap::Subcommand;
use serde::Serialize;

use super::print_json;
use crate::app::Services;
use crate::domain::admin::CreatedTenant;
use crate::domain::audit::Actor;
use crate::domain::clock;
use crate::domain::model::{Environment, Tenant, TokenFormat};

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
    /// Replace the tenant's oauth_key_secret; the new one is shown this once.
    RotateSecret {
        /// Tenant id or name.
        tenant: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Turn the secureApi oauth_key_secret requirement on or off.
    SetOauth {
        /// Tenant id or name.
        tenant: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Choose what /oauth/token issues to the tenant's instances: opaque tokens, JWT access
    /// tokens, or the deployment's default (oauth_token_format).
    SetTokenFormat {
        /// Tenant id or name.
        tenant: String,
        /// opaque, jwt or default.
        #[arg(value_parser = ["opaque", "jwt", "default"])]
        format: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Revoke every active secureApi token of the tenant.
    RevokeTokens {
        /// Tenant id or name.
        #[arg(
            required_unless_present = "tenant_flag",
            conflicts_with = "tenant_flag"
        )]
        tenant: Option<String>,
        /// Tenant id or name (the same as the argument).
        #[arg(long = "tenant", value_name = "TENANT")]
        tenant_flag: Option<String>,
        /// Print one JSON object: {"tenant","revoked"}.
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
    oauth_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_ended: Option<u64>,
}

#[derive(Serialize)]
struct RevokedJson {
    tenant: String,
    revoked: u64,
}

#[derive(Serialize)]
struct TenantJson<'a> {
    id: String,
    name: &'a str,
    environment: Environment,
    tenant_hash: &'a str,
    oauth_enabled: bool,
    /// `opaque`, `jwt`, or null for the deployment's default.
    token_format: Option<TokenFormat>,
    created_at: String,
}

fn tenant_json(tenant: &Tenant) -> TenantJson<'_> {
    TenantJson {
        id: tenant.id.to_string(),
        name: &tenant.name,
        environment: tenant.environment,
        tenant_hash: &tenant.tenant_hash,
        oauth_enabled: tenant.oauth_enabled,
        token_format: tenant.token_format,
        created_at: clock::rfc3339(tenant.created_at),
    }
}

fn print_tenant(tenant: &Tenant) {
    println!("id:            {}", tenant.id);
    println!("name:          {}", tenant.name);
    println!("environment:   {}", tenant.environment);
    println!("tenant_hash:   {}", tenant.tenant_hash);
    println!("oauth_enabled: {}", tenant.oauth_enabled);
    println!(
        "token_format:  {}",
        tenant.token_format.map_or("default", TokenFormat::as_str)
    );
    println!("created_at:    {}", clock::rfc3339(tenant.created_at));
}

/// A tenant with its secret when one was just issued: `{"id","name","environment",
/// "tenant_hash","oauth_key_secret"}` (plus `oauth_enabled`).
fn print_created(created: &CreatedTenant, json: bool) -> Result<(), String> {
    let secret = created.oauth_key_secret.as_ref().map(|s| s.expose());
    if json {
        print_json(&CreatedJson {
            id: created.tenant.id.to_string(),
            name: &created.tenant.name,
            environment: created.tenant.environment,
            tenant_hash: &created.tenant.tenant_hash,
            oauth_key_secret: secret,
            oauth_enabled: created.tenant.oauth_enabled,
            tokens_ended: Some(created.tokens_ended).filter(|n| *n > 0),
        })
    } else {
        print_tenant(&created.tenant);
        if let Some(secret) = secret {
            println!("oauth_key_secret: {secret}");
            println!("Keep the oauth_key_secret now: it cannot be shown again.");
        }
        if created.tokens_ended > 0 {
            println!("{} ended.", secure_api_tokens(created.tokens_ended));
        }
        Ok(())
    }
}

/// "1 secureApi token", "3 secureApi tokens".
fn secure_api_tokens(n: u64) -> String {
    match n {
        1 => "1 secureApi token".to_owned(),
        n => format!("{n} secureApi tokens"),
    }
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
                .create_tenant(&name, environment, !no_oauth, &Actor::cli())
                .await
                .map_err(|e| e.to_string())?;
            print_created(&created, json)
        }
        TenantCommand::RotateSecret { tenant, json } => {
            let rotated = admin
                .rotate_secret(&tenant, &Actor::cli())
                .await
                .map_err(|e| e.to_string())?;
            print_created(&rotated, json)
        }
        TenantCommand::SetOauth {
            tenant,
            state,
            json,
        } => {
            let changed = admin
                .set_oauth(&tenant, state == "on", &Actor::cli())
                .await
                .map_err(|e| e.to_string())?;
            print_created(&changed, json)
        }
        TenantCommand::SetTokenFormat {
            tenant,
            format,
            json,
        } => {
            let format = match format.as_str() {
                "default" => None,
                word => Some(word.parse::<TokenFormat>()?),
            };
            let tenant = admin
                .set_token_format(&tenant, format, &Actor::cli())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                print_json(&tenant_json(&tenant))
            } else {
                print_tenant(&tenant);
                Ok(())
            }
        }
        TenantCommand::RevokeTokens {
            tenant,
            tenant_flag,
            json,
        } => {
            let key = tenant.or(tenant_flag).unwrap_or_default();
            let tenant = admin.tenant(&key).await.map_err(|e| e.to_string())?;
            let revoked = admin
                .revoke_tenant_tokens(&tenant.id.to_string(), &Actor::cli())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                print_json(&RevokedJson {
                    tenant: tenant.id.to_string(),
                    revoked,
                })
            } else {
                println!(
                    "Revoked {} of tenant {} (id {}).",
                    secure_api_tokens(revoked),
                    tenant.name,
                    tenant.id
                );
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
