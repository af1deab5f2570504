//! /admin: `set`, `setPin`, `setValidity`.

use super::*;
use crate::both_backends;
use crate::server_validate::accepted;

both_backends!(
    set_counter_window_and_algorithm_parameters_are_stored,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let v = api.ok(
            "set",
            json!({"serial": "H1", "MaxFailCount": "5", "SyncWindow": "77", "OtpLen": "8",
                   "CounterWindow": "20", "hashlib": "sha256"}),
        );
        for k in [
            "MaxFailCount",
            "SyncWindow",
            "OtpLen",
            "CounterWindow",
            "hashlib",
        ] {
            assert_eq!(v[format!("set {k}")], 1, "{k}: {v}");
        }
        assert_eq!(column(env, "H1", "max_fail"), 5);
        assert_eq!(column(env, "H1", "sync_window"), 77);
        assert_eq!(column(env, "H1", "otplen"), 8);
        assert_eq!(column(env, "H1", "count_window"), 20);
        assert_eq!(text_column(env, "H1", "hashlib"), "sha256");
        let t = &api.show(json!({"serial": "H1"}))[0];
        assert_eq!(t["LinOtp.MaxFail"], 5, "{t}");
        assert_eq!(t["LinOtp.SyncWindow"], 77, "{t}");
        assert_eq!(t["LinOtp.OtpLen"], 8, "{t}");
        assert_eq!(t["LinOtp.CountWindow"], 20, "{t}");
    }
);

both_backends!(
    set_time_parameters_of_a_totp_token_are_stored,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.ok(
            "init",
            json!({"serial": "T1", "type": "totp", "otpkey": RFC_KEY_HEX}),
        );
        let v = api.ok(
            "set",
            json!({"serial": "T1", "timeWindow": "300", "timeStep": "60", "timeShift": "-30"}),
        );
        assert_eq!(
            v,
            json!({"set timeWindow": 1, "set timeStep": 1, "set timeShift": 1})
        );
        assert_eq!(column(env, "T1", "time_window"), 300);
        assert_eq!(column(env, "T1", "time_step"), 60);
        assert_eq!(column(env, "T1", "time_shift"), -30);
    }
);

both_backends!(set_count_limits_and_counters_are_stored, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    api.hotp("H1", RFC_KEY_HEX, None, None);
    let v = api.ok(
        "set",
        json!({"serial": "H1", "countAuthSuccessMax": "9", "countAuthSuccess": "3",
                   "countAuth": "4", "countAuthMax": "11"}),
    );
    assert_eq!(
        v,
        json!({"set countAuthSuccessMax": 1, "set countAuthSuccess": 1,
                   "set countAuth": 1, "set countAuthMax": 1})
    );
    assert_eq!(column(env, "H1", "count_auth_success_max"), 9);
    assert_eq!(column(env, "H1", "count_auth_success"), 3);
    assert_eq!(column(env, "H1", "count_auth"), 4);
    assert_eq!(column(env, "H1", "count_auth_max"), 11);
    api.ok("set", json!({"serial": "H1", "countAuthMax": "unlimited"}));
    assert_eq!(column(env, "H1", "count_auth_max"), 0);
});

both_backends!(set_validity_period_is_stored, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    api.hotp("H1", RFC_KEY_HEX, None, None);
    let v = api.ok(
        "set",
        json!({"serial": "H1", "validityPeriodStart": "1863160200",
               "validityPeriodEnd": "1924991940"}),
    );
    assert_eq!(
        v,
        json!({"set validityPeriodStart": 1, "set validityPeriodEnd": 1})
    );
    assert_eq!(column(env, "H1", "validity_start"), 1_863_160_200);
    assert_eq!(column(env, "H1", "validity_end"), 1_924_991_940);
    // show reports them in LinOTP's DD/MM/YY HH:MM.
    let info =
        &api.show(json!({"serial": "H1", "tokeninfo_format": "json"}))[0]["LinOtp.TokenInfo"];
    assert_eq!(info["validity_period_start"], "15/01/29 08:30", "{info}");
    assert_eq!(info["validity_period_end"], "31/12/30 23:59", "{info}");
    // RFC 3339 too.
    api.ok(
        "set",
        json!({"serial": "H1", "validityPeriodEnd": "2030-12-31T23:59:00Z"}),
    );
    assert_eq!(column(env, "H1", "validity_end"), 1_924_991_940);
    api.ok(
        "set",
        json!({"serial": "H1", "validityPeriodStart": "unlimited", "validityPeriodEnd": ""}),
    );
    assert_eq!(column(env, "H1", "validity_start"), -1, "NULL");
    assert_eq!(column(env, "H1", "validity_end"), -1, "NULL");
    api.err(
        "set",
        json!({"serial": "H1", "validityPeriodEnd": "next tuesday"}),
        905,
    );
    assert_eq!(column(env, "H1", "validity_end"), -1);
});

both_backends!(
    set_validity_period_accepts_the_linotp_date_format,
    |env: &TestEnv| {
        // The parameter's documented format (and the one show reports): DD/MM/YY HH:MM.
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let v = api.ok(
            "set",
            json!({"serial": "H1", "validityPeriodStart": "15/01/29 08:30",
                   "validityPeriodEnd": "31/12/30 23:59"}),
        );
        assert_eq!(
            v,
            json!({"set validityPeriodStart": 1, "set validityPeriodEnd": 1})
        );
        assert_eq!(column(env, "H1", "validity_start"), 1_863_160_200);
        assert_eq!(column(env, "H1", "validity_end"), 1_924_991_940);
    }
);

both_backends!(set_pin_then_the_pin_validates, |env: &TestEnv| {
    let api = Api::start(env, &["alice"]);
    api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
    let v = api.ok("set", json!({"serial": "H1", "pin": "9876"}));
    assert_eq!(v, json!({"set pin": 1}));
    let hash = text_column(env, "H1", "pin_hash");
    assert!(!hash.is_empty() && !hash.contains("9876"));
    assert!(!accepted(&api.http, "alice", &hotp(0)));
    assert!(accepted(&api.http, "alice", &format!("9876{}", hotp(1))));
});

both_backends!(set_phone_is_stored_in_the_token_info, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    api.hotp("H1", RFC_KEY_HEX, None, None);
    let v = api.ok("set", json!({"serial": "H1", "phone": "+491701234567"}));
    assert_eq!(v, json!({"set phone": 1}));
    let info: Value = serde_json::from_str(&text_column(env, "H1", "info")).unwrap();
    assert_eq!(info["phone"], "+491701234567");
});

both_backends!(
    set_by_user_changes_every_token_of_the_user,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        api.hotp("A1", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("A2", OTHER_KEY_HEX, Some("alice"), None);
        api.hotp("B1", RFC_KEY_HEX, Some("bob"), None);
        api.ok("set", json!({"user": "alice", "MaxFailCount": "4"}));
        assert_eq!(column(env, "A1", "max_fail"), 4);
        assert_eq!(column(env, "A2", "max_fail"), 4);
        assert_eq!(column(env, "B1", "max_fail"), 10);
        let msg = api.err("set", json!({"serial": "A1"}), 905);
        assert!(msg.contains("nothing to set"), "{msg}");
    }
);

both_backends!(
    set_pin_endpoint_stores_userpin_and_sopin_encrypted,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let v = api.ok(
            "setPin",
            json!({"serial": "H1", "userpin": "user-secret-77", "sopin": "so-secret-88"}),
        );
        assert_eq!(v, json!({"set userpin": 1, "set sopin": 1}));
        let row = env.query_strings(
            "SELECT userpin_sealed, sopin_sealed, pin_hash, info FROM tokens WHERE serial = 'H1'",
        );
        assert!(!row[0][0].is_empty() && !row[0][1].is_empty(), "{row:?}");
        assert_ne!(row[0][0], row[0][1]);
        let all = row[0].join(" ");
        assert!(!all.contains("user-secret-77"), "{all}");
        assert!(!all.contains("so-secret-88"), "{all}");
        assert_eq!(row[0][2], "", "the OTP PIN is a different thing");
        api.err("setPin", json!({"serial": "H1"}), 905);
        api.err("setPin", json!({"serial": "NOPE", "userpin": "1"}), 1102);
    }
);

both_backends!(
    set_validity_takes_repeated_tokens_form_fields,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("A", RFC_KEY_HEX, None, None);
        api.hotp("B", OTHER_KEY_HEX, None, None);
        api.hotp("C", OTHER_KEY_HEX.replace("31", "32").as_str(), None, None);
        let r = api.form(
            "setValidity",
            &[
                ("tokens[]", "A"),
                ("tokens[]", "B"),
                ("countAuthMax", "5"),
                ("countAuthSuccessMax", "3"),
                ("validityPeriodStart", "1863160200"),
                ("validityPeriodEnd", "1924991940"),
            ],
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        assert_envelope(&v);
        assert_eq!(v["result"]["value"], json!(["A", "B"]), "{v}");
        for s in ["A", "B"] {
            assert_eq!(column(env, s, "count_auth_max"), 5);
            assert_eq!(column(env, s, "count_auth_success_max"), 3);
            assert_eq!(column(env, s, "validity_start"), 1_863_160_200);
            assert_eq!(column(env, s, "validity_end"), 1_924_991_940);
        }
        assert_eq!(column(env, "C", "count_auth_max"), 0, "not selected");
        assert_eq!(column(env, "C", "validity_end"), -1);
    }
);

both_backends!(
    set_validity_takes_a_json_list_and_unlimited_removes_limits,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("A", RFC_KEY_HEX, None, None);
        api.hotp("B", OTHER_KEY_HEX, None, None);
        let v = api.ok(
            "setValidity",
            json!({"tokens[]": ["A", "B"], "countAuthMax": "7", "validityPeriodEnd": "1924991940"}),
        );
        assert_eq!(v, json!(["A", "B"]));
        assert_eq!(column(env, "B", "count_auth_max"), 7);
        let v = api.ok(
            "setValidity",
            json!({"tokens[]": ["A", "B"], "countAuthMax": "unlimited",
                   "validityPeriodEnd": "unlimited"}),
        );
        assert_eq!(v, json!(["A", "B"]));
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM tokens WHERE count_auth_max = 0 AND validity_end IS NULL"
            ),
            2
        );
        api.err("setValidity", json!({"countAuthMax": "1"}), 905);
        api.err("setValidity", json!({"tokens[]": ["A"]}), 905);
    }
);
