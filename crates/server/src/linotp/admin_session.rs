//! LinOTP's admin session on `/admin/*`: `GET|POST /admin/getsession` sets an `admin_session`
//! cookie, and a caller authenticated by that cookie must send its value as the `session`
//! parameter with every request (LinOTP's guard against cross-site requests). This is how
//! LinOTP's own admin client (`linotpadm.py`, LinOTPAdminClientCLI) talks.
//!
//! The cookie is stateless: `USERID.EXPIRES.NONCE.MAC`, where MAC is HMAC-SHA256 under the
//! server's `secret_key` over the other fields and the account's current password hash — so it
//! works on every node sharing the server keys, lives [`LIFETIME_SECS`], and dies at once when
//! the password changes. Every request re-reads the account (active, expiry, networks, roles).
//! Only callers who authenticated with a password (HTTP Basic) or with a cookie get one; bearer
//! callers keep using their token.
//!
//! Authentication on `/admin/*` ([`AdminAuth`]): an `Authorization` header wins (Basic, Bearer
//! or a raw API key, as on the REST API); without one, a valid cookie; otherwise 401 with
//! `WWW-Authenticate: Basic realm="keyward"` (added by [`challenge`]), which makes urllib-style
//! clients retry with their Basic credentials. HTTP Digest is not offered: it needs a reversible
//! password, and keyward keeps only Argon2id hashes.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use keyward_core::user::{AccessRules, LoginMethod, check_access};
use keyward_proto::{UserId, Username};
use serde_json::Value;
use subtle::ConstantTimeEq;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{LinotpEnvelope, LinotpError, Success};
use super::params::LinotpParams;
use crate::AppState;
use crate::auth::{AuthVia, Authenticated, Caller, client_ip};
use crate::metrics::{AuthKind, AuthOutcome};

/// The cookie's name (LinOTP's).
pub const COOKIE: &str = "admin_session";
/// How long a cookie is good for.
pub const LIFETIME_SECS: i64 = 600;
/// The `WWW-Authenticate` challenge of `/admin/*`.
pub const CHALLENGE: &str = "Basic realm=\"keyward\"";
/// Longest cookie value looked at.
const MAX_COOKIE_LEN: usize = 256;
/// What the MAC is computed over, before the fields (separates it from any other use of the key).
const MAC_LABEL: &[u8] = b"keyward linotp admin_session v1";

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How an `/admin/*` caller authenticated.
#[derive(Clone, Debug)]
pub enum AdminAuth {
    /// By its `Authorization` header.
    Header(Caller),
    /// By the `admin_session` cookie, whose value the request's `session` must repeat.
    Cookie { caller: Caller, value: String },
}

impl AdminAuth {
    pub fn caller(&self) -> &Caller {
        match self {
            AdminAuth::Header(c) | AdminAuth::Cookie { caller: c, .. } => c,
        }
    }

    /// LinOTP's session check: a cookie caller's `session` parameter must equal the cookie.
    pub fn check_session(&self, session: Option<&Value>) -> Result<(), LinotpError> {
        let AdminAuth::Cookie { value, .. } = self else {
            return Ok(());
        };
        let given = match session {
            Some(Value::String(s)) => s.as_str(),
            _ => "",
        };
        if given.is_empty() {
            return Err(LinotpError::forbidden(
                "no session: send the admin_session cookie's value as the 'session' parameter",
            ));
        }
        if !bool::from(given.as_bytes().ct_eq(value.as_bytes())) {
            return Err(LinotpError::forbidden(
                "the 'session' parameter does not match the admin_session cookie",
            ));
        }
        Ok(())
    }
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = LinotpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
            let scheme = auth.to_str().unwrap_or_default().trim_start();
            if scheme
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("digest "))
            {
                return Err(LinotpError::unauthenticated(
                    "HTTP Digest is not offered (it needs a reversible password): use HTTP Basic \
                     (linotpadm.py --authtype=Basic) or a bearer token",
                ));
            }
        } else if let Some(value) = cookie_value(&parts.headers) {
            return match verify(state, &value, client_ip(parts)).await {
                Some(caller) => {
                    state
                        .metrics
                        .record_auth(AuthKind::AdminSession, AuthOutcome::Success);
                    Ok(AdminAuth::Cookie { caller, value })
                }
                None => {
                    state
                        .metrics
                        .record_auth(AuthKind::AdminSession, AuthOutcome::Failure);
                    Err(LinotpError::unauthenticated(
                        "the admin session is expired or invalid: authenticate again",
                    ))
                }
            };
        }
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state)
            .await
            .map_err(LinotpError::from)?;
        Ok(AdminAuth::Header(caller))
    }
}

/// Adds the Basic challenge to a 401 answer.
pub fn challenge(mut resp: Response) -> Response {
    if resp.status() == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(CHALLENGE),
        );
    }
    resp
}

/// The `/admin/getsession` route (GET and POST), documented.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(getsession_get, getsession_post))
}

/// Answers `value: true`; to a caller who authenticated with HTTP Basic or with a cookie it also
/// sets a fresh `admin_session` cookie.
async fn getsession(
    state: AppState,
    auth: Result<AdminAuth, LinotpError>,
    params: Result<LinotpParams, LinotpError>,
) -> Result<Response, LinotpError> {
    let auth = auth?;
    let params = params?;
    auth.check_session(params.map.get("session"))?;
    let for_account = match &auth {
        AdminAuth::Cookie { caller, .. } => Some(caller),
        AdminAuth::Header(caller) if caller.via == AuthVia::Basic => Some(caller),
        AdminAuth::Header(_) => None,
    };
    let mut resp = Success::new(Value::Bool(true), None).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(caller) = for_account
        && let Some(value) = issue(&state, &caller.username)
            .await
            .map_err(|e| e.with_httperror(params.httperror))?
        && let Some(cookie) = set_cookie(&state, &value)
    {
        resp.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(resp)
}

/// The answers of `/admin/getsession` (GET and POST alike), for the OpenAPI document; the
/// handlers answer with the LinOTP envelope, never with this enum.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum GetsessionAnswers {
    /// `value: true`, with the `admin_session` cookie
    #[response(status = 200)]
    Session(LinotpEnvelope),
    /// Not authenticated (code -311), with `WWW-Authenticate: Basic realm="keyward"`
    #[response(status = 401)]
    NotAuthenticated(LinotpEnvelope),
    /// A cookie without its `session` parameter (code -311)
    #[response(status = 403)]
    Forbidden(LinotpEnvelope),
}

/// LinOTP's `getsession`: `{"result": {"status": true, "value": true}}` and, for HTTP Basic or
/// cookie callers, `Set-Cookie: admin_session=…` (HttpOnly, SameSite=Strict, Path=/admin,
/// 10 minutes). Afterwards, a request that authenticates with the cookie must repeat its value
/// as the `session` parameter.
#[utoipa::path(
    get,
    path = "/admin/getsession",
    tag = "linotp",
    operation_id = "linotp_admin_getsession_get",
    security(("basic" = []), ("admin_session" = []), ("bearer" = [])),
    responses(GetsessionAnswers)
)]
async fn getsession_get(
    State(state): State<AppState>,
    auth: Result<AdminAuth, LinotpError>,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    challenge(
        getsession(state, auth, params)
            .await
            .unwrap_or_else(IntoResponse::into_response),
    )
}

/// LinOTP's `getsession` with a POST (as [`getsession_get`]).
#[utoipa::path(
    post,
    path = "/admin/getsession",
    tag = "linotp",
    operation_id = "linotp_admin_getsession_post",
    security(("basic" = []), ("admin_session" = []), ("bearer" = [])),
    request_body(
        description = "Optional: `session` (for cookie callers)",
        content((Object = "application/x-www-form-urlencoded"), (Object = "application/json"))
    ),
    responses(GetsessionAnswers)
)]
async fn getsession_post(
    state: State<AppState>,
    auth: Result<AdminAuth, LinotpError>,
    params: Result<LinotpParams, LinotpError>,
) -> Response {
    getsession_get(state, auth, params).await
}

/// The `admin_session` cookie's value, if the request has one.
fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty() && v.len() <= MAX_COOKIE_LEN)
}

fn mac(key: &[u8], user_id: &str, expires: i64, nonce: &str, password_hash: &str) -> String {
    let Ok(mut m) = <HmacSha256 as KeyInit>::new_from_slice(key) else {
        return String::new();
    };
    for part in [
        MAC_LABEL,
        user_id.as_bytes(),
        expires.to_string().as_bytes(),
        nonce.as_bytes(),
        password_hash.as_bytes(),
    ] {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part);
    }
    data_encoding::BASE64URL_NOPAD.encode(&m.finalize().into_bytes())
}

/// A new cookie value for the account `username` (`None` when it does not exist).
pub async fn issue(state: &AppState, username: &str) -> Result<Option<String>, LinotpError> {
    let shared = &state.shared;
    let keys = shared.server_keys().await.map_err(LinotpError::from)?;
    let Some(user) = shared
        .store
        .find_user(&Username::from(username))
        .await
        .map_err(|e| LinotpError::from(keyward_commands::CommandError::from(e)))?
    else {
        return Ok(None);
    };
    let nonce = keyward_core::random::bytes::<16>()
        .map(|b| data_encoding::BASE64URL_NOPAD.encode(&b))
        .map_err(|e| LinotpError::from(keyward_commands::CommandError::Internal(e.to_string())))?;
    let expires = shared.clock.now() + LIFETIME_SECS;
    let mac = mac(
        &keys.secret_key,
        &user.id,
        expires,
        &nonce,
        &user.password_hash,
    );
    Ok(Some(format!("{}.{expires}.{nonce}.{mac}", user.id)))
}

/// The `Set-Cookie` header for a value: HttpOnly, SameSite=Strict, for `/admin` only, Secure
/// when keyward serves TLS itself.
pub fn set_cookie(state: &AppState, value: &str) -> Option<HeaderValue> {
    let secure = if state.shared.settings.tls_cert_file.is_some() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/admin; Max-Age={LIFETIME_SECS}; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

/// The operator account a cookie value stands for, if it is genuine, unexpired, and the account
/// may still sign in from `client`.
async fn verify(state: &AppState, value: &str, client: Option<std::net::IpAddr>) -> Option<Caller> {
    let mut fields = value.split('.');
    let (user_id, expires, nonce, given) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    if fields.next().is_some() {
        return None;
    }
    let expires: i64 = expires.parse().ok()?;
    let now = state.shared.clock.now();
    if expires <= now || expires > now + LIFETIME_SECS {
        return None;
    }
    let keys = state.shared.server_keys().await.ok()?;
    let user = state
        .shared
        .store
        .get_user_by_id(&UserId::from(user_id))
        .await
        .ok()??;
    let expected = mac(
        &keys.secret_key,
        &user.id,
        expires,
        nonce,
        &user.password_hash,
    );
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return None;
    }
    let rules = AccessRules {
        active: user.active,
        expires_at: user.expires_at,
        allowed_networks: &user.allowed_networks,
        denied_networks: &user.denied_networks,
        denied_login_methods: &user.denied_login_methods,
    };
    check_access(&rules, now, client, LoginMethod::Password).ok()?;
    if user.roles.is_empty() {
        return None;
    }
    Some(Caller {
        actor: format!("user:{}", user.username),
        username: user.username,
        roles: user.roles,
        via: AuthVia::AdminCookie,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; admin_session=xyz"),
        );
        assert_eq!(cookie_value(&h).as_deref(), Some("xyz"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("other_admin_session=1"),
        );
        assert_eq!(cookie_value(&h), None);
        h.append(header::COOKIE, HeaderValue::from_static("admin_session="));
        assert_eq!(cookie_value(&h), None);
    }

    #[test]
    fn the_mac_covers_every_field() {
        let base = mac(b"k", "u", 10, "n", "h");
        assert_eq!(base.len(), 43);
        for other in [
            mac(b"K", "u", 10, "n", "h"),
            mac(b"k", "v", 10, "n", "h"),
            mac(b"k", "u", 11, "n", "h"),
            mac(b"k", "u", 10, "m", "h"),
            mac(b"k", "u", 10, "n", "i"),
            // Length-prefixed: moving a byte between fields changes it.
            mac(b"k", "un", 10, "", "h"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn the_session_parameter_must_match_a_cookie() {
        let caller = Caller {
            actor: "user:a".into(),
            username: "a".into(),
            roles: Default::default(),
            via: AuthVia::AdminCookie,
        };
        let cookie = AdminAuth::Cookie {
            caller: caller.clone(),
            value: "abc".into(),
        };
        assert!(cookie.check_session(Some(&Value::from("abc"))).is_ok());
        for bad in [None, Some(Value::from("")), Some(Value::from("abd"))] {
            let e = cookie.check_session(bad.as_ref()).err();
            assert_eq!(e.map(|e| e.status), Some(StatusCode::FORBIDDEN));
        }
        // Header callers are not asked for one.
        assert!(AdminAuth::Header(caller).check_session(None).is_ok());
    }
}
