//! `token losttoken` (LinOTP `/admin/losttoken`, seed 003): a temporary token replaces a lost
//! one — a password token (the default), or an `email` / `sms` token sending OTPs to the
//! owner's address (or `email`) or to `mobile` (or the old token's phone). The replacement gets
//! the old token's PIN, owner and realms and a limited validity; the old token is disabled. All
//! of it and the audit row commit together.

use clap::Parser;
use keyward_core::otp::{TokenType, generate_key};
use keyward_proto::UserId;
use keyward_store::tokens::{NewToken, TokenField};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::enroll::{LOST_PASSWORD_LEN, random_password};
use super::{load_token, seal_token_secret};
use crate::access::{Access, TOKEN_OPERATORS, Target, Targets, targets_of};
use crate::context::Ctx;
use crate::delivery::{self, PHONE_INFO};
use crate::output::{CommandError, Output};
use crate::params::{given, required};
use crate::registry::{CommandSpec, param_command};

/// How long a `losttoken` replacement stays valid (LinOTP's default: 10 days).
const LOST_TOKEN_VALID_SECS: i64 = 10 * 24 * 3600;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command(
            "token losttoken",
            "Replace a lost token by a temporary password, email or sms token",
            losttoken,
        )
        .mutating()
        .example("token losttoken OATH0001")
        .example("token losttoken OATH0001 --type email")
        .example("token losttoken OATH0001 --type sms --mobile +491701234567")
        .allow(Access::Roles(TOKEN_OPERATORS)),
    ]
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct LostTokenArgs {
    /// Serial of the lost token.
    serial: Option<String>,
    /// Replacement type: password (default), email or sms.
    #[arg(long = "type")]
    #[serde(rename = "type")]
    token_type: Option<String>,
    /// E-mail address for an email replacement (default: the owner's).
    #[arg(long)]
    email: Option<String>,
    /// Phone number for an sms replacement (default: the old token's phone).
    #[arg(long)]
    mobile: Option<String>,
}

async fn losttoken(ctx: Ctx, a: LostTokenArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let kind = match given(&a.token_type).map(str::to_ascii_lowercase).as_deref() {
        None | Some("password" | "pw" | "spass") => TokenType::Password,
        Some("email") => TokenType::Email,
        Some("sms") => TokenType::Sms,
        Some(other) => {
            let shown: String = other.chars().take(32).collect();
            return Err(CommandError::Invalid(format!(
                "losttoken type '{shown}' is not one of password, email, sms"
            )));
        }
    };
    let old = load_token(&ctx, serial).await?;
    let Some(owner_id) = old.owner_id.clone() else {
        return Err(CommandError::Invalid(format!(
            "token {serial} is not assigned to a user"
        )));
    };
    let new_serial = format!("lost{}", old.serial);
    if ctx.store().token_by_serial(&new_serial).await?.is_some() {
        return Err(CommandError::Conflict(format!(
            "token with serial \"{new_serial}\" already exists"
        )));
    }
    let owner = ctx
        .store()
        .get_user_by_id(&UserId::from(owner_id.as_str()))
        .await?;
    let old_phone = old.info.get(PHONE_INFO).and_then(Value::as_str);
    let info = delivery::destination_info(
        kind,
        given(&a.email),
        given(&a.mobile).or(old_phone),
        owner.as_ref(),
    )?;
    let password = match kind {
        TokenType::Password => Some(random_password(LOST_PASSWORD_LEN)?),
        _ => None,
    };
    let (secret, otplen) = match &password {
        Some(pw) => (pw.as_bytes().to_vec(), pw.len() as i64),
        None => (generate_key(20)?, 6),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let now = ctx.now();
    let end = now + LOST_TOKEN_VALID_SECS;
    let seed_sealed = seal_token_secret(&ctx, &id, "seed", &secret).await?;
    // The replacement, its validity, the old token's disabling and the audit row: one commit.
    let mut tx = ctx.begin_change().await?;
    tx.create_token(&NewToken {
        id: id.clone(),
        serial: new_serial.clone().into(),
        token_type: kind.as_str().into(),
        description: format!("temporary replacement for {}", old.serial),
        owner_id: Some(owner_id),
        seed_sealed,
        // The PIN is copied as its hash: the user keeps their PIN.
        pin_hash: old.pin_hash.clone(),
        otplen,
        hashlib: "sha1".into(),
        counter: 0,
        time_step: 30,
        time_window: 180,
        time_shift: 0,
        info: info.clone(),
        realms: old.realms.clone(),
        now,
    })
    .await?;
    tx.update_token(&id, &[TokenField::ValidityEnd(Some(end))], now)
        .await?;
    tx.update_token(&old.id, &[TokenField::Active(false)], now)
        .await?;
    let end_date = super::linotp_date(end);
    let mut value = Map::new();
    value.insert("serial".into(), json!(new_serial));
    value.insert("init".into(), json!(true));
    value.insert("user".into(), json!(true));
    value.insert("end_date".into(), json!(end_date));
    value.insert("disable".into(), json!(1));
    let mut text = format!(
        "Token {} disabled; temporary {} token {new_serial} valid until {end_date}",
        old.serial,
        kind.as_str()
    );
    if let Some(pw) = &password {
        value.insert("password".into(), json!(pw));
        text.push_str(&format!("\npassword: {pw}"));
    }
    for (key, dest) in &info {
        value.insert(key.clone(), dest.clone());
        text.push_str(&format!(
            "\nOTPs go to {}",
            dest.as_str().unwrap_or_default()
        ));
    }
    let out = Output::new(text, Value::Object(value)).with_audit(format!(
        "replaced by {new_serial} ({}), valid until {end_date}",
        kind.as_str()
    ));
    ctx.commit_output(tx, out).await
}

impl Targets for LostTokenArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([self.serial.clone().map(Target::Token)])
    }
}
