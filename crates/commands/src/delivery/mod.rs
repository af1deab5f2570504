//! OTPs delivered by e-mail and SMS, and the mail commands. An `email` or `sms` token answers a
//! bare PIN with a challenge: a fresh random OTP is sealed into the challenge row (bound to its
//! transaction id), the row is committed on its own, and only then is the OTP sent — no database
//! transaction or lock is held while the mail server or the gateway answers. A failed send
//! deletes the challenge again and is a clear error. Sends per token are limited
//! (`otp_delivery_max_sends` per `otp_delivery_window_secs`), the OTP is valid for
//! `otp_delivery_validity_secs` and answers its challenge once. Also here: `sendtestmail`
//! (seed 000) and `setup seal_smtp_password`.

pub(crate) mod sms;
pub(crate) mod smtp;

use clap::Parser;
use keyward_core::aead;
use keyward_core::enckey::KeySlot;
use keyward_core::otp::TokenType;
use keyward_store::challenges::Challenge;
use keyward_store::tokens::Token;
use keyward_store::users::User;
use serde_json::{Map, Value, json};

use crate::access::{ADMINS, Access};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::validate::CheckOutcome;

/// Token info key of an e-mail token's address (LinOTP's name).
pub(crate) const EMAIL_INFO: &str = "email_address";
/// Token info key of an SMS token's phone number (LinOTP's name, also set by `token set --phone`).
pub(crate) const PHONE_INFO: &str = "phone";

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "sendtestmail",
            "Send a test mail to ADDRESS through the configured SMTP server",
            sendtestmail,
        )
        .example("sendtestmail something@something.com")
        .allow(Access::Roles(ADMINS)),
        command(
            "setup seal_smtp_password",
            "Print the SMTP password sealed with the enckey, for smtp_password_sealed",
            seal_smtp_password,
        )
        .new_secret("password")
        .example("setup seal_smtp_password --password mySmtpPassword")
        .allow(Access::Local),
    ]
}

#[derive(Parser)]
struct SendTestMailArgs {
    /// Where the test mail goes.
    address: String,
}

async fn sendtestmail(ctx: Ctx, a: SendTestMailArgs) -> Result<Output, CommandError> {
    smtp::check_address("address", &a.address)?;
    smtp::send(
        &ctx,
        smtp::Mail {
            to: &a.address,
            subject: "keyward test mail",
            body: "This is a test mail from keyward: the mail settings work.\n".into(),
        },
    )
    .await?;
    Ok(Output::new(
        format!("Sent a test mail to {}", a.address),
        json!({ "sent": true, "address": a.address }),
    ))
}

#[derive(Parser)]
struct SealArgs {
    /// The SMTP password (better: --password-stdin or --password-prompt).
    #[arg(long)]
    password: Option<String>,
}

async fn seal_smtp_password(ctx: Ctx, a: SealArgs) -> Result<Output, CommandError> {
    let Some(password) = a.password.as_deref().filter(|p| !p.is_empty()) else {
        return Err(CommandError::Invalid(
            "give the SMTP password: --password-stdin, --password-prompt or --password".into(),
        ));
    };
    let sealed = smtp::seal_password(&ctx, password).await?;
    Ok(Output::new(
        format!("smtp_password_sealed = \"{sealed}\""),
        json!({ "smtp_password_sealed": sealed }),
    ))
}

crate::no_targets!(SendTestMailArgs);
crate::no_targets!(SealArgs);

/// Where a delivery token sends its OTPs.
enum Destination {
    Email(String),
    Phone(String),
}

impl Destination {
    fn of(t: &Token) -> Result<Destination, CommandError> {
        let info = |key: &str| {
            t.info
                .get(key)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    CommandError::Invalid(format!("token {} has no {key} to send to", t.serial))
                })
        };
        match crate::tokens::token_type(t)? {
            TokenType::Email => Ok(Destination::Email(info(EMAIL_INFO)?)),
            TokenType::Sms => Ok(Destination::Phone(info(PHONE_INFO)?)),
            _ => Err(CommandError::Internal(format!(
                "token {} does not deliver OTPs",
                t.serial
            ))),
        }
    }
}

/// Whether a token type gets its OTPs delivered (e-mail or SMS).
pub(crate) fn delivers(kind: TokenType) -> bool {
    matches!(kind, TokenType::Email | TokenType::Sms)
}

/// The token info naming where a new `email`/`sms` token sends to: the given address, else
/// (for e-mail) the owner's; a phone number must be given. Empty for other types.
pub(crate) fn destination_info(
    kind: TokenType,
    email: Option<&str>,
    phone: Option<&str>,
    owner: Option<&User>,
) -> Result<Map<String, Value>, CommandError> {
    let mut info = Map::new();
    match kind {
        TokenType::Email => {
            let address = email
                .or_else(|| owner.map(|u| u.email.as_str()).filter(|e| !e.is_empty()))
                .ok_or_else(|| {
                    CommandError::Invalid(
                        "an email token needs an address: give email, or a user with one".into(),
                    )
                })?;
            smtp::check_address("email", address)?;
            info.insert(EMAIL_INFO.into(), json!(address));
        }
        TokenType::Sms => {
            let phone = phone
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    CommandError::Invalid("an sms token needs a phone number (phone)".into())
                })?;
            if phone.len() > 32
                || !phone
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+-/ ()".contains(c))
            {
                return Err(CommandError::Invalid(
                    "parameter 'phone' must be a phone number (digits, +, -, /, spaces)".into(),
                ));
            }
            info.insert(PHONE_INFO.into(), json!(phone));
        }
        _ => {}
    }
    Ok(info)
}

/// Associated data binding a challenge's sealed OTP to its transaction id.
fn challenge_ad(transaction_id: &str) -> Vec<u8> {
    format!("challenge:{transaction_id}:otp").into_bytes()
}

/// A random OTP of `len` digits.
fn random_otp(len: i64) -> Result<String, CommandError> {
    let len = usize::try_from(len.clamp(4, 12)).unwrap_or(6);
    let mut otp = String::with_capacity(len);
    for _ in 0..len {
        let d =
            keyward_core::random::below(10).map_err(|e| CommandError::Internal(e.to_string()))?;
        otp.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
    }
    Ok(otp)
}

/// Opens a challenge for a delivery token and sends its OTP (see the module doc).
pub(crate) async fn send_challenge(
    ctx: &Ctx,
    t: &Token,
    now: i64,
) -> Result<CheckOutcome, CommandError> {
    let destination = Destination::of(t)?;
    let s = ctx.settings();
    let window = i64::try_from(s.otp_delivery_window_secs).unwrap_or(900);
    let recent = ctx
        .store()
        .challenges_of_tokens(std::slice::from_ref(&t.id))
        .await?
        .iter()
        .filter(|c| c.created_at > now - window)
        .count();
    if recent >= usize::try_from(s.otp_delivery_max_sends).unwrap_or(0) {
        return Err(CommandError::Throttled {
            message: format!(
                "token {}: at most {} OTPs are sent per {window} s; try again later",
                t.serial, s.otp_delivery_max_sends
            ),
            retry_after: u64::try_from(window).unwrap_or(60),
        });
    }
    let txid = crate::validate::transaction_id()?;
    let otp = zeroize::Zeroizing::new(random_otp(t.otplen)?);
    let key = ctx.shared.enckey().await?;
    let sealed = aead::seal(
        key,
        KeySlot::TokenSecrets,
        otp.as_bytes(),
        &challenge_ad(&txid),
    )
    .map_err(|e| CommandError::Internal(format!("cannot encrypt the OTP: {e}")))?;
    let validity = i64::try_from(s.otp_delivery_validity_secs).unwrap_or(300);
    let message = match destination {
        Destination::Email(_) => "e-mail sent successfully",
        Destination::Phone(_) => "sms submitted",
    };
    // Committed on its own before sending: no transaction is open while the peer answers.
    ctx.store()
        .create_challenge(&Challenge {
            transaction_id: txid.clone(),
            token_id: t.id.clone(),
            serial: t.serial.clone(),
            message: message.into(),
            data_sealed: sealed,
            state: "open".into(),
            created_at: now,
            expires_at: now + validity,
        })
        .await?;
    let sent = match &destination {
        Destination::Email(address) => {
            let minutes = (validity + 59) / 60;
            let body = format!(
                "Your one-time password: {}\n\nIt is valid for {minutes} minute(s) and can be used once.\n",
                otp.as_str()
            );
            let subject = "Your one-time password";
            smtp::send(
                ctx,
                smtp::Mail {
                    to: address,
                    subject,
                    body,
                },
            )
            .await
        }
        Destination::Phone(phone) => sms::send(ctx, phone, &otp).await,
    };
    if let Err(e) = sent {
        // Not left open: an OTP that never arrived cannot be answered.
        ctx.store().delete_challenge(&txid).await?;
        return Err(e);
    }
    Ok(CheckOutcome::Challenge {
        transaction_id: txid,
        message: message.into(),
        serials: vec![t.serial.to_string()],
        challenge: None,
    })
}

/// Whether `otp` is the OTP sealed into the challenge (compared in constant time).
pub(crate) async fn otp_matches(
    ctx: &Ctx,
    ch: &Challenge,
    otp: &str,
) -> Result<bool, CommandError> {
    let key = ctx.shared.enckey().await?;
    let sent = aead::open(key, &ch.data_sealed, &challenge_ad(&ch.transaction_id))
        .map_err(|e| CommandError::Internal(format!("cannot decrypt the challenge: {e}")))?;
    let sent = zeroize::Zeroizing::new(String::from_utf8_lossy(&sent).into_owned());
    Ok(keyward_core::otp::otp_eq(otp, &sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_otps_have_the_token_length() {
        let otp = random_otp(8).unwrap_or_default();
        assert_eq!(otp.len(), 8);
        assert!(otp.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(random_otp(6).unwrap_or_default().len(), 6);
    }

    #[test]
    fn destinations_are_checked() {
        let info = destination_info(TokenType::Email, Some("a@example.com"), None, None);
        assert_eq!(
            info.ok().and_then(|i| i.get(EMAIL_INFO).cloned()),
            Some(json!("a@example.com"))
        );
        assert!(destination_info(TokenType::Email, Some("not an address"), None, None).is_err());
        assert!(destination_info(TokenType::Email, None, None, None).is_err());
        assert!(destination_info(TokenType::Sms, None, Some("+49 170 1234567"), None).is_ok());
        assert!(destination_info(TokenType::Sms, None, Some("call me"), None).is_err());
        assert!(destination_info(TokenType::Sms, None, None, None).is_err());
        assert!(destination_info(TokenType::Hotp, None, None, None).is_ok_and(|i| i.is_empty()));
    }
}
