//! The outermost layer of every route: gives each request its id (`X-Request-Id`, kept from
//! the gateway when it sent a sane one) that every log line of the request carries, opens
//! the request's span when traces are exported (continuing an incoming W3C `traceparent`),
//! and once the answer is ready counts it in the metrics and writes the access line.
//!
//! It runs inside the router (added with `Router::layer`), so the matched route's template
//! is known: metrics and spans name `/v2/{tenantId}/dw/tracker`, never the raw path, which
//! keeps label values few and keeps whatever a path carries out of the telemetry.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tracing::field::Empty;

use crate::telemetry;
use crate::telemetry::metrics::{UNMATCHED_ROUTE, metrics};
use crate::telemetry::request_log::{self, Access};

/// The header the request id travels in, both ways.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id kept; longer ones are replaced by our own.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The layer: the request id, span, metrics and access line of every request.
#[derive(Debug, Clone, Copy)]
pub struct Observe {
    /// Count requests in the metrics.
    pub metrics: bool,
    /// Write an access line per request.
    pub access_log: bool,
}

impl<S> Layer<S> for Observe {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            observe: *self,
        }
    }
}

/// A route wrapped by [`Observe`].
#[derive(Debug, Clone)]
pub struct Observed<S> {
    inner: S,
    observe: Observe,
}

impl<S> Service<Request> for Observed<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answering<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let id = request_id(request.headers());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        let span = telemetry::exporting()
            .then(|| exported_span(&method, route.as_ref(), &id, request.headers()));
        let inner = match &span {
            Some(span) => span.in_scope(|| self.inner.call(request)),
            None => self.inner.call(request),
        };
        Answering {
            inner: request_log::in_request(id.clone(), inner),
            finish: Some(Finish {
                span,
                started,
                id,
                route,
                method,
                observe: self.observe,
            }),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of an [`Observed`] route: the route's own, polled with its request id
    /// (and inside its span when exported), then counted, logged and given its request id.
    pub struct Answering<F> {
        #[pin]
        inner: TaskLocalFuture<HeaderValue, F>,
        finish: Option<Finish>,
    }
}

/// What the answer is recorded with once it is ready.
struct Finish {
    span: Option<tracing::Span>,
    started: Instant,
    id: HeaderValue,
    route: Option<MatchedPath>,
    method: Method,
    observe: Observe,
}

impl<F> Future for Answering<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(finish) = this.finish.as_ref() else {
            return Poll::Pending;
        };
        let polled = match &finish.span {
            Some(span) => span.in_scope(|| this.inner.poll(cx)),
            None => this.inner.poll(cx),
        };
        let Ok(mut response) = ready!(polled);
        if let Some(finish) = this.finish.take() {
            finish.record(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}

impl Finish {
    fn record(self, response: &mut Response) {
        let status = response.status().as_u16();
        let elapsed = self.started.elapsed();
        let route = self
            .route
            .as_ref()
            .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
        if let Some(span) = &self.span {
            span.record("http.response.status_code", status);
            if status >= 500 {
                span.record("otel.status_code", "ERROR");
            }
        }
        if self.observe.metrics {
            metrics().request(route, &self.method, status, elapsed.as_secs_f64());
        }
        if self.observe.access_log {
            request_log::access_line(&Access {
                method: self.method.as_str(),
                route,
                status,
                duration_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                request_id: id_str(&self.id),
            });
        }
        response.headers_mut().insert(REQUEST_ID.clone(), self.id);
    }
}

/// The exported span of one request, with OpenTelemetry's names for what it carries,
/// continuing the caller's trace.
fn exported_span(
    method: &Method,
    route: Option<&MatchedPath>,
    id: &HeaderValue,
    headers: &HeaderMap,
) -> tracing::Span {
    let route = route.map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        "http.request.method" = method.as_str(),
        "http.route" = route,
        "http.response.status_code" = Empty,
        request_id = %id_str(id),
        tenant_id = Empty,
    );
    continue_trace(&span, headers);
    span
}

/// The gateway's request id when it is one we can pass on (visible ASCII without spaces,
/// at most [`MAX_REQUEST_ID_LEN`] bytes), else a new random one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    let incoming = headers.get(&REQUEST_ID).filter(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes.iter().all(|b| b.is_ascii_graphic())
    });
    match incoming {
        Some(value) => value.clone(),
        None => {
            let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
            let mut buffer = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let text = id.hyphenated().encode_lower(&mut buffer);
            HeaderValue::from_str(text).expect("a UUID is a valid header value")
        }
    }
}

/// The id as text (it is visible ASCII by construction).
fn id_str(id: &HeaderValue) -> &str {
    id.to_str().unwrap_or("")
}

/// Makes the span a child of the caller's trace when the request carries a W3C
/// `traceparent` (and `tracestate`).
fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    use opentelemetry::propagation::Extractor;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    struct Headers<'a>(&'a HeaderMap);
    impl Extractor for Headers<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key).and_then(|v| v.to_str().ok())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.keys().map(HeaderName::as_str).collect()
        }
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(headers))
    });
    // Fails only when the span is not recorded by the exporter (filtered out).
    let _ = span.set_parent(parent);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_incoming_id_is_kept_and_anything_else_is_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(&REQUEST_ID, HeaderValue::from_static("gw-42:abc"));
        assert_eq!(request_id(&headers), "gw-42:abc");
        for odd in ["has space", ""] {
            headers.insert(&REQUEST_ID, HeaderValue::from_str(odd).unwrap());
            let made = request_id(&headers);
            assert_eq!(made.len(), 36, "{made:?}");
        }
        headers.insert(
            &REQUEST_ID,
            HeaderValue::from_str(&"x".repeat(MAX_REQUEST_ID_LEN + 1)).unwrap(),
        );
        assert_eq!(request_id(&headers).len(), 36);
        assert_ne!(request_id(&HeaderMap::new()), request_id(&HeaderMap::new()));
    }
}
