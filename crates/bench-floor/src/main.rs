//! The floor for `scripts/bench-cdp`: the least a bearer-checked GET can cost on this machine.
//!
//! A bare axum server (tokio multi-thread runtime, as `cdp-auth serve` uses) with one GET
//! handler that reads `Authorization: Bearer …`, computes one SHA-256 of the token and looks it
//! up in an in-memory set of 1,000 hashes built at start: `200 {"active":true}` when found,
//! `401` otherwise. No database, no JSON building, no middleware. Whatever the real API spends
//! above this figure is its own work.
//!
//!   cargo build --release -p bench-floor
//!   BENCH_FLOOR_TOKEN=… target/release/bench-floor [--listen 127.0.0.1:0]
//!
//! The set holds `BENCH_FLOOR_TOKEN` (the token wrk sends; a fixed one when unset) and 999
//! others. Prints `listening on http://ADDR` on stdout, like the real server.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// Tokens the floor knows, the tested one included.
const KNOWN_TOKENS: usize = 1000;

type Known = Arc<HashSet<[u8; 32]>>;

fn hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

async fn check(State(known): State<Known>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    match token {
        Some(token) if known.contains(&hash(token)) => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"active":true}"#,
        )
            .into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => {
                listen = args.next().ok_or("--listen takes an address")?.parse()?;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let tested = std::env::var("BENCH_FLOOR_TOKEN").unwrap_or_else(|_| "floor-token".into());
    let mut known = HashSet::with_capacity(KNOWN_TOKENS);
    known.insert(hash(tested.as_bytes()));
    for n in 1..KNOWN_TOKENS {
        known.insert(hash(format!("floor-token-{n:04}").as_bytes()));
    }

    let app = Router::new()
        .route("/", get(check))
        .route("/{*path}", get(check))
        .with_state(Arc::new(known));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
