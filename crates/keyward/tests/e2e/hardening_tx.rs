//! Issue 7, item 13, through the real binary on both backends: a change and its audit row commit
//! in one transaction. With a trigger that refuses every insert into `audit_log`, an import, a
//! user creation, a re-issue and a token enrolment fail and leave nothing behind; once the
//! trigger is gone the same commands work, each with exactly one audit row, and the chain
//! verifies.

use crate::both_backends;
use crate::harness::{Backend, TestEnv, fixture};

fn refuse_audit_rows(env: &TestEnv) {
    match env.backend {
        Backend::Sqlite => env.exec(
            "CREATE TRIGGER kw_refuse BEFORE INSERT ON audit_log \
             BEGIN SELECT RAISE(ABORT, 'audit refused'); END",
        ),
        Backend::Postgres => {
            env.exec(
                "CREATE FUNCTION kw_refuse() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
            );
            env.exec(
                "CREATE TRIGGER kw_refuse BEFORE INSERT ON audit_log FOR EACH ROW \
                 EXECUTE FUNCTION kw_refuse()",
            );
        }
    }
}

fn allow_audit_rows(env: &TestEnv) {
    env.exec(match env.backend {
        Backend::Sqlite => "DROP TRIGGER kw_refuse",
        Backend::Postgres => "DROP TRIGGER kw_refuse ON audit_log",
    });
}

fn rows_of(env: &TestEnv, action: &str) -> i64 {
    env.query_i64(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"
    ))
}

both_backends!(
    item13_a_change_without_its_audit_row_is_not_committed,
    |env: &TestEnv| {
        let csv = fixture("linotp/oath_tokens_sha256.csv");
        let csv = csv.to_str().unwrap();
        let import = [
            "token",
            "loadtokens",
            "--file-path",
            csv,
            "--type",
            "oathcsv",
        ];
        let createuser = ["createuser", "alice", "alice-pass-1", "alice@example.com"];
        let init = [
            "token", "init", "--serial", "T1", "--genkey", "--user", "root",
        ];
        let reissue = ["reissuetoken", "root"];
        env.manage_ok(&["createuser", "root", "root-pass-1", "root@example.com"]);
        env.manage_ok(&["api", "createtoken", "-r", "validate", "-u", "root"]);
        let keys = "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL";
        assert_eq!(env.query_i64(keys), 1);

        refuse_audit_rows(env);
        env.manage_err(&import);
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM tokens"), 0);
        env.manage_err(&createuser);
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM users WHERE username = 'alice'"),
            0
        );
        env.manage_err(&init);
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM tokens"), 0);
        env.manage_err(&reissue);
        assert_eq!(
            env.query_i64(keys),
            1,
            "the key was revoked without its audit row"
        );
        allow_audit_rows(env);

        env.manage_ok(&import);
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM tokens"), 8);
        env.manage_ok(&createuser);
        env.manage_ok(&init);
        env.manage_ok(&reissue);
        assert_eq!(env.query_i64(keys), 0);
        for action in ["token loadtokens", "token init", "reissuetoken"] {
            assert_eq!(rows_of(env, action), 1, "{action}");
        }
        // root's creation, then alice's.
        assert_eq!(rows_of(env, "createuser"), 2);
        let out = env.manage_ok(&["audit", "verify"]);
        assert!(out.contains("OK"), "{out}");
    }
);
