//! HOTP (RFC 4226): the counter-based OTP value, constant-time comparison, and the counter-window
//! searches used for verification and resynchronisation.

use subtle::ConstantTimeEq;

use super::OtpError;
use super::hash::{HashAlg, hmac};

/// Validates a configured OTP length: only 6 and 8 digits are supported.
pub fn check_otplen(n: i64) -> Result<u32, OtpError> {
    match n {
        6 => Ok(6),
        8 => Ok(8),
        _ => Err(OtpError::BadOtpLen(n)),
    }
}

/// The HOTP value for `counter`: HMAC over the big-endian counter, RFC 4226 dynamic truncation,
/// reduced modulo 10^digits and zero-padded to `digits` characters (`digits` is clamped to 1..=10).
pub fn hotp(key: &[u8], counter: u64, digits: u32, alg: HashAlg) -> String {
    let digits = digits.clamp(1, 10);
    let mac = hmac(alg, key, &counter.to_be_bytes());
    let Some(last) = mac.last() else {
        return String::new();
    };
    let offset = usize::from(last & 0x0f);
    let Some(&[b0, b1, b2, b3]) = mac.get(offset..offset + 4) else {
        return String::new();
    };
    let code = u32::from_be_bytes([b0 & 0x7f, b1, b2, b3]);
    let value = u64::from(code) % 10u64.pow(digits);
    format!("{value:0width$}", width = digits as usize)
}

/// Constant-time string equality (the length itself is not secret).
pub fn otp_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// True when `otp` is exactly `digits` ASCII decimal digits.
pub fn is_otp_format(otp: &str, digits: u32) -> bool {
    otp.len() == digits as usize && otp.bytes().all(|b| b.is_ascii_digit())
}

/// Searches counters `start..start+window` (`window` values, `start` inclusive) for `otp` and
/// returns the matching counter. Returns `None` for a malformed `otp`.
pub fn find_hotp(
    key: &[u8],
    alg: HashAlg,
    digits: u32,
    otp: &str,
    start: u64,
    window: u64,
) -> Option<u64> {
    if !is_otp_format(otp, digits) {
        return None;
    }
    let end = start.saturating_add(window);
    (start..end).find(|&c| otp_eq(&hotp(key, c, digits, alg), otp))
}

/// Resynchronisation: finds `c` in `start..start+window` with `hotp(c) == otp1` and
/// `hotp(c + 1) == otp2`, and returns `c + 1` (the counter of `otp2`).
pub fn find_hotp_pair(
    key: &[u8],
    alg: HashAlg,
    digits: u32,
    otp1: &str,
    otp2: &str,
    start: u64,
    window: u64,
) -> Option<u64> {
    if !is_otp_format(otp1, digits) || !is_otp_format(otp2, digits) {
        return None;
    }
    let end = start.saturating_add(window).min(u64::MAX - 1);
    (start..end)
        .find(|&c| {
            otp_eq(&hotp(key, c, digits, alg), otp1) && otp_eq(&hotp(key, c + 1, digits, alg), otp2)
        })
        .map(|c| c + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"12345678901234567890";
    const RFC4226: [&str; 10] = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];

    #[test]
    fn rfc4226_appendix_d() {
        for (counter, want) in (0u64..).zip(RFC4226) {
            assert_eq!(
                hotp(KEY, counter, 6, HashAlg::Sha1),
                want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn eight_digits_and_padding() {
        // RFC 4226 Appendix D truncated values: counter 0 -> 1284755224, counter 1 -> 1094287082.
        assert_eq!(hotp(KEY, 0, 8, HashAlg::Sha1), "84755224");
        assert_eq!(hotp(KEY, 1, 8, HashAlg::Sha1), "94287082");
        assert_eq!(hotp(KEY, 0, 10, HashAlg::Sha1), "1284755224");
        for c in 0..200 {
            assert_eq!(hotp(KEY, c, 6, HashAlg::Sha256).len(), 6);
        }
    }

    #[test]
    fn otplen() {
        assert_eq!(check_otplen(6), Ok(6));
        assert_eq!(check_otplen(8), Ok(8));
        assert_eq!(check_otplen(7), Err(OtpError::BadOtpLen(7)));
        assert_eq!(check_otplen(-6), Err(OtpError::BadOtpLen(-6)));
    }

    #[test]
    fn format_and_eq() {
        assert!(is_otp_format("012345", 6));
        assert!(!is_otp_format("01234", 6));
        assert!(!is_otp_format("01234a", 6));
        assert!(!is_otp_format("０12345", 6));
        assert!(otp_eq("755224", "755224"));
        assert!(!otp_eq("755224", "755225"));
        assert!(!otp_eq("755224", "7552240"));
    }

    #[test]
    fn find_hotp_window_edges() {
        // Counter 5 ("254676"): window starting at 5 finds it, window ending just before misses.
        assert_eq!(find_hotp(KEY, HashAlg::Sha1, 6, RFC4226[5], 5, 1), Some(5));
        assert_eq!(find_hotp(KEY, HashAlg::Sha1, 6, RFC4226[5], 0, 6), Some(5));
        assert_eq!(find_hotp(KEY, HashAlg::Sha1, 6, RFC4226[5], 0, 5), None);
        assert_eq!(find_hotp(KEY, HashAlg::Sha1, 6, RFC4226[5], 6, 10), None);
        assert_eq!(find_hotp(KEY, HashAlg::Sha1, 6, RFC4226[5], 5, 0), None);
        assert_eq!(find_hotp(KEY, HashAlg::Sha1, 6, RFC4226[9], 3, 7), Some(9));
        assert_eq!(find_hotp(KEY, HashAlg::Sha1, 6, "75522", 0, 10), None);
        assert_eq!(find_hotp(KEY, HashAlg::Sha1, 8, RFC4226[0], 0, 10), None);
        assert_eq!(
            find_hotp(KEY, HashAlg::Sha1, 6, "000000", u64::MAX, 5),
            None
        );
    }

    #[test]
    fn find_hotp_pair_resync() {
        let f = |a: &str, b: &str, start, window| {
            find_hotp_pair(KEY, HashAlg::Sha1, 6, a, b, start, window)
        };
        assert_eq!(f(RFC4226[3], RFC4226[4], 0, 10), Some(4));
        assert_eq!(f(RFC4226[3], RFC4226[4], 3, 1), Some(4));
        assert_eq!(f(RFC4226[3], RFC4226[4], 0, 3), None);
        assert_eq!(f(RFC4226[3], RFC4226[4], 4, 10), None);
        // Not consecutive.
        assert_eq!(f(RFC4226[3], RFC4226[5], 0, 10), None);
        // Reversed order.
        assert_eq!(f(RFC4226[4], RFC4226[3], 0, 10), None);
    }
}
