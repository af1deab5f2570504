//! The accept loop shared by plain HTTP and HTTPS, with the limits that keep slow or idle
//! clients from exhausting file descriptors:
//!
//! - at most `max_connections` connections are served at once; one more is accepted and closed
//!   at once (so the listen backlog keeps moving and a later `/healthz` gets in as soon as a
//!   slot frees), and accept errors such as "too many open files" back off instead of spinning;
//! - the TLS handshake, the first request line and every HTTP/1 request head must arrive within
//!   `header_read_timeout_secs` (an idle keep-alive connection is closed after the same time);
//! - the body deadline is applied per request by the router (see [`crate::body_timeout`]).
//!
//! HTTP/2 is served over TLS (ALPN `h2`) and as cleartext prior knowledge, like `axum::serve`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower::util::Oneshot;

/// How long open connections get to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

/// How long the loop pauses after an accept error (e.g. EMFILE) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a client starting HTTP/2 without TLS sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The connection limits in force.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// TLS handshake, first bytes and each HTTP/1 request head.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` (through TLS when `tls` is set) until `shutdown` completes, then
/// gives open connections [`GRACE`] to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut last_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(error = %e, "cannot accept connections");
                        last_warning = Some(Instant::now());
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Over the limit: close it now rather than letting it wait holding a descriptor.
            tracing::debug!(%peer, "connection limit reached; connection closed");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            connection(stream, peer, tls, app, limits, watcher).await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(GRACE) => {
            tracing::warn!("connections still open after the shutdown grace period");
        }
    }
}

/// One client connection: TLS, protocol choice, then HTTP/1 or HTTP/2 until it ends.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    watcher: Watcher,
) {
    let service = WithPeer { app, peer };
    match tls {
        None => {
            let Some(h2) = starts_with_h2_preface(&stream, limits.header_timeout).await else {
                return;
            };
            http(stream, h2, service, limits, watcher).await;
        }
        Some(acceptor) => {
            let tls_stream =
                match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2");
            http(tls_stream, h2, service, limits, watcher).await;
        }
    }
}

/// The router, with the client's address as `ConnectInfo` on every request (as
/// `into_make_service_with_connect_info` does for `axum::serve`).
#[derive(Clone)]
struct WithPeer {
    app: Router,
    peer: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for WithPeer {
    type Response = Response;
    type Error = Infallible;
    type Future = Oneshot<Router, Request<Incoming>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        self.app.clone().oneshot(req)
    }
}

async fn http<I>(io: I, h2: bool, service: WithPeer, limits: Limits, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let result = if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(limits.header_timeout))
            .keep_alive_timeout(limits.header_timeout);
        watcher.watch(builder.serve_connection(io, service)).await
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        watcher.watch(builder.serve_connection(io, service)).await
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Waits (at most `limit`) until the client's first bytes tell HTTP/1 from cleartext HTTP/2.
/// `None` when the client sent nothing in time or closed the connection.
async fn starts_with_h2_preface(stream: &TcpStream, limit: Duration) -> Option<bool> {
    let look = async {
        let mut buf = [0u8; H2_PREFACE.len()];
        loop {
            let n = stream.peek(&mut buf).await.ok()?;
            let seen = buf.get(..n)?;
            if n == 0 {
                return None;
            }
            if H2_PREFACE.get(..n) != Some(seen) {
                return Some(false);
            }
            if n == H2_PREFACE.len() {
                return Some(true);
            }
            // A prefix of the preface so far: wait for more (peek would return at once).
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(limit, look).await.ok().flatten()
}
