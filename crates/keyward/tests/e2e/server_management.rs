//! The remote management endpoint (Psono, seed 000) on both backends: every registry command
//! answers the same bytes remotely as locally — raw over `POST /server/management-command/` and
//! through `keyward manage --remote` — and the endpoint's 403/400/405 answers and audit rows.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestEnv;
use crate::server_client::{Http, Served};

pub const KEY: &str = "test-management-key-0123456789";
pub const WITH_KEY: &str = "management_command_access_key = \"test-management-key-0123456789\"";

/// What one run of a command produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub ok: bool,
    /// stdout on success, the error message (without `error: `) on failure.
    pub text: String,
    pub code: i32,
}

fn local(env: &TestEnv, words: &[&str]) -> Run {
    let out = env.manage(words).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let code = out.status.code().unwrap_or(-1);
    if out.status.success() {
        Run {
            ok: true,
            text: stdout,
            code,
        }
    } else {
        let msg = stderr
            .trim_end()
            .strip_prefix("error: ")
            .unwrap_or_else(|| panic!("{words:?}: stderr {stderr:?}"))
            .to_string();
        Run {
            ok: false,
            text: msg,
            code,
        }
    }
}

pub fn over_http(http: &Http, words: &[&str]) -> Run {
    let (name, args) = words.split_first().unwrap();
    let r = http.post(
        "/server/management-command/",
        &json!({ "command_name": name, "command_args": args }),
        Some(&format!("Token {KEY}")),
    );
    assert_eq!(r.status, 200, "{words:?}: {}", r.text);
    let v = r.json();
    let code = v["exit_code"].as_i64().unwrap() as i32;
    let output = v["output"].as_str().unwrap().to_string();
    Run {
        ok: code == 0,
        text: if code == 0 {
            output
        } else {
            output.trim_end().to_string()
        },
        code,
    }
}

fn remote_cli(env: &TestEnv, server: &impl Served, words: &[&str]) -> Run {
    let mut cmd = env.keyward();
    cmd.env("KEYWARD_ACCESS_KEY", KEY)
        .args(["manage", "--remote", &server.base_url()])
        .args(words);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let code = out.status.code().unwrap_or(-1);
    if out.status.success() {
        Run {
            ok: true,
            text: stdout,
            code,
        }
    } else {
        Run {
            ok: false,
            text: stderr
                .trim_end()
                .strip_prefix("error: ")
                .unwrap_or(&stderr)
                .to_string(),
            code,
        }
    }
}

/// Arguments to run each known command with. A command run twice locally reaches a steady
/// state; the remote runs must then print exactly the same.
fn invocations() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "createuser",
            vec!["createuser", "carol", "carol-pw", "carol@example.com"],
        ),
        ("deleteuser", vec!["deleteuser", "nobody"]),
        ("disableuser", vec!["disableuser", "bob"]),
        ("enableuser", vec!["enableuser", "bob"]),
        ("verifyuseremail", vec!["verifyuseremail", "bob"]),
        ("promoteuser", vec!["promoteuser", "bob", "auditor"]),
        ("demoteuser", vec!["demoteuser", "bob", "helpdesk"]),
        (
            "disableinactiveusers",
            vec!["disableinactiveusers", "999999999", "--dry-run"],
        ),
        ("listusers", vec!["listusers"]),
        ("fsclusterlist", vec!["fsclusterlist", "--members"]),
        ("fsshardlist", vec!["fsshardlist"]),
        ("fsshardstatus", vec!["fsshardstatus", "--json"]),
        ("listusers", vec!["listusers", "--json"]),
        ("showuser", vec!["showuser", "alice"]),
        (
            "config set",
            vec!["config", "set", "registration_enabled", "false"],
        ),
        ("config get", vec!["config", "get", "registration_enabled"]),
        ("config unset", vec!["config", "unset", "api_key_required"]),
        ("config list", vec!["config", "list"]),
        ("setup create_enckey", vec!["setup", "create_enckey"]),
        ("setup encrypt_enckey", vec!["setup", "encrypt_enckey"]),
        ("setup verify_enckey", vec!["setup", "verify_enckey"]),
        ("presetup", vec!["presetup"]),
        ("migrate", vec!["migrate"]),
        ("cleartoken", vec!["cleartoken"]),
        ("reissuetoken", vec!["reissuetoken", "bob"]),
        ("connections", vec!["connections"]),
        ("closeconnection", vec!["closeconnection", "no-such-id"]),
        ("api list", vec!["api", "list"]),
        ("api revoke", vec!["api", "revoke", "no-such-key"]),
        ("audit verify", vec!["audit", "verify"]),
        ("audit dump", vec!["audit", "dump"]),
        ("audit rotate", vec!["audit", "rotate", "--dryrun"]),
        ("token show", vec!["token", "show"]),
        ("token show", vec!["token", "show", "--json"]),
        ("token show", vec!["token", "show", "--outform", "csv"]),
        ("token owner", vec!["token", "owner", "P1"]),
        ("token check_serial", vec!["token", "check_serial", "P1"]),
        ("token getserial", vec!["token", "getserial", "000000"]),
        (
            "token checkstatus",
            vec!["token", "checkstatus", "--serial", "P1"],
        ),
        (
            "token userlist",
            vec!["token", "userlist", "--username", "*o*"],
        ),
        (
            "token testresolver",
            vec!["token", "testresolver", "internal"],
        ),
        (
            "token set",
            vec!["token", "set", "P1", "--description", "parity"],
        ),
        (
            "token setpin",
            vec!["token", "setpin", "P1", "--userpin", "1"],
        ),
        (
            "token setvalidity",
            vec![
                "token",
                "setvalidity",
                "--tokens",
                "P1",
                "--countAuthMax",
                "0",
            ],
        ),
        ("token tokenrealm", vec!["token", "tokenrealm", "P1", "r1"]),
        ("token enable", vec!["token", "enable", "P1"]),
        ("token disable", vec!["token", "disable", "--user", "bob"]),
        ("token reset", vec!["token", "reset", "P1"]),
        ("token assign", vec!["token", "assign", "P1", "alice"]),
        ("token copypin", vec!["token", "copypin", "P1", "P1"]),
        ("token copyuser", vec!["token", "copyuser", "P1", "P1"]),
        ("token unpair", vec!["token", "unpair", "P1"]),
        (
            "token resync",
            vec!["token", "resync", "P1", "000000", "000001"],
        ),
        ("token losttoken", vec!["token", "losttoken", "P1"]),
        ("token remove", vec!["token", "remove", "NOPE"]),
        ("token unassign", vec!["token", "unassign", "NOPE"]),
        (
            "token init",
            vec![
                "token",
                "init",
                "--serial",
                "P2",
                "--otpkey",
                "3132333435363738393031323334353637383930",
            ],
        ),
        (
            "token totp_lookup",
            vec!["token", "totp_lookup", "P1", "123456"],
        ),
        ("token loadtokens", vec!["token", "loadtokens"]),
        ("reset2fa", vec!["reset2fa", "bob"]),
        (
            "config challenge cleanup",
            vec!["config", "challenge", "cleanup"],
        ),
        ("help", vec!["help"]),
        ("help", vec!["help", "createuser"]),
        ("help", vec!["help", "--json"]),
    ]
}

/// Commands whose output is random: compared by shape.
const RANDOM_OUTPUT: &[&str] = &["generateserverkeys", "api createtoken"];

fn shape(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.split(['=', ':'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect()
}

/// Every command's name and who may run it.
fn registry_commands(env: &TestEnv) -> Vec<(String, String)> {
    let help: Value = serde_json::from_str(&env.manage_ok(&["help", "--json"])).unwrap();
    help["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["access"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

both_backends!(
    every_command_prints_the_same_locally_and_remotely,
    WITH_KEY,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "alice", "alice-pw", "alice@example.com"]);
        env.manage_ok(&["createuser", "bob", "bob-pw", "bob@example.com"]);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        http.login_ok("alice", "alice-pw");
        env.manage_ok(&[
            "token",
            "init",
            "--serial",
            "P1",
            "--user",
            "alice",
            "--otpkey",
            "3132333435363738393031323334353637383930",
        ]);
        let table = invocations();
        let mut covered = 0;
        for (name, access) in registry_commands(env) {
            if access == "local console only" {
                // Installation and key files stay on the machine (issue 7, item 15): the
                // remote transports refuse these, whatever the arguments.
                let words: Vec<&str> = name.split(' ').collect();
                for r in [over_http(&http, &words), remote_cli(env, &server, &words)] {
                    assert!(!r.ok, "{name}: {r:?}");
                    assert!(
                        r.text.contains("runs only with `keyward manage`"),
                        "{name}: {r:?}"
                    );
                }
                covered += 1;
                continue;
            }
            let mine: Vec<&Vec<&str>> = table
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, w)| w)
                .collect();
            if RANDOM_OUTPUT.contains(&name.as_str()) {
                let words: Vec<&str> = if name == "api createtoken" {
                    vec!["api", "createtoken", "-r", "validate"]
                } else {
                    name.split(' ').collect()
                };
                let l = local(env, &words);
                let h = over_http(&http, &words);
                let r = remote_cli(env, &server, &words);
                assert!(l.ok && h.ok && r.ok, "{name}: {l:?} {h:?} {r:?}");
                assert_eq!(shape(&l.text), shape(&h.text), "{name}");
                assert_eq!(shape(&l.text), shape(&r.text), "{name}");
                covered += 1;
                continue;
            }
            // Commands added later without an entry here: at least their help must match.
            let fallback = ["help".to_string(), name.clone()];
            let fallback: Vec<&str> = fallback.iter().map(String::as_str).collect();
            let runs: Vec<&[&str]> = if mine.is_empty() {
                eprintln!("note: no parity invocation for {name:?}; comparing its help only");
                vec![&fallback[..]]
            } else {
                covered += 1;
                mine.iter().map(|w| w.as_slice()).collect()
            };
            // The first local run reaches the steady state; each remote run is compared with a
            // local run just before it (remote calls add audit rows, which `audit dump` shows).
            for words in runs {
                local(env, words);
                let steady = local(env, words);
                let h = over_http(&http, words);
                assert_eq!(
                    steady, h,
                    "{words:?}: local vs POST /server/management-command/"
                );
                let steady = local(env, words);
                let r = remote_cli(env, &server, words);
                assert_eq!(steady, r, "{words:?}: local vs manage --remote");
            }
        }
        assert!(covered >= 50, "only {covered} commands compared");
    }
);

both_backends!(
    json_flag_returns_the_structured_result,
    WITH_KEY,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "alice", "alice-pw", "alice@example.com"]);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let r = http.post(
            "/server/management-command/",
            &json!({ "command_name": "showuser", "command_args": ["alice"], "json": true }),
            Some(&format!("Token {KEY}")),
        );
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["result"]["username"], "alice");
        assert_eq!(v["output"], env.manage_ok(&["showuser", "alice"]));
    }
);

both_backends!(endpoint_is_off_without_a_configured_key, |env: &TestEnv| {
    let server = env.serve_in_process();
    let http = Http::new(&server);
    for auth in [Some("Token anything"), Some("Token "), None] {
        let r = http.post(
            "/server/management-command/",
            &json!({ "command_name": "listusers" }),
            auth,
        );
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(r.json(), json!({ "detail": "Invalid access key" }));
    }
});

both_backends!(
    wrong_or_missing_key_is_403_and_audited,
    WITH_KEY,
    |env: &TestEnv| {
        let server = env.serve();
        let http = Http::new(&server);
        let body = json!({ "command_name": "listusers" });
        for auth in [
            None,
            Some("Token wrong".to_string()),
            Some(format!("Bearer {KEY}")),
            Some(KEY.to_string()),
            Some(format!("Token {KEY}x")),
        ] {
            let r = http.post("/server/management-command/", &body, auth.as_deref());
            assert_eq!(r.status, 403, "{auth:?}: {}", r.text);
            assert_eq!(r.json(), json!({ "detail": "Invalid access key" }));
        }
        // Repeats from one address are coalesced: the first row at once, the count of the
        // others in one row at the end of the interval or at shutdown.
        let failed = "SELECT details FROM audit_log WHERE action = 'management-command' \
                      AND success = 0 AND actor = 'remote:127.0.0.1' AND client = '127.0.0.1' \
                      ORDER BY id";
        assert_eq!(
            env.query_strings(failed),
            vec![vec!["invalid access key".to_string()]]
        );
        let r = http.post(
            "/server/management-command/",
            &body,
            Some(&format!("Token {KEY}")),
        );
        assert_eq!(r.status, 200);
        assert!(server.terminate());
        assert_eq!(
            env.query_strings(failed),
            vec![
                vec!["invalid access key".to_string()],
                vec!["4 further failures: invalid access key".to_string()],
            ]
        );
    }
);

both_backends!(
    commands_outside_the_allow_list_are_400,
    "management_command_access_key = \"test-management-key-0123456789\"\nmanagement_commands = [\"listusers\", \"config get\"]",
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let auth = format!("Token {KEY}");
        let run = |name: &str, args: Value| {
            http.post(
                "/server/management-command/",
                &json!({ "command_name": name, "command_args": args }),
                Some(&auth),
            )
        };
        let r = run("cleartoken", json!([]));
        assert_eq!(r.status, 400);
        assert_eq!(
            r.json(),
            json!({ "non_field_errors": ["MANAGEMENT_COMMAND_NOT_ALLOWED"] })
        );
        assert_eq!(
            run("config set", json!(["registration_enabled", "true"])).status,
            400
        );
        assert_eq!(
            run("config", json!(["set", "registration_enabled", "true"])).status,
            400
        );
        assert_eq!(run("listusers", json!([])).status, 200);
        assert_eq!(
            run("config get", json!(["registration_enabled"])).status,
            200
        );
        // Unknown commands are 400 too, naming the command.
        let r = run("nosuchcommand", json!(["x"]));
        assert_eq!(r.status, 400);
        assert!(
            r.json()["command_name"][0]
                .as_str()
                .unwrap()
                .contains("nosuchcommand")
        );
        // The remote CLI reports a rejection on stderr with a non-zero exit.
        let out = env
            .keyward()
            .env("KEYWARD_ACCESS_KEY", KEY)
            .args(["manage", "--remote", server.url(), "cleartoken"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("MANAGEMENT_COMMAND_NOT_ALLOWED"));
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM runtime_config"), 0);
    }
);

both_backends!(
    other_methods_and_malformed_bodies_are_rejected,
    WITH_KEY,
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let url = http.url("/server/management-command/");
        for method in ["GET", "PUT", "DELETE", "PATCH"] {
            let r = http.send(
                http.client
                    .request(method.parse().unwrap(), &url)
                    .header("Authorization", format!("Token {KEY}")),
            );
            r.assert_error(405);
        }
        let r = http.send(
            http.client
                .post(&url)
                .header("Authorization", format!("Token {KEY}"))
                .body("{not json"),
        );
        assert_eq!(r.status, 400, "{}", r.text);
        let r = http.send(
            http.client
                .post(&url)
                .header("Authorization", format!("Token {KEY}"))
                .body(r#"{"command_name": 5}"#),
        );
        assert_eq!(r.status, 400, "{}", r.text);
    }
);

both_backends!(
    remote_commands_are_audited_without_secrets,
    WITH_KEY,
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let r = http.post(
            "/server/management-command/",
            &json!({ "command_name": "createuser", "command_args": ["u@example.com", "Sup3rSecretPw", "u@example.com"] }),
            Some(&format!("Token {KEY}")),
        );
        assert_eq!(
            r.json()["output"],
            "Created user \"u@example.com\" with password \"******\" and email \"u@example.com\"\n"
        );
        let rows =
            env.query_strings("SELECT actor, action, target, client FROM audit_log ORDER BY id");
        assert_eq!(
            rows,
            vec![
                vec![
                    "remote:127.0.0.1",
                    "createuser",
                    "u@example.com",
                    "127.0.0.1"
                ],
                vec![
                    "remote:127.0.0.1",
                    "management-command",
                    "createuser",
                    "127.0.0.1"
                ],
            ]
        );
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE details LIKE '%Sup3rSecretPw%' \
                 OR target LIKE '%Sup3rSecretPw%' OR actor LIKE '%Sup3rSecretPw%'"
            ),
            0
        );
        assert!(
            env.manage_ok(&["audit", "verify"])
                .starts_with("Audit log OK")
        );
    }
);
