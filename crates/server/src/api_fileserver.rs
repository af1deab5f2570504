//! Fileserver clusters and shards over REST (`/api/v1/fileserver/…`: the `fscluster*` and
//! `fsshard*` registry commands, run as the caller) and the members' `POST /fileserver/alive/`,
//! which the commands' `fileserver::alive::accept` verifies and records; its refusals are
//! audited here, bounded per address and reason like other repeated failures.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use keyward_commands::fileserver::alive;
use keyward_proto::{
    FsAliveAccepted, FsAliveRequest, FsCluster, FsClusterConfig, FsClusterCreate, FsClusterList,
    FsCreated, FsDeleteQuery, FsLinkCreate, FsShard, FsShardAvailability, FsShardAvailabilityList,
    FsShardCreate, FsShardList, StatusMessage,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit_coalesce::{Row, audit_failure};
use crate::auth::{Authenticated, Caller, ClientAddr};
use crate::error::{ApiError, ApiJson};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alive_announcement))
        .routes(routes!(list_clusters, create_cluster))
        .routes(routes!(delete_cluster))
        .routes(routes!(cluster_config))
        .routes(routes!(shard_status, create_shard))
        .routes(routes!(delete_shard))
        .routes(routes!(list_links, create_link))
        .routes(routes!(delete_link))
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

/// A member announces itself alive (signed with its cluster's key; no other authentication).
#[utoipa::path(
    post,
    path = "/fileserver/alive/",
    tag = "fileserver",
    request_body(content = FsAliveRequest, description = "`announcement` is an FsAnnouncement as JSON text; `signature` the cluster key's Ed25519 signature (base64) over \"keyward fileserver announcement v1\\n\" followed by that text"),
    responses(
        (status = 200, description = "Accepted; the member is listed until `expires_at`", body = FsAliveAccepted),
        (status = 400, description = "Malformed request or announcement (field named)", body = StatusMessage),
        (status = 403, description = "Bad signature, stale timestamp, or a shard not linked with that permission", body = StatusMessage),
        (status = 404, description = "Unknown cluster", body = StatusMessage),
        (status = 409, description = "Replayed: not newer than the member's last accepted announcement", body = StatusMessage),
    )
)]
async fn alive_announcement(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<FsAliveRequest>,
) -> Result<Json<FsAliveAccepted>, ApiError> {
    let ctx = state.ctx("fileserver", &client.text());
    match alive::accept(&ctx, &body).await {
        Ok(accepted) => Ok(Json(accepted)),
        Err(rejected) => {
            let row = Row {
                actor: "fileserver".into(),
                action: "fileserver alive".into(),
                client: client.text(),
                target: rejected.target,
                details: format!("refused: {}", rejected.reason),
            };
            audit_failure(&state, row).await;
            Err(rejected.error.into())
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ClusterListQuery {
    /// Also list each cluster's live members.
    #[serde(default)]
    members: Option<bool>,
}

/// Every cluster with its links, and with `members=true` its live members (runs `fsclusterlist`).
#[utoipa::path(
    get,
    path = "/api/v1/fileserver/clusters",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    params(ClusterListQuery),
    responses(
        (status = 200, description = "The clusters (never a private key)", body = Vec<FsCluster>),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser or admin", body = StatusMessage),
    )
)]
async fn list_clusters(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Query(q): Query<ClusterListQuery>,
) -> Result<Json<Vec<FsCluster>>, ApiError> {
    let mut w = words(&["fsclusterlist"]);
    if q.members == Some(true) {
        w.push("--members".into());
    }
    let json = run(&state, &client, &caller, w).await?;
    let list: FsClusterList = serde_json::from_value(json).map_err(internal)?;
    Ok(Json(list.clusters))
}

/// Create a cluster and its key pair (runs `fsclustercreate`); with `fix_cluster_id` of an
/// existing cluster nothing changes (200, `created: false`).
#[utoipa::path(
    post,
    path = "/api/v1/fileserver/clusters",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    request_body = FsClusterCreate,
    responses(
        (status = 201, description = "Created", body = FsCreated),
        (status = 200, description = "A cluster with `fix_cluster_id` exists already; unchanged", body = FsCreated),
        (status = 400, description = "Invalid field (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser or admin", body = StatusMessage),
    )
)]
async fn create_cluster(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<FsClusterCreate>,
) -> Result<(StatusCode, Json<FsCreated>), ApiError> {
    let mut w = words(&["fsclustercreate"]);
    if let Some(limit) = body.file_size_limit {
        w.push(format!("--file-size-limit={limit}"));
    }
    if let Some(id) = &body.fix_cluster_id {
        w.push(format!("--fix-cluster-id={id}"));
    }
    w.extend(["--".into(), body.title]);
    let json = run(&state, &client, &caller, w).await?;
    let created: FsCreated = serde_json::from_value(json).map_err(internal)?;
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(created)))
}

fn delete_words(command: &str, force: Option<bool>, id: String) -> Vec<String> {
    let mut w = vec![command.to_string()];
    if force == Some(true) {
        w.push("--force".into());
    }
    w.extend(["--".into(), id]);
    w
}

/// Delete a cluster (runs `fsclusterdelete`); a linked one only with `force=true`.
#[utoipa::path(
    delete,
    path = "/api/v1/fileserver/clusters/{id}",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path, description = "The cluster id (UUID)"), FsDeleteQuery),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Cluster deleted\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Not a UUID", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser or admin", body = StatusMessage),
        (status = 404, description = "No such cluster", body = StatusMessage),
        (status = 409, description = "Shards are linked to it and `force` is not set", body = StatusMessage),
    )
)]
async fn delete_cluster(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Query(q): Query<FsDeleteQuery>,
) -> Result<Json<StatusMessage>, ApiError> {
    let w = delete_words("fsclusterdelete", q.force, id);
    run(&state, &client, &caller, w).await?;
    Ok(Json(StatusMessage::ok("Cluster deleted")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ConfigQuery {
    /// The URL members reach this server at (default: `public_url`, else the listen address).
    #[serde(default)]
    server_url: Option<String>,
}

/// The member configuration of a cluster as TOML, with the cluster's private key (runs
/// `fsclustershowconfig`, audited).
#[utoipa::path(
    get,
    path = "/api/v1/fileserver/clusters/{id}/config",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path, description = "The cluster id (UUID)"), ConfigQuery),
    responses(
        (status = 200, description = "The TOML a member reads", body = FsClusterConfig),
        (status = 400, description = "Not a UUID, or a bad server_url", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser or admin", body = StatusMessage),
        (status = 404, description = "No such cluster", body = StatusMessage),
    )
)]
async fn cluster_config(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Query(q): Query<ConfigQuery>,
) -> Result<Json<FsClusterConfig>, ApiError> {
    let mut w = words(&["fsclustershowconfig"]);
    if let Some(url) = q.server_url {
        w.push(format!("--server-url={url}"));
    }
    w.extend(["--".into(), id]);
    let json = run(&state, &client, &caller, w).await?;
    Ok(Json(serde_json::from_value(json).map_err(internal)?))
}

/// The shards with their live members and whether they can be read and written now (runs
/// `fsshardstatus`; any signed-in account).
#[utoipa::path(
    get,
    path = "/api/v1/fileserver/shards",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "Every shard and its live members", body = Vec<FsShardAvailability>),
        (status = 401, description = "Not authenticated", body = StatusMessage),
    )
)]
async fn shard_status(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<FsShardAvailability>>, ApiError> {
    let json = run(&state, &client, &caller, words(&["fsshardstatus"])).await?;
    let list: FsShardAvailabilityList = serde_json::from_value(json).map_err(internal)?;
    Ok(Json(list.shards))
}

/// Create a shard (runs `fsshardcreate`).
#[utoipa::path(
    post,
    path = "/api/v1/fileserver/shards",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    request_body = FsShardCreate,
    responses(
        (status = 201, description = "Created", body = FsCreated),
        (status = 400, description = "Invalid field (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser or admin", body = StatusMessage),
    )
)]
async fn create_shard(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<FsShardCreate>,
) -> Result<(StatusCode, Json<FsCreated>), ApiError> {
    let w = vec![
        "fsshardcreate".into(),
        "--".into(),
        body.title,
        body.description,
    ];
    let json = run(&state, &client, &caller, w).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::from_value(json).map_err(internal)?),
    ))
}

/// Delete a shard (runs `fssharddelete`); a linked one only with `force=true`.
#[utoipa::path(
    delete,
    path = "/api/v1/fileserver/shards/{id}",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path, description = "The shard id (UUID)"), FsDeleteQuery),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Shard deleted\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Not a UUID", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser or admin", body = StatusMessage),
        (status = 404, description = "No such shard", body = StatusMessage),
        (status = 409, description = "Clusters are linked to it and `force` is not set", body = StatusMessage),
    )
)]
async fn delete_shard(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    Query(q): Query<FsDeleteQuery>,
) -> Result<Json<StatusMessage>, ApiError> {
    let w = delete_words("fssharddelete", q.force, id);
    run(&state, &client, &caller, w).await?;
    Ok(Json(StatusMessage::ok("Shard deleted")))
}

/// Every shard with its links to clusters (runs `fsshardlist`).
#[utoipa::path(
    get,
    path = "/api/v1/fileserver/links",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    responses(
        (status = 200, description = "The shards, each with its links", body = Vec<FsShard>),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser or admin", body = StatusMessage),
    )
)]
async fn list_links(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<FsShard>>, ApiError> {
    let json = run(&state, &client, &caller, words(&["fsshardlist"])).await?;
    let list: FsShardList = serde_json::from_value(json).map_err(internal)?;
    Ok(Json(list.shards))
}

/// Link a shard to a cluster with permission `rw`, `r` or `w` (runs `fsshardlink`).
#[utoipa::path(
    post,
    path = "/api/v1/fileserver/links",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    request_body = FsLinkCreate,
    responses(
        (status = 201, description = "Created; `id` is the link id", body = FsCreated),
        (status = 400, description = "Not a UUID, or a permission other than rw, r, w", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser or admin", body = StatusMessage),
        (status = 404, description = "No such cluster or shard", body = StatusMessage),
        (status = 409, description = "They are linked already", body = StatusMessage),
    )
)]
async fn create_link(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<FsLinkCreate>,
) -> Result<(StatusCode, Json<FsCreated>), ApiError> {
    let w = vec![
        "fsshardlink".into(),
        "--".into(),
        body.cluster_id,
        body.shard_id,
        body.permission,
    ];
    let json = run(&state, &client, &caller, w).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::from_value(json).map_err(internal)?),
    ))
}

/// Remove a link by its id (runs `fsshardunlink`); its members stop serving the shard.
#[utoipa::path(
    delete,
    path = "/api/v1/fileserver/links/{id}",
    tag = "fileserver",
    security(("bearer" = []), ("basic" = [])),
    params(("id" = String, Path, description = "The link id (UUID)")),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Link deleted\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Not a UUID", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a superuser or admin", body = StatusMessage),
        (status = 404, description = "No such link", body = StatusMessage),
    )
)]
async fn delete_link(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<StatusMessage>, ApiError> {
    let w = vec!["fsshardunlink".into(), "--".into(), id];
    run(&state, &client, &caller, w).await?;
    Ok(Json(StatusMessage::ok("Link deleted")))
}
