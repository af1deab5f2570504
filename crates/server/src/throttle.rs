//! Back-off for failed attempts, in memory on this node. A [`Backoff`] counts attempts per key;
//! after a key's threshold each further one doubles the wait (1 s, 2 s, 4 s, … up to 15
//! minutes); records are forgotten after 30 quiet minutes. Never a permanent lockout.
//!
//! Logins ([`LoginThrottle`]) count per (user, address), per user and — as a coarse flood guard
//! only — per address. An attempt is *reserved* before the password is verified: the check and
//! the increment are one step under the lock, so concurrent guesses cannot all slip under the
//! limit, and every attempt counts as a failure until it fully succeeds (second factor
//! included). A correct password alone therefore changes neither the counters nor the answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins tolerated per (user, client address) before waits start.
pub const USER_ADDRESS_THRESHOLD: u32 = 5;
/// Failed logins tolerated per user name from all addresses together.
pub const USER_THRESHOLD: u32 = 10;
/// Failed logins tolerated per client address over all users: a flood guard, far above what
/// one person behind a shared address (NAT, proxy) causes.
pub const ADDRESS_THRESHOLD: u32 = 100;
/// Longest wait.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Records untouched this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(30 * 60);
/// Map size above which forgotten records are swept.
const SWEEP_ABOVE: usize = 10_000;
/// Map size above which records that block nobody yet are dropped (a flood of distinct names).
const HARD_CAP: usize = 200_000;

#[derive(Clone, Copy)]
struct Record {
    failures: u32,
    blocked_until: Option<Instant>,
    last: Instant,
}

/// One counter an attempt is charged to, with the failures it tolerates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    pub key: String,
    pub threshold: u32,
}

impl Limit {
    pub fn new(key: String, threshold: u32) -> Self {
        Limit { key, threshold }
    }
}

/// Failure counters with exponential back-off, keyed by text.
#[derive(Default)]
pub struct Backoff {
    records: Mutex<HashMap<String, Record>>,
}

/// The wait after `failures` failures with `threshold` free ones.
fn delay(failures: u32, threshold: u32) -> Option<Duration> {
    let over = failures.checked_sub(threshold)?;
    let secs = 1u64.checked_shl(over.min(20)).unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_DELAY))
}

/// Whole seconds to announce in `Retry-After` (rounded up, at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl Backoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the caller must still wait, if any of `limits` blocks it.
    pub fn blocked_for(&self, limits: &[Limit]) -> Option<Duration> {
        let now = Instant::now();
        let map = self.lock();
        limits
            .iter()
            .filter_map(|l| map.get(&l.key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// In one step: refuses (with the wait) when any limit blocks, else charges one failure to
    /// every limit. The caller gives it back with [`Backoff::release`] or [`Backoff::clear`].
    pub fn reserve(&self, limits: &[Limit]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.lock();
        let wait = limits
            .iter()
            .filter_map(|l| map.get(&l.key)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        charge(&mut map, limits, now);
        Ok(())
    }

    /// Charges one failure to every limit (no check).
    pub fn failure(&self, limits: &[Limit]) {
        charge(&mut self.lock(), limits, Instant::now());
    }

    /// Takes back one charged failure (the attempt was no guess, e.g. the database failed).
    pub fn release(&self, limits: &[Limit]) {
        let mut map = self.lock();
        for l in limits {
            if let Some(rec) = map.get_mut(&l.key) {
                rec.failures = rec.failures.saturating_sub(1);
                if delay(rec.failures, l.threshold).is_none() {
                    rec.blocked_until = None;
                }
            }
        }
    }

    /// Forgets these counters (a success).
    pub fn clear(&self, limits: &[Limit]) {
        let mut map = self.lock();
        for l in limits {
            map.remove(&l.key);
        }
    }
}

fn charge(map: &mut HashMap<String, Record>, limits: &[Limit], now: Instant) {
    if map.len() > SWEEP_ABOVE {
        map.retain(|_, r| now.duration_since(r.last) < FORGET_AFTER);
    }
    if map.len() > HARD_CAP {
        map.retain(|_, r| r.blocked_until.is_some_and(|until| until > now));
    }
    for l in limits {
        let rec = map.entry(l.key.clone()).or_insert(Record {
            failures: 0,
            blocked_until: None,
            last: now,
        });
        if now.duration_since(rec.last) >= FORGET_AFTER {
            rec.failures = 0;
        }
        rec.failures = rec.failures.saturating_add(1);
        rec.last = now;
        rec.blocked_until = delay(rec.failures, l.threshold).map(|d| now + d);
    }
}

/// Usernames longer than this cannot exist (150 is the limit); longer input is cut so a
/// flood of huge names cannot use much memory.
const MAX_KEY_CHARS: usize = 160;

fn user_part(username: &str) -> String {
    let name: String = username.chars().take(MAX_KEY_CHARS).collect();
    keyward_core::user::username_key(&name)
}

/// The failed-login throttle of one node.
#[derive(Default)]
pub struct Throttle {
    backoff: Backoff,
}

/// A reserved login attempt. It stays counted as a failure unless it is settled as a full
/// success ([`Attempt::succeeded`]) or as no guess at all ([`Attempt::not_a_guess`]); dropping
/// it (a refusal, or a client that hung up) leaves it counted.
#[must_use]
pub struct Attempt<'a> {
    backoff: &'a Backoff,
    user: [Limit; 2],
    address: Limit,
}

impl Attempt<'_> {
    /// The login fully succeeded: the user's counters are cleared; the address gets its
    /// attempt back (one valid account must not reset an address's count).
    pub fn succeeded(self) {
        self.backoff.clear(&self.user);
        self.backoff.release(std::slice::from_ref(&self.address));
    }

    /// The attempt could not be judged (an internal failure): it is not counted.
    pub fn not_a_guess(self) {
        self.backoff.release(&self.user);
        self.backoff.release(std::slice::from_ref(&self.address));
    }
}

impl Throttle {
    fn limits(username: &str, client: &str) -> ([Limit; 2], Limit) {
        let user = user_part(username);
        (
            [
                Limit::new(format!("ua:{client}|{user}"), USER_ADDRESS_THRESHOLD),
                Limit::new(format!("u:{user}"), USER_THRESHOLD),
            ],
            Limit::new(format!("a:{client}"), ADDRESS_THRESHOLD),
        )
    }

    /// Reserves a login attempt for `username` from `client`, or says how long to wait.
    pub fn reserve(&self, username: &str, client: &str) -> Result<Attempt<'_>, Duration> {
        let (user, address) = Self::limits(username, client);
        let all = [user[0].clone(), user[1].clone(), address.clone()];
        self.backoff.reserve(&all)?;
        Ok(Attempt {
            backoff: &self.backoff,
            user,
            address,
        })
    }

    /// How long `username` from `client` must still wait, if blocked.
    pub fn blocked_for(&self, username: &str, client: &str) -> Option<Duration> {
        let (user, address) = Self::limits(username, client);
        self.backoff
            .blocked_for(&[user[0].clone(), user[1].clone(), address])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_at_the_threshold_and_double_up_to_the_cap() {
        assert_eq!(delay(4, 5), None);
        assert_eq!(delay(5, 5), Some(Duration::from_secs(1)));
        assert_eq!(delay(6, 5), Some(Duration::from_secs(2)));
        assert_eq!(delay(9, 5), Some(Duration::from_secs(16)));
        assert_eq!(delay(40, 5), Some(MAX_DELAY));
        assert_eq!(delay(u32::MAX, 5), Some(MAX_DELAY));
    }

    #[test]
    fn a_user_is_blocked_from_one_address_after_the_threshold_and_freed_by_success() {
        let t = Throttle::default();
        for _ in 0..USER_ADDRESS_THRESHOLD - 1 {
            drop(t.reserve("Alice", "10.0.0.1"));
        }
        assert!(t.blocked_for("alice", "10.0.0.1").is_none());
        let last = t.reserve("alice", "10.0.0.1");
        assert!(last.is_ok());
        assert!(t.blocked_for("ALICE", "10.0.0.1").is_some());
        // Another address is not blocked for alice yet, nor is bob.
        assert!(t.blocked_for("alice", "10.0.0.3").is_none());
        assert!(t.blocked_for("bob", "10.0.0.1").is_none());
        if let Ok(a) = last {
            a.succeeded();
        }
        assert!(t.blocked_for("alice", "10.0.0.1").is_none());
    }

    #[test]
    fn item9_reservations_are_atomic_so_concurrent_attempts_stop_at_the_limit() {
        let t = Throttle::default();
        // Attempts in flight (not yet settled) already count.
        let held: Vec<_> = (0..20).map(|_| t.reserve("alice", "10.0.0.1")).collect();
        let admitted = held.iter().filter(|r| r.is_ok()).count();
        assert_eq!(admitted, USER_ADDRESS_THRESHOLD as usize);
    }

    #[test]
    fn item9_an_attempt_that_was_no_guess_is_given_back() {
        let t = Throttle::default();
        for _ in 0..USER_ADDRESS_THRESHOLD {
            if let Ok(a) = t.reserve("alice", "10.0.0.1") {
                a.not_a_guess();
            }
        }
        assert!(t.blocked_for("alice", "10.0.0.1").is_none());
    }

    #[test]
    fn item11_the_user_limit_spans_addresses_and_the_address_limit_is_coarse() {
        let t = Throttle::default();
        for i in 0..USER_THRESHOLD {
            drop(t.reserve("alice", &format!("10.0.1.{i}")));
        }
        assert!(t.blocked_for("alice", "10.0.9.9").is_some());
        let t = Throttle::default();
        for i in 0..ADDRESS_THRESHOLD - 1 {
            drop(t.reserve(&format!("user{i}"), "10.0.0.9"));
        }
        assert!(t.blocked_for("someone-else", "10.0.0.9").is_none());
        drop(t.reserve("user-last", "10.0.0.9"));
        assert!(t.blocked_for("someone-else", "10.0.0.9").is_some());
        assert!(t.blocked_for("someone-else", "10.0.0.8").is_none());
    }
}
