//! Who is calling: resolves `Authorization: Bearer TOKEN` (or a raw `Authorization: TOKEN`, the
//! pi-manage style) to a login session or an API key (or, on the REST API, `Basic` credentials of
//! an operator account, see [`crate::basic_auth`]), and re-checks the user's access rules on
//! every request, so disabling a user or re-issuing their token takes effect at once.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use keyward_commands::access::Principal;
use keyward_core::user::{AccessRules, LoginMethod, Role, Roles, check_access};
use keyward_proto::{ApiKeyId, SessionId, Username};

use crate::AppState;
pub use crate::client_addr::{ClientAddr, client_ip, request_client_ip, resolve_client};
use crate::error::ApiError;
pub use crate::error::AuthError;
use crate::metrics::{AuthKind, AuthOutcome};

/// A session's `last_activity` is refreshed at most this often.
const TOUCH_EVERY_SECS: i64 = 60;

/// How the caller authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthVia {
    /// A login session (its id).
    Session(SessionId),
    /// An API key (its id) with its role: `admin` or `validate`.
    ApiKey { id: ApiKeyId, role: String },
    /// HTTP Basic credentials of an operator account (see [`crate::basic_auth`]).
    Basic,
    /// LinOTP's `admin_session` cookie on `/admin/*` (see [`crate::linotp::admin_session`]).
    AdminCookie,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Audit actor, e.g. `user:alice` or `apikey:3f2a…`.
    pub actor: String,
    pub username: Username,
    pub roles: Roles,
    pub via: AuthVia,
}

impl Caller {
    /// A command context acting as this caller: the registry checks its roles and targets.
    pub fn ctx(&self, state: &AppState, client: &ClientAddr) -> keyward_commands::Ctx {
        keyward_commands::Ctx::new(state.shared.clone(), self.actor.clone(), client.text())
            .with_principal(self.principal())
    }

    /// The principal the command registry checks access and targets against.
    pub fn principal(&self) -> Principal {
        Principal::Account {
            username: self.username.clone(),
            roles: self.roles.clone(),
            session: match &self.via {
                AuthVia::Session(id) => Some(id.clone()),
                AuthVia::ApiKey { .. } | AuthVia::Basic | AuthVia::AdminCookie => None,
            },
        }
    }
}

/// The presented secret: `Bearer X`, `Token X` is NOT accepted here (that is the management key),
/// a bare `X` is (pi-manage sends API keys raw).
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None => value,
    };
    (!token.is_empty()).then_some(token)
}

/// Authenticates a request by its Authorization header.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
) -> Result<Caller, AuthError> {
    let token = presented_token(headers).ok_or(AuthError::Missing)?;
    let store = &state.shared.store;
    let now = state.shared.clock.now();
    if let Some(session) = store
        .session_by_token(token, now)
        .await
        .map_err(|_| AuthError::Unavailable)?
    {
        let user = store
            .get_user_by_id(&session.user_id)
            .await
            .map_err(|_| AuthError::Unavailable)?
            .ok_or(AuthError::Invalid)?;
        let rules = AccessRules {
            active: user.active,
            expires_at: user.expires_at,
            allowed_networks: &user.allowed_networks,
            denied_networks: &user.denied_networks,
            denied_login_methods: &[],
        };
        check_access(&rules, now, client, LoginMethod::Password).map_err(|_| AuthError::Invalid)?;
        // Keep `connections` honest without a write on every request.
        if now - session.last_activity >= TOUCH_EVERY_SECS {
            let _ = store.touch_session(&session.id, now).await;
        }
        return Ok(Caller {
            actor: format!("user:{}", user.username),
            username: user.username,
            roles: user.roles,
            via: AuthVia::Session(session.id),
        });
    }
    if let Some(key) = store
        .api_key_by_secret(token, now)
        .await
        .map_err(|_| AuthError::Unavailable)?
    {
        // An admin key acts with role admin (and, made for an account, as that account). A key
        // made for an account lives only as long as that account (by id: a new account of the same name does not inherit it) and obeys
        // its access rules; a service key (pi-manage without -u) belongs to no account.
        let mut roles = Roles::default();
        if key.role == "admin" {
            roles.insert(Role::Admin);
        }
        if let Some(owner_id) = &key.owner_id {
            let user = store
                .get_user_by_id(owner_id)
                .await
                .map_err(|_| AuthError::Unavailable)?
                .ok_or(AuthError::Invalid)?;
            let methods = user.denied_login_methods.clone();
            let rules = AccessRules {
                active: user.active,
                expires_at: user.expires_at,
                allowed_networks: &user.allowed_networks,
                denied_networks: &user.denied_networks,
                denied_login_methods: &methods,
            };
            check_access(&rules, now, client, LoginMethod::ApiKey)
                .map_err(|_| AuthError::Invalid)?;
            // It acts as its account: with the account's roles besides its own.
            if key.role == "admin" {
                for role in user.roles.iter() {
                    roles.insert(role);
                }
            }
        }
        return Ok(Caller {
            actor: format!("apikey:{}", key.id),
            username: key.username,
            roles,
            via: AuthVia::ApiKey {
                id: key.id,
                role: key.role,
            },
        });
    }
    Err(AuthError::Invalid)
}

/// An authenticated caller for the REST API: a login session or an `admin` API key (`validate`
/// keys only open `/validate/*`). Failed presentations of a token are audited, repeats from one
/// address coalesced into one row per interval (see [`crate::audit_coalesce`]).
#[derive(Clone, Debug)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = client_ip(parts);
        if let Some(basic) = crate::basic_auth::basic_credentials(&parts.headers) {
            let (user, password) = basic?;
            return crate::basic_auth::authenticate_basic(state, &user, &password, client)
                .await
                .map(Authenticated);
        }
        match authenticate(state, &parts.headers, client).await {
            Ok(caller) => {
                let kind = match caller.via {
                    AuthVia::Session(_) => AuthKind::Session,
                    AuthVia::ApiKey { .. } => AuthKind::ApiKey,
                    AuthVia::Basic => AuthKind::Password,
                    AuthVia::AdminCookie => AuthKind::AdminSession,
                };
                if let AuthVia::ApiKey { role, .. } = &caller.via
                    && role != "admin"
                {
                    state.metrics.record_auth(kind, AuthOutcome::Failure);
                    return Err(ApiError::forbidden(
                        "validate API keys only open /validate/*",
                    ));
                }
                state.metrics.record_auth(kind, AuthOutcome::Success);
                Ok(Authenticated(caller))
            }
            Err(e) => {
                if e == AuthError::Invalid {
                    state
                        .metrics
                        .record_auth(AuthKind::Session, AuthOutcome::Failure);
                    crate::audit_coalesce::audit_failure(
                        state,
                        crate::audit_coalesce::Row {
                            actor: "anonymous".into(),
                            action: "authenticate".into(),
                            client: client.map(|c| c.to_string()).unwrap_or_default(),
                            target: String::new(),
                            details: "invalid, expired or revoked token".into(),
                        },
                    )
                    .await;
                }
                Err(e.into())
            }
        }
    }
}

/// For `/validate/*`: the id of the live `validate` API key the request carries (Bearer or raw
/// `Authorization`), if any. Required when the `api_key_required` policy is on; otherwise it only
/// names the caller in the audit log.
pub async fn validate_key(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let Some(token) = presented_token(headers) else {
        state
            .metrics
            .record_auth(AuthKind::ApiKey, AuthOutcome::Failure);
        return None;
    };
    let now = state.shared.clock.now();
    let id = match state.shared.store.api_key_by_secret(token, now).await {
        Ok(Some(key)) if key.role == "validate" => Some(key.id.into()),
        _ => None,
    };
    let outcome = if id.is_some() {
        AuthOutcome::Success
    } else {
        AuthOutcome::Failure
    };
    state.metrics.record_auth(AuthKind::ApiKey, outcome);
    id
}
