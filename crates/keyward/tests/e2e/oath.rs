//! OTP values for the tests, computed by the real `oathtool` (Debian package `oathtool`), so
//! keyward's engine is checked against a peer nobody here wrote. A missing oathtool fails the
//! test with a clear message.

use std::process::Command;

/// The RFC 4226 test seed, `12345678901234567890`, as hex.
pub const RFC_KEY_HEX: &str = "3132333435363738393031323334353637383930";

fn oathtool(args: &[&str]) -> String {
    let out = Command::new("oathtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("oathtool not found ({e}): install it with `apt-get install oathtool`")
        });
    assert!(
        out.status.success(),
        "oathtool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// HOTP value of a hex key at a counter.
pub fn hotp(key_hex: &str, counter: u64, digits: u32) -> String {
    oathtool(&[
        "--hotp",
        "-c",
        &counter.to_string(),
        "-d",
        &digits.to_string(),
        key_hex,
    ])
}

/// TOTP value of a hex key at a unix time (30 s steps).
pub fn totp_at(key_hex: &str, alg: &str, digits: u32, unix: i64) -> String {
    oathtool(&[
        &format!("--totp={alg}"),
        "-d",
        &digits.to_string(),
        "-N",
        &format!("@{unix}"),
        key_hex,
    ])
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
