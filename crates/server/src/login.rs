//! `POST /auth/login`, `POST /auth/logout`, `POST /auth/register`: thin adapters over
//! `keyward_commands::login`, plus this node's failed-login throttle (see [`crate::throttle`]).
//! Every refusal looks the same to the client (401, one generic message); the audit row says why.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_commands::login::{
    LoginError, LoginRequest, audit_target, password_login, register as register_user,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit_coalesce::{Row, audit_failure};
use crate::auth::{AuthVia, Authenticated, ClientAddr};
use crate::error::{ApiError, ApiJson};
use crate::metrics::{AuthKind, AuthOutcome};
use crate::throttle::retry_after_secs;
use keyward_proto::{
    LoginBody, LoginChallenge, LoginResponse, RegisterBody, StatusMessage, UserInfo,
};

/// The one answer to every refused login.
const REFUSED: &str = "invalid username or password";
/// Longest user agent kept with a session.
const MAX_USER_AGENT: usize = 256;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(register))
}

fn user_agent(headers: &HeaderMap) -> String {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(MAX_USER_AGENT).collect())
        .unwrap_or_default()
}

/// Log in with a username and password; returns a bearer token.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = LoginResponse),
        (status = 202, description = "Password right, challenge opened (e-mail/SMS sent, OCRA \
            question given): log in again with the OTP and `transaction_id`", body = LoginChallenge),
        (status = 400, description = "Malformed request", body = StatusMessage),
        (status = 401, description = "Refused (same answer for every reason)", body = StatusMessage),
        (status = 413, description = "Body too large", body = StatusMessage),
        (status = 415, description = "Not JSON", body = StatusMessage),
        (status = 429, description = "Too many failures; see Retry-After", body = StatusMessage,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let client_text = client.text();
    let ctx = state.ctx("anonymous", &client_text);
    // Reserve the attempt before anything is verified: concurrent guesses cannot all pass the
    // check, and the answer while blocked does not depend on the password.
    let attempt = match state.throttle.reserve(&body.username, &client_text) {
        Ok(attempt) => attempt,
        Err(wait) => {
            state
                .metrics
                .record_auth(AuthKind::Password, AuthOutcome::Throttled);
            audit_failure(
                &state,
                Row {
                    actor: "anonymous".into(),
                    action: "login".into(),
                    client: client_text.clone(),
                    target: audit_target(&body.username),
                    details: "throttled after repeated failures".into(),
                },
            )
            .await;
            return Err(ApiError::throttled(retry_after_secs(wait)));
        }
    };
    let agent = user_agent(&headers);
    let req = LoginRequest {
        username: &body.username,
        password: &body.password,
        otp: body.otp.as_deref(),
        transaction_id: body.transaction_id.as_deref(),
        client: client.0,
        user_agent: &agent,
        protocol: "http",
    };
    match password_login(&ctx, &req).await {
        Ok(ok) => {
            attempt.succeeded();
            state
                .metrics
                .record_auth(AuthKind::Password, AuthOutcome::Success);
            Ok(Json(LoginResponse {
                token: ok.token,
                expires_at: ok.expires_at,
                username: ok.username,
            })
            .into_response())
        }
        Err(LoginError::Challenge(c)) => {
            // Counted as a failure until the challenge is answered: opening challenges (and
            // sending mail) is throttled like guessing.
            drop(attempt);
            state
                .metrics
                .record_auth(AuthKind::Password, AuthOutcome::Failure);
            let body = LoginChallenge {
                transaction_id: c.transaction_id,
                message: c.message,
                challenge: c.challenge,
            };
            Ok((StatusCode::ACCEPTED, Json(body)).into_response())
        }
        Err(LoginError::Refused(_)) => {
            // Every refusal stays counted — a right password without its second factor too —
            // so the counters never tell whether the password was right.
            drop(attempt);
            state
                .metrics
                .record_auth(AuthKind::Password, AuthOutcome::Failure);
            Err(ApiError::unauthorized(REFUSED))
        }
        Err(LoginError::Failed(e)) => {
            attempt.not_a_guess();
            Err(e.into())
        }
    }
}

/// End the session whose bearer token is presented.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Logged out", body = StatusMessage),
        (status = 401, description = "No live session token presented", body = StatusMessage),
    )
)]
async fn logout(
    State(state): State<AppState>,
    client: ClientAddr,
    auth: Result<Authenticated, ApiError>,
) -> Result<Json<StatusMessage>, ApiError> {
    let Ok(Authenticated(caller)) = auth else {
        return Err(ApiError::unauthorized("invalid token"));
    };
    if !matches!(caller.via, AuthVia::Session(_)) {
        return Err(ApiError::unauthorized("no login session presented"));
    }
    let ctx = caller.ctx(&state, &client);
    state.registry.run(&ctx, &["logout".to_string()]).await?;
    Ok(Json(StatusMessage::ok("Logged out")))
}

/// Self-registration, open while the runtime config `registration_enabled` allows it (by
/// default only while no user exists; the first user becomes superuser).
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "User created", body = UserInfo),
        (status = 400, description = "Invalid username, password or email", body = StatusMessage),
        (status = 403, description = "Registration is disabled", body = StatusMessage),
        (status = 409, description = "User exists", body = StatusMessage),
        (status = 415, description = "Not JSON", body = StatusMessage),
    )
)]
async fn register(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<UserInfo>), ApiError> {
    let ctx = state.ctx("anonymous", &client.text());
    let user = register_user(&ctx, &body.username, &body.password, &body.email).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserInfo {
            username: user.username.into_string(),
            email: user.email,
            roles: user.roles.iter().map(|r| r.as_str().to_string()).collect(),
        }),
    ))
}
