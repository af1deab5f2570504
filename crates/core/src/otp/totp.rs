//! TOTP (RFC 6238): time-step computation and the step-window searches, with an anti-replay
//! lower bound (`lowest`, the first step not yet used).

use super::hash::HashAlg;
use super::hotp::{hotp, is_otp_format, otp_eq};

/// The time step used when a token has none (or zero) configured, in seconds.
pub const DEFAULT_STEP: u32 = 30;

/// The time step containing `now_secs`: `floor((now - t0) / step)`; a `step_secs` of 0 means 30.
pub fn totp_step(now_secs: i64, step_secs: u32, t0: i64) -> i64 {
    let step = if step_secs == 0 {
        DEFAULT_STEP
    } else {
        step_secs
    };
    now_secs.saturating_sub(t0).div_euclid(i64::from(step))
}

/// Candidate steps in `[max(lowest, center - before), center + after]`, closest to `center`
/// first (for equal distance the earlier step first). Negative steps are never produced.
fn candidates(center: i64, before: i64, after: i64, lowest: i64) -> impl Iterator<Item = i64> {
    let lo = center.saturating_sub(before.max(0)).max(lowest).max(0);
    let hi = center.saturating_add(after.max(0));
    let reach = if lo > hi {
        -1
    } else {
        center.saturating_sub(lo).max(hi.saturating_sub(center))
    };
    (0..=reach)
        .flat_map(move |d| {
            let below = center.checked_sub(d);
            let above = if d == 0 { None } else { center.checked_add(d) };
            [below, above]
        })
        .flatten()
        .filter(move |s| (lo..=hi).contains(s))
}

fn step_otp(key: &[u8], alg: HashAlg, digits: u32, step: i64) -> Option<String> {
    u64::try_from(step).ok().map(|s| hotp(key, s, digits, alg))
}

/// Searches time steps `max(lowest, center - before) ..= center + after` for `otp`, closest to
/// `center` first, and returns the matching step. Steps below `lowest` (already used) are never
/// matched, which is what prevents replay.
#[allow(clippy::too_many_arguments)]
pub fn find_totp(
    key: &[u8],
    alg: HashAlg,
    digits: u32,
    otp: &str,
    center: i64,
    before: i64,
    after: i64,
    lowest: i64,
) -> Option<i64> {
    if !is_otp_format(otp, digits) {
        return None;
    }
    candidates(center, before, after, lowest)
        .find(|&s| step_otp(key, alg, digits, s).is_some_and(|v| otp_eq(&v, otp)))
}

/// Resynchronisation: finds a step `s` in the same window as [`find_totp`] with `otp1` at `s` and
/// `otp2` at `s + 1`, and returns `s + 1` (the step of `otp2`).
#[allow(clippy::too_many_arguments)]
pub fn find_totp_pair(
    key: &[u8],
    alg: HashAlg,
    digits: u32,
    otp1: &str,
    otp2: &str,
    center: i64,
    before: i64,
    after: i64,
    lowest: i64,
) -> Option<i64> {
    if !is_otp_format(otp1, digits) || !is_otp_format(otp2, digits) {
        return None;
    }
    candidates(center, before, after, lowest)
        .filter(|&s| s < i64::MAX)
        .find(|&s| {
            step_otp(key, alg, digits, s).is_some_and(|v| otp_eq(&v, otp1))
                && step_otp(key, alg, digits, s + 1).is_some_and(|v| otp_eq(&v, otp2))
        })
        .map(|s| s + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K20: &[u8] = b"12345678901234567890";
    const K32: &[u8] = b"12345678901234567890123456789012";
    const K64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";
    const TIMES: [i64; 6] = [
        59,
        1111111109,
        1111111111,
        1234567890,
        2000000000,
        20000000000,
    ];

    fn at(key: &[u8], alg: HashAlg, time: i64) -> Option<String> {
        step_otp(key, alg, 8, totp_step(time, 30, 0))
    }

    #[test]
    fn rfc6238_appendix_b() {
        let cases: [(&[u8], HashAlg, [&str; 6]); 3] = [
            (
                K20,
                HashAlg::Sha1,
                [
                    "94287082", "07081804", "14050471", "89005924", "69279037", "65353130",
                ],
            ),
            (
                K32,
                HashAlg::Sha256,
                [
                    "46119246", "68084774", "67062674", "91819424", "90698825", "77737706",
                ],
            ),
            (
                K64,
                HashAlg::Sha512,
                [
                    "90693936", "25091201", "99943326", "93441116", "38618901", "47863826",
                ],
            ),
        ];
        for (key, alg, want) in cases {
            for (time, w) in TIMES.into_iter().zip(want) {
                assert_eq!(at(key, alg, time).as_deref(), Some(w), "{alg} at {time}");
            }
        }
    }

    #[test]
    fn step_math() {
        assert_eq!(totp_step(59, 30, 0), 1);
        assert_eq!(totp_step(60, 30, 0), 2);
        assert_eq!(totp_step(59, 0, 0), 1);
        assert_eq!(totp_step(1111111109, 30, 0), 0x23523EC);
        assert_eq!(totp_step(120, 60, 60), 1);
        // Before t0 rounds towards minus infinity.
        assert_eq!(totp_step(-1, 30, 0), -1);
        assert_eq!(totp_step(29, 30, 30), -1);
    }

    #[test]
    fn candidate_order() {
        let v: Vec<i64> = candidates(10, 2, 1, 0).collect();
        assert_eq!(v, [10, 9, 11, 8]);
        let v: Vec<i64> = candidates(10, 2, 1, 10).collect();
        assert_eq!(v, [10, 11]);
        let v: Vec<i64> = candidates(1, 3, 0, 0).collect();
        assert_eq!(v, [1, 0]);
        assert_eq!(candidates(10, 0, 0, 11).count(), 0);
    }

    #[test]
    fn find_totp_window_and_replay() {
        let alg = HashAlg::Sha1;
        let step = totp_step(1111111111, 30, 0);
        let otp = "14050471";
        assert_eq!(find_totp(K20, alg, 8, otp, step, 0, 0, 0), Some(step));
        assert_eq!(find_totp(K20, alg, 8, otp, step + 2, 2, 0, 0), Some(step));
        assert_eq!(find_totp(K20, alg, 8, otp, step + 3, 2, 0, 0), None);
        assert_eq!(find_totp(K20, alg, 8, otp, step - 1, 0, 1, 0), Some(step));
        assert_eq!(find_totp(K20, alg, 8, otp, step - 2, 0, 1, 0), None);
        // Once used, `lowest` moves past the step and the same OTP is refused.
        let used = find_totp(K20, alg, 8, otp, step, 1, 1, 0);
        assert_eq!(used, Some(step));
        assert_eq!(find_totp(K20, alg, 8, otp, step, 1, 1, step + 1), None);
        assert_eq!(find_totp(K20, alg, 8, otp, step, 1, 1, step), Some(step));
        // Wrong length.
        assert_eq!(find_totp(K20, alg, 6, otp, step, 1, 1, 0), None);
    }

    #[test]
    fn find_totp_pair_resync() -> Result<(), String> {
        let alg = HashAlg::Sha256;
        let s = 1_000_000;
        let o1 = step_otp(K32, alg, 6, s).ok_or("otp")?;
        let o2 = step_otp(K32, alg, 6, s + 1).ok_or("otp")?;
        assert_eq!(
            find_totp_pair(K32, alg, 6, &o1, &o2, s + 50, 100, 100, 0),
            Some(s + 1)
        );
        assert_eq!(
            find_totp_pair(K32, alg, 6, &o1, &o2, s + 50, 10, 10, 0),
            None
        );
        assert_eq!(find_totp_pair(K32, alg, 6, &o2, &o1, s, 10, 10, 0), None);
        assert_eq!(
            find_totp_pair(K32, alg, 6, &o1, &o2, s, 10, 10, s + 1),
            None
        );
        Ok(())
    }
}
