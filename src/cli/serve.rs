//! `cdp-auth serve`: opens the deployment, binds, prints the address, serves until SIGTERM or
//! Ctrl-C, then lets in-flight requests finish.

use tokio::net::TcpListener;

use crate::app::Services;
use crate::config::Config;
use crate::http;

pub async fn run(config: Config) -> Result<(), String> {
    let services = Services::open(&config).await.map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let config = config.bound_to(address);
    tracing::info!(%address, database = %redact_url(&config.database), "cdp-auth serving");
    // A machine-readable line on stdout: tests and scripts that bind port 0 read it.
    println!("listening on http://{address}");
    http::serve(
        services,
        config.auth_host_url.clone(),
        listener,
        shutdown_signal(),
    )
    .await
    .map_err(|e| format!("server failed: {e}"))
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
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
