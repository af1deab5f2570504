//! `/api/v1/dumpdata` and `/api/v1/loaddata` as SFTPGo's REST client calls them (seed 004):
//! thin adapters over the `dumpdata` and `loaddata` commands, which check who may run them,
//! keep file names inside the server's `backups_path` and audit. `POST /api/v1/loaddata` takes
//! the dump itself as the body (within `max_body_bytes`).

use axum::Json;
use axum::extract::{Query, State};
use keyward_proto::StatusMessage;
use keyward_proto::dump::{Dump, DumpQuery, LoadQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Authenticated, ClientAddr};
use crate::error::{ApiError, ApiJson};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dumpdata))
        .routes(routes!(loaddata_file, loaddata_body))
}

async fn run(
    state: &AppState,
    client: &ClientAddr,
    caller: &crate::auth::Caller,
    words: Vec<String>,
) -> Result<(), ApiError> {
    let ctx = caller.ctx(state, client);
    state.registry.run(&ctx, &words).await?;
    Ok(())
}

/// The `--mode` / `--scan-quota` words of a query.
fn load_flags(q: &LoadQuery) -> Vec<String> {
    vec![
        format!("--mode={}", q.mode.unwrap_or(0)),
        format!("--scan-quota={}", q.scan_quota.unwrap_or(0)),
    ]
}

/// Write every user, token, API key and admin to a file inside the server's `backups_path`
/// (password hashes and sealed secrets as stored). Superusers only.
#[utoipa::path(
    get,
    path = "/api/v1/dumpdata",
    tag = "maintenance",
    security(("bearer" = []), ("basic" = [])),
    params(DumpQuery),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Data saved\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "A file name outside backups_path, or a bad indent", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser", body = StatusMessage),
    )
)]
async fn dumpdata(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Query(q): Query<DumpQuery>,
) -> Result<Json<StatusMessage>, ApiError> {
    let words = vec![
        "dumpdata".to_string(),
        format!("--indent={}", q.indent.unwrap_or(0)),
        "--".to_string(),
        q.output_file,
    ];
    run(&state, &client, &caller, words).await?;
    Ok(Json(StatusMessage::ok("Data saved")))
}

/// Load a dump file from inside the server's `backups_path`, all or nothing.
#[utoipa::path(
    get,
    path = "/api/v1/loaddata",
    tag = "maintenance",
    security(("bearer" = []), ("basic" = [])),
    params(LoadQuery),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Data restored\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Bad file, record, mode or scan_quota (named in `error`); nothing was changed", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin, or a record names a principal at or above the caller", body = StatusMessage),
        (status = 404, description = "A token's owner does not exist", body = StatusMessage),
        (status = 409, description = "A record conflicts with the database", body = StatusMessage),
    )
)]
async fn loaddata_file(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Query(q): Query<LoadQuery>,
) -> Result<Json<StatusMessage>, ApiError> {
    let Some(file) = q.input_file.clone().filter(|f| !f.trim().is_empty()) else {
        return Err(ApiError::bad_request("input_file: required"));
    };
    let mut words = vec!["loaddata".to_string()];
    words.extend(load_flags(&q));
    words.extend(["--".to_string(), file]);
    run(&state, &client, &caller, words).await?;
    Ok(Json(StatusMessage::ok("Data restored")))
}

/// Load the dump sent as the body, all or nothing.
#[utoipa::path(
    post,
    path = "/api/v1/loaddata",
    tag = "maintenance",
    security(("bearer" = []), ("basic" = [])),
    params(LoadQuery),
    request_body(content = Dump, description = "A dump as `dumpdata` writes it, or an SFTPGo dump"),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Data restored\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Bad record, mode or scan_quota (named in `error`); nothing was changed", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not an admin, or a record names a principal at or above the caller", body = StatusMessage),
        (status = 404, description = "A token's owner does not exist", body = StatusMessage),
        (status = 409, description = "A record conflicts with the database", body = StatusMessage),
        (status = 413, description = "Larger than max_body_bytes", body = StatusMessage),
    )
)]
async fn loaddata_body(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Query(q): Query<LoadQuery>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<StatusMessage>, ApiError> {
    let mut words = vec!["loaddata".to_string()];
    words.extend(load_flags(&q));
    words.push(format!("--dump-json={body}"));
    run(&state, &client, &caller, words).await?;
    Ok(Json(StatusMessage::ok("Data restored")))
}
