//! `token resync` (LinOTP `/admin/resync`): brings a drifted HOTP counter or TOTP clock back by
//! finding two consecutive OTPs within the token's sync window; the counter then continues
//! after the second one (so neither can be replayed).

use clap::Parser;
use keyward_core::otp::{self, TokenType};
use serde::Deserialize;
use serde_json::json;

use super::{token_hashlib, token_seed, token_type, tokens_by_serial_or_user};
use crate::access::{Access, TOKEN_OPERATORS, Target, Targets, targets_of};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::params::{given, required};
use crate::registry::{CommandSpec, param_command};

/// Largest TOTP resync search, in time steps each way (a day at 30 s).
const MAX_TOTP_SYNC_STEPS: i64 = 2880;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command(
            "token resync",
            "Resynchronise a token with two consecutive OTPs",
            resync,
        )
        .mutating()
        .example("token resync OATH0001 254676 287922")
        .allow(Access::Roles(TOKEN_OPERATORS)),
    ]
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct ResyncArgs {
    serial: Option<String>,
    otp1: Option<String>,
    otp2: Option<String>,
    /// All tokens of this user instead of one serial.
    #[arg(long)]
    user: Option<String>,
}

async fn resync(ctx: Ctx, a: ResyncArgs) -> Result<Output, CommandError> {
    let otp1 = required("otp1", &a.otp1)?;
    let otp2 = required("otp2", &a.otp2)?;
    let tokens = tokens_by_serial_or_user(&ctx, given(&a.serial), given(&a.user)).await?;
    let now = ctx.now();
    for t in &tokens {
        let kind = token_type(t)?;
        if !matches!(kind, TokenType::Hotp | TokenType::Totp) {
            continue;
        }
        let digits = u32::try_from(t.otplen).unwrap_or(6);
        if !otp::is_otp_format(otp1, digits) || !otp::is_otp_format(otp2, digits) {
            continue;
        }
        let seed = token_seed(&ctx, t).await?;
        let alg = token_hashlib(t);
        let found = if kind == TokenType::Totp {
            let step = u32::try_from(t.time_step.max(1)).unwrap_or(30);
            let current = otp::totp_step(now, step, 0);
            let reach = t.sync_window.clamp(1, MAX_TOTP_SYNC_STEPS);
            otp::find_totp_pair(
                &seed, alg, digits, otp1, otp2, current, reach, reach, t.counter,
            )
            .map(|s| (s + 1, (s - current) * i64::from(step)))
        } else {
            otp::find_hotp_pair(
                &seed,
                alg,
                digits,
                otp1,
                otp2,
                u64::try_from(t.counter).unwrap_or(0),
                u64::try_from(t.sync_window.max(1)).unwrap_or(1000),
            )
            .and_then(|c| i64::try_from(c).ok())
            .map(|c| (c + 1, t.time_shift))
        };
        if let Some((next, shift)) = found {
            let mut tx = ctx.begin_change().await?;
            if tx.resync_counter(&t.id, next, shift, now).await? {
                let out = Output::new(format!("Resynchronised token {}", t.serial), json!(true))
                    .with_audit(format!("resynced {} to counter {next}", t.serial));
                return ctx.commit_output(tx, out).await;
            }
        }
    }
    // Nothing changed: the audit row commits alone.
    let out = Output::new(
        "Resynchronisation failed: OTPs not found in the sync window",
        json!(false),
    )
    .with_audit("not resynced: OTPs not found")
    .as_failure();
    ctx.commit_output(ctx.begin_change().await?, out).await
}

impl Targets for ResyncArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([
            self.serial.clone().map(Target::Token),
            self.user.clone().map(Target::User),
        ])
    }
}
