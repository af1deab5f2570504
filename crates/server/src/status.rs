//! Status routes (O8): `GET /healthz` (liveness with a database ping),
//! `GET /api/v1/version` (build information) and `GET /api/v1/providerstatus` (SFTPGo's shape:
//! `{"error": "", "message": "Alive", "status": 200}`, 503 when the database does not answer).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::error_body;
use keyward_proto::{Health, StatusMessage, VersionInfo};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT_HASH: &str = env!("KEYWARD_COMMIT_HASH");
pub const BUILD_DATE: &str = env!("KEYWARD_BUILD_DATE");

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(version))
        .routes(routes!(providerstatus))
}

/// Liveness: 200 when the database answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "status",
    responses(
        (status = 200, description = "Alive", body = Health),
        (status = 503, description = "Database unreachable", body = Health),
    )
)]
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.shared.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok".into(),
            }),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "database unreachable".into(),
            }),
        ),
    }
}

/// Version, commit and build date of this server.
#[utoipa::path(
    get,
    path = "/api/v1/version",
    tag = "status",
    responses((status = 200, description = "Build information", body = VersionInfo))
)]
async fn version() -> Json<VersionInfo> {
    Json(VersionInfo {
        version: VERSION.to_string(),
        commit_hash: COMMIT_HASH.to_string(),
        build_date: BUILD_DATE.to_string(),
    })
}

/// Whether the data provider (the database) answers.
#[utoipa::path(
    get,
    path = "/api/v1/providerstatus",
    tag = "status",
    responses(
        (status = 200, description = "Alive", body = StatusMessage),
        (status = 503, description = "Database unreachable", body = StatusMessage),
    )
)]
async fn providerstatus(State(state): State<AppState>) -> (StatusCode, Json<StatusMessage>) {
    match state.shared.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(StatusMessage::ok("Alive"))),
        Err(e) => {
            tracing::warn!(error = %e, "data provider unreachable");
            let status = StatusCode::SERVICE_UNAVAILABLE;
            (
                status,
                Json(error_body(status, "the database does not answer")),
            )
        }
    }
}
