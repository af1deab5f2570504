//! Issue 7 (hardening), authorization items through the real server on both backends: a helpdesk
//! cannot take over a superuser's second factor (1), roles are the registry's for every transport
//! (2), API keys die with their owner (3), unknown realms are errors (4), the first user is made
//! at the console and the last superuser stays (5), and secrets stay out of audit rows and error
//! messages (16). The full role × target matrix runs in-process in
//! `crates/commands/tests/authorization_matrix.rs`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestEnv;
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_client::Http;
use crate::server_validate::{accepted, admin, admin_key, admin_ok, key_for, user};

/// A user with `role` (none: a plain user), logged in: its session token.
fn session(env: &TestEnv, http: &Http, name: &str, role: Option<&str>) -> String {
    user(env, name);
    if let Some(role) = role {
        env.console_ok(&["promoteuser", name, role]);
    }
    http.login_ok(name, "pw-12345")
}

/// POSTs to `/admin/<endpoint>` with a session; (HTTP status, envelope).
fn admin_as(http: &Http, token: &str, endpoint: &str, params: Value) -> (u16, Value) {
    let r = http.post(
        &format!("/admin/{endpoint}"),
        &params,
        Some(&format!("Bearer {token}")),
    );
    let status = r.status;
    (status, r.json())
}

fn assert_refused(http: &Http, token: &str, endpoint: &str, params: Value) {
    let (status, v) = admin_as(http, token, endpoint, params.clone());
    assert_eq!(status, 403, "/admin/{endpoint} {params}: {v}");
    assert_eq!(v["result"]["status"], false, "{v}");
    assert_eq!(v["result"]["error"]["code"], -311, "{v}");
}

fn token_owner(env: &TestEnv, serial: &str) -> String {
    env.query_strings(&format!(
        "SELECT COALESCE(u.username, '') FROM tokens t LEFT JOIN users u ON u.id = t.owner_id \
         WHERE t.serial = '{serial}'"
    ))
    .first()
    .map(|r| r[0].clone())
    .unwrap_or_default()
}

both_backends!(
    item1_helpdesk_cannot_take_over_a_superusers_second_factor,
    |env: &TestEnv| {
        user(env, "root"); // the first user: superuser
        user(env, "alice");
        let key = key_for(env, "root");
        let server = env.serve_in_process();
        let http = Http::new(&server);
        for (serial, owner) in [("ROOT1", "root"), ("ALICE1", "alice")] {
            admin_ok(
                &http,
                &key,
                "init",
                json!({"serial": serial, "otpkey": RFC_KEY_HEX, "user": owner}),
            );
        }
        let hd = session(env, &http, "hd", Some("helpdesk"));
        // The reproduction's three takeovers, and their neighbours.
        assert_refused(&http, &hd, "losttoken", json!({"serial": "ROOT1"}));
        assert_refused(&http, &hd, "remove", json!({"user": "root"}));
        assert_refused(
            &http,
            &hd,
            "init",
            json!({"user": "root", "otpkey": RFC_KEY_HEX, "pin": "1234", "serial": "EVIL"}),
        );
        assert_refused(
            &http,
            &hd,
            "setPin",
            json!({"serial": "ROOT1", "userpin": "1"}),
        );
        assert_refused(
            &http,
            &hd,
            "assign",
            json!({"serial": "ALICE1", "user": "root"}),
        );
        assert_refused(&http, &hd, "disable", json!({"serial": "ROOT1"}));
        assert_refused(
            &http,
            &hd,
            "copyTokenUser",
            json!({"from": "ROOT1", "to": "ALICE1"}),
        );
        // Nothing changed: the superuser's token is its own, enabled, with no replacement.
        assert_eq!(token_owner(env, "ROOT1"), "root");
        assert_eq!(token_owner(env, "ALICE1"), "alice");
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM tokens WHERE serial = 'EVIL' OR serial LIKE 'lost%'"
            ),
            0
        );
        assert!(accepted(&http, "root", &oath::hotp(RFC_KEY_HEX, 0, 6)));
        // The same helpdesk may act on a plain user's token.
        let (status, v) = admin_as(&http, &hd, "losttoken", json!({"serial": "ALICE1"}));
        assert_eq!((status, &v["result"]["status"]), (200, &json!(true)), "{v}");
        // Refusals are audited with the target.
        assert!(
            env.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'token losttoken' \
             AND target = 'ROOT1' AND success = 0"
            ) >= 1
        );
        // An admin may not act on another admin, nor on a superuser; a superuser acts on anyone.
        let adm = session(env, &http, "adm", Some("admin"));
        let _other = session(env, &http, "adm2", Some("admin"));
        admin_ok(
            &http,
            &key,
            "init",
            json!({"serial": "ADM2", "otpkey": RFC_KEY_HEX, "user": "adm2"}),
        );
        assert_refused(&http, &adm, "remove", json!({"serial": "ADM2"}));
        assert_refused(&http, &adm, "remove", json!({"user": "root"}));
        // A key made for the superuser acts as the superuser.
        admin_ok(&http, &key, "remove", json!({"serial": "ADM2"}));
    }
);

both_backends!(
    item2_roles_hold_for_the_cli_management_endpoint_and_rest,
    |env: &TestEnv| {
        let env = TestEnv::with_config(
            env.backend,
            "management_command_access_key = \"mgmt-key-0123456789\"\n",
        );
        user(&env, "root");
        user(&env, "bob");
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let aud = session(&env, &http, "aud", Some("auditor"));
        // REST: an auditor reads the audit log but may not close sessions.
        assert_eq!(http.get("/api/v1/audit", Some(&aud)).status, 200);
        let plain = http.login_ok("bob", "pw-12345");
        assert_eq!(http.get("/api/v1/audit", Some(&plain)).status, 403);
        assert_eq!(http.get("/api/v1/connections", Some(&plain)).status, 403);
        // The management key runs commands as a superuser, but never names server files.
        let dump = env.dir.path().join("item2-dump.csv");
        let r = http.post(
            "/server/management-command/",
            &json!({"command_name": "audit dump", "command_args": ["-f", dump.to_str().unwrap()]}),
            Some("Token mgmt-key-0123456789"),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_ne!(r.json()["exit_code"], 0, "{}", r.text);
        assert!(!dump.exists());
        let r = http.post(
            "/server/management-command/",
            &json!({"command_name": "setup create_enckey", "command_args": []}),
            Some("Token mgmt-key-0123456789"),
        );
        assert_ne!(r.json()["exit_code"], 0, "{}", r.text);
        assert!(
            r.json()["output"]
                .as_str()
                .unwrap()
                .contains("keyward manage"),
            "{}",
            r.text
        );
        // Logout is a registry command too: audited, and the token is dead afterwards.
        let r = http.post("/auth/logout", &json!({}), Some(&format!("Bearer {plain}")));
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(http.get("/api/v1/me", Some(&plain)).status, 401);
        assert!(env.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'logout'") >= 1);
    }
);

both_backends!(item3_an_api_key_dies_with_its_owner, |env: &TestEnv| {
    user(env, "root");
    user(env, "x");
    let key = key_for(env, "x");
    let server = env.serve_in_process();
    let http = Http::new(&server);
    assert_eq!(http.get("/api/v1/me", Some(&key)).status, 200);
    env.manage_ok(&["deleteuser", "x"]);
    assert_eq!(http.get("/api/v1/me", Some(&key)).status, 401);
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM api_keys WHERE username = 'x'"),
        0,
        "deleting the user deletes its keys in the same transaction"
    );
    // A new account of the same name does not inherit the key, enabled or disabled.
    user(env, "x");
    assert_eq!(http.get("/api/v1/me", Some(&key)).status, 401);
    env.manage_ok(&["disableuser", "x"]);
    env.manage_ok(&["enableuser", "x"]);
    let r = http.post(
        "/admin/init",
        &json!({"serial": "K1", "otpkey": RFC_KEY_HEX}),
        Some(&format!("Bearer {key}")),
    );
    assert_eq!(r.status, 401, "{}", r.text);
    // A service key (no account of that name) still works, as pi-manage makes them.
    let service = admin_key(env);
    assert_eq!(http.get("/api/v1/me", Some(&service)).status, 200);
});

both_backends!(
    item4_an_unknown_realm_is_not_the_default_one,
    |env: &TestEnv| {
        user(env, "root");
        user(env, "alice");
        let key = admin_key(env);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        admin_ok(
            &http,
            &key,
            "init",
            json!({"serial": "A1", "otpkey": RFC_KEY_HEX, "user": "alice"}),
        );
        assert!(!accepted(
            &http,
            "alice@anything",
            &oath::hotp(RFC_KEY_HEX, 0, 6)
        ));
        assert!(!accepted(
            &http,
            "alice@evil.example",
            &oath::hotp(RFC_KEY_HEX, 0, 6)
        ));
        // The OTP was not used up by the refusals; the default realm names alice.
        assert!(accepted(
            &http,
            "alice@keyward",
            &oath::hotp(RFC_KEY_HEX, 0, 6)
        ));
        let v = admin(&http, &key, "show", json!({"user": "alice@nowhere"}));
        assert_eq!(v["result"]["status"], false, "{v}");
        assert!(
            v["result"]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("realm"),
            "{v}"
        );
    }
);

/// Starts `keyward serve` and returns what it printed before it listened.
fn serve_banner(env: &TestEnv) -> String {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("keyward"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env("KEYWARD_CONFIG", &env.config_path)
        .env("KEYWARD_LISTEN", "127.0.0.1:0")
        .current_dir(env.dir.path())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if line.contains("listening on") {
            break;
        }
        banner.push_str(&line);
        banner.push('\n');
    }
    let _ = child.kill();
    let _ = child.wait();
    banner
}

both_backends!(
    item5_the_first_user_is_made_at_the_console,
    |env: &TestEnv| {
        let banner = serve_banner(env);
        assert!(banner.contains("keyward manage createuser"), "{banner}");
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let body = json!({"username": "mallory", "password": "pw-12345", "email": "m@example.com"});
        let r = http.post("/auth/register", &body, None);
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.text.contains("keyward manage createuser"), "{}", r.text);
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM users"), 0);
        // Made at the console, the first user is superuser; registration then makes plain users.
        user(env, "root");
        let r = http.post("/auth/register", &body, None);
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json()["roles"], json!([]));
    }
);

both_backends!(item5_the_last_active_superuser_stays, |env: &TestEnv| {
    user(env, "root");
    user(env, "bob");
    for args in [
        vec!["deleteuser", "root"],
        vec!["disableuser", "root"],
        vec!["demoteuser", "root", "superuser"],
    ] {
        let (code, err) = env.manage_err(&args);
        assert_eq!(code, 1, "{args:?}");
        assert!(err.contains("last active superuser"), "{args:?}: {err}");
    }
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = env.manage_ok(&["disableinactiveusers", "1"]);
    assert!(out.contains("kept"), "{out}");
    assert_eq!(
        env.query_i64("SELECT active FROM users WHERE username = 'root'"),
        1
    );
    assert_eq!(
        env.query_i64("SELECT active FROM users WHERE username = 'bob'"),
        0
    );
    // With a second superuser, the first may go.
    env.manage_ok(&["enableuser", "bob"]);
    env.manage_ok(&["promoteuser", "bob", "superuser"]);
    env.manage_ok(&["demoteuser", "root", "superuser"]);
    env.manage_ok(&["deleteuser", "root"]);
});

both_backends!(
    item16_secrets_stay_out_of_audit_rows_and_errors,
    |env: &TestEnv| {
        user(env, "root");
        user(env, "alice");
        env.manage_ok(&[
            "token",
            "init",
            "--type",
            "hotp",
            "--serial",
            "S1",
            "--otpkey",
            RFC_KEY_HEX,
        ]);
        env.manage_ok(&["token", "assign", "--pin", "98765", "S1", "alice"]);
        let (_, err) = env.manage_err(&["createusr", "bob", "s3cret-pw-77", "bob@example.com"]);
        assert!(!err.contains("s3cret-pw-77"), "{err}");
        let (_, err) = env.manage_err(&["createuser", "bob", "-s3cret-pw-78"]);
        assert!(!err.contains("s3cret-pw-78"), "{err}");
        // A password that starts with a dash is a password.
        env.manage_ok(&["createuser", "carol", "-s3cret-pw-79", "carol@example.com"]);
        let text = env
            .query_strings("SELECT target, details FROM audit_log")
            .concat()
            .join(" ");
        for secret in ["98765", "s3cret-pw-77", "s3cret-pw-78", "s3cret-pw-79"] {
            assert!(!text.contains(secret), "{secret} in the audit log: {text}");
        }
        assert!(text.contains("S1"), "the target is the serial: {text}");
    }
);

both_backends!(
    redteam_a_padded_serial_or_blank_realm_does_not_reach_a_superuser,
    |env: &TestEnv| {
        // Red team: the target rule looked up `"ROOT1 "` (no such token: nothing to check) while
        // the handler trimmed it and acted on the superuser's ROOT1; `realm=" "` made the rule
        // ask about `root@ ` (an unknown realm, so nothing) while the handler enrolled for root.
        user(env, "root");
        let key = key_for(env, "root");
        let server = env.serve_in_process();
        let http = Http::new(&server);
        admin_ok(
            &http,
            &key,
            "init",
            json!({"serial": "ROOT1", "otpkey": RFC_KEY_HEX, "user": "root"}),
        );
        let hd = session(env, &http, "hd", Some("helpdesk"));
        assert_refused(&http, &hd, "losttoken", json!({"serial": "ROOT1 "}));
        assert_refused(&http, &hd, "remove", json!({"serial": " ROOT1"}));
        assert_refused(
            &http,
            &hd,
            "init",
            json!({"serial": "EVIL", "user": "root", "realm": " ",
                   "otpkey": RFC_KEY_HEX, "pin": "1234"}),
        );
        assert_eq!(token_owner(env, "ROOT1"), "root");
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM tokens WHERE serial = 'EVIL' OR serial LIKE 'lost%'"
            ),
            0
        );
    }
);
