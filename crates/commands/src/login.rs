//! Password login and self-registration: the logic behind `POST /auth/login` and
//! `POST /auth/register` (the HTTP layer only translates). Every attempt is audited with the real
//! reason; callers show clients one generic refusal. Throttling of failures is the transport's
//! job (it is per node and in memory).

use std::net::IpAddr;
use std::sync::OnceLock;

use keyward_core::password::{Argon2Params, hash_password, needs_upgrade, verify_password};
use keyward_core::user::{AccessDenial, AccessRules, LoginMethod, check_access};
use keyward_store::login_tx::HashUpgrade;
use keyward_store::sessions::NewSession;
use keyward_store::users::User;
use zeroize::Zeroizing;

use crate::context::Ctx;
use crate::output::CommandError;
use crate::validate::CheckOutcome;

/// A login attempt as the transport saw it.
#[derive(Clone, Debug)]
pub struct LoginRequest<'a> {
    pub username: &'a str,
    pub password: &'a str,
    /// The second factor (token PIN + OTP), needed when the user has an active token; for a
    /// challenge-response token its PIN (opens the challenge) or, with `transaction_id`, the OTP.
    pub otp: Option<&'a str>,
    /// The challenge being answered.
    pub transaction_id: Option<&'a str>,
    pub client: Option<IpAddr>,
    pub user_agent: &'a str,
    /// `http`, `radius`, `api` (shown by `connections`).
    pub protocol: &'a str,
}

/// A successful login: the bearer token is shown once and stored only hashed.
#[derive(Clone, Debug)]
pub struct LoginSuccess {
    pub token: String,
    pub session_id: String,
    pub expires_at: i64,
    pub username: String,
}

/// Why a login was refused (for the audit log and metrics, never for the client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginRefusal {
    UnknownUser,
    WrongPassword,
    /// The stored hash cannot be verified (unsupported or malformed scheme).
    UnusableHash,
    Access(AccessDenial),
    TooManySessions,
    /// The user has an active token and no OTP was given.
    OtpRequired,
    /// The OTP (with the token PIN) was refused.
    WrongOtp,
}

impl LoginRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginRefusal::UnknownUser => "unknown user",
            LoginRefusal::WrongPassword => "wrong password",
            LoginRefusal::UnusableHash => "stored password hash cannot be verified",
            LoginRefusal::Access(d) => d.as_str(),
            LoginRefusal::TooManySessions => "too many sessions (max_sessions reached)",
            LoginRefusal::OtpRequired => "second factor required: no OTP given",
            LoginRefusal::WrongOtp => "second factor refused",
        }
    }

    /// Whether the refusal means wrong credentials. The HTTP throttle counts every refusal, not
    /// only these: a right password refused for any other reason (second factor missing, policy)
    /// must change the counters exactly as a wrong one does, or they would reveal it.
    pub fn is_credential_failure(self) -> bool {
        matches!(
            self,
            LoginRefusal::UnknownUser
                | LoginRefusal::WrongPassword
                | LoginRefusal::UnusableHash
                | LoginRefusal::WrongOtp
        )
    }
}

/// A login that stopped at an open challenge: the password was right, the second factor is an
/// e-mail, SMS or OCRA token, and the OTP it delivers (or computes) completes the next attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginChallenge {
    pub transaction_id: String,
    pub message: String,
    /// The OCRA question, for ocra2 tokens.
    pub challenge: Option<String>,
}

/// The outcome of a login that did not open a session.
#[derive(Debug)]
pub enum LoginError {
    Refused(LoginRefusal),
    /// Not refused yet: a challenge was opened (see [`LoginChallenge`]).
    Challenge(LoginChallenge),
    Failed(CommandError),
}

impl From<CommandError> for LoginError {
    fn from(e: CommandError) -> Self {
        LoginError::Failed(e)
    }
}

/// A client-chosen name as an audit target: cut to a sane length (real usernames are at most
/// 150 characters).
pub fn audit_target(name: &str) -> String {
    name.chars().take(200).collect()
}

/// A hash to verify against when the user does not exist, so that unknown and known users take
/// the same time.
fn dummy_hash(params: &Argon2Params) -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("keyward-timing-equaliser", params).ok())
        .as_deref()
}

/// Checks a username and password and opens a session. Audited as `login` (target: the
/// username as given) with the reason on refusal.
pub async fn password_login(ctx: &Ctx, req: &LoginRequest<'_>) -> Result<LoginSuccess, LoginError> {
    let result = try_login(ctx, req).await;
    if let Err(LoginError::Failed(CommandError::Overloaded(_))) = &result {
        // Refused before the password was checked: logged by the hashing limiter, not audited
        // (a flood would otherwise write one row per refusal).
        return result;
    }
    let (ok, details, actor) = match &result {
        Ok(s) => (
            true,
            format!("session {}", s.session_id),
            format!("user:{}", s.username),
        ),
        Err(LoginError::Refused(r)) => (false, r.as_str().to_string(), ctx.actor.clone()),
        Err(LoginError::Challenge(c)) => (
            false,
            format!("second factor: challenge {} opened", c.transaction_id),
            ctx.actor.clone(),
        ),
        Err(LoginError::Failed(e)) => (false, format!("error: {e}"), ctx.actor.clone()),
    };
    let mut audit_ctx = ctx.clone();
    audit_ctx.actor = actor;
    audit_ctx
        .audit("login", &audit_target(req.username), ok, &details)
        .await?;
    result
}

/// HTTP Basic authentication of an operator on the REST API: the same password check and access
/// rules as a login (through the bounded hashing), no session. An account with an active token
/// is refused: Basic carries no second factor. Not audited on success (a bearer request is not
/// either); the transport audits and throttles failures.
pub async fn basic_check(
    ctx: &Ctx,
    username: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<User, LoginError> {
    let req = LoginRequest {
        username,
        password,
        otp: None,
        transaction_id: None,
        client,
        user_agent: "",
        protocol: "basic",
    };
    let user = check_password(ctx, &req).await?;
    let tokens = ctx
        .store()
        .tokens_of_owner(&user.id)
        .await
        .map_err(CommandError::from)?;
    if tokens.iter().any(|t| t.active) {
        return Err(LoginError::Refused(LoginRefusal::OtpRequired));
    }
    let params = ctx.settings().argon2_params();
    if let Some(new) = upgraded_hash(ctx, &user, password, params).await {
        let upgrade = HashUpgrade {
            old: &user.password_hash,
            new: &new,
        };
        let done = ctx
            .store()
            .commit_login(&user.id, Some(upgrade), None, ctx.now())
            .await
            .map_err(CommandError::from)?;
        note_upgrade(&user, done.upgraded);
    }
    Ok(user)
}

/// The user, when the password is right and the access rules let them in now.
async fn check_password(ctx: &Ctx, req: &LoginRequest<'_>) -> Result<User, LoginError> {
    let params = ctx.settings().argon2_params();
    // An unknown realm is an unknown user here (same answer, same time).
    let found = match crate::realms::find_user_or_adopt(ctx, req.username).await {
        Err(CommandError::NotFound(_)) => None,
        other => other?,
    };
    let Some((user, source)) = found else {
        // Through the same bounded hashing as a real check, so an unknown user costs the same.
        let password = Zeroizing::new(req.password.to_string());
        ctx.shared
            .hashing
            .run(move || {
                if let Some(h) = dummy_hash(&params) {
                    let _ = verify_password(&password, h);
                }
            })
            .await?;
        return Err(LoginError::Refused(LoginRefusal::UnknownUser));
    };
    let verified = if source.is_internal() {
        ctx.shared
            .hashing
            .verify(req.password, &user.password_hash)
            .await?
    } else {
        // A shadow user's password lives in its resolver (an LDAP bind, the passwd file).
        Ok(crate::realms::check_resolver_password(ctx, &user, &source, req.password).await?)
    };
    match verified {
        Ok(true) => {}
        Ok(false) => return Err(LoginError::Refused(LoginRefusal::WrongPassword)),
        Err(e) => {
            tracing::warn!(user = %user.username, error = %e, "stored password hash unusable");
            return Err(LoginError::Refused(LoginRefusal::UnusableHash));
        }
    }
    check_user_access(&user, ctx.now(), req.client, LoginMethod::Password)
        .map_err(|d| LoginError::Refused(LoginRefusal::Access(d)))?;
    Ok(user)
}

async fn try_login(ctx: &Ctx, req: &LoginRequest<'_>) -> Result<LoginSuccess, LoginError> {
    let params = ctx.settings().argon2_params();
    let user = check_password(ctx, req).await?;
    let now = ctx.now();
    if user.max_sessions > 0 {
        let open = ctx
            .store()
            .count_user_sessions(&user.id, now)
            .await
            .map_err(CommandError::from)?;
        if open >= user.max_sessions {
            return Err(LoginError::Refused(LoginRefusal::TooManySessions));
        }
    }
    second_factor(ctx, &user, req).await?;
    let upgraded = upgraded_hash(ctx, &user, req.password, params).await;
    let token =
        keyward_core::random::token_string().map_err(|e| CommandError::Internal(e.to_string()))?;
    let ttl = i64::try_from(ctx.settings().session_ttl).unwrap_or(i64::MAX);
    let expires_at = now.saturating_add(ttl);
    let remote_addr = req.client.map(|c| c.to_string()).unwrap_or_default();
    let session = NewSession {
        user_id: &user.id,
        token: &token,
        protocol: req.protocol,
        remote_addr: &remote_addr,
        user_agent: req.user_agent,
        now,
        expires_at,
    };
    let upgrade = upgraded.as_deref().map(|new| HashUpgrade {
        old: &user.password_hash,
        new,
    });
    let done = ctx
        .store()
        .commit_login(&user.id, upgrade, Some(&session), now)
        .await
        .map_err(CommandError::from)?;
    note_upgrade(&user, done.upgraded);
    let session_id = done
        .session_id
        .ok_or_else(|| CommandError::Internal("login committed without its session".into()))?;
    Ok(LoginSuccess {
        token,
        session_id,
        expires_at,
        username: user.username.into_string(),
    })
}

/// When the user has an active token, the login needs its OTP (PIN + OTP), checked — and used
/// up — exactly as `/validate/check` does. A challenge-response token's PIN opens a challenge
/// (an e-mail or SMS token without a PIN opens one when no OTP is given); its OTP answers it
/// together with the transaction id.
async fn second_factor(ctx: &Ctx, user: &User, req: &LoginRequest<'_>) -> Result<(), LoginError> {
    let tokens = ctx
        .store()
        .tokens_of_owner(&user.id)
        .await
        .map_err(CommandError::from)?;
    if !tokens.iter().any(|t| t.active) {
        return Ok(());
    }
    let transaction_id = req.transaction_id.filter(|t| !t.is_empty());
    let mut check = crate::validate::CheckRequest {
        user: Some(user.username.to_string()),
        transaction_id: transaction_id.map(String::from),
        client: req.client,
        ..Default::default()
    };
    match req.otp.filter(|o| !o.is_empty()) {
        Some(otp) => check.pass = otp.to_string(),
        None if transaction_id.is_none() => {
            // Only a PIN-less e-mail/SMS token is triggered by an empty pass; checking the
            // other tokens with one would count a failure on each.
            let Some(t) = tokens
                .iter()
                .find(|t| t.active && t.pin_hash.is_empty() && crate::validate::delivers(t))
            else {
                return Err(LoginError::Refused(LoginRefusal::OtpRequired));
            };
            check.serial = Some(t.serial.to_string());
        }
        None => return Err(LoginError::Refused(LoginRefusal::OtpRequired)),
    }
    match crate::validate::check(ctx, &check).await? {
        CheckOutcome::Accepted { .. } => Ok(()),
        CheckOutcome::Challenge {
            transaction_id,
            message,
            challenge,
            ..
        } => Err(LoginError::Challenge(LoginChallenge {
            transaction_id,
            message,
            challenge,
        })),
        CheckOutcome::Rejected { .. } => Err(LoginError::Refused(LoginRefusal::WrongOtp)),
    }
}

/// The access rules of a user record for `method` (expiry, status, networks, denied methods).
pub fn check_user_access(
    user: &User,
    now: i64,
    client: Option<IpAddr>,
    method: LoginMethod,
) -> Result<(), AccessDenial> {
    let rules = AccessRules {
        active: user.active,
        expires_at: user.expires_at,
        allowed_networks: &user.allowed_networks,
        denied_networks: &user.denied_networks,
        denied_login_methods: &user.denied_login_methods,
    };
    check_access(&rules, now, client, method)
}

/// The Argon2id successor of an imported (or weaker) stored hash, computed behind the hashing
/// limit after the password was accepted; `None` when the hash needs no upgrade or re-hashing
/// failed (logged, not fatal: the user is in, the old hash still works). The caller stores it
/// in the login's own transaction.
async fn upgraded_hash(
    ctx: &Ctx,
    user: &User,
    password: &str,
    params: Argon2Params,
) -> Option<String> {
    if crate::realms::directory::is_shadow_hash(&user.password_hash)
        || !needs_upgrade(&user.password_hash, &params)
    {
        return None;
    }
    match ctx.shared.hashing.hash(password, params).await {
        Ok(hash) => Some(hash),
        Err(e) => {
            tracing::warn!(user = %user.username, error = %e, "password re-hash failed");
            None
        }
    }
}

fn note_upgrade(user: &User, upgraded: bool) {
    if upgraded {
        tracing::info!(user = %user.username, "password hash upgraded to argon2id");
    }
}

/// Whether self-registration is on: `registration_enabled` when set, else on (Deis: until an
/// operator turns it off). It never makes the first account, see [`register`].
pub async fn registration_open(ctx: &Ctx) -> Result<bool, CommandError> {
    Ok(crate::runtime_config::get_bool(ctx, "registration_enabled")
        .await?
        .unwrap_or(true))
}

/// The answer to self-registration while no account exists.
pub const FIRST_USER_AT_CONSOLE: &str =
    "no user exists yet: create the first administrator with `keyward manage createuser`";

/// Self-registration (`POST /auth/register`): the same user creation as `createuser`, allowed
/// only while registration is open. Audited as `register`.
pub async fn register(
    ctx: &Ctx,
    username: &str,
    password: &str,
    email: &str,
) -> Result<User, CommandError> {
    let result = async {
        if ctx.store().count_users().await? == 0 {
            return Err(CommandError::Forbidden(FIRST_USER_AT_CONSOLE.into()));
        }
        if !registration_open(ctx).await? {
            return Err(CommandError::Forbidden("registration is disabled".into()));
        }
        let (tx, user) = crate::users::create_user_account(ctx, username, password, email).await?;
        let details = if user.roles.is_empty() {
            "registered".to_string()
        } else {
            format!("registered with roles {}", user.roles)
        };
        // The account and its audit row commit together.
        ctx.commit_audit_as(tx, "register", &audit_target(username), &details)
            .await?;
        Ok(user)
    }
    .await;
    if let Err(e) = &result {
        ctx.audit("register", &audit_target(username), false, &e.to_string())
            .await?;
    }
    result
}
