//! /admin: `disable`, `enable`, `remove`, `reset`, `resync`.

use super::*;
use crate::both_backends;
use crate::server_validate::accepted;

both_backends!(
    disable_by_serial_blocks_validation_and_enable_restores_it,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
        assert_eq!(api.ok("disable", json!({"serial": "H1"})), 1);
        assert_eq!(column(env, "H1", "active"), 0);
        assert!(
            !accepted(&api.http, "alice", &hotp(0)),
            "a disabled token fails"
        );
        let shown = api.show(json!({"serial": "H1"}));
        assert_eq!(shown[0]["LinOtp.Isactive"], false);
        assert_eq!(api.ok("enable", json!({"serial": "H1"})), 1);
        assert_eq!(column(env, "H1", "active"), 1);
        assert!(accepted(&api.http, "alice", &hotp(1)));
    }
);

both_backends!(
    disable_and_enable_by_user_count_all_tokens_of_the_user,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        api.hotp("A1", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("A2", OTHER_KEY_HEX, Some("alice"), None);
        api.hotp("B1", RFC_KEY_HEX, Some("bob"), None);
        assert_eq!(api.ok("disable", json!({"user": "alice"})), 2);
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM tokens WHERE active = 0"),
            2
        );
        assert_eq!(column(env, "B1", "active"), 1, "bob's token untouched");
        assert_eq!(api.ok("enable", json!({"user": "alice"})), 2);
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM tokens WHERE active = 1"),
            3
        );
        api.err("disable", json!({"user": "nobody"}), 1102);
        api.err("enable", json!({}), 905);
    }
);

both_backends!(remove_by_serial_deletes_one_token, |env: &TestEnv| {
    let api = Api::start(env, &["alice"]);
    api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
    api.hotp("H2", OTHER_KEY_HEX, Some("alice"), None);
    assert_eq!(api.ok("remove", json!({"serial": "H1"})), 1);
    assert_eq!(
        env.query_strings("SELECT serial FROM tokens"),
        vec![vec!["H2".to_string()]]
    );
    api.err("remove", json!({"serial": "H1"}), 1102);
    assert_eq!(token_count(env), 1);
});

both_backends!(
    remove_by_user_deletes_all_tokens_of_that_user,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        api.hotp("A1", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("A2", OTHER_KEY_HEX, Some("alice"), None);
        api.hotp("B1", RFC_KEY_HEX, Some("bob"), None);
        assert_eq!(api.ok("remove", json!({"user": "alice"})), 2);
        assert_eq!(
            env.query_strings("SELECT serial FROM tokens"),
            vec![vec!["B1".to_string()]]
        );
        assert_eq!(api.ok("remove", json!({"user": "alice"})), 0);
        api.err("remove", json!({}), 905);
    }
);

both_backends!(reset_sets_the_fail_counter_back_to_zero, |env: &TestEnv| {
    let api = Api::start(env, &["alice"]);
    api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
    api.hotp("H2", OTHER_KEY_HEX, Some("alice"), None);
    for _ in 0..3 {
        assert!(!accepted(&api.http, "alice", "000000"));
    }
    assert_eq!(column(env, "H1", "fail_count"), 3);
    assert_eq!(api.ok("reset", json!({"serial": "H1"})), 1);
    assert_eq!(column(env, "H1", "fail_count"), 0);
    assert!(column(env, "H2", "fail_count") > 0, "only H1 was reset");
    assert_eq!(api.ok("reset", json!({"user": "alice"})), 2);
    assert_eq!(
        env.query_i64("SELECT CAST(COALESCE(SUM(fail_count), 0) AS BIGINT) FROM tokens"),
        0
    );
});

both_backends!(
    resync_with_two_consecutive_otps_far_ahead,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
        assert!(
            !accepted(&api.http, "alice", &hotp(500)),
            "outside the window"
        );
        let v = api.ok(
            "resync",
            json!({"serial": "H1", "otp1": hotp(500), "otp2": hotp(501)}),
        );
        assert_eq!(v, true);
        assert_eq!(column(env, "H1", "counter"), 502);
        assert!(accepted(&api.http, "alice", &hotp(502)));
        // By user, via a form body.
        let r = api.form(
            "resync",
            &[
                ("user", "alice"),
                ("otp1", &hotp(700)),
                ("otp2", &hotp(701)),
            ],
        );
        assert_eq!(r.json()["result"]["value"], true, "{}", r.text);
        assert_eq!(column(env, "H1", "counter"), 702);
        // Not consecutive: false, nothing moves.
        let v = api.ok(
            "resync",
            json!({"serial": "H1", "otp1": hotp(800), "otp2": hotp(802)}),
        );
        assert_eq!(v, false);
        assert_eq!(column(env, "H1", "counter"), 702);
    }
);
