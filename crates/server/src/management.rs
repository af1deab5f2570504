//! Psono's remote management endpoint (K4): `POST /server/management-command/` with
//! `Authorization: Token KEY` runs a registry command and answers exactly the text the local
//! command prints. Off unless `management_command_access_key` is set; the key is compared in
//! constant time; `management_commands` is an allow-list. Every call is audited without its
//! arguments (they may hold passwords). Wrong keys are throttled per client address (429 with
//! `Retry-After`), and their audit rows coalesced (see [`crate::audit_coalesce`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_proto::MANAGEMENT_OFF_HEADER;
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use keyward_commands::access::Principal;

use crate::AppState;
use crate::audit_coalesce::{Row, audit_failure};
use crate::auth::ClientAddr;
use crate::error::ApiError;
use crate::metrics::{AuthKind, AuthOutcome};
use crate::throttle::{Limit, retry_after_secs};
use keyward_proto::{
    ManagementDenied, ManagementRejected, ManagementRequest, ManagementResponse, StatusMessage,
};

/// Wrong access keys tolerated per client address before waits (1 s, 2 s, 4 s, …) start.
pub const MANAGEMENT_KEY_THRESHOLD: u32 = 10;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(management_command))
}

/// Whether the `Authorization: Token KEY` header carries the configured key. Both sides are
/// hashed first so the comparison takes the same time whatever the lengths.
fn key_matches(configured: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(configured) = configured.filter(|k| !k.is_empty()) else {
        return false;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("token"))
        .map(|(_, key)| key.trim())
        .unwrap_or("");
    let a = keyward_store::sha256_hex(configured.as_bytes());
    let b = keyward_store::sha256_hex(presented.as_bytes());
    !presented.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn denied(endpoint_off: bool) -> Response {
    let mut resp = (
        StatusCode::FORBIDDEN,
        Json(ManagementDenied {
            detail: "Invalid access key".into(),
        }),
    )
        .into_response();
    if endpoint_off {
        resp.headers_mut().insert(
            MANAGEMENT_OFF_HEADER,
            axum::http::HeaderValue::from_static("off"),
        );
    }
    resp
}

/// The `--json` result of a failed command: its stable kind, its message and, for an invalid
/// argument that names one, the field.
fn error_result(e: &keyward_commands::CommandError) -> serde_json::Value {
    let mut v = serde_json::json!({ "error": e.kind(), "message": e.to_string() });
    if let Some(field) = e.field() {
        v["field"] = serde_json::Value::from(field);
    }
    v
}

fn rejected(non_field: Option<&str>, command_name: Option<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(ManagementRejected {
            non_field_errors: non_field.map(String::from).into_iter().collect(),
            command_name: command_name.into_iter().collect(),
        }),
    )
        .into_response()
}

/// Run a management command remotely (Psono `manage.py` over HTTP).
#[utoipa::path(
    post,
    path = "/server/management-command/",
    tag = "management",
    request_body = ManagementRequest,
    security(("management_key" = [])),
    responses(
        (status = 200, description = "The command ran; `output` is what it printed, or its error when `exit_code` ≠ 0", body = ManagementResponse),
        (status = 400, description = "Command not allowed (MANAGEMENT_COMMAND_NOT_ALLOWED), unknown, or malformed request", body = ManagementRejected),
        (status = 403, description = "Endpoint disabled (then with the header `keyward-management-endpoint: off`), or missing/wrong access key", body = ManagementDenied),
        (status = 413, description = "Body too large", body = StatusMessage),
        (status = 429, description = "Too many wrong keys from this address; see Retry-After", body = StatusMessage,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
async fn management_command(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let client_text = client.text();
    let actor = format!("remote:{client_text}");
    let ctx = state.ctx(&actor, &client_text);
    let failure = |details: &str| Row {
        actor: actor.clone(),
        action: "management-command".into(),
        client: client_text.clone(),
        target: String::new(),
        details: details.into(),
    };
    let limit = [Limit::new(
        format!("m:{client_text}"),
        MANAGEMENT_KEY_THRESHOLD,
    )];
    if let Some(wait) = state.management_throttle.blocked_for(&limit) {
        state
            .metrics
            .record_auth(AuthKind::ManagementKey, AuthOutcome::Throttled);
        audit_failure(&state, failure("throttled after repeated failures")).await;
        return Err(ApiError::throttled(retry_after_secs(wait)));
    }
    let configured = state
        .shared
        .settings
        .management_command_access_key
        .as_deref();
    if !key_matches(configured, &headers) {
        state.management_throttle.failure(&limit);
        state
            .metrics
            .record_auth(AuthKind::ManagementKey, AuthOutcome::Failure);
        let off = configured.is_none_or(str::is_empty);
        let why = if !off {
            "invalid access key"
        } else {
            "endpoint disabled (no management_command_access_key)"
        };
        audit_failure(&state, failure(why)).await;
        return Ok(denied(off));
    }
    state.management_throttle.clear(&limit);
    state
        .metrics
        .record_auth(AuthKind::ManagementKey, AuthOutcome::Success);
    // The key is a superuser credential for the registry (within the allow-list), but it
    // never names files on the server: that stays with `keyward manage` on the machine.
    let ctx = ctx.with_principal(Principal::ManagementKey);
    let req: ManagementRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            ctx.audit("management-command", "", false, "malformed request")
                .await?;
            return Ok(rejected(None, Some(format!("malformed request: {e}"))));
        }
    };
    let words: Vec<String> = req
        .command_name
        .split_whitespace()
        .map(String::from)
        .chain(req.command_args)
        .collect();
    let Some(name) = state.registry.command_name(&words) else {
        let shown: String = req.command_name.chars().take(100).collect();
        ctx.audit("management-command", &shown, false, "unknown command")
            .await?;
        return Ok(rejected(
            Some("MANAGEMENT_COMMAND_NOT_FOUND"),
            Some(format!("unknown command \"{shown}\"")),
        ));
    };
    let allowed = &state.shared.settings.management_commands;
    if !allowed.is_empty() && !allowed.iter().any(|a| a.trim() == name) {
        ctx.audit("management-command", name, false, "command not allowed")
            .await?;
        return Ok(rejected(Some("MANAGEMENT_COMMAND_NOT_ALLOWED"), None));
    }
    let result = state.registry.run(&ctx, &words).await;
    let resp = match result {
        // A command that ran but did not do what was asked (a resync that found no OTPs)
        // fails like an error does.
        Ok(out) => ManagementResponse {
            exit_code: i32::from(out.failed),
            output: out.text,
            result: req.json.then_some(out.json),
        },
        Err(e) => ManagementResponse {
            output: e.to_string(),
            exit_code: e.exit_code(),
            result: req.json.then(|| error_result(&e)),
        },
    };
    ctx.audit(
        "management-command",
        name,
        resp.exit_code == 0,
        &format!("exit code {}", resp.exit_code),
    )
    .await?;
    Ok((StatusCode::OK, Json(resp)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = v.parse() {
            h.insert(header::AUTHORIZATION, v);
        }
        h
    }

    #[test]
    fn only_the_configured_token_opens_the_endpoint() {
        assert!(key_matches(Some("s3cret"), &auth("Token s3cret")));
        assert!(key_matches(Some("s3cret"), &auth("token  s3cret ")));
        assert!(!key_matches(Some("s3cret"), &auth("Token s3cre")));
        assert!(!key_matches(Some("s3cret"), &auth("Bearer s3cret")));
        assert!(!key_matches(Some("s3cret"), &auth("s3cret")));
        assert!(!key_matches(Some("s3cret"), &HeaderMap::new()));
        assert!(!key_matches(None, &auth("Token anything")));
        assert!(!key_matches(Some(""), &auth("Token ")));
    }
}
