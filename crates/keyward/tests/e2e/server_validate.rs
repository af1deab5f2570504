//! `/validate/check` and `/validate/simplecheck` through the real server on both backends, with
//! OTP values from `oathtool`: single use (also for 200 concurrent requests, and across two
//! server processes on PostgreSQL), PIN + OTP, resync, lockout and reset, validity period and
//! count limits, TOTP with drift, validate API keys, challenge-response, and the OTP step of
//! `/auth/login`.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestEnv;
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_client::Http;

/// Creates `name` (password `pw-12345`) through the registry in the test process.
pub fn user(env: &TestEnv, name: &str) {
    env.console_ok(&[
        "createuser",
        name,
        "pw-12345",
        &format!("{name}@example.com"),
    ]);
}

/// An admin API key acting as a superuser: made for the first superuser account (an account
/// `admin` is created when there is none yet). Operators act only on principals below their own
/// role, so a key that must reach every account belongs to a superuser.
pub fn admin_key(env: &TestEnv) -> String {
    env.console_ok(&["migrate"]); // the database exists before it is read directly
    let superuser = env
        .query_strings(
            "SELECT username FROM users WHERE roles LIKE '%superuser%' ORDER BY created_at",
        )
        .first()
        .map(|r| r[0].clone());
    let superuser = superuser.unwrap_or_else(|| {
        user(env, "admin");
        env.console_ok(&["promoteuser", "admin", "superuser"]);
        "admin".to_string()
    });
    key_for(env, &superuser)
}

/// An admin API key made for the account `name` (acting as that account).
pub fn key_for(env: &TestEnv, name: &str) -> String {
    let out = env.console_ok(&["api", "createtoken", "-r", "admin", "-u", name]);
    out.lines()
        .find_map(|l| l.strip_prefix("Auth-Token: "))
        .unwrap_or_else(|| panic!("no key in {out}"))
        .to_string()
}

/// Calls `/admin/<endpoint>` with JSON parameters; returns the LinOTP envelope.
pub fn admin(http: &Http, key: &str, endpoint: &str, params: Value) -> Value {
    let r = http.post(
        &format!("/admin/{endpoint}"),
        &params,
        Some(&format!("Bearer {key}")),
    );
    assert_eq!(r.status, 200, "/admin/{endpoint}: {}", r.text);
    r.json()
}

/// `/admin/<endpoint>` expected to succeed: returns `result.value`.
pub fn admin_ok(http: &Http, key: &str, endpoint: &str, params: Value) -> Value {
    let v = admin(http, key, endpoint, params);
    assert_eq!(v["result"]["status"], true, "/admin/{endpoint}: {v}");
    v["result"]["value"].clone()
}

/// `/validate/check`: returns the envelope.
pub fn check(http: &Http, params: Value) -> Value {
    let r = http.post("/validate/check", &params, None);
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    v
}

/// Whether `/validate/check` accepted `pass` for `user`.
pub fn accepted(http: &Http, user: &str, pass: &str) -> bool {
    let v = check(http, json!({ "user": user, "pass": pass }));
    assert_eq!(v["result"]["status"], true, "{v}");
    let ok = v["result"]["value"].as_bool().unwrap();
    assert_eq!(
        v["result"]["authentication"],
        if ok { "ACCEPT" } else { "REJECT" },
        "{v}"
    );
    ok
}

fn hotp(counter: u64) -> String {
    oath::hotp(RFC_KEY_HEX, counter, 6)
}

/// Enrols an HOTP token of the RFC 4226 seed for `owner`, with `pin` unless empty.
pub fn enroll_rfc_hotp(env: &TestEnv, serial: &str, owner: &str, pin: &str) {
    let mut args = vec![
        "token",
        "init",
        "--serial",
        serial,
        "--otpkey",
        RFC_KEY_HEX,
        "--user",
        owner,
    ];
    if !pin.is_empty() {
        args.extend(["--pin", pin]);
    }
    env.console_ok(&args);
}

both_backends!(an_otp_is_accepted_once_with_its_pin, |env: &TestEnv| {
    user(env, "alice");
    enroll_rfc_hotp(env, "H1", "alice", "1234");
    let server = env.serve_in_process();
    let http = Http::new(&server);
    assert!(accepted(&http, "alice", &format!("1234{}", hotp(0))));
    assert!(
        !accepted(&http, "alice", &format!("1234{}", hotp(0))),
        "replay"
    );
    assert!(
        !accepted(&http, "alice", &format!("9999{}", hotp(1))),
        "wrong PIN"
    );
    assert!(!accepted(&http, "alice", &hotp(1)), "PIN missing");
    assert!(!accepted(&http, "alice", "1234abcdef"), "not numeric");
    assert!(!accepted(&http, "nobody", &format!("1234{}", hotp(1))));
    assert!(accepted(&http, "alice", &format!("1234{}", hotp(1))));
    // By serial, form-encoded like LinOTP clients send it.
    let r = http.send(
        http.client
            .post(http.url("/validate/check"))
            .form(&[("serial", "H1"), ("pass", &format!("1234{}", hotp(2)))]),
    );
    assert_eq!(r.json()["result"]["value"], true, "{}", r.text);
    assert_eq!(r.json()["detail"]["serial"], "H1");
    // simplecheck
    let simple = |pass: String| {
        http.send(
            http.client
                .get(http.url("/validate/simplecheck"))
                .query(&[("user", "alice"), ("pass", pass.as_str())]),
        )
        .text
    };
    assert_eq!(simple(format!("1234{}", hotp(3))), ":-)");
    assert_eq!(simple(format!("1234{}", hotp(3))), ":-(");
    // Every attempt is audited, without the pass.
    let rows = env.query_strings(
        "SELECT target, CAST(success AS TEXT), details FROM audit_log WHERE action = 'validate' ORDER BY id",
    );
    assert_eq!(rows.len(), 10, "{rows:?}");
    assert_eq!(
        rows[0],
        vec![
            "alice".to_string(),
            "1".to_string(),
            "accepted by H1".to_string()
        ]
    );
    assert_eq!(rows[1][2], "OTP already used");
    assert!(rows.iter().all(|r| !r[2].contains(&hotp(0))));
    assert_eq!(
        env.query_i64("SELECT counter FROM tokens WHERE serial = 'H1'"),
        4
    );
});

both_backends!(
    two_hundred_concurrent_checks_of_one_otp_accept_exactly_one,
    |env: &TestEnv| {
        user(env, "alice");
        enroll_rfc_hotp(env, "H1", "alice", "");
        // SQLite: one node; PostgreSQL: two nodes on the same database.
        let servers = match env.backend {
            Backend::Sqlite => vec![env.serve()],
            Backend::Postgres => vec![
                env.serve_with_env(&[("KEYWARD_NODE_ID", "node-a")]),
                env.serve_with_env(&[("KEYWARD_NODE_ID", "node-b")]),
            ],
        };
        let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
        let otp = hotp(0);
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(200));
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let url = format!("{}/validate/check", urls[i % urls.len()]);
                let otp = otp.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(std::time::Duration::from_secs(120))
                        .build()
                        .unwrap();
                    barrier.wait();
                    let r = client
                        .post(url)
                        .json(&json!({ "user": "alice", "pass": otp }))
                        .send()
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                    let v: Value = r.json().unwrap();
                    assert_eq!(v["result"]["status"], true, "{v}");
                    v["result"]["value"].as_bool().unwrap()
                })
            })
            .collect();
        let accepted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(accepted, 1, "the same OTP must be accepted exactly once");
        assert_eq!(
            env.query_i64("SELECT counter FROM tokens WHERE serial = 'H1'"),
            1
        );
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'validate' AND success = 1"
            ),
            1
        );
    }
);

both_backends!(resync_brings_a_drifted_hotp_token_back, |env: &TestEnv| {
    user(env, "alice");
    enroll_rfc_hotp(env, "H1", "alice", "");
    let key = admin_key(env);
    let server = env.serve_in_process();
    let http = Http::new(&server);
    // The device was pressed 50 times: outside the counter window of 10.
    assert!(!accepted(&http, "alice", &hotp(50)));
    let v = admin_ok(
        &http,
        &key,
        "resync",
        json!({"serial": "H1", "otp1": hotp(50), "otp2": hotp(51)}),
    );
    assert_eq!(v, true);
    assert_eq!(
        env.query_i64("SELECT counter FROM tokens WHERE serial = 'H1'"),
        52
    );
    assert!(
        !accepted(&http, "alice", &hotp(51)),
        "resync OTPs are used up"
    );
    assert!(accepted(&http, "alice", &hotp(52)));
    // Two non-consecutive values do not resync.
    let v = admin_ok(
        &http,
        &key,
        "resync",
        json!({"serial": "H1", "otp1": hotp(60), "otp2": hotp(62)}),
    );
    assert_eq!(v, false);
    let v = admin(
        &http,
        &key,
        "resync",
        json!({"serial": "H1", "otp1": hotp(60)}),
    );
    assert_eq!(v["result"]["status"], false, "{v}");
    assert!(
        v["result"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("otp2"),
        "{v}"
    );
});

both_backends!(max_fail_locks_the_token_until_reset, |env: &TestEnv| {
    user(env, "alice");
    enroll_rfc_hotp(env, "H1", "alice", "");
    let key = admin_key(env);
    let server = env.serve_in_process();
    let http = Http::new(&server);
    admin_ok(
        &http,
        &key,
        "set",
        json!({"serial": "H1", "MaxFailCount": "3"}),
    );
    for _ in 0..3 {
        assert!(!accepted(&http, "alice", "000000"));
    }
    assert_eq!(
        env.query_i64("SELECT fail_count FROM tokens WHERE serial = 'H1'"),
        3
    );
    assert!(
        !accepted(&http, "alice", &hotp(0)),
        "locked: even the right OTP fails"
    );
    let n = admin_ok(&http, &key, "reset", json!({"serial": "H1"}));
    assert_eq!(n, 1);
    assert!(accepted(&http, "alice", &hotp(1)));
    assert_eq!(
        env.query_i64("SELECT fail_count FROM tokens WHERE serial = 'H1'"),
        0
    );
});

both_backends!(
    validity_period_and_count_limits_are_enforced,
    |env: &TestEnv| {
        user(env, "alice");
        enroll_rfc_hotp(env, "H1", "alice", "");
        let key = admin_key(env);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let now = oath::now();
        let v = admin_ok(
            &http,
            &key,
            "setValidity",
            json!({"tokens[]": ["H1"], "validityPeriodEnd": (now - 60).to_string()}),
        );
        assert_eq!(v, json!(["H1"]));
        assert!(!accepted(&http, "alice", &hotp(0)), "validity ended");
        admin_ok(
            &http,
            &key,
            "setValidity",
            json!({"tokens[]": "H1", "validityPeriodEnd": "unlimited", "validityPeriodStart": (now + 3600).to_string()}),
        );
        assert!(!accepted(&http, "alice", &hotp(0)), "validity not started");
        admin_ok(
            &http,
            &key,
            "setValidity",
            json!({"tokens[]": "H1", "validityPeriodStart": "unlimited"}),
        );
        assert!(accepted(&http, "alice", &hotp(0)));

        admin_ok(
            &http,
            &key,
            "set",
            json!({"serial": "H1", "countAuthSuccessMax": "2", "countAuthSuccess": "0"}),
        );
        assert!(accepted(&http, "alice", &hotp(1)));
        assert!(accepted(&http, "alice", &hotp(2)));
        assert!(
            !accepted(&http, "alice", &hotp(3)),
            "countAuthSuccessMax reached"
        );
        admin_ok(
            &http,
            &key,
            "set",
            json!({"serial": "H1", "countAuthSuccessMax": "unlimited", "countAuthMax": "2", "countAuth": "0"}),
        );
        assert!(!accepted(&http, "alice", "000000"));
        assert!(accepted(&http, "alice", &hotp(3)));
        assert!(!accepted(&http, "alice", &hotp(4)), "countAuthMax reached");
        // An unknown serial in the selection changes nothing.
        let v = admin(
            &http,
            &key,
            "setValidity",
            json!({"tokens[]": ["H1", "NOPE"], "countAuthMax": "unlimited"}),
        );
        assert_eq!(v["result"]["status"], false);
        assert_eq!(
            env.query_i64("SELECT count_auth_max FROM tokens WHERE serial = 'H1'"),
            2
        );
    }
);

both_backends!(
    totp_sha256_eight_digits_is_accepted_once,
    |env: &TestEnv| {
        user(env, "alice");
        let key32 = "3132333435363738393031323334353637383930313233343536373839303132";
        env.manage_ok(&[
            "token",
            "init",
            "--type",
            "totp",
            "--serial",
            "T1",
            "--otpkey",
            key32,
            "--hashlib",
            "sha256",
            "--otplen",
            "8",
            "--user",
            "alice",
        ]);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let now = oath::now();
        let otp = oath::totp_at(key32, "sha256", 8, now);
        assert!(accepted(&http, "alice", &otp));
        assert!(!accepted(&http, "alice", &otp), "same time step twice");
        // A code from 10 minutes ago is outside the 180 s window.
        assert!(!accepted(
            &http,
            "alice",
            &oath::totp_at(key32, "sha256", 8, now - 600)
        ));
        // The next step's code (device clock 30 s ahead) works and is recorded as drift.
        assert!(accepted(
            &http,
            "alice",
            &oath::totp_at(key32, "sha256", 8, now + 30)
        ));
        let shift = env.query_i64("SELECT time_shift FROM tokens WHERE serial = 'T1'");
        assert!((0..=60).contains(&shift), "time shift {shift}");
    }
);

both_backends!(
    validate_key_required_when_the_policy_is_on,
    |env: &TestEnv| {
        user(env, "alice");
        enroll_rfc_hotp(env, "H1", "alice", "");
        env.manage_ok(&["config", "set", "api_key_required", "true"]);
        let out = env.manage_ok(&["api", "createtoken", "-r", "validate"]);
        let vkey = out
            .lines()
            .find_map(|l| l.strip_prefix("Auth-Token: "))
            .unwrap()
            .to_string();
        let vkey_id = out
            .lines()
            .find_map(|l| l.strip_prefix("Key id:"))
            .unwrap()
            .trim()
            .to_string();
        let admin = admin_key(env);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let body = json!({"user": "alice", "pass": hotp(0)});
        let r = http.post("/validate/check", &body, None);
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.json()["result"]["status"], false);
        let r = http.post("/validate/check", &body, Some(&format!("Bearer {admin}")));
        assert_eq!(
            r.status, 401,
            "an admin key is not a validate key: {}",
            r.text
        );
        assert_eq!(
            env.query_i64("SELECT counter FROM tokens"),
            0,
            "nothing checked"
        );
        let r = http.post("/validate/check", &body, Some(&vkey));
        assert_eq!(r.json()["result"]["value"], true, "{}", r.text);
        // The audit names the key that called.
        let actors = env
            .query_strings("SELECT actor FROM audit_log WHERE action = 'validate' AND success = 1");
        assert_eq!(actors, vec![vec![format!("apikey:{vkey_id}")]]);
    }
);

both_backends!(
    login_asks_for_the_otp_of_a_user_with_a_token,
    |env: &TestEnv| {
        user(env, "alice");
        let server = env.serve_in_process();
        let http = Http::new(&server);
        http.login_ok("alice", "pw-12345");
        enroll_rfc_hotp(env, "H1", "alice", "77");
        assert_eq!(http.login("alice", "pw-12345").status, 401, "OTP missing");
        let with = |otp: String| {
            http.post(
                "/auth/login",
                &json!({"username": "alice", "password": "pw-12345", "otp": otp}),
                None,
            )
        };
        assert_eq!(with(format!("77{}", hotp(50))).status, 401, "wrong OTP");
        assert_eq!(with(format!("77{}", hotp(0))).status, 200);
        assert_eq!(with(format!("77{}", hotp(0))).status, 401, "OTP used up");
        let reasons = env.query_strings(
            "SELECT details FROM audit_log WHERE action = 'login' AND success = 0 ORDER BY id",
        );
        assert_eq!(reasons[0][0], "second factor required: no OTP given");
        assert_eq!(reasons[1][0], "second factor refused");
        // A disabled token no longer asks.
        env.manage_ok(&["token", "disable", "H1"]);
        http.login_ok("alice", "pw-12345");
    }
);

both_backends!(
    challenge_response_opens_and_answers_a_challenge_once,
    |env: &TestEnv| {
        user(env, "alice");
        env.manage_ok(&[
            "token",
            "init",
            "--serial",
            "CR1",
            "--otpkey",
            RFC_KEY_HEX,
            "--user",
            "alice",
            "--pin",
            "secret-pin",
            "--challenge-response",
        ]);
        let key = admin_key(env);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let v = check(&http, json!({"user": "alice", "pass": "secret-pin"}));
        assert_eq!(v["result"]["value"], false, "{v}");
        assert_eq!(v["result"]["authentication"], "CHALLENGE", "{v}");
        let txid = v["detail"]["transactionid"].as_str().unwrap().to_string();
        assert_eq!(txid.len(), 20);
        assert!(txid.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(v["detail"]["multi_challenge"][0]["serial"], "CR1");
        let status = admin_ok(&http, &key, "checkstatus", json!({"transactionid": txid}));
        assert_eq!(
            status["values"]["CR1"]["challenges"][&txid]["status"], "open",
            "{status}"
        );
        // The second leg: the OTP alone, with the transaction id.
        let v = check(
            &http,
            json!({"user": "alice", "transactionid": txid, "pass": hotp(0)}),
        );
        assert_eq!(v["result"]["value"], true, "{v}");
        let v = check(
            &http,
            json!({"user": "alice", "transactionid": txid, "pass": hotp(1)}),
        );
        assert_eq!(
            v["result"]["value"], false,
            "a challenge is answered once: {v}"
        );
        let status = admin_ok(&http, &key, "checkstatus", json!({"serial": "CR1"}));
        assert_eq!(
            status["values"]["CR1"]["challenges"][&txid]["status"],
            "answered"
        );
        // PIN + OTP in one pass still works.
        assert!(accepted(&http, "alice", &format!("secret-pin{}", hotp(1))));
        let v = check(
            &http,
            json!({"user": "alice", "transactionid": "12345678901234567890", "pass": hotp(2)}),
        );
        assert_eq!(v["result"]["value"], false);
    }
);
