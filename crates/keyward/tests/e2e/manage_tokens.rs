//! Token administration through `keyward manage token …` on both backends: enrolment and its
//! key URI and QR files, bad input that changes nothing, secrets sealed at rest (the seed and
//! PIN never appear in the database file or dump), paging in the database, `reset2fa` and
//! challenge cleanup.

use serde_json::Value;

use crate::both_backends;
use crate::harness::TestEnv;
use crate::oath::RFC_KEY_HEX;
use crate::server_validate::user;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn token_count(env: &TestEnv) -> i64 {
    env.query_i64("SELECT COUNT(*) FROM tokens")
}

both_backends!(
    init_prints_the_key_uri_and_show_lists_the_token,
    |env: &TestEnv| {
        user(env, "alice");
        let out = env.manage_ok(&[
            "token",
            "init",
            "--type",
            "hmac",
            "--serial",
            "OATH0001",
            "--otpkey",
            RFC_KEY_HEX,
            "--user",
            "alice",
            "--description",
            "desk token",
        ]);
        assert_eq!(
            out,
            "Enrolled token OATH0001 (hotp, 6 digits, sha1) for user \"alice\"\n\
         otpauth://hotp/keyward:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=keyward&algorithm=SHA1&digits=6&counter=0\n"
        );
        let shown = json(&env.manage_ok(&["token", "show", "--json"]));
        let t = &shown["data"][0];
        assert_eq!(t["LinOtp.TokenSerialnumber"], "OATH0001");
        assert_eq!(t["LinOtp.TokenType"], "HMAC");
        assert_eq!(t["LinOtp.TokenDesc"], "desk token");
        assert_eq!(t["LinOtp.Isactive"], true);
        assert_eq!(t["LinOtp.OtpLen"], 6);
        assert_eq!(t["User.username"], "alice");
        assert_eq!(shown["resultset"]["tokens"], 1);
        // Audited, without the seed.
        let audit = env.query_strings(
            "SELECT action, target, details FROM audit_log WHERE action = 'token init'",
        );
        assert_eq!(audit.len(), 1);
        assert_eq!(
            audit[0][1], "OATH0001,alice",
            "the target from the parsed arguments"
        );
        assert!(audit[0][2].contains("OATH0001"), "{audit:?}");
        assert!(!audit[0][2].contains(RFC_KEY_HEX));
    }
);

both_backends!(
    totp_init_takes_base32_and_writes_qr_files,
    |env: &TestEnv| {
        let png = env.dir.path().join("qr.png");
        let svg = env.dir.path().join("qr.svg");
        let out = env.manage_ok(&[
            "token",
            "init",
            "--type",
            "totp",
            "--serial",
            "T1",
            "--otpkey",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "--otpkeyformat",
            "base32",
            "--otplen",
            "8",
            "--hashlib",
            "sha256",
            "--qr-png",
            png.to_str().unwrap(),
            "--qr-svg",
            svg.to_str().unwrap(),
        ]);
        assert!(out.contains(
        "otpauth://totp/keyward:T1?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=keyward&algorithm=SHA256&digits=8&period=30"
    ), "{out}");
        let bytes = std::fs::read(&png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
        let terminal = env.manage_ok(&["token", "init", "--type", "totp", "--genkey", "--qr"]);
        assert!(
            terminal.contains('█') || terminal.contains('▀'),
            "{terminal}"
        );
    }
);

both_backends!(
    bad_init_input_is_refused_and_changes_nothing,
    |env: &TestEnv| {
        user(env, "alice");
        env.manage_ok(&["token", "init", "--serial", "DUP", "--otpkey", RFC_KEY_HEX]);
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["--serial", "DUP", "--otpkey", RFC_KEY_HEX],
                "already exists",
            ),
            (vec!["--otpkey", "abc"], "odd length"),
            (vec!["--otpkey", "zz11"], "hex"),
            (
                vec!["--otpkey", "!!!!", "--otpkeyformat", "base32"],
                "base32",
            ),
            (vec!["--otpkey", RFC_KEY_HEX, "--otplen", "7"], "7"),
            (vec!["--otpkey", RFC_KEY_HEX, "--hashlib", "md5"], "md5"),
            (vec!["--genkey", "--otpkey", RFC_KEY_HEX], "not both"),
            (vec![], "otpkey"),
            (
                vec!["--otpkey", RFC_KEY_HEX, "--user", "nobody"],
                "does not exist",
            ),
            (vec!["--type", "unknown", "--genkey"], "unknown"),
            (vec!["--genkey", "--keysize", "9"], "keysize"),
        ];
        for (args, needle) in cases {
            let mut words = vec!["token", "init"];
            words.extend(args.iter().copied());
            let (code, err) = env.manage_err(&words);
            assert_ne!(code, 0);
            assert!(err.contains(needle), "{words:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
        assert_eq!(token_count(env), 1);
        let (_, err) = env.manage_err(&["token", "show", "--page", "0"]);
        assert!(err.contains("page"), "{err}");
        let (_, err) = env.manage_err(&["token", "show", "--pagesize", "1001"]);
        assert!(err.contains("pagesize"), "{err}");
        let (_, err) = env.manage_err(&["token", "show", "--sortby", "secret; DROP TABLE tokens"]);
        assert!(err.contains("sortby"), "{err}");
        let (_, err) = env.manage_err(&["token", "assign", "NOPE", "alice"]);
        assert!(err.contains("NOPE"), "{err}");
        assert_eq!(token_count(env), 1);
    }
);

both_backends!(
    seed_and_pin_never_appear_in_the_database,
    |env: &TestEnv| {
        user(env, "alice");
        let seed_hex = "6b6579776172642d7365637265742d736565642d31";
        let seed_raw = "keyward-secret-seed-1";
        let seed_b32 = data_encoding::BASE32_NOPAD.encode(seed_raw.as_bytes());
        let pin = "pin-7319-unique";
        env.manage_ok(&[
            "token", "init", "--serial", "SEAL1", "--otpkey", seed_hex, "--user", "alice", "--pin",
            pin,
        ]);
        env.manage_ok(&[
            "token",
            "setpin",
            "SEAL1",
            "--userpin",
            "userpin-5521-unique",
        ]);
        env.manage_ok(&[
            "token",
            "init",
            "--type",
            "pw",
            "--serial",
            "PW1",
            "--otpkey",
            "static-pass-8812",
        ]);
        let dump = env.database_text();
        assert!(dump.contains("SEAL1"), "the dump should hold the token row");
        for secret in [
            seed_hex,
            &seed_hex.to_uppercase(),
            seed_raw,
            &seed_b32,
            pin,
            "userpin-5521-unique",
            "static-pass-8812",
        ] {
            assert!(!dump.contains(secret), "{secret} found in the database");
        }
    }
);

both_backends!(
    show_pages_filters_and_sorts_in_the_database,
    |env: &TestEnv| {
        user(env, "alice");
        // 120 rows straight into the table (enrolment speed is not under test here).
        for i in 0..120 {
            env.exec(&format!(
            "INSERT INTO tokens (id, serial, token_type, description, otplen, created_at, updated_at, active) \
             VALUES ('id{i:03}', 'S{i:03}', '{}', 'row {i}', 6, 0, 0, {})",
            if i % 2 == 0 { "hotp" } else { "totp" },
            if i % 3 == 0 { 0 } else { 1 }
        ));
        }
        let page =
            json(&env.manage_ok(&["token", "show", "--page", "3", "--pagesize", "50", "--json"]));
        assert_eq!(page["resultset"]["tokens"], 120);
        assert_eq!(page["resultset"]["pages"], 3);
        assert_eq!(page["resultset"]["page"], 3);
        let data = page["data"].as_array().unwrap();
        assert_eq!(data.len(), 20);
        assert_eq!(data[0]["LinOtp.TokenSerialnumber"], "S100");
        let desc = json(&env.manage_ok(&[
            "token",
            "show",
            "--sortby",
            "serial",
            "--sortdir",
            "desc",
            "--pagesize",
            "2",
            "--json",
        ]));
        assert_eq!(desc["data"][0]["LinOtp.TokenSerialnumber"], "S119");
        let filtered = json(&env.manage_ok(&["token", "show", "--filter", "row 11", "--json"]));
        // "row 11" and "row 110".."row 119"
        assert_eq!(filtered["resultset"]["tokens"], 11);
        let csv = env.manage_ok(&["token", "show", "--serial", "S007", "--outform", "csv"]);
        let mut lines = csv.lines();
        assert!(
            lines
                .next()
                .unwrap()
                .contains("'LinOtp.TokenSerialnumber'; ")
        );
        assert!(lines.next().unwrap().contains("'S007'; "));
    }
);

both_backends!(reset2fa_removes_every_token_of_the_user, |env: &TestEnv| {
    user(env, "alice");
    user(env, "bob");
    for (serial, owner) in [("A1", "alice"), ("A2", "alice"), ("B1", "bob")] {
        env.manage_ok(&[
            "token", "init", "--serial", serial, "--genkey", "--user", owner,
        ]);
    }
    let out = env.manage_ok(&["reset2fa", "alice"]);
    assert_eq!(out, "Removed 2 second factor(s) of user \"alice\"\n");
    assert_eq!(token_count(env), 1);
    let (_, err) = env.manage_err(&["reset2fa", "nobody"]);
    assert!(err.contains("nobody"));
    let rows = env.query_strings(
        "SELECT target, details FROM audit_log WHERE action = 'reset2fa' ORDER BY id",
    );
    assert_eq!(rows[0][0], "alice");
    assert!(
        rows[0][1].contains("A1") && rows[0][1].contains("A2"),
        "{rows:?}"
    );
});

both_backends!(token_state_changes_through_the_cli, |env: &TestEnv| {
    user(env, "alice");
    user(env, "bob");
    env.manage_ok(&["token", "init", "--serial", "T1", "--otpkey", RFC_KEY_HEX]);
    env.manage_ok(&[
        "token", "init", "--serial", "T2", "--genkey", "--user", "alice",
    ]);
    assert_eq!(
        env.manage_ok(&["token", "assign", "T1", "alice"]),
        "Assigned token T1 to user \"alice\"\n"
    );
    let (_, err) = env.manage_err(&["token", "assign", "T1", "bob"]);
    assert!(err.contains("already assigned"), "{err}");
    assert_eq!(
        env.manage_ok(&["token", "disable", "--user", "alice"]),
        "Disabled 2 token(s): T1, T2\n"
    );
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM tokens WHERE active = 0"),
        2
    );
    env.manage_ok(&["token", "enable", "T1"]);
    env.manage_ok(&[
        "token",
        "set",
        "T1",
        "--MaxFailCount",
        "3",
        "--CounterWindow",
        "20",
    ]);
    assert_eq!(
        env.query_strings("SELECT CAST(max_fail AS TEXT), CAST(count_window AS TEXT) FROM tokens WHERE serial = 'T1'"),
        vec![vec!["3".to_string(), "20".to_string()]]
    );
    let (_, err) = env.manage_err(&["token", "set", "T1", "--MaxFailCount", "x"]);
    assert!(err.contains("MaxFailCount"), "{err}");
    env.manage_ok(&["token", "unassign", "T1"]);
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM tokens WHERE owner_id IS NULL"),
        1
    );
    env.manage_ok(&["token", "tokenrealm", "T2", "Sales,it"]);
    let realms = env.query_strings("SELECT realm FROM token_realms ORDER BY realm");
    assert_eq!(
        realms,
        vec![vec!["it".to_string()], vec!["sales".to_string()]]
    );
    assert_eq!(
        env.manage_ok(&["token", "remove", "--user", "alice"]),
        "Removed 1 token(s): T2\n"
    );
    assert_eq!(token_count(env), 1);
});

both_backends!(
    challenge_cleanup_deletes_old_challenges_in_chunks,
    |env: &TestEnv| {
        env.manage_ok(&["token", "init", "--serial", "C1", "--genkey"]);
        let id = env.query_strings("SELECT id FROM tokens")[0][0].clone();
        for i in 0..25 {
            // 20 old ones (two days ago) and 5 fresh ones.
            let created = if i < 20 {
                crate::oath::now() - 2 * 86_400
            } else {
                crate::oath::now()
            };
            env.exec(&format!(
                "INSERT INTO challenges (transaction_id, token_id, serial, created_at, expires_at) \
             VALUES ('{i:020}', '{id}', 'C1', {created}, {})",
                created + 120
            ));
        }
        assert_eq!(
            env.manage_ok(&["config", "challenge", "cleanup", "--dryrun"]),
            "Would delete 20 challenge(s) older than 1440 minutes (dry run)\n"
        );
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM challenges"), 25);
        assert_eq!(
            env.manage_ok(&["config", "challenge", "cleanup", "--chunksize", "7"]),
            "Deleted 20 challenge(s) older than 1440 minutes\n"
        );
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM challenges"), 5);
        let (code, _) = env.manage_err(&["config", "challenge", "cleanup", "--age", "-5"]);
        assert_eq!(code, 2);
    }
);
