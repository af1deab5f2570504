//! keyward's HTTP server. Routes are thin adapters: they authenticate, translate the request into
//! a registry command or store call, and render the result; the logic lives in
//! `keyward-commands`. `run` wires settings, store, keys and the router together.

mod api;
pub mod api_types;
pub mod audit_coalesce;
pub mod auth;
pub mod error;
pub mod forwarded;
pub mod linotp;
mod login;
mod management;
pub mod metrics;
pub mod openapi;
mod state;
mod status;
pub mod throttle;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
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
        .merge(management::routes())
        .merge(linotp::routes())
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi::openapi_json))
}

/// Builds the application router over prepared state (used by `run` and by tests): the routes,
/// the body limit, metrics and request logging, and JSON error bodies for every failure.
pub fn router(state: AppState) -> Router {
    let max_body = usize::try_from(state.shared.settings.max_body_bytes).unwrap_or(usize::MAX);
    let (routes, doc) = api_routes().split_for_parts();
    let doc = openapi::OpenApiJson(Arc::new(doc.to_pretty_json().unwrap_or_default()));
    routes
        .fallback(error::not_found)
        .layer(Extension(doc))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(middleware::from_fn(error::json_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::resolve_client,
        ))
        .with_state(state)
}

/// Opens the store, loads (or creates) the keys and serves until SIGINT/SIGTERM.
pub async fn run(settings: Settings) -> Result<(), ServerError> {
    let chain = node_chain(&settings);
    let shared = Shared::open(settings, chain)
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
    let flusher = audit_coalesce::spawn_flusher(state.clone());
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
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    match tls::config(&shared.settings).await? {
        None => {
            let listener =
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| ServerError::Bind {
                        addr: addr.to_string(),
                        reason: e.to_string(),
                    })?;
            let local = listener
                .local_addr()
                .map_err(|e| ServerError::Serve(e.to_string()))?;
            // Tests and scripts read this line to learn the ephemeral port.
            eprintln!("keyward: listening on http://{local}");
            tracing::info!(%local, backend = shared.store.backend().name(), "keyward serving");
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
                .map_err(|e| ServerError::Serve(e.to_string()))?;
        }
        Some(config) => tls::serve(addr, config, app, shutdown_signal(), &shared).await?,
    }
    // Counted failures get their summary rows before the store closes.
    flusher.abort();
    audit_coalesce::flush(&state, true).await;
    shared.store.close().await;
    Ok(())
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
