//! The `ocra2` token (LinOTP's name): an RFC 6287 challenge-response token. Enrolment stores the
//! OCRA suite in the token info (default `OCRA-1:HOTP-SHA256-8:QA64`); validation opens a
//! challenge whose question (given by the client as `challenge`/`data`, or drawn at random in
//! the suite's alphabet) is sealed into the challenge row, and the answer is the OCRA response
//! over that question. LinOTP's QR-TAN app activation (`activationcode`, nonce exchange) is not
//! offered: the seed is given (`otpkey`) or generated (`genkey`/`sharedsecret`) at enrolment.

use keyward_core::aead;
use keyward_core::otp::ocra::{DEFAULT_SUITE, OcraInput, OcraSuite, ocra};
use keyward_core::otp::otp_eq;
use keyward_store::tokens::Token;

use super::{seal_token_secret, token_ad, token_seed};
use crate::context::Ctx;
use crate::output::CommandError;

/// The token-info key holding the suite.
pub(crate) const SUITE_INFO: &str = "ocrasuite";
/// Length of a question keyward draws when the client gives none.
const DRAWN_QUESTION_LEN: usize = 10;

/// The suite an `ocra2` enrolment asks for, checked for what keyward can verify: suites with a
/// PIN hash (`P…`) or session information (`S…`) are refused, since neither is kept in a form
/// the server could feed into the response.
pub(crate) fn enrolment_suite(
    requested: Option<&str>,
    activationcode: Option<&str>,
) -> Result<OcraSuite, CommandError> {
    if activationcode.is_some() {
        return Err(CommandError::Invalid(
            "ocra2: the QR-TAN activation step (activationcode) is not supported; enrol with \
             otpkey or genkey=1 instead"
                .into(),
        ));
    }
    let suite = OcraSuite::parse(requested.unwrap_or(DEFAULT_SUITE))?;
    if suite.pin_hash.is_some() || suite.session_len.is_some() {
        return Err(CommandError::Invalid(format!(
            "ocra2: suite {suite} needs a PIN hash or session data in the response, which keyward \
             does not keep; use a suite with C, Q and T inputs only"
        )));
    }
    Ok(suite)
}

/// The suite stored with an `ocra2` token.
pub(crate) fn stored_suite(t: &Token) -> Result<OcraSuite, CommandError> {
    let text = t
        .info
        .get(SUITE_INFO)
        .and_then(|v| v.as_str())
        .unwrap_or(DEFAULT_SUITE);
    OcraSuite::parse(text).map_err(|e| {
        CommandError::Internal(format!("token {} has a bad OCRA suite: {e}", t.serial))
    })
}

/// The question of a new challenge for `t`: the client's (checked against the suite) or a
/// random one.
pub(crate) fn question_for(t: &Token, given: Option<&str>) -> Result<String, CommandError> {
    let suite = stored_suite(t)?;
    match given {
        Some(q) => {
            suite.check_challenge(q)?;
            Ok(q.to_string())
        }
        None => Ok(suite.random_challenge(DRAWN_QUESTION_LEN)?),
    }
}

fn challenge_column(transaction_id: &str) -> String {
    format!("challenge:{transaction_id}")
}

/// Seals the question into the challenge row, bound to the token and transaction.
pub(crate) async fn seal_question(
    ctx: &Ctx,
    t: &Token,
    transaction_id: &str,
    question: &str,
) -> Result<String, CommandError> {
    seal_token_secret(
        ctx,
        &t.id,
        &challenge_column(transaction_id),
        question.as_bytes(),
    )
    .await
}

/// Whether `answer` is the OCRA response of `t` to the question sealed in `data_sealed`; the
/// counter it used when the suite has one (searched over the token's counter window), else the
/// token's counter.
pub(crate) async fn check_answer(
    ctx: &Ctx,
    t: &Token,
    transaction_id: &str,
    data_sealed: &str,
    answer: &str,
    now: i64,
) -> Result<Option<i64>, CommandError> {
    if data_sealed.is_empty() {
        return Ok(None);
    }
    let key = ctx.shared.enckey().await?;
    let question = aead::open(
        key,
        data_sealed,
        &token_ad(&t.id, &challenge_column(transaction_id)),
    )
    .map_err(|e| CommandError::Internal(format!("cannot open the OCRA challenge: {e}")))?;
    let question = String::from_utf8_lossy(&question).into_owned();
    let suite = stored_suite(t)?;
    let seed = token_seed(ctx, t).await?;
    let start = u64::try_from(t.counter).unwrap_or(0);
    let counters = if suite.counter {
        start..start.saturating_add(u64::try_from(t.count_window.max(1)).unwrap_or(10))
    } else {
        start..start.saturating_add(1)
    };
    // Time-based suites accept the step before and after ours (clock skew).
    let steps: Vec<u64> = match suite.time_step {
        Some(step) => {
            let now = u64::try_from(now).unwrap_or(0) / step;
            vec![now, now.saturating_sub(1), now.saturating_add(1)]
        }
        None => vec![0],
    };
    for counter in counters {
        for &time_steps in &steps {
            let input = OcraInput {
                counter,
                question: &question,
                time_steps,
                ..Default::default()
            };
            if otp_eq(&ocra(&suite, &seed, &input)?, answer) {
                return Ok(Some(i64::try_from(counter).unwrap_or(t.counter)));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrolment_suites() {
        assert_eq!(
            enrolment_suite(None, None).map(|s| s.to_string()).ok(),
            Some(DEFAULT_SUITE.to_string())
        );
        assert!(enrolment_suite(Some("OCRA-1:HOTP-SHA1-6:C-QN08-T1M"), None).is_ok());
        for refused in [
            "OCRA-1:HOTP-SHA1-6:QN08-PSHA1",
            "OCRA-1:HOTP-SHA1-6:QN08-S064",
            "OCRA-1:HOTP-MD5-6:QN08",
        ] {
            assert!(enrolment_suite(Some(refused), None).is_err(), "{refused}");
        }
        assert!(enrolment_suite(None, Some("ABCD")).is_err());
    }
}
