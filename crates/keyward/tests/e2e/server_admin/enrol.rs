//! /admin: `init` and `losttoken` (`loadtokens`: server_import.rs).

use super::*;
use crate::both_backends;
use crate::server_validate::accepted;

both_backends!(
    init_hotp_with_otpkey_stores_a_sealed_seed,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        let v = api.call(
            "init",
            json!({"serial": "H1", "otpkey": RFC_KEY_HEX, "user": "alice",
                   "description": "desk token"}),
        );
        assert_eq!(v["result"]["status"], true, "{v}");
        assert_eq!(v["result"]["value"], true, "{v}");
        assert_eq!(v["detail"]["serial"], "H1", "{v}");
        let uri = v["detail"]["googleurl"]["value"].as_str().unwrap();
        assert!(uri.starts_with("otpauth://hotp/"), "{uri}");
        assert!(
            v["detail"].get("otpkey").is_none(),
            "a given key is not echoed: {v}"
        );
        let row = env.query_strings(
            "SELECT token_type, hashlib, description, seed_sealed, CAST(otplen AS TEXT), \
             CAST(counter AS TEXT) FROM tokens WHERE serial = 'H1'",
        );
        assert_eq!(row[0][0], "hotp");
        assert_eq!(row[0][1], "sha1");
        assert_eq!(row[0][2], "desk token");
        assert!(!row[0][3].is_empty() && !row[0][3].contains(RFC_KEY_HEX));
        assert!(!row[0][3].contains("12345678901234567890"));
        assert_eq!(row[0][4], "6");
        assert_eq!(row[0][5], "0");
        assert_eq!(owner_of(env, "H1"), user_id(env, "alice"));
        assert!(accepted(&api.http, "alice", &hotp(0)));
    }
);

both_backends!(
    init_totp_with_genkey_returns_the_otpauth_uri_and_seed,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        let v = api.call(
            "init",
            json!({"serial": "T1", "type": "totp", "genkey": "1", "user": "alice"}),
        );
        assert_eq!(v["result"]["value"], true, "{v}");
        let uri = v["detail"]["googleurl"]["value"].as_str().unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("period=30"), "{uri}");
        let seed = v["detail"]["otpkey"]["value"].as_str().unwrap();
        let hex = seed.strip_prefix("seed://").unwrap_or(seed);
        assert_eq!(hex.len(), 40, "20-byte default seed: {seed}");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        // The URI's secret is the same seed in base32.
        let secret = uri
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("secret="))
            .unwrap();
        let decoded = data_encoding::BASE32_NOPAD
            .decode(secret.trim_end_matches('=').as_bytes())
            .unwrap();
        assert_eq!(data_encoding::HEXLOWER.encode(&decoded), hex.to_lowercase());
        assert_eq!(text_column(env, "T1", "token_type"), "totp");
        assert_eq!(column(env, "T1", "time_step"), 30);
        let otp = oath::totp_at(hex, "sha1", 6, oath::now());
        assert!(accepted(&api.http, "alice", &otp));
    }
);

both_backends!(
    init_pw_token_validates_with_pin_and_password,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        let v = api.ok(
            "init",
            json!({"serial": "PW1", "type": "pw", "otpkey": "s3cret-pw", "pin": "12",
                   "user": "alice"}),
        );
        assert_eq!(v, true);
        assert_eq!(text_column(env, "PW1", "token_type"), "pw");
        assert!(!text_column(env, "PW1", "seed_sealed").contains("s3cret-pw"));
        assert_eq!(
            api.show(json!({"serial": "PW1"}))[0]["LinOtp.TokenType"],
            "pw"
        );
        assert!(!accepted(&api.http, "alice", "12wrong-pw"));
        assert!(accepted(&api.http, "alice", "12s3cret-pw"));
    }
);

both_backends!(
    init_takes_get_query_form_and_json_bodies,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        let r = api.get(
            "init",
            &[("serial", "G1"), ("otpkey", RFC_KEY_HEX), ("user", "alice")],
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["result"]["value"], true, "{}", r.text);
        let key32 = "3132333435363738393031323334353637383930313233343536373839303132";
        let r = api.form(
            "init",
            &[
                ("serial", "F1"),
                ("type", "totp"),
                ("otpkey", key32),
                ("otplen", "8"),
                ("hashlib", "sha256"),
                ("timeStep", "60"),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["result"]["value"], true, "{}", r.text);
        // JSON numbers and booleans are accepted as parameter values.
        let v = api.ok(
            "init",
            json!({"serial": "J1", "otpkey": RFC_KEY_HEX, "otplen": 8, "genkey": false}),
        );
        assert_eq!(v, true);
        assert_eq!(owner_of(env, "G1"), user_id(env, "alice"));
        let f1 = env.query_strings(
            "SELECT token_type, hashlib, CAST(otplen AS TEXT), CAST(time_step AS TEXT) \
             FROM tokens WHERE serial = 'F1'",
        );
        assert_eq!(f1[0], vec!["totp", "sha256", "8", "60"]);
        assert_eq!(column(env, "J1", "otplen"), 8);
        assert_eq!(token_count(env), 3);
    }
);

both_backends!(init_without_serial_generates_one, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    let v = api.call("init", json!({"genkey": 1}));
    assert_eq!(v["result"]["value"], true, "{v}");
    let serial = v["detail"]["serial"].as_str().unwrap().to_string();
    assert!(!serial.is_empty());
    assert_eq!(
        env.query_i64(&format!(
            "SELECT COUNT(*) FROM tokens WHERE serial = '{serial}'"
        )),
        1
    );
});

both_backends!(
    losttoken_issues_a_temporary_password_and_disables_the_old_token,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), Some("1234"));
        let before = oath::now();
        let v = api.ok("losttoken", json!({"serial": "H1"}));
        assert_eq!(v["serial"], "lostH1", "{v}");
        assert_eq!(v["disable"], 1, "{v}");
        assert!(v["end_date"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
        let password = v["password"].as_str().unwrap().to_string();
        assert!(password.len() >= 8, "{v}");
        assert_eq!(column(env, "H1", "active"), 0, "old token disabled");
        assert_eq!(text_column(env, "lostH1", "token_type"), "pw");
        assert_eq!(owner_of(env, "lostH1"), user_id(env, "alice"));
        assert_eq!(
            text_column(env, "lostH1", "pin_hash"),
            text_column(env, "H1", "pin_hash")
        );
        let end = column(env, "lostH1", "validity_end");
        assert!(
            end > before && end <= oath::now() + 31 * 86_400,
            "temporary: validity end {end}"
        );
        assert!(!accepted(&api.http, "alice", &format!("1234{}", hotp(0))));
        assert!(!accepted(&api.http, "alice", &password), "PIN missing");
        assert!(accepted(&api.http, "alice", &format!("1234{password}")));
        // A second time: the replacement exists already.
        api.err("losttoken", json!({"serial": "H1"}), 1101);
        api.err("losttoken", json!({"serial": "NOPE"}), 1102);
        assert_eq!(token_count(env), 2);
    }
);

both_backends!(losttoken_refuses_an_unassigned_token, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    api.hotp("H1", RFC_KEY_HEX, None, None);
    api.err("losttoken", json!({"serial": "H1"}), 905);
    assert_eq!(token_count(env), 1);
    assert_eq!(column(env, "H1", "active"), 1);
});
