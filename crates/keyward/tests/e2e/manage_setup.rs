//! Installation commands through the real binary: the embedded default data directory, the
//! enckey (create, refuse to overwrite, passphrase protection), server keys, presetup, migrate.

use std::os::unix::fs::PermissionsExt;

use crate::both_backends;
use crate::harness::{Backend, TestEnv};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn no_config_uses_keyward_data_and_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut cmd = assert_cmd::Command::cargo_bin("keyward").unwrap();
        for (k, _) in std::env::vars() {
            if k.starts_with("KEYWARD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("KEYWARD_ARGON2_MEMORY_KIB", "1024")
            .current_dir(dir.path())
            .arg("manage")
            .args(args)
            .output()
            .unwrap()
    };
    let first = run(&[
        "createuser",
        "username@example.com",
        "myPassword",
        "email@something.com",
    ]);
    assert!(first.status.success());
    let notice = String::from_utf8(first.stderr).unwrap();
    assert!(notice.contains("created ./keyward-data"), "{notice}");
    let data = dir.path().join("keyward-data");
    assert_eq!(mode(&data), 0o700);
    assert!(data.join("keyward.db").exists());
    assert_eq!(mode(&data.join("keyward.db")), 0o600);
    let second = run(&["listusers"]);
    assert!(second.status.success());
    assert!(
        !String::from_utf8(second.stderr)
            .unwrap()
            .contains("created ./keyward-data")
    );
    let list = String::from_utf8(second.stdout).unwrap();
    assert!(
        list.contains("username@example.com") && list.contains("superuser"),
        "{list}"
    );
}

both_backends!(
    create_enckey_writes_96_bytes_mode_0400_and_refuses_to_overwrite,
    |env: &TestEnv| {
        let out = env.manage_ok(&["setup", "create_enckey"]);
        let path = env.data_dir().join("enckey");
        assert!(out.starts_with("Encryption key written to"), "{out}");
        let key = std::fs::read(&path).unwrap();
        assert_eq!(key.len(), 96);
        assert_eq!(mode(&path), 0o400);
        let (code, err) = env.manage_err(&["setup", "create_enckey"]);
        assert_eq!(code, 1);
        assert!(err.contains("refusing to overwrite"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), key);
    }
);

#[test]
fn create_enckey_from_base64_checks_the_length() {
    let env = TestEnv::new(Backend::Sqlite);
    let path = env.data_dir().join("enckey");
    let (_, err) = env.manage_err(&["setup", "create_enckey", "--enckey_b64=AAAA"]);
    assert!(err.contains("exactly 96 bytes"), "{err}");
    assert!(!path.exists());
    let (_, err) = env.manage_err(&["setup", "create_enckey", "--enckey_b64=!!notbase64"]);
    assert!(err.contains("not valid base64"), "{err}");
    let b64 = data_encoding::BASE64.encode(&[7u8; 96]);
    env.manage_ok(&["setup", "create_enckey", &format!("--enckey_b64={b64}")]);
    assert_eq!(std::fs::read(&path).unwrap(), vec![7u8; 96]);
}

#[test]
fn encrypted_enckey_needs_the_right_passphrase() {
    let env = TestEnv::new(Backend::Sqlite);
    env.manage_ok(&["setup", "create_enckey"]);
    let plain = env.data_dir().join("enckey");
    let ids = env.manage_ok(&["setup", "verify_enckey"]);
    // Without a passphrase encrypt_enckey refuses, saying where one comes from.
    let (_, err) = env.manage_err(&["setup", "encrypt_enckey", plain.to_str().unwrap()]);
    assert!(err.contains("KEYWARD_ENCKEY_PASSPHRASE"), "{err}");
    assert!(err.contains("--passphrase-prompt"), "{err}");
    // From standard input (twice-typed prompts need a terminal; stdin is read once).
    let out = env
        .manage(&[
            "setup",
            "encrypt_enckey",
            plain.to_str().unwrap(),
            "--passphrase-stdin",
        ])
        .write_stdin("stdin horse battery\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_stdin = String::from_utf8(out.stdout).unwrap();
    assert!(!from_stdin.contains("stdin horse"), "{from_stdin}");
    let stdin_path = env.dir.path().join("enckey.stdin");
    std::fs::write(&stdin_path, &from_stdin).unwrap();
    let unlocked = env
        .manage(&["setup", "verify_enckey"])
        .env("KEYWARD_ENCKEY_FILE", &stdin_path)
        .env("KEYWARD_ENCKEY_PASSPHRASE", "stdin horse battery")
        .output()
        .unwrap();
    assert!(
        unlocked.status.success(),
        "the stdin passphrase protects the key"
    );
    let out = env
        .manage(&["setup", "encrypt_enckey", plain.to_str().unwrap()])
        .env("KEYWARD_ENCKEY_PASSPHRASE", "correct horse battery")
        .output()
        .unwrap();
    assert!(out.status.success());
    let protected = String::from_utf8(out.stdout).unwrap();
    assert!(protected.starts_with("$kwenc$v=1$"), "{protected}");
    let protected_path = env.dir.path().join("enckey.protected");
    std::fs::write(&protected_path, &protected).unwrap();
    let with_key = |pass: Option<&str>| {
        let mut cmd = env.manage(&["setup", "verify_enckey"]);
        cmd.env("KEYWARD_ENCKEY_FILE", &protected_path);
        if let Some(p) = pass {
            cmd.env("KEYWARD_ENCKEY_PASSPHRASE", p);
        }
        cmd.output().unwrap()
    };
    let ok = with_key(Some("correct horse battery"));
    assert!(ok.status.success());
    let ok_ids = String::from_utf8(ok.stdout).unwrap();
    assert_eq!(ok_ids.split("key ids").nth(1), ids.split("key ids").nth(1));
    let wrong = with_key(Some("wrong"));
    assert!(!wrong.status.success());
    let err = String::from_utf8(wrong.stderr).unwrap();
    assert!(err.contains("wrong passphrase"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1);
    let missing = with_key(None);
    assert!(
        String::from_utf8(missing.stderr)
            .unwrap()
            .contains("passphrase-protected")
    );
    // The passphrase may also come from a file.
    let pass_file = env.dir.path().join("pass");
    std::fs::write(&pass_file, "correct horse battery\n").unwrap();
    let mut cmd = env.manage(&["setup", "verify_enckey"]);
    cmd.env("KEYWARD_ENCKEY_FILE", &protected_path)
        .env("KEYWARD_ENCKEY_PASSPHRASE_FILE", &pass_file);
    assert!(cmd.output().unwrap().status.success());
}

#[test]
fn corrupt_enckey_file_is_reported() {
    let env = TestEnv::new(Backend::Sqlite);
    let bad = env.dir.path().join("bad-enckey");
    std::fs::write(&bad, b"this is not a key").unwrap();
    let out = env
        .manage(&["setup", "verify_enckey"])
        .env("KEYWARD_ENCKEY_FILE", &bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("corrupt"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1);
}

#[test]
fn generateserverkeys_prints_a_config_snippet_that_loads() {
    let env = TestEnv::new(Backend::Sqlite);
    let a = env.manage_ok(&["generateserverkeys"]);
    let b = env.manage_ok(&["generateserverkeys"]);
    assert_ne!(a, b, "keys must be fresh each time");
    let parsed: toml::Table = toml::from_str(&a).unwrap();
    assert_eq!(parsed["secret_key"].as_str().unwrap().len(), 64);
    assert!(parsed.contains_key("audit_signing_key"));
    // Pasted into the config, the keys are used (no server-keys.toml is generated).
    let mut config = std::fs::read_to_string(&env.config_path).unwrap();
    config.push_str(&a);
    std::fs::write(&env.config_path, config).unwrap();
    env.manage_ok(&["createuser", "u@example.com", "pw", "u@example.com"]);
    assert!(!env.data_dir().join("server-keys.toml").exists());
}

both_backends!(presetup_and_migrate_report_the_schema, |env: &TestEnv| {
    let out = env.manage_ok(&["presetup"]);
    assert!(out.contains("Schema version"), "{out}");
    if env.backend == Backend::Postgres {
        assert!(
            out.contains("PostgreSQL connection OK") && out.contains("CREATE on schema: yes"),
            "{out}"
        );
    }
    assert!(
        env.manage_ok(&["migrate"])
            .starts_with("No migrations to apply")
    );
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM keyward_migrations"),
        keyward_store::MIGRATION_COUNT as i64
    );
});

#[test]
fn help_lists_every_command_without_a_database() {
    let env = TestEnv::new(Backend::Sqlite);
    let out = env.manage_ok(&["help"]);
    for name in [
        "createuser",
        "disableinactiveusers",
        "setup create_enckey",
        "config set",
        "generateserverkeys",
    ] {
        assert!(out.contains(name), "{name} missing from help");
    }
    assert!(
        env.manage_ok(&["help", "createuser"])
            .contains("--show-password")
    );
}
