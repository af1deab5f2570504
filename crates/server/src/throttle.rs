//! Back-off for failed logins, per user name and per client address, in memory on this node.
//! After a threshold of failures each further failure doubles the wait (1 s, 2 s, 4 s, … up to
//! 15 minutes); a success clears the user's record; records are forgotten after 30 quiet
//! minutes. Never a permanent lockout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures tolerated per user name before waits start.
pub const USER_THRESHOLD: u32 = 5;
/// Failures tolerated per client address (several users may share one address).
pub const ADDRESS_THRESHOLD: u32 = 20;
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

/// The failure records of one node.
#[derive(Default)]
pub struct Throttle {
    records: Mutex<HashMap<String, Record>>,
}

/// Usernames longer than this cannot exist (150 is the limit); longer input is cut so a
/// flood of huge names cannot use much memory.
const MAX_KEY_CHARS: usize = 160;

fn user_key(username: &str) -> String {
    let name: String = username.chars().take(MAX_KEY_CHARS).collect();
    format!("u:{}", keyward_core::user::username_key(&name))
}

fn address_key(client: &str) -> String {
    format!("a:{client}")
}

/// The wait after `failures` failures with `threshold` free ones.
fn delay(failures: u32, threshold: u32) -> Option<Duration> {
    let over = failures.checked_sub(threshold)?;
    let secs = 1u64.checked_shl(over.min(20)).unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_DELAY))
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the caller must still wait, if it is blocked by user or address.
    pub fn blocked_for(&self, username: &str, client: &str) -> Option<Duration> {
        let now = Instant::now();
        let map = self.lock();
        [user_key(username), address_key(client)]
            .iter()
            .filter_map(|k| map.get(k)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Records a failed attempt.
    pub fn failure(&self, username: &str, client: &str) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, r| now.duration_since(r.last) < FORGET_AFTER);
        }
        if map.len() > HARD_CAP {
            map.retain(|_, r| r.blocked_until.is_some_and(|until| until > now));
        }
        for (key, threshold) in [
            (user_key(username), USER_THRESHOLD),
            (address_key(client), ADDRESS_THRESHOLD),
        ] {
            let rec = map.entry(key).or_insert(Record {
                failures: 0,
                blocked_until: None,
                last: now,
            });
            if now.duration_since(rec.last) >= FORGET_AFTER {
                rec.failures = 0;
            }
            rec.failures = rec.failures.saturating_add(1);
            rec.last = now;
            rec.blocked_until = delay(rec.failures, threshold).map(|d| now + d);
        }
    }

    /// A successful login clears the user's record (not the address's: one valid account must
    /// not let an address reset its count).
    pub fn success(&self, username: &str) {
        self.lock().remove(&user_key(username));
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
    fn a_user_is_blocked_after_the_threshold_and_freed_by_success() {
        let t = Throttle::default();
        for _ in 0..USER_THRESHOLD - 1 {
            t.failure("Alice", "10.0.0.1");
        }
        assert!(t.blocked_for("alice", "10.0.0.1").is_none());
        t.failure("alice", "10.0.0.2");
        assert!(t.blocked_for("ALICE", "10.0.0.3").is_some());
        assert!(t.blocked_for("bob", "10.0.0.3").is_none());
        t.success("alice");
        assert!(t.blocked_for("alice", "10.0.0.3").is_none());
    }

    #[test]
    fn an_address_is_blocked_after_its_threshold() {
        let t = Throttle::default();
        for i in 0..ADDRESS_THRESHOLD {
            t.failure(&format!("user{i}"), "10.0.0.9");
        }
        assert!(t.blocked_for("someone-else", "10.0.0.9").is_some());
        assert!(t.blocked_for("someone-else", "10.0.0.8").is_none());
    }
}
