//! A brake on password guessing through the `passthru` policy: `/validate/check` then checks a
//! tokenless user's password, without the login throttle of `/auth/login` in front of it. Each
//! attempt is charged to the user before the password is checked (so concurrent guesses cannot
//! slip under the limit) and cleared by a success; after [`FREE_FAILURES`] failures every further
//! attempt waits 1 s, 2 s, 4 s … up to 15 minutes, and attempts inside the wait are refused
//! without looking at the password. In memory on this node, like the login throttle.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures tolerated per user before waits start.
pub const FREE_FAILURES: u32 = 5;
/// Longest wait, in milliseconds.
const MAX_WAIT_MS: i64 = 15 * 60 * 1000;
/// Records untouched this long are forgotten (milliseconds).
const FORGET_AFTER_MS: i64 = 30 * 60 * 1000;
/// Map size above which forgotten records are swept.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Clone, Copy)]
struct Tries {
    failures: u32,
    last_ms: i64,
}

fn wait_ms(failures: u32) -> i64 {
    match failures.checked_sub(FREE_FAILURES) {
        None => 0,
        Some(extra) => (1000i64 << extra.min(20)).min(MAX_WAIT_MS),
    }
}

/// Failed passthru attempts per user.
#[derive(Default)]
pub struct PassthruGuard {
    users: Mutex<HashMap<String, Tries>>,
}

impl PassthruGuard {
    /// Charges an attempt for `user` at `now_ms`; `Err` with the milliseconds left when the user
    /// must wait.
    pub fn reserve(&self, user: &str, now_ms: i64) -> Result<(), i64> {
        let Ok(mut users) = self.users.lock() else {
            return Err(MAX_WAIT_MS);
        };
        if users.len() > SWEEP_ABOVE {
            users.retain(|_, t| now_ms.saturating_sub(t.last_ms) < FORGET_AFTER_MS);
        }
        let t = users.entry(user.to_lowercase()).or_insert(Tries {
            failures: 0,
            last_ms: now_ms,
        });
        let until = t.last_ms.saturating_add(wait_ms(t.failures));
        if now_ms < until {
            return Err(until - now_ms);
        }
        t.failures = t.failures.saturating_add(1);
        t.last_ms = now_ms;
        Ok(())
    }

    /// A successful attempt: the user's failures are forgotten.
    pub fn succeeded(&self, user: &str) {
        if let Ok(mut users) = self.users.lock() {
            users.remove(&user.to_lowercase());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_start_after_the_free_failures_and_double() {
        let g = PassthruGuard::default();
        for _ in 0..FREE_FAILURES {
            assert_eq!(g.reserve("Bob", 0), Ok(()));
        }
        assert_eq!(g.reserve("bob", 10), Err(990));
        assert_eq!(g.reserve("bob", 1000), Ok(()));
        assert_eq!(g.reserve("bob", 2500), Err(500));
        assert_eq!(g.reserve("carol", 2500), Ok(()));
        g.succeeded("BOB");
        assert_eq!(g.reserve("bob", 2500), Ok(()));
    }
}
