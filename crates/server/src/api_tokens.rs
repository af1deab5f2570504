//! `/api/v1/token…`: OTP tokens as typed REST resources. Each route runs the registry command
//! LinOTP's `/admin/*` runs (`token show`, `token init`, `token set`, `token enable`, …, plus
//! `token get` for one token) with the same named parameters, so the roles, the target rule,
//! validation and auditing are the commands'. This file only translates: JSON bodies to the
//! commands' parameter names and back, and those names in error messages to the REST field
//! names. Token times are epoch milliseconds.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use keyward_commands::{CommandError, Output};
use keyward_proto::{
    StatusMessage, TokenAssign, TokenCreated, TokenInit, TokenList, TokenListQuery, TokenObject,
    TokenResync, TokenSettings,
};
use serde_json::{Map, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Authenticated, Caller, ClientAddr};
use crate::error::{ApiError, ApiJson};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, init_token))
        .routes(routes!(get_token, set_token, remove_token))
        .routes(routes!(token_action))
        .routes(routes!(assign_token))
        .routes(routes!(resync_token))
}

/// REST field names of `PATCH` and the `token set` parameters they travel as (LinOTP's spelling).
const SET_NAMES: &[(&str, &str)] = &[
    ("max_fail", "MaxFailCount"),
    ("sync_window", "SyncWindow"),
    ("otplen", "OtpLen"),
    ("count_window", "CounterWindow"),
    ("time_window", "timeWindow"),
    ("time_step", "timeStep"),
    ("time_shift", "timeShift"),
    ("count_auth_max", "countAuthMax"),
    ("count_auth_success_max", "countAuthSuccessMax"),
    ("count_auth_success", "countAuthSuccess"),
    ("count_auth", "countAuth"),
    ("validity_period_start", "validityPeriodStart"),
    ("validity_period_end", "validityPeriodEnd"),
];
/// The same for `POST` (`token init`) and `GET` (`token show`).
const INIT_NAMES: &[(&str, &str)] = &[("time_window", "timeWindow"), ("time_step", "timeStep")];
const LIST_NAMES: &[(&str, &str)] = &[("limit", "pagesize")];

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// A typed body as the command's named parameters (`names`: REST names → parameter names).
fn params_of(
    body: &impl serde::Serialize,
    names: &[(&str, &str)],
) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(map) = serde_json::to_value(body).map_err(internal)? else {
        return Err(internal("a request body is not an object"));
    };
    Ok(map
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let name = names
                .iter()
                .find(|(rest, _)| *rest == k)
                .map(|(_, param)| (*param).to_string())
                .unwrap_or(k);
            (name, v)
        })
        .collect())
}

/// A command's error with its parameter names spelled as the REST fields.
fn rest_error(e: CommandError, names: &[(&str, &str)]) -> ApiError {
    let rename = |m: String| {
        names.iter().fold(m, |m, (rest, param)| {
            m.replace(&format!("'{param}'"), &format!("'{rest}'"))
        })
    };
    ApiError::from(match e {
        CommandError::Invalid(m) => CommandError::Invalid(rename(m)),
        other => other,
    })
}

/// Runs a token command as the caller with named parameters.
async fn run(
    state: &AppState,
    client: &ClientAddr,
    caller: &Caller,
    command: &str,
    (params, names): (Map<String, Value>, &[(&str, &str)]),
) -> Result<Output, ApiError> {
    let ctx = caller.ctx(state, client);
    let out = state
        .registry
        .run_params(&ctx, command, params)
        .await
        .map_err(|e| rest_error(e, names))?;
    if out.failed {
        // The command ran but did not do what was asked (a resync whose OTPs were not found).
        return Err(ApiError::bad_request(out.text.trim().to_string()));
    }
    Ok(out)
}

fn serial_param(serial: String) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("serial".into(), Value::String(serial));
    map
}

/// One page of tokens, filtered and paged in the database (runs `token show --view rest`).
#[utoipa::path(
    get,
    path = "/api/v1/token",
    tag = "tokens",
    security(("bearer" = []), ("basic" = [])),
    params(TokenListQuery),
    responses(
        (status = 200, description = "One page of tokens (times in epoch milliseconds)", body = TokenList),
        (status = 400, description = "Bad filter or paging parameter (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not allowed to read tokens", body = StatusMessage),
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Query(q): Query<TokenListQuery>,
) -> Result<Json<TokenList>, ApiError> {
    let mut params = params_of(&q, LIST_NAMES)?;
    params.insert("view".into(), Value::String("rest".into()));
    params
        .entry("offset")
        .or_insert_with(|| Value::String("0".into()));
    let out = run(&state, &client, &caller, "token show", (params, LIST_NAMES)).await?;
    Ok(Json(serde_json::from_value(out.json).map_err(internal)?))
}

/// Enrol a token (runs `token init`). The seed, URI or password are answered only now.
#[utoipa::path(
    post,
    path = "/api/v1/token",
    tag = "tokens",
    security(("bearer" = []), ("basic" = [])),
    request_body = TokenInit,
    responses(
        (status = 201, description = "Enrolled; secrets shown only in this answer", body = TokenCreated),
        (status = 400, description = "Invalid field (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a token operator, or the owner ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such user", body = StatusMessage),
        (status = 409, description = "The serial is taken", body = StatusMessage),
    )
)]
async fn init_token(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<TokenInit>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    let out = run(
        &state,
        &client,
        &caller,
        "token init",
        (params_of(&body, INIT_NAMES)?, INIT_NAMES),
    )
    .await?;
    let detail = out.detail.unwrap_or_default();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let created = TokenCreated {
        serial: text(&detail["serial"]),
        otpauth_uri: text(&detail["googleurl"]["value"]),
        otpkey: text(&detail["otpkey"]["value"])
            .trim_start_matches("seed://")
            .to_string(),
        password: text(&detail["password"]),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// One token (runs `token get`).
#[utoipa::path(
    get,
    path = "/api/v1/token/{serial}",
    tag = "tokens",
    security(("bearer" = []), ("basic" = [])),
    params(("serial" = String, Path, description = "The token's serial number")),
    responses(
        (status = 200, description = "The token (times in epoch milliseconds)", body = TokenObject),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not allowed to read tokens", body = StatusMessage),
        (status = 404, description = "No such token", body = StatusMessage),
    )
)]
async fn get_token(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(serial): Path<String>,
) -> Result<Json<TokenObject>, ApiError> {
    let out = run(
        &state,
        &client,
        &caller,
        "token get",
        (serial_param(serial), &[]),
    )
    .await?;
    Ok(Json(serde_json::from_value(out.json).map_err(internal)?))
}

/// Change a token's settings (runs `token set`); fields not given stay.
#[utoipa::path(
    patch,
    path = "/api/v1/token/{serial}",
    tag = "tokens",
    security(("bearer" = []), ("basic" = [])),
    params(("serial" = String, Path, description = "The token's serial number")),
    request_body = TokenSettings,
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Token updated\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Invalid field (named in `error`), or nothing to change", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a token operator, or the owner ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such token", body = StatusMessage),
    )
)]
async fn set_token(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(serial): Path<String>,
    ApiJson(body): ApiJson<TokenSettings>,
) -> Result<Json<StatusMessage>, ApiError> {
    let mut params = params_of(&body, SET_NAMES)?;
    params.insert("serial".into(), Value::String(serial));
    run(&state, &client, &caller, "token set", (params, SET_NAMES)).await?;
    Ok(Json(StatusMessage::ok("Token updated")))
}

/// Delete a token (runs `token remove`).
#[utoipa::path(
    delete,
    path = "/api/v1/token/{serial}",
    tag = "tokens",
    security(("bearer" = []), ("basic" = [])),
    params(("serial" = String, Path, description = "The token's serial number")),
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Token deleted\", \"status\": 200}`", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a token operator, or the owner ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such token", body = StatusMessage),
    )
)]
async fn remove_token(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(serial): Path<String>,
) -> Result<Json<StatusMessage>, ApiError> {
    run(
        &state,
        &client,
        &caller,
        "token remove",
        (serial_param(serial), &[]),
    )
    .await?;
    Ok(Json(StatusMessage::ok("Token deleted")))
}

/// The actions without a body, their commands and answers.
const ACTIONS: &[(&str, &str, &str)] = &[
    ("enable", "token enable", "Token enabled"),
    ("disable", "token disable", "Token disabled"),
    ("reset", "token reset", "Fail counter reset"),
    ("unassign", "token unassign", "Token unassigned"),
];

/// `enable`, `disable`, `reset` (the fail counter) or `unassign` a token (runs `token <action>`).
#[utoipa::path(
    put,
    path = "/api/v1/token/{serial}/{action}",
    tag = "tokens",
    security(("bearer" = []), ("basic" = [])),
    params(
        ("serial" = String, Path, description = "The token's serial number"),
        ("action" = String, Path, description = "`enable`, `disable`, `reset` or `unassign` \
            (`assign` and `resync` take a body)"),
    ),
    responses(
        (status = 200, description = "Done, e.g. `{\"error\": \"\", \"message\": \"Token enabled\", \"status\": 200}`", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a token operator, or the owner ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such token or action", body = StatusMessage),
    )
)]
async fn token_action(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path((serial, action)): Path<(String, String)>,
) -> Result<Json<StatusMessage>, ApiError> {
    let Some((_, command, message)) = ACTIONS.iter().find(|(a, _, _)| *a == action) else {
        return Err(ApiError::not_found(
            "action: no such token action (enable, disable, reset, unassign, assign, resync)",
        ));
    };
    run(
        &state,
        &client,
        &caller,
        command,
        (serial_param(serial), &[]),
    )
    .await?;
    Ok(Json(StatusMessage::ok(*message)))
}

/// Give a token an owner (runs `token assign`).
#[utoipa::path(
    put,
    path = "/api/v1/token/{serial}/assign",
    tag = "tokens",
    security(("bearer" = []), ("basic" = [])),
    params(("serial" = String, Path, description = "The token's serial number")),
    request_body = TokenAssign,
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Token assigned\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Invalid field (named in `error`)", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a token operator, or the user ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such token or user", body = StatusMessage),
        (status = 409, description = "The token belongs to another user", body = StatusMessage),
    )
)]
async fn assign_token(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(serial): Path<String>,
    ApiJson(body): ApiJson<TokenAssign>,
) -> Result<Json<StatusMessage>, ApiError> {
    if body.user.trim().is_empty() {
        return Err(ApiError::bad_request("user: required"));
    }
    let mut params = params_of(&body, &[])?;
    params.insert("serial".into(), Value::String(serial));
    run(&state, &client, &caller, "token assign", (params, &[])).await?;
    Ok(Json(StatusMessage::ok("Token assigned")))
}

/// Resynchronise a token with two consecutive OTP values (runs `token resync`).
#[utoipa::path(
    put,
    path = "/api/v1/token/{serial}/resync",
    tag = "tokens",
    security(("bearer" = []), ("basic" = [])),
    params(("serial" = String, Path, description = "The token's serial number")),
    request_body = TokenResync,
    responses(
        (status = 200, description = "`{\"error\": \"\", \"message\": \"Token resynchronised\", \"status\": 200}`", body = StatusMessage),
        (status = 400, description = "Missing values, or the OTPs were not found in the sync window", body = StatusMessage),
        (status = 401, description = "Not authenticated", body = StatusMessage),
        (status = 403, description = "Not a token operator, or the owner ranks as high as the caller", body = StatusMessage),
        (status = 404, description = "No such token", body = StatusMessage),
    )
)]
async fn resync_token(
    State(state): State<AppState>,
    client: ClientAddr,
    Authenticated(caller): Authenticated,
    Path(serial): Path<String>,
    ApiJson(body): ApiJson<TokenResync>,
) -> Result<Json<StatusMessage>, ApiError> {
    let mut params = params_of(&body, &[])?;
    params.insert("serial".into(), Value::String(serial));
    run(&state, &client, &caller, "token resync", (params, &[])).await?;
    Ok(Json(StatusMessage::ok("Token resynchronised")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rest_names_travel_as_the_command_parameters_and_come_back_in_errors() {
        let body = TokenSettings {
            max_fail: Some(5),
            count_auth: Some(1),
            description: Some("d".into()),
            ..Default::default()
        };
        let p = params_of(&body, SET_NAMES).unwrap();
        assert_eq!(p["MaxFailCount"], 5);
        assert_eq!(p["countAuth"], 1);
        assert_eq!(p["description"], "d");
        assert!(!p.contains_key("pin"));
        let e = rest_error(
            CommandError::Invalid("parameter 'countAuthMax' must be a number".into()),
            SET_NAMES,
        );
        assert!(e.to_string().contains("'count_auth_max'"), "{e}");
    }
}
