//! `cdp-auth instance create|list|show|disable|enable|rotate-password|origins|set-jwks`.

use clap::Subcommand;

use super::print_json;
use crate::app::Services;
use crate::config::Config;
use crate::domain::admin::{InstanceSummary, IssuedPassword};
use crate::domain::audit::Actor;
use crate::domain::clock;
use crate::domain::model::InstanceType;
use crate::views::{ClientKeysView, InstanceView, IssuedCredentialsView, OriginsView};

#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Create an instance; its password is shown this once.
    Create {
        /// Tenant id or name.
        #[arg(long)]
        tenant: String,
        /// Instance name.
        #[arg(long)]
        name: String,
        /// dw-tracker, profiles-360 or webtag.
        #[arg(long = "type")]
        instance_type: InstanceType,
        /// WebTag: a site (`https://shop.example`) allowed to send events; repeatable.
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Replace the origins a WebTag instance's browser key may be used from.
    Origins {
        /// Instance id or username.
        #[arg(long)]
        instance: String,
        /// A site (`https://shop.example`); repeat for several, leave out to allow none.
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Register the public keys (a JWK Set) the instance signs private_key_jwt assertions
    /// with, replacing earlier ones; the password keeps working.
    #[command(group(clap::ArgGroup::new("keys").required(true).args(["jwks", "clear"])))]
    SetJwks {
        /// Instance id or username.
        #[arg(long)]
        instance: String,
        /// A file holding the JWK Set (`{"keys":[…]}`, public keys only); `-` reads stdin.
        #[arg(long)]
        jwks: Option<std::path::PathBuf>,
        /// Remove the registered keys instead.
        #[arg(long)]
        clear: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List instances.
    List {
        /// Only this tenant's (id or name).
        #[arg(long)]
        tenant: Option<String>,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one instance.
    Show {
        /// Instance id or username.
        instance: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Disable an instance: its password and tokens stop working.
    Disable {
        /// Instance id or username.
        instance: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Enable a disabled instance.
    Enable {
        /// Instance id or username.
        instance: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Replace the password with a new one, shown this once; tokens stay valid.
    RotatePassword {
        /// Instance id or username.
        instance: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

impl clap::ValueEnum for InstanceType {
    fn value_variants<'a>() -> &'a [Self] {
        &InstanceType::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

fn print_instance(summary: &InstanceSummary) {
    let j = InstanceView::of(summary);
    println!("id:                   {}", j.id);
    println!("tenant_id:            {}", j.tenant_id);
    println!("name:                 {}", j.name);
    println!(
        "type:                 {}",
        summary.instance.instance_type.label()
    );
    println!("username:             {}", j.username);
    println!("created_at:           {}", j.created_at);
    println!("password_expiry_date: {}", j.password_expiry_date);
    println!("disabled:             {}", j.disabled);
    println!("active_tokens:        {}", j.active_tokens);
}

fn print_issued(issued: &IssuedPassword, config: &Config) {
    println!("API Host URL:            {}", config.api_host_url);
    println!("Authentication Host URL: {}", config.auth_host_url);
    println!("UserName:                {}", issued.instance.username);
    println!("Password:                {}", issued.password.expose());
    println!(
        "Password expires:        {}",
        clock::iso_without_zone(issued.instance.password_expires_at)
    );
    println!("Keep these credentials now: the password cannot be shown again.");
}

pub async fn run(
    command: InstanceCommand,
    config: &Config,
    services: &Services,
) -> Result<(), String> {
    let admin = &services.admin;
    let fail = |e: crate::domain::DomainError| e.to_string();
    match command {
        InstanceCommand::Create {
            tenant,
            name,
            instance_type,
            origins,
            json,
        } => {
            if !origins.is_empty() && instance_type != InstanceType::Webtag {
                return Err("--origin is for webtag instances only".into());
            }
            let issued = admin
                .create_instance(&tenant, &name, instance_type, &Actor::cli())
                .await
                .map_err(fail)?;
            if !origins.is_empty() {
                admin
                    .set_origins(&issued.instance.id.to_string(), &origins, &Actor::cli())
                    .await
                    .map_err(fail)?;
            }
            if json {
                print_json(&IssuedCredentialsView::of(
                    &issued,
                    &config.api_host_url,
                    &config.auth_host_url,
                ))
            } else {
                print_issued(&issued, config);
                Ok(())
            }
        }
        InstanceCommand::List { tenant, json } => {
            let list = admin.instances(tenant.as_deref()).await.map_err(fail)?;
            if json {
                print_json(&list.iter().map(InstanceView::of).collect::<Vec<_>>())
            } else {
                println!(
                    "{:>5} {:>6}  {:<13} {:<18} {:>6}  name",
                    "id", "tenant", "type", "username", "tokens"
                );
                for s in &list {
                    let i = &s.instance;
                    println!(
                        "{:>5} {:>6}  {:<13} {:<18} {:>6}  {}{}",
                        i.id,
                        i.tenant_id,
                        i.instance_type,
                        i.username,
                        s.active_tokens,
                        i.name,
                        if i.disabled_at.is_some() {
                            " (disabled)"
                        } else {
                            ""
                        }
                    );
                }
                Ok(())
            }
        }
        InstanceCommand::Origins {
            instance,
            origins,
            json,
        } => {
            let (instance, origins) = admin
                .set_origins(&instance, &origins, &Actor::cli())
                .await
                .map_err(fail)?;
            if json {
                print_json(&OriginsView::of(&instance, origins))
            } else {
                println!(
                    "{} may be used from: {}",
                    instance.username,
                    origins.join(" ")
                );
                Ok(())
            }
        }
        InstanceCommand::SetJwks {
            instance,
            jwks,
            clear,
            json,
        } => {
            let (instance, keys) = match (jwks, clear) {
                (Some(path), false) => {
                    let text = read_jwks(&path)?;
                    admin
                        .set_client_keys(&instance, &text, &Actor::cli())
                        .await
                        .map_err(fail)?
                }
                _ => {
                    let instance = admin
                        .clear_client_keys(&instance, &Actor::cli())
                        .await
                        .map_err(fail)?;
                    (instance, None)
                }
            };
            let view = ClientKeysView::of(&instance, keys.as_ref());
            if json {
                print_json(&view)
            } else {
                if view.keys.is_empty() {
                    println!("{}: no client keys; the password only", view.username);
                }
                for key in &view.keys {
                    println!(
                        "{}: {} {} kid={} thumbprint={}",
                        view.username,
                        key.kty,
                        key.algorithms.join("/"),
                        key.kid.as_deref().unwrap_or("-"),
                        key.thumbprint
                    );
                }
                Ok(())
            }
        }
        InstanceCommand::Show { instance, json } => show(
            &admin.instance_summary(&instance).await.map_err(fail)?,
            json,
        ),
        InstanceCommand::Disable { instance, json } => {
            let instance = admin
                .disable_instance(&instance, &Actor::cli())
                .await
                .map_err(fail)?;
            show_current(services, instance.id, json).await
        }
        InstanceCommand::Enable { instance, json } => {
            let instance = admin
                .enable_instance(&instance, &Actor::cli())
                .await
                .map_err(fail)?;
            show_current(services, instance.id, json).await
        }
        InstanceCommand::RotatePassword { instance, json } => {
            let issued = admin
                .rotate_password(&instance, &Actor::cli())
                .await
                .map_err(fail)?;
            if json {
                print_json(&IssuedCredentialsView::of(
                    &issued,
                    &config.api_host_url,
                    &config.auth_host_url,
                ))
            } else {
                print_issued(&issued, config);
                Ok(())
            }
        }
    }
}

/// Reads a JWK Set from a file, or from stdin for `-`, refusing one too large to be a set.
fn read_jwks(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let limit = crate::domain::client_keys::MAX_JWKS_BYTES as u64 + 1;
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|file| file.take(limit).read_to_string(&mut text))
    };
    read.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text)
}

/// Shows an instance as it is now, after a change.
async fn show_current(services: &Services, id: i64, json: bool) -> Result<(), String> {
    let summary = services
        .admin
        .instance_summary(&id.to_string())
        .await
        .map_err(|e| e.to_string())?;
    show(&summary, json)
}

fn show(summary: &InstanceSummary, json: bool) -> Result<(), String> {
    if json {
        print_json(&InstanceView::of(summary))
    } else {
        print_instance(summary);
        Ok(())
    }
}
