//! `keyward api token …`, `keyward api apikey …` and the quota subcommands: requests to
//! `/api/v1/token`, `/api/v1/apikey`, `/api/v1/quota_scan` and `/api/v1/quota_update`, with
//! bodies built from the typed wire types of `keyward-proto`. PINs and OTP seeds may come from
//! standard input (`--pin-stdin`, `--otpkey-stdin`) instead of the command line.

use clap::{Args, Subcommand};
use keyward_proto::{
    ApiKeyCreate, QuotaScanRequest, QuotaUsage, TokenAssign, TokenInit, TokenResync, TokenSettings,
};
use reqwest::Method;

use super::{Call, auth, call, user};

fn json_of(v: &impl serde::Serialize) -> Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| format!("internal: {e}"))
}

/// A secret from its flag or, with `stdin`, from the first line of standard input.
fn secret(value: Option<String>, stdin: bool) -> Result<Option<String>, String> {
    if stdin {
        return auth::read_stdin_line().map(Some);
    }
    Ok(value)
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// List tokens, paged in the database (GET /api/v1/token).
    #[command(
        after_help = "Example:\n  keyward api token list --user alice --type totp --limit 20"
    )]
    List(ListFlags),
    /// Show one token (GET /api/v1/token/SERIAL).
    #[command(after_help = "Example:\n  keyward api token show OATH0001")]
    Show { serial: String },
    /// Enrol a token (POST /api/v1/token); prints the seed/URI once.
    #[command(
        after_help = "Example:\n  keyward api token init --type totp --genkey --user alice --pin-stdin"
    )]
    Init(Box<InitFlags>),
    /// Enable a token (PUT /api/v1/token/SERIAL/enable).
    #[command(after_help = "Example:\n  keyward api token enable OATH0001")]
    Enable { serial: String },
    /// Disable a token (PUT /api/v1/token/SERIAL/disable).
    #[command(after_help = "Example:\n  keyward api token disable OATH0001")]
    Disable { serial: String },
    /// Reset a token's fail counter (PUT /api/v1/token/SERIAL/reset).
    #[command(after_help = "Example:\n  keyward api token reset OATH0001")]
    Reset { serial: String },
    /// Give a token an owner (PUT /api/v1/token/SERIAL/assign).
    #[command(after_help = "Example:\n  keyward api token assign OATH0001 alice --pin-stdin")]
    Assign {
        serial: String,
        /// The new owner's username.
        user: String,
        /// Also set the token PIN.
        #[arg(long, conflicts_with = "pin_stdin")]
        pin: Option<String>,
        /// Read the PIN from the first line of standard input.
        #[arg(long)]
        pin_stdin: bool,
    },
    /// Remove a token's owner (PUT /api/v1/token/SERIAL/unassign).
    #[command(after_help = "Example:\n  keyward api token unassign OATH0001")]
    Unassign { serial: String },
    /// Resynchronise with two consecutive OTPs (PUT /api/v1/token/SERIAL/resync).
    #[command(after_help = "Example:\n  keyward api token resync OATH0001 254676 287922")]
    Resync {
        serial: String,
        otp1: String,
        otp2: String,
    },
    /// Change a token's settings (PATCH /api/v1/token/SERIAL).
    #[command(
        after_help = "Example:\n  keyward api token set OATH0001 --max-fail 5 --count-auth-success-max 100"
    )]
    Set(Box<SetFlags>),
    /// Delete a token (DELETE /api/v1/token/SERIAL).
    #[command(after_help = "Example:\n  keyward api token remove OATH0001")]
    Remove { serial: String },
}

#[derive(Args)]
pub struct ListFlags {
    /// Tokens per page, 1 to 1000.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1000))]
    limit: i64,
    /// Tokens to skip.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    offset: i64,
    /// Only this serial.
    #[arg(long)]
    serial: Option<String>,
    /// Only tokens of this user.
    #[arg(long)]
    user: Option<String>,
    /// Only this type.
    #[arg(long = "type", value_parser = ["hotp", "totp", "pw"])]
    token_type: Option<String>,
    /// Only active (true) or inactive (false) tokens.
    #[arg(long)]
    active: Option<bool>,
    /// Substring of serial, type, description or owner.
    #[arg(long)]
    filter: Option<String>,
    /// Only tokens in this realm.
    #[arg(long)]
    realm: Option<String>,
}

#[derive(Args)]
pub struct InitFlags {
    /// hotp, totp or pw.
    #[arg(long = "type", default_value = "hotp", value_parser = ["hotp", "totp", "pw"])]
    token_type: String,
    /// Serial number (generated when absent).
    #[arg(long)]
    serial: Option<String>,
    /// The seed (hex, or base32 with --otpkeyformat base32); for pw tokens the password.
    #[arg(long, conflicts_with_all = ["otpkey_stdin", "genkey"])]
    otpkey: Option<String>,
    /// Read the seed from the first line of standard input.
    #[arg(long, conflicts_with = "genkey")]
    otpkey_stdin: bool,
    /// hex (default) or base32.
    #[arg(long, value_parser = ["hex", "base32"])]
    otpkeyformat: Option<String>,
    /// Generate the seed on the server (printed once).
    #[arg(long)]
    genkey: bool,
    /// Seed length in bytes when generated: 20, 32 or 64.
    #[arg(long)]
    keysize: Option<i64>,
    #[arg(long)]
    description: Option<String>,
    /// The token PIN.
    #[arg(long, conflicts_with = "pin_stdin")]
    pin: Option<String>,
    /// Read the PIN from the first line of standard input.
    #[arg(long, conflicts_with = "otpkey_stdin")]
    pin_stdin: bool,
    /// The owner's username.
    #[arg(long)]
    user: Option<String>,
    /// Comma-separated realms.
    #[arg(long)]
    tokenrealm: Option<String>,
    /// 6 or 8.
    #[arg(long)]
    otplen: Option<i64>,
    /// sha1, sha256 or sha512.
    #[arg(long, value_parser = ["sha1", "sha256", "sha512"])]
    hashlib: Option<String>,
    /// TOTP time step in seconds.
    #[arg(long)]
    time_step: Option<i64>,
    /// TOTP window in seconds.
    #[arg(long)]
    time_window: Option<i64>,
    /// Answer a bare PIN with a challenge.
    #[arg(long)]
    challenge_response: bool,
}

#[derive(Args)]
pub struct SetFlags {
    serial: String,
    /// A new token PIN.
    #[arg(long, conflicts_with = "pin_stdin")]
    pin: Option<String>,
    /// Read the new PIN from the first line of standard input.
    #[arg(long)]
    pin_stdin: bool,
    #[arg(long)]
    description: Option<String>,
    #[arg(long)]
    max_fail: Option<i64>,
    #[arg(long)]
    sync_window: Option<i64>,
    #[arg(long)]
    otplen: Option<i64>,
    #[arg(long)]
    count_window: Option<i64>,
    #[arg(long)]
    hashlib: Option<String>,
    #[arg(long)]
    time_window: Option<i64>,
    #[arg(long)]
    time_step: Option<i64>,
    #[arg(long, allow_negative_numbers = true)]
    time_shift: Option<i64>,
    #[arg(long)]
    count_auth: Option<i64>,
    #[arg(long)]
    count_auth_max: Option<i64>,
    #[arg(long)]
    count_auth_success: Option<i64>,
    #[arg(long)]
    count_auth_success_max: Option<i64>,
    /// Unix seconds, `DD/MM/YY HH:MM`, RFC 3339, or `unlimited`.
    #[arg(long)]
    validity_period_start: Option<String>,
    #[arg(long)]
    validity_period_end: Option<String>,
}

fn token_path(serial: &str, action: Option<&str>) -> Vec<String> {
    let mut p: Vec<String> = ["api", "v1", "token", serial]
        .iter()
        .map(|s| s.to_string())
        .collect();
    p.extend(action.map(String::from));
    p
}

fn with_path(method: Method, path: Vec<String>, body: Option<serde_json::Value>) -> Call {
    Call {
        path,
        body,
        ..call(method, &[])
    }
}

pub fn plan_token(command: TokenCommand) -> Result<Call, String> {
    use TokenCommand as T;
    Ok(match command {
        T::List(f) => {
            let mut query = vec![
                ("limit", f.limit.to_string()),
                ("offset", f.offset.to_string()),
            ];
            let optional = [
                ("serial", f.serial),
                ("user", f.user),
                ("type", f.token_type),
                ("active", f.active.map(|a| a.to_string())),
                ("filter", f.filter),
                ("realm", f.realm),
            ];
            query.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            Call {
                query,
                ..call(Method::GET, &["api", "v1", "token"])
            }
        }
        T::Show { serial } => with_path(Method::GET, token_path(&serial, None), None),
        T::Init(f) => {
            let body = TokenInit {
                token_type: Some(f.token_type),
                serial: f.serial,
                otpkey: secret(f.otpkey, f.otpkey_stdin)?,
                otpkeyformat: f.otpkeyformat,
                genkey: f.genkey.then_some(true),
                keysize: f.keysize,
                description: f.description,
                pin: secret(f.pin, f.pin_stdin)?,
                user: f.user,
                tokenrealm: f.tokenrealm,
                otplen: f.otplen,
                hashlib: f.hashlib,
                time_step: f.time_step,
                time_window: f.time_window,
                challenge_response: f.challenge_response.then_some(true),
            };
            Call {
                body: Some(json_of(&body)?),
                ..call(Method::POST, &["api", "v1", "token"])
            }
        }
        T::Enable { serial } => with_path(Method::PUT, token_path(&serial, Some("enable")), None),
        T::Disable { serial } => with_path(Method::PUT, token_path(&serial, Some("disable")), None),
        T::Reset { serial } => with_path(Method::PUT, token_path(&serial, Some("reset")), None),
        T::Unassign { serial } => {
            with_path(Method::PUT, token_path(&serial, Some("unassign")), None)
        }
        T::Assign {
            serial,
            user,
            pin,
            pin_stdin,
        } => {
            let body = TokenAssign {
                user,
                pin: secret(pin, pin_stdin)?,
            };
            with_path(
                Method::PUT,
                token_path(&serial, Some("assign")),
                Some(json_of(&body)?),
            )
        }
        T::Resync { serial, otp1, otp2 } => with_path(
            Method::PUT,
            token_path(&serial, Some("resync")),
            Some(json_of(&TokenResync { otp1, otp2 })?),
        ),
        T::Set(f) => {
            let body = TokenSettings {
                pin: secret(f.pin, f.pin_stdin)?,
                description: f.description,
                max_fail: f.max_fail,
                sync_window: f.sync_window,
                otplen: f.otplen,
                count_window: f.count_window,
                hashlib: f.hashlib,
                time_window: f.time_window,
                time_step: f.time_step,
                time_shift: f.time_shift,
                count_auth: f.count_auth,
                count_auth_max: f.count_auth_max,
                count_auth_success: f.count_auth_success,
                count_auth_success_max: f.count_auth_success_max,
                validity_period_start: f.validity_period_start,
                validity_period_end: f.validity_period_end,
            };
            with_path(
                Method::PATCH,
                token_path(&f.serial, None),
                Some(json_of(&body)?),
            )
        }
        T::Remove { serial } => with_path(Method::DELETE, token_path(&serial, None), None),
    })
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// List API keys, never their secrets (GET /api/v1/apikey).
    #[command(after_help = "Example:\n  keyward api apikey list")]
    List,
    /// Show one API key (GET /api/v1/apikey/ID).
    #[command(after_help = "Example:\n  keyward api apikey show 9f86d081884c7d65")]
    Show { id: String },
    /// Create an API key (POST /api/v1/apikey; superuser); prints the key once.
    #[command(
        after_help = "Example:\n  keyward api apikey create --role admin --username alice --days 30"
    )]
    Create {
        /// admin or validate.
        #[arg(long, value_parser = ["admin", "validate"])]
        role: String,
        /// Validity in days, 1 to 36500.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..=36500))]
        days: Option<i64>,
        /// The account the key acts as.
        #[arg(long)]
        username: Option<String>,
        /// Realm recorded with the key.
        #[arg(long)]
        realm: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Revoke an API key (DELETE /api/v1/apikey/ID).
    #[command(after_help = "Example:\n  keyward api apikey revoke 9f86d081884c7d65")]
    Revoke { id: String },
}

pub fn plan_apikey(command: ApiKeyCommand) -> Result<Call, String> {
    let key_path = |id: &str| -> Vec<String> {
        ["api", "v1", "apikey", id]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    Ok(match command {
        ApiKeyCommand::List => call(Method::GET, &["api", "v1", "apikey"]),
        ApiKeyCommand::Show { id } => with_path(Method::GET, key_path(&id), None),
        ApiKeyCommand::Create {
            role,
            days,
            username,
            realm,
            description,
        } => {
            let body = ApiKeyCreate {
                role,
                days,
                username,
                realm,
                description,
            };
            Call {
                body: Some(json_of(&body)?),
                ..call(Method::POST, &["api", "v1", "apikey"])
            }
        }
        ApiKeyCommand::Revoke { id } => with_path(Method::DELETE, key_path(&id), None),
    })
}

/// `start-quota-scan USERNAME [user flags]`: SFTPGo's client accepts the user flags here and
/// posts the user object; the server reads its `username`.
pub fn plan_start_scan(flags: &user::UserFlags) -> Result<Call, String> {
    let body = QuotaScanRequest {
        username: flags.username.clone(),
    };
    Ok(Call {
        body: Some(json_of(&body)?),
        ..call(Method::POST, &["api", "v1", "quota_scan"])
    })
}

#[derive(Args)]
pub struct QuotaUpdateFlags {
    /// The user whose usage changes.
    username: String,
    /// Bytes used (with --mode add: to add; negative subtracts).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    used_quota_size: i64,
    /// Files used (with --mode add: to add; negative subtracts).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    used_quota_files: i64,
    /// reset: replace the usage; add: add to it.
    #[arg(long, default_value = "reset", value_parser = ["reset", "add"])]
    mode: String,
}

pub fn plan_quota_update(f: QuotaUpdateFlags) -> Result<Call, String> {
    if f.mode == "reset" && (f.used_quota_size < 0 || f.used_quota_files < 0) {
        return Err(
            "--used-quota-size/--used-quota-files: must be 0 or more with --mode reset".into(),
        );
    }
    let body = QuotaUsage {
        username: f.username,
        used_quota_size: f.used_quota_size,
        used_quota_files: f.used_quota_files,
    };
    Ok(Call {
        body: Some(json_of(&body)?),
        query: vec![("mode", f.mode)],
        ..call(Method::PUT, &["api", "v1", "quota_update"])
    })
}
