//! Where a request comes from: the one place the client address is decided — the TCP peer, or,
//! behind one of `trusted_proxies`, the address the proxies forwarded. Throttles, audit rows,
//! user IP rules, sessions and the request log all take it from here.

use std::net::IpAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::AppState;

/// The client address of a request, as [`resolve_client`] found it.
#[derive(Clone, Copy, Debug)]
struct ResolvedClient(Option<IpAddr>);

/// The peer address of the connection (IPv4-mapped IPv6 shown as IPv4), when known.
fn peer_ip(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())
}

/// Middleware (outermost, so every route and the request log see it): the client address is
/// the TCP peer, or — when the peer is one of `trusted_proxies` — the address the proxies
/// forwarded (see [`crate::forwarded`]).
pub async fn resolve_client(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let client = peer_ip(req.extensions()).map(|peer| state.proxies.client(peer, req.headers()));
    req.extensions_mut().insert(ResolvedClient(client));
    next.run(req).await
}

/// The client address of a request: the one place it is decided (throttles, audit `client`,
/// user IP rules, sessions and logs all take it from here).
pub fn client_ip(parts: &Parts) -> Option<IpAddr> {
    match parts.extensions.get::<ResolvedClient>() {
        Some(ResolvedClient(client)) => *client,
        None => peer_ip(&parts.extensions),
    }
}

/// [`client_ip`] for a whole request (middleware).
pub fn request_client_ip(req: &axum::extract::Request) -> Option<IpAddr> {
    match req.extensions().get::<ResolvedClient>() {
        Some(ResolvedClient(client)) => *client,
        None => peer_ip(req.extensions()),
    }
}

/// The client address as an extractor (never fails; `None` when the transport has none).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The address as text for audit rows and sessions (empty when unknown).
    pub fn text(&self) -> String {
        self.0.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_ip(parts)))
    }
}
