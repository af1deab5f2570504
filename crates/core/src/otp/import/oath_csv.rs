//! The OATH CSV token file LinOTP imports: one token a line,
//! `serial, key, [type], [otplen|ocrasuite], [timestep], [hashlib]`.
//!
//! The key is hex; the type is `hotp` (the default), `totp` or `ocra` (an `ocra2` token whose
//! fourth column is its OCRA suite, privacyIDEA's layout; default `OCRA-1:HOTP-SHA256-8:QA64`;
//! digits and hash come from the suite). Defaults: 6 digits, 30 s. Without a hashlib column the hash follows the
//! seed size as in LinOTP — 32 bytes sha256, 64 bytes sha512, else sha1 — and a hashlib column
//! wins even over the seed size. Lines starting with `#` and blank lines are skipped; columns
//! after the sixth are ignored.

use super::{Collector, ImportError, ImportedToken, check_key_len, check_serial, check_size};
use crate::otp::ocra::{DEFAULT_SUITE, OcraSuite};
use crate::otp::{HashAlg, KeyFormat, TokenType, check_otplen, parse_otpkey};

/// Parses an OATH CSV file. All or nothing: the first bad line is the error.
pub fn parse(text: &str) -> Result<Vec<ImportedToken>, ImportError> {
    check_size(text)?;
    let mut out = Collector::default();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let token = parse_line(line).map_err(|reason| ImportError::Csv {
            line: index + 1,
            reason,
        })?;
        out.push(token)?;
    }
    out.finish()
}

/// The trimmed column `i`, `None` when absent or empty.
fn column<'a>(cols: &[&'a str], i: usize) -> Option<&'a str> {
    cols.get(i).map(|c| c.trim()).filter(|c| !c.is_empty())
}

fn parse_line(line: &str) -> Result<ImportedToken, String> {
    let cols: Vec<&str> = line.split(',').collect();
    let serial = column(&cols, 0).ok_or("the serial is missing")?.to_string();
    check_serial(&serial)?;
    let at = |reason: String| format!("token {serial}: {reason}");
    let key_text = column(&cols, 1).ok_or_else(|| at("the key is missing".into()))?;
    let kind = match column(&cols, 2).map(str::to_ascii_lowercase).as_deref() {
        None | Some("hotp" | "hmac") => TokenType::Hotp,
        Some("totp") => TokenType::Totp,
        Some(t) if t.starts_with("ocra") => TokenType::Ocra2,
        Some(other) => {
            let shown: String = other.chars().take(20).collect();
            return Err(at(format!(
                "unknown token type {shown:?} (expected hotp, totp or ocra)"
            )));
        }
    };
    let key = parse_otpkey(key_text, KeyFormat::Hex)
        .map_err(|_| at("the key is not an even number of hex digits (1 to 128 bytes)".into()))?;
    check_key_len(key.len()).map_err(at)?;
    if kind == TokenType::Ocra2 {
        let suite = OcraSuite::parse(column(&cols, 3).unwrap_or(DEFAULT_SUITE))
            .map_err(|e| at(e.to_string()))?;
        return Ok(ImportedToken {
            serial,
            token_type: kind,
            key,
            otplen: suite.digits,
            hashlib: suite.hash,
            counter: 0,
            time_step: 30,
            time_shift: 0,
            user: None,
            info: vec![("ocrasuite".into(), suite.as_str().to_string())],
        });
    }
    let otplen = match column(&cols, 3) {
        Some(n) => n
            .parse::<i64>()
            .ok()
            .and_then(|n| check_otplen(n).ok())
            .ok_or_else(|| at("the OTP length must be 6 or 8".into()))?,
        None => 6,
    };
    let time_step = match (kind, column(&cols, 4)) {
        (TokenType::Totp, Some(s)) => s
            .parse::<u32>()
            .ok()
            .filter(|s| (1..=3600).contains(s))
            .ok_or_else(|| at("the time step must be 1 to 3600 seconds".into()))?,
        _ => 30,
    };
    let hashlib = match column(&cols, 5) {
        Some(h) => HashAlg::parse(h).map_err(|e| at(e.to_string()))?,
        None => match key.len() {
            32 => HashAlg::Sha256,
            64 => HashAlg::Sha512,
            _ => HashAlg::Sha1,
        },
    };
    Ok(ImportedToken {
        serial,
        token_type: kind,
        key,
        otplen,
        hashlib,
        counter: 0,
        time_step,
        time_shift: 0,
        user: None,
        info: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256_CSV: &str = include_str!("../../../tests/fixtures/linotp/oath_tokens_sha256.csv");
    const SEED20: &[u8] = b"12345678901234567890";
    const SEED32: &[u8] = b"12345678901234567890123456789012";

    fn find<'a>(tokens: &'a [ImportedToken], serial: &str) -> &'a ImportedToken {
        tokens
            .iter()
            .find(|t| t.serial == serial)
            .unwrap_or_else(|| unreachable!("no token {serial}"))
    }

    #[test]
    fn linotp_sha256_fixture_imports_eight_tokens() -> Result<(), ImportError> {
        let tokens = parse(SHA256_CSV)?;
        assert_eq!(tokens.len(), 8);
        let expect = [
            (
                "htok_sha256_1",
                TokenType::Hotp,
                SEED32,
                8,
                HashAlg::Sha256,
                30,
            ),
            (
                "htok_sha256_2",
                TokenType::Hotp,
                SEED32,
                6,
                HashAlg::Sha256,
                30,
            ),
            (
                "htok_sha256_3",
                TokenType::Hotp,
                SEED32,
                8,
                HashAlg::Sha256,
                30,
            ),
            (
                "ttok_sha256_4",
                TokenType::Totp,
                SEED32,
                6,
                HashAlg::Sha256,
                30,
            ),
            (
                "ttok_sha256_5",
                TokenType::Totp,
                SEED32,
                8,
                HashAlg::Sha256,
                60,
            ),
            ("htok_sha1_6", TokenType::Hotp, SEED20, 8, HashAlg::Sha1, 30),
            (
                "htok_sha256_7",
                TokenType::Hotp,
                SEED20,
                8,
                HashAlg::Sha256,
                30,
            ),
            (
                "htok_sha256_8",
                TokenType::Hotp,
                SEED20,
                8,
                HashAlg::Sha256,
                30,
            ),
        ];
        for (serial, kind, seed, otplen, alg, step) in expect {
            let t = find(&tokens, serial);
            assert_eq!(t.token_type, kind, "{serial}");
            assert_eq!(t.key, seed, "{serial}");
            assert_eq!(t.otplen, otplen, "{serial}");
            assert_eq!(t.hashlib, alg, "{serial}");
            assert_eq!(t.time_step, step, "{serial}");
            assert_eq!(t.counter, 0, "{serial}");
        }
        Ok(())
    }

    #[test]
    fn linotp_expectations_hold_for_the_computed_codes() -> Result<(), ImportError> {
        // The values LinOTP's tests validate (counter 1 of each token).
        let tokens = parse(SHA256_CSV)?;
        let code = |s: &str| {
            let t = find(&tokens, s);
            crate::otp::hotp(&t.key, 1, t.otplen, t.hashlib)
        };
        assert_eq!(code("htok_sha256_3"), "46119246");
        assert_eq!(code("htok_sha256_1"), "46119246");
        assert_eq!(code("htok_sha1_6"), "94287082");
        assert_ne!(code("htok_sha256_7"), "94287082");
        Ok(())
    }

    #[test]
    fn defaults_and_the_sha512_seed_size() -> Result<(), ImportError> {
        let seed64 = "31".repeat(64);
        let tokens = parse(&format!("A1, 3132\n\n# c\nA2, {seed64}, totp\n"))?;
        assert_eq!(tokens.len(), 2);
        let a1 = find(&tokens, "A1");
        assert_eq!(
            (a1.token_type, a1.otplen, a1.hashlib, a1.time_step),
            (TokenType::Hotp, 6, HashAlg::Sha1, 30)
        );
        assert_eq!(find(&tokens, "A2").hashlib, HashAlg::Sha512);
        Ok(())
    }

    #[test]
    fn ocra_rows_become_ocra2_tokens_with_their_suite() -> Result<(), ImportError> {
        let tokens = parse("O1, 3132, ocra, OCRA-1:HOTP-SHA1-6:QN08\nO2, 3132, ocra2\n")?;
        let o1 = find(&tokens, "O1");
        assert_eq!(
            (o1.token_type, o1.otplen, o1.hashlib),
            (TokenType::Ocra2, 6, HashAlg::Sha1)
        );
        assert_eq!(
            o1.info,
            [(
                "ocrasuite".to_string(),
                "OCRA-1:HOTP-SHA1-6:QN08".to_string()
            )]
        );
        let o2 = find(&tokens, "O2");
        assert_eq!((o2.otplen, o2.hashlib), (8, HashAlg::Sha256));
        Ok(())
    }

    #[test]
    fn bad_lines_name_the_line_and_never_the_key() {
        let err = |text: &str| parse(text).err().map(|e| e.to_string()).unwrap_or_default();
        let ocra = err("O1, 3132, ocra, OCRA-1:HOTP-MD5-6:QN08\n");
        assert!(ocra.contains("line 1") && ocra.contains("OCRA"), "{ocra}");
        let hex = err("# x\nB1, 31zz3132secretish\n");
        assert!(hex.contains("line 2") && hex.contains("B1"), "{hex}");
        assert!(!hex.contains("secretish"), "{hex}");
        assert!(err("C1, 3132, hotp, 7").contains("6 or 8"));
        assert!(err("C1, 3132, totp, 6, 0").contains("time step"));
        assert!(err("C1, 3132, hotp, 6, , md5").contains("md5"));
        assert!(err("C1, 3132, yubikey").contains("unknown token type"));
        assert!(err("C1").contains("key is missing"));
        assert!(err("D1, 3132\nD1, 3334\n").contains("more than once"));
        assert_eq!(parse("# only comments\n\n"), Err(ImportError::NoTokens));
        assert!(err(&"x".repeat(super::super::MAX_IMPORT_BYTES + 1)).contains("too large"));
    }
}
