//! `cdp-auth token …` and `cdp-auth secure-token …`: CLI words on the client crate that talk
//! HTTP to any cdp-auth (or compatible) server. They open no database and read no server
//! configuration. Secrets come from the environment or a prompt, never from flags, so that
//! they stay out of `ps` and shell history.

use std::io::IsTerminal;
use std::process::ExitCode;

use cdp_auth_client::{Client, Credentials, Error, Secret, TenantCredentials};
use clap::{Args, Subcommand};

use super::print_json;

/// The variable holding the instance password.
const PASSWORD_ENV: &str = "CDP_AUTH_PASSWORD";
/// The variable holding a bearer or secureApi token.
const TOKEN_ENV: &str = "CDP_AUTH_TOKEN";
/// The variable holding the tenant's `tenant_hash`.
const TENANT_HASH_ENV: &str = "CDP_AUTH_TENANT_HASH";
/// The variable holding the tenant's `oauth_key_secret`.
const OAUTH_KEY_SECRET_ENV: &str = "CDP_AUTH_OAUTH_KEY_SECRET";

/// Where the a1user words read their secrets, shown under each word's `--help`.
const A1_ENV_HELP: &str = "Environment:
  CDP_AUTH_AUTH_URL          the Authentication Host URL, when --auth-url is not given
  CDP_AUTH_USERNAME          the instance username, when --username is not given
  CDP_AUTH_PASSWORD          the instance password (login, retrieve, create, revoke-all);
                             prompted for on a terminal when unset; never a flag
  CDP_AUTH_TOKEN             the bearer token (extend, revoke); prompted for when unset";

/// Where the secureApi words read their secrets, shown under each word's `--help`.
const SECURE_ENV_HELP: &str = "Environment:
  CDP_AUTH_API_URL           the API Host URL, when --api-url is not given
  CDP_AUTH_TENANT_HASH       the tenant's tenant_hash (required)
  CDP_AUTH_OAUTH_KEY_SECRET  the tenant's oauth_key_secret; prompted for on a terminal when
                             unset (leave empty for a tenant with OAuth off)
  CDP_AUTH_TOKEN             the token to update (update); prompted for when unset";

/// The a1user requests. The password is read from `CDP_AUTH_PASSWORD` or a prompt; the token
/// for `extend` and `revoke` from `CDP_AUTH_TOKEN` or a prompt.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// One-time login: the newest active token, minted if there is none.
    #[command(after_help = A1_ENV_HELP)]
    Login(A1Args),
    /// Daily retrieve: the newest active token.
    #[command(after_help = A1_ENV_HELP)]
    Retrieve(A1Args),
    /// Extend the token in CDP_AUTH_TOKEN to a full lifetime from now.
    #[command(after_help = A1_ENV_HELP)]
    Extend(A1Args),
    /// Mint a new token beside the others (rotation).
    #[command(after_help = A1_ENV_HELP)]
    Create(A1Args),
    /// Revoke the token in CDP_AUTH_TOKEN.
    #[command(after_help = A1_ENV_HELP)]
    Revoke(A1Args),
    /// Revoke every token of the instance.
    #[command(after_help = A1_ENV_HELP)]
    RevokeAll(A1Args),
}

/// Where and as whom an a1user request goes.
#[derive(Debug, Args)]
pub struct A1Args {
    /// The Authentication Host URL (`https://auth.example.com`).
    #[arg(long, value_name = "URL", env = "CDP_AUTH_AUTH_URL")]
    auth_url: String,
    /// The instance username (not needed by `extend` and `revoke`, which send the token).
    #[arg(long, value_name = "U", env = "CDP_AUTH_USERNAME")]
    username: Option<String>,
    /// Print the server's JSON answer (what every client word prints; accepted for scripts).
    #[arg(long)]
    json: bool,
}

/// The secureApi requests, with `CDP_AUTH_TENANT_HASH` and `CDP_AUTH_OAUTH_KEY_SECRET`
/// (and for `update` the token in `CDP_AUTH_TOKEN`).
#[derive(Debug, Subcommand)]
pub enum SecureTokenCommand {
    /// Create a token scoped to resources of an api.
    #[command(after_help = SECURE_ENV_HELP)]
    Create(SecureArgs),
    /// Replace the resources of the token in CDP_AUTH_TOKEN (its expiry stays).
    #[command(after_help = SECURE_ENV_HELP)]
    Update(SecureArgs),
}

/// Where a secureApi request goes and what it asks for.
#[derive(Debug, Args)]
pub struct SecureArgs {
    /// The API Host URL.
    #[arg(long, value_name = "URL", env = "CDP_AUTH_API_URL")]
    api_url: String,
    /// The api (`profile`, `gdpr`).
    #[arg(long)]
    api: String,
    /// A resource of the api; repeat for more.
    #[arg(long = "resource", value_name = "RESOURCE", required = true)]
    resources: Vec<String>,
    /// Validity in minutes (create only; server default 15).
    #[arg(long, value_name = "MIN")]
    validity: Option<u32>,
    /// Print the server's JSON answer (what every client word prints; accepted for scripts).
    #[arg(long)]
    json: bool,
}

/// The client commands, run without the server's configuration or database.
pub enum ClientCommand {
    /// `cdp-auth token …`.
    Token(TokenCommand),
    /// `cdp-auth secure-token …`.
    SecureToken(SecureTokenCommand),
}

/// Runs one client command on a small runtime of its own; prints the server's JSON on
/// success, its `error_description` on stderr and a failure status otherwise.
pub fn main(command: ClientCommand) -> ExitCode {
    let _logging = crate::telemetry::init(&Default::default(), "warn", false);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match command {
            ClientCommand::Token(command) => token(command).await,
            ClientCommand::SecureToken(command) => secure_token(command).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn token(command: TokenCommand) -> Result<(), String> {
    match command {
        TokenCommand::Login(args) => {
            let (client, credentials) = basic(&args)?;
            shown(client.login(&credentials).await)
        }
        TokenCommand::Retrieve(args) => {
            let (client, credentials) = basic(&args)?;
            shown(client.retrieve(&credentials).await)
        }
        TokenCommand::Create(args) => {
            let (client, credentials) = basic(&args)?;
            shown(client.create(&credentials).await)
        }
        TokenCommand::RevokeAll(args) => {
            let (client, credentials) = basic(&args)?;
            shown(client.revoke_all(&credentials).await)
        }
        TokenCommand::Extend(args) => {
            let client = client(&args.auth_url)?;
            shown(client.extend(&bearer()?).await)
        }
        TokenCommand::Revoke(args) => {
            let client = client(&args.auth_url)?;
            shown(client.revoke(&bearer()?).await)
        }
    }
}

async fn secure_token(command: SecureTokenCommand) -> Result<(), String> {
    match command {
        SecureTokenCommand::Create(args) => {
            let (client, tenant) = (client(&args.api_url)?, tenant()?);
            let created = client
                .secure_create(&tenant, &args.api, &args.resources, args.validity)
                .await;
            shown(created)
        }
        SecureTokenCommand::Update(args) => {
            if args.validity.is_some() {
                return Err("--validity applies to create only: an update keeps the expiry".into());
            }
            let (client, tenant) = (client(&args.api_url)?, tenant()?);
            let token = bearer()?;
            shown(
                client
                    .secure_update(&tenant, &args.api, &token, &args.resources)
                    .await,
            )
        }
    }
}

fn client(url: &str) -> Result<Client, String> {
    Client::new(url).map_err(|e| e.to_string())
}

/// The client and the instance's Basic credentials.
fn basic(args: &A1Args) -> Result<(Client, Credentials), String> {
    let client = client(&args.auth_url)?;
    let username = args
        .username
        .clone()
        .ok_or("--username is required: the request authenticates as the instance")?;
    let password = secret(PASSWORD_ENV, &format!("Password for {username}: "))?;
    Ok((client, Credentials::new(username, password)))
}

/// The token of `extend`, `revoke` and `secure-token update`.
fn bearer() -> Result<Secret, String> {
    secret(TOKEN_ENV, "Token: ")
}

/// The tenant's secureApi credentials; the secret may be absent (a tenant with OAuth off).
fn tenant() -> Result<TenantCredentials, String> {
    let tenant_hash = std::env::var(TENANT_HASH_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("set {TENANT_HASH_ENV} to the tenant's tenant_hash"))?;
    let secret = match from_env(OAUTH_KEY_SECRET_ENV) {
        Some(secret) => Some(secret),
        None if std::io::stdin().is_terminal() => {
            let typed = prompt("oauth_key_secret (empty if the tenant has OAuth off): ")?;
            (!typed.is_empty()).then_some(typed)
        }
        None => None,
    };
    Ok(TenantCredentials {
        tenant_hash: tenant_hash.trim().to_owned(),
        oauth_key_secret: secret,
    })
}

/// A secret from `variable`, else typed at a prompt on the terminal.
fn secret(variable: &str, question: &str) -> Result<Secret, String> {
    if let Some(secret) = from_env(variable) {
        return Ok(secret);
    }
    let typed =
        prompt(question).map_err(|e| format!("set {variable}, or run in a terminal: {e}"))?;
    if typed.is_empty() {
        return Err(format!(
            "no secret given: set {variable} or type it at the prompt"
        ));
    }
    Ok(typed)
}

fn from_env(variable: &str) -> Option<Secret> {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::from)
}

/// Reads a line from the terminal without echoing it.
fn prompt(question: &str) -> Result<Secret, String> {
    rpassword::prompt_password(question)
        .map(|typed| Secret::from(typed.trim().to_owned()))
        .map_err(|e| format!("cannot prompt: {e}"))
}

/// Prints the server's answer, or turns its error into the message the user sees.
fn shown<T: serde::Serialize>(outcome: Result<T, Error>) -> Result<(), String> {
    match outcome {
        Ok(answer) => print_json(&answer),
        Err(Error::Api(e)) => Err(format!(
            "{} ({}, HTTP {})",
            if e.description.is_empty() {
                "the server refused the request"
            } else {
                &e.description
            },
            e.code,
            e.status
        )),
        Err(e) => Err(e.to_string()),
    }
}
