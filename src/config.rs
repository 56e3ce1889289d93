//! Configuration, layered `--flag` > `CDP_AUTH_*` environment variable > `cdp-auth.toml` >
//! defaults, resolved once into one typed [`Config`].
//!
//! clap supplies the first two layers (each flag names its variable); the file fills what both
//! left unset. Secrets are never flags: the server key comes only from a file or
//! `CDP_AUTH_SERVER_KEY`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use crate::domain::cdp::gdpr::known_time_zone;
use crate::domain::cdp::{CdpSettings, GdprSchedule};
use crate::domain::forward_auth::{PathTemplate, Rule, RuleError, RuleMethod, RuleScope, Rules};
use crate::domain::jwt::JwtSettings;
use crate::domain::policy::Policy;
use crate::domain::secure_api::SecureApiPolicy;
use crate::http::connections::ConnectionLimits;
use crate::store::StoreOptions;
use crate::telemetry::{LogFormat, TelemetrySettings};

/// Name of the configuration file read from the working folder when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "cdp-auth.toml";
/// Database used when none is configured: a SQLite file in the working folder.
pub const DEFAULT_DATABASE: &str = "sqlite://cdp-auth.db";
/// Address served when none is configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Configuration problems, reported before anything starts.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file named by `--config` (or the default one) could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A forward-auth rule that could never match, with the line of the file it is on.
    #[error("invalid config file {path}, line {line}: forward_auth.rules: {message}")]
    Rule {
        /// The file.
        path: PathBuf,
        /// The line (from 1) of the offending value.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid setting {name}: {message}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Every setting, as `serve`'s flags or `CDP_AUTH_*` variables. Other commands read the
/// same variables (see [`ConfigArgs::from_env`]) but take only [`DeploymentArgs`] as flags,
/// so their `--help` lists what they use.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file (TOML); `cdp-auth.toml` in the working folder is read if present.
    #[arg(long, env = "CDP_AUTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: `sqlite://PATH` (created on first use).
    #[arg(long, env = "CDP_AUTH_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// Address and port to serve on.
    #[arg(long, env = "CDP_AUTH_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Base URL clients reach this server at; API and auth host URLs default to it.
    #[arg(long, env = "CDP_AUTH_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// API Host URL shown with new instances.
    #[arg(long, env = "CDP_AUTH_API_HOST_URL", value_name = "URL")]
    pub api_host_url: Option<String>,
    /// Authentication Host URL shown with new instances.
    #[arg(long, env = "CDP_AUTH_AUTH_HOST_URL", value_name = "URL")]
    pub auth_host_url: Option<String>,
    /// File holding the server key (created with mode 0600 on first start). Default: beside
    /// the SQLite file, with extension `.key`.
    #[arg(long, env = "CDP_AUTH_SERVER_KEY_FILE", value_name = "FILE")]
    pub server_key_file: Option<PathBuf>,
    /// Token lifetime in Customer Sandbox tenants (e.g. `90d`).
    #[arg(long, env = "CDP_AUTH_TOKEN_LIFETIME_CS", value_parser = humantime::parse_duration)]
    pub token_lifetime_cs: Option<Duration>,
    /// Token lifetime in UAT tenants (e.g. `180d`).
    #[arg(long, env = "CDP_AUTH_TOKEN_LIFETIME_UAT", value_parser = humantime::parse_duration)]
    pub token_lifetime_uat: Option<Duration>,
    /// Token lifetime in production tenants (e.g. `180d`).
    #[arg(long, env = "CDP_AUTH_TOKEN_LIFETIME_PROD", value_parser = humantime::parse_duration)]
    pub token_lifetime_prod: Option<Duration>,
    /// How far extends may push a token past its issue time (e.g. `365d`).
    #[arg(long, env = "CDP_AUTH_MAX_TOKEN_AGE", value_parser = humantime::parse_duration)]
    pub max_token_age: Option<Duration>,
    /// How long a generated instance password logs in (e.g. `365d`).
    #[arg(long, env = "CDP_AUTH_PASSWORD_LIFETIME", value_parser = humantime::parse_duration)]
    pub password_lifetime: Option<Duration>,
    /// Active tokens an instance may hold in Customer Sandbox tenants.
    #[arg(long, env = "CDP_AUTH_MAX_ACTIVE_TOKENS_CS")]
    pub max_active_tokens_cs: Option<u32>,
    /// Active tokens an instance may hold in UAT and production tenants.
    #[arg(long, env = "CDP_AUTH_MAX_ACTIVE_TOKENS_UAT_PROD")]
    pub max_active_tokens_uat_prod: Option<u32>,
    /// Instances of each type a tenant may hold.
    #[arg(long, env = "CDP_AUTH_MAX_INSTANCES_PER_TYPE")]
    pub max_instances_per_type: Option<u32>,
    /// Lifetime of OAuth client_credentials tokens (e.g. `1h`).
    #[arg(long, env = "CDP_AUTH_OAUTH_TOKEN_LIFETIME", value_parser = humantime::parse_duration)]
    pub oauth_token_lifetime: Option<Duration>,
    /// How long an admin stays signed in to the web UI (e.g. `8h`).
    #[arg(long, env = "CDP_AUTH_ADMIN_SESSION_LIFETIME", value_parser = humantime::parse_duration)]
    pub admin_session_lifetime: Option<Duration>,
    /// How long an admin API token lasts unless issued with `--expires-in` (e.g. `90d`).
    #[arg(long, env = "CDP_AUTH_ADMIN_TOKEN_LIFETIME", value_parser = humantime::parse_duration)]
    pub admin_token_lifetime: Option<Duration>,
    /// Most connections open at once; further ones wait in the kernel's backlog.
    #[arg(long, env = "CDP_AUTH_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Longest wait for a request head, from accept or its first byte (e.g. `10s`).
    #[arg(long, env = "CDP_AUTH_HEADER_TIMEOUT", value_parser = humantime::parse_duration)]
    pub header_timeout: Option<Duration>,
    /// How long a keep-alive connection may idle between requests (e.g. `60s`).
    #[arg(long, env = "CDP_AUTH_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Failed credential attempts allowed per name and address, and per address, per window.
    #[arg(long, env = "CDP_AUTH_MAX_FAILED_ATTEMPTS")]
    pub max_failed_attempts: Option<u32>,
    /// The failed-attempt window (e.g. `5m`).
    #[arg(long, env = "CDP_AUTH_FAILED_ATTEMPTS_WINDOW", value_parser = humantime::parse_duration)]
    pub failed_attempts_window: Option<Duration>,
    /// How long a refused credential waits before its answer (e.g. `200ms`; `0s` for none).
    #[arg(long, env = "CDP_AUTH_FAILURE_DELAY", value_parser = humantime::parse_duration)]
    pub failure_delay: Option<Duration>,
    /// While the database is unavailable, how long verified tokens are still answered from
    /// the cache (e.g. `5m`; `0s`: not at all).
    #[arg(long, env = "CDP_AUTH_STALE_IF_ERROR", value_parser = humantime::parse_duration)]
    pub stale_if_error: Option<Duration>,
    /// What `/oauth/token` issues unless a tenant says otherwise: `opaque` or `jwt`.
    #[arg(long, env = "CDP_AUTH_OAUTH_TOKEN_FORMAT", value_name = "FORMAT")]
    pub oauth_token_format: Option<String>,
    /// Lifetime of JWT access tokens (e.g. `15m`).
    #[arg(long, env = "CDP_AUTH_JWT_LIFETIME", value_parser = humantime::parse_duration)]
    pub jwt_lifetime: Option<Duration>,
    /// `aud` of JWT access tokens (default: the API Host URL).
    #[arg(long, env = "CDP_AUTH_JWT_AUDIENCE", value_name = "URI")]
    pub jwt_audience: Option<String>,
    /// Algorithm of new JWT signing keys: `ES256` or `EdDSA`.
    #[arg(long, env = "CDP_AUTH_JWT_ALGORITHM", value_name = "ALG")]
    pub jwt_algorithm: Option<String>,
    /// How long a JWT signing key signs before the next takes over (e.g. `30d`).
    #[arg(long, env = "CDP_AUTH_JWT_KEY_ROTATION", value_parser = humantime::parse_duration)]
    pub jwt_key_rotation: Option<Duration>,
    /// Longest secureApi token validity a create may ask for, in minutes.
    #[arg(long, env = "CDP_AUTH_MAX_VALIDITY")]
    pub max_validity: Option<u32>,
    /// Database connections per process (default 8 for SQLite, 16 for PostgreSQL).
    #[arg(long, env = "CDP_AUTH_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,
    /// How long start-up keeps retrying an unreachable database (e.g. `30s`).
    #[arg(long, env = "CDP_AUTH_DB_CONNECT_TIMEOUT", value_parser = humantime::parse_duration)]
    pub db_connect_timeout: Option<Duration>,
    /// Log filter (`info`, `debug`, `cdp_auth=debug,tower_http=info`, …).
    #[arg(long, env = "CDP_AUTH_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Log lines as `text` (default) or `json` (one object per line, stdout and stderr).
    #[arg(long, env = "CDP_AUTH_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// One log line per answered request (default true).
    #[arg(long, env = "CDP_AUTH_ACCESS_LOG", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub access_log: Option<bool>,
    /// Count requests and serve Prometheus metrics at `/metrics` (default true).
    #[arg(long, env = "CDP_AUTH_METRICS", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics: Option<bool>,
    /// Serve `/metrics` on this address alone instead of the main listener.
    #[arg(long, env = "CDP_AUTH_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Export OpenTelemetry traces over OTLP/HTTP to this collector (e.g.
    /// `http://127.0.0.1:4318`); off unless set.
    #[arg(long, env = "CDP_AUTH_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Largest push body the CDP accepts, in bytes (default 10 MiB).
    #[arg(long, env = "CDP_AUTH_MAX_PUSH_BODY", value_name = "BYTES")]
    pub max_push_body: Option<usize>,
    /// Most records in one push (default 10000).
    #[arg(long, env = "CDP_AUTH_MAX_PUSH_RECORDS")]
    pub max_push_records: Option<usize>,
    /// When GDPR requests are processed: `immediate` or `daily` (at midnight, tenant time).
    #[arg(long, env = "CDP_AUTH_GDPR_SCHEDULE", value_name = "WHEN")]
    pub gdpr_schedule: Option<String>,
    /// Time zone of tenants without their own in `gdpr_time_zones` (default `UTC`).
    #[arg(long, env = "CDP_AUTH_GDPR_TIME_ZONE", value_name = "ZONE")]
    pub gdpr_time_zone: Option<String>,
    /// Requests per second one WebTag access key may send (default 50).
    #[arg(long, env = "CDP_AUTH_WEBTAG_RATE")]
    pub webtag_rate: Option<u32>,
    /// Requests a WebTag access key may send in a burst (default 100).
    #[arg(long, env = "CDP_AUTH_WEBTAG_BURST")]
    pub webtag_burst: Option<u32>,
}

impl ConfigArgs {
    /// The settings from `CDP_AUTH_*` variables alone: what a command without the server's
    /// flags still honours, so a deployment configured by its environment is the same
    /// deployment for every command.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct FromEnv {
            #[command(flatten)]
            args: ConfigArgs,
        }
        <FromEnv as clap::Parser>::try_parse_from(["cdp-auth"]).map(|parsed| parsed.args)
    }
}

/// Which deployment a command works on: the flags every database command takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DeploymentArgs {
    /// Configuration file (TOML); `cdp-auth.toml` in the working folder is read if present.
    #[arg(long, global = true, env = "CDP_AUTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL: `sqlite://PATH` or `postgres://…` (default `sqlite://cdp-auth.db`).
    #[arg(long, global = true, env = "CDP_AUTH_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// File holding the server key. Default: beside the SQLite file, with extension `.key`.
    #[arg(
        long,
        global = true,
        env = "CDP_AUTH_SERVER_KEY_FILE",
        value_name = "FILE"
    )]
    pub server_key_file: Option<PathBuf>,
}

impl DeploymentArgs {
    /// These flags over the environment's settings.
    pub fn over(self, mut settings: ConfigArgs) -> ConfigArgs {
        settings.config = self.config.or(settings.config);
        settings.database = self.database.or(settings.database);
        settings.server_key_file = self.server_key_file.or(settings.server_key_file);
        settings
    }
}

/// The file layer: the same settings, in TOML.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database: Option<String>,
    listen: Option<SocketAddr>,
    public_url: Option<String>,
    api_host_url: Option<String>,
    auth_host_url: Option<String>,
    server_key_file: Option<PathBuf>,
    #[serde(default, with = "humantime_opt")]
    token_lifetime_cs: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    token_lifetime_uat: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    token_lifetime_prod: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    max_token_age: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    password_lifetime: Option<Duration>,
    max_active_tokens_cs: Option<u32>,
    max_active_tokens_uat_prod: Option<u32>,
    max_instances_per_type: Option<u32>,
    #[serde(default, with = "humantime_opt")]
    oauth_token_lifetime: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    admin_session_lifetime: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    admin_token_lifetime: Option<Duration>,
    max_validity: Option<u32>,
    max_failed_attempts: Option<u32>,
    #[serde(default, with = "humantime_opt")]
    failed_attempts_window: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    failure_delay: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    stale_if_error: Option<Duration>,
    max_connections: Option<usize>,
    #[serde(default, with = "humantime_opt")]
    header_timeout: Option<Duration>,
    #[serde(default, with = "humantime_opt")]
    idle_timeout: Option<Duration>,
    /// secureApi apis and their resources; replaces the defaults when given.
    apis: Option<BTreeMap<String, Vec<String>>>,
    db_max_connections: Option<u32>,
    #[serde(default, with = "humantime_opt")]
    db_connect_timeout: Option<Duration>,
    log: Option<String>,
    log_format: Option<String>,
    access_log: Option<bool>,
    metrics: Option<bool>,
    metrics_listen: Option<SocketAddr>,
    otlp_endpoint: Option<String>,
    max_push_body: Option<usize>,
    max_push_records: Option<usize>,
    gdpr_schedule: Option<String>,
    gdpr_time_zone: Option<String>,
    /// Time zones by tenant name, for the daily GDPR schedule.
    gdpr_time_zones: Option<BTreeMap<String, String>>,
    webtag_rate: Option<u32>,
    webtag_burst: Option<u32>,
    oauth_token_format: Option<String>,
    #[serde(default, with = "humantime_opt")]
    jwt_lifetime: Option<Duration>,
    jwt_audience: Option<String>,
    jwt_algorithm: Option<String>,
    #[serde(default, with = "humantime_opt")]
    jwt_key_rotation: Option<Duration>,
    /// `[[forward_auth.rules]]`.
    forward_auth: Option<ForwardAuthFile>,
}

/// The `[forward_auth]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardAuthFile {
    #[serde(default)]
    rules: Vec<RuleFile>,
}

/// One `[[forward_auth.rules]]` entry, each value with its place in the file so that a rule
/// that cannot match is reported at its line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    path: Spanned<String>,
    methods: Option<Spanned<Vec<Spanned<String>>>>,
    scopes: Option<Spanned<Vec<Spanned<String>>>>,
}

/// The file's text and name, for pointing at a line of it.
struct Source {
    path: PathBuf,
    text: String,
}

impl Source {
    /// An error at the byte offset `at` of the file.
    fn error_at(&self, at: usize, message: impl ToString) -> ConfigError {
        let before = self.text.get(..at).unwrap_or(&self.text);
        ConfigError::Rule {
            path: self.path.clone(),
            line: before.matches('\n').count() + 1,
            message: message.to_string(),
        }
    }
}

/// Parses the forward-auth rules of the file, each value checked where it stands.
fn forward_auth_rules(
    file: Option<ForwardAuthFile>,
    source: Option<&Source>,
) -> Result<Rules, ConfigError> {
    let entries = file.map(|f| f.rules).unwrap_or_default();
    let Some(source) = source.filter(|_| !entries.is_empty()) else {
        return Ok(Rules::default());
    };
    let mut rules = Vec::with_capacity(entries.len());
    for entry in entries {
        let path = PathTemplate::parse(entry.path.get_ref())
            .map_err(|e| source.error_at(entry.path.span().start, e))?;
        let (methods, methods_at) = list_of(source, entry.methods, RuleMethod::parse)?;
        let (scopes, scopes_at) = list_of(source, entry.scopes, RuleScope::parse)?;
        let rule = Rule::new(path, methods, scopes).map_err(|e| {
            let at = match e {
                RuleError::NoMethods => methods_at,
                _ => scopes_at,
            };
            source.error_at(at, e)
        })?;
        rules.push(rule);
    }
    Ok(Rules::new(rules))
}

/// Parses each item of an optional list, reporting a bad item at its own place; returns the
/// items and where the list begins.
fn list_of<T>(
    source: &Source,
    list: Option<Spanned<Vec<Spanned<String>>>>,
    parse: impl Fn(&str) -> Result<T, RuleError>,
) -> Result<(Option<Vec<T>>, usize), ConfigError> {
    let Some(list) = list else {
        return Ok((None, 0));
    };
    let at = list.span().start;
    let items = list
        .into_inner()
        .iter()
        .map(|item| parse(item.get_ref()).map_err(|e| source.error_at(item.span().start, e)))
        .collect::<Result<Vec<T>, ConfigError>>()?;
    Ok((Some(items), at))
}

mod humantime_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Where the server key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `CDP_AUTH_SERVER_KEY`: base64 of 32 bytes, for deployments that inject secrets.
    Env(String),
    /// A key file, created on first start when the database is new.
    File(PathBuf),
}

/// Every setting, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// Database URL.
    pub database: String,
    /// Address to serve on.
    pub listen: SocketAddr,
    /// API Host URL shown with new instances.
    pub api_host_url: String,
    /// Authentication Host URL shown with new instances.
    pub auth_host_url: String,
    /// Whether the public URL was derived from the listen address rather than configured; then
    /// `serve` re-derives it from the address actually bound (port 0 means "any free port").
    pub public_url_derived: bool,
    /// Where the server key lives.
    pub server_key: KeySource,
    /// Lifetimes and limits.
    pub policy: Policy,
    /// secureApi apis, resources and validity bounds.
    pub secure_api: SecureApiPolicy,
    /// Database pool size and start-up patience.
    pub store: StoreOptions,
    /// The customer data's limits and schedules.
    pub cdp: CdpSettings,
    /// Connections: how many at once, and how long a head or an idle connection may take.
    pub connections: ConnectionLimits,
    /// JWT access tokens: default format, lifetime, audience, keys.
    pub jwt: JwtSettings,
    /// Log filter.
    pub log: String,
    /// Metrics, traces and the form of log lines.
    pub telemetry: TelemetrySettings,
    /// The forward-auth rules, in order; none denies every request.
    pub forward_auth: Rules,
}

impl Config {
    /// Resolves flags and environment (already merged by clap) over the config file over the
    /// defaults. `server_key_env` is `CDP_AUTH_SERVER_KEY`, read by the caller.
    pub fn resolve(args: &ConfigArgs, server_key_env: Option<String>) -> Result<Self, ConfigError> {
        let (mut file, source) = load_file(args.config.as_deref())?;
        let forward_auth = forward_auth_rules(file.forward_auth.take(), source.as_ref())?;
        let database = args
            .database
            .clone()
            .or(file.database)
            .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address parses"));
        let configured_public_url = args.public_url.clone().or(file.public_url);
        let public_url_derived = configured_public_url.is_none();
        let public_url = configured_public_url.unwrap_or_else(|| default_public_url(listen));
        let public_url = public_url.trim_end_matches('/').to_owned();
        let api_host_url = args
            .api_host_url
            .clone()
            .or(file.api_host_url)
            .unwrap_or_else(|| public_url.clone());
        let auth_host_url = args
            .auth_host_url
            .clone()
            .or(file.auth_host_url)
            .unwrap_or_else(|| public_url.clone());
        let server_key = match server_key_env.filter(|k| !k.trim().is_empty()) {
            Some(key) => KeySource::Env(key),
            None => KeySource::File(
                args.server_key_file
                    .clone()
                    .or(file.server_key_file)
                    .unwrap_or_else(|| default_key_file(&database)),
            ),
        };
        let defaults = Policy::default();
        let policy = Policy {
            token_lifetime_cs: args
                .token_lifetime_cs
                .or(file.token_lifetime_cs)
                .unwrap_or(defaults.token_lifetime_cs),
            token_lifetime_uat: args
                .token_lifetime_uat
                .or(file.token_lifetime_uat)
                .unwrap_or(defaults.token_lifetime_uat),
            token_lifetime_prod: args
                .token_lifetime_prod
                .or(file.token_lifetime_prod)
                .unwrap_or(defaults.token_lifetime_prod),
            max_token_age: args
                .max_token_age
                .or(file.max_token_age)
                .unwrap_or(defaults.max_token_age),
            password_lifetime: args
                .password_lifetime
                .or(file.password_lifetime)
                .unwrap_or(defaults.password_lifetime),
            max_active_tokens_cs: args
                .max_active_tokens_cs
                .or(file.max_active_tokens_cs)
                .unwrap_or(defaults.max_active_tokens_cs),
            max_active_tokens_uat_prod: args
                .max_active_tokens_uat_prod
                .or(file.max_active_tokens_uat_prod)
                .unwrap_or(defaults.max_active_tokens_uat_prod),
            max_instances_per_type: args
                .max_instances_per_type
                .or(file.max_instances_per_type)
                .unwrap_or(defaults.max_instances_per_type),
            oauth_token_lifetime: args
                .oauth_token_lifetime
                .or(file.oauth_token_lifetime)
                .unwrap_or(defaults.oauth_token_lifetime),
            max_failed_attempts: args
                .max_failed_attempts
                .or(file.max_failed_attempts)
                .unwrap_or(defaults.max_failed_attempts),
            failed_attempts_window: args
                .failed_attempts_window
                .or(file.failed_attempts_window)
                .unwrap_or(defaults.failed_attempts_window),
            failure_delay: args
                .failure_delay
                .or(file.failure_delay)
                .unwrap_or(defaults.failure_delay),
            admin_session_lifetime: args
                .admin_session_lifetime
                .or(file.admin_session_lifetime)
                .unwrap_or(defaults.admin_session_lifetime),
            admin_token_lifetime: args
                .admin_token_lifetime
                .or(file.admin_token_lifetime)
                .unwrap_or(defaults.admin_token_lifetime),
            stale_if_error: args
                .stale_if_error
                .or(file.stale_if_error)
                .unwrap_or(defaults.stale_if_error),
        };
        let secure_defaults = SecureApiPolicy::default();
        let secure_api = SecureApiPolicy {
            apis: file.apis.unwrap_or(secure_defaults.apis),
            default_validity_minutes: secure_defaults.default_validity_minutes,
            max_validity_minutes: args
                .max_validity
                .or(file.max_validity)
                .unwrap_or(secure_defaults.max_validity_minutes),
        };
        if secure_api.max_validity_minutes == 0 {
            return Err(ConfigError::Invalid {
                name: "max_validity",
                message: "must be at least one minute".into(),
            });
        }
        if let Some((api, _)) = secure_api.apis.iter().find(|(_, r)| r.is_empty()) {
            return Err(ConfigError::Invalid {
                name: "apis",
                message: format!("api {api:?} lists no resources"),
            });
        }
        for (name, lifetime) in [
            ("token_lifetime_cs", policy.token_lifetime_cs),
            ("token_lifetime_uat", policy.token_lifetime_uat),
            ("token_lifetime_prod", policy.token_lifetime_prod),
            ("max_token_age", policy.max_token_age),
            ("oauth_token_lifetime", policy.oauth_token_lifetime),
            ("admin_session_lifetime", policy.admin_session_lifetime),
            ("admin_token_lifetime", policy.admin_token_lifetime),
        ] {
            if lifetime.as_secs() == 0 {
                return Err(ConfigError::Invalid {
                    name,
                    message: "must be at least one second".into(),
                });
            }
        }
        let store = StoreOptions {
            max_connections: args.db_max_connections.or(file.db_max_connections),
            connect_timeout: args
                .db_connect_timeout
                .or(file.db_connect_timeout)
                .unwrap_or(StoreOptions::default().connect_timeout),
        };
        let log = args
            .log
            .clone()
            .or(file.log)
            .unwrap_or_else(|| "info".to_owned());
        let telemetry = resolve_telemetry(
            args,
            TelemetrySettings {
                metrics: file.metrics.unwrap_or(true),
                metrics_listen: file.metrics_listen,
                otlp_endpoint: file.otlp_endpoint,
                log_format: LogFormat::Text,
                access_log: file.access_log.unwrap_or(true),
            },
            file.log_format,
        )?;
        let defaults = ConnectionLimits::default();
        let connections = ConnectionLimits {
            max_connections: args
                .max_connections
                .or(file.max_connections)
                .unwrap_or(defaults.max_connections),
            header_timeout: args
                .header_timeout
                .or(file.header_timeout)
                .unwrap_or(defaults.header_timeout),
            idle_timeout: args
                .idle_timeout
                .or(file.idle_timeout)
                .unwrap_or(defaults.idle_timeout),
        };
        for (name, timeout) in [
            ("header_timeout", connections.header_timeout),
            ("idle_timeout", connections.idle_timeout),
        ] {
            if timeout < Duration::from_millis(100) {
                return Err(ConfigError::Invalid {
                    name,
                    message: "must be at least 100ms".into(),
                });
            }
        }
        let jwt = resolve_jwt(
            args,
            JwtFile {
                oauth_token_format: file.oauth_token_format,
                jwt_lifetime: file.jwt_lifetime,
                jwt_audience: file.jwt_audience,
                jwt_algorithm: file.jwt_algorithm,
                jwt_key_rotation: file.jwt_key_rotation,
            },
        )?;
        let cdp = resolve_cdp(
            args,
            file.max_push_body,
            file.max_push_records,
            CdpFile {
                gdpr_schedule: file.gdpr_schedule,
                gdpr_time_zone: file.gdpr_time_zone,
                gdpr_time_zones: file.gdpr_time_zones,
                webtag_rate: file.webtag_rate,
                webtag_burst: file.webtag_burst,
            },
        )?;
        Ok(Config {
            database,
            listen,
            api_host_url,
            auth_host_url,
            public_url_derived,
            server_key,
            policy,
            secure_api,
            store,
            cdp,
            connections,
            jwt,
            log,
            telemetry,
            forward_auth,
        })
    }
}

/// The telemetry settings: flags and environment over the file's (`file`, with the file's
/// log format still unparsed).
fn resolve_telemetry(
    args: &ConfigArgs,
    file: TelemetrySettings,
    file_log_format: Option<String>,
) -> Result<TelemetrySettings, ConfigError> {
    let log_format = match args.log_format.clone().or(file_log_format) {
        Some(word) => LogFormat::parse(&word).map_err(|message| ConfigError::Invalid {
            name: "log_format",
            message,
        })?,
        None => LogFormat::Text,
    };
    let settings = TelemetrySettings {
        metrics: args.metrics.unwrap_or(file.metrics),
        metrics_listen: args.metrics_listen.or(file.metrics_listen),
        otlp_endpoint: args
            .otlp_endpoint
            .clone()
            .or(file.otlp_endpoint)
            .filter(|e| !e.trim().is_empty()),
        log_format,
        access_log: args.access_log.unwrap_or(file.access_log),
    };
    settings.check().map_err(|message| ConfigError::Invalid {
        name: "otlp_endpoint",
        message,
    })?;
    Ok(settings)
}

/// The JWT settings of the file layer.
struct JwtFile {
    oauth_token_format: Option<String>,
    jwt_lifetime: Option<Duration>,
    jwt_audience: Option<String>,
    jwt_algorithm: Option<String>,
    jwt_key_rotation: Option<Duration>,
}

fn resolve_jwt(args: &ConfigArgs, file: JwtFile) -> Result<JwtSettings, ConfigError> {
    let defaults = JwtSettings::default();
    let default_format = match args.oauth_token_format.clone().or(file.oauth_token_format) {
        Some(word) => word.parse().map_err(|message| ConfigError::Invalid {
            name: "oauth_token_format",
            message,
        })?,
        None => defaults.default_format,
    };
    let algorithm = match args.jwt_algorithm.clone().or(file.jwt_algorithm) {
        Some(word) => word.parse().map_err(|message| ConfigError::Invalid {
            name: "jwt_algorithm",
            message,
        })?,
        None => defaults.algorithm,
    };
    let settings = JwtSettings {
        default_format,
        lifetime: args
            .jwt_lifetime
            .or(file.jwt_lifetime)
            .unwrap_or(defaults.lifetime),
        audience: args
            .jwt_audience
            .clone()
            .or(file.jwt_audience)
            .filter(|a| !a.trim().is_empty()),
        algorithm,
        rotation: args
            .jwt_key_rotation
            .or(file.jwt_key_rotation)
            .unwrap_or(defaults.rotation),
    };
    for (name, value) in [
        ("jwt_lifetime", settings.lifetime),
        ("jwt_key_rotation", settings.rotation),
    ] {
        if value.as_secs() == 0 {
            return Err(ConfigError::Invalid {
                name,
                message: "must be at least one second".into(),
            });
        }
    }
    Ok(settings)
}

/// The CDP settings of the file layer.
struct CdpFile {
    gdpr_schedule: Option<String>,
    gdpr_time_zone: Option<String>,
    gdpr_time_zones: Option<BTreeMap<String, String>>,
    webtag_rate: Option<u32>,
    webtag_burst: Option<u32>,
}

fn resolve_cdp(
    args: &ConfigArgs,
    max_push_body: Option<usize>,
    max_push_records: Option<usize>,
    file: CdpFile,
) -> Result<CdpSettings, ConfigError> {
    let defaults = CdpSettings::default();
    let gdpr_schedule = match args.gdpr_schedule.clone().or(file.gdpr_schedule).as_deref() {
        None | Some("immediate") => GdprSchedule::Immediate,
        Some("daily") => GdprSchedule::Daily,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "gdpr_schedule",
                message: format!("{other:?}: use immediate or daily"),
            });
        }
    };
    let settings = CdpSettings {
        max_push_body: args
            .max_push_body
            .or(max_push_body)
            .unwrap_or(defaults.max_push_body),
        max_push_records: args
            .max_push_records
            .or(max_push_records)
            .unwrap_or(defaults.max_push_records),
        gdpr_schedule,
        gdpr_time_zone: args
            .gdpr_time_zone
            .clone()
            .or(file.gdpr_time_zone)
            .unwrap_or(defaults.gdpr_time_zone),
        gdpr_time_zones: file.gdpr_time_zones.unwrap_or_default(),
        webtag_rate: args
            .webtag_rate
            .or(file.webtag_rate)
            .unwrap_or(defaults.webtag_rate),
        webtag_burst: args
            .webtag_burst
            .or(file.webtag_burst)
            .unwrap_or(defaults.webtag_burst),
    };
    for (name, value) in [
        ("max_push_body", settings.max_push_body),
        ("max_push_records", settings.max_push_records),
        ("webtag_rate", settings.webtag_rate as usize),
        ("webtag_burst", settings.webtag_burst as usize),
    ] {
        if value == 0 {
            return Err(ConfigError::Invalid {
                name,
                message: "must be at least 1".into(),
            });
        }
    }
    let zones = std::iter::once(&settings.gdpr_time_zone).chain(settings.gdpr_time_zones.values());
    for zone in zones {
        if !known_time_zone(zone) {
            return Err(ConfigError::Invalid {
                name: "gdpr_time_zone",
                message: format!(
                    "{zone:?} is not a known time zone (use IANA names like Europe/Berlin)"
                ),
            });
        }
    }
    Ok(settings)
}

/// The file layer and, when there is a file, its text (to name the line of a bad value).
fn load_file(explicit: Option<&Path>) -> Result<(FileConfig, Option<Source>), ConfigError> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => {
            let default = PathBuf::from(DEFAULT_CONFIG_FILE);
            if !default.exists() {
                return Ok((FileConfig::default(), None));
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let file = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok((file, Some(Source { path, text })))
}

impl Config {
    /// The configuration as it applies once the server is bound to `bound`: URLs that were
    /// derived from the listen address now name the address really bound.
    pub fn bound_to(mut self, bound: SocketAddr) -> Self {
        if self.public_url_derived {
            let planned = default_public_url(self.listen);
            let actual = default_public_url(bound);
            for url in [&mut self.api_host_url, &mut self.auth_host_url] {
                if *url == planned {
                    url.clone_from(&actual);
                }
            }
        }
        self.listen = bound;
        self
    }
}

/// `http://127.0.0.1:8080` for the default listen address; an unspecified address
/// (`0.0.0.0`) is shown as loopback, which at least works on the server itself.
fn default_public_url(listen: SocketAddr) -> String {
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if listen.is_ipv6() {
        format!("[{}]", listen.ip())
    } else {
        listen.ip().to_string()
    };
    format!("http://{host}:{}", listen.port())
}

/// The key file lives beside the SQLite file (`cdp-auth.db` → `cdp-auth.key`), so a folder
/// holds one deployment; other databases use `cdp-auth.key` in the working folder.
fn default_key_file(database: &str) -> PathBuf {
    match sqlite_file(database) {
        Some(path) => path.with_extension("key"),
        None => PathBuf::from("cdp-auth.key"),
    }
}

/// The file a `sqlite:` database URL names; `None` for PostgreSQL and in-memory databases.
pub fn sqlite_file(database: &str) -> Option<PathBuf> {
    database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|p| !p.is_empty() && !p.starts_with(':'))
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_follows_the_sqlite_file() {
        assert_eq!(
            default_key_file("sqlite://cdp-auth.db"),
            PathBuf::from("cdp-auth.key")
        );
        assert_eq!(
            default_key_file("sqlite:///var/lib/x/auth.db?mode=rwc"),
            PathBuf::from("/var/lib/x/auth.key")
        );
        assert_eq!(
            default_key_file("sqlite::memory:"),
            PathBuf::from("cdp-auth.key")
        );
    }

    #[test]
    fn public_url_from_listen_address() {
        assert_eq!(
            default_public_url("127.0.0.1:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            default_public_url("0.0.0.0:9000".parse().unwrap()),
            "http://127.0.0.1:9000"
        );
    }

    #[test]
    fn flags_beat_the_file_which_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "database = \"sqlite://file.db\"\nlisten = \"127.0.0.1:9999\"\ntoken_lifetime_cs = \"2d\"\n",
        )
        .unwrap();
        let args = ConfigArgs {
            config: Some(file),
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            ..ConfigArgs::default()
        };
        let config = Config::resolve(&args, None).unwrap();
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.database, "sqlite://file.db");
        assert_eq!(
            config.policy.token_lifetime_cs,
            Duration::from_secs(2 * 86_400)
        );
        assert_eq!(
            config.policy.token_lifetime_uat,
            Policy::default().token_lifetime_uat
        );
        assert_eq!(config.auth_host_url, "http://127.0.0.1:7000");
        assert_eq!(
            config.server_key,
            KeySource::File(PathBuf::from("file.key"))
        );
    }

    #[test]
    fn derived_urls_follow_the_bound_port() {
        let args = ConfigArgs {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            auth_host_url: Some("https://auth.example.com".into()),
            ..ConfigArgs::default()
        };
        let config = Config::resolve(&args, None)
            .unwrap()
            .bound_to("127.0.0.1:4567".parse().unwrap());
        assert_eq!(config.api_host_url, "http://127.0.0.1:4567");
        assert_eq!(config.auth_host_url, "https://auth.example.com");
    }

    fn resolve_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, text).unwrap();
        let args = ConfigArgs {
            config: Some(file),
            ..ConfigArgs::default()
        };
        Config::resolve(&args, None)
    }

    #[test]
    fn forward_auth_rules_are_read_in_order_and_default_to_none() {
        assert!(resolve_text("").unwrap().forward_auth.is_empty());
        let config = resolve_text(
            r#"
[[forward_auth.rules]]
path = "/v2/{tenantId}/dw/tracker"
methods = ["POST"]
scopes = ["dw:tracker"]

[[forward_auth.rules]]
path = "/api/v1/profile/**"
"#,
        )
        .unwrap();
        assert_eq!(config.forward_auth.len(), 2);
    }

    #[test]
    fn a_forward_auth_rule_that_cannot_match_names_its_line() {
        let head = "listen = \"127.0.0.1:9000\"\n\n[[forward_auth.rules]]\npath = \"/ok\"\n\n[[forward_auth.rules]]\n";
        for (rule, line, says) in [
            ("path = \"v2/x\"", 7, "must start with /"),
            ("path = \"/a/**/b\"", 7, "last segment"),
            ("path = \"/{tenantId}/{tenantId}\"", 7, "more than once"),
            ("path = \"/v2/{tenant}\"", 7, "unknown parameter {tenant}"),
            ("path = \"/x\"\nmethods = []", 8, "methods lists no method"),
            ("path = \"/x\"\nscopes = []", 8, "scopes lists no scope"),
            (
                "path = \"/x\"\nmethods = [\n  \"GET\",\n  \"GE T\",\n]",
                10,
                "not an HTTP method",
            ),
            (
                "path = \"/x\"\nscopes = [\"dw:tracker\", \"tracker\"]",
                8,
                "not a scope of the form a:b",
            ),
        ] {
            let text = format!("{head}{rule}\n");
            match resolve_text(&text) {
                Err(error @ ConfigError::Rule { line: at, .. }) => {
                    let message = error.to_string();
                    assert_eq!(at, line, "{rule}: {message}");
                    assert!(message.contains(&format!("line {line}")), "{message}");
                    assert!(message.contains(says), "{rule}: {message}");
                }
                other => panic!("{rule}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_forward_auth_keys_are_refused_with_their_line() {
        let error =
            resolve_text("[[forward_auth.rules]]\npath = \"/x\"\nscope = [\"dw:tracker\"]\n")
                .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, ConfigError::Parse { .. }), "{message}");
        assert!(
            message.contains("line 3") && message.contains("scope"),
            "{message}"
        );
        let error = resolve_text("[forward_auth]\nrule = []\n").unwrap_err();
        assert!(error.to_string().contains("rule"), "{error}");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "databse = \"x\"\n").unwrap();
        let args = ConfigArgs {
            config: Some(file),
            ..ConfigArgs::default()
        };
        assert!(matches!(
            Config::resolve(&args, None),
            Err(ConfigError::Parse { .. })
        ));
    }
}
