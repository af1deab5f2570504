//! `keyward api token …`, `keyward api apikey …` and the quota subcommands (seed 004's
//! `get-quota-scans` and `start-quota-scan test_username`) against the in-process server:
//! JSON printed, exit codes, flags checked before sending, and `--debug` never showing a PIN,
//! an OTP seed or an API key.

use std::process::Output;

use serde_json::{Value, json};

use crate::api_client::ROOT_PASSWORD;
use crate::both_backends;
use crate::harness::TestEnv;
use crate::server_quota::home_with_files;
use crate::server_tokens_rest::SEED_HEX;

/// `keyward api -b URL -u root -p … ARGS…`, with `stdin` on standard input.
fn api_with(env: &TestEnv, url: &str, args: &[&str], stdin: &str) -> Output {
    env.keyward()
        .args(["api", "-b", url, "-u", "root", "-p", ROOT_PASSWORD])
        .args(args)
        .env("NO_COLOR", "1")
        .write_stdin(stdin)
        .output()
        .unwrap()
}

fn ok_json(env: &TestEnv, url: &str, args: &[&str]) -> Value {
    let out = api_with(env, url, args, "");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout}"))
}

both_backends!(api_client_token_subcommands_round_trip, |env: &TestEnv| {
    env.manage_ok(&["createuser", "root", ROOT_PASSWORD, "root@example.com"]);
    env.manage_ok(&["createuser", "alice", "pw-alice-123", "alice@example.com"]);
    let server = env.serve_in_process();
    let url = server.url();

    // The PIN from stdin, the seed on the command line; --debug masks both.
    let out = api_with(
        env,
        url,
        &[
            "-d",
            "token",
            "init",
            "--type",
            "hotp",
            "--otpkey",
            SEED_HEX,
            "--serial",
            "OATH0001",
            "--user",
            "alice",
            "--pin-stdin",
        ],
        "4711\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains(SEED_HEX) && !stderr.contains("4711"),
        "secret in --debug: {stderr}"
    );
    assert!(
        !stderr.contains("secret="),
        "the otpauth URI in --debug: {stderr}"
    );
    assert!(stderr.contains("******"), "{stderr}");
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["serial"], "OATH0001");
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM tokens WHERE pin_hash <> ''"),
        1
    );

    let list = ok_json(
        env,
        url,
        &[
            "token", "list", "--user", "alice", "--type", "hotp", "--limit", "10",
        ],
    );
    assert_eq!(
        (list["total"].as_i64(), list["tokens"][0]["serial"].as_str()),
        (Some(1), Some("OATH0001"))
    );
    let ack = ok_json(env, url, &["token", "disable", "OATH0001"]);
    assert_eq!(
        ack,
        json!({"error": "", "message": "Token disabled", "status": 200})
    );
    assert_eq!(
        ok_json(env, url, &["token", "show", "OATH0001"])["active"],
        false
    );
    ok_json(env, url, &["token", "enable", "OATH0001"]);
    ok_json(
        env,
        url,
        &[
            "token",
            "set",
            "OATH0001",
            "--max-fail",
            "7",
            "--description",
            "desk",
        ],
    );
    let shown = ok_json(env, url, &["token", "show", "OATH0001"]);
    assert_eq!(
        (shown["max_fail"].as_i64(), shown["active"].as_bool()),
        (Some(7), Some(true))
    );
    ok_json(
        env,
        url,
        &["token", "resync", "OATH0001", "254676", "287922"],
    );
    ok_json(env, url, &["token", "unassign", "OATH0001"]);
    ok_json(env, url, &["token", "assign", "OATH0001", "alice"]);
    ok_json(env, url, &["token", "reset", "OATH0001"]);
    ok_json(env, url, &["token", "remove", "OATH0001"]);

    // HTTP errors exit 1 with the server's message; bad flags exit 2 before sending.
    let out = api_with(env, url, &["token", "show", "OATH0001"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OATH0001"));
    let out = api_with(env, url, &["token", "list", "--limit", "0"], "");
    assert_eq!(out.status.code(), Some(2));
    let out = api_with(env, url, &["token", "init", "--type", "sms"], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM tokens"), 0);
});

both_backends!(api_client_apikey_and_quota_subcommands, |env: &TestEnv| {
    env.manage_ok(&["createuser", "root", ROOT_PASSWORD, "root@example.com"]);
    let server = env.serve_in_process();
    let url = server.url();

    let out = api_with(
        env,
        url,
        &[
            "-d",
            "apikey",
            "create",
            "--role",
            "admin",
            "--days",
            "30",
            "--description",
            "ci",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["key"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(key),
        "the key in --debug"
    );
    let list = ok_json(env, url, &["apikey", "list"]);
    assert!(list.as_array().unwrap().iter().any(|k| k["id"] == id));
    assert_eq!(
        ok_json(env, url, &["apikey", "show", id])["status"],
        "active"
    );
    let ack = ok_json(env, url, &["apikey", "revoke", id]);
    assert_eq!(ack["message"], "API key revoked");
    assert_eq!(
        ok_json(env, url, &["apikey", "show", id])["status"],
        "revoked"
    );
    let out = api_with(env, url, &["apikey", "create", "--role", "root"], "");
    assert_eq!(out.status.code(), Some(2));

    // Seed 004: get-quota-scans, start-quota-scan test_username.
    let home = home_with_files(env.dir.path(), &env.dir.path().join("outside"));
    ok_json(
        env,
        url,
        &[
            "add-user",
            "test_username",
            "--password",
            "test_pwd",
            "--home-dir",
            home.to_str().unwrap(),
        ],
    );
    assert_eq!(ok_json(env, url, &["get-quota-scans"]), json!([]));
    let started = ok_json(env, url, &["start-quota-scan", "test_username"]);
    assert_eq!(
        started,
        json!({"status": 201, "message": "Scan started", "error": ""})
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let u = ok_json(env, url, &["get-user-by-id", "test_username"]);
        if u["used_quota_files"] == 3 {
            assert_eq!(u["used_quota_size"], 8);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no usage recorded: {u}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ack = ok_json(
        env,
        url,
        &[
            "update-quota-usage",
            "test_username",
            "--used-quota-size",
            "1",
            "--used-quota-files",
            "1",
            "--mode",
            "add",
        ],
    );
    assert_eq!(ack["message"], "Quota updated");
    let u = ok_json(env, url, &["get-user-by-id", "test_username"]);
    assert_eq!(
        (
            u["used_quota_files"].as_i64(),
            u["used_quota_size"].as_i64()
        ),
        (Some(4), Some(9))
    );
});
