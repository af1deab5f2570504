//! The README's tour, run as written: every ```sh block of "## A short tour", then the one of
//! "## OTP tokens", in order, in one fresh directory, on the embedded default (SQLite under
//! `./keyward-data/`, no config file, no `KEYWARD_*` variable but those the README sets).
//!
//! README.md is read at test time. Each block runs as one `bash -e -o pipefail` script, with
//! `cargo run --release -- ` and a `keyward ` that starts a line or a `$(…)` replaced by the path
//! of the built binary; a `keyward` call left unreplaced fails the block. Before the tokens block
//! a `keyward serve` is started in the same directory on an ephemeral port, and `URL` is
//! exported for the block's `curl` lines (the README falls back to the default address).
//! Every block must exit 0; a few outputs are spot-checked.

use std::path::Path;
use std::process::Command;

use crate::harness::spawn_server;

/// The ```sh blocks of the level-2 section whose heading starts with `heading`, up to the next
/// level-2 heading (level-3 subsections belong to it).
fn sh_blocks(readme: &str, heading: &str) -> Vec<String> {
    let mut lines = readme
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.starts_with("## "));
    let mut blocks = Vec::new();
    while lines.by_ref().any(|l| l.trim_end() == "```sh") {
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim_end() != "```")
            .collect();
        blocks.push(body.join("\n") + "\n");
    }
    assert!(
        !blocks.is_empty(),
        "README.md has no ```sh block under a heading starting with {heading:?}"
    );
    blocks
}

/// Quotes `s` for bash as one word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The block with the README's ways of calling keyward replaced by the built binary.
fn rewrite(block: &str, keyward: &str) -> String {
    let mut script = String::new();
    for line in block.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let mut line = line.replace("cargo run --release -- ", &format!("{keyward} "));
        if let Some(rest) = line.trim_start().strip_prefix("keyward ") {
            line = format!("{indent}{keyward} {rest}");
        }
        script.push_str(&line.replace("$(keyward ", &format!("$({keyward} ")));
        script.push('\n');
    }
    script
}

/// Runs one rewritten block in `dir` and returns its stdout; panics with the block and both
/// outputs when it does not exit 0.
fn run_block(dir: &Path, script: &str, env: &[(&str, &str)]) -> String {
    // A call the rewrite missed must not silently run some other keyward on the PATH.
    let prelude =
        "keyward() { echo \"keyward call not rewritten by the test: $*\" >&2; return 127; }\n";
    let mut cmd = Command::new("bash");
    cmd.args(["-e", "-o", "pipefail", "-x", "-c"])
        .arg(format!("{prelude}{script}"))
        .current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") || k == "URL" || k == "ADMIN_KEY" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "README block failed ({}):\n{script}\n--- stdout ---\n{stdout}\n--- stderr (trace) ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The line of `output` that contains `needle`.
fn line_with<'a>(output: &'a str, needle: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{output}"))
}

#[test]
fn readme_tour_runs_as_written() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let keyward = assert_cmd::cargo::cargo_bin("keyward");
    let keyward = shell_quote(keyward.to_str().unwrap());
    let dir = tempfile::tempdir().unwrap();

    // The tour: users, roles, configuration, the encryption key, installation helpers.
    let mut tour = String::new();
    for block in sh_blocks(&readme, "## A short tour") {
        tour.push_str(&run_block(dir.path(), &rewrite(&block, &keyward), &[]));
    }
    assert!(
        tour.contains(r#"Created user "username@example.com""#),
        "{tour}"
    );
    assert!(tour.contains(r#"Created user "bob@example.com""#), "{tour}");
    let table = &tour[tour.find("USERNAME").expect("listusers table")..];
    assert!(
        line_with(table, "username@example.com").contains("superuser"),
        "{table}"
    );
    assert!(
        line_with(table, "bob@example.com").contains("helpdesk"),
        "{table}"
    );
    assert!(tour.contains("Encryption key written to"), "{tour}");
    assert!(dir.path().join("keyward-data/enckey").is_file());
    assert!(dir.path().join("enckey.protected").is_file());
    assert!(tour.contains("secret_key = "), "{tour}");
    assert!(tour.contains(r#""users": ["#), "{tour}");

    // The OTP tokens section, with a server for its curl lines.
    let mut server = Command::new(assert_cmd::cargo::cargo_bin("keyward"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") {
            server.env_remove(k);
        }
    }
    server
        .env("KEYWARD_LISTEN", "127.0.0.1:0")
        .env("KEYWARD_LOG_LEVEL", "warn")
        .current_dir(dir.path())
        .arg("serve");
    let server = spawn_server(server);
    let mut tokens = String::new();
    for block in sh_blocks(&readme, "## OTP tokens") {
        let script = rewrite(&block, &keyward);
        tokens.push_str(&run_block(dir.path(), &script, &[("URL", &server.url)]));
    }
    drop(server);
    assert!(tokens.contains(r#"Created user "alice""#), "{tokens}");
    assert!(tokens.contains("Enrolled token OATH0001"), "{tokens}");
    let png = std::fs::read(dir.path().join("oath.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "oath.png is not a PNG");
    assert!(tokens.contains("Resynchronised token OATH0001"), "{tokens}");
    assert!(
        tokens.contains("Imported 1 tokens (1 hotp, 0 totp)"),
        "{tokens}"
    );
    // The curl lines: alice's tokens over /admin/show, the upload, the accepted PIN + OTP.
    assert!(
        tokens.contains(r#""LinOtp.TokenSerialnumber":"OATH0001""#),
        "{tokens}"
    );
    // A file upload (`curl -F file=@…`) is answered in LinOTP's XML.
    assert!(
        tokens.contains("<imported>1</imported><value>True</value>"),
        "{tokens}"
    );
    assert!(tokens.contains(r#""authentication":"ACCEPT""#), "{tokens}");
    assert!(
        tokens.contains(r#"Removed 2 second factor(s) of user "alice""#),
        "{tokens}"
    );
}
