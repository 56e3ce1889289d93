//! The Prometheus series the server exposes at `/metrics`, in the Prometheus text format
//! (0.0.4) through the `prometheus` crate.
//!
//! One registry per process, reached through [`metrics()`]: counting happens deep in the
//! domain (a token issued, a password refused, a cache hit) where threading a handle through
//! every constructor would buy nothing, since a process serves one deployment. Series with a
//! fixed set of label values are resolved once, so counting them on the hot path is one atomic
//! add; only the HTTP series look their labels up per request (one hash of a few short strings
//! and a read lock). Labels are bounded: routes are the router's templates, methods outside
//! the standard ones are `OTHER`, the other labels come from closed lists.

use std::sync::LazyLock;

use axum::http::Method;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::store::PoolUsage;

/// Upper bounds of the request duration buckets, in seconds: a cached bearer check takes
/// tens of microseconds, a password check tens of milliseconds, a large push seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The route label of requests no route matched: one value, whatever the path.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Which dialect issued a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The a1user token API.
    A1User,
    /// secureApi scoped tokens.
    SecureApi,
    /// OAuth 2.0 (`/oauth/token`).
    OAuth,
}

impl Dialect {
    const ALL: [Dialect; 3] = [Dialect::A1User, Dialect::SecureApi, Dialect::OAuth];

    fn label(self) -> &'static str {
        match self {
            Dialect::A1User => "a1user",
            Dialect::SecureApi => "secure_api",
            Dialect::OAuth => "oauth",
        }
    }
}

/// Who revoked tokens: a client through its dialect's revocation, or an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoker {
    /// `DELETE /token?scheme=a1user` (one token or all of the instance's).
    A1User,
    /// `/oauth/revoke` (RFC 7009).
    OAuth,
    /// An administrator, through the admin API or the web UI of this process (a rotated
    /// tenant secret ends the secureApi tokens minted with it, and counts here too).
    Admin,
}

impl Revoker {
    const ALL: [Revoker; 3] = [Revoker::A1User, Revoker::OAuth, Revoker::Admin];

    fn label(self) -> &'static str {
        match self {
            Revoker::A1User => "a1user",
            Revoker::OAuth => "oauth",
            Revoker::Admin => "admin",
        }
    }
}

/// Which kind of credential failed to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// An instance's username and password (a1user Basic, OAuth client secret).
    InstancePassword,
    /// A tenant's `oauth_key_secret` (secureApi, OAuth).
    TenantSecret,
    /// A `private_key_jwt` client assertion.
    ClientAssertion,
    /// An administrator's password (UI sign-in).
    AdminPassword,
    /// A bearer token that is unknown, expired or revoked.
    Token,
    /// A DPoP proof that did not check out.
    DpopProof,
}

impl CredentialKind {
    const ALL: [CredentialKind; 6] = [
        CredentialKind::InstancePassword,
        CredentialKind::TenantSecret,
        CredentialKind::ClientAssertion,
        CredentialKind::AdminPassword,
        CredentialKind::Token,
        CredentialKind::DpopProof,
    ];

    fn label(self) -> &'static str {
        match self {
            CredentialKind::InstancePassword => "instance_password",
            CredentialKind::TenantSecret => "tenant_secret",
            CredentialKind::ClientAssertion => "client_assertion",
            CredentialKind::AdminPassword => "admin_password",
            CredentialKind::Token => "token",
            CredentialKind::DpopProof => "dpop_proof",
        }
    }
}

/// How one webhook delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver failed, timed out or could not be reached.
    Failed,
}

/// Every series, registered in one registry.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    durations: HistogramVec,
    issued: [IntCounter; 3],
    revoked: [IntCounter; 3],
    failures: [IntCounter; 6],
    throttled: IntCounter,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    slow_hash_queue: IntGauge,
    slow_hash_capacity: IntGauge,
    slow_hash_rejected: IntCounter,
    pool_connections: IntGaugeVec,
    pool_max: IntGaugeVec,
    deliveries: [IntCounter; 2],
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "cdp_auth_http_requests_total",
                "HTTP requests answered, by route template, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "cdp_auth_http_request_duration_seconds",
                "Time from a request's head to its answer, by route template.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid metric");
        let issued = labelled(
            "cdp_auth_tokens_issued_total",
            "Tokens issued, by dialect.",
            "dialect",
            Dialect::ALL.map(Dialect::label),
        );
        let revoked = labelled(
            "cdp_auth_tokens_revoked_total",
            "Tokens revoked, by the dialect (or admin) that revoked them.",
            "dialect",
            Revoker::ALL.map(Revoker::label),
        );
        let failures = labelled(
            "cdp_auth_credential_failures_total",
            "Credentials presented that did not verify, by kind.",
            "kind",
            CredentialKind::ALL.map(CredentialKind::label),
        );
        let cache = labelled(
            "cdp_auth_token_cache_requests_total",
            "Bearer checks answered from the verified-token cache (hit) or the database (miss).",
            "result",
            ["hit", "miss"],
        );
        let deliveries = labelled(
            "cdp_auth_webhook_deliveries_total",
            "Webhook delivery attempts, by result.",
            "result",
            ["delivered", "failed"],
        );
        let throttled = IntCounter::new(
            "cdp_auth_throttled_total",
            "Credential attempts refused for too many recent failures.",
        )
        .expect("valid metric");
        let slow_hash_queue = IntGauge::new(
            "cdp_auth_slow_hash_queue",
            "Password hashes running or waiting in the bounded hashing pool.",
        )
        .expect("valid metric");
        let slow_hash_capacity = IntGauge::new(
            "cdp_auth_slow_hash_queue_capacity",
            "Password hashes the pool admits at once (running and waiting); more are refused.",
        )
        .expect("valid metric");
        let slow_hash_rejected = IntCounter::new(
            "cdp_auth_slow_hash_rejected_total",
            "Password checks refused at once because the hashing pool was full.",
        )
        .expect("valid metric");
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "cdp_auth_db_pool_connections",
                "Database connections open, by pool and state (idle or in_use).",
            ),
            &["pool", "state"],
        )
        .expect("valid metric");
        let pool_max = IntGaugeVec::new(
            Opts::new(
                "cdp_auth_db_pool_max_connections",
                "Most connections a database pool opens.",
            ),
            &["pool"],
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "cdp_auth_build_info",
                "The running build: always 1, with its version as a label.",
            ),
            &["version"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(durations.clone()),
            Box::new(issued.0),
            Box::new(revoked.0),
            Box::new(failures.0),
            Box::new(cache.0),
            Box::new(deliveries.0),
            Box::new(throttled.clone()),
            Box::new(slow_hash_queue.clone()),
            Box::new(slow_hash_capacity.clone()),
            Box::new(slow_hash_rejected.clone()),
            Box::new(pool_connections.clone()),
            Box::new(pool_max.clone()),
            Box::new(build_info),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        let [cache_hits, cache_misses] = cache.1;
        Metrics {
            registry,
            requests,
            durations,
            issued: issued.1,
            revoked: revoked.1,
            failures: failures.1,
            throttled,
            cache_hits,
            cache_misses,
            slow_hash_queue,
            slow_hash_capacity,
            slow_hash_rejected,
            pool_connections,
            pool_max,
            deliveries: deliveries.1,
        }
    }

    /// Counts one answered request. `route` is the matched route's template (or
    /// [`UNMATCHED_ROUTE`]), so the label has as many values as the router has routes.
    ///
    /// The series of each (route, method, status) are looked up once per worker thread and
    /// kept: a lookup in the families hashes the labels, takes a read lock and clones an
    /// `Arc`, whose count the worker threads would otherwise pass back and forth on every
    /// request.
    pub fn request(&self, route: &str, method: &Method, status: u16, seconds: f64) {
        let method = match *method {
            Method::GET => 0,
            Method::POST => 1,
            Method::PUT => 2,
            Method::DELETE => 3,
            Method::PATCH => 4,
            Method::HEAD => 5,
            Method::OPTIONS => 6,
            _ => 7,
        };
        let key = (
            std::ptr::from_ref(self) as usize,
            route.as_ptr() as usize,
            method,
            status,
        );
        SERIES.with_borrow_mut(|series| {
            let resolved = series
                .entry(key)
                .or_insert_with(|| self.resolve(route, method, status));
            // An address freed and reused for another text (a router dropped, another built).
            if *resolved.route != *route {
                *resolved = self.resolve(route, method, status);
            }
            resolved.count.inc();
            resolved.duration.observe(seconds);
        });
    }

    fn resolve(&self, route: &str, method: usize, status: u16) -> Resolved {
        let digits = status_digits(status);
        Resolved {
            route: route.into(),
            count: self
                .requests
                .with_label_values(&[route, METHODS[method], digits.as_str()]),
            duration: self.durations.with_label_values(&[route]),
        }
    }

    /// A token was issued.
    pub fn token_issued(&self, dialect: Dialect) {
        self.issued[dialect as usize].inc();
    }

    /// `count` tokens were revoked.
    pub fn tokens_revoked(&self, by: Revoker, count: u64) {
        self.revoked[by as usize].inc_by(count);
    }

    /// A credential did not verify.
    pub fn credential_failed(&self, kind: CredentialKind) {
        self.failures[kind as usize].inc();
    }

    /// An attempt was refused by the failed-attempt throttle.
    pub fn throttled(&self) {
        self.throttled.inc();
    }

    /// A bearer check was answered from the cache (`true`) or the database.
    pub fn token_cache(&self, hit: bool) {
        if hit {
            self.cache_hits.inc();
        } else {
            self.cache_misses.inc();
        }
    }

    /// The hashing pool refused a check because it was full.
    pub fn slow_hash_rejected(&self) {
        self.slow_hash_rejected.inc();
    }

    /// A webhook delivery attempt ended.
    pub fn webhook_delivery(&self, result: DeliveryResult) {
        self.deliveries[result as usize].inc();
    }

    /// The exposition: every series in the Prometheus text format, after reading the gauges
    /// that are sampled rather than counted.
    pub fn render(&self, sample: &Sample) -> String {
        self.slow_hash_queue.set(sample.slow_hash_queue as i64);
        self.slow_hash_capacity
            .set(sample.slow_hash_capacity as i64);
        for pool in &sample.pools {
            let in_use = pool.open.saturating_sub(pool.idle);
            self.pool_connections
                .with_label_values(&[pool.name, "idle"])
                .set(i64::from(pool.idle));
            self.pool_connections
                .with_label_values(&[pool.name, "in_use"])
                .set(i64::from(in_use));
            self.pool_max
                .with_label_values(&[pool.name])
                .set(i64::from(pool.max));
        }
        let mut text = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec fails only for a metric family the crate itself built wrong.
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::warn!(%error, "could not encode the metrics");
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

/// The method label values, by the index [`Metrics::request`] gives them.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "OTHER",
];

/// The metrics, a route template by where its text is (templates live as long as the
/// router), the method's index and the status.
type SeriesKey = (usize, usize, usize, u16);

/// The series of one (route, method, status), resolved.
struct Resolved {
    route: Box<str>,
    count: IntCounter,
    duration: prometheus::Histogram,
}

thread_local! {
    /// This thread's resolved request series (see [`Metrics::request`]).
    static SERIES: std::cell::RefCell<std::collections::HashMap<SeriesKey, Resolved>> =
        std::cell::RefCell::default();
}

/// What `/metrics` reads off the running services at each scrape.
#[derive(Debug, Default)]
pub struct Sample {
    /// Hashes running or waiting.
    pub slow_hash_queue: usize,
    /// Hashes admitted at most.
    pub slow_hash_capacity: usize,
    /// Each database pool's connections.
    pub pools: Vec<PoolUsage>,
}

/// The media type of the exposition.
/// (The crate's own constant leaves out the charset the text format is defined in.)
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A counter family with a fixed list of label values, each value's counter resolved once.
fn labelled<const N: usize>(
    name: &str,
    help: &str,
    label: &str,
    values: [&str; N],
) -> (IntCounterVec, [IntCounter; N]) {
    let family = IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric");
    let counters = values.map(|value| family.with_label_values(&[value]));
    (family, counters)
}

/// A status code as its three digits, without allocating.
fn status_digits(status: u16) -> StatusDigits {
    let status = status.min(999);
    StatusDigits([
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ])
}

/// Three ASCII digits.
struct StatusDigits([u8; 3]);

impl StatusDigits {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("000")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_label_values_are_exposed_at_zero_before_anything_happens() {
        let metrics = Metrics::new();
        let text = metrics.render(&Sample::default());
        for line in [
            "cdp_auth_tokens_issued_total{dialect=\"secure_api\"} 0",
            "cdp_auth_credential_failures_total{kind=\"dpop_proof\"} 0",
            "cdp_auth_token_cache_requests_total{result=\"miss\"} 0",
            "cdp_auth_webhook_deliveries_total{result=\"failed\"} 0",
            "cdp_auth_throttled_total 0",
            "cdp_auth_build_info{version=\"",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }

    #[test]
    fn requests_are_counted_by_template_and_odd_methods_share_one_label() {
        let metrics = Metrics::new();
        let odd = Method::from_bytes(b"BREW").expect("a method");
        metrics.request("/oauth/token", &Method::POST, 200, 0.001);
        metrics.request("/oauth/token", &Method::POST, 200, 0.002);
        metrics.request(UNMATCHED_ROUTE, &odd, 404, 0.0001);
        let text = metrics.render(&Sample::default());
        assert!(text.contains(
            "cdp_auth_http_requests_total{method=\"POST\",route=\"/oauth/token\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "cdp_auth_http_requests_total{method=\"OTHER\",route=\"unmatched\",status=\"404\"} 1"
        ));
        assert!(
            text.contains("cdp_auth_http_request_duration_seconds_count{route=\"/oauth/token\"} 2")
        );
    }
}
