//! Authentication with a token — the logic behind `/validate/check`, `/validate/simplecheck` and
//! the OTP step of `/auth/login`: find the user's (or the serial's) tokens, split PIN and OTP,
//! enforce the token's state (active, validity period, count limits, fail counter), search the
//! counter/time window, and accept the OTP through the store's compare-and-set so that a value
//! is accepted at most once — also under concurrency and across nodes. Challenge-response: a
//! pass that is exactly a token's PIN opens a challenge; its transaction id plus the OTP
//! answers it once; an `ocra2` token's challenge carries an OCRA question (the client's
//! `challenge`, or drawn) whose RFC 6287 response answers it. Every attempt is audited as
//! `validate`.

use std::net::IpAddr;

use keyward_core::otp::{self, TokenType};
use keyward_core::user::LoginMethod;
use keyward_proto::UserId;
use keyward_store::tokens::{OtpAcceptance, Token};
use keyward_store::users::User;
use keyward_store::writer::ValidationCommit;

use crate::context::Ctx;
use crate::delivery;
use crate::login::check_user_access;
use crate::output::CommandError;
use crate::policies::enforce::{AuthPolicy, OtpPin, authentication, passthru, pin_right};
use crate::tokens::{token_hashlib, token_seed, token_type, user_in_realm};

mod challenge;

use challenge::{answer_challenge, challenge_response, open_challenges};
pub(crate) use challenge::{delivers, transaction_id};

/// How long a challenge can be answered.
pub const CHALLENGE_TTL_SECS: i64 = 120;

/// A validation request as the transport saw it.
#[derive(Clone, Debug, Default)]
pub struct CheckRequest {
    /// `name` or `name@realm`.
    pub user: Option<String>,
    pub realm: Option<String>,
    pub serial: Option<String>,
    /// PIN followed by the OTP.
    pub pass: String,
    /// The second leg of a challenge-response.
    pub transaction_id: Option<String>,
    /// The question of an OCRA challenge, when the client chooses it (`challenge` / `data`).
    pub challenge: Option<String>,
    pub client: Option<IpAddr>,
}

/// The result of a validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The OTP was right and has now been used up.
    Accepted { serial: String },
    /// Refused; the reason is for the audit log, never for the client.
    Rejected { reason: String },
    /// The pass was a PIN of challenge-response tokens: challenges were opened.
    Challenge {
        transaction_id: String,
        message: String,
        serials: Vec<String>,
        /// The OCRA question to compute the response over (ocra2 tokens).
        challenge: Option<String>,
    },
}

impl CheckOutcome {
    pub fn accepted(&self) -> bool {
        matches!(self, CheckOutcome::Accepted { .. })
    }
}

fn reject(reason: impl Into<String>) -> CheckOutcome {
    CheckOutcome::Rejected {
        reason: reason.into(),
    }
}

/// What a validation decided, with the writes that make it so (committed together with its
/// audit row, in a commit shared with concurrent validations).
struct Decision {
    outcome: CheckOutcome,
    answer_challenge: Option<String>,
    accept: Option<OtpAcceptance>,
    failed: Vec<String>,
}

impl Decision {
    /// `t` matched: accept its OTP (and close the challenge it answers, if any).
    fn accepted(
        t: &Token,
        m: Match,
        now: i64,
        answer_challenge: Option<String>,
        failed: Vec<String>,
    ) -> Decision {
        Decision {
            outcome: CheckOutcome::Accepted {
                serial: t.serial.to_string(),
            },
            answer_challenge,
            accept: Some(OtpAcceptance {
                token_id: t.id.clone(),
                matched: m.counter,
                time_shift: m.time_shift,
                now,
            }),
            failed,
        }
    }

    fn rejected(reason: impl Into<String>, failed: Vec<String>) -> Decision {
        Decision {
            outcome: reject(reason),
            answer_challenge: None,
            accept: None,
            failed,
        }
    }
}

impl From<CheckOutcome> for Decision {
    fn from(outcome: CheckOutcome) -> Self {
        Decision {
            outcome,
            answer_challenge: None,
            accept: None,
            failed: Vec::new(),
        }
    }
}

/// Audit details of an outcome (never the pass).
fn describe(outcome: &CheckOutcome) -> (bool, String) {
    match outcome {
        CheckOutcome::Accepted { serial } if serial.is_empty() => (
            true,
            "accepted by the user's password (passthru policy)".into(),
        ),
        CheckOutcome::Accepted { serial } => (true, format!("accepted by {serial}")),
        CheckOutcome::Rejected { reason } => (false, reason.clone()),
        CheckOutcome::Challenge {
            transaction_id,
            serials,
            ..
        } => (
            false,
            format!("challenge {transaction_id} for {}", serials.join(",")),
        ),
    }
}

/// Validates `req`; its writes and its audit row (action `validate`, target serial or user)
/// are committed together before the answer.
pub async fn check(ctx: &Ctx, req: &CheckRequest) -> Result<CheckOutcome, CommandError> {
    let target = req
        .serial
        .clone()
        .or_else(|| req.user.clone())
        .unwrap_or_default();
    let target: String = target.chars().take(200).collect();
    let decision = match check_unaudited(ctx, req).await {
        Ok(d) => d,
        // Refused before any credential was looked at: no audit row, or a flood would write
        // one per refusal (the hashing limiter logs the refusals instead).
        Err(e @ CommandError::Overloaded(_)) => return Err(e),
        Err(e) => {
            ctx.audit("validate", &target, false, &format!("error: {e}"))
                .await?;
            return Err(e);
        }
    };
    let (ok, details) = describe(&decision.outcome);
    let audit = ctx.audit_entry("validate", &target, ok, &details).await?;
    let lost = "OTP already used";
    let won = ctx
        .store()
        .commit_validation(ValidationCommit {
            answer_challenge: decision.answer_challenge,
            accept: decision.accept.clone(),
            failed: decision.failed,
            now: ctx.now(),
            audit,
            lost_details: lost.into(),
        })
        .await?;
    if decision.accept.is_some() && !won {
        return Ok(reject(lost));
    }
    Ok(decision.outcome)
}

async fn check_unaudited(ctx: &Ctx, req: &CheckRequest) -> Result<Decision, CommandError> {
    let now = ctx.now();
    if req.pass.len() > 256 {
        return Ok(reject("pass too long").into());
    }
    let (tokens, owner) = match (&req.serial, &req.user) {
        (Some(serial), _) => match ctx.store().token_by_serial(serial).await? {
            Some(t) => {
                let owner = match &t.owner_id {
                    Some(id) => {
                        ctx.store()
                            .get_user_by_id(&UserId::from(id.as_str()))
                            .await?
                    }
                    None => None,
                };
                (vec![t], owner)
            }
            None => return Ok(reject("no such token").into()),
        },
        (None, Some(user)) => {
            let name = user_in_realm(user, req.realm.as_deref());
            let owner = match crate::realms::find_or_adopt(ctx, &name).await {
                Ok(Some(owner)) => owner,
                Ok(None) => return Ok(reject("unknown user").into()),
                Err(CommandError::NotFound(_)) => return Ok(reject("unknown realm").into()),
                Err(e) => return Err(e),
            };
            let tokens = ctx.store().owner_tokens_for_validation(&owner.id).await?;
            (tokens, Some(owner))
        }
        (None, None) => {
            return Err(CommandError::Invalid(
                "Missing parameter: 'user' or 'serial'".into(),
            ));
        }
    };
    if let Some(owner) = &owner
        && let Err(denial) = check_user_access(owner, now, req.client, LoginMethod::Otp)
    {
        return Ok(reject(format!("user refused: {}", denial.as_str())).into());
    }
    let auth = authentication(ctx, owner.as_ref(), req.client).await?;
    if tokens.is_empty() {
        if let Some(owner) = owner.as_ref().filter(|_| auth.passthru) {
            return Ok(passthru(ctx, owner, &req.pass, req.client, now)
                .await?
                .into());
        }
        return Ok(reject("the user has no token").into());
    }
    if let Some(txid) = req.transaction_id.as_deref().filter(|t| !t.is_empty()) {
        return answer_challenge(ctx, &tokens, txid, &req.pass, now, &auth).await;
    }
    let question = req.challenge.as_deref().filter(|q| !q.is_empty());
    check_tokens(
        ctx,
        &tokens,
        &req.pass,
        now,
        &auth,
        owner.as_ref(),
        question,
    )
    .await
}

/// Why a token cannot authenticate now, if it cannot. A `lockout` policy locks it after fewer
/// failures than its own MaxFailCount.
fn unusable(t: &Token, now: i64, auth: &AuthPolicy) -> Option<&'static str> {
    let max_fail = auth.lockout.map_or(t.max_fail, |l| l.min(t.max_fail));
    if !t.active {
        Some("token disabled")
    } else if t.validity_start.is_some_and(|s| now < s) {
        Some("token validity period not started")
    } else if t.validity_end.is_some_and(|e| now > e) {
        Some("token validity period ended")
    } else if t.count_auth_max > 0 && t.count_auth >= t.count_auth_max {
        Some("token countAuthMax reached")
    } else if t.count_auth_success_max > 0 && t.count_auth_success >= t.count_auth_success_max {
        Some("token countAuthSuccessMax reached")
    } else if t.fail_count >= max_fail {
        Some("token locked: fail counter reached MaxFailCount")
    } else {
        None
    }
}

/// Splits a pass into PIN and OTP by the token's OTP length (for a password token the whole
/// stored password length).
fn split_pass(pass: &str, otp_len: usize) -> Option<(&str, &str)> {
    let cut = pass.len().checked_sub(otp_len)?;
    if !pass.is_char_boundary(cut) {
        return None;
    }
    Some(pass.split_at(cut))
}

/// Where the OTP matched.
pub(crate) struct Match {
    counter: i64,
    time_shift: i64,
}

/// What a search of the token's window found.
pub(crate) enum Found {
    /// An unused counter / time step.
    Fresh(Match),
    /// A value this token generated but has already used (a replay).
    Used,
    None,
}

/// Searches the token's window for `otp`; no write.
pub(crate) async fn find_otp(
    ctx: &Ctx,
    t: &Token,
    otp: &str,
    now: i64,
) -> Result<Found, CommandError> {
    let kind = token_type(t)?;
    if delivery::delivers(kind) {
        // E-mail and SMS OTPs exist only in their challenge (see `answer_challenge`).
        return Ok(Found::None);
    }
    let seed = token_seed(ctx, t).await?;
    if kind == TokenType::Password {
        // The stored "seed" is the password: a static password, valid until disabled or expired.
        let ok = otp::otp_eq(otp, &String::from_utf8_lossy(&seed));
        return Ok(if ok {
            Found::Fresh(Match {
                counter: t.counter,
                time_shift: t.time_shift,
            })
        } else {
            Found::None
        });
    }
    if kind == TokenType::Ocra2 {
        // Answered only through its challenge (the question is part of the response).
        return Ok(Found::None);
    }
    let digits = u32::try_from(t.otplen).unwrap_or(6);
    if !otp::is_otp_format(otp, digits) {
        return Ok(Found::None);
    }
    let alg = token_hashlib(t);
    match kind {
        TokenType::Totp => {
            let step = u32::try_from(t.time_step.max(1)).unwrap_or(30);
            let shifted = now.saturating_add(t.time_shift);
            let center = otp::totp_step(shifted, step, 0);
            let reach = (t.time_window / i64::from(step)).max(1);
            let search =
                |lowest| otp::find_totp(&seed, alg, digits, otp, center, reach, reach, lowest);
            Ok(match search(t.counter) {
                Some(s) => Found::Fresh(Match {
                    counter: s,
                    // Drift tracking: how far this device's clock is from ours, in seconds.
                    time_shift: (s - otp::totp_step(now, step, 0)) * i64::from(step),
                }),
                None if search(0).is_some() => Found::Used,
                None => Found::None,
            })
        }
        _ => {
            let start = u64::try_from(t.counter).unwrap_or(0);
            let window = u64::try_from(t.count_window.max(1)).unwrap_or(10);
            match otp::find_hotp(&seed, alg, digits, otp, start, window) {
                Some(c) => Ok(i64::try_from(c)
                    .map(|counter| {
                        Found::Fresh(Match {
                            counter,
                            time_shift: t.time_shift,
                        })
                    })
                    .unwrap_or(Found::None)),
                None => {
                    let back = start.saturating_sub(window);
                    let replay = otp::find_hotp(&seed, alg, digits, otp, back, start - back);
                    Ok(if start > back && replay.is_some() {
                        Found::Used
                    } else {
                        Found::None
                    })
                }
            }
        }
    }
}

fn otp_len(t: &Token) -> usize {
    usize::try_from(t.otplen).unwrap_or(6)
}

async fn check_tokens(
    ctx: &Ctx,
    tokens: &[Token],
    pass: &str,
    now: i64,
    auth: &AuthPolicy,
    owner: Option<&User>,
    question: Option<&str>,
) -> Result<Decision, CommandError> {
    // Tokens whose PIN is the leading part of the pass.
    let mut pin_ok: Vec<&Token> = Vec::new();
    // Tokens whose PIN is the whole pass (challenge-response trigger).
    let mut pin_only: Vec<&Token> = Vec::new();
    let mut checked = Vec::new();
    for t in tokens {
        let has_pin = match auth.otppin {
            OtpPin::TokenPin => !t.pin_hash.is_empty(),
            OtpPin::UserStore => true,
            OtpPin::None => false,
        };
        if let Some((pin, _)) = split_pass(pass, otp_len(t))
            && pin_right(ctx, t, pin, auth, owner, &mut checked).await?
        {
            pin_ok.push(t);
        } else if (has_pin || delivers(t))
            && pin_right(ctx, t, pass, auth, owner, &mut checked).await?
        {
            pin_only.push(t);
        }
    }
    if pin_ok.is_empty() {
        // An e-mail/SMS token whose PIN is the pass gets an OTP sent (the first such token).
        if let Some(t) = pin_only
            .iter()
            .find(|t| delivers(t) && unusable(t, now, auth).is_none())
        {
            return Ok(delivery::send_challenge(ctx, t, now).await?.into());
        }
        let triggerable: Vec<&Token> = pin_only
            .into_iter()
            .filter(|t| unusable(t, now, auth).is_none() && challenge_response(t))
            .collect();
        if !triggerable.is_empty() {
            return Ok(open_challenges(ctx, &triggerable, now, question)
                .await?
                .into());
        }
        let ids: Vec<String> = tokens.iter().map(|t| t.id.clone()).collect();
        return Ok(Decision::rejected("wrong PIN", ids));
    }
    let mut last_reason = "wrong OTP";
    let mut failed = Vec::new();
    for t in &pin_ok {
        if let Some(why) = unusable(t, now, auth) {
            last_reason = why;
            if t.active {
                failed.push(t.id.clone());
            }
            continue;
        }
        let Some((_, otp)) = split_pass(pass, otp_len(t)) else {
            continue;
        };
        match find_otp(ctx, t, otp, now).await? {
            Found::Fresh(m) => return Ok(Decision::accepted(t, m, now, None, failed)),
            Found::Used => {
                last_reason = "OTP already used";
                failed.push(t.id.clone());
            }
            Found::None => failed.push(t.id.clone()),
        }
    }
    Ok(Decision::rejected(last_reason, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_splits_at_the_otp_length() {
        assert_eq!(split_pass("1234123456", 6), Some(("1234", "123456")));
        assert_eq!(split_pass("123456", 6), Some(("", "123456")));
        assert_eq!(split_pass("12345", 6), None);
        assert_eq!(split_pass("é12345", 6), None);
    }

    #[test]
    fn transaction_ids_have_twenty_digits() {
        let id = transaction_id().unwrap_or_default();
        assert_eq!(id.len(), 20);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
    }
}
