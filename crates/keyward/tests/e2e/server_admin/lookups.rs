//! /admin: `check_serial`, `checkstatus`, `getSerialByOtp`, `testresolver`, `tokenrealm`, `totp_lookup`, `unpair`, `userlist`.

use super::*;
use crate::both_backends;
use crate::server_validate::{accepted, check};

both_backends!(
    check_serial_says_unique_and_suggests_a_free_serial,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        let v = api.ok("check_serial", json!({"serial": "S1"}));
        assert_eq!(v, json!({"unique": true, "new_serial": "S1"}));
        api.hotp("S1", RFC_KEY_HEX, None, None);
        let r = api.get("check_serial", &[("serial", "S1")]);
        assert_eq!(r.status, 200);
        let v = r.json()["result"]["value"].clone();
        assert_eq!(v["unique"], false, "{v}");
        let new = v["new_serial"].as_str().unwrap();
        assert_ne!(new, "S1");
        assert_eq!(
            api.ok("check_serial", json!({"serial": new}))["unique"],
            true,
            "the suggestion is free"
        );
        api.err("check_serial", json!({}), 905);
        assert_eq!(token_count(env), 1, "check_serial creates nothing");
    }
);

both_backends!(
    checkstatus_shows_a_challenge_by_transaction_serial_and_user,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        let v = api.ok(
            "init",
            json!({"serial": "CR1", "otpkey": RFC_KEY_HEX, "user": "alice",
                   "pin": "secret-pin", "challenge_response": "1"}),
        );
        assert_eq!(v, true);
        let v = check(&api.http, json!({"user": "alice", "pass": "secret-pin"}));
        assert_eq!(v["result"]["value"], false, "{v}");
        let txid = v["detail"]["transactionid"].as_str().unwrap().to_string();
        for params in [
            json!({"transactionid": txid}),
            json!({"state": txid}),
            json!({"serial": "CR1"}),
            json!({"user": "alice"}),
        ] {
            let s = api.ok("checkstatus", params.clone());
            let c = &s["values"]["CR1"]["challenges"][&txid];
            assert_eq!(c["status"], "open", "{params}: {s}");
            assert_eq!(c["transactionid"], txid.as_str(), "{s}");
            assert_eq!(c["received_tan"], false, "{s}");
        }
        let r = api.get("checkstatus", &[("transactionid", &txid)]);
        assert_eq!(
            r.json()["result"]["value"]["values"]["CR1"]["challenges"][&txid]["status"],
            "open"
        );
        // Answered, the status says so.
        let v = check(
            &api.http,
            json!({"user": "alice", "transactionid": txid, "pass": hotp(0)}),
        );
        assert_eq!(v["result"]["value"], true, "{v}");
        let s = api.ok("checkstatus", json!({"transactionid": txid}));
        let c = &s["values"]["CR1"]["challenges"][&txid];
        assert_eq!(c["status"], "answered", "{s}");
        assert_eq!(c["valid_tan"], true, "{s}");
        // An unknown transaction: no values.
        let s = api.ok(
            "checkstatus",
            json!({"transactionid": "12345678901234567890"}),
        );
        assert_eq!(s["values"], json!({}), "{s}");
        api.err("checkstatus", json!({}), 905);
    }
);

both_backends!(
    get_serial_by_otp_finds_the_generating_token_with_filters,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("H2", OTHER_KEY_HEX, None, None);
        let find = |params: Value| api.ok("getSerialByOtp", params);
        let v = find(json!({"otp": hotp(0)}));
        assert_eq!(v["serial"], "H1", "{v}");
        assert_eq!(v["user_login"], "alice", "{v}");
        assert_eq!(
            find(json!({"otp": hotp(0), "assigned": "1"}))["serial"],
            "H1"
        );
        assert_eq!(find(json!({"otp": hotp(0), "assigned": "0"}))["serial"], "");
        assert_eq!(
            find(json!({"otp": hotp(0), "type": "hmac"}))["serial"],
            "H1"
        );
        assert_eq!(find(json!({"otp": hotp(0), "type": "totp"}))["serial"], "");
        let other = oath::hotp(OTHER_KEY_HEX, 3, 6);
        let v = find(json!({"otp": other, "assigned": "0"}));
        assert_eq!(v["serial"], "H2", "{v}");
        assert_eq!(v["user_login"], "", "{v}");
        assert_eq!(find(json!({"otp": other, "assigned": "1"}))["serial"], "");
        // GET works; looking up uses nothing up.
        let r = api.get("getSerialByOtp", &[("otp", &hotp(0))]);
        assert_eq!(r.json()["result"]["value"]["serial"], "H1", "{}", r.text);
        assert_eq!(column(env, "H1", "counter"), 0);
        assert!(accepted(&api.http, "alice", &hotp(0)));
        // Unknown OTP.
        let none = if hotp(0) == "000000" {
            "111111"
        } else {
            "000000"
        };
        assert_eq!(find(json!({"otp": none}))["serial"], "");
    }
);

both_backends!(
    testresolver_accepts_internal_and_refuses_others,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        let v = api.ok("testresolver", json!({"name": "internal"}));
        assert_eq!(v["result"], "success", "{v}");
        assert!(v["desc"].as_str().unwrap().contains("users"), "{v}");
        let msg = api.err("testresolver", json!({"name": "ldap1"}), 1102);
        assert!(msg.contains("not configured"), "{msg}");
        api.err("testresolver", json!({}), 905);
    }
);

both_backends!(
    tokenrealm_sets_realms_and_show_filters_by_them,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("A", RFC_KEY_HEX, None, None);
        api.hotp("B", OTHER_KEY_HEX, None, None);
        assert_eq!(
            api.ok("tokenrealm", json!({"serial": "A", "realms": "Sales, hq"})),
            1
        );
        assert_eq!(
            env.query_strings(
                "SELECT r.realm FROM token_realms r JOIN tokens t ON t.id = r.token_id \
                 WHERE t.serial = 'A' ORDER BY r.realm"
            ),
            vec![vec!["hq".to_string()], vec!["sales".to_string()]]
        );
        assert_eq!(api.serials(json!({"realm": "sales"})), vec!["A"]);
        assert_eq!(api.serials(json!({"viewrealm": "hq"})), vec!["A"]);
        assert!(api.serials(json!({"realm": "other"})).is_empty());
        assert_eq!(api.serials(json!({"realm": "*"})).len(), 2);
        assert_eq!(
            api.show(json!({"serial": "A"}))[0]["LinOtp.RealmNames"],
            json!(["hq", "sales"])
        );
        // Replaced, not added to; an empty list clears.
        api.ok("tokenrealm", json!({"serial": "A", "realms": "hq"}));
        assert!(api.serials(json!({"realm": "sales"})).is_empty());
        api.ok("tokenrealm", json!({"serial": "A", "realms": ""}));
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM token_realms"), 0);
        api.err("tokenrealm", json!({"serial": "A"}), 905);
        api.err("tokenrealm", json!({"serial": "NOPE", "realms": "x"}), 1102);
    }
);

both_backends!(
    totp_lookup_finds_a_past_otp_within_the_window,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.ok(
            "init",
            json!({"serial": "T1", "type": "totp", "otpkey": RFC_KEY_HEX}),
        );
        let past = oath::now() - 600;
        let otp = oath::totp_at(RFC_KEY_HEX, "sha1", 6, past);
        let v = api.ok("totp_lookup", json!({"serial": "T1", "otp": otp}));
        assert_eq!(v["found"], true, "{v}");
        let start = v["otp_time"].as_i64().unwrap();
        assert!(start <= past && past < start + 30, "{v}");
        assert_eq!(start % 30, 0, "{v}");
        assert!(v["valid_start"].as_str().unwrap().contains('T'), "{v}");
        assert!(v["valid_end"].as_str().unwrap().contains('T'), "{v}");
        assert_ne!(v["valid_start"], v["valid_end"]);
        assert_eq!(v["span"], 30, "{v}");
        // GET works; a one-minute window does not reach back ten minutes.
        let r = api.get("totp_lookup", &[("serial", "T1"), ("otp", &otp)]);
        assert_eq!(r.json()["result"]["value"]["found"], true, "{}", r.text);
        let v = api.ok(
            "totp_lookup",
            json!({"serial": "T1", "otp": otp, "window": "1m"}),
        );
        assert_eq!(v["found"], false, "{v}");
        // Lookups change nothing.
        assert_eq!(column(env, "T1", "counter"), 0);
    }
);

both_backends!(
    totp_lookup_refuses_hotp_tokens_and_bad_values,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        api.ok(
            "init",
            json!({"serial": "T1", "type": "totp", "otpkey": RFC_KEY_HEX}),
        );
        api.err("totp_lookup", json!({"serial": "H1", "otp": "123456"}), 905);
        api.err("totp_lookup", json!({"serial": "T1", "otp": "12ab56"}), 905);
        api.err(
            "totp_lookup",
            json!({"serial": "T1", "otp": "123456", "window": "forever"}),
            905,
        );
        api.err("totp_lookup", json!({"serial": "T1"}), 905);
    }
);

both_backends!(
    unpair_is_refused_for_tokens_without_pairing,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let msg = api.err("unpair", json!({"serial": "H1"}), 905);
        assert!(msg.contains("pairing"), "{msg}");
        api.err("unpair", json!({"serial": "NOPE"}), 1102);
        api.err("unpair", json!({}), 905);
        assert_eq!(column(env, "H1", "active"), 1);
    }
);

both_backends!(userlist_searches_users_by_expression, |env: &TestEnv| {
    let api = Api::start(env, &["alice", "bob", "charlie"]);
    let v = api.call("userlist", json!({"username": "*li*"}));
    assert_eq!(v["result"]["status"], true, "{v}");
    let names: Vec<&str> = v["result"]["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["alice", "charlie"]);
    let alice = &v["result"]["value"][0];
    assert_eq!(alice["userid"], user_id(env, "alice"));
    assert_eq!(alice["email"], "alice@example.com");
    assert_eq!(alice["useridresolver"], "internal");
    // GET with an exact name.
    let r = api.get("userlist", &[("username", "bob")]);
    let v = r.json();
    assert_eq!(v["result"]["value"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["result"]["value"][0]["username"], "bob");
    let v = api.ok("userlist", json!({"username": "*zz*"}));
    assert_eq!(v, json!([]));
    api.err(
        "userlist",
        json!({"username": "*", "resConf": "ldap1"}),
        1102,
    );
});

both_backends!(
    userlist_without_search_expression_returns_usage,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        let v = api.ok("userlist", json!({}));
        assert!(v["usage"].is_string(), "{v}");
        let fields = v["searchfields"].as_array().unwrap();
        assert!(fields.contains(&json!("username")), "{v}");
    }
);

both_backends!(userlist_pages_with_page_and_rp, |env: &TestEnv| {
    let api = Api::start(env, &["alice", "bob", "charlie", "dave"]);
    let all: Vec<String> = api
        .ok("userlist", json!({"username": "*", "rp": "100"}))
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect();
    assert!(all.len() >= 4, "{all:?}");
    let page = |page: &str, rp: &str| -> Vec<String> {
        api.ok("userlist", json!({"username": "*", "page": page, "rp": rp}))
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(page("1", "2"), all[0..2].to_vec());
    assert_eq!(page("2", "2"), all[2..4].to_vec());
    assert_eq!(page("2", "1"), vec![all[1].clone()]);
    assert!(page("100", "2").is_empty());
    api.err("userlist", json!({"username": "*", "page": "0"}), 905);
    api.err("userlist", json!({"username": "*", "rp": "0"}), 905);
});

both_backends!(userlist_reports_queried_inside_result, |env: &TestEnv| {
    // WIRE-FORMATS: "/admin/userlist … appends "queried": N inside result".
    let api = Api::start(env, &["alice", "bob", "charlie"]);
    let v = api.call("userlist", json!({"username": "*li*"}));
    assert_eq!(v["result"]["status"], true, "{v}");
    assert_eq!(v["result"]["queried"], 2, "{v}");
});

both_backends!(get_serial_by_otp_filters_by_realm, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    api.hotp("H1", RFC_KEY_HEX, None, None);
    api.ok("tokenrealm", json!({"serial": "H1", "realms": "sales"}));
    let find = |realm: &str| api.ok("getSerialByOtp", json!({"otp": hotp(0), "realm": realm}));
    assert_eq!(find("sales")["serial"], "H1");
    assert_eq!(find("hq")["serial"], "");
});
