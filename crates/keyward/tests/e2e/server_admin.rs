//! The LinOTP admin API (`/admin/<endpoint>`, seed 003) through the real server on both
//! backends: every endpoint's documented behaviour (status, envelope, value, database state),
//! the role rule (helpdesk, auditor, no credentials), and bad input (error envelopes with HTTP
//! 200 that change nothing, `httperror`, unknown endpoint, malformed bodies).

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{ServerGuard, TestEnv};
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_client::{Http, Resp};
use crate::server_validate::{accepted, admin, admin_key, admin_ok, check, user};

/// A second HOTP seed (differs from the RFC seed in its last byte).
const OTHER_KEY_HEX: &str = "3132333435363738393031323334353637383931";

/// A running server, a client for it and an admin API key.
struct Api {
    _server: ServerGuard,
    http: Http,
    key: String,
}

impl Api {
    /// Creates `users` (password `pw-12345`), an admin key, and starts the server.
    fn start(env: &TestEnv, users: &[&str]) -> Api {
        for u in users {
            user(env, u);
        }
        let key = admin_key(env);
        let server = env.serve();
        let http = Http::new(&server);
        Api {
            _server: server,
            http,
            key,
        }
    }

    /// POST JSON to `/admin/<endpoint>`: the envelope (HTTP 200 asserted).
    fn call(&self, endpoint: &str, params: Value) -> Value {
        let v = admin(&self.http, &self.key, endpoint, params);
        assert_envelope(&v);
        v
    }

    /// POST JSON, success expected: `result.value`.
    fn ok(&self, endpoint: &str, params: Value) -> Value {
        let v = self.call(endpoint, params.clone());
        assert_eq!(
            v["result"]["status"], true,
            "/admin/{endpoint} {params}: {v}"
        );
        v["result"]["value"].clone()
    }

    /// POST JSON, error expected with this code (HTTP 200): the error message.
    fn err(&self, endpoint: &str, params: Value, code: i64) -> String {
        let v = self.call(endpoint, params.clone());
        assert_error(&v, code, &format!("/admin/{endpoint} {params}"))
    }

    /// GET `/admin/<endpoint>?query` with the admin key.
    fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Resp {
        self.http.send(
            self.http
                .client
                .get(self.http.url(&format!("/admin/{endpoint}")))
                .query(query)
                .bearer_auth(&self.key),
        )
    }

    /// POST a form-encoded body (names may repeat) with the admin key.
    fn form(&self, endpoint: &str, pairs: &[(&str, &str)]) -> Resp {
        self.http.send(
            self.http
                .client
                .post(self.http.url(&format!("/admin/{endpoint}")))
                .form(pairs)
                .bearer_auth(&self.key),
        )
    }

    /// POST a raw body with a content type, with the admin key.
    fn raw(&self, endpoint: &str, content_type: &str, body: Vec<u8>) -> Resp {
        self.http.send(
            self.http
                .client
                .post(self.http.url(&format!("/admin/{endpoint}")))
                .header("Content-Type", content_type)
                .body(body)
                .bearer_auth(&self.key),
        )
    }

    /// Enrolls an HOTP token through `/admin/init`.
    fn hotp(&self, serial: &str, key_hex: &str, owner: Option<&str>, pin: Option<&str>) {
        let mut p = json!({"serial": serial, "otpkey": key_hex});
        if let Some(u) = owner {
            p["user"] = json!(u);
        }
        if let Some(pin) = pin {
            p["pin"] = json!(pin);
        }
        assert_eq!(self.ok("init", p), true);
    }

    /// `show` data for the given parameters.
    fn show(&self, params: Value) -> Vec<Value> {
        self.ok("show", params)["data"].as_array().unwrap().clone()
    }

    /// Serials listed by `show` for the given parameters.
    fn serials(&self, params: Value) -> Vec<String> {
        self.show(params)
            .iter()
            .map(|t| t["LinOtp.TokenSerialnumber"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The LinOTP envelope: `jsonrpc`, `result.status`, `version`, `id`.
fn assert_envelope(v: &Value) {
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["id"], 1, "{v}");
    assert!(v["version"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert!(v["result"]["status"].is_boolean(), "{v}");
}

/// An error envelope with this code: returns the message.
fn assert_error(v: &Value, code: i64, what: &str) -> String {
    assert_envelope(v);
    assert_eq!(v["result"]["status"], false, "{what}: {v}");
    assert_eq!(v["result"]["error"]["code"], code, "{what}: {v}");
    assert!(v["result"].get("value").is_none(), "{what}: {v}");
    let msg = v["result"]["error"]["message"].as_str().unwrap_or_default();
    assert!(!msg.is_empty(), "{what}: {v}");
    msg.to_string()
}

fn hotp(counter: u64) -> String {
    oath::hotp(RFC_KEY_HEX, counter, 6)
}

fn user_id(env: &TestEnv, name: &str) -> String {
    env.query_strings(&format!("SELECT id FROM users WHERE username = '{name}'"))[0][0].clone()
}

fn owner_of(env: &TestEnv, serial: &str) -> String {
    env.query_strings(&format!(
        "SELECT COALESCE(owner_id, '') FROM tokens WHERE serial = '{serial}'"
    ))[0][0]
        .clone()
}

fn column(env: &TestEnv, serial: &str, col: &str) -> i64 {
    env.query_i64(&format!(
        "SELECT COALESCE({col}, -1) FROM tokens WHERE serial = '{serial}'"
    ))
}

fn text_column(env: &TestEnv, serial: &str, col: &str) -> String {
    env.query_strings(&format!(
        "SELECT {col} FROM tokens WHERE serial = '{serial}'"
    ))[0][0]
        .clone()
}

fn token_count(env: &TestEnv) -> i64 {
    env.query_i64("SELECT COUNT(*) FROM tokens")
}

// ---------------------------------------------------------------------------------------------
// assign / unassign / copyTokenUser / copyTokenPin / getTokenOwner
// ---------------------------------------------------------------------------------------------

both_backends!(
    assign_binds_the_token_and_its_pin_then_validates,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, None, None);
        assert_eq!(owner_of(env, "H1"), "");
        let v = api.ok(
            "assign",
            json!({"serial": "H1", "user": "alice", "pin": "1234"}),
        );
        assert_eq!(v, true);
        assert_eq!(owner_of(env, "H1"), user_id(env, "alice"));
        let pin_hash = text_column(env, "H1", "pin_hash");
        assert!(!pin_hash.is_empty() && !pin_hash.contains("1234"));
        assert!(!accepted(&api.http, "alice", &hotp(0)), "PIN missing");
        assert!(accepted(&api.http, "alice", &format!("1234{}", hotp(1))));
    }
);

both_backends!(
    assign_refuses_another_owner_unknown_user_and_missing_user,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
        api.err("assign", json!({"serial": "H1", "user": "bob"}), 1101);
        api.err("assign", json!({"serial": "H1", "user": "nobody"}), 1102);
        let msg = api.err("assign", json!({"serial": "H1"}), 905);
        assert!(msg.contains("user"), "{msg}");
        assert_eq!(owner_of(env, "H1"), user_id(env, "alice"));
    }
);

both_backends!(
    unassign_removes_owner_pin_and_fail_count,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), Some("1234"));
        assert!(!accepted(&api.http, "alice", "1234000000"));
        assert_eq!(column(env, "H1", "fail_count"), 1);
        api.err("unassign", json!({"serial": "H1", "user": "bob"}), 905);
        assert_eq!(owner_of(env, "H1"), user_id(env, "alice"));
        let v = api.ok("unassign", json!({"serial": "H1"}));
        assert_eq!(v, 1);
        assert_eq!(owner_of(env, "H1"), "");
        assert_eq!(text_column(env, "H1", "pin_hash"), "");
        assert_eq!(column(env, "H1", "fail_count"), 0);
        assert_eq!(api.ok("getTokenOwner", json!({"serial": "H1"})), json!({}));
    }
);

both_backends!(
    copy_token_user_gives_the_target_the_source_owner,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("A", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("B", OTHER_KEY_HEX, None, None);
        let v = api.ok("copyTokenUser", json!({"from": "A", "to": "B"}));
        assert_eq!(v, true);
        assert_eq!(owner_of(env, "B"), user_id(env, "alice"));
        assert_eq!(owner_of(env, "A"), user_id(env, "alice"));
        let owner = api.ok("getTokenOwner", json!({"serial": "B"}));
        assert_eq!(owner["username"], "alice");
        // From an unassigned token: an error, nothing changes.
        api.hotp("C", OTHER_KEY_HEX, None, None);
        api.err("copyTokenUser", json!({"from": "C", "to": "B"}), 905);
        api.err("copyTokenUser", json!({"from": "A", "to": "NOPE"}), 1102);
        api.err("copyTokenUser", json!({"from": "A"}), 905);
        assert_eq!(owner_of(env, "B"), user_id(env, "alice"));
    }
);

both_backends!(
    copy_token_pin_makes_the_pin_work_on_the_target,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice", "bob"]);
        api.hotp("A", OTHER_KEY_HEX, Some("alice"), Some("4321"));
        api.hotp("B", RFC_KEY_HEX, Some("bob"), None);
        assert!(!accepted(&api.http, "bob", &format!("4321{}", hotp(0))));
        let v = api.ok("copyTokenPin", json!({"from": "A", "to": "B"}));
        assert_eq!(v, true);
        assert_eq!(
            text_column(env, "B", "pin_hash"),
            text_column(env, "A", "pin_hash")
        );
        let v = check(
            &api.http,
            json!({"serial": "B", "pass": format!("4321{}", hotp(1))}),
        );
        assert_eq!(v["result"]["value"], true, "{v}");
        api.err("copyTokenPin", json!({"from": "NOPE", "to": "B"}), 1102);
        api.err("copyTokenPin", json!({"to": "B"}), 905);
    }
);

both_backends!(
    get_token_owner_returns_the_user_or_nothing,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("H2", OTHER_KEY_HEX, None, None);
        let v = api.ok("getTokenOwner", json!({"serial": "H1"}));
        assert_eq!(v["username"], "alice", "{v}");
        assert_eq!(v["userid"], user_id(env, "alice"), "{v}");
        assert_eq!(v["email"], "alice@example.com", "{v}");
        assert_eq!(v["resolver"], "internal", "{v}");
        // GET works as well.
        let r = api.get("getTokenOwner", &[("serial", "H1")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["result"]["value"]["username"], "alice");
        assert_eq!(api.ok("getTokenOwner", json!({"serial": "H2"})), json!({}));
        api.err("getTokenOwner", json!({"serial": "NOPE"}), 1102);
        api.err("getTokenOwner", json!({}), 905);
    }
);

// ---------------------------------------------------------------------------------------------
// check_serial / checkstatus
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// disable / enable
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// getSerialByOtp
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// init
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// losttoken (loadtokens: server_import.rs)
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// remove / reset / resync
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// set / setPin / setValidity
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// show
// ---------------------------------------------------------------------------------------------

both_backends!(
    show_lists_tokens_with_linotp_fields_and_resultset,
    |env: &TestEnv| {
        let api = Api::start(env, &["alice"]);
        api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
        api.hotp("H2", OTHER_KEY_HEX, None, None);
        api.ok(
            "init",
            json!({"serial": "T1", "type": "totp", "otpkey": RFC_KEY_HEX}),
        );
        let v = api.ok("show", json!({}));
        assert_eq!(
            v["resultset"],
            json!({"pages": 1, "pagesize": 50, "tokens": 3, "page": 1}),
            "{v}"
        );
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), 3);
        let h1 = data
            .iter()
            .find(|t| t["LinOtp.TokenSerialnumber"] == "H1")
            .unwrap();
        for k in [
            "LinOtp.TokenId",
            "LinOtp.TokenType",
            "LinOtp.TokenDesc",
            "LinOtp.Isactive",
            "LinOtp.FailCount",
            "LinOtp.MaxFail",
            "LinOtp.Count",
            "LinOtp.CountWindow",
            "LinOtp.SyncWindow",
            "LinOtp.OtpLen",
            "LinOtp.RealmNames",
            "LinOtp.TokenInfo",
            "LinOtp.IdResClass",
            "LinOtp.Userid",
            "User.username",
            "User.userid",
            "User.description",
        ] {
            assert!(h1.get(k).is_some(), "{k} missing: {h1}");
        }
        assert_eq!(h1["LinOtp.TokenType"], "HMAC");
        assert_eq!(h1["LinOtp.Isactive"], true);
        assert_eq!(h1["User.username"], "alice");
        assert_eq!(h1["User.userid"], user_id(env, "alice"));
        assert_eq!(h1["LinOtp.MaxFail"], 10);
        assert!(h1["LinOtp.RealmNames"].is_array());
        // Token info is a JSON string by default.
        let info: Value = serde_json::from_str(h1["LinOtp.TokenInfo"].as_str().unwrap()).unwrap();
        assert_eq!(info["hashlib"], "sha1");
        let t1 = data
            .iter()
            .find(|t| t["LinOtp.TokenSerialnumber"] == "T1")
            .unwrap();
        assert_eq!(t1["LinOtp.TokenType"], "TOTP");
        // GET answers the same.
        let r = api.get("show", &[]);
        assert_eq!(r.json()["result"]["value"]["resultset"]["tokens"], 3);
    }
);

both_backends!(show_selects_by_serial_user_and_filter, |env: &TestEnv| {
    let api = Api::start(env, &["alice", "bob", "charlie"]);
    api.hotp("A1", RFC_KEY_HEX, Some("alice"), None);
    api.hotp("A2", OTHER_KEY_HEX, Some("alice"), None);
    api.hotp("B1", RFC_KEY_HEX, Some("bob"), None);
    api.hotp("C1", OTHER_KEY_HEX, Some("charlie"), None);
    api.ok(
        "init",
        json!({"serial": "X9", "otpkey": RFC_KEY_HEX, "description": "Office Laptop"}),
    );
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(api.serials(json!({"serial": "B1"})), vec!["B1"]);
    assert_eq!(
        sorted(api.serials(json!({"user": "alice"}))),
        vec!["A1", "A2"]
    );
    // No user "li": tokens of users whose name contains it.
    assert_eq!(
        sorted(api.serials(json!({"user": "li"}))),
        vec!["A1", "A2", "C1"]
    );
    assert_eq!(api.serials(json!({"filter": "laptop"})), vec!["X9"]);
    assert_eq!(api.serials(json!({"filter": "bob"})), vec!["B1"]);
    assert!(api.serials(json!({"serial": "NOPE"})).is_empty());
});

both_backends!(show_sorts_and_pages, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    for s in ["S1", "S2", "S3", "S4", "S5"] {
        api.hotp(s, RFC_KEY_HEX, None, None);
    }
    let v = api.ok(
        "show",
        json!({"sortby": "serial", "sortdir": "desc", "page": "2", "pagesize": "2"}),
    );
    let serials: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["LinOtp.TokenSerialnumber"].as_str().unwrap())
        .collect();
    assert_eq!(serials, vec!["S3", "S2"]);
    assert_eq!(
        v["resultset"],
        json!({"pages": 3, "pagesize": 2, "tokens": 5, "page": 2})
    );
    assert_eq!(
        api.serials(json!({"sortby": "serial", "sortdir": "asc", "pagesize": "3"})),
        vec!["S1", "S2", "S3"]
    );
    assert_eq!(
        api.serials(json!({"sortby": "serial", "page": "3", "pagesize": "2"})),
        vec!["S5"]
    );
    assert!(
        api.serials(json!({"page": "4", "pagesize": "2"}))
            .is_empty(),
        "beyond the last page"
    );
    api.err("show", json!({"sortby": "nosuchcolumn"}), 905);
    api.err("show", json!({"sortdir": "sideways"}), 905);
});

both_backends!(show_outform_csv_is_a_file_download, |env: &TestEnv| {
    let api = Api::start(env, &["alice"]);
    api.hotp("H1", RFC_KEY_HEX, Some("alice"), None);
    api.hotp("H2", OTHER_KEY_HEX, None, None);
    let r = api.get("show", &[("outform", "csv")]);
    assert_eq!(r.status, 200, "{}", r.text);
    let ct = r.headers["content-type"].to_str().unwrap();
    assert!(ct.starts_with("text/csv"), "{ct}");
    let cd = r.headers["content-disposition"].to_str().unwrap();
    assert!(cd.starts_with("attachment"), "{cd}");
    assert!(cd.contains("tokendata.csv"), "{cd}");
    let lines: Vec<&str> = r.text.lines().collect();
    assert_eq!(lines.len(), 3, "header + 2 rows: {}", r.text);
    assert!(
        lines[0].contains("'LinOtp.TokenSerialnumber'; "),
        "{}",
        lines[0]
    );
    assert!(r.text.contains("'H1'; ") && r.text.contains("'H2'; "));
    assert!(r.text.contains("'alice'; "));
    // POST with a filter too.
    let r = api.form("show", &[("outform", "csv"), ("serial", "H2")]);
    assert_eq!(r.text.lines().count(), 2, "{}", r.text);
    assert!(!r.text.contains("'H1'; "));
});

both_backends!(
    show_tokeninfo_format_json_embeds_an_object,
    |env: &TestEnv| {
        let api = Api::start(env, &[]);
        api.ok(
            "init",
            json!({"serial": "T1", "type": "totp", "otpkey": RFC_KEY_HEX}),
        );
        let t = &api.show(json!({"tokeninfo_format": "json"}))[0];
        let info = &t["LinOtp.TokenInfo"];
        assert!(info.is_object(), "{t}");
        assert_eq!(info["hashlib"], "sha1");
        assert_eq!(info["timeStep"], "30");
        assert!(api.show(json!({}))[0]["LinOtp.TokenInfo"].is_string());
    }
);

// ---------------------------------------------------------------------------------------------
// testresolver / tokenrealm / totp_lookup / unpair / userlist
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Roles and authentication
// ---------------------------------------------------------------------------------------------

/// Creates `name` with `role` and returns a session token.
fn session_with_role(env: &TestEnv, http: &Http, name: &str, role: &str) -> String {
    user(env, name);
    env.manage_ok(&["promoteuser", name, role]);
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

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

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

both_backends!(get_serial_by_otp_filters_by_realm, |env: &TestEnv| {
    let api = Api::start(env, &[]);
    api.hotp("H1", RFC_KEY_HEX, None, None);
    api.ok("tokenrealm", json!({"serial": "H1", "realms": "sales"}));
    let find = |realm: &str| api.ok("getSerialByOtp", json!({"otp": hotp(0), "realm": realm}));
    assert_eq!(find("sales")["serial"], "H1");
    assert_eq!(find("hq")["serial"], "");
});
