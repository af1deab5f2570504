//! Rate limit on OTP look-ups (`token getserial`, LinOTP `/admin/getSerialByOtp`, and `token
//! totp_lookup`, which tests an OTP against a window of steps of one token): a lookup
//! tells whether some token accepts an OTP right now, so unlimited lookups are an OTP search.
//! Each acting caller (`ctx.actor`: a user, an API key, a remote management address) has a
//! bucket of [`BURST`] lookups that refills by one every [`REFILL`]; beyond, the command fails
//! with [`CommandError::Throttled`] (HTTP 429) whatever the transport. Lookups are counted per
//! caller on this node (the counts live in the node's [`crate::Shared`], so two nodes in one
//! process — e.g. in-process test servers — count apart); the local console
//! (`Principal::Console`) is not limited.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::access::Principal;
use crate::context::Ctx;
use crate::output::CommandError;

/// Lookups a caller may make at once.
pub const BURST: u32 = 20;
/// One more lookup is allowed this often.
pub const REFILL: Duration = Duration::from_secs(6);
/// Callers tracked at most; quiet ones are forgotten first.
const MAX_CALLERS: usize = 10_000;

struct Bucket {
    /// Lookups left (fractional while refilling).
    tokens: f64,
    last: Instant,
    /// Lookups made by this caller since it was first seen (for the log).
    total: u64,
}

/// One node's lookup counts, per acting caller.
#[derive(Default)]
pub struct LookupLimit {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl LookupLimit {
    fn buckets(&self) -> MutexGuard<'_, HashMap<String, Bucket>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Charges one lookup to the caller of `ctx` (the console goes free), or refuses with the
/// seconds to wait.
pub fn charge_caller(ctx: &Ctx) -> Result<(), CommandError> {
    if exempt(&ctx.principal) {
        return Ok(());
    }
    charge(&ctx.shared.lookup_limit, &ctx.actor)
}

/// Whether `principal` looks up without limit: only the operator at the local console.
fn exempt(principal: &Principal) -> bool {
    principal.is_local()
}

/// Charges one lookup to `actor`, or refuses with the seconds to wait.
fn charge(limit: &LookupLimit, actor: &str) -> Result<(), CommandError> {
    let now = Instant::now();
    let mut map = limit.buckets();
    let full_after = REFILL * BURST;
    if map.len() >= MAX_CALLERS && !map.contains_key(actor) {
        map.retain(|_, b| now.duration_since(b.last) < full_after);
    }
    let bucket = map.entry(actor.to_string()).or_insert(Bucket {
        tokens: f64::from(BURST),
        last: now,
        total: 0,
    });
    let refilled = now.duration_since(bucket.last).as_secs_f64() / REFILL.as_secs_f64();
    bucket.tokens = (bucket.tokens + refilled).min(f64::from(BURST));
    bucket.last = now;
    bucket.total = bucket.total.saturating_add(1);
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        return Ok(());
    }
    let wait = ((1.0 - bucket.tokens) * REFILL.as_secs_f64())
        .ceil()
        .max(1.0) as u64;
    tracing::warn!(%actor, lookups = bucket.total, "OTP lookups throttled");
    Err(CommandError::Throttled {
        message: format!("too many OTP lookups; retry in {wait} s"),
        retry_after: wait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item12_a_caller_gets_a_burst_then_waits_and_others_are_unaffected() {
        let limit = LookupLimit::default();
        let me = "user:item12-unit";
        for _ in 0..BURST {
            assert!(charge(&limit, me).is_ok());
        }
        let refused = charge(&limit, me);
        assert!(
            matches!(refused, Err(CommandError::Throttled { retry_after, .. })
                if (1..=REFILL.as_secs()).contains(&retry_after)),
            "{refused:?}"
        );
        assert!(charge(&limit, "user:item12-other").is_ok());
        assert!(exempt(&Principal::Console));
        assert!(!exempt(&Principal::Anonymous));
        // Another node (another `Shared`) counts apart.
        assert!(charge(&LookupLimit::default(), me).is_ok());
    }
}
