//! `keyward manage` user lifecycle commands (seed 000) through the real binary, on both backends:
//! outputs, exit codes and the resulting database state.

use crate::both_backends;
use crate::harness::TestEnv;

const ALICE: [&str; 4] = [
    "createuser",
    "username@example.com",
    "myPassword",
    "email@something.com",
];

fn create(env: &TestEnv, name: &str) {
    let email = format!("{}@mail.example.org", name.replace('@', "."));
    env.manage_ok(&["createuser", name, "pw-of-someone", &email]);
}

fn user_count(env: &TestEnv) -> i64 {
    env.query_i64("SELECT COUNT(*) FROM users")
}

/// A fingerprint of every user row, to show a failed command changed nothing.
fn users_snapshot(env: &TestEnv) -> Vec<Vec<String>> {
    env.query_strings(
        "SELECT username, email, roles, CAST(active AS TEXT), CAST(email_verified AS TEXT), password_hash \
         FROM users ORDER BY username",
    )
}

/// Asserts a failing command: non-zero exit, exactly one line on stderr, database unchanged.
fn assert_rejected(env: &TestEnv, args: &[&str], needle: &str) {
    let before = users_snapshot(env);
    let (code, stderr) = env.manage_err(args);
    assert_ne!(code, 0);
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "expected one stderr line, got {stderr:?}"
    );
    assert!(
        stderr.contains(needle),
        "stderr {stderr:?} lacks {needle:?}"
    );
    assert_eq!(
        users_snapshot(env),
        before,
        "database changed after a rejected {args:?}"
    );
}

both_backends!(
    createuser_prints_psono_wording_and_hides_the_password,
    |env: &TestEnv| {
        let out = env.manage_ok(&ALICE);
        assert_eq!(
            out,
            "Created user \"username@example.com\" with password \"******\" and email \"email@something.com\"\n"
        );
        let shown = env.manage_ok(&[
            "createuser",
            "second@example.com",
            "s3cret",
            "s@example.com",
            "--show-password",
        ]);
        assert!(shown.contains("with password \"s3cret\""), "{shown}");
    }
);

both_backends!(first_user_is_superuser_second_is_not, |env: &TestEnv| {
    env.manage_ok(&ALICE);
    create(env, "bob@example.com");
    let list = env.manage_ok(&["listusers"]);
    let line = |name: &str| {
        list.lines()
            .find(|l| l.starts_with(name))
            .unwrap()
            .to_string()
    };
    assert!(line("username@example.com").contains("superuser"), "{list}");
    assert!(!line("bob@example.com").contains("superuser"), "{list}");
    assert_eq!(
        env.query_strings("SELECT username, roles FROM users ORDER BY username"),
        vec![
            vec!["bob@example.com".to_string(), String::new()],
            vec!["username@example.com".to_string(), "superuser".to_string()]
        ]
    );
});

both_backends!(password_is_stored_as_argon2id, |env: &TestEnv| {
    env.manage_ok(&ALICE);
    let hash = &env.query_strings("SELECT password_hash FROM users")[0][0];
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains("myPassword"));
});

both_backends!(usernames_are_case_insensitively_unique, |env: &TestEnv| {
    env.manage_ok(&ALICE);
    assert_rejected(
        env,
        &[
            "createuser",
            "USERNAME@example.com",
            "other",
            "x@example.com",
        ],
        "already exists",
    );
    assert_eq!(user_count(env), 1);
});

both_backends!(
    bad_createuser_input_is_rejected_and_changes_nothing,
    |env: &TestEnv| {
        env.manage_ok(&ALICE);
        assert_rejected(
            env,
            &["createuser", "b@example.com", "pw", "not-an-email"],
            "invalid email",
        );
        assert_rejected(
            env,
            &["createuser", "b@example.com", "", "b@example.com"],
            "password must not be empty",
        );
        assert_rejected(
            env,
            &["createuser", "", "pw", "b@example.com"],
            "username must not be empty",
        );
        assert_rejected(env, &["createuser", "b@example.com"], "required arguments");
        assert_eq!(user_count(env), 1);
    }
);

both_backends!(
    unknown_user_is_a_clear_error_for_every_command,
    |env: &TestEnv| {
        env.manage_ok(&ALICE);
        for cmd in [
            "deleteuser",
            "disableuser",
            "enableuser",
            "verifyuseremail",
            "showuser",
        ] {
            assert_rejected(
                env,
                &[cmd, "ghost@example.com"],
                "user \"ghost@example.com\" does not exist",
            );
        }
        assert_rejected(
            env,
            &["promoteuser", "ghost@example.com", "admin"],
            "does not exist",
        );
        assert_rejected(
            env,
            &["demoteuser", "ghost@example.com", "admin"],
            "does not exist",
        );
    }
);

both_backends!(
    deleteuser_removes_the_user_and_their_sessions,
    |env: &TestEnv| {
        env.manage_ok(&ALICE);
        create(env, "bob@example.com");
        insert_session(env, "bob@example.com", "s-bob", 4_000_000_000);
        assert_eq!(
            env.manage_ok(&["deleteuser", "Bob@Example.com"]),
            "Deleted user \"Bob@Example.com\"\n"
        );
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM users WHERE username_key = 'bob@example.com'"),
            0
        );
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM sessions"), 0);
        assert_eq!(user_count(env), 1);
    }
);

/// Inserts a session row for a user (the login route arrives with the server).
pub fn insert_session(env: &TestEnv, username: &str, id: &str, expires_at: i64) {
    env.exec(&format!(
        "INSERT INTO sessions (id, user_id, token_hash, protocol, created_at, last_activity, expires_at) \
         SELECT '{id}', id, 'hash-{id}', 'http', 1, 1, {expires_at} FROM users WHERE username_key = '{}'",
        username.to_lowercase()
    ));
}

both_backends!(
    disable_and_enable_toggle_status_and_disable_ends_sessions,
    |env: &TestEnv| {
        // A superuser first: the last active superuser cannot be disabled (issue 7, item 5).
        env.manage_ok(&["createuser", "root", "pw-root", "root@example.com"]);
        env.manage_ok(&ALICE);
        insert_session(env, "username@example.com", "s1", 4_000_000_000);
        assert_eq!(
            env.manage_ok(&["disableuser", "username@example.com"]),
            "Disabled user \"username@example.com\"\n"
        );
        assert_eq!(
            env.query_i64("SELECT active FROM users WHERE username = 'username@example.com'"),
            0
        );
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM sessions"), 0);
        assert!(env.manage_ok(&["listusers"]).contains("disabled"));
        assert_eq!(
            env.manage_ok(&["enableuser", "username@example.com"]),
            "Enabled user \"username@example.com\"\n"
        );
        assert_eq!(
            env.query_i64("SELECT active FROM users WHERE username = 'username@example.com'"),
            1
        );
    }
);

both_backends!(verifyuseremail_marks_the_email_verified, |env: &TestEnv| {
    env.manage_ok(&ALICE);
    assert_eq!(env.query_i64("SELECT email_verified FROM users"), 0);
    env.manage_ok(&["verifyuseremail", "username@example.com"]);
    assert_eq!(env.query_i64("SELECT email_verified FROM users"), 1);
    assert!(
        env.manage_ok(&["showuser", "username@example.com"])
            .contains("email verified: yes")
    );
});

both_backends!(promote_and_demote_change_roles, |env: &TestEnv| {
    env.manage_ok(&ALICE);
    create(env, "bob@example.com");
    assert_eq!(
        env.manage_ok(&["promoteuser", "bob@example.com", "superuser"]),
        "Promoted user \"bob@example.com\" to \"superuser\"\n"
    );
    env.manage_ok(&["promoteuser", "bob@example.com", "auditor"]);
    let roles = |env: &TestEnv| {
        env.query_strings("SELECT roles FROM users WHERE username_key = 'bob@example.com'")[0][0]
            .clone()
    };
    assert_eq!(roles(env), "superuser,auditor");
    assert_eq!(
        env.manage_ok(&["demoteuser", "bob@example.com", "superuser"]),
        "Demoted user \"bob@example.com\" from \"superuser\"\n"
    );
    assert_eq!(roles(env), "auditor");
    assert!(
        env.manage_ok(&["demoteuser", "bob@example.com", "admin"])
            .contains("does not have role")
    );
    assert_rejected(
        env,
        &["promoteuser", "bob@example.com", "root"],
        "unknown role \"root\"",
    );
    assert_eq!(roles(env), "auditor");
});

both_backends!(
    disableinactiveusers_dry_run_lists_and_changes_nothing,
    |env: &TestEnv| {
        env.manage_ok(&ALICE);
        create(env, "old-login@example.com");
        create(env, "never-logged-in@example.com");
        create(env, "recent@example.com");
        let long_ago = 1_000_000_000; // 2001
        env.exec(&format!(
            "UPDATE users SET last_login = {long_ago} WHERE username_key = 'old-login@example.com'"
        ));
        env.exec(&format!("UPDATE users SET created_at = {long_ago} WHERE username_key = 'never-logged-in@example.com'"));
        env.exec(&format!("UPDATE users SET created_at = {long_ago}, last_login = 4000000000 WHERE username_key = 'recent@example.com'"));
        env.exec(&format!("UPDATE users SET created_at = {long_ago}, last_login = 4000000000 WHERE username_key = 'username@example.com'"));
        insert_session(env, "old-login@example.com", "s-old", 4_000_000_000);
        let before = users_snapshot(env);
        let out = env.manage_ok(&["disableinactiveusers", "--dry-run", "2592000"]);
        assert!(
            out.contains("old-login@example.com (last login 2001-09-09T01:46:40Z)"),
            "{out}"
        );
        assert!(
            out.contains("never-logged-in@example.com (never logged in"),
            "{out}"
        );
        assert!(!out.contains("recent@example.com"), "{out}");
        assert!(
            out.ends_with("Disabled inactive users: 2 (dry run)\n"),
            "{out}"
        );
        assert_eq!(users_snapshot(env), before);
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM sessions"), 1);
    }
);

both_backends!(
    disableinactiveusers_disables_exactly_those_and_ends_their_sessions,
    |env: &TestEnv| {
        env.manage_ok(&ALICE);
        create(env, "old-login@example.com");
        create(env, "recent@example.com");
        env.exec(
            "UPDATE users SET last_login = 1000000000 WHERE username_key = 'old-login@example.com'",
        );
        insert_session(env, "old-login@example.com", "s-old", 4_000_000_000);
        insert_session(env, "recent@example.com", "s-new", 4_000_000_000);
        let out = env.manage_ok(&["disableinactiveusers", "2592000"]);
        assert!(out.ends_with("Disabled inactive users: 1\n"), "{out}");
        assert_eq!(
            env.query_strings("SELECT username FROM users WHERE active = 0"),
            vec![vec!["old-login@example.com".to_string()]]
        );
        assert_eq!(
            env.query_strings("SELECT id FROM sessions"),
            vec![vec!["s-new".to_string()]]
        );
    }
);

both_backends!(disableinactiveusers_rejects_bad_seconds, |env: &TestEnv| {
    env.manage_ok(&ALICE);
    for bad in ["0", "-5", "soon", "1.5"] {
        let (code, stderr) = env.manage_err(&["disableinactiveusers", bad]);
        assert_ne!(code, 0);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM users WHERE active = 0"),
        0
    );
});

both_backends!(
    listusers_json_is_structured_and_never_shows_hashes,
    |env: &TestEnv| {
        env.manage_ok(&ALICE);
        create(env, "bob@example.com");
        let out = env.manage_ok(&["listusers", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let users = v["users"].as_array().unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0]["username"], "bob@example.com");
        assert_eq!(users[1]["roles"], serde_json::json!(["superuser"]));
        assert!(!out.contains("argon2"));
        let limited = env.manage_ok(&["listusers", "--limit", "1", "--after", "bob@example.com"]);
        assert!(
            limited.contains("username@example.com") && !limited.contains("bob@"),
            "{limited}"
        );
    }
);

both_backends!(runtime_config_set_get_list, |env: &TestEnv| {
    assert!(
        env.manage_ok(&["config", "get", "registration_enabled"])
            .contains("is not set")
    );
    assert_eq!(
        env.manage_ok(&["config", "set", "registration_enabled", "false"]),
        "registration_enabled = false\n"
    );
    assert_eq!(
        env.manage_ok(&["config", "get", "registration_enabled"]),
        "registration_enabled = false\n"
    );
    assert!(
        env.manage_ok(&["config", "list"])
            .contains("registration_enabled  false")
    );
    let (code, err) = env.manage_err(&["config", "set", "registration_enabled", "maybe"]);
    assert_eq!(
        (code, err.contains("takes true or false")),
        (1, true),
        "{err}"
    );
    let (_, err) = env.manage_err(&["config", "set", "registraton_enabled", "true"]);
    assert!(err.contains("unknown config key"), "{err}");
    assert_eq!(
        env.query_strings("SELECT value FROM runtime_config"),
        vec![vec!["false".to_string()]]
    );
});

both_backends!(
    changing_commands_are_audited_without_secrets,
    |env: &TestEnv| {
        env.manage_ok(&ALICE);
        env.manage_err(&[
            "createuser",
            "username@example.com",
            "Sup3rSecret!",
            "x@example.com",
        ]);
        env.manage_ok(&["promoteuser", "username@example.com", "auditor"]);
        let rows = env.query_strings(
        "SELECT actor, action, target, CAST(success AS TEXT), details FROM audit_log ORDER BY id",
    );
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(
            rows[0][..4],
            ["cli:local", "createuser", "username@example.com", "1"]
        );
        assert_eq!(rows[1][3], "0");
        assert_eq!(rows[2][1], "promoteuser");
        let all = format!("{rows:?}");
        assert!(
            !all.contains("myPassword") && !all.contains("Sup3rSecret!"),
            "secret in audit: {all}"
        );
        // Read-only commands leave no audit rows.
        env.manage_ok(&["listusers"]);
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM audit_log"), 3);
        // Rows are chained: each prev_hash is the previous row's hash.
        let chain = env.query_strings("SELECT prev_hash, hash FROM audit_log ORDER BY seq");
        for pair in chain.windows(2) {
            assert_eq!(pair[1][0], pair[0][1]);
        }
    }
);

#[test]
fn unreachable_database_is_one_clear_line() {
    let env = TestEnv::with_config(crate::harness::Backend::Sqlite, "");
    let out = env
        .manage(&["listusers"])
        .env(
            "KEYWARD_DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot connect to the database"),
        "{stderr}"
    );
}

#[test]
fn unknown_command_is_a_usage_error() {
    let env = TestEnv::new(crate::harness::Backend::Sqlite);
    let (code, stderr) = env.manage_err(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown command"), "{stderr}");
}
