//! Cross-checks the HOTP/TOTP implementation against the reference `oathtool` binary (Debian
//! package `oathtool`). The test fails, rather than skipping, when `oathtool` is not installed.

use std::process::Command;

use data_encoding::HEXLOWER;
use keyward_core::otp::{HashAlg, hotp, totp_step};

const TIMES: [i64; 7] = [
    0,
    59,
    1_111_111_109,
    1_234_567_890,
    1_700_000_015,
    2_000_000_000,
    20_000_000_000,
];

fn oathtool(args: &[String]) -> Result<String, String> {
    let out = Command::new("oathtool").args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "oathtool not found: apt-get install oathtool".to_string()
        } else {
            format!("cannot run oathtool: {e}")
        }
    })?;
    if !out.status.success() {
        return Err(format!(
            "oathtool {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn random_key(len: usize) -> Result<Vec<u8>, String> {
    keyward_core::random::vec(len).map_err(|e| e.to_string())
}

#[test]
fn hotp_sha1_matches_oathtool() -> Result<(), String> {
    let key = random_key(20)?;
    let hex = HEXLOWER.encode(&key);
    for counter in 0..=20u64 {
        let want = oathtool(&[
            "--hotp".into(),
            "-c".into(),
            counter.to_string(),
            "-d".into(),
            "6".into(),
            hex.clone(),
        ])?;
        assert_eq!(
            hotp(&key, counter, 6, HashAlg::Sha1),
            want,
            "counter {counter}"
        );
    }
    Ok(())
}

fn check_totp(alg: HashAlg, key_len: usize, digits: u32, step: u32) -> Result<(), String> {
    let key = random_key(key_len)?;
    let hex = HEXLOWER.encode(&key);
    for time in TIMES {
        let want = oathtool(&[
            format!("--totp={}", alg.as_str()),
            "-d".into(),
            digits.to_string(),
            "-s".into(),
            format!("{step}s"),
            "-N".into(),
            format!("@{time}"),
            hex.clone(),
        ])?;
        let s = u64::try_from(totp_step(time, step, 0)).map_err(|e| e.to_string())?;
        assert_eq!(
            hotp(&key, s, digits, alg),
            want,
            "{alg} step {step}s at {time}"
        );
    }
    Ok(())
}

#[test]
fn totp_sha1_6_digits_matches_oathtool() -> Result<(), String> {
    check_totp(HashAlg::Sha1, 20, 6, 30)
}

#[test]
fn totp_sha1_6_digits_60s_matches_oathtool() -> Result<(), String> {
    check_totp(HashAlg::Sha1, 20, 6, 60)
}

#[test]
fn totp_sha256_8_digits_matches_oathtool() -> Result<(), String> {
    check_totp(HashAlg::Sha256, 32, 8, 30)
}

#[test]
fn totp_sha512_8_digits_matches_oathtool() -> Result<(), String> {
    check_totp(HashAlg::Sha512, 64, 8, 30)
}
