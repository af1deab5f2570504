//! The tamper-evident audit log (O3) on both backends: `audit verify` finds an edited, deleted or
//! re-signed row by id and seq; `audit rotate` (watermarks, age, dry run, chunks) keeps verify
//! green; `audit dump` writes CSV; `GET /api/v1/audit` pages in the database by role.

use crate::both_backends;
use crate::harness::TestEnv;
use crate::server_client::Http;

/// Writes `n` audited actions (each `config set` is one row on the `local` chain).
fn audited_actions(env: &TestEnv, n: usize) {
    for i in 0..n {
        let v = if i % 2 == 0 { "true" } else { "false" };
        env.manage_ok(&["config", "set", "registration_enabled", v]);
    }
}

fn count(env: &TestEnv) -> i64 {
    env.query_i64("SELECT COUNT(*) FROM audit_log")
}

both_backends!(verify_names_an_edited_row, |env: &TestEnv| {
    audited_actions(env, 5);
    assert_eq!(
        env.manage_ok(&["audit", "verify"]),
        "Audit log OK: 5 entries in 1 chains\n"
    );
    let id = env.query_i64("SELECT id FROM audit_log WHERE seq = 3");
    env.exec("UPDATE audit_log SET details = 'registration_enabled = maybe' WHERE seq = 3");
    let (code, err) = env.manage_err(&["audit", "verify"]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("entry id {id} (chain local, seq 3)")) && err.contains("altered"),
        "{err}"
    );
});

both_backends!(verify_names_a_deleted_row, |env: &TestEnv| {
    audited_actions(env, 5);
    let next = env.query_i64("SELECT id FROM audit_log WHERE seq = 4");
    env.exec("DELETE FROM audit_log WHERE seq = 3");
    let (_, err) = env.manage_err(&["audit", "verify"]);
    assert!(
        err.contains("missing seq 3") && err.contains(&format!("entry id {next}")),
        "{err}"
    );
});

both_backends!(
    verify_rejects_a_rehashed_row_with_a_stale_signature,
    |env: &TestEnv| {
        audited_actions(env, 3);
        // A forger who recomputes the hash chain still cannot sign: swap in another row's
        // signature.
        env.exec(
            "UPDATE audit_log SET signature = (SELECT signature FROM audit_log WHERE seq = 1) \
             WHERE seq = 2",
        );
        let (_, err) = env.manage_err(&["audit", "verify"]);
        assert!(err.contains("seq 2") && err.contains("signature"), "{err}");
    }
);

both_backends!(
    rotation_by_watermarks_keeps_verify_green,
    |env: &TestEnv| {
        audited_actions(env, 12);
        assert_eq!(
            env.manage_ok(&["audit", "rotate", "-hw", "10", "-lw", "4", "--dryrun"]),
            "Deleted audit entries: 8 (dry run)\n"
        );
        // The dry run is itself audited (one more row), and deleted nothing.
        assert_eq!(count(env), 13);
        assert_eq!(
            env.manage_ok(&[
                "audit",
                "rotate",
                "-hw",
                "10",
                "-lw",
                "4",
                "--chunksize",
                "3"
            ]),
            "Deleted audit entries: 9\n"
        );
        assert_eq!(count(env), 5);
        assert_eq!(
            env.manage_ok(&["audit", "verify"]),
            "Audit log OK: 5 entries in 1 chains\n"
        );
        // Below the high watermark nothing happens.
        assert_eq!(
            env.manage_ok(&[
                "audit",
                "rotate",
                "--highwatermark",
                "100",
                "--lowwatermark",
                "1"
            ]),
            "Deleted audit entries: 0\n"
        );
        // New entries continue the chain after the checkpoint.
        audited_actions(env, 2);
        assert!(
            env.manage_ok(&["audit", "verify"])
                .starts_with("Audit log OK: 8 entries")
        );
        let (code, err) = env.manage_err(&["audit", "rotate", "-hw", "1", "-lw", "5"]);
        assert_eq!(code, 2, "{err}");
    }
);

both_backends!(rotation_by_age_across_chains, |env: &TestEnv| {
    audited_actions(env, 3);
    env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
    let server = env.serve_in_process();
    let http = Http::new(&server);
    http.login_ok("alice", "pw-alice");
    http.login("alice", "wrong");
    // Age the local chain's rows and one server row by two days.
    env.exec("UPDATE audit_log SET ts_ms = ts_ms - 172800000 WHERE chain = 'local' OR seq = 1");
    assert_eq!(
        env.manage_ok(&["audit", "rotate", "--age", "1"]),
        "Deleted audit entries: 5\n"
    );
    let out = env.manage_ok(&["audit", "verify"]);
    assert_eq!(out, "Audit log OK: 2 entries in 2 chains\n");
    // The server keeps appending to its chain after rotation.
    http.login_ok("alice", "pw-alice");
    assert!(
        env.manage_ok(&["audit", "verify"])
            .starts_with("Audit log OK: 3 entries in 2 chains")
    );
});

both_backends!(dump_writes_csv_to_stdout_or_a_new_file, |env: &TestEnv| {
    audited_actions(env, 3);
    let out = env.manage_ok(&["audit", "dump"]);
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,chain,seq,time,actor,action,target,success,client,details,prev_hash,hash,signature"
    );
    assert_eq!(lines.count(), 3);
    assert!(out.contains(",local,1,"), "{out}");
    assert!(
        out.contains("cli:local,config set,registration_enabled,1,"),
        "{out}"
    );

    let file = env.dir.path().join("audit.csv");
    let path = file.to_str().unwrap();
    assert_eq!(
        env.manage_ok(&["audit", "dump", "-f", path]),
        format!("Wrote 3 audit entries to {path}\n")
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), out);
    let (_, err) = env.manage_err(&["audit", "dump", "-f", path]);
    assert!(err.contains("cannot create"), "{err}");
    env.exec("UPDATE audit_log SET ts_ms = ts_ms - 7200000 WHERE seq = 1");
    let recent = env.manage_ok(&["audit", "dump", "-t", "1h"]);
    assert_eq!(recent.lines().count(), 3, "{recent}");
    let (code, _) = env.manage_err(&["audit", "dump", "-t", "5y"]);
    assert_eq!(code, 2);
});

both_backends!(rest_audit_pages_by_id_for_allowed_roles, |env: &TestEnv| {
    env.manage_ok(&["createuser", "root", "pw-root", "root@example.com"]);
    env.manage_ok(&["createuser", "aud", "pw-aud", "aud@example.com"]);
    env.manage_ok(&["createuser", "joe", "pw-joe", "joe@example.com"]);
    env.manage_ok(&["promoteuser", "aud", "auditor"]);
    let server = env.serve_in_process();
    let http = Http::new(&server);
    let joe = http.login_ok("joe", "pw-joe");
    http.get("/api/v1/audit", Some(&joe)).assert_error(403);
    http.get("/api/v1/audit", None).assert_error(401);
    let aud = http.login_ok("aud", "pw-aud");
    let total = count(env);
    let first = http.get("/api/v1/audit?limit=2", Some(&aud));
    assert_eq!(first.status, 200, "{}", first.text);
    let v = first.json();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0]["id"].as_i64() > entries[1]["id"].as_i64());
    let next = v["next_before_id"].as_i64().unwrap();
    let mut seen = 2;
    let mut before = next;
    loop {
        let page = http
            .get(
                &format!("/api/v1/audit?limit=2&before_id={before}"),
                Some(&aud),
            )
            .json();
        seen += page["entries"].as_array().unwrap().len() as i64;
        match page["next_before_id"].as_i64() {
            Some(n) => before = n,
            None => break,
        }
    }
    assert_eq!(seen, total);
    http.get("/api/v1/audit?limit=0", Some(&aud))
        .assert_error(400);
    http.get("/api/v1/audit?limit=x", Some(&aud))
        .assert_error(400);
    let future = http
        .get("/api/v1/audit?since=99999999999", Some(&aud))
        .json();
    assert_eq!(future["entries"].as_array().unwrap().len(), 0);
    let root = http.login_ok("root", "pw-root");
    assert_eq!(http.get("/api/v1/audit", Some(&root)).status, 200);
});
