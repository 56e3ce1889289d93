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

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::app::Services;
use crate::config::{Config, ConfigArgs, DeploymentArgs};
use crate::telemetry::{self, LogFormat};

/// Self-hosted API authentication for Customer Data Platforms.
#[derive(Debug, Parser)]
#[command(name = "cdp-auth", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (creates the SQLite file and server key on first start).
    Serve(Box<ConfigArgs>),
    /// Create and inspect tenants.
    Tenant {
        #[command(flatten)]
        deployment: DeploymentArgs,
        #[command(subcommand)]
        command: tenant::TenantCommand,
    },
    /// Create, inspect, disable and rotate integration instances.
    Instance {
        #[command(flatten)]
        deployment: DeploymentArgs,
        #[command(subcommand)]
        command: instance::InstanceCommand,
    },
    /// Define the segments secureApi's profile resources report.
    Segment {
        #[command(flatten)]
        deployment: DeploymentArgs,
        #[command(subcommand)]
        command: segment::SegmentCommand,
    },
    /// Create administrators of the web UI and admin API.
    Admin {
        #[command(flatten)]
        deployment: DeploymentArgs,
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Manage the server key.
    Key {
        #[command(flatten)]
        deployment: DeploymentArgs,
        #[command(subcommand)]
        command: key::KeyCommand,
    },
    /// Apply database migrations and exit (creates the SQLite file if missing).
    Migrate {
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Copy a whole deployment to a new, empty database (SQLite ⇄ PostgreSQL). Use the same
    /// server key with the copy. Prints a JSON summary.
    Copy {
        /// Source database URL.
        #[arg(long)]
        from: String,
        /// Target database URL (must hold no deployment yet).
        #[arg(long)]
        to: String,
        /// Print one JSON object (what `copy` always prints; accepted for scripts).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        deployment: DeploymentArgs,
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
        Command::Token(command) => return client::main(client::ClientCommand::Token(command)),
        Command::SecureToken(command) => {
            return client::main(client::ClientCommand::SecureToken(command));
        }
        command => command,
    };
    let args = match command.settings() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Before the configuration is read, a JSON log format asked for by flag or environment
    // already applies to the error that reading may end in.
    telemetry::use_json_lines(
        args.log_format
            .as_deref()
            .is_some_and(|f| LogFormat::parse(f) == Ok(LogFormat::Json)),
    );
    let config = match Config::resolve(&args, std::env::var("CDP_AUTH_SERVER_KEY").ok()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}", telemetry::error_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    let serving = matches!(command, Command::Serve(_));
    let _telemetry = match init_logging(&config, serving) {
        Ok(guard) => guard,
        Err(message) => {
            eprintln!("{}", telemetry::error_line(&message));
            return ExitCode::from(2);
        }
    };
    // Only `serve` and `migrate` may make a new deployment: anything else run in the wrong
    // folder would otherwise create an empty database and key there and report on that.
    let creates_database = matches!(command, Command::Serve(_) | Command::Migrate { .. });
    let must_exist = match &command {
        Command::Copy { from, .. } => Some(from.as_str()),
        _ if creates_database => None,
        _ => Some(config.database.as_str()),
    };
    if let Some(Err(message)) = must_exist.map(existing_database) {
        eprintln!("{}", telemetry::error_line(&message));
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let message = format!("cannot start the async runtime: {e}");
            eprintln!("{}", telemetry::error_line(&message));
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Serve(_) => serve::run(config).await,
            Command::Tenant { command, .. } => tenant::run(command, &open(&config).await?).await,
            Command::Instance { command, .. } => {
                instance::run(command, &config, &open(&config).await?).await
            }
            Command::Admin { command, .. } => admin::run(command, &open(&config).await?).await,
            Command::Segment { command, .. } => segment::run(command, &open(&config).await?).await,
            Command::Migrate { .. } => migrate::run(&config).await,
            Command::Key { command, .. } => key::run(command, &config).await,
            Command::Copy { from, to, .. } => copy::run(&config, &from, &to).await,
            Command::Token(_) | Command::SecureToken(_) => unreachable!("run above"),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{}", telemetry::error_line(&message));
            ExitCode::FAILURE
        }
    }
}

impl Command {
    /// The settings a command runs with: `serve`'s own flags, or for the other commands their
    /// deployment flags over the `CDP_AUTH_*` variables.
    fn settings(&self) -> Result<ConfigArgs, clap::Error> {
        let deployment = match self {
            Command::Serve(args) => return Ok((**args).clone()),
            Command::Tenant { deployment, .. }
            | Command::Instance { deployment, .. }
            | Command::Segment { deployment, .. }
            | Command::Admin { deployment, .. }
            | Command::Key { deployment, .. }
            | Command::Migrate { deployment }
            | Command::Copy { deployment, .. } => deployment,
            Command::Token(_) | Command::SecureToken(_) => return Ok(ConfigArgs::default()),
        };
        Ok(deployment.clone().over(ConfigArgs::from_env()?))
    }
}

/// Refuses a SQLite database file that does not exist, naming where it looked and how to
/// point at the right one. PostgreSQL URLs pass: the server says whether they exist.
fn existing_database(database: &str) -> Result<(), String> {
    let Some(path) = crate::config::sqlite_file(database) else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    let shown = std::path::absolute(&path).unwrap_or(path);
    Err(format!(
        "no cdp-auth database at {} (from {database}). Run this command in the folder where \
         `cdp-auth serve` runs, or point at the database with --database URL or \
         CDP_AUTH_DATABASE (`cdp-auth serve` or `cdp-auth migrate` creates a new one).",
        shown.display()
    ))
}

/// Logs go to stderr, so stdout stays clean for `--json`. Commands other than `serve` log
/// only warnings unless asked for more, and export no traces.
fn init_logging(config: &Config, serving: bool) -> Result<telemetry::TelemetryGuard, String> {
    let filter = if serving || std::env::var_os("CDP_AUTH_LOG").is_some() {
        config.log.as_str()
    } else {
        "warn"
    };
    telemetry::init(&config.telemetry, filter, serving)
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
