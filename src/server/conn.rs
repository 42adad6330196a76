//! The connection loop: what `axum::serve` does, plus the limits a public server needs.
//!
//! - **Header-read timeout**: a connection must send its complete request headers within
//!   `header_read_timeout_seconds` of opening, or of the first byte of its next request; bytes
//!   trickling in do not extend the deadline (slow-header clients are closed).
//! - **Idle timeout**: a keep-alive connection with no request in progress is closed after
//!   `idle_timeout_seconds`.
//! - **Connection cap**: at most `max` connections are served at once (a semaphore permit per
//!   connection, taken *before* `accept`): further clients wait in the kernel's listen backlog, and
//!   the process never runs out of file descriptors. Open connections keep working.
//! - **Bounded shutdown**: on the signal, stop accepting, let every connection finish its
//!   in-flight request (hyper's graceful shutdown closes idle keep-alive connections at once),
//!   and after `shutdown_timeout_seconds` close whatever is left.
//!
//! The timeouts live in [`Timed`], a wrapper of the socket: the request service tells it when a
//! request starts (headers complete) and ends (response body dropped) through two atomic
//! counters per connection. The steady state costs a few atomic loads per read and flush and two
//! monotonic time reads per request; no allocation per request (the timer is allocated once per
//! connection), and the timer is re-armed only when it fires (it may fire early: it then checks
//! the real deadline and re-arms) or when a deadline moves earlier.

use std::{
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{body::Body, extract::ConnectInfo, http::Request, Router};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{watch, Semaphore},
    time::{Instant, Sleep},
};

use crate::clock;

/// The limits of [`serve_with_limits`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Running,
    /// Finish in-flight requests, close idle connections.
    Graceful,
    /// The shutdown bound has passed: drop every connection.
    Abort,
}

/// Serves `router` on `listener` until `shutdown` resolves; returns within
/// `limits.shutdown_timeout` (plus a moment) after that, whatever the clients do.
pub async fn serve_with_limits(
    router: Router,
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let max = limits.max_connections.clamp(1, u32::MAX as usize);
    let permits = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE/ENFILE and aborted handshakes: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    clock::pause(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(stream, peer, router, limits, stop).await;
            drop(permit);
        });
    }
    drop(listener);
    let active = max - permits.available_permits();
    tracing::info!(
        connections = active,
        "stopped accepting; finishing in-flight requests"
    );
    let _ = stop_tx.send(Stop::Graceful);
    let all_closed = permits.acquire_many(max as u32);
    let mut all_closed = std::pin::pin!(all_closed);
    tokio::select! {
        _ = &mut all_closed => return,
        _ = clock::sleep_until(clock::deadline(limits.shutdown_timeout)) => {}
    }
    let left = max - permits.available_permits();
    tracing::warn!(
        connections = left,
        "shutdown timeout reached: closing the remaining connections"
    );
    let _ = stop_tx.send(Stop::Abort);
    // Every connection task drops its connection at once on `Abort`; wait for that, briefly.
    tokio::select! {
        _ = all_closed => {}
        _ = clock::sleep_until(clock::deadline(Duration::from_secs(1))) => {}
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<Stop>,
) {
    let progress = Arc::new(Progress::default());
    let io = TokioIo::new(Timed::new(stream, progress.clone(), limits));
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let guard = InFlight::begin(&progress);
        req.extensions_mut().insert(ConnectInfo(peer));
        let response = tower::Service::call(&mut router.clone(), req);
        async move {
            let response = response.await?;
            Ok::<_, Infallible>(response.map(|body| Tracked {
                body,
                _guard: guard,
            }))
        }
    });
    let conn = http1::Builder::new().serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut graceful = *stop.borrow() != Stop::Running;
    if graceful {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection closed");
                }
                return;
            }
            changed = stop.changed() => {
                let now = if changed.is_err() { Stop::Abort } else { *stop.borrow_and_update() };
                match now {
                    Stop::Running => {}
                    Stop::Graceful => {
                        if !graceful {
                            graceful = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                    Stop::Abort => return,
                }
            }
        }
    }
}

/// What the request service tells the socket wrapper: how many requests have started (their
/// headers are complete) and how many are still in progress (their response not yet written).
#[derive(Debug, Default)]
struct Progress {
    started: AtomicU64,
    in_flight: AtomicU32,
}

/// One request in progress: lives in the handler's future, then in its response body.
struct InFlight(Arc<Progress>);

impl InFlight {
    fn begin(progress: &Arc<Progress>) -> InFlight {
        progress.in_flight.fetch_add(1, Ordering::AcqRel);
        progress.started.fetch_add(1, Ordering::AcqRel);
        InFlight(progress.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that ends its request's [`InFlight`] when hyper drops it (written or
/// abandoned).
struct Tracked {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for Tracked {
    type Data = <Body as http_body::Body>::Data;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Waiting for (the rest of) a request's headers until the deadline.
    Head(Instant),
    /// Between requests, until the deadline.
    Idle(Instant),
    /// A request is in progress: the request timeout governs it.
    Busy,
}

/// A socket that fails its reads once the connection's header or idle deadline has passed.
struct Timed<IO> {
    io: IO,
    progress: Arc<Progress>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    phase: Phase,
    seen_started: u64,
    /// Armed at `armed`, never later than the current deadline (it may fire early).
    sleep: Pin<Box<Sleep>>,
    armed: Instant,
}

impl<IO> Timed<IO> {
    fn new(io: IO, progress: Arc<Progress>, limits: Limits) -> Self {
        let deadline = clock::deadline(limits.header_read_timeout);
        Timed {
            io,
            progress,
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            phase: Phase::Head(deadline),
            seen_started: 0,
            sleep: Box::pin(clock::sleep_until(deadline)),
            armed: deadline,
        }
    }

    /// Follows the request service: busy while a request is in progress, idle once it ended.
    fn update_phase(&mut self) {
        if self.progress.in_flight.load(Ordering::Acquire) > 0 {
            self.phase = Phase::Busy;
            return;
        }
        let started = self.progress.started.load(Ordering::Acquire);
        if started != self.seen_started || matches!(self.phase, Phase::Busy) {
            self.seen_started = started;
            self.phase = Phase::Idle(clock::deadline(self.idle_timeout));
        }
    }

    /// Whether `deadline` has passed; otherwise the timer is armed to wake this task by then.
    fn expired(&mut self, cx: &mut Context<'_>, deadline: Instant) -> bool {
        if self.armed > deadline {
            self.sleep.as_mut().reset(deadline);
            self.armed = deadline;
        }
        loop {
            match self.sleep.as_mut().poll(cx) {
                Poll::Pending => return false,
                Poll::Ready(()) if self.armed >= deadline => return true,
                Poll::Ready(()) => {
                    // Fired for an earlier deadline: re-arm for the current one.
                    self.sleep.as_mut().reset(deadline);
                    self.armed = deadline;
                }
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Timed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.update_phase();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    if let Phase::Idle(_) = this.phase {
                        this.phase = Phase::Head(clock::deadline(this.header_read_timeout));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let (deadline, what) = match this.phase {
                    Phase::Head(d) => (d, "request headers not received in time"),
                    Phase::Idle(d) => (d, "idle keep-alive connection"),
                    Phase::Busy => return Poll::Pending,
                };
                if this.expired(cx, deadline) {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
                }
                Poll::Pending
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Timed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    /// hyper flushes right after a response's body is dropped, and may not read again until the
    /// socket wakes it: this is where a finished request starts the idle clock and arms the
    /// timer, so that an idle connection is woken (and its next read fails) at the deadline.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        let was_idle = matches!(this.phase, Phase::Idle(_));
        this.update_phase();
        if let (false, Phase::Idle(deadline)) = (was_idle, this.phase) {
            // Registers the timer; a deadline that has passed fails the next read.
            let _ = this.expired(cx, deadline);
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The default connection cap: the soft `RLIMIT_NOFILE` minus headroom for the database pool,
/// the listener, log files and the PostgreSQL change listener.
pub fn default_max_connections(database_max_connections: u32) -> usize {
    let headroom = database_max_connections as u64 + 64;
    let soft = fd_limit().unwrap_or(1024);
    soft.saturating_sub(headroom).clamp(16, 1 << 20) as usize
}

#[cfg(unix)]
fn fd_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every Unix
    (rc == 0).then_some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
fn fd_limit() -> Option<u64> {
    None
}
