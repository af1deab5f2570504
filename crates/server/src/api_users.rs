//! `/api/v1/user…` (SFTPGo v0.9's REST users, seed 004) and the SFTPGo-spelled aliases of the
//! connection routes. Each route runs one registry command (`add-user`, `update-user`,
//! `get-user`, `get-users`, `delete-user`, `changepassword`), which validates, checks who may
//! act on whom and audits; `{id}` is the user's integer id or its name. Times in the user
//! object are epoch milliseconds.

use axum::Json;
use axum::extract::{Path, State};
use keyward_proto::{
    Connection, PasswordChange, StatusMessage, UpdateUserQuery, User, UserInput, UserQuery,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Authenticated, ClientAddr};
use crate::error::{ApiError, ApiJson, ApiQuery};
use crate::throttle::retry_after_secs;
use keyward_proto::ErrorKind;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_user, get_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(change_password))
        .routes(routes!(connection_list))
        .routes(routes!(connection_close))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Runs a command as the caller; its JSON answer.
async fn run(
    state: &AppState,
    client: &ClientAddr,
    caller: &crate::auth::Caller,
    words: Vec<String>,
) -> Result<serde_json::Value, ApiError> {
    let ctx = caller.ctx(state, client);
    Ok(state.registry.run(&ctx, &words).await?.json)
}

fn body_json(input: &UserInput) -> Result<String, ApiError> {
    serde_json::to_string(input).map_err(internal)
}

/// Create a user from the user object (`username` and `password` required).
#[utoipa::path(
    post,
    path = "/api/v1/user",
    tag = "users",
    security(("bearer" = []), ("basic" = [])),
    request_body(content = UserInput, description = "The user object; times in epoch \
        milliseconds; the password is write-only"),
    responses(
        (status = 200, description = "Created: the user object (times in epoch milliseconds)", body = User),
        (status = 400, description = "Invalid field (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin, or a role above the caller's", body = StatusMessage),
        (status = 409, description = "The user exists", body = StatusMessage),
    )
)]
async fn add_user(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    ApiJson(input): ApiJson<UserInput>,
) -> Result<Json<User>, ApiError> {
    let Some(username) = input.username.clone().filter(|u| !u.trim().is_empty()) else {
        return Err(ApiError::invalid_field("username", "username: required"));
    };
    let words = vec![
        "add-user".to_string(),
        format!("--from-json={}", body_json(&input)?),
        "--".to_string(),
        username,
    ];
    let json = run(&state, &client, &caller, words).await?;
    Ok(Json(serde_json::from_value(json).map_err(internal)?))
}

/// Change a user: the fields given replace the stored ones (`filters`, `filesystem`,
/// `permissions`, `virtual_folders` each as a whole); a `password` sets a new one.
#[utoipa::path(
    put,
    path = "/api/v1/user/{id}",
    tag = "users",
    security(("bearer" = []), ("basic" = [])),
    params(
        ("id" = String, Path, description = "The user's integer id, or its username"),
        UpdateUserQuery,
    ),
    request_body(content = UserInput, description = "The fields to change; times in epoch milliseconds"),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"User updated\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Invalid field (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin, or the user ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such user", body = StatusMessage),
    )
)]
async fn update_user(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<UpdateUserQuery>,
    ApiJson(input): ApiJson<UserInput>,
) -> Result<Json<StatusMessage>, ApiError> {
    let mut words = vec![
        "update-user".to_string(),
        format!("--from-json={}", body_json(&input)?),
    ];
    if q.disconnect.unwrap_or(0) == 1 {
        words.push("--disconnect".to_string());
    }
    words.extend(["--".to_string(), id]);
    run(&state, &client, &caller, words).await?;
    Ok(Json(StatusMessage::ok("User updated")))
}

/// One user object.
#[utoipa::path(
    get,
    path = "/api/v1/user/{id}",
    tag = "users",
    security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path, description = "The user's integer id, or its username")),
    responses(
        (status = 200, description = "The user object (times in epoch milliseconds)", body = User),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not allowed to read users", body = StatusMessage),
        (status = 404, description = "No such user", body = StatusMessage),
    )
)]
async fn get_user(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    let words = vec!["get-user".to_string(), "--".to_string(), id];
    let json = run(&state, &client, &caller, words).await?;
    Ok(Json(serde_json::from_value(json).map_err(internal)?))
}

/// One page of users by username (`limit` 1–500, default 100), paged in the database.
#[utoipa::path(
    get,
    path = "/api/v1/user",
    tag = "users",
    security(("bearer" = []), ("basic" = [])),
    params(UserQuery),
    responses(
        (status = 200, description = "User objects (times in epoch milliseconds)", body = Vec<User>),
        (status = 400, description = "Bad paging parameter (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not allowed to read users", body = StatusMessage),
    )
)]
async fn get_users(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> Result<Json<Vec<User>>, ApiError> {
    let mut words = vec!["get-users".to_string()];
    if let Some(l) = q.limit {
        words.push(format!("--limit={l}"));
    }
    if let Some(o) = q.offset {
        words.push(format!("--offset={o}"));
    }
    if let Some(u) = q.username.filter(|u| !u.is_empty()) {
        words.push(format!("--username={u}"));
    }
    if let Some(o) = q.order {
        words.push(format!("--order={o}"));
    }
    let json = run(&state, &client, &caller, words).await?;
    Ok(Json(serde_json::from_value(json).map_err(internal)?))
}

/// Delete a user (its sessions and API keys go with it).
#[utoipa::path(
    delete,
    path = "/api/v1/user/{id}",
    tag = "users",
    security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path, description = "The user's integer id, or its username")),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"User deleted\", \"status\": 200}`", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin, or the user ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such user", body = StatusMessage),
        (status = 409, description = "The last active superuser", body = StatusMessage),
    )
)]
async fn delete_user(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<StatusMessage>, ApiError> {
    let words = vec!["delete-user".to_string(), "--".to_string(), id];
    run(&state, &client, &caller, words).await?;
    Ok(Json(StatusMessage::ok("User deleted")))
}

/// Change the signed-in account's own password; its other sessions end.
#[utoipa::path(
    put,
    path = "/api/v1/changepwd",
    tag = "users",
    security(("bearer" = []), ("basic" = [])),
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed", body = StatusMessage),
        (status = 400, description = "Invalid new password", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Wrong current password", body = StatusMessage),
        (status = 429, description = "Too many wrong current passwords from this client for \
            this account (the login throttle); `Retry-After` says when", body = StatusMessage),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Json<StatusMessage>, ApiError> {
    // The current password is a guess like a login's: the same per-node throttle counts the
    // wrong ones, so a stolen session cannot try passwords at full speed.
    let attempt = state
        .throttle
        .reserve(caller.username.as_str(), &client.text())
        .map_err(|wait| ApiError::throttled(retry_after_secs(wait)))?;
    let words = vec![
        "changepassword".to_string(),
        format!("--current-password={}", body.current_password),
        format!("--new-password={}", body.new_password),
    ];
    match run(&state, &client, &caller, words).await {
        Ok(_) => attempt.succeeded(),
        // Forbidden is the wrong current password: it stays counted.
        Err(e) if e.kind() == ErrorKind::Forbidden => {
            drop(attempt);
            return Err(e);
        }
        Err(e) => {
            attempt.not_a_guess();
            return Err(e);
        }
    }
    Ok(Json(StatusMessage::ok("Password changed")))
}

/// Active sessions (SFTPGo's `/api/v1/connection`; the same as `/api/v1/connections`).
#[utoipa::path(
    get,
    path = "/api/v1/connection",
    tag = "connections",
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Active sessions, oldest first", body = Vec<Connection>),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin", body = StatusMessage),
    )
)]
async fn connection_list(
    state: State<AppState>,
    client: ClientAddr,
    caller: Authenticated,
) -> Result<Json<Vec<keyward_proto::Connection>>, ApiError> {
    crate::api::connections(state, client, caller).await
}

/// Close one session (SFTPGo's spelling of `DELETE /api/v1/connections/{connection_id}`).
#[utoipa::path(
    delete,
    path = "/api/v1/connection/{connection_id}",
    tag = "connections",
    security(("bearer" = []), ("basic" = [])),
    params(("connection_id" = String, Path, description = "The connection id")),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Connection closed\", \"status\": 200}`", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin", body = StatusMessage),
        (status = 404, description = "No such connection", body = StatusMessage),
    )
)]
async fn connection_close(
    state: State<AppState>,
    client: ClientAddr,
    caller: Authenticated,
    id: Path<String>,
) -> Result<Json<StatusMessage>, ApiError> {
    crate::api::close_connection(state, client, caller, id).await
}
