//! Hardening of the audit log (issue 7, items 14 and 15) on both backends: `audit dump -f` is
//! local-only and spreadsheet formulas are defused in every CSV; `audit verify` reports a cut
//! tail, a deleted chain and a forged checkpoint.

use crate::both_backends;
use crate::harness::TestEnv;
use crate::server_client::Http;

use crate::server_management::{KEY, WITH_KEY};

/// Runs a command through the management endpoint; returns (exit code, output).
fn remote(http: &Http, words: &[&str]) -> (i64, String) {
    let r = crate::server_management::over_http(http, words);
    (i64::from(r.code), r.text)
}

both_backends!(
    item15_audit_dump_to_a_file_is_local_only,
    WITH_KEY,
    |env: &TestEnv| {
        env.manage_ok(&["config", "set", "registration_enabled", "true"]);
        let server = env.serve_in_process();
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
                server.url(),
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
        let server = env.serve_in_process();
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

/// Writes `n` audited actions (each `config set` is one row on the `local` chain).
fn audited_actions(env: &TestEnv, n: usize) {
    for i in 0..n {
        let v = if i % 2 == 0 { "true" } else { "false" };
        env.manage_ok(&["config", "set", "registration_enabled", v]);
    }
}

both_backends!(item14_a_cut_tail_is_reported, |env: &TestEnv| {
    audited_actions(env, 5);
    assert!(env.data_dir().join("audit-heads/local.head").exists());
    assert_eq!(
        env.manage_ok(&["audit", "verify"]),
        "Audit log OK: 5 entries in 1 chains\n"
    );
    env.exec("DELETE FROM audit_log WHERE seq >= 4");
    let (_, err) = env.manage_err(&["audit", "verify"]);
    assert!(
        err.contains("chain local is missing its tail: it ends at seq 3")
            && err.contains("says seq 5 was written"),
        "{err}"
    );
});

both_backends!(item14_a_deleted_chain_is_reported, |env: &TestEnv| {
    env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
    let server = env.serve();
    let http = Http::new(&server);
    http.login_ok("alice", "pw-alice");
    http.login("alice", "wrong");
    // The running server records its head without waiting for shutdown.
    let head = env.data_dir().join("audit-heads/test-node.head");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&head).is_ok_and(|t| t.contains("\"seq\":2,")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no head record of test-node"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(server.terminate());
    assert!(env.manage_ok(&["audit", "verify"]).contains("in 2 chains"));
    env.exec("DELETE FROM audit_log WHERE chain = 'test-node'");
    let (_, err) = env.manage_err(&["audit", "verify"]);
    assert!(
        err.contains("chain test-node is missing:") && err.contains("test-node.head"),
        "{err}"
    );
});

both_backends!(item14_checkpoints_are_signed, |env: &TestEnv| {
    audited_actions(env, 6);
    // A real rotation signs its checkpoint and verify stays green.
    env.manage_ok(&["audit", "rotate", "-hw", "3", "-lw", "3"]);
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM audit_checkpoints WHERE signature <> ''"),
        1
    );
    assert!(
        env.manage_ok(&["audit", "verify"])
            .starts_with("Audit log OK: 4 entries")
    );
    // Deleting the oldest rows with a hand-made checkpoint is refused, also when the checkpoint
    // carries a row's genuine signature.
    env.exec("DELETE FROM audit_checkpoints");
    env.exec("DELETE FROM audit_log WHERE seq <= 5");
    let first = env.query_strings(
        "SELECT CAST(seq AS TEXT), prev_hash, signature FROM audit_log ORDER BY seq LIMIT 1",
    );
    let (seq, prev, sig) = (
        first[0][0].parse::<i64>().unwrap() - 1,
        first[0][1].clone(),
        first[0][2].clone(),
    );
    for forged in ["", sig.as_str()] {
        env.exec("DELETE FROM audit_checkpoints");
        env.exec(&format!(
            "INSERT INTO audit_checkpoints (chain, seq, hash, created_at, signature) \
             VALUES ('local', {seq}, '{prev}', 1, '{forged}')"
        ));
        let (_, err) = env.manage_err(&["audit", "verify"]);
        assert!(
            err.contains("the checkpoint of chain local") && err.contains("invalid signature"),
            "{err}"
        );
    }
});

both_backends!(
    item14_expected_heads_catch_a_cut_without_head_files,
    |env: &TestEnv| {
        audited_actions(env, 4);
        let out = env.manage_ok(&["audit", "verify", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let head = v["heads"][0].as_str().unwrap().to_string();
        assert!(head.starts_with("local:4:"), "{head}");
        // An intruder who can also delete files removes the head records and the newest rows…
        std::fs::remove_dir_all(env.data_dir().join("audit-heads")).unwrap();
        env.exec("DELETE FROM audit_log WHERE seq = 4");
        assert!(
            env.manage_ok(&["audit", "verify"])
                .starts_with("Audit log OK: 3 entries")
        );
        // …but the head the operator kept from the last verify still tells.
        let (_, err) = env.manage_err(&["audit", "verify", "--expect-head", &head]);
        assert!(
            err.contains("chain local is missing its tail: it ends at seq 3")
                && err.contains("--expect-head local:4"),
            "{err}"
        );
        let (code, err) = env.manage_err(&["audit", "verify", "--expect-head", "local:4"]);
        assert_eq!(code, 2, "{err}");
    }
);
