//! Hardening of the audit log (issue 7, items 14 and 15) on both backends: `audit dump -f` is
//! local-only and spreadsheet formulas are defused in every CSV; `audit verify` reports a cut
//! tail, a deleted chain and a forged checkpoint.

use serde_json::json;

use crate::both_backends;
use crate::server_client::Http;

const KEY: &str = "test-management-key-0123456789";
const WITH_KEY: &str = "management_command_access_key = \"test-management-key-0123456789\"";

/// Runs a command through the management endpoint; returns (exit code, output).
fn remote(http: &Http, words: &[&str]) -> (i64, String) {
    let (name, args) = words.split_first().unwrap();
    let r = http.post(
        "/server/management-command/",
        &json!({ "command_name": name, "command_args": args }),
        Some(&format!("Token {KEY}")),
    );
    assert_eq!(r.status, 200, "{words:?}: {}", r.text);
    let v = r.json();
    (
        v["exit_code"].as_i64().unwrap(),
        v["output"].as_str().unwrap().to_string(),
    )
}

both_backends!(
    item15_audit_dump_to_a_file_is_local_only,
    WITH_KEY,
    |env: &TestEnv| {
        env.manage_ok(&["config", "set", "registration_enabled", "true"]);
        let server = env.serve();
        let http = Http::new(&server);
        let target = env.dir.path().join("planted.sh");
        let path = target.to_str().unwrap();
        let (code, out) = remote(&http, &["audit", "dump", "-f", path]);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("only in local runs"), "{out}");
        assert!(!target.exists(), "the management endpoint created {path}");
        // The same through `keyward manage --remote`.
        let out = env
            .keyward()
            .env("KEYWARD_ACCESS_KEY", KEY)
            .args([
                "manage",
                "--remote",
                &server.url,
                "audit",
                "dump",
                "--filename",
                path,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(!target.exists());
        // Without a file the CSV comes back in the answer; locally -f still works.
        let (code, out) = remote(&http, &["audit", "dump"]);
        assert_eq!(code, 0, "{out}");
        assert!(out.starts_with("id,chain,seq,"), "{out}");
        env.manage_ok(&["audit", "dump", "-f", path]);
        assert!(target.exists());
    }
);

both_backends!(
    item15_formula_cells_are_escaped_in_every_csv,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
        let server = env.serve();
        let http = Http::new(&server);
        http.login("=cmd|' /C calc'!A0", "x");
        http.login("@SUM(1+1)", "x");
        http.login("$(touch x)", "x");
        let dump = env.manage_ok(&["audit", "dump"]);
        assert!(dump.contains(",'=cmd|"), "{dump}");
        assert!(dump.contains(",'@SUM(1+1)"), "{dump}");
        for line in dump.lines() {
            for cell in line.split(',') {
                assert!(
                    !cell.trim_start_matches('"').starts_with(['=', '@']),
                    "live formula cell {cell:?} in {line}"
                );
            }
        }
        // The token listing's CSV (LinOTP's `'value'; ` cells) is defused the same way.
        env.manage_ok(&[
            "token", "init", "--serial", "F1", "--genkey", "--user", "alice",
        ]);
        env.manage_ok(&[
            "token",
            "set",
            "F1",
            "--description",
            "=HYPERLINK(\"http://x\")",
        ]);
        let csv = env.manage_ok(&["token", "show", "--serial", "F1", "--outform", "csv"]);
        assert!(csv.contains("'''=HYPERLINK(\"http://x\")'; "), "{csv}");
        assert!(!csv.contains("; '=HYPERLINK"), "{csv}");
        assert!(csv.contains("'F1'; "), "{csv}");
    }
);
