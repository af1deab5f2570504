//! OTP token administration — the LinOTP `/admin/*` operations (seed 003) as registry commands
//! `token …`. Each command's arguments parse from command-line words (`keyward manage token init
//! --type totp …`) and from LinOTP's named parameters (`POST /admin/init`), and its JSON is
//! LinOTP's `value` (plus `detail`), so the CLI, the management endpoint and `/admin/*` share
//! one implementation. This file holds what the operations share: finding tokens and owners,
//! sealing seeds, hashing PINs, and the LinOTP view of a token.

mod admin;
mod enroll;
mod import;
pub mod lookup_limit;
mod lost;
pub(crate) mod ocra2;
mod query;
mod resolvers;
pub mod rest_view;
mod resync;
mod set;
mod validity;

use keyward_core::aead;
use keyward_core::enckey::KeySlot;
use keyward_core::otp::{HashAlg, OtpError, TokenType};
use keyward_store::tokens::Token;
use keyward_store::users::User;
use serde_json::{Value, json};

use crate::context::Ctx;
use crate::output::CommandError;
use crate::registry::CommandSpec;

/// Default and largest page size of `token show` (`pagesize` above the cap is an error).
pub const DEFAULT_PAGESIZE: i64 = 50;
pub const MAX_PAGESIZE: i64 = 1000;

pub fn commands() -> Vec<CommandSpec> {
    let mut all = Vec::new();
    all.extend(enroll::commands());
    all.extend(lost::commands());
    all.extend(admin::commands());
    all.extend(set::commands());
    all.extend(query::commands());
    all.extend(resolvers::commands());
    all.extend(import::commands());
    all.extend(resync::commands());
    all.extend(rest_view::commands());
    all
}

/// The LinOTP endpoint name (`/admin/<name>`) of each token command.
pub const ADMIN_ENDPOINTS: &[(&str, &str)] = &[
    ("assign", "token assign"),
    ("check_serial", "token check_serial"),
    ("checkstatus", "token checkstatus"),
    ("copyTokenPin", "token copypin"),
    ("copyTokenUser", "token copyuser"),
    ("disable", "token disable"),
    ("enable", "token enable"),
    ("getSerialByOtp", "token getserial"),
    ("getTokenOwner", "token owner"),
    ("init", "token init"),
    ("loadtokens", "token loadtokens"),
    ("losttoken", "token losttoken"),
    ("remove", "token remove"),
    ("reset", "token reset"),
    ("resync", "token resync"),
    ("set", "token set"),
    ("setPin", "token setpin"),
    ("setValidity", "token setvalidity"),
    ("show", "token show"),
    ("testresolver", "token testresolver"),
    ("tokenrealm", "token tokenrealm"),
    ("totp_lookup", "token totp_lookup"),
    ("unassign", "token unassign"),
    ("unpair", "token unpair"),
    ("userlist", "token userlist"),
];

impl From<OtpError> for CommandError {
    fn from(e: OtpError) -> Self {
        CommandError::Invalid(e.to_string())
    }
}

pub(crate) fn no_such_token(serial: &str) -> CommandError {
    // Serials are at most 64 characters; anything longer is not echoed whole.
    let shown: String = serial.chars().take(64).collect();
    CommandError::NotFound(format!("No token with serial number \"{shown}\" found"))
}

/// The token with this serial, or LinOTP's "not found".
pub(crate) async fn load_token(ctx: &Ctx, serial: &str) -> Result<Token, CommandError> {
    ctx.store()
        .token_by_serial(serial)
        .await?
        .ok_or_else(|| no_such_token(serial))
}

/// A user named as LinOTP does: `name` or `name@realm` (see [`crate::realms::find_user`]: a
/// local name containing `@` is tried whole first; an unknown realm is an error).
pub(crate) async fn find_owner(ctx: &Ctx, user: &str) -> Result<Option<User>, CommandError> {
    crate::realms::find_user_only(ctx, user).await
}

/// LinOTP's `user` with a separate `realm` parameter as one `name@realm` (unless the name
/// already names its realm, or no realm is given).
///
/// Both are trimmed and a blank realm is no realm, exactly as the handlers read them: the target
/// rule and the handler must name the same user.
pub(crate) fn user_in_realm(user: &str, realm: Option<&str>) -> String {
    let user = user.trim();
    match realm.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if !user.contains('@') => format!("{user}@{r}"),
        _ => user.to_string(),
    }
}

pub(crate) async fn load_owner(ctx: &Ctx, user: &str) -> Result<User, CommandError> {
    find_owner(ctx, user)
        .await?
        .ok_or_else(|| no_such_owner(user))
}

/// [`load_owner`] for a token that is about to get this owner (enrolment, assignment): a
/// directory user without a local row yet is adopted (see [`crate::realms::adopt`]).
pub(crate) async fn load_or_adopt_owner(ctx: &Ctx, user: &str) -> Result<User, CommandError> {
    crate::realms::find_or_adopt(ctx, user)
        .await?
        .ok_or_else(|| no_such_owner(user))
}

fn no_such_owner(user: &str) -> CommandError {
    CommandError::NotFound(format!("user \"{user}\" does not exist"))
}

/// The tokens named by `serial` or, failing that, all tokens of `user` (LinOTP's
/// "serial or user" parameters). Neither given is a missing parameter.
pub(crate) async fn tokens_by_serial_or_user(
    ctx: &Ctx,
    serial: Option<&str>,
    user: Option<&str>,
) -> Result<Vec<Token>, CommandError> {
    match (serial, user) {
        (Some(s), _) => Ok(vec![load_token(ctx, s).await?]),
        (None, Some(u)) => {
            let owner = load_owner(ctx, u).await?;
            Ok(ctx.store().tokens_of_owner(&owner.id).await?)
        }
        (None, None) => Err(CommandError::Invalid(
            "Missing parameter: 'serial' or 'user'".into(),
        )),
    }
}

/// Associated data binding a sealed token value to its row and column.
pub(crate) fn token_ad(token_id: &str, column: &str) -> Vec<u8> {
    format!("token:{token_id}:{column}").into_bytes()
}

/// Seals a token secret (seed, reversible PIN) under the token-secrets key.
pub(crate) async fn seal_token_secret(
    ctx: &Ctx,
    token_id: &str,
    column: &str,
    secret: &[u8],
) -> Result<String, CommandError> {
    let key = ctx.shared.enckey().await?;
    aead::seal(
        key,
        KeySlot::TokenSecrets,
        secret,
        &token_ad(token_id, column),
    )
    .map_err(|e| CommandError::Internal(format!("cannot encrypt the token secret: {e}")))
}

/// Opens a token's seed.
pub(crate) async fn token_seed(ctx: &Ctx, token: &Token) -> Result<Vec<u8>, CommandError> {
    if token.seed_sealed.is_empty() {
        return Err(CommandError::Invalid(format!(
            "token {} has no secret",
            token.serial
        )));
    }
    let key = ctx.shared.enckey().await?;
    aead::open(key, &token.seed_sealed, &token_ad(&token.id, "seed")).map_err(|e| {
        CommandError::Internal(format!(
            "cannot decrypt the seed of token {}: {e}",
            token.serial
        ))
    })
}

/// Argon2id hash of a token PIN ("" stays "": no PIN).
pub(crate) async fn hash_pin(ctx: &Ctx, pin: &str) -> Result<String, CommandError> {
    if pin.is_empty() {
        return Ok(String::new());
    }
    let params = ctx.settings().argon2_params();
    ctx.shared.hashing.hash(pin, params).await
}

/// Whether `pin` is the token's PIN (an empty stored hash means "no PIN"). Bounded like every
/// hash check: `Overloaded` when too many run already.
pub(crate) async fn pin_matches(
    ctx: &Ctx,
    pin_hash: &str,
    pin: &str,
) -> Result<bool, CommandError> {
    if pin_hash.is_empty() {
        return Ok(pin.is_empty());
    }
    if pin.is_empty() {
        return Ok(false);
    }
    Ok(ctx
        .shared
        .hashing
        .verify(pin, pin_hash)
        .await?
        .unwrap_or(false))
}

/// The token's type, tolerating unknown stored names as a corrupt-data error.
pub(crate) fn token_type(token: &Token) -> Result<TokenType, CommandError> {
    TokenType::parse(&token.token_type).map_err(|_| {
        CommandError::Internal(format!("token {} has an unknown stored type", token.serial))
    })
}

pub(crate) fn token_hashlib(token: &Token) -> HashAlg {
    HashAlg::parse(&token.hashlib).unwrap_or(HashAlg::Sha1)
}

/// LinOTP's date format for validity periods (`validityPeriodStart` etc.): `DD/MM/YY HH:MM`.
pub(crate) fn linotp_date(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[day]/[month]/[year repr:last_two] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The token's info map as LinOTP shows it (validity and count limits included).
fn token_info(t: &Token) -> serde_json::Map<String, Value> {
    let mut info = t.info.clone();
    info.insert("hashlib".into(), json!(t.hashlib));
    if token_type(t).map(|k| k == TokenType::Totp).unwrap_or(false) {
        info.insert("timeStep".into(), json!(t.time_step.to_string()));
        info.insert("timeWindow".into(), json!(t.time_window.to_string()));
        info.insert("timeShift".into(), json!(t.time_shift.to_string()));
    }
    if t.count_auth_max > 0 {
        info.insert("count_auth_max".into(), json!(t.count_auth_max.to_string()));
    }
    if t.count_auth_success_max > 0 {
        info.insert(
            "count_auth_success_max".into(),
            json!(t.count_auth_success_max.to_string()),
        );
    }
    info.insert("count_auth".into(), json!(t.count_auth.to_string()));
    info.insert(
        "count_auth_success".into(),
        json!(t.count_auth_success.to_string()),
    );
    if let Some(s) = t.validity_start {
        info.insert("validity_period_start".into(), json!(linotp_date(s)));
    }
    if let Some(e) = t.validity_end {
        info.insert("validity_period_end".into(), json!(linotp_date(e)));
    }
    info
}

/// One token as LinOTP's `/admin/show` lists it. `info_as_json` embeds the token info as an
/// object (`tokeninfo_format=json`) instead of a JSON string.
pub fn linotp_token(t: &Token, info_as_json: bool) -> Value {
    let linotp_type = token_type(t)
        .map(|k| k.linotp_name().to_string())
        .unwrap_or_else(|_| t.token_type.clone());
    let info = Value::Object(token_info(t));
    json!({
        "LinOtp.TokenId": t.id,
        "LinOtp.TokenSerialnumber": t.serial,
        "LinOtp.TokenType": linotp_type,
        "LinOtp.TokenDesc": t.description,
        "LinOtp.Isactive": t.active,
        "LinOtp.FailCount": t.fail_count,
        "LinOtp.MaxFail": t.max_fail,
        "LinOtp.Count": t.counter,
        "LinOtp.CountWindow": t.count_window,
        "LinOtp.SyncWindow": t.sync_window,
        "LinOtp.OtpLen": t.otplen,
        "LinOtp.RealmNames": t.realms,
        "LinOtp.TokenInfo": if info_as_json { info } else { Value::String(info.to_string()) },
        "LinOtp.IdResClass": if t.owner_id.is_some() { "keyward.internal" } else { "" },
        "LinOtp.Userid": t.owner_id.clone().unwrap_or_default(),
        "LinOtp.CreationDate": crate::timefmt::rfc3339(t.created_at),
        "LinOtp.LastAuthentication": t.last_auth.map(crate::timefmt::rfc3339).unwrap_or_default(),
        "User.username": t.owner_name.clone().unwrap_or_default(),
        "User.userid": t.owner_id.clone().unwrap_or_default(),
        "User.description": "",
    })
}

/// `1`/`0` as LinOTP reports per-field results of `set`.
pub(crate) fn done(n: u64) -> Value {
    json!(n)
}
