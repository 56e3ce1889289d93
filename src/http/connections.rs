//! Accepting and keeping connections: a cap on how many are open at once, a deadline for a
//! request head and for an idle keep-alive connection, and room made for a new connection
//! when the cap is held by connections that are not being served.
//!
//! hyper's own head timeout also runs while a keep-alive connection waits for its next
//! request, so it cannot tell a slow head from an idle connection; and when the cap is held by
//! clients that send half a head (or nothing), a timeout alone keeps every new client waiting
//! for it. So every connection is watched here in one of three phases:
//!
//! - **waiting for a head** (just accepted, or bytes of a head arrived): closed `header_timeout`
//!   after it began;
//! - **serving** (a request is in a handler or its response is being written): never closed
//!   here (the request timeout bounds handlers and bodies);
//! - **idle** (keep-alive, between requests): closed `idle_timeout` after its last response.
//!
//! When the cap is reached, the next connection takes the place of the connection that has
//! been waiting or idle longest, at once; only when every open connection is being served
//! does a new one wait (one accepted and waiting for a slot, the rest in the kernel's backlog). A flood of slow or silent clients therefore
//! delays a real request by the time it takes to close one of them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// Most connections open at once, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// How long a client may take to send a request head, by default.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a keep-alive connection may sit idle between requests, by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Most header fields a request may carry. hyper's own limit is set above this, so a request
/// over it reaches our layers and gets a JSON `431` rather than hyper's empty one.
pub const MAX_HEADERS: usize = 100;

/// The limits a server holds its connections to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest wait for a request head, from the connection's accept or the head's first byte.
    pub header_timeout: Duration,
    /// Longest idle time between the end of a response and the next request.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// The peer address of a connection, as handlers see it through `ConnectInfo`.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddress(pub SocketAddr);

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then stops
/// accepting and lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut listener = listener;
    let watched = Arc::new(Watched::new(limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let reaper = tokio::spawn(reap(watched.clone()));
    tokio::pin!(shutdown);
    loop {
        // Accepted first, so that room is made only for a connection that exists: at most
        // one connection beyond the cap is held, waiting for its slot.
        let (stream, peer) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let slot = tokio::select! {
            slot = take_slot(&slots, &watched) => slot,
            () = &mut shutdown => break,
        };
        let watch = watched.register();
        let conn = serve_connection(stream, peer, app.clone(), watch.clone());
        let conn = graceful.watch(conn);
        let watched = watched.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = conn => {}
                () = watch.evicted.notified() => {}
            }
            watched.unregister(watch.id);
            drop(slot);
        });
    }
    drop(listener);
    // The reaper keeps closing overdue heads meanwhile: a half-sent head must not hold a
    // shutdown up for longer than its timeout.
    graceful.shutdown().await;
    reaper.abort();
}

/// A slot for the next connection: a free one, or the place of the connection that has waited
/// or idled longest, which is closed to make room.
async fn take_slot(slots: &Arc<Semaphore>, watched: &Watched) -> OwnedSemaphorePermit {
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return slot;
    }
    watched.evict_longest_unserved();
    slots
        .clone()
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed")
}

/// One HTTP/1.1 connection, its requests marked as served while they are.
fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    watch: Arc<Watch>,
) -> hyper::server::conn::http1::Connection<
    TokioIo<WatchedStream>,
    impl hyper::service::Service<
        Request<Incoming>,
        Response = axum::response::Response,
        Error = Infallible,
        Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
    > + Send
    + 'static,
> {
    let io = TokioIo::new(WatchedStream {
        stream,
        watch: watch.clone(),
    });
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request
            .extensions_mut()
            .insert(ConnectInfo(PeerAddress(peer)));
        let serving = watch.begin_request();
        let response = app.clone().oneshot(request.map(Body::new));
        async move {
            let Ok(response) = response.await;
            Ok::<_, Infallible>(response.map(|body| {
                Body::new(ServedBody {
                    body,
                    _serving: serving,
                })
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        // Heads are timed here, where an idle keep-alive connection is told from a slow head.
        .header_read_timeout(None)
        .max_headers(MAX_HEADERS * 2);
    builder.serve_connection(io, service)
}

/// Closes connections past their deadline, checked ten times per shortest timeout (at most
/// every half second), so a connection is closed at most that late.
async fn reap(watched: Arc<Watched>) {
    let shortest = watched
        .limits
        .header_timeout
        .min(watched.limits.idle_timeout);
    let period = (shortest / 10).clamp(Duration::from_millis(50), Duration::from_millis(500));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        watched.close_overdue();
    }
}

/// What a connection is doing, as far as its deadlines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Accepted, or a head begun, and no request complete yet.
    AwaitingHead = 0,
    /// A request is being handled or its response written.
    Serving = 1,
    /// Between requests on a keep-alive connection.
    Idle = 2,
}

impl Phase {
    fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::AwaitingHead,
            1 => Phase::Serving,
            _ => Phase::Idle,
        }
    }
}

/// One open connection's phase, shared by its stream, its requests and the reaper.
struct Watch {
    id: u64,
    phase: AtomicU8,
    /// When the phase began, in milliseconds since [`Watched::epoch`].
    since: AtomicU64,
    /// Requests being served (more than one only with pipelining).
    serving: AtomicUsize,
    /// Set once the connection has been told to close, so it is not picked twice.
    closing: AtomicBool,
    evicted: Notify,
    epoch: Instant,
}

impl Watch {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn enter(&self, phase: Phase) {
        self.since.store(self.now(), Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Release);
    }

    fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Bytes arrived: on an idle connection they begin the next head.
    fn bytes_arrived(&self) {
        if self.phase() == Phase::Idle {
            self.enter(Phase::AwaitingHead);
        }
    }

    fn begin_request(self: &Arc<Self>) -> Serving {
        self.serving.fetch_add(1, Ordering::AcqRel);
        self.phase.store(Phase::Serving as u8, Ordering::Release);
        Serving(self.clone())
    }

    fn close(&self) {
        if !self.closing.swap(true, Ordering::AcqRel) {
            self.evicted.notify_one();
        }
    }
}

/// A request being served; when its response body is done (or dropped) the connection is idle
/// again unless another request is being served on it.
struct Serving(Arc<Watch>);

impl Drop for Serving {
    fn drop(&mut self) {
        if self.0.serving.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.enter(Phase::Idle);
        }
    }
}

/// A response body that keeps its connection marked as serving until it has been written.
struct ServedBody {
    body: Body,
    _serving: Serving,
}

impl HttpBody for ServedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Every open connection, for the reaper and for making room.
struct Watched {
    limits: ConnectionLimits,
    open: Mutex<HashMap<u64, Arc<Watch>>>,
    next_id: AtomicU64,
    epoch: Instant,
}

impl Watched {
    fn new(limits: ConnectionLimits) -> Self {
        Watched {
            limits,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Watch>>> {
        // The map holds no invariant a panicking holder could break.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self) -> Arc<Watch> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch {
            id,
            phase: AtomicU8::new(Phase::AwaitingHead as u8),
            since: AtomicU64::new(0),
            serving: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            evicted: Notify::new(),
            epoch: self.epoch,
        });
        watch.enter(Phase::AwaitingHead);
        self.open().insert(id, watch.clone());
        watch
    }

    fn unregister(&self, id: u64) {
        self.open().remove(&id);
    }

    /// The deadline of a connection in `phase` since `since`, in epoch milliseconds.
    fn deadline(&self, phase: Phase, since: u64) -> Option<u64> {
        let timeout = match phase {
            Phase::AwaitingHead => self.limits.header_timeout,
            Phase::Idle => self.limits.idle_timeout,
            Phase::Serving => return None,
        };
        let timeout = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        Some(since.saturating_add(timeout))
    }

    fn close_overdue(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        for watch in self.open().values() {
            let phase = watch.phase();
            let since = watch.since.load(Ordering::Relaxed);
            if self.deadline(phase, since).is_some_and(|at| at <= now) {
                watch.close();
            }
        }
    }

    /// Closes the connection that has waited for a head or idled longest, if any is not being
    /// served.
    fn evict_longest_unserved(&self) {
        let open = self.open();
        let longest = open
            .values()
            .filter(|w| w.phase() != Phase::Serving && !w.closing.load(Ordering::Acquire))
            .min_by_key(|w| w.since.load(Ordering::Relaxed));
        if let Some(watch) = longest {
            tracing::debug!("connection cap reached: closing the longest-waiting connection");
            watch.close();
        }
    }
}

/// A connection's stream, which tells its watch when bytes arrive.
pub struct WatchedStream {
    stream: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
