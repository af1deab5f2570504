//! Challenge-response of `/validate/check`: a pass that is exactly a token's PIN opens a
//! challenge (an `ocra2` token's carries an OCRA question; an e-mail or SMS token's a sealed OTP
//! that is then sent), and the transaction id plus the answer closes it once.

use keyward_core::otp::TokenType;
use keyward_store::challenges::Challenge;
use keyward_store::tokens::Token;

use super::{CHALLENGE_TTL_SECS, CheckOutcome, Decision, Found, Match, find_otp, reject, unusable};
use crate::context::Ctx;
use crate::delivery;
use crate::output::CommandError;
use crate::policies::enforce::AuthPolicy;
use crate::tokens::token_type;

/// Whether a token's OTPs are sent by e-mail or SMS.
pub(crate) fn delivers(t: &Token) -> bool {
    token_type(t).is_ok_and(delivery::delivers)
}

/// Whether a token answers a bare PIN with a challenge (set per token: info
/// `challenge_response = 1`, as privacyIDEA's challenge_response policy does per type).
pub(super) fn challenge_response(t: &Token) -> bool {
    is_ocra(t)
        || matches!(
            t.info.get("challenge_response").and_then(|v| v.as_str()),
            Some("1" | "true")
        )
}

fn is_ocra(t: &Token) -> bool {
    token_type(t).is_ok_and(|k| k == TokenType::Ocra2)
}

/// A fresh 20-digit transaction id.
pub(crate) fn transaction_id() -> Result<String, CommandError> {
    let mut id = String::with_capacity(20);
    for _ in 0..20 {
        let d =
            keyward_core::random::below(10).map_err(|e| CommandError::Internal(e.to_string()))?;
        id.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
    }
    Ok(id)
}

pub(super) async fn open_challenges(
    ctx: &Ctx,
    tokens: &[&Token],
    now: i64,
    question: Option<&str>,
) -> Result<CheckOutcome, CommandError> {
    let txid = transaction_id()?;
    let mut message = "please enter otp: ".to_string();
    // One challenge row, keyed by the transaction id, names every challenged serial; its token
    // is the OCRA token whose question it carries, else the first.
    let first = tokens
        .iter()
        .find(|t| is_ocra(t))
        .or_else(|| tokens.first())
        .ok_or_else(|| CommandError::Internal("no token to challenge".into()))?;
    // An OCRA token's question, sealed into the row (one question per challenge).
    let mut ocra_question = None;
    let mut data_sealed = String::new();
    if is_ocra(first) {
        let t = first;
        let q = crate::tokens::ocra2::question_for(t, question)?;
        data_sealed = crate::tokens::ocra2::seal_question(ctx, t, &txid, &q).await?;
        message = format!("please answer the challenge: {q}");
        ocra_question = Some(q);
    }
    ctx.store()
        .create_challenge(&Challenge {
            transaction_id: txid.clone(),
            token_id: first.id.clone(),
            serial: tokens
                .iter()
                .map(|t| t.serial.as_str())
                .collect::<Vec<_>>()
                .join(",")
                .into(),
            message: message.clone(),
            data_sealed,
            state: "open".into(),
            created_at: now,
            expires_at: now + CHALLENGE_TTL_SECS,
        })
        .await?;
    Ok(CheckOutcome::Challenge {
        transaction_id: txid,
        message,
        serials: tokens.iter().map(|t| t.serial.to_string()).collect(),
        challenge: ocra_question,
    })
}

pub(super) async fn answer_challenge(
    ctx: &Ctx,
    tokens: &[Token],
    txid: &str,
    otp: &str,
    now: i64,
    auth: &AuthPolicy,
) -> Result<Decision, CommandError> {
    let Some(ch) = ctx.store().challenge(txid).await? else {
        return Ok(reject("unknown transaction id").into());
    };
    if ch.state != "open" || ch.expires_at <= now {
        return Ok(reject("challenge expired or already answered").into());
    }
    let serials: Vec<&str> = ch.serial.split(',').collect();
    let candidates: Vec<&Token> = tokens
        .iter()
        .filter(|t| serials.contains(&t.serial.as_str()))
        .collect();
    if candidates.is_empty() {
        return Ok(reject("transaction id belongs to another token").into());
    }
    let mut failed = Vec::new();
    for t in candidates {
        if unusable(t, now, auth).is_some() {
            continue;
        }
        let matched = if is_ocra(t) {
            // The question was drawn for (and sealed to) the token the row names.
            if t.id == ch.token_id {
                crate::tokens::ocra2::check_answer(ctx, t, txid, &ch.data_sealed, otp, now)
                    .await?
                    .map(|counter| Match {
                        counter,
                        time_shift: t.time_shift,
                    })
            } else {
                None
            }
        } else if delivers(t) && t.id == ch.token_id {
            // A delivered OTP: the one sealed into this challenge, used once like any OTP.
            delivery::otp_matches(ctx, &ch, otp)
                .await?
                .then_some(Match {
                    counter: t.counter,
                    time_shift: t.time_shift,
                })
        } else {
            match find_otp(ctx, t, otp, now).await? {
                Found::Fresh(m) => Some(m),
                Found::Used | Found::None => None,
            }
        };
        match matched {
            // The challenge is closed in the same commit: it is answered once.
            Some(m) => {
                return Ok(Decision::accepted(
                    t,
                    m,
                    now,
                    Some(txid.to_string()),
                    failed,
                ));
            }
            None => failed.push(t.id.clone()),
        }
    }
    Ok(Decision::rejected("wrong OTP for the challenge", failed))
}
