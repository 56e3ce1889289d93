//! What an operator watches: the process log (text or JSON, one access line per request),
//! Prometheus metrics ([`metrics`]), and OpenTelemetry traces exported over OTLP/HTTP.
//!
//! Everything goes through `tracing`: the request span the HTTP layer opens (with the
//! request id) is the context of every line logged while a request is served, and the same
//! spans, plus one per database call, become OpenTelemetry spans when an `otlp_endpoint` is
//! configured. Without one no exporter exists, so tracing costs what logging costs.

mod log_writer;
pub mod metrics;
pub mod request_log;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

use request_log::WithRequestId;

/// The target named on the per-request access lines.
pub const ACCESS_TARGET: &str = "cdp_auth::access";

/// The target of the database-call spans. They are at `debug`, so the process log leaves
/// them out by default; the trace exporter takes them at any log filter.
pub const DB_TARGET: &str = "cdp_auth::db";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, on stdout and stderr alike.
    Json,
}

impl LogFormat {
    /// `text` or `json`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("{other:?} is not a log format: use text or json")),
        }
    }
}

/// Metrics, traces and logs, as configured.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// Whether requests are counted and `/metrics` answers.
    pub metrics: bool,
    /// Where `/metrics` is served instead of the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// The OTLP/HTTP collector's base URL (`http://host:4318`); traces are exported when set.
    pub otlp_endpoint: Option<String>,
    /// Text or JSON log lines.
    pub log_format: LogFormat,
    /// One line per answered request.
    pub access_log: bool,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            metrics: true,
            metrics_listen: None,
            otlp_endpoint: None,
            log_format: LogFormat::Text,
            access_log: true,
        }
    }
}

impl TelemetrySettings {
    /// Checks the OTLP endpoint: an `http://` URL (the exporter speaks plain HTTP to a
    /// collector beside the server, the way the OpenTelemetry Collector is deployed).
    pub fn check(&self) -> Result<(), String> {
        let Some(endpoint) = &self.otlp_endpoint else {
            return Ok(());
        };
        let url =
            url::Url::parse(endpoint).map_err(|e| format!("{endpoint:?} is not a URL ({e})"))?;
        match url.scheme() {
            "http" if url.host().is_some() => Ok(()),
            "https" => Err(format!(
                "{endpoint:?}: only http:// is supported; send traces to an OpenTelemetry \
                 Collector on the same host or network, which can forward them over TLS"
            )),
            _ => Err(format!("{endpoint:?} is not an http:// URL")),
        }
    }

    /// Where spans are posted: the base URL's `/v1/traces`, as OTLP/HTTP defines.
    fn traces_url(endpoint: &str) -> String {
        let base = endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }
}

/// Whether spans are exported (so the HTTP layer continues incoming `traceparent`s).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether an OpenTelemetry exporter is running.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Notes the tenant a request is for in its exported span, once authentication has said
/// which. Only while exporting: recording into a span that is only logged would reformat its
/// fields on every bearer check.
pub fn record_tenant(tenant: impl std::fmt::Display) {
    if exporting() {
        tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
    }
}

/// Whether log lines are JSON (for the few lines written without `tracing`).
static JSON: AtomicBool = AtomicBool::new(false);

/// Keeps the log writer and the span exporter alive; dropping it flushes both.
#[must_use = "dropping the guard stops the log writer and the exporter"]
pub struct TelemetryGuard {
    _writer: Option<log_writer::LogFlusher>,
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "could not flush the last spans");
        }
    }
}

/// Sets up the process log (and, for `serve`, the exporter). Logs go to stderr, so stdout
/// stays clean for `--json`. While serving, lines are batched and written by a background
/// thread ([`log_writer`]), so a request never waits on the terminal or a slow log pipe.
pub fn init(
    settings: &TelemetrySettings,
    filter: &str,
    serving: bool,
) -> Result<TelemetryGuard, String> {
    let (writer, writer_guard) = if serving {
        let (writer, flusher) = log_writer::batched_stderr();
        request_log::set_access_sink(writer.clone(), settings.log_format);
        (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(writer),
            Some(flusher),
        )
    } else {
        (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
            None,
        )
    };
    JSON.store(settings.log_format == LogFormat::Json, Ordering::Relaxed);
    let log_layer = log_layer(settings.log_format, writer);
    let exporting = serving && settings.otlp_endpoint.is_some();
    let (trace_layer, provider) = match (&settings.otlp_endpoint, serving) {
        (Some(endpoint), true) => {
            let provider = tracer_provider(endpoint)?;
            let tracer = provider.tracer("cdp-auth");
            let layer = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_threads(false)
                .with_location(false);
            opentelemetry::global::set_text_map_propagator(
                opentelemetry_sdk::propagation::TraceContextPropagator::new(),
            );
            EXPORTING.store(true, Ordering::Relaxed);
            (Some(layer), Some(provider))
        }
        _ => (None, None),
    };
    // One filter for both layers (per-layer filters lost spans: a check of whether a
    // statement is logged, as sqlx makes for each one, could leave the next span disabled).
    // A filter of targets and levels alone (the usual kind) is checked as a `Targets`, which
    // costs a span nothing on entry and exit; one with span or field directives needs an
    // `EnvFilter`. While exporting, the database spans (at `debug`) pass too.
    let subscriber = Registry::default().with(log_layer).with(trace_layer);
    let installed = match filter.parse::<Targets>() {
        Ok(targets) => {
            let targets = if exporting {
                targets.with_target(DB_TARGET, LevelFilter::DEBUG)
            } else {
                targets
            };
            subscriber.with(targets).try_init()
        }
        Err(_) => {
            let mut filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
            if exporting {
                filter = filter.add_directive(
                    format!("{DB_TARGET}=debug")
                        .parse()
                        .map_err(|e| format!("{e}"))?,
                );
            }
            subscriber.with(filter).try_init()
        }
    };
    installed.map_err(|e| format!("cannot set up logging: {e}"))?;
    Ok(TelemetryGuard {
        _writer: writer_guard,
        provider,
    })
}

/// The layer writing log lines in `format`.
fn log_layer(
    format: LogFormat,
    writer: tracing_subscriber::fmt::writer::BoxMakeWriter,
) -> Box<dyn Layer<Registry> + Send + Sync> {
    use tracing_subscriber::fmt::format::{self, JsonFields};
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .event_format(WithRequestId::new(format::format(), format))
            .with_writer(writer)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(WithRequestId::new(
                format::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
                format,
            ))
            .with_writer(writer)
            .boxed(),
    }
}

/// The span pipeline: batches of spans posted as OTLP protobuf by a background thread.
fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    // The exporter's HTTP client is reqwest, built with rustls and no default crypto
    // provider (the client library configures it): install one first.
    cdp_auth_client::install_tls_provider();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(TelemetrySettings::traces_url(endpoint))
        .with_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter for {endpoint}: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("cdp-auth")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The machine-readable line `serve` prints on stdout once it listens: `listening on URL`,
/// or with JSON logs the same words as the `message` of a JSON line.
pub fn listening_line(address: SocketAddr) -> String {
    let message = format!("listening on http://{address}");
    if JSON.load(Ordering::Relaxed) {
        serde_json::json!({
            "timestamp": request_log::now_utc(),
            "level": "INFO",
            "message": message,
            "address": address.to_string(),
            "target": "cdp_auth::serve",
        })
        .to_string()
    } else {
        message
    }
}

/// An error that ends a command, for stderr: `error: …`, or a JSON line with JSON logs.
pub fn error_line(message: &str) -> String {
    if JSON.load(Ordering::Relaxed) {
        serde_json::json!({
            "timestamp": request_log::now_utc(),
            "level": "ERROR",
            "message": message,
            "target": "cdp_auth",
        })
        .to_string()
    } else {
        format!("error: {message}")
    }
}

/// Says that lines are JSON before logging is set up (an error in the configuration itself).
pub fn use_json_lines(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_a_base_url_over_plain_http() {
        let with = |url: &str| TelemetrySettings {
            otlp_endpoint: Some(url.to_owned()),
            ..TelemetrySettings::default()
        };
        assert!(with("http://127.0.0.1:4318").check().is_ok());
        assert!(with("https://collector:4318").check().is_err());
        assert!(with("collector:4318").check().is_err());
        assert_eq!(
            TelemetrySettings::traces_url("http://c:4318/"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            TelemetrySettings::traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }

    #[test]
    fn log_formats_are_text_and_json() {
        assert_eq!(LogFormat::parse("JSON"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse("text"), Ok(LogFormat::Text));
        assert!(LogFormat::parse("xml").is_err());
    }
}
