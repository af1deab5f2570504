//! Creating tokens: `token init` (LinOTP `/admin/init`: HOTP, TOTP, password and ocra2 tokens;
//! seed given as hex or base32, or generated; the `otpauth://` URI and its QR code; e-mail and
//! SMS tokens with their address) and `token check_serial`.

use clap::Parser;
use keyward_core::otp::ocra::OcraSuite;
use keyward_core::otp::{
    self, HashAlg, KeyFormat, KeyUri, TokenType, check_otplen, generate_key, generate_serial,
    parse_otpkey,
};
use keyward_store::tokens::NewToken;
use serde::Deserialize;
use serde_json::json;

use super::{hash_pin, load_or_adopt_owner, seal_token_secret};
use crate::access::{Access, TOKEN_OPERATORS, TOKEN_READERS, Target, Targets, targets_of};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::params::{boolean, given, int_in, required};
use crate::policies::enforce::{EnrollDefaults, enrollment_defaults};
use crate::registry::{CommandSpec, param_command};

/// Issuer shown by authenticator apps for keyward's tokens.
const ISSUER: &str = "keyward";
/// Length of a generated `losttoken` password.
pub(super) const LOST_PASSWORD_LEN: usize = 12;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command("token init", "Enroll a token (hotp, totp, pw, ocra2, email, sms)", init)
            .mutating()
            .example("token init --type totp --genkey --user alice --pin 1234 --qr")
            .example("token init --type ocra2 --genkey --user alice --pin 1234")
.example("token init --type hotp --otpkey 3132333435363738393031323334353637383930 --serial OATH0001 --user alice")
.example("token init --type email --user alice --pin 1234")
.example("token init --type sms --phone +491701234567 --user alice --pin 1234")
.new_secret("pin")
.allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token check_serial",
            "Check that a serial is unused; suggest a free one",
            check_serial,
        )
        .example("token check_serial OATH0001")
.allow(Access::Roles(TOKEN_READERS)),
    ]
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct InitArgs {
    /// Token type: hotp (hmac), totp, pw (password/spass), ocra2, email, sms.
    #[arg(long = "type", default_value = "hotp")]
    #[serde(rename = "type")]
    token_type: Option<String>,
    /// Serial number (generated when absent).
    #[arg(long)]
    serial: Option<String>,
    /// The seed, hex (or base32 with --otpkeyformat base32); for pw tokens the password.
    #[arg(long)]
    otpkey: Option<String>,
    /// hex (default) or base32.
    #[arg(long)]
    otpkeyformat: Option<String>,
    /// Generate the seed (1).
    #[arg(long, num_args = 0..=1, default_missing_value = "1")]
    genkey: Option<String>,
    /// Seed length in bytes when generated: 20, 32 or 64.
    #[arg(long)]
    keysize: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// The token PIN (prefix of the pass at validation).
    #[arg(long)]
    pin: Option<String>,
    /// Owner: USERNAME or USERNAME@REALM.
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    realm: Option<String>,
    /// Comma-separated realms the token is put into.
    #[arg(long)]
    tokenrealm: Option<String>,
    /// 6 or 8.
    #[arg(long)]
    otplen: Option<String>,
    /// sha1, sha256 or sha512.
    #[arg(long)]
    hashlib: Option<String>,
    /// TOTP time step in seconds (30 or 60).
    #[arg(long = "time-step", alias = "timeStep")]
    #[serde(rename = "timeStep", alias = "timestep")]
    time_step: Option<String>,
    /// TOTP window in seconds.
    #[arg(long = "time-window", alias = "timeWindow")]
    #[serde(rename = "timeWindow")]
    time_window: Option<String>,
    /// Answer a bare PIN with a challenge (challenge-response).
    #[arg(long = "challenge-response", num_args = 0..=1, default_missing_value = "1")]
    #[serde(rename = "challenge_response")]
    challenge_response: Option<String>,
    /// Where an email token sends its OTPs (default: the user's address).
    #[arg(long)]
    #[serde(alias = "email_address")]
    email: Option<String>,
    /// Where an sms token sends its OTPs.
    #[arg(long)]
    #[serde(alias = "mobile")]
    phone: Option<String>,
    /// ocra2: the OCRA suite (default OCRA-1:HOTP-SHA256-8:QA64).
    #[arg(long)]
    ocrasuite: Option<String>,
    /// ocra2: 1 generates the shared secret (as genkey=1 does).
    #[arg(long, num_args = 0..=1, default_missing_value = "1")]
    sharedsecret: Option<String>,
    /// ocra2: LinOTP's QR-TAN activation code (refused: not supported).
    #[arg(long)]
    activationcode: Option<String>,
    /// Print the otpauth URI as a QR code in the terminal.
    #[arg(long)]
    #[serde(skip)]
    qr: bool,
    /// Write the QR code as PNG to FILE (local runs only).
    #[arg(long = "qr-png", value_name = "FILE")]
    #[serde(skip)]
    qr_png: Option<std::path::PathBuf>,
    /// Write the QR code as SVG to FILE (local runs only).
    #[arg(long = "qr-svg", value_name = "FILE")]
    #[serde(skip)]
    qr_svg: Option<std::path::PathBuf>,
}

/// A validated init request.
struct Plan {
    kind: TokenType,
    serial: String,
    seed: Vec<u8>,
    generated: bool,
    otplen: i64,
    alg: HashAlg,
    time_step: i64,
    time_window: i64,
    /// ocra2: the suite (its hash and digits are `alg` and `otplen`).
    ocra_suite: Option<OcraSuite>,
}

/// Checks an init request; `defaults` are the enrollment policies' values for what it leaves
/// out (OTP length, hash algorithm).
fn plan(a: &InitArgs, defaults: &EnrollDefaults) -> Result<Plan, CommandError> {
    let kind = TokenType::parse(given(&a.token_type).unwrap_or("hotp"))?;
    match kind {
        TokenType::Hotp | TokenType::Totp | TokenType::Password | TokenType::Ocra2 => {}
        TokenType::Email | TokenType::Sms => {}
    }
    let serial = match given(&a.serial) {
        Some(s) => {
            if s.len() > 64 || !s.chars().all(|c| c.is_ascii_graphic()) {
                return Err(CommandError::Invalid(
                    "parameter 'serial' must be 1-64 printable ASCII characters".into(),
                ));
            }
            s.to_string()
        }
        None => generate_serial(kind)?,
    };
    let ocra_suite = match kind {
        TokenType::Ocra2 => Some(super::ocra2::enrolment_suite(
            given(&a.ocrasuite),
            given(&a.activationcode),
        )?),
        _ => None,
    };
    let alg = match &ocra_suite {
        Some(suite) => suite.hash,
        None => HashAlg::parse(
            given(&a.hashlib)
                .or(defaults.hashlib.as_deref())
                .unwrap_or("sha1"),
        )?,
    };
    let genkey = match (given(&a.genkey), given(&a.sharedsecret)) {
        (Some(v), _) => boolean("genkey", v)?,
        (None, Some(v)) => boolean("sharedsecret", v)?,
        (None, None) => false,
    };
    let (seed, generated) = if kind == TokenType::Password {
        match (given(&a.otpkey), genkey) {
            (Some(pw), false) => (pw.as_bytes().to_vec(), false),
            (None, true) => (random_password(LOST_PASSWORD_LEN)?.into_bytes(), true),
            _ => {
                return Err(CommandError::Invalid(
                    "a pw token needs either otpkey (the password) or genkey=1".into(),
                ));
            }
        }
    } else if crate::delivery::delivers(kind) {
        // The OTPs are random per challenge; the seed only keeps every token's row alike.
        (generate_key(20)?, false)
    } else {
        match (given(&a.otpkey), genkey) {
            (Some(_), true) => {
                return Err(CommandError::Invalid(
                    "give either otpkey or genkey=1, not both".into(),
                ));
            }
            (Some(key), false) => {
                let format = match given(&a.otpkeyformat) {
                    Some(f) => KeyFormat::parse(f).ok_or_else(|| {
                        CommandError::Invalid(
                            "parameter 'otpkeyformat' must be hex or base32".into(),
                        )
                    })?,
                    None => KeyFormat::Hex,
                };
                let seed = parse_otpkey(key, format)
                    .map_err(|e| CommandError::Invalid(format!("parameter 'otpkey': {e}")))?;
                (seed, false)
            }
            (None, true) => {
                let size = match given(&a.keysize) {
                    Some(k) => int_in("keysize", k, 20, 64)?,
                    None => alg.default_key_len() as i64,
                };
                (generate_key(usize::try_from(size).unwrap_or(20))?, true)
            }
            (None, false) => {
                return Err(CommandError::Invalid(
                    "Missing parameter: 'otpkey' (or genkey=1)".into(),
                ));
            }
        }
    };
    let otplen = if kind == TokenType::Password {
        seed.len() as i64
    } else if let Some(suite) = &ocra_suite {
        i64::from(suite.digits)
    } else {
        match given(&a.otplen).or(defaults.otplen.as_deref()) {
            Some(n) => i64::from(check_otplen(int_in("otplen", n, 0, 99)?)?),
            None => 6,
        }
    };
    if seed.is_empty() {
        return Err(CommandError::Invalid(
            "the password must not be empty".into(),
        ));
    }
    let time_step = match given(&a.time_step) {
        Some(s) => int_in("timeStep", s, 1, 3600)?,
        None => 30,
    };
    let time_window = match given(&a.time_window) {
        Some(s) => int_in("timeWindow", s, 0, 86_400)?,
        None => 180,
    };
    Ok(Plan {
        kind,
        serial,
        seed,
        generated,
        otplen,
        alg,
        time_step,
        time_window,
        ocra_suite,
    })
}

/// A random password of letters and digits (no look-alikes).
pub(super) fn random_password(len: usize) -> Result<String, CommandError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut pw = String::with_capacity(len);
    for _ in 0..len {
        let i = keyward_core::random::below(ALPHABET.len() as u64)
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        let c = ALPHABET
            .get(usize::try_from(i).unwrap_or(0))
            .copied()
            .unwrap_or(b'x');
        pw.push(char::from(c));
    }
    Ok(pw)
}

fn realm_list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(|r| r.trim().to_lowercase())
        .filter(|r| !r.is_empty())
        .collect()
}

async fn init(ctx: Ctx, a: InitArgs) -> Result<Output, CommandError> {
    // The type is checked first, so a bad request fails before any look-up.
    let kind = TokenType::parse(given(&a.token_type).unwrap_or("hotp"))?;
    let local = ctx.is_local();
    if !local && (a.qr_png.is_some() || a.qr_svg.is_some()) {
        return Err(CommandError::Invalid(
            "--qr-png and --qr-svg write files and work only in local runs".into(),
        ));
    }
    let owner = match given(&a.user) {
        Some(u) => {
            let name = super::user_in_realm(u, given(&a.realm));
            Some(load_or_adopt_owner(&ctx, &name).await?)
        }
        None => None,
    };
    let realms = realm_list(given(&a.tokenrealm));
    let defaults = enrollment_defaults(&ctx, kind.as_str(), owner.as_ref(), &realms).await?;
    let p = plan(&a, &defaults)?;
    if ctx.store().token_by_serial(&p.serial).await?.is_some() {
        return Err(CommandError::Conflict(format!(
            "token with serial \"{}\" already exists",
            p.serial
        )));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let seed_sealed = seal_token_secret(&ctx, &id, "seed", &p.seed).await?;
    let pin_hash = hash_pin(&ctx, given(&a.pin).unwrap_or_default()).await?;
    let mut info = crate::delivery::destination_info(
        p.kind,
        given(&a.email),
        given(&a.phone),
        owner.as_ref(),
    )?;
    if let Some(suite) = &p.ocra_suite {
        info.insert(super::ocra2::SUITE_INFO.into(), json!(suite.as_str()));
    }
    if let Some(cr) = given(&a.challenge_response) {
        info.insert(
            "challenge_response".into(),
            json!(if boolean("challenge_response", cr)? {
                "1"
            } else {
                "0"
            }),
        );
    }
    let audit = format!(
        "serial {}: type {}, {} digits, {}{}",
        p.serial,
        p.kind.as_str(),
        p.otplen,
        p.alg.as_str(),
        owner
            .as_ref()
            .map(|u| format!(", owner {}", u.username))
            .unwrap_or_default()
    );
    // The token and its audit row commit together, before any QR file is written.
    let mut tx = ctx.begin_change().await?;
    tx.create_token(&NewToken {
        id,
        serial: p.serial.clone().into(),
        token_type: p.kind.as_str().to_string(),
        description: given(&a.description).unwrap_or_default().to_string(),
        owner_id: owner.as_ref().map(|u| u.id.to_string()),
        seed_sealed,
        pin_hash,
        otplen: p.otplen,
        hashlib: p.alg.as_str().to_string(),
        counter: 0,
        time_step: p.time_step,
        time_window: p.time_window,
        time_shift: 0,
        info: info.clone(),
        realms,
        now: ctx.now(),
    })
    .await
    .map_err(|e| match e {
        keyward_store::StoreError::Conflict(_) => {
            CommandError::Conflict(format!("token with serial \"{}\" already exists", p.serial))
        }
        other => other.into(),
    })?;
    ctx.commit_change(tx, &audit).await?;
    let account = owner
        .as_ref()
        .map(|u| u.username.to_string())
        .unwrap_or_else(|| p.serial.clone());
    let mut text = format!(
        "Enrolled token {} ({}, {} digits, {})",
        p.serial,
        p.kind.as_str(),
        p.otplen,
        p.alg.as_str()
    );
    if let Some(u) = &owner {
        text.push_str(&format!(" for user \"{}\"", u.username));
    }
    text.push('\n');
    let mut detail = json!({ "serial": p.serial });
    if crate::delivery::delivers(p.kind) {
        for (key, dest) in &info {
            text.push_str(&format!(
                "OTPs go to {}\n",
                dest.as_str().unwrap_or_default()
            ));
            detail[key] = dest.clone();
        }
    } else if let Some(suite) = &p.ocra_suite {
        text.push_str(&format!("ocrasuite: {suite}\n"));
        detail["ocrasuite"] = json!(suite.as_str());
        if p.generated {
            let hex = data_encoding::HEXLOWER.encode(&p.seed);
            text.push_str(&format!("sharedsecret: {hex}\n"));
            detail["sharedsecret"] = json!(hex);
        }
    } else if p.kind == TokenType::Password {
        if p.generated {
            text.push_str(&format!("password: {}\n", String::from_utf8_lossy(&p.seed)));
            detail["password"] = json!(String::from_utf8_lossy(&p.seed));
        }
    } else {
        let uri = KeyUri {
            token_type: p.kind,
            issuer: ISSUER,
            account: &account,
            key: &p.seed,
            alg: p.alg,
            digits: u32::try_from(p.otplen).unwrap_or(6),
            counter: 0,
            period: u32::try_from(p.time_step).unwrap_or(30),
        }
        .to_uri();
        text.push_str(&uri);
        text.push('\n');
        let png = otp::qr::png(&uri).map_err(|e| CommandError::Internal(e.to_string()))?;
        let img = format!(
            "<img width=250 src=\"data:image/png;base64,{}\"/>",
            data_encoding::BASE64.encode(&png)
        );
        detail["googleurl"] = json!({
            "description": "URL for google Authenticator",
            "value": uri,
            "img": img,
        });
        if p.generated {
            detail["otpkey"] = json!({
                "description": "OTP seed",
                "value": format!("seed://{}", data_encoding::HEXLOWER.encode(&p.seed)),
            });
        }
        if a.qr {
            text.push_str(
                &otp::qr::terminal(&uri).map_err(|e| CommandError::Internal(e.to_string()))?,
            );
        }
        if let Some(path) = &a.qr_png {
            write_private(path, &png)?;
            text.push_str(&format!("QR code written to {}\n", path.display()));
        }
        if let Some(path) = &a.qr_svg {
            let svg = otp::qr::svg(&uri).map_err(|e| CommandError::Internal(e.to_string()))?;
            write_private(path, svg.as_bytes())?;
            text.push_str(&format!("QR code written to {}\n", path.display()));
        }
    }
    Ok(Output::new(text, json!(true))
        .with_detail(detail)
        .with_audit(audit))
}

/// Writes a file readable by its owner only (a QR code carries the seed).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), CommandError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| CommandError::Invalid(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(bytes)
        .map_err(|e| CommandError::Invalid(format!("cannot write {}: {e}", path.display())))
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct CheckSerialArgs {
    serial: Option<String>,
}

async fn check_serial(ctx: Ctx, a: CheckSerialArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let unique = ctx.store().token_by_serial(serial).await?.is_none();
    let mut new_serial = serial.to_string();
    let mut n = 1;
    while !unique && ctx.store().token_by_serial(&new_serial).await?.is_some() {
        new_serial = format!("{serial}_{n:02}");
        n += 1;
        if n > 1000 {
            break;
        }
    }
    let text = if unique {
        format!("Serial {serial} is unused")
    } else {
        format!("Serial {serial} is taken; {new_serial} is free")
    };
    Ok(Output::new(
        text,
        json!({ "unique": unique, "new_serial": new_serial }),
    ))
}

impl Targets for InitArgs {
    fn targets(&self) -> Vec<Target> {
        let user = self
            .user
            .as_deref()
            .map(|u| Target::User(super::user_in_realm(u, self.realm.as_deref())));
        targets_of([self.serial.clone().map(Target::Token), user])
    }
}

crate::no_targets!(CheckSerialArgs);
