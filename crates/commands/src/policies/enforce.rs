//! Where policies change what keyward does — one small hook per place, each asking the cached
//! policy set ([`super::cache`]):
//! - [`api_key_required`]: `/validate/*` needs a validate API key (scope authorization);
//! - [`authentication`]: `otppin`, `passthru`, `lockout` for a validation (scope authentication),
//!   applied by `validate` through [`pin_right`], [`passthru`] and the token's lock check;
//! - [`enrollment_defaults`]: `otp_length`/`hashlib` of `token init` (scope enrollment);
//! - [`user_may`]: what a user may do for itself, e.g. `password` (scope user);
//! - [`check_admin_policy`]: which token actions an operator may run on which realm's tokens
//!   (scope admin), called by the registry for every changing command on every transport.
//!
//! Who a request is about is decided in [`user_subject`] / [`named_subject`]: the user's realm
//! and resolver come from there alone (the realm definitions, [`crate::realms`]).

use std::net::IpAddr;

use keyward_core::policy::{ADMIN_TOKEN_ACTIONS, AdminDecision, Scope, Subject};
use keyward_core::user::LoginMethod;
use keyward_proto::UserId;
use keyward_store::tokens::Token;
use keyward_store::users::User;

use crate::access::{Principal, Target};
use crate::context::Ctx;
use crate::login::check_user_access;
use crate::output::CommandError;
use crate::validate::CheckOutcome;

/// The subject of a known user: its realm and resolver as the realm definitions say
/// ([`crate::realms::realm_of_source`]).
pub async fn user_subject(
    ctx: &Ctx,
    user: &User,
    client: Option<IpAddr>,
) -> Result<Subject, CommandError> {
    let source = crate::realms::source_of_user(ctx, user).await?;
    let realms: Vec<String> = crate::realms::realm_of_source(ctx, &source)
        .await?
        .into_iter()
        .collect();
    Ok(Subject::new(
        Some(user.username.as_str()),
        &realms,
        Some(source.resolver.as_str()),
        client,
    ))
}

/// The subject of a request that names a user (`name`, `name@realm`, or `realm` apart) without
/// looking the user up: for checks made before any credential is read. `name@realm` splits only
/// where `realm` is a realm; otherwise the default realm is meant.
pub async fn named_subject(
    ctx: &Ctx,
    user: Option<&str>,
    realm: Option<&str>,
    client: Option<IpAddr>,
) -> Result<Subject, CommandError> {
    let defined = ctx.store().list_realms().await?;
    let default = crate::realms::default_of(ctx, &defined).unwrap_or_default();
    let realm_given = realm.map(str::trim).filter(|r| !r.is_empty());
    let (name, realm) = match (user.map(str::trim), realm_given) {
        (Some(u), Some(r)) => (Some(u), r.to_lowercase()),
        (Some(u), None) => match u.rsplit_once('@') {
            Some((n, r)) if !n.is_empty() && crate::realms::names_realm(ctx, &defined, r) => {
                (Some(n), r.to_lowercase())
            }
            _ => (Some(u), default),
        },
        (None, r) => (None, r.map(str::to_lowercase).unwrap_or(default)),
    };
    let realms: Vec<String> = std::iter::once(realm).filter(|r| !r.is_empty()).collect();
    Ok(Subject::new(name, &realms, None, client))
}

/// Whether an authorization policy makes `/validate/*` need a validate API key for this request.
pub async fn api_key_required(
    ctx: &Ctx,
    user: Option<&str>,
    realm: Option<&str>,
    client: Option<IpAddr>,
) -> Result<bool, CommandError> {
    let set = ctx.shared.policies.get(ctx).await?;
    if set.scope_is_empty(Scope::Authorization) {
        return Ok(false);
    }
    let s = named_subject(ctx, user, realm, client).await?;
    Ok(set.flag(Scope::Authorization, "api_key_required", &s))
}

/// Whether a user policy lets `user` do the self-service `action` (scope user: with no user
/// policy applying to the user, everything is allowed).
pub async fn user_may(
    ctx: &Ctx,
    user: &User,
    action: &str,
    client: Option<IpAddr>,
) -> Result<bool, CommandError> {
    let set = ctx.shared.policies.get(ctx).await?;
    if set.scope_is_empty(Scope::User) {
        return Ok(true);
    }
    let s = user_subject(ctx, user, client).await?;
    Ok(set.user_may(action, &s))
}

/// Which PIN the pass starts with (`otppin`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OtpPin {
    /// The token's own PIN (the default).
    #[default]
    TokenPin,
    /// The user's password.
    UserStore,
    /// No PIN: the pass is the OTP alone.
    None,
}

/// What the authentication policies decide for one validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthPolicy {
    pub otppin: OtpPin,
    /// A user without a token authenticates with the password.
    pub passthru: bool,
    /// Failed attempts after which a token is locked (below its own MaxFailCount).
    pub lockout: Option<i64>,
}

/// The authentication policies for a validation of `user` (none known: the defaults).
pub async fn authentication(
    ctx: &Ctx,
    user: Option<&User>,
    client: Option<IpAddr>,
) -> Result<AuthPolicy, CommandError> {
    let set = ctx.shared.policies.get(ctx).await?;
    if set.scope_is_empty(Scope::Authentication) {
        return Ok(AuthPolicy::default());
    }
    let s = match user {
        Some(u) => user_subject(ctx, u, client).await?,
        None => Subject::new(None, &[], None, client),
    };
    let scope = Scope::Authentication;
    Ok(AuthPolicy {
        otppin: match set.text(scope, "otppin", &s) {
            Some("userstore") => OtpPin::UserStore,
            Some("none") => OtpPin::None,
            _ => OtpPin::TokenPin,
        },
        passthru: set.flag(scope, "passthru", &s),
        lockout: set.text(scope, "lockout", &s).and_then(|v| v.parse().ok()),
    })
}

/// Whether the PIN part of a pass is right as the `otppin` policy says: the token's PIN, the
/// owner's password (each distinct candidate checked once, remembered in `checked`), or nothing.
pub async fn pin_right(
    ctx: &Ctx,
    t: &Token,
    pin: &str,
    auth: &AuthPolicy,
    owner: Option<&User>,
    checked: &mut Vec<(String, bool)>,
) -> Result<bool, CommandError> {
    match auth.otppin {
        OtpPin::TokenPin => crate::tokens::pin_matches(ctx, &t.pin_hash, pin).await,
        OtpPin::None => Ok(pin.is_empty()),
        OtpPin::UserStore => {
            let Some(owner) = owner.filter(|_| !pin.is_empty()) else {
                return Ok(false);
            };
            if let Some((_, ok)) = checked.iter().find(|(p, _)| p == pin) {
                return Ok(*ok);
            }
            let ok = crate::realms::check_user_password(ctx, owner, pin).await?;
            checked.push((pin.to_string(), ok));
            Ok(ok)
        }
    }
}

/// The `passthru` policy's check of a user without a token: the pass must be the password, the
/// user's access rules must allow a password login, and repeated failures make the user wait
/// (see [`super::passthru_guard`]).
pub async fn passthru(
    ctx: &Ctx,
    owner: &User,
    pass: &str,
    client: Option<IpAddr>,
    now: i64,
) -> Result<CheckOutcome, CommandError> {
    if let Err(denial) = check_user_access(owner, now, client, LoginMethod::Password) {
        return Ok(CheckOutcome::Rejected {
            reason: format!("user refused: {}", denial.as_str()),
        });
    }
    let guard = &ctx.shared.policies.passthru;
    let name = owner.username.as_str();
    if guard.reserve(name, ctx.shared.clock.now_ms()).is_err() {
        return Ok(CheckOutcome::Rejected {
            reason: "passthru attempts throttled after repeated failures".into(),
        });
    }
    let right = crate::realms::check_user_password(ctx, owner, pass).await?;
    if right {
        guard.succeeded(name);
    }
    Ok(if right {
        // No serial: the password, not a token, authenticated.
        CheckOutcome::Accepted {
            serial: String::new(),
        }
    } else {
        CheckOutcome::Rejected {
            reason: "wrong password (passthru policy)".into(),
        }
    })
}

/// Enrollment defaults for a new token (values as the actions hold them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnrollDefaults {
    pub otplen: Option<String>,
    pub hashlib: Option<String>,
}

/// The enrollment policies' defaults for a token of `token_type` (`hotp`, `totp`, …) for
/// `owner` (or, unassigned, in `realms`). A type-specific action beats the general one.
pub async fn enrollment_defaults(
    ctx: &Ctx,
    token_type: &str,
    owner: Option<&User>,
    realms: &[String],
) -> Result<EnrollDefaults, CommandError> {
    let set = ctx.shared.policies.get(ctx).await?;
    if set.scope_is_empty(Scope::Enrollment) {
        return Ok(EnrollDefaults::default());
    }
    let s = match owner {
        Some(u) => user_subject(ctx, u, None).await?,
        None => Subject::new(None, realms, None, None),
    };
    let scope = Scope::Enrollment;
    let pick = |specific: String, general: &str| {
        set.text(scope, &specific, &s)
            .or_else(|| set.text(scope, general, &s))
            .map(String::from)
    };
    Ok(EnrollDefaults {
        otplen: pick(format!("{token_type}_otplen"), "otp_length"),
        hashlib: pick(format!("{token_type}_hashlib"), "hashlib"),
    })
}

/// The admin-policy action of a command: a changing `token …` command's last words, or
/// `reset2fa`; `None` for commands admin policies do not govern.
pub fn admin_action(command: &str) -> Option<&'static str> {
    let action = command.strip_prefix("token ").unwrap_or(command);
    ADMIN_TOKEN_ACTIONS.iter().copied().find(|a| *a == action)
}

/// The subject of a token target: its realms (or, without any, its owner's realm), its owner.
async fn token_subject(ctx: &Ctx, serial: &str) -> Result<Option<Subject>, CommandError> {
    let Some(token) = ctx.store().token_by_serial(serial.trim()).await? else {
        return Ok(None);
    };
    let owner = match &token.owner_id {
        Some(id) => {
            ctx.store()
                .get_user_by_id(&UserId::from(id.as_str()))
                .await?
        }
        None => None,
    };
    let mut s = match &owner {
        Some(u) => user_subject(ctx, u, None).await?,
        None => Subject::new(None, &[], None, None),
    };
    if !token.realms.is_empty() {
        s.realms = token.realms.iter().map(|r| r.to_lowercase()).collect();
    }
    Ok(Some(s))
}

/// Admin scope, checked by the registry before a changing command runs: an operator account
/// below superuser that admin policies restrict may run a token action only when one of them
/// names the action and admits every token and user the command acts on. Superusers, the
/// console and the management key are never restricted (nobody locks the installation away).
pub async fn check_admin_policy(
    ctx: &Ctx,
    command: &str,
    targets: &[Target],
) -> Result<(), CommandError> {
    let Principal::Account { username, .. } = &ctx.principal else {
        return Ok(());
    };
    if ctx.principal.is_superuser() {
        return Ok(());
    }
    let Some(action) = admin_action(command) else {
        return Ok(());
    };
    let set = ctx.shared.policies.get(ctx).await?;
    if set.scope_is_empty(Scope::Admin) {
        return Ok(());
    }
    let client: Option<IpAddr> = ctx.client.parse().ok();
    let mut subjects = Vec::new();
    for t in targets {
        let s = match t {
            Target::Token(serial) => token_subject(ctx, serial).await?,
            Target::User(name) => match crate::tokens::find_owner(ctx, name).await {
                Ok(Some(u)) => Some(user_subject(ctx, &u, None).await?),
                // No local user yet: the user the name means in its realm, whom the command
                // may adopt from that realm's directories (token init/assign, see
                // `realms::adopt`); a name nobody has fails in the command.
                Ok(None) => Some(named_subject(ctx, Some(name), None, None).await?),
                Err(_) => None,
            },
            Target::UserRef(r) => match crate::user_edit::find_user_ref(ctx, r).await? {
                Some(u) => Some(user_subject(ctx, &u, None).await?),
                None => None,
            },
            _ => None,
        };
        subjects.extend(s);
    }
    match set.admin_decision(username.as_str(), client, action, &subjects) {
        AdminDecision::Unrestricted | AdminDecision::Allowed(_) => Ok(()),
        AdminDecision::Denied => Err(CommandError::Forbidden(format!(
            "{command}: not allowed by the admin policies for {username} \
             (no active admin policy grants \"{action}\" on these tokens' realms)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    /// Every changing token command is an admin-policy action, and every action names one: an
    /// admin policy can neither miss a new token operation nor name one that does not exist.
    #[test]
    fn admin_actions_are_exactly_the_changing_token_commands() {
        let reg = Registry::standard();
        let mut governed: Vec<&str> = reg
            .iter()
            .filter(|c| c.mutates && (c.name.starts_with("token ") || c.name == "reset2fa"))
            .map(|c| {
                admin_action(c.name).unwrap_or_else(|| unreachable!("{} has no action", c.name))
            })
            .collect();
        governed.sort_unstable();
        assert_eq!(governed, ADMIN_TOKEN_ACTIONS);
        assert_eq!(admin_action("config policy create"), None);
    }
}
