//! The `cdp-auth` command line: one module per command group. Every command takes the same
//! configuration flags (`--database URL` among them); `--json` prints exactly one JSON value
//! on stdout so scripts can use it.

mod admin;
mod client;
mod copy;
mod instance;
mod key;
mod migrate;
mod segment;
mod serve;
mod tenant;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::app::Services;
use crate::config::{Config, ConfigArgs};

/// Self-hosted API authentication for Customer Data Platforms.
#[derive(Debug, Parser)]
#[command(name = "cdp-auth", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (creates the SQLite file and server key on first start).
    Serve,
    /// Create and inspect tenants.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Create, inspect, disable and rotate integration instances.
    #[command(subcommand)]
    Instance(instance::InstanceCommand),
    /// Define the segments secureApi's profile resources report.
    #[command(subcommand)]
    Segment(segment::SegmentCommand),
    /// Create administrators of the web UI and admin API.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Manage the server key.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Apply database migrations and exit.
    Migrate,
    /// Copy a whole deployment to a new, empty database (SQLite ⇄ PostgreSQL). Use the same
    /// server key with the copy. Prints a JSON summary.
    Copy {
        /// Source database URL.
        #[arg(long)]
        from: String,
        /// Target database URL (must hold no deployment yet).
        #[arg(long)]
        to: String,
    },
    /// Client: the a1user token requests against a cdp-auth server, over HTTP.
    #[command(subcommand)]
    Token(client::TokenCommand),
    /// Client: the secureApi token requests against a cdp-auth server, over HTTP.
    #[command(subcommand)]
    SecureToken(client::SecureTokenCommand),
}

/// Parses the command line, runs one command, and turns its outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The client words talk HTTP only: no server configuration, key or database.
    let command = match cli.command {
        Command::Token(command) => {
            return client::main(
                client::ClientCommand::Token(command),
                cli.config.log.as_deref(),
            );
        }
        Command::SecureToken(command) => {
            return client::main(
                client::ClientCommand::SecureToken(command),
                cli.config.log.as_deref(),
            );
        }
        command => command,
    };
    let config = match Config::resolve(&cli.config, std::env::var("CDP_AUTH_SERVER_KEY").ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log, matches!(command, Command::Serve));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
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
            Command::Serve => serve::run(config).await,
            Command::Tenant(command) => tenant::run(command, &open(&config).await?).await,
            Command::Instance(command) => {
                instance::run(command, &config, &open(&config).await?).await
            }
            Command::Admin(command) => admin::run(command, &open(&config).await?).await,
            Command::Segment(command) => segment::run(command, &open(&config).await?).await,
            Command::Migrate => migrate::run(&config).await,
            Command::Key(command) => key::run(command, &config).await,
            Command::Copy { from, to } => copy::run(&config, &from, &to).await,
            Command::Token(_) | Command::SecureToken(_) => unreachable!("run above"),
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

/// Logs go to stderr, so stdout stays clean for `--json`. Commands other than `serve` log
/// only warnings unless asked for more.
fn init_logging(filter: &str, serving: bool) {
    let filter = if serving || std::env::var_os("CDP_AUTH_LOG").is_some() {
        filter.to_owned()
    } else {
        "warn".to_owned()
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn open(config: &Config) -> Result<Services, String> {
    Services::open(config).await.map_err(|e| e.to_string())
}

/// Prints one JSON value on stdout.
fn print_json(value: &impl Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}
