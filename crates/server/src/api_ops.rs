//! `/api/v1/apikey…` (API keys as REST resources: `api list`, `api createtoken`, `api show`,
//! `api revoke`) and SFTPGo's quota routes `/api/v1/quota_scan` (`get-quota-scans`,
//! `start-quota-scan`) and `/api/v1/quota_update` (`update-quota-usage`). Each route runs its
//! registry command as the caller; nothing else happens here.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use keyward_proto::{
    ApiKeyCreate, ApiKeyCreated, ApiKeyInfo, QuotaScan, QuotaScanList, QuotaScanRequest,
    QuotaUpdateQuery, QuotaUsage, StatusMessage,
};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Authenticated, Caller, ClientAddr};
use crate::error::{ApiError, ApiJson};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, revoke_key))
        .routes(routes!(quota_scans, start_quota_scan))
        .routes(routes!(update_quota_usage))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

async fn run(
    state: &AppState,
    client: &ClientAddr,
    caller: &Caller,
    words: Vec<String>,
) -> Result<serde_json::Value, ApiError> {
    let ctx = caller.ctx(state, client);
    Ok(state.registry.run(&ctx, &words).await?.json)
}

fn words(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[derive(Deserialize)]
struct KeyList {
    api_keys: Vec<ApiKeyInfo>,
}

/// Every API key (runs `api list`; never a secret).
#[utoipa::path(
    get,
    path = "/api/v1/apikey",
    tag = "apikeys",
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The keys (times in epoch seconds)", body = Vec<ApiKeyInfo>),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin or auditor", body = StatusMessage),
    )
)]
async fn list_keys(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<ApiKeyInfo>>, ApiError> {
    let json = run(&state, &client, &caller, words(&["api", "list"])).await?;
    let list: KeyList = serde_json::from_value(json).map_err(internal)?;
    Ok(Json(list.api_keys))
}

/// Create an API key (runs `api createtoken`; superuser). The key is answered only now.
#[utoipa::path(
    post,
    path = "/api/v1/apikey",
    tag = "apikeys",
    security(("bearer" = []), ("basic" = [])),
    request_body = ApiKeyCreate,
    responses(
        (status = 201, description = "Created; `key` is shown only in this answer", body = ApiKeyCreated),
        (status = 400, description = "Invalid field (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser", body = StatusMessage),
    )
)]
async fn create_key(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<ApiKeyCreate>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    let mut w = words(&["api", "createtoken"]);
    w.push(format!("--role={}", body.role));
    if let Some(d) = body.days {
        w.push(format!("--days={d}"));
    }
    if let Some(u) = &body.username {
        w.push(format!("--username={u}"));
    }
    if let Some(r) = &body.realm {
        w.push(format!("--realm={r}"));
    }
    if let Some(d) = &body.description {
        w.push(format!("--description={d}"));
    }
    let json = run(&state, &client, &caller, w).await?;
    let created: ApiKeyCreated = serde_json::from_value(json).map_err(internal)?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One API key (runs `api show`).
#[utoipa::path(
    get,
    path = "/api/v1/apikey/{id}",
    tag = "apikeys",
    security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "The key (times in epoch seconds)", body = ApiKeyInfo),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin or auditor", body = StatusMessage),
        (status = 404, description = "No such key", body = StatusMessage),
    )
)]
async fn get_key(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyInfo>, ApiError> {
    let w = vec!["api".into(), "show".into(), "--".into(), id];
    let json = run(&state, &client, &caller, w).await?;
    Ok(Json(serde_json::from_value(json).map_err(internal)?))
}

/// Revoke an API key (runs `api revoke`); it stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/apikey/{id}",
    tag = "apikeys",
    security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"API key revoked\", \"status\": 200}`", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin, or the key ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such active key", body = StatusMessage),
    )
)]
async fn revoke_key(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<StatusMessage>, ApiError> {
    let w = vec!["api".into(), "revoke".into(), "--".into(), id];
    run(&state, &client, &caller, w).await?;
    Ok(Json(StatusMessage::ok("API key revoked")))
}

/// The quota scans running on this node (runs `get-quota-scans`).
#[utoipa::path(
    get,
    path = "/api/v1/quota_scan",
    tag = "quota",
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Running scans (`start_time` in epoch milliseconds)", body = Vec<QuotaScan>),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not allowed to read users", body = StatusMessage),
    )
)]
async fn quota_scans(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<QuotaScan>>, ApiError> {
    let json = run(&state, &client, &caller, words(&["get-quota-scans"])).await?;
    let list: QuotaScanList = serde_json::from_value(json).map_err(internal)?;
    Ok(Json(list.scans))
}

/// Start a scan of the user's home_dir in the background (runs `start-quota-scan`); SFTPGo's
/// client posts the whole user object, of which only `username` is read.
#[utoipa::path(
    post,
    path = "/api/v1/quota_scan",
    tag = "quota",
    security(("bearer" = []), ("basic" = [])),
    request_body = QuotaScanRequest,
    responses(
        (status = 201, description = "`{\"error\": \"\", \"message\": \"Scan started\", \"status\": 201}`", body = StatusMessage),
        (status = 400, description = "No username, no local home_dir, or not a directory", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin, or the user ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such user", body = StatusMessage),
        (status = 409, description = "A scan of this user is running", body = StatusMessage),
        (status = 503, description = "Too many scans running; retry later", body = StatusMessage),
    )
)]
async fn start_quota_scan(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<QuotaScanRequest>,
) -> Result<(StatusCode, Json<StatusMessage>), ApiError> {
    if body.username.trim().is_empty() {
        return Err(ApiError::bad_request("username: required"));
    }
    let w = vec!["start-quota-scan".into(), "--".into(), body.username];
    run(&state, &client, &caller, w).await?;
    Ok((
        StatusCode::CREATED,
        Json(StatusMessage {
            status: 201,
            ..StatusMessage::ok("Scan started")
        }),
    ))
}

/// Set (`mode=reset`, the default) or add to (`mode=add`) a user's used quota (runs
/// `update-quota-usage`).
#[utoipa::path(
    put,
    path = "/api/v1/quota_update",
    tag = "quota",
    security(("bearer" = []), ("basic" = [])),
    params(QuotaUpdateQuery),
    request_body = QuotaUsage,
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Quota updated\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Invalid field or mode (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin, or the user ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such user", body = StatusMessage),
        (status = 409, description = "A scan of this user is running", body = StatusMessage),
    )
)]
async fn update_quota_usage(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Query(q): Query<QuotaUpdateQuery>,
    ApiJson(body): ApiJson<QuotaUsage>,
) -> Result<Json<StatusMessage>, ApiError> {
    if body.username.trim().is_empty() {
        return Err(ApiError::bad_request("username: required"));
    }
    let mode = q.mode.unwrap_or_else(|| "reset".into());
    if !matches!(mode.as_str(), "reset" | "add") {
        return Err(ApiError::bad_request("mode: must be reset or add"));
    }
    let w = vec![
        "update-quota-usage".into(),
        format!("--used-quota-size={}", body.used_quota_size),
        format!("--used-quota-files={}", body.used_quota_files),
        format!("--mode={mode}"),
        "--".into(),
        body.username,
    ];
    run(&state, &client, &caller, w).await?;
    Ok(Json(StatusMessage::ok("Quota updated")))
}
