//! HTTP Basic authentication on the REST API (`Authorization: Basic base64(user:password)`, what
//! SFTPGo's REST client sends with `--auth-type basic`), for operator accounts only: the password
//! check runs through the bounded password hashing and this node's failed-login throttle, as
//! `POST /auth/login` does, and a refusal is the same 401 whatever the reason (the audit row, coalesced
//! per client, says why).

use std::net::IpAddr;

use axum::http::HeaderMap;
use keyward_commands::login::{LoginError, audit_target, basic_check};

use crate::AppState;
use crate::audit_coalesce::{Row, audit_failure};
use crate::auth::{AuthVia, Caller};
use crate::error::ApiError;
use crate::metrics::{AuthKind, AuthOutcome};
use crate::throttle::retry_after_secs;

/// Longest Basic credential accepted (base64 text).
const MAX_BASIC_LEN: usize = 1024;

/// The username and password of an `Authorization: Basic …` header; `None` without one.
/// A malformed one is an error (never echoed).
pub fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ApiError>> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bad = || ApiError::unauthorized("malformed Basic credentials");
    let rest = rest.trim();
    if rest.len() > MAX_BASIC_LEN {
        return Some(Err(bad()));
    }
    let decoded = data_encoding::BASE64
        .decode(rest.as_bytes())
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok());
    Some(match decoded.as_deref().and_then(|d| d.split_once(':')) {
        Some((user, pass)) if !user.is_empty() => Ok((user.to_string(), pass.to_string())),
        _ => Err(bad()),
    })
}

/// Authenticates Basic credentials: an operator account (any role) with the right password.
pub async fn authenticate_basic(
    state: &AppState,
    username: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let client_text = client.map(|c| c.to_string()).unwrap_or_default();
    let refuse = |details: &'static str| Row {
        actor: "anonymous".into(),
        action: "authenticate".into(),
        client: client_text.clone(),
        target: audit_target(username),
        details: details.into(),
    };
    let attempt = match state.throttle.reserve(username, &client_text) {
        Ok(a) => a,
        Err(wait) => {
            state
                .metrics
                .record_auth(AuthKind::Password, AuthOutcome::Throttled);
            audit_failure(state, refuse("Basic: throttled after repeated failures")).await;
            return Err(ApiError::throttled(retry_after_secs(wait)));
        }
    };
    let ctx = state.ctx("anonymous", &client_text);
    match basic_check(&ctx, username, password, client).await {
        Ok(user) if !user.roles.is_empty() => {
            attempt.succeeded();
            state
                .metrics
                .record_auth(AuthKind::Password, AuthOutcome::Success);
            Ok(Caller {
                actor: format!("user:{}", user.username),
                username: user.username,
                roles: user.roles,
                via: AuthVia::Basic,
            })
        }
        Ok(_) => {
            attempt.succeeded();
            state
                .metrics
                .record_auth(AuthKind::Password, AuthOutcome::Failure);
            audit_failure(state, refuse("Basic: not an operator account")).await;
            Err(ApiError::forbidden(
                "HTTP Basic authentication is for operator accounts",
            ))
        }
        // Basic carries no second factor, so it never opens a challenge; were one opened, it is
        // a refusal like any other.
        Err(refusal @ (LoginError::Refused(_) | LoginError::Challenge(_))) => {
            drop(attempt);
            state
                .metrics
                .record_auth(AuthKind::Password, AuthOutcome::Failure);
            let credential = matches!(refusal, LoginError::Refused(r) if r.is_credential_failure());
            let details = match credential {
                true => "Basic: invalid username or password",
                false => "Basic: refused by the account's rules or second factor",
            };
            audit_failure(state, refuse(details)).await;
            Err(ApiError::unauthorized("invalid username or password"))
        }
        Err(LoginError::Failed(e)) => {
            attempt.not_a_guess();
            Err(e.into())
        }
    }
}
