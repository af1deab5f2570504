//! PSKC import tests: RFC 6030 examples and the PSKC files of LinOTP's fixtures.

use super::*;

const PLAIN: &str = include_str!("../../../../tests/fixtures/pskc/plain.pskcxml");
const PSK: &str = include_str!("../../../../tests/fixtures/pskc/psk-aes128cbc.pskcxml");
const PBE: &str = include_str!("../../../../tests/fixtures/pskc/pbe-pbkdf2-aes128cbc.pskcxml");
const FEITIAN: &str = include_str!("../../../../tests/fixtures/linotp/pskc_tokens.xml");
const PSK_HEX: &str = "12345678901234567890123456789012";
const PASSWORD: &str = "pskc-test-passphrase";
const S20: &[u8] = b"12345678901234567890";
const S32: &[u8] = b"12345678901234567890123456789012";
const S64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

fn psk() -> Decryption {
    Decryption::PreSharedKey(
        data_encoding::HEXLOWER
            .decode(PSK_HEX.as_bytes())
            .unwrap_or_default(),
    )
}

/// The five keys of the python-pskc samples, as every protection must yield them.
fn assert_samples(tokens: &[ImportedToken]) {
    type Row = (
        &'static str,
        TokenType,
        &'static [u8],
        u32,
        HashAlg,
        u64,
        u32,
        &'static str,
    );
    let expect: [Row; 5] = [
        (
            "HOTP0001",
            TokenType::Hotp,
            S20,
            6,
            HashAlg::Sha1,
            0,
            30,
            "alice",
        ),
        (
            "HOTP0002",
            TokenType::Hotp,
            S20,
            8,
            HashAlg::Sha1,
            5,
            30,
            "bob",
        ),
        (
            "TOTP0001",
            TokenType::Totp,
            S20,
            8,
            HashAlg::Sha1,
            0,
            30,
            "carol",
        ),
        (
            "TOTP0002",
            TokenType::Totp,
            S32,
            8,
            HashAlg::Sha256,
            0,
            30,
            "dave",
        ),
        (
            "TOTP0003",
            TokenType::Totp,
            S64,
            6,
            HashAlg::Sha512,
            0,
            60,
            "erin",
        ),
    ];
    assert_eq!(tokens.len(), expect.len());
    for (t, (serial, kind, seed, otplen, alg, counter, step, user)) in tokens.iter().zip(expect) {
        assert_eq!(t.serial, serial);
        assert_eq!(t.token_type, kind, "{serial}");
        assert_eq!(t.key, seed, "{serial}");
        assert_eq!(t.otplen, otplen, "{serial}");
        assert_eq!(t.hashlib, alg, "{serial}");
        assert_eq!(t.counter, counter, "{serial}");
        assert_eq!(t.time_step, step, "{serial}");
        assert_eq!(t.time_shift, 0, "{serial}");
        assert_eq!(t.user.as_deref(), Some(user), "{serial}");
    }
    // The README's known codes.
    let code = |i: usize, c: u64| {
        let t = &tokens[i];
        crate::otp::hotp(&t.key, c, t.otplen, t.hashlib)
    };
    assert_eq!(code(0, 1), "287082");
    assert_eq!(code(1, 5), "68254676");
    assert_eq!(code(2, 59 / 30), "94287082");
    assert_eq!(code(3, 59 / 30), "46119246");
    assert_eq!(code(4, 59 / 60), "550594");
}

#[test]
fn plain_secrets() -> Result<(), ImportError> {
    assert_samples(&parse(PLAIN, Decryption::None)?);
    // A key given for a plain file is not needed and does no harm.
    assert_samples(&parse(PLAIN, psk())?);
    Ok(())
}

#[test]
fn pre_shared_key() -> Result<(), ImportError> {
    assert_samples(&parse(PSK, psk())?);
    Ok(())
}

#[test]
fn pbkdf2_password() -> Result<(), ImportError> {
    assert_samples(&parse(PBE, Decryption::Password(PASSWORD.into()))?);
    Ok(())
}

#[test]
fn linotp_feitian_file() -> Result<(), ImportError> {
    let tokens = parse(FEITIAN, Decryption::None)?;
    assert_eq!(tokens.len(), 6);
    let hotp: Vec<_> = tokens
        .iter()
        .filter(|t| t.token_type == TokenType::Hotp)
        .collect();
    assert_eq!(hotp.len(), 2);
    assert_eq!(tokens[0].serial, "1000133508267");
    for t in &tokens {
        assert_eq!(t.key.len(), 20, "{}", t.serial);
        assert_eq!((t.otplen, t.hashlib, t.counter), (6, HashAlg::Sha1, 0));
        let step = if t.token_type == TokenType::Totp {
            60
        } else {
            30
        };
        assert_eq!(t.time_step, step, "{}", t.serial);
        assert_eq!(t.user, None);
    }
    Ok(())
}

#[test]
fn encrypted_files_need_the_key() {
    assert_eq!(
        parse(PSK, Decryption::None),
        Err(ImportError::NeedsDecryption)
    );
    assert_eq!(
        parse(PBE, Decryption::None),
        Err(ImportError::NeedsDecryption)
    );
}

#[test]
fn wrong_password_or_key_is_refused() {
    let wrong = parse(PBE, Decryption::Password("not-the-passphrase".into()));
    assert_eq!(wrong, Err(ImportError::WrongKey));
    let wrong_psk = Decryption::PreSharedKey(vec![0x42; 16]);
    assert_eq!(parse(PSK, wrong_psk), Err(ImportError::WrongKey));
    // The PSK file is not password-protected, and the password file's derived key is not
    // the pre-shared one.
    let e = parse(PSK, Decryption::Password(PASSWORD.into())).err();
    assert!(e.is_some_and(|e| e.to_string().contains("not password-protected")));
    assert_eq!(parse(PBE, psk()), Err(ImportError::WrongKey));
    let short = parse(PSK, Decryption::PreSharedKey(vec![1; 5])).err();
    assert!(short.is_some_and(|e| e.to_string().contains("16, 24 or 32")));
}

#[test]
fn a_tampered_mac_or_ciphertext_is_refused() {
    let tampered = PSK.replace(
        "lhu9uDeuk4lKWEbT9yOc1jUeRqg=",
        "AAAAuDeuk4lKWEbT9yOc1jUeRqg=",
    );
    assert_ne!(tampered, PSK);
    assert_eq!(
        parse(&tampered, psk()),
        Err(ImportError::MacMismatch("hotp-sha1-6".into()))
    );
    // Flipping a byte of the IV keeps the padding valid but breaks the MAC.
    let iv_flip = PBE.replace("loqOSqgNLqHqbyeYGeqeMCV9", "loqOSqgNLqHqbyeYGeqeMCV8");
    assert_ne!(iv_flip, PBE);
    assert_eq!(
        parse(&iv_flip, Decryption::Password(PASSWORD.into())),
        Err(ImportError::MacMismatch("hotp-sha1-8".into()))
    );
}

#[test]
fn errors_never_show_secrets() {
    let secret_b64 = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=";
    let bad_alg = PLAIN.replacen(
        "urn:ietf:params:xml:ns:keyprov:pskc:hotp",
        "urn:ietf:params:xml:ns:keyprov:pskc#OCRA-1:HOTP-SHA1-6:QN08",
        1,
    );
    let e = parse(&bad_alg, Decryption::None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("key hotp-sha1-6") && e.contains("only HOTP and TOTP"),
        "{e}"
    );
    assert!(!e.contains(secret_b64));
    let bad_b64 = PLAIN.replacen(secret_b64, "MTIz!!!zq9x", 1);
    let e = parse(&bad_b64, Decryption::None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("hotp-sha1-6") && !e.contains("zq9x"), "{e}");
    let e = parse(PBE, Decryption::Password("hunter2-guess".into()))
        .err()
        .map(|e| e.to_string());
    assert!(e.is_some_and(|e| !e.contains("hunter2")));
}

#[test]
fn shapes_and_limits() {
    let err = |xml: &str| {
        parse(xml, Decryption::None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(err("<a>").contains("well-formed"));
    assert!(err("<Other/>").contains("KeyContainer"));
    assert_eq!(
        parse("<KeyContainer Version=\"1.0\"/>", Decryption::None),
        Err(ImportError::NoTokens)
    );
    let dtd = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><KeyContainer/>";
    assert!(err(dtd).contains("well-formed"));
    let twice = PLAIN.replace("HOTP0002", "HOTP0001");
    assert_eq!(
        parse(&twice, Decryption::None),
        Err(ImportError::DuplicateSerial("HOTP0001".into()))
    );
    let no_serial = PLAIN.replacen("<pskc:SerialNo>HOTP0001</pskc:SerialNo>", "", 1);
    let tokens = parse(&no_serial, Decryption::None).unwrap_or_default();
    assert_eq!(
        tokens.first().map(|t| t.serial.as_str()),
        Some("hotp-sha1-6")
    );
    let seven = PLAIN.replacen("Length=\"6\"", "Length=\"7\"", 1);
    assert!(err(&seven).contains("6 or 8"));
    let md5 = PLAIN.replacen("HMAC-SHA256", "HMAC-MD5", 1);
    assert!(err(&md5).contains("key totp-sha256-8: unsupported Suite"));
    let drift = PLAIN.replacen(
        "<pskc:TimeInterval>\n     <pskc:PlainValue>60</pskc:PlainValue>\n    </pskc:TimeInterval>",
        "<pskc:TimeInterval><pskc:PlainValue>60</pskc:PlainValue></pskc:TimeInterval>\
         <pskc:TimeDrift><pskc:PlainValue>-2</pskc:PlainValue></pskc:TimeDrift>",
        1,
    );
    let tokens = parse(&drift, Decryption::None).unwrap_or_default();
    assert_eq!(tokens.get(4).map(|t| t.time_shift), Some(-120));
    assert!(err(&" ".repeat(super::super::MAX_IMPORT_BYTES + 1)).contains("too large"));
}

#[test]
fn descriptive_fields_are_kept_and_other_encodings_named() {
    let tokens = parse(PLAIN, Decryption::None).unwrap_or_default();
    let first = tokens.first().map(|t| t.info.clone()).unwrap_or_default();
    let get = |k: &str| first.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("issuer"), Some("AuthTest"));
    assert_eq!(get("manufacturer"), Some("Example Tokens"));
    assert_eq!(get("pskc_key_id"), Some("hotp-sha1-6"));
    let with_model = PLAIN.replacen(
        "<pskc:SerialNo>HOTP0001</pskc:SerialNo>",
        "<pskc:SerialNo>HOTP0001</pskc:SerialNo><pskc:Model>OTP c200</pskc:Model>",
        1,
    );
    let tokens = parse(&with_model, Decryption::None).unwrap_or_default();
    let info = tokens.first().map(|t| t.info.clone()).unwrap_or_default();
    assert!(info.contains(&("model".to_string(), "OTP c200".to_string())));
    let alnum = PLAIN.replacen("Encoding=\"DECIMAL\"", "Encoding=\"ALPHANUMERIC\"", 1);
    let e = parse(&alnum, Decryption::None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("key hotp-sha1-6") && e.contains("\"ALPHANUMERIC\" is not supported"),
        "{e}"
    );
}
