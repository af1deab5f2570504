//! keyward's HTTP server. Routes are thin adapters: they authenticate, translate the request into
//! a registry command or store call, and render the result; the logic lives in
//! `keyward-commands`. `run` wires settings, store, keys and the router together.

mod api;
mod api_dump;
mod api_fileserver;
mod api_ops;
mod api_tokens;
mod api_users;
pub mod audit_coalesce;
pub mod auth;
mod basic_auth;
mod body_timeout;
pub mod client_addr;
pub mod error;
pub mod fd_limit;
pub mod forwarded;
pub mod linotp;
mod listen;
mod login;
mod malloc;
mod management;
pub mod metrics;
pub mod openapi;
pub mod request_id;
mod state;
mod status;
pub mod throttle;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::{Extension, Router, middleware};
use keyward_commands::{Registry, Settings, Shared};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use state::AppState;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Startup(String),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    #[error("server error: {0}")]
    Serve(String),
}

/// The node's audit chain name: `node_id` from the config, else the host name.
fn node_chain(settings: &Settings) -> String {
    settings.node_id.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".to_string())
    })
}

/// Every documented route. Add routes here with `OpenApiRouter::routes(routes!(handler))` and a
/// `#[utoipa::path]` on the handler, so they appear in `/api/v1/openapi.json`.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(status::routes())
        .merge(login::routes())
        .merge(api::routes())
        .merge(api_users::routes())
        .merge(api_tokens::routes())
        .merge(api_ops::routes())
        .merge(api_dump::routes())
        .merge(api_fileserver::routes())
        .merge(management::routes())
        .merge(linotp::routes())
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi::openapi_json))
}

/// Builds the application router over prepared state (used by `run` and by tests): the routes,
/// the body size limit and deadline, metrics and request logging, and JSON error bodies for
/// every failure.
pub fn router(state: AppState) -> Router {
    let max_body = usize::try_from(state.shared.settings.max_body_bytes).unwrap_or(usize::MAX);
    let body_time = Duration::from_secs(state.shared.settings.body_read_timeout_secs.max(1));
    let (routes, doc) = api_routes().split_for_parts();
    let doc = openapi::OpenApiJson(Arc::new(doc.to_pretty_json().unwrap_or_default()));
    routes
        .fallback(error::not_found)
        .layer(Extension(doc))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::map_request(move |req: Request| async move {
            body_timeout::with_deadline(req, body_time)
        }))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(middleware::from_fn(error::json_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::resolve_client,
        ))
        .layer(middleware::from_fn(request_id::assign))
        .with_state(state)
}

/// A node that has opened its store, loaded its keys and bound its listener: what `run` serves
/// until a signal, and what the in-process test server (`keyward-testkit`) serves until dropped.
pub struct Bound {
    state: AppState,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: listen::Limits,
    local: SocketAddr,
    /// Held while serving, so `backup restore` refuses to replace the database under it.
    serving_lock: keyward_store::serving_lock::DatabaseLock,
}

impl Bound {
    /// The base URL clients reach the node at, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local)
    }

    /// The handlers' shared state (store, settings, registry).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, gives open connections their grace period, writes the
    /// counted failures' summary rows and closes the store.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let Bound {
            state,
            listener,
            tls,
            limits,
            local,
            serving_lock,
        } = self;
        let flusher = audit_coalesce::spawn_flusher(state.clone());
        tracing::info!(
            %local,
            backend = state.shared.store.backend().name(),
            tls = tls.is_some(),
            max_connections = limits.max_connections,
            "keyward serving"
        );
        listen::serve(listener, tls, router(state.clone()), limits, shutdown).await;
        // Counted failures get their summary rows before the store closes.
        flusher.abort();
        audit_coalesce::flush(&state, true).await;
        state.shared.store.close().await;
        drop(serving_lock);
    }
}

/// Opens the store, loads (or creates) the keys, checks the settings and binds the listen
/// address: everything `run` does before serving.
pub async fn bind(settings: Settings) -> Result<Bound, ServerError> {
    let chain = node_chain(&settings);
    let shared = Shared::open(settings, chain)
        .await
        .map_err(|e| ServerError::Startup(e.to_string()))?;
    let serving_lock = shared
        .store
        .lock_for_serving()
        .await
        .map_err(|e| ServerError::Startup(e.to_string()))?;
    shared
        .enckey()
        .await
        .map_err(|e| ServerError::Startup(e.to_string()))?;
    shared
        .server_keys()
        .await
        .map_err(|e| ServerError::Startup(e.to_string()))?;
    forwarded::TrustedProxies::parse(&shared.settings.trusted_proxies)
        .map_err(ServerError::Startup)?;
    let shared = Arc::new(shared);
    let state = AppState::new(shared.clone(), Arc::new(Registry::standard()));
    let addr: SocketAddr = shared.settings.listen.parse().map_err(|_| {
        ServerError::Startup(format!(
            "listen address {:?} is not HOST:PORT",
            shared.settings.listen
        ))
    })?;
    if matches!(shared.store.count_users().await, Ok(0)) {
        // Self-registration never makes the first (superuser) account; say how to, once.
        eprintln!(
            "keyward: {}",
            keyward_commands::login::FIRST_USER_AT_CONSOLE
        );
    }
    let limits = connection_limits(&shared.settings);
    let tls = tls::acceptor(&shared.settings).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServerError::Bind {
            addr: addr.to_string(),
            reason: e.to_string(),
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| ServerError::Serve(e.to_string()))?;
    Ok(Bound {
        state,
        listener,
        tls,
        limits,
        local,
        serving_lock,
    })
}

/// Opens the store, loads (or creates) the keys and serves until SIGINT/SIGTERM.
pub async fn run(settings: Settings) -> Result<(), ServerError> {
    malloc::return_large_blocks_to_the_system();
    let bound = bind(settings).await?;
    // Tests and scripts read this line to learn the ephemeral port.
    eprintln!("keyward: listening on {}", bound.url());
    bound.serve(shutdown_signal()).await;
    Ok(())
}

/// Raises the open-file limit and derives the connection limits from the settings.
fn connection_limits(settings: &Settings) -> listen::Limits {
    let fds = fd_limit::raise_to_hard_limit();
    let max_connections = fd_limit::connection_limit(settings.max_connections, fds);
    if usize::try_from(settings.max_connections).is_ok_and(|wanted| wanted > max_connections) {
        tracing::warn!(
            max_connections = settings.max_connections,
            open_file_limit = fds.unwrap_or_default(),
            serving = max_connections,
            "max_connections lowered to fit the open-file limit"
        );
    }
    listen::Limits {
        header_timeout: Duration::from_secs(settings.header_read_timeout_secs.max(1)),
        max_connections,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
