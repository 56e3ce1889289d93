//! `cdp-auth admin create|api-token`: administrators of the web UI and the admin API.

use clap::Subcommand;
use serde::Serialize;

use super::print_json;
use crate::app::Services;
use crate::domain::audit::Actor;

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
    /// Issue an API token for scripts calling /admin/api/ (`Authorization: Bearer`); shown
    /// this once.
    ApiToken {
        /// The admin the token acts as.
        #[arg(long)]
        username: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct CreatedAdmin<'a> {
    username: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct IssuedApiToken<'a> {
    username: &'a str,
    token: &'a str,
}

pub async fn run(command: AdminCommand, services: &Services) -> Result<(), String> {
    let accounts = &services.accounts;
    match command {
        AdminCommand::Create { username, json } => {
            let (admin, password) = accounts
                .create(&username, &Actor::cli())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&CreatedAdmin {
                    username: &admin.username,
                    password: password.expose(),
                });
            }
            println!("username: {}", admin.username);
            println!("password: {}", password.expose());
            println!("Keep the password now: it cannot be shown again. Sign in at /ui/.");
            Ok(())
        }
        AdminCommand::ApiToken { username, json } => {
            let token = accounts
                .create_api_token(&username, &Actor::cli())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return print_json(&IssuedApiToken {
                    username: &username,
                    token: token.expose(),
                });
            }
            println!("token: {}", token.expose());
            println!("Keep the token now: it cannot be shown again.");
            Ok(())
        }
    }
}
