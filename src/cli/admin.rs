//! `cdp-auth admin create|api-token|tokens|revoke-token|list|disable|enable|delete|
//! reset-password`: administrators of the web UI and the admin API, and their API tokens.

use std::time::Duration;

use clap::Subcommand;

use super::print_json;
use crate::app::Services;
use crate::domain::accounts::Accounts;
use crate::domain::audit::Actor;
use crate::views::{AdminPasswordView, AdminTokenView, AdminView, IssuedAdminTokenView};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin for the web UI; the generated password is shown this once.
    Create {
        /// Sign-in name (letters, digits, `.`, `_`, `-`, `@`).
        #[arg(long)]
        username: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the admins, enabled or not.
    List {
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Issue an API token for scripts calling /admin/api/ (`Authorization: Bearer`); shown
    /// this once. It lasts `admin_token_lifetime` (90 days) unless `--expires-in` says.
    ApiToken {
        /// The admin the token acts as.
        #[arg(long)]
        username: String,
        /// How long the token lasts (`1h`, `30d`, …), at most ten years.
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
        expires_in: Option<Duration>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List an admin's live API tokens: id, created, expires, last used (never the token).
    Tokens {
        /// The admin.
        #[arg(long)]
        username: String,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an admin API token by its id.
    RevokeToken {
        /// The token's id, from `admin tokens`.
        #[arg(long)]
        id: i64,
    },
    /// Disable an admin: it cannot sign in, its sessions end and its API tokens stop working.
    Disable {
        /// The admin.
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled admin again.
    Enable {
        /// The admin.
        #[arg(long)]
        username: String,
    },
    /// Delete an admin with its sessions and API tokens.
    Delete {
        /// The admin.
        #[arg(long)]
        username: String,
    },
    /// Replace an admin's password with a generated one, shown this once; its sessions end.
    ResetPassword {
        /// The admin.
        #[arg(long)]
        username: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn print_password(username: &str, password: &str, json: bool) -> Result<(), String> {
    if json {
        return print_json(&AdminPasswordView {
            username: username.to_owned(),
            password: password.to_owned(),
        });
    }
    println!("username: {username}");
    println!("password: {password}");
    println!("Keep the password now: it cannot be shown again. Sign in at /ui/.");
    Ok(())
}

pub async fn run(command: AdminCommand, services: &Services) -> Result<(), String> {
    let accounts = &services.accounts;
    let cli = Actor::cli();
    let fail = |e: crate::domain::DomainError| e.to_string();
    match command {
        AdminCommand::Create { username, json } => {
            let (admin, password) = accounts.create(&username, &cli).await.map_err(fail)?;
            print_password(&admin.username, password.expose(), json)
        }
        AdminCommand::List { json } => list(accounts, json).await,
        AdminCommand::ApiToken {
            username,
            expires_in,
            json,
        } => {
            let lifetime = expires_in.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let issued = accounts
                .create_api_token(&username, lifetime, &cli)
                .await
                .map_err(fail)?;
            let view = IssuedAdminTokenView::of(&issued);
            if json {
                return print_json(&view);
            }
            println!("token:      {}", view.token);
            println!("id:         {}", view.id);
            println!("expires_at: {}", view.expires_at);
            println!("Keep the token now: it cannot be shown again.");
            Ok(())
        }
        AdminCommand::Tokens { username, json } => {
            let (_, tokens) = accounts.api_tokens(&username).await.map_err(fail)?;
            let views: Vec<_> = tokens.iter().map(AdminTokenView::of).collect();
            if json {
                return print_json(&views);
            }
            println!(
                "{:>5}  {:<20}  {:<20}  last used",
                "id", "created", "expires"
            );
            for t in &views {
                println!(
                    "{:>5}  {:<20}  {:<20}  {}",
                    t.id,
                    t.created_at,
                    t.expires_at,
                    t.last_used_at.as_deref().unwrap_or("never")
                );
            }
            Ok(())
        }
        AdminCommand::RevokeToken { id } => {
            accounts
                .revoke_api_token(id, None, &cli)
                .await
                .map_err(fail)?;
            println!("Admin API token {id} revoked.");
            Ok(())
        }
        AdminCommand::Disable { username } => {
            accounts
                .set_enabled(&username, false, &cli)
                .await
                .map_err(fail)?;
            println!("Admin {username} disabled: its sessions ended and its API tokens stopped.");
            Ok(())
        }
        AdminCommand::Enable { username } => {
            accounts
                .set_enabled(&username, true, &cli)
                .await
                .map_err(fail)?;
            println!("Admin {username} enabled.");
            Ok(())
        }
        AdminCommand::Delete { username } => {
            accounts.delete(&username, &cli).await.map_err(fail)?;
            println!("Admin {username} deleted, with its sessions and API tokens.");
            Ok(())
        }
        AdminCommand::ResetPassword { username, json } => {
            let (admin, password) = accounts
                .reset_password(&username, &cli)
                .await
                .map_err(fail)?;
            print_password(&admin.username, password.expose(), json)
        }
    }
}

async fn list(accounts: &Accounts, json: bool) -> Result<(), String> {
    let admins = accounts.admins().await.map_err(|e| e.to_string())?;
    let views: Vec<_> = admins.iter().map(AdminView::of).collect();
    if json {
        return print_json(&views);
    }
    println!("{:<8}  {:<20}  username", "state", "created");
    for (admin, view) in admins.iter().zip(&views) {
        let state = if admin.enabled() {
            "enabled"
        } else {
            "disabled"
        };
        println!("{state:<8}  {:<20}  {}", view.created_at, view.username);
    }
    Ok(())
}
