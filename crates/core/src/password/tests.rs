//! Cross-scheme tests against the sample user stores in `crates/core/tests/fixtures/`
//! (copies of `shared/fixtures/userstores/`, made with the real tools: mkpasswd, openssl,
//! pure-pw, ftpasswd), plus the behaviour of the public API on garbage input.

use std::path::PathBuf;

use super::*;

/// Reads a fixture, preferring the copy inside the crate over the shared original.
fn fixture(name: &str) -> String {
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/userstores")
        .join(name);
    std::fs::read_to_string(&local)
        .or_else(|_| std::fs::read_to_string(&shared))
        .unwrap_or_else(|e| panic!("fixture {name} (looked in {local:?} and {shared:?}): {e}"))
}

/// The `(user, hash)` pairs of a colon-separated user store (shadow / passwd style).
fn user_hashes(name: &str) -> Vec<(String, String)> {
    fixture(name)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut fields = l.split(':');
            let user = fields.next().unwrap().to_string();
            let hash = fields.next().expect("hash field").to_string();
            (user, hash)
        })
        .collect()
}

/// Checks every user's hash with the right password (true) and another user's (false).
fn check_store(name: &str, passwords: &[(&str, &str)], expected_schemes: &[&str]) {
    let users = user_hashes(name);
    assert_eq!(users.len(), passwords.len(), "{name}: user count");
    std::thread::scope(|s| {
        for ((user, hash), expected_scheme) in users.iter().zip(expected_schemes) {
            let (_, password) = passwords
                .iter()
                .find(|(u, _)| u == user)
                .unwrap_or_else(|| panic!("{name}: no password for {user}"));
            let (_, other) = passwords.iter().find(|(u, _)| u != user).unwrap();
            assert_eq!(scheme_name(hash), *expected_scheme, "{name}: {user}");
            s.spawn(move || {
                assert!(
                    verify_password(password, hash).unwrap(),
                    "{name}: {user} should verify"
                );
                assert!(
                    !verify_password(other, hash).unwrap(),
                    "{name}: {user} must not verify with another password"
                );
                assert!(needs_upgrade(hash, &Argon2Params::default()));
            });
        }
    });
}

#[test]
fn hashes_by_scheme_fixture() {
    let text = fixture("hashes-by-scheme.tsv");
    let rows: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 3, "bad fixture line {l:?}");
            (cols[0], cols[2])
        })
        .collect();
    assert!(rows.len() >= 13, "fixture has {} rows", rows.len());

    let mut seen = Vec::new();
    std::thread::scope(|s| {
        for &(scheme, hash) in &rows {
            seen.push(scheme);
            if scheme == "gost-yescrypt" {
                assert_eq!(scheme_name(hash), "unknown");
                assert!(matches!(
                    verify_password("Hash-Test-1", hash),
                    Err(PasswordError::Unsupported(ref n)) if n == "gost-yescrypt"
                ));
                continue;
            }
            let expected_name = scheme.strip_suffix("-rounds").unwrap_or(scheme);
            assert_eq!(scheme_name(hash), expected_name, "{scheme}");
            s.spawn(move || {
                assert!(
                    verify_password("Hash-Test-1", hash).unwrap(),
                    "{scheme}: {hash} should verify"
                );
                // DES crypt only sees the first eight characters, which "Hash-Test-1" and
                // "Hash-Test-2" share (libxcrypt agrees), so it gets a wrong password that
                // differs early.
                let wrong = if scheme == "descrypt" {
                    assert!(verify_password("Hash-Test-2", hash).unwrap());
                    "Hash-Xest-1"
                } else {
                    "Hash-Test-2"
                };
                assert!(
                    !verify_password(wrong, hash).unwrap(),
                    "{scheme}: {hash} must not verify with a wrong password"
                );
                assert!(needs_upgrade(hash, &Argon2Params::default()), "{scheme}");
            });
        }
    });
    for scheme in [
        "yescrypt",
        "gost-yescrypt",
        "scrypt",
        "bcrypt",
        "sha512crypt",
        "sha256crypt",
        "md5crypt",
        "descrypt",
        "apr1",
    ] {
        assert!(seen.contains(&scheme), "fixture lacks {scheme}");
    }
}

#[test]
fn unix_shadow_fixture() {
    check_store(
        "shadow",
        &[
            ("alice", "Alice-Unix1"),
            ("bob", "Bob-Unix2"),
            ("carol", "Carol-Unix3"),
        ],
        &["yescrypt", "sha512crypt", "sha256crypt"],
    );
}

#[test]
fn proftpd_passwd_fixture() {
    check_store(
        "ftpd.passwd",
        &[
            ("alice", "Alice-Pro1"),
            ("bob", "Bob-Pro2"),
            ("carol", "Carol-Pro3"),
        ],
        &["md5crypt", "sha256crypt", "sha512crypt"],
    );
}

#[test]
fn pureftpd_passwd_fixture() {
    check_store(
        "pureftpd.passwd",
        &[
            ("alice", "Alice-Pure1"),
            ("bob", "Bob-Pure2"),
            ("carol", "Carol-Pure3"),
        ],
        &["argon2id", "argon2id", "argon2id"],
    );
}

#[test]
fn public_round_trip() {
    let params = Argon2Params {
        m_cost_kib: 128,
        t_cost: 1,
        p_cost: 1,
    };
    let h = hash_password("s3cret pässword", &params).unwrap();
    assert_eq!(scheme_name(&h), "argon2id");
    assert!(verify_password("s3cret pässword", &h).unwrap());
    assert!(!verify_password("s3cret password", &h).unwrap());
    assert!(!needs_upgrade(&h, &params));
    assert!(needs_upgrade(&h, &Argon2Params::default()));
}

#[test]
fn default_params_are_owasp() {
    assert_eq!(
        Argon2Params::default(),
        Argon2Params {
            m_cost_kib: 19_456,
            t_cost: 2,
            p_cost: 1
        }
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for bad in [
        "",
        "$",
        "$$",
        "$6$",
        "$6$$",
        "$5$x",
        "$1$abc",
        "$1$$",
        "$apr1$",
        "$argon2id$garbage",
        "$argon2id$v=19$m=19456,t=2,p=1$$",
        "$argon2i$",
        "$y$x",
        "$y$j9T$$",
        "$y$$$$",
        "$7$",
        "$7$C",
        "$2b$",
        "$2b$05$short",
        "$2y$99$eHqO78UjiQitGtDfMCHt1eYx4dxhNCreGegLj048617wnZM1HcrMm",
        "YAvYIDlgIr4v",
        "YAvYIDlgIr4vs!",
        "not a hash",
        "!",
        "*",
        "!$6$OOew2OpNV9Km8xcA$I96R29NN",
        "$Ü$",
        "\u{0}",
    ] {
        assert!(
            matches!(
                verify_password("Hash-Test-1", bad),
                Err(PasswordError::Malformed)
            ),
            "{bad:?} -> {:?}",
            verify_password("Hash-Test-1", bad)
        );
        assert!(needs_upgrade(bad, &Argon2Params::default()));
    }
}

#[test]
fn unknown_schemes_are_unsupported() {
    for (stored, label) in [
        ("$gy$j9T$wnTQljf7N9i7/NGdbmtQl1$x", "gost-yescrypt"),
        ("$sha1$40000$salt$hash", "$sha1$"),
        (
            "$2x$05$eHqO78UjiQitGtDfMCHt1eYx4dxhNCreGegLj048617wnZM1HcrMm",
            "$2x$",
        ),
        ("$md5,rounds=5000$salt$hash", "$md5$"),
        ("$Ü$salt$hash", "unknown"),
        ("_J9..CCCCXBrJUJV154M", "bsdi-descrypt"),
    ] {
        let result = verify_password("x", stored);
        if label == "unknown" {
            assert!(matches!(result, Err(PasswordError::Malformed)), "{stored}");
        } else {
            assert!(
                matches!(result, Err(PasswordError::Unsupported(ref n)) if n == label),
                "{stored} -> {result:?}"
            );
        }
        assert_eq!(scheme_name(stored), "unknown");
    }
}

#[test]
fn mutated_fixture_hashes_never_panic() {
    let text = fixture("hashes-by-scheme.tsv");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(hash) = line.split('\t').nth(2) else {
            continue;
        };
        // Every truncation: must come back as a result (the value does not matter).
        for end in (0..hash.len()).filter(|&i| hash.is_char_boundary(i)) {
            let _ = verify_password("Hash-Test-1", &hash[..end]);
            let _ = needs_upgrade(&hash[..end], &Argon2Params::default());
        }
        // Every single-character substitution, for the schemes that are cheap to compute.
        if ["md5crypt", "apr1", "descrypt", "sha256crypt"].contains(&scheme_name(hash)) {
            for (i, _) in hash.char_indices() {
                for c in ['$', 'z', '.', 'é', '\0', ':'] {
                    let mut mutated = hash.to_string();
                    mutated.replace_range(i..=i, &c.to_string());
                    let _ = verify_password("Hash-Test-1", &mutated);
                }
            }
        }
    }
}
