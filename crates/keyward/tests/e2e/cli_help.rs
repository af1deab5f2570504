//! The CLI as a new user meets it (issue 8, part 3): every registry command's help has its
//! description, usage `keyward manage …` and an example; groups have help; typos get "did you
//! mean" without echoing what followed; completions load in bash; man pages are written; help
//! creates no file; secrets come from stdin (`--password-stdin`); failed commands exit non-zero;
//! bad config values name their key and line; the password minimum applies; list commands
//! print table, JSON or CSV.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::both_backends;
use crate::harness::TestEnv;

/// `keyward ARGS…` in `dir` with no config and no `KEYWARD_*` variable.
fn bare(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("keyward"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every command of `keyward manage help --json`, with its one-line description.
fn commands(dir: &Path) -> Vec<(String, String)> {
    let out = bare(dir, &["manage", "help", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["about"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_command_help_has_a_description_usage_and_example() {
    let dir = tempfile::tempdir().unwrap();
    let all = commands(dir.path());
    assert!(all.len() >= 50, "only {} commands", all.len());
    for (name, about) in &all {
        assert!(!about.trim().is_empty(), "{name} has no description");
        let mut args: Vec<&str> = vec!["manage"];
        args.extend(name.split(' '));
        args.push("--help");
        let out = bare(dir.path(), &args);
        assert!(out.status.success(), "{name} --help: {}", text(&out.stderr));
        let page = text(&out.stdout);
        assert!(page.starts_with(about.as_str()), "{name}: {page}");
        assert!(
            page.contains(&format!("Usage: keyward manage {name}")),
            "{name}: {page}"
        );
        let examples = page
            .split("Examples:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{name} has no examples: {page}"));
        assert!(
            examples.contains(&format!("  keyward manage {name}")),
            "{name}: {page}"
        );
        assert!(page.contains("Who may run it:"), "{name}: {page}");
        // `help NAME` shows the same page.
        let mut help_args: Vec<&str> = vec!["manage", "help"];
        help_args.extend(name.split(' '));
        let same = bare(dir.path(), &help_args);
        assert_eq!(text(&same.stdout), page, "help {name}");
    }
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[test]
fn groups_have_help_pages() {
    let dir = tempfile::tempdir().unwrap();
    let all = commands(dir.path());
    for (group, member) in [
        ("token", "init"),
        ("config", "set"),
        ("config challenge", "cleanup"),
        ("setup", "create_enckey"),
        ("audit", "verify"),
        ("api", "createtoken"),
    ] {
        let words: Vec<&str> = group.split(' ').collect();
        let with = |extra: &[&str]| {
            let mut a = vec!["manage"];
            a.extend(&words);
            a.extend(extra);
            bare(dir.path(), &a)
        };
        for asked in [with(&["--help"]), with(&["-h"]), {
            let mut a = vec!["manage", "help"];
            a.extend(&words);
            bare(dir.path(), &a)
        }] {
            assert!(asked.status.success(), "{group}: {}", text(&asked.stderr));
            let page = text(&asked.stdout);
            assert!(
                page.contains(&format!("Usage: keyward manage {group} <COMMAND>")),
                "{page}"
            );
            // Every command of the group is listed with its description.
            for (name, about) in all.iter().filter(|(n, _)| {
                n.strip_prefix(group)
                    .is_some_and(|r| r.starts_with(' ') && !r[1..].contains(' '))
            }) {
                let leaf = name.rsplit(' ').next().unwrap();
                assert!(
                    page.lines()
                        .any(|l| l.trim_start().starts_with(leaf) && l.contains(about.as_str())),
                    "{group} help lacks {name}: {page}"
                );
            }
            assert!(page.contains(member), "{page}");
        }
        // The group alone is a usage error that shows the same list.
        let alone = with(&[]);
        assert_eq!(alone.status.code(), Some(2), "{group}");
        assert!(
            text(&alone.stderr).contains(member),
            "{}",
            text(&alone.stderr)
        );
    }
    let top = bare(dir.path(), &["manage", "--help"]);
    assert!(top.status.success());
    let page = text(&top.stdout);
    for listed in ["createuser", "token", "config", "audit"] {
        assert!(page.contains(listed), "{page}");
    }
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn typos_suggest_without_echoing_arguments() {
    let dir = tempfile::tempdir().unwrap();
    for (typed, suggestion, secret) in [
        (
            &["createusr", "bob", "Sup3rSecretPw", "bob@example.com"][..],
            "createuser",
            "Sup3rSecretPw",
        ),
        (
            &["token", "initt", "--pin", "987654"],
            "token init",
            "987654",
        ),
        (&["promotuser", "bob", "admin"], "promoteuser", "bob"),
    ] {
        let mut args = vec!["manage"];
        args.extend(typed);
        let out = bare(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{typed:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("did you mean \"{suggestion}\"")),
            "{err}"
        );
        assert!(!err.contains(secret), "{err}");
        assert!(out.stdout.is_empty());
    }
    // Remote or not: the mistake is caught before any connection.
    let out = bare(
        dir.path(),
        &[
            "manage",
            "--remote",
            "http://127.0.0.1:9",
            "createusr",
            "bob",
            "Sup3rSecretPw",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!text(&out.stderr).contains("Sup3rSecretPw"));
    let top = bare(dir.path(), &["serv"]);
    assert!(!top.status.success());
    assert!(text(&top.stderr).contains("serve"), "{}", text(&top.stderr));
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn help_in_an_empty_directory_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["-h"],
        &["--version"],
        &["manage"],
        &["manage", "--help"],
        &["manage", "help"],
        &["manage", "help", "createuser"],
        &["manage", "createuser", "--help"],
        &["manage", "createuser", "-h"],
        &["manage", "createuser", "bob", "--help"],
        &["manage", "token", "init", "--help"],
        &["manage", "token", "--help"],
        &["manage", "help", "token", "init"],
        &["manage", "listusers", "--help", "--json"],
        &[
            "manage",
            "--remote",
            "http://127.0.0.1:9",
            "createuser",
            "--help",
        ],
        &["serve", "--help"],
        &["bench", "--help"],
        &["completions", "--help"],
        &["completions", "bash"],
    ] {
        let out = bare(dir.path(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(!out.stdout.is_empty(), "{args:?} printed nothing");
        assert!(
            files_in(dir.path()).is_empty(),
            "{args:?} created {:?}",
            files_in(dir.path())
        );
    }
}

#[test]
fn completions_load_in_bash_and_other_shells_get_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let out = bare(dir.path(), &["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = dir.path().join("keyward.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let body = text(&out.stdout);
    for word in ["createuser", "token", "loadtokens", "--password-stdin"] {
        assert!(body.contains(word), "completion lacks {word}");
    }
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
    let loaded = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p keyward",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(loaded.status.success(), "{}", text(&loaded.stderr));
    assert!(
        text(&loaded.stdout).contains("keyward"),
        "{}",
        text(&loaded.stdout)
    );
    for shell in ["zsh", "fish", "powershell"] {
        let out = bare(dir.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("createuser"), "{shell}");
    }
    let bad = bare(dir.path(), &["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_pages_are_written_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man");
    let out = bare(dir.path(), &["manpages", pages.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in [
        "keyward.1",
        "keyward-manage.1",
        "keyward-manage-createuser.1",
        "keyward-manage-token.1",
        "keyward-manage-token-init.1",
        "keyward-manage-config-challenge-cleanup.1",
        "keyward-serve.1",
    ] {
        let body =
            std::fs::read_to_string(pages.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(body.contains(".TH"), "{page}");
    }
    let init = std::fs::read_to_string(pages.join("keyward-manage-token-init.1")).unwrap();
    assert!(init.contains("Enroll a token"), "{init}");
    assert!(
        init.contains("keyward manage token init \\-\\-type"),
        "{init}"
    );
}

/// `keyward manage ARGS…` in `env` with `input` on stdin.
fn manage_stdin(env: &TestEnv, args: &[&str], input: &str, extra: &[(&str, &str)]) -> Output {
    let mut cmd = env.manage(args);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.write_stdin(input.as_bytes()).output().unwrap()
}

both_backends!(password_stdin_sets_the_password, |env: &TestEnv| {
    let out = manage_stdin(
        env,
        &[
            "createuser",
            "alice",
            "--password-stdin",
            "alice@example.com",
        ],
        "correct-horse-42\n",
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains("correct-horse-42"), "{shown}");
    // Missing without a terminal to prompt on: a usage error naming the way out.
    let missing = env
        .manage(&["createuser", "carol", "carol@example.com"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("--password-stdin"),
        "{}",
        text(&missing.stderr)
    );
    // Given twice: refused, never echoed.
    let twice = manage_stdin(
        env,
        &[
            "createuser",
            "dave",
            "d-secret-pw",
            "dave@example.com",
            "--password-stdin",
        ],
        "other-secret-pw\n",
        &[],
    );
    assert_eq!(twice.status.code(), Some(2));
    let err = text(&twice.stderr);
    assert!(
        !err.contains("d-secret-pw") && !err.contains("other-secret-pw"),
        "{err}"
    );
    // The password from stdin is the one that logs in.
    let server = env.serve();
    let client = reqwest::blocking::Client::new();
    let login = |pw: &str| {
        client
            .post(format!("{}/auth/login", server.url))
            .json(&serde_json::json!({ "username": "alice", "password": pw }))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(login("correct-horse-42"), 200);
    assert_eq!(login("correct-horse-4"), 401);
    // A PIN from stdin too.
    let pin = manage_stdin(
        env,
        &[
            "token",
            "init",
            "--type",
            "hotp",
            "--serial",
            "S1",
            "--user",
            "alice",
            "--otpkey",
            "3132333435363738393031323334353637383930",
            "--pin-stdin",
        ],
        "4711\n",
        &[],
    );
    assert!(pin.status.success(), "{}", text(&pin.stderr));
    // PIN 4711 + the first HOTP of the RFC 4226 key (755224).
    let check = client
        .post(format!("{}/validate/check", server.url))
        .form(&[("user", "alice"), ("pass", "4711755224")])
        .send()
        .unwrap()
        .text()
        .unwrap();
    let v: Value = serde_json::from_str(&check).unwrap();
    assert_eq!(v["result"]["value"], true, "{check}");
});

both_backends!(failed_commands_exit_non_zero, |env: &TestEnv| {
    env.manage_ok(&["createuser", "alice", "alice-secret", "alice@example.com"]);
    env.manage_ok(&[
        "token",
        "init",
        "--type",
        "hotp",
        "--serial",
        "S1",
        "--otpkey",
        "3132333435363738393031323334353637383930",
    ]);
    // Two OTPs that are not consecutive codes of the token.
    let (code, err) = env.manage_err(&["token", "resync", "S1", "000000", "111111"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Resynchronisation failed"), "{err}");
    // Two that are (counters 5 and 6 of RFC 4226's key): success, exit 0.
    let ok = env.manage_ok(&["token", "resync", "S1", "254676", "287922"]);
    assert!(ok.contains("Resynchronised"), "{ok}");
    let (code, _) = env.manage_err(&["token", "enable", "NOSUCHSERIAL"]);
    assert_ne!(code, 0);
    let (code, _) = env.manage_err(&["deleteuser", "nobody"]);
    assert_ne!(code, 0);
});

both_backends!(password_minimum_applies, |env: &TestEnv| {
    let min = [("KEYWARD_PASSWORD_MIN_LENGTH", "8")];
    let short = {
        let mut c = env.manage(&["createuser", "bob", "seven77", "bob@example.com"]);
        c.envs(min);
        c.output().unwrap()
    };
    assert_eq!(short.status.code(), Some(1));
    let err = text(&short.stderr);
    assert!(err.contains("at least 8 characters"), "{err}");
    assert!(!err.contains("seven77"), "{err}");
    let from_stdin = manage_stdin(
        env,
        &["createuser", "bob", "--password-stdin", "bob@example.com"],
        "seven77\n",
        &min,
    );
    assert_eq!(from_stdin.status.code(), Some(1));
    let ok = {
        let mut c = env.manage(&["createuser", "bob", "eight888", "bob@example.com"]);
        c.envs(min);
        c.output().unwrap()
    };
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    // Self-registration goes through the same rule (the first user exists, so it is open).
    let server = env.serve_with_env(&min);
    let register = |pw: &str| {
        reqwest::blocking::Client::new()
            .post(format!("{}/auth/register", server.url))
            .json(&serde_json::json!({
                "username": "carol", "password": pw, "email": "carol@example.com"
            }))
            .send()
            .unwrap()
    };
    let short = register("short");
    assert_eq!(short.status().as_u16(), 400);
    let body = short.text().unwrap();
    assert!(body.contains("at least 8"), "{body}");
    assert!(register("long-enough").status().is_success());
});

#[test]
fn bad_config_values_name_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keyward.toml");
    std::fs::write(
        &config,
        "# keyward\ndata_dir = \"data\"\nlog_level = \"loud\"\n",
    )
    .unwrap();
    let path = config.to_str().unwrap();
    for args in [
        &["--config", path, "serve"][..],
        &["--config", path, "manage", "listusers"],
    ] {
        let out = bare(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("line 3: log_level"), "{err}");
    }
    std::fs::write(&config, "data_dir = \"data\"\nsession_ttl = \"soon\"\n").unwrap();
    let out = bare(dir.path(), &["--config", path, "manage", "listusers"]);
    assert!(
        text(&out.stderr).contains("line 2: session_ttl"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(assert_cmd::cargo::cargo_bin("keyward"))
        .current_dir(dir.path())
        .env_remove("KEYWARD_CONFIG")
        .env("KEYWARD_LOG_LEVEL", "verbose")
        .args(["manage", "listusers"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("KEYWARD_LOG_LEVEL"),
        "{}",
        text(&out.stderr)
    );
    // Help still works with a broken config, and none of this made the data directory.
    let help = bare(
        dir.path(),
        &["--config", path, "manage", "listusers", "--help"],
    );
    assert!(help.status.success());
    assert!(!dir.path().join("data").exists());
}

both_backends!(list_commands_print_table_json_or_csv, |env: &TestEnv| {
    env.manage_ok(&["createuser", "alice", "alice-secret", "alice@example.com"]);
    env.manage_ok(&["createuser", "田中", "tanaka-secret", "tanaka@example.com"]);
    let table = env.manage_ok(&["listusers", "--output", "table"]);
    assert_eq!(table, env.manage_ok(&["listusers"]));
    // Columns line up by display width (田中 takes four columns).
    let lines: Vec<&str> = table.lines().collect();
    let header = unicode_columns(&lines[0][..lines[0].find("EMAIL").unwrap()]);
    for line in &lines[1..] {
        let at = line.find("@example.com").unwrap();
        let start = line[..at].rfind(' ').unwrap() + 1;
        assert_eq!(unicode_columns(&line[..start]), header, "{table}");
    }
    let json: Value =
        serde_json::from_str(&env.manage_ok(&["listusers", "--output", "json"])).unwrap();
    let same: Value = serde_json::from_str(&env.manage_ok(&["listusers", "--json"])).unwrap();
    assert_eq!(json, same);
    let csv = env.manage_ok(&["listusers", "--output=csv"]);
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("USERNAME,EMAIL,ROLES,STATUS,VERIFIED,LAST LOGIN")
    );
    assert!(
        csv.contains("alice,alice@example.com,superuser,active"),
        "{csv}"
    );
    let (code, err) = env.manage_err(&["listusers", "--output", "yaml"]);
    assert_eq!(code, 2, "{err}");
    // Commands with their own --output keep it.
    let help = env.manage_ok(&["setup", "encrypt_enckey", "--help"]);
    assert!(help.contains("--output <OUTPUT>"), "{help}");
});

/// Display columns of `s`: CJK ideographs take two.
fn unicode_columns(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if ('\u{4e00}'..='\u{9fff}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum()
}
