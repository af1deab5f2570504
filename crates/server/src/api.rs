//! `/api/v1/*` routes for authenticated callers: who am I, the connections (sessions) list and
//! closing one (admin), and the audit log paged in the database (superuser, admin, auditor).

use axum::Json;
use axum::extract::{Path, Query, State};
use keyward_commands::sessions::{connection_json, live_sessions};
use keyward_core::user::Role;
use keyward_store::audit::AuditRecord;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api_types::{AuditEntry, AuditPage, AuditQuery, Connection, MeResponse, StatusMessage};
use crate::auth::{AuthVia, Authenticated, ClientAddr, require_admin, require_any_role};
use crate::error::ApiError;

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
        username: caller.username,
        roles: caller
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        auth: match caller.via {
            AuthVia::Session(_) => "session",
            AuthVia::ApiKey { .. } => "api_key",
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
async fn connections(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    require_admin(&caller)?;
    let ctx = state.ctx(&caller.actor, &client.text());
    let sessions = live_sessions(&ctx).await?;
    Ok(Json(sessions.iter().map(connection_json).collect()))
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
async fn close_connection(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(connection_id): Path<String>,
) -> Result<Json<StatusMessage>, ApiError> {
    require_admin(&caller)?;
    let ctx = state.ctx(&caller.actor, &client.text());
    let words = vec![
        "closeconnection".to_string(),
        "--".to_string(),
        connection_id,
    ];
    state.registry.run(&ctx, &words).await?;
    Ok(Json(StatusMessage::ok("Connection closed")))
}

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

fn entry(r: AuditRecord) -> AuditEntry {
    AuditEntry {
        id: r.id,
        chain: r.chain,
        seq: r.seq,
        ts_ms: r.ts_ms,
        actor: r.event.actor,
        action: r.event.action,
        target: r.event.target,
        success: r.event.success,
        client: r.event.client,
        details: r.event.details,
        prev_hash: r.prev_hash,
        hash: r.hash,
        signature: r.signature,
    }
}

/// The audit log, newest first, paged by id.
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
    Authenticated(caller): Authenticated,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    require_any_role(&caller, &[Role::Admin, Role::Auditor])?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let since_ms = q.since.map(|s| s.saturating_mul(1000)).unwrap_or(i64::MIN);
    let rows = state
        .shared
        .store
        .list_audit(since_ms, q.before_id, i64::from(limit))
        .await
        .map_err(|e| ApiError::from(keyward_commands::CommandError::from(e)))?;
    let next_before_id = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(Json(AuditPage {
        entries: rows.into_iter().map(entry).collect(),
        next_before_id,
    }))
}
