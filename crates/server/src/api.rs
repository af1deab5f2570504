//! `/api/v1/*` routes for authenticated callers: who am I, the connections (sessions) list and
//! closing one (admin), and the audit log paged in the database (superuser, admin, auditor).

use axum::Json;
use axum::extract::{Path, Query, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{AuthVia, Authenticated, ClientAddr};
use crate::error::ApiError;
use keyward_proto::{AuditPage, AuditQuery, Connection, ConnectionList, MeResponse, StatusMessage};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(connections))
        .routes(routes!(close_connection))
        .routes(routes!(audit))
}

/// The authenticated caller.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Key not valid here", body = StatusMessage),
    )
)]
async fn me(Authenticated(caller): Authenticated) -> Json<MeResponse> {
    Json(MeResponse {
        username: caller.username.into_string(),
        roles: caller
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        auth: match caller.via {
            AuthVia::Session(_) => "session",
            AuthVia::ApiKey { .. } => "api_key",
            AuthVia::Basic => "basic",
            AuthVia::AdminCookie => "admin_session",
        }
        .to_string(),
    })
}

/// Active sessions (SFTPGo `get-connections`).
#[utoipa::path(
    get,
    path = "/api/v1/connections",
    tag = "connections",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active sessions, oldest first", body = Vec<Connection>),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin", body = StatusMessage),
    )
)]
pub(crate) async fn connections(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<Connection>>, ApiError> {
    let ctx = caller.ctx(&state, &client);
    let out = state
        .registry
        .run(&ctx, &["connections".to_string()])
        .await?;
    let list: ConnectionList =
        serde_json::from_value(out.json).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(list.connections))
}

/// Close one session (runs the `closeconnection` command, audited).
#[utoipa::path(
    delete,
    path = "/api/v1/connections/{connection_id}",
    tag = "connections",
    security(("bearer" = [])),
    params(("connection_id" = String, Path, description = "The connection id")),
    responses(
        (status = 200, description = "Closed", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin", body = StatusMessage),
        (status = 404, description = "No such connection", body = StatusMessage),
    )
)]
pub(crate) async fn close_connection(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(connection_id): Path<String>,
) -> Result<Json<StatusMessage>, ApiError> {
    let ctx = caller.ctx(&state, &client);
    let words = vec![
        "closeconnection".to_string(),
        "--".to_string(),
        connection_id,
    ];
    state.registry.run(&ctx, &words).await?;
    Ok(Json(StatusMessage::ok("Connection closed")))
}

/// The audit log, newest first, paged by id (runs `audit list`).
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of entries", body = AuditPage),
        (status = 400, description = "Bad paging parameters", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not superuser, admin or auditor", body = StatusMessage),
    )
)]
async fn audit(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let ctx = caller.ctx(&state, &client);
    let mut words = vec!["audit".to_string(), "list".to_string()];
    let options = [
        ("--limit", q.limit.map(i64::from)),
        ("--before-id", q.before_id),
        ("--since", q.since),
    ];
    for (flag, value) in options {
        if let Some(v) = value {
            words.push(format!("{flag}={v}"));
        }
    }
    let out = state.registry.run(&ctx, &words).await?;
    let page: AuditPage =
        serde_json::from_value(out.json).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(page))
}
