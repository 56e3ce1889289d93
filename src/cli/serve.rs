//! `cdp-auth serve`: opens the deployment, binds, prints the address, serves until SIGTERM or
//! Ctrl-C, then lets in-flight requests finish.

use tokio::net::TcpListener;

use crate::app::Services;
use crate::config::Config;
use crate::http;
use crate::telemetry;

pub async fn run(config: Config) -> Result<(), String> {
    // Bound first, so that a public URL derived from the listen address (port 0: any free
    // port) is the real one before the services take it as their JWT issuer and audience.
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let config = config.bound_to(address);
    let services = Services::open(&config).await.map_err(|e| e.to_string())?;
    // GDPR requests, idempotency-key expiry: work that runs beside the requests.
    let _worker = services.cdp.spawn_worker();
    // Changes to tokens made by other processes (replicas, the CLI) empty the token cache.
    let _watcher = services
        .authn
        .verified_cache()
        .spawn_watcher(services.store.clone(), config.policy.stale_if_error);
    // The JWT signing keys: loaded (made, for a new deployment) now, then read again and
    // rotated when due.
    if let Err(error) = services.authn.jwt().maintain().await {
        tracing::warn!(%error, "could not load the JWT signing keys; retrying in the background");
    }
    let _keys = services.authn.jwt().spawn_maintainer();
    // Bound before "listening on", so a scraper pointed at it finds it once the server is up.
    let metrics_listener = match config.telemetry.metrics_listen {
        Some(address) if config.telemetry.metrics => Some(
            TcpListener::bind(address)
                .await
                .map_err(|e| format!("cannot listen on {address} (metrics_listen): {e}"))?,
        ),
        _ => None,
    };
    let shutdown = shutdown_signal()?;
    tracing::info!(%address, database = %redact_url(&config.database), "cdp-auth serving");
    match services.forward_auth.len() {
        0 => tracing::info!(
            "no [[forward_auth.rules]] configured: /forward-auth denies every request"
        ),
        rules => tracing::info!(rules, "forward-auth rules loaded"),
    }
    if let Some(listener) = metrics_listener {
        let metrics_address = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(address = %metrics_address, "metrics served on their own address");
        // Ends with the process: a scrape in flight at shutdown is of no consequence.
        tokio::spawn(http::metrics::serve_alone(
            services.clone(),
            listener,
            std::future::pending(),
        ));
    }
    // A machine-readable line on stdout: tests and scripts that bind port 0 read it.
    println!("{}", telemetry::listening_line(address));
    http::serve(
        services,
        http::PublicUrls {
            auth_host_url: config.auth_host_url.clone(),
            api_host_url: config.api_host_url.clone(),
        },
        http::Observability::from_settings(&config.telemetry),
        listener,
        config.connections,
        shutdown,
    )
    .await;
    Ok(())
}

/// A database URL with any password replaced, for logs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when
/// it is first polled, so a signal that arrives right after "listening on" is already ours.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_in_database_urls_are_hidden() {
        assert_eq!(
            redact_url("postgres://cdp:s3cret@db:5432/cdp"),
            "postgres://cdp:***@db:5432/cdp"
        );
        assert_eq!(redact_url("sqlite://cdp-auth.db"), "sqlite://cdp-auth.db");
    }
}
