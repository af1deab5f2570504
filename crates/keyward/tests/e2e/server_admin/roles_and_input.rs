//! /admin: The role rule (helpdesk, auditor, no credentials) and bad input: error envelopes with HTTP
//! 200 that change nothing, `httperror`, unknown endpoint, malformed bodies.

use super::*;
use crate::both_backends;
use crate::server_validate::admin_ok;

/// Creates `name` with `role` and returns a session token.
fn session_with_role(env: &TestEnv, http: &Http, name: &str, role: &str) -> String {
    user(env, name);
    env.console_ok(&["promoteuser", name, role]);
    http.login_ok(name, "pw-12345")
}

both_backends!(helpdesk_session_may_init_and_assign, |env: &TestEnv| {
    // "root" is the first user (superuser): a helpdesk acts only on accounts below its role.
    let api = Api::start(env, &["root", "alice"]);
    let token = session_with_role(env, &api.http, "hd", "helpdesk");
    let v = admin_ok(
        &api.http,
        &token,
        "init",
        json!({"serial": "H1", "otpkey": RFC_KEY_HEX}),
    );
    assert_eq!(v, true);
    let v = admin_ok(
        &api.http,
        &token,
        "assign",
        json!({"serial": "H1", "user": "alice"}),
    );
    assert_eq!(v, true);
    assert_eq!(owner_of(env, "H1"), user_id(env, "alice"));
    let shown = admin_ok(&api.http, &token, "show", json!({}));
    assert_eq!(shown["resultset"]["tokens"], 1);
});

both_backends!(auditor_session_may_show_but_not_init, |env: &TestEnv| {
    // The first user becomes superuser: "root" takes that place.
    let api = Api::start(env, &["root"]);
    api.hotp("H1", RFC_KEY_HEX, None, None);
    let token = session_with_role(env, &api.http, "aud", "auditor");
    let shown = admin_ok(&api.http, &token, "show", json!({}));
    assert_eq!(shown["resultset"]["tokens"], 1);
    let r = api.http.post(
        "/admin/init",
        &json!({"serial": "H2", "otpkey": RFC_KEY_HEX}),
        Some(&format!("Bearer {token}")),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_error(&r.json(), -311, "auditor init");
    let r = api.http.post(
        "/admin/disable",
        &json!({"serial": "H1"}),
        Some(&format!("Bearer {token}")),
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(token_count(env), 1);
    assert_eq!(column(env, "H1", "active"), 1);
});

both_backends!(
    a_user_without_an_admin_role_is_forbidden,
    |env: &TestEnv| {
        // The first user becomes superuser: "root" takes that place.
        let api = Api::start(env, &["root", "plain"]);
        let token = api.http.login_ok("plain", "pw-12345");
        let r = api
            .http
            .post("/admin/show", &json!({}), Some(&format!("Bearer {token}")));
        assert_eq!(r.status, 403, "{}", r.text);
        assert_error(&r.json(), -311, "plain user show");
    }
);

both_backends!(no_or_bad_credentials_are_a_401_envelope, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    let r = api.http.post(
        "/admin/init",
        &json!({"serial": "H1", "otpkey": RFC_KEY_HEX}),
        None,
    );
    assert_eq!(r.status, 401, "{}", r.text);
    assert_error(&r.json(), -311, "no credentials");
    let r = api.http.get("/admin/show", None);
    assert_eq!(r.status, 401, "{}", r.text);
    assert_error(&r.json(), -311, "no credentials GET");
    let r = api
        .http
        .post("/admin/show", &json!({}), Some("Bearer not-a-real-token"));
    assert_eq!(r.status, 401, "{}", r.text);
    assert_error(&r.json(), -311, "bad token");
    // httperror does not change an authentication failure.
    let r = api.http.get("/admin/show?httperror=400", None);
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(token_count(env), 0);
});

both_backends!(
    unknown_serial_is_an_error_envelope_everywhere,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let before = env.query_strings(
            "SELECT CAST(active AS TEXT), COALESCE(owner_id, ''), pin_hash, \
             CAST(max_fail AS TEXT), CAST(updated_at AS TEXT) FROM tokens",
        );
        for (endpoint, params) in [
            ("assign", json!({"serial": "NOPE", "user": "alice"})),
            ("unassign", json!({"serial": "NOPE"})),
            ("disable", json!({"serial": "NOPE"})),
            ("enable", json!({"serial": "NOPE"})),
            ("remove", json!({"serial": "NOPE"})),
            ("reset", json!({"serial": "NOPE"})),
            ("set", json!({"serial": "NOPE", "MaxFailCount": "3"})),
            ("setPin", json!({"serial": "NOPE", "userpin": "1"})),
            (
                "setValidity",
                json!({"tokens[]": ["H1", "NOPE"], "countAuthMax": "3"}),
            ),
            ("getTokenOwner", json!({"serial": "NOPE"})),
            ("losttoken", json!({"serial": "NOPE"})),
            ("tokenrealm", json!({"serial": "NOPE", "realms": "x"})),
            (
                "resync",
                json!({"serial": "NOPE", "otp1": hotp(1), "otp2": hotp(2)}),
            ),
            ("copyTokenPin", json!({"from": "H1", "to": "NOPE"})),
            ("copyTokenUser", json!({"from": "NOPE", "to": "H1"})),
            ("checkstatus", json!({"serial": "NOPE"})),
            ("totp_lookup", json!({"serial": "NOPE", "otp": "123456"})),
            ("unpair", json!({"serial": "NOPE"})),
        ] {
            let msg = api.err(endpoint, params, 1102);
            assert!(msg.contains("NOPE"), "{endpoint}: {msg}");
        }
        let after = env.query_strings(
            "SELECT CAST(active AS TEXT), COALESCE(owner_id, ''), pin_hash, \
             CAST(max_fail AS TEXT), CAST(updated_at AS TEXT) FROM tokens",
        );
        assert_eq!(before, after, "nothing changed");
        assert_eq!(column(env, "H1", "count_auth_max"), 0);
        assert_eq!(token_count(env), 1);
    }
);

both_backends!(
    duplicate_serial_on_init_is_refused_and_keeps_the_first,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let seed = text_column(env, "H1", "seed_sealed");
        let msg = api.err(
            "init",
            json!({"serial": "H1", "otpkey": OTHER_KEY_HEX, "user": "alice"}),
            1101,
        );
        assert!(msg.contains("H1"), "{msg}");
        assert_eq!(token_count(env), 1);
        assert_eq!(text_column(env, "H1", "seed_sealed"), seed);
        assert_eq!(owner_of(env, "H1"), "");
    }
);

both_backends!(
    init_refuses_bad_keys_lengths_and_algorithms,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        for (what, params) in [
            ("odd-length hex", json!({"serial": "B1", "otpkey": "31323"})),
            ("non-hex", json!({"serial": "B2", "otpkey": "zz3132333435"})),
            (
                "bad base32",
                json!({"serial": "B3", "otpkey": "NOT*BASE32!", "otpkeyformat": "base32"}),
            ),
            (
                "otplen 7",
                json!({"serial": "B4", "otpkey": RFC_KEY_HEX, "otplen": "7"}),
            ),
            (
                "hashlib md5",
                json!({"serial": "B5", "otpkey": RFC_KEY_HEX, "hashlib": "md5"}),
            ),
            (
                "otpkey and genkey",
                json!({"serial": "B6", "otpkey": RFC_KEY_HEX, "genkey": "1"}),
            ),
            ("no key", json!({"serial": "B7"})),
            (
                "unknown type",
                json!({"serial": "B8", "otpkey": RFC_KEY_HEX, "type": "nosuch"}),
            ),
        ] {
            let v = api.call("init", params);
            assert_error(&v, 905, what);
        }
        assert_eq!(token_count(env), 0, "nothing created");
        // Base32 itself works.
        let v = api.ok(
            "init",
            json!({"serial": "OK", "otpkey": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "otpkeyformat": "base32"}),
        );
        assert_eq!(v, true);
        let otp = api.ok("getSerialByOtp", json!({"otp": hotp(0)}));
        assert_eq!(otp["serial"], "OK", "the base32 RFC seed: {otp}");
    }
);

both_backends!(
    set_refuses_bad_values_and_changes_nothing,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        api.err("set", json!({"serial": "H1", "OtpLen": "7"}), 905);
        api.err("set", json!({"serial": "H1", "hashlib": "md5"}), 905);
        api.err("set", json!({"serial": "H1", "MaxFailCount": "many"}), 905);
        // A bad value beside a good one: nothing is written.
        api.err(
            "set",
            json!({"serial": "H1", "MaxFailCount": "3", "SyncWindow": "-5"}),
            905,
        );
        assert_eq!(column(env, "H1", "otplen"), 6);
        assert_eq!(text_column(env, "H1", "hashlib"), "sha1");
        assert_eq!(column(env, "H1", "max_fail"), 10);
        assert_eq!(column(env, "H1", "sync_window"), 1000);
    }
);

both_backends!(
    show_refuses_page_zero_and_oversized_pages,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let msg = api.err("show", json!({"page": "0"}), 905);
        assert!(msg.contains("page"), "{msg}");
        let msg = api.err("show", json!({"pagesize": "5000"}), 905);
        assert!(msg.contains("pagesize"), "{msg}");
        api.err("show", json!({"pagesize": "ten"}), 905);
        api.err("show", json!({"outform": "xml"}), 905);
    }
);

both_backends!(
    get_serial_by_otp_refuses_a_non_numeric_otp,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let msg = api.err("getSerialByOtp", json!({"otp": "12ab56"}), 905);
        assert!(msg.contains("otp"), "{msg}");
        api.err("getSerialByOtp", json!({}), 905);
        api.err(
            "getSerialByOtp",
            json!({"otp": hotp(0), "assigned": "maybe"}),
            905,
        );
        api.err(
            "getSerialByOtp",
            json!({"otp": hotp(0), "type": "nosuch"}),
            905,
        );
    }
);

both_backends!(
    a_100_kb_parameter_is_refused_and_changes_nothing,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        let big = "a".repeat(100 * 1024);
        let r = api.form(
            "init",
            &[
                ("serial", "BIG"),
                ("otpkey", RFC_KEY_HEX),
                ("description", &big),
            ],
        );
        assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(300)]);
        let msg = assert_error(&r.json(), 905, "100 kB description (form)");
        assert!(msg.len() < 1000, "the value is not echoed");
        let v = api.call("init", json!({"serial": big, "otpkey": RFC_KEY_HEX}));
        assert_error(&v, 905, "100 kB serial (JSON)");
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let v = api.call("set", json!({"serial": "H1", "pin": big}));
        assert_error(&v, 905, "100 kB pin");
        assert_eq!(token_count(env), 1);
        assert_eq!(text_column(env, "H1", "pin_hash"), "");
    }
);

both_backends!(
    httperror_turns_an_error_into_that_http_status,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let r = api.form("enable", &[("serial", "NOPE"), ("httperror", "400")]);
        assert_eq!(r.status, 400, "{}", r.text);
        assert_error(&r.json(), 1102, "httperror in the form");
        let r = api.get("getTokenOwner", &[("serial", "NOPE"), ("httperror", "400")]);
        assert_eq!(r.status, 400, "{}", r.text);
        assert_error(&r.json(), 1102, "httperror in the query");
        let r = api.http.post(
            "/admin/init",
            &json!({"serial": "H1", "otpkey": RFC_KEY_HEX, "httperror": "400"}),
            Some(&format!("Bearer {}", api.key)),
        );
        assert_eq!(r.status, 400, "{}", r.text);
        assert_error(&r.json(), 1101, "httperror in JSON");
        // A success ignores it.
        let r = api.form("disable", &[("serial", "H1"), ("httperror", "400")]);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["result"]["value"], 1);
        // Without it, errors are HTTP 200.
        let r = api.form("enable", &[("serial", "NOPE")]);
        assert_eq!(r.status, 200, "{}", r.text);
    }
);

both_backends!(unknown_endpoint_is_a_404_envelope, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    let r = api.http.post(
        "/admin/nosuch",
        &json!({}),
        Some(&format!("Bearer {}", api.key)),
    );
    assert_eq!(r.status, 404, "{}", r.text);
    let v = r.json();
    assert_error(&v, 905, "/admin/nosuch");
    let r = api.get("nosuch", &[]);
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json()["result"]["status"], false);
    // Endpoint names are case-sensitive, as LinOTP routes them.
    let r = api.get("copytokenpin", &[]);
    assert_eq!(r.status, 404, "{}", r.text);
});

both_backends!(
    malformed_json_body_is_an_error_envelope_not_a_500,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        for body in [&b"{nope"[..], &b"[1, 2]"[..], &b"{\"serial\": "[..]] {
            let r = api.raw("init", "application/json", body.to_vec());
            assert_eq!(r.status, 200, "{}", r.text);
            assert_error(&r.json(), 905, &String::from_utf8_lossy(body));
        }
        let r = api.raw("init", "text/plain", b"serial=X".to_vec());
        assert_eq!(r.status, 200, "{}", r.text);
        assert_error(&r.json(), 905, "text/plain body");
        let r = api.raw(
            "init",
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"serial\"\r\n\r\nX".to_vec(),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_error(&r.json(), 905, "truncated multipart");
        assert_eq!(token_count(env), 0);
    }
);

both_backends!(
    a_100_kb_serial_in_a_tokens_list_is_refused_as_too_long,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        let big = "a".repeat(100 * 1024);
        let r = api.form(
            "setValidity",
            &[
                ("tokens[]", "H1"),
                ("tokens[]", &big),
                ("countAuthMax", "3"),
            ],
        );
        assert_eq!(r.status, 200);
        let msg = assert_error(&r.json(), 905, "100 kB tokens[] element");
        assert!(
            msg.len() < 1000,
            "the value is not echoed: {} bytes",
            msg.len()
        );
        assert_eq!(column(env, "H1", "count_auth_max"), 0);
    }
);
