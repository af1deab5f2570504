//! Tokens over REST (`/api/v1/token`) on both backends, against the in-process server: enrol,
//! list (filters and paging in the database), get, the actions (enable, disable, reset,
//! assign, unassign, resync), settings and delete — each running the token command of
//! `/admin/*`, audited; bad input answers 4xx naming the field and changes nothing; roles and
//! the lower-role rule hold.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestEnv;
use crate::server_client::{Http, Resp};

/// RFC 4226's test seed ("12345678901234567890") as hex; its HOTP values by counter: 5 254676,
/// 6 287922, 7 162583.
pub const SEED_HEX: &str = "3132333435363738393031323334353637383930";

pub fn send(http: &Http, method: &str, path: &str, body: Option<&Value>, auth: &str) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http
        .client
        .request(method, http.url(path))
        .header("Authorization", auth);
    if let Some(b) = body {
        req = req.json(b);
    }
    http.send(req)
}

/// Accounts: `root` (superuser), `adam` (admin), `hal` (helpdesk), `aud` (auditor) and the plain
/// users `alice` and `bob`; returns root's bearer header.
pub fn accounts(env: &TestEnv, http: &Http) -> String {
    for (name, role) in [
        ("root", None),
        ("adam", Some("admin")),
        ("hal", Some("helpdesk")),
        ("aud", Some("auditor")),
        ("alice", None),
        ("bob", None),
    ] {
        env.manage_ok(&[
            "createuser",
            name,
            &format!("pw-{name}-123"),
            &format!("{name}@example.com"),
        ]);
        if let Some(r) = role {
            env.manage_ok(&["promoteuser", name, r]);
        }
    }
    bearer(http, "root")
}

pub fn bearer(http: &Http, name: &str) -> String {
    format!("Bearer {}", http.login_ok(name, &format!("pw-{name}-123")))
}

fn token_count(env: &TestEnv) -> i64 {
    env.query_i64("SELECT COUNT(*) FROM tokens")
}

/// Every token row's changeable columns.
fn tokens_state(env: &TestEnv) -> Vec<Vec<String>> {
    env.query_strings(
        "SELECT serial, CAST(active AS TEXT), COALESCE(owner_id, ''), pin_hash, \
         CAST(max_fail AS TEXT), description, CAST(counter AS TEXT), CAST(fail_count AS TEXT), \
         CAST(count_auth_max AS TEXT), CAST(updated_at AS TEXT) FROM tokens ORDER BY serial",
    )
}

fn audit_count(env: &TestEnv, action: &str) -> i64 {
    env.query_i64(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND success = 1"
    ))
}

fn enrol_hotp(http: &Http, auth: &str, serial: &str, user: &str) {
    let body =
        json!({"type": "hotp", "serial": serial, "otpkey": SEED_HEX, "user": user, "pin": "1234"});
    let r = send(http, "POST", "/api/v1/token", Some(&body), auth);
    assert_eq!(r.status, 201, "{}", r.text);
}

both_backends!(
    token_routes_enrol_list_get_change_and_delete,
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let root = accounts(env, &http);

        let body = json!({"type": "hotp", "serial": "OATH0001", "otpkey": SEED_HEX, "user": "alice", "pin": "1234"});
        let r = send(&http, "POST", "/api/v1/token", Some(&body), &root);
        assert_eq!(r.status, 201, "{}", r.text);
        let created = r.json();
        assert_eq!(created["serial"], "OATH0001");
        assert!(
            created["otpauth_uri"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://hotp/")
        );
        assert_eq!(created["otpkey"], "", "a given seed is not echoed");

        let r = send(
            &http,
            "POST",
            "/api/v1/token",
            Some(&json!({"type": "totp", "genkey": true})),
            &root,
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let generated = r.json();
        assert_eq!(
            generated["otpkey"].as_str().unwrap().len(),
            40,
            "{generated}"
        );
        let totp_serial = generated["serial"].as_str().unwrap().to_string();
        assert_eq!(audit_count(env, "token init"), 2);

        // Listing: filters and paging in the database.
        let page = send(&http, "GET", "/api/v1/token?limit=1&offset=0", None, &root).json();
        assert_eq!(
            (
                page["total"].as_i64(),
                page["tokens"].as_array().unwrap().len()
            ),
            (Some(2), 1)
        );
        let second = send(&http, "GET", "/api/v1/token?limit=1&offset=1", None, &root).json();
        assert_ne!(page["tokens"][0]["serial"], second["tokens"][0]["serial"]);
        let alices = send(&http, "GET", "/api/v1/token?user=alice", None, &root).json();
        assert_eq!(alices["total"], 1, "{alices}");
        assert_eq!(alices["tokens"][0]["user"], "alice");
        let totps = send(&http, "GET", "/api/v1/token?type=totp", None, &root).json();
        assert_eq!(totps["tokens"][0]["serial"], totp_serial.as_str());
        let inactive = send(&http, "GET", "/api/v1/token?active=false", None, &root).json();
        assert_eq!(inactive["total"], 0);

        let r = send(&http, "GET", "/api/v1/token/OATH0001", None, &root);
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(!r.text.contains("3132333435"), "a seed in {}", r.text);
        let t = r.json();
        assert_eq!(
            (
                t["type"].as_str(),
                t["user"].as_str(),
                t["active"].as_bool()
            ),
            (Some("hotp"), Some("alice"), Some(true))
        );
        assert!(
            t["created_at"].as_i64().unwrap() > 1_000_000_000_000,
            "ms: {t}"
        );

        // Actions.
        let r = send(&http, "PUT", "/api/v1/token/OATH0001/disable", None, &root);
        assert_eq!(
            r.json(),
            json!({"error": "", "message": "Token disabled", "status": 200})
        );
        assert_eq!(
            send(&http, "GET", "/api/v1/token/OATH0001", None, &root).json()["active"],
            false
        );
        assert_eq!(
            send(&http, "PUT", "/api/v1/token/OATH0001/enable", None, &root).status,
            200
        );
        assert_eq!(
            send(&http, "GET", "/api/v1/token/OATH0001", None, &root).json()["active"],
            true
        );

        let r = send(
            &http,
            "PATCH",
            "/api/v1/token/OATH0001",
            Some(&json!({"max_fail": 5, "description": "desk"})),
            &root,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let t = send(&http, "GET", "/api/v1/token/OATH0001", None, &root).json();
        assert_eq!(
            (t["max_fail"].as_i64(), t["description"].as_str()),
            (Some(5), Some("desk"))
        );

        let r = send(
            &http,
            "PUT",
            "/api/v1/token/OATH0001/resync",
            Some(&json!({"otp1": "254676", "otp2": "287922"})),
            &root,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            send(&http, "GET", "/api/v1/token/OATH0001", None, &root).json()["counter"]
                .as_i64()
                .unwrap()
                >= 6
        );
        let r = send(
            &http,
            "PUT",
            "/api/v1/token/OATH0001/resync",
            Some(&json!({"otp1": "000000", "otp2": "000001"})),
            &root,
        );
        r.assert_error(400);

        assert_eq!(
            send(&http, "PUT", "/api/v1/token/OATH0001/unassign", None, &root).status,
            200
        );
        assert_eq!(
            send(&http, "GET", "/api/v1/token/OATH0001", None, &root).json()["user"],
            ""
        );
        let r = send(
            &http,
            "PUT",
            "/api/v1/token/OATH0001/assign",
            Some(&json!({"user": "bob", "pin": "9999"})),
            &root,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            send(&http, "GET", "/api/v1/token/OATH0001", None, &root).json()["user"],
            "bob"
        );
        assert_eq!(
            send(&http, "PUT", "/api/v1/token/OATH0001/reset", None, &root).status,
            200
        );
        send(&http, "PUT", "/api/v1/token/OATH0001/explode", None, &root).assert_error(404);

        let r = send(&http, "DELETE", "/api/v1/token/OATH0001", None, &root);
        assert_eq!(
            r.json(),
            json!({"error": "", "message": "Token deleted", "status": 200})
        );
        send(&http, "GET", "/api/v1/token/OATH0001", None, &root).assert_error(404);
        send(&http, "DELETE", "/api/v1/token/OATH0001", None, &root).assert_error(404);
        assert_eq!(token_count(env), 1);
        assert_eq!(audit_count(env, "token remove"), 1);
    }
);

both_backends!(
    token_routes_refuse_bad_input_naming_the_field_and_change_nothing,
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let root = accounts(env, &http);
        enrol_hotp(&http, &root, "OATH0001", "alice");
        let before = tokens_state(env);

        let cases: Vec<(&str, &str, Value, &str)> = vec![
            (
                "POST",
                "/api/v1/token",
                json!({"type": "hotp", "otpkey": "zz-not-hex", "serial": "X1"}),
                "otpkey",
            ),
            (
                "POST",
                "/api/v1/token",
                json!({"otplen": "eight"}),
                "otplen",
            ),
            ("POST", "/api/v1/token", json!({"type": "sms2"}), "type"),
            (
                "POST",
                "/api/v1/token",
                json!({"serial": "X2", "genkey": true, "colour": "red"}),
                "colour",
            ),
            (
                "POST",
                "/api/v1/token",
                json!({"genkey": true, "time_step": 0, "type": "totp"}),
                "time_step",
            ),
            (
                "PATCH",
                "/api/v1/token/OATH0001",
                json!({"max_fail": -1}),
                "max_fail",
            ),
            (
                "PATCH",
                "/api/v1/token/OATH0001",
                json!({"count_auth_max": "many"}),
                "count_auth_max",
            ),
            (
                "PUT",
                "/api/v1/token/OATH0001/assign",
                json!({"user": ""}),
                "user",
            ),
            (
                "PUT",
                "/api/v1/token/OATH0001/resync",
                json!({"otp1": "254676"}),
                "otp2",
            ),
        ];
        for (method, path, body, field) in cases {
            let r = send(&http, method, path, Some(&body), &root);
            assert!(
                (400..500).contains(&r.status),
                "{method} {path} {body}: {} {}",
                r.status,
                r.text
            );
            assert!(
                r.json()["error"].as_str().unwrap().contains(field),
                "{body}: {}",
                r.text
            );
        }
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=5000", "limit"),
            ("type=bogus", "type"),
            ("active=maybe", "active"),
            ("offset=-1", "offset"),
        ] {
            let r = send(&http, "GET", &format!("/api/v1/token?{query}"), None, &root);
            assert_eq!(r.status, 400, "{query}: {}", r.text);
            assert!(r.text.contains(field), "{query}: {}", r.text);
        }
        let r = send(
            &http,
            "POST",
            "/api/v1/token",
            Some(&json!({"genkey": true, "user": "nobody"})),
            &root,
        );
        r.assert_error(404);
        send(&http, "PUT", "/api/v1/token/NOPE/enable", None, &root).assert_error(404);
        assert_eq!(
            tokens_state(env),
            before,
            "a refused request changed the tokens"
        );
    }
);

both_backends!(
    token_routes_follow_roles_and_the_lower_role_rule,
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let root = accounts(env, &http);
        // Signed in before they have tokens (a token makes login ask for an OTP).
        let hal = bearer(&http, "hal");
        let aud = bearer(&http, "aud");
        let bob = bearer(&http, "bob");
        enrol_hotp(&http, &root, "ADAM0001", "adam");
        enrol_hotp(&http, &root, "BOB00001", "bob");

        // Helpdesk: token operations on users below it, never on an admin's token.
        let r = send(
            &http,
            "POST",
            "/api/v1/token",
            Some(&json!({"genkey": true, "user": "bob", "serial": "HAL00001"})),
            &hal,
        );
        assert_eq!(r.status, 201, "{}", r.text);
        send(&http, "PUT", "/api/v1/token/ADAM0001/disable", None, &hal).assert_error(403);
        send(&http, "DELETE", "/api/v1/token/ADAM0001", None, &hal).assert_error(403);
        send(
            &http,
            "POST",
            "/api/v1/token",
            Some(&json!({"genkey": true, "user": "adam"})),
            &hal,
        )
        .assert_error(403);
        assert_eq!(
            send(&http, "PUT", "/api/v1/token/BOB00001/disable", None, &hal).status,
            200
        );
        assert_eq!(send(&http, "GET", "/api/v1/token", None, &hal).status, 200);

        // Auditor reads only; a plain user nothing; nobody without credentials.
        assert_eq!(
            send(&http, "GET", "/api/v1/token/ADAM0001", None, &aud).status,
            200
        );
        send(&http, "PUT", "/api/v1/token/BOB00001/enable", None, &aud).assert_error(403);
        send(
            &http,
            "POST",
            "/api/v1/token",
            Some(&json!({"genkey": true})),
            &aud,
        )
        .assert_error(403);
        send(&http, "GET", "/api/v1/token", None, &bob).assert_error(403);
        send(&http, "GET", "/api/v1/token", None, "Bearer nope").assert_error(401);

        let adam_token = send(&http, "GET", "/api/v1/token/ADAM0001", None, &root).json();
        assert_eq!(
            adam_token["active"], true,
            "a refused request changed the token"
        );
        assert_eq!(
            send(&http, "GET", "/api/v1/token/BOB00001", None, &root).json()["active"],
            false
        );
        assert!(
            env.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE success = 0 AND action LIKE 'token%'"
            ) >= 4
        );
    }
);

both_backends!(
    apikey_routes_create_once_list_get_revoke,
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let root = accounts(env, &http);

        let r = send(
            &http,
            "POST",
            "/api/v1/apikey",
            Some(&json!({"role": "admin", "username": "adam", "days": 30, "description": "ci"})),
            &root,
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let created = r.json();
        let key = created["key"].as_str().unwrap().to_string();
        let id = created["id"].as_str().unwrap().to_string();
        assert!(key.starts_with(&format!("kw_{id}_")), "{created}");
        assert_eq!(
            (
                created["role"].as_str(),
                created["username"].as_str(),
                created["days"].as_i64()
            ),
            (Some("admin"), Some("adam"), Some(30))
        );

        let list = send(&http, "GET", "/api/v1/apikey", None, &root);
        assert!(!list.text.contains(&key), "the secret is listed");
        assert!(
            list.json()
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["id"] == id.as_str())
        );
        let one = send(&http, "GET", &format!("/api/v1/apikey/{id}"), None, &root);
        assert_eq!(one.json()["status"], "active", "{}", one.text);
        assert!(!one.text.contains(&key));
        assert_eq!(http.get("/api/v1/me", Some(&key)).status, 200);

        // Only a superuser creates keys; bad fields are named.
        let adam = bearer(&http, "adam");
        send(
            &http,
            "POST",
            "/api/v1/apikey",
            Some(&json!({"role": "admin"})),
            &adam,
        )
        .assert_error(403);
        let r = send(
            &http,
            "POST",
            "/api/v1/apikey",
            Some(&json!({"role": "root"})),
            &root,
        );
        assert!(
            r.assert_error(400)["error"]
                .as_str()
                .unwrap()
                .contains("role"),
            "{}",
            r.text
        );
        let r = send(
            &http,
            "POST",
            "/api/v1/apikey",
            Some(&json!({"role": "admin", "days": 0})),
            &root,
        );
        assert!(
            r.assert_error(400)["error"]
                .as_str()
                .unwrap()
                .contains("days"),
            "{}",
            r.text
        );
        send(&http, "GET", "/api/v1/apikey/nope", None, &root).assert_error(404);
        send(&http, "GET", "/api/v1/apikey", None, &bearer(&http, "bob")).assert_error(403);
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM api_keys"), 1);

        let r = send(
            &http,
            "DELETE",
            &format!("/api/v1/apikey/{id}"),
            None,
            &root,
        );
        assert_eq!(
            r.json(),
            json!({"error": "", "message": "API key revoked", "status": 200})
        );
        assert_eq!(
            send(&http, "GET", &format!("/api/v1/apikey/{id}"), None, &root).json()["status"],
            "revoked"
        );
        assert_eq!(http.get("/api/v1/me", Some(&key)).status, 401);
        send(
            &http,
            "DELETE",
            &format!("/api/v1/apikey/{id}"),
            None,
            &root,
        )
        .assert_error(404);
    }
);
