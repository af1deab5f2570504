//! Issue 9 (seed 001): `backup create` / `backup restore` through the real binary. A populated
//! SQLite installation (users, an HOTP token that has been used, API keys, runtime config, audit)
//! is backed up and restored into a fresh SQLite and a fresh PostgreSQL installation: the tables
//! are equal, the token's next OTP (from oathtool) validates and the used one does not, and the
//! audit log verifies. The enckey travels on paper (`setup dump_enckey` → `create_enckey
//! --from-paper`). Bad archives (corrupt, wrong checksum, truncated, path traversal, newer
//! schema) are refused with a clear message and the target keeps its data; a restore killed
//! with SIGKILL half-way leaves the target as it was.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::harness::{Backend, TestEnv};
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_client::Http;
use crate::server_validate::accepted;

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `backup create` into `dir`; returns the archive's path and the output.
fn backup(env: &TestEnv, dir: &Path, extra: &[&str]) -> (PathBuf, String) {
    let d = dir.display().to_string();
    let mut args = vec!["backup", "create", "-d", d.as_str()];
    args.extend_from_slice(extra);
    let out = env.manage_ok(&args);
    let path = out
        .lines()
        .find_map(|l| l.strip_prefix("Backup written to "))
        .unwrap_or_else(|| panic!("no archive in {out}"));
    (PathBuf::from(path), out)
}

/// The rows of every table in an archive, each table's lines sorted (engines order text
/// differently).
fn archive_rows(archive: &Path) -> BTreeMap<String, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    sh(Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(dir.path()));
    let mut tables = BTreeMap::new();
    let db = dir.path().join("db");
    for t in std::fs::read_dir(&db).unwrap() {
        let t = t.unwrap();
        let mut lines = Vec::new();
        for m in std::fs::read_dir(t.path()).unwrap() {
            let text = std::fs::read_to_string(m.unwrap().path()).unwrap();
            lines.extend(text.lines().map(String::from));
        }
        lines.sort();
        tables.insert(t.file_name().to_string_lossy().to_string(), lines);
    }
    tables
}

/// Source: two users, an HOTP token used once (counter 1), API keys, a config switch, an LDAP
/// resolver, a realm and a policy.
fn populate(env: &TestEnv) {
    env.manage_ok(&["createuser", "admin", "adminPw-1", "admin@example.com"]);
    env.manage_ok(&["createuser", "alice", "alicePw-1", "alice@example.com"]);
    env.manage_ok(&[
        "token",
        "init",
        "--type",
        "hotp",
        "--otpkey",
        RFC_KEY_HEX,
        "--serial",
        "OATH0001",
        "--user",
        "alice",
        "--pin",
        "1234",
    ]);
    env.manage_ok(&["api", "createtoken", "-r", "admin", "-u", "admin"]);
    env.manage_ok(&["api", "createtoken", "-r", "validate"]);
    env.manage_ok(&["config", "set", "registration_enabled", "false"]);
    // A resolver (its bind password sealed), a realm listing it, a policy.
    env.manage_ok(&[
        "config",
        "resolver",
        "create",
        "corp",
        "ldap",
        "--uri",
        "ldap://127.0.0.1:9",
        "--base-dn",
        "dc=example,dc=org",
        "--bind-dn",
        "cn=admin,dc=example,dc=org",
        "--bind-password",
        "bindPw-1",
    ]);
    env.manage_ok(&["config", "realm", "create", "corp", "corp", "internal"]);
    env.manage_ok(&[
        "config",
        "policy",
        "create",
        "lock3",
        "authentication",
        "lockout=3",
    ]);
    let server = env.serve_in_process();
    let http = Http::new(&server);
    assert!(accepted(
        &http,
        "alice",
        &format!("1234{}", oath::hotp(RFC_KEY_HEX, 0, 6))
    ));
}

fn restore_into(target: &TestEnv, archive: &Path, paper: &Path) -> String {
    let keep = std::fs::read_to_string(&target.config_path).unwrap();
    let out = target.manage_ok(&[
        "backup",
        "restore",
        archive.to_str().unwrap(),
        "--force",
        "--keep-db-uri",
    ]);
    // The archived config came back with this installation's database_url kept…
    let restored = std::fs::read_to_string(&target.config_path).unwrap();
    assert!(restored.starts_with(&format!("database_url = \"{}\"", target.database_url)));
    assert_eq!(restored.matches("database_url").count(), 1, "{restored}");
    // …and the test installation goes on with its own paths.
    std::fs::write(&target.config_path, keep).unwrap();
    target.manage_ok(&[
        "setup",
        "create_enckey",
        "--from-paper",
        paper.to_str().unwrap(),
    ]);
    out
}

fn round_trip_into(source: &TestEnv, archive: &Path, paper: &Path, target: Backend) {
    let target = TestEnv::new(target);
    let out = restore_into(&target, archive, paper);
    assert!(out.contains("Restored"), "{out}");
    assert!(target.data_dir().join("server-keys.toml").exists());

    // Table contents: a backup of the target holds the source's rows (plus audit rows).
    let check = tempfile::tempdir().unwrap();
    let (again, _) = backup(&target, check.path(), &["-q"]);
    let (before, after) = (archive_rows(archive), archive_rows(&again));
    for (table, rows) in &before {
        if table == "audit_log" {
            assert!(
                rows.iter().all(|r| after[table].contains(r)),
                "audit rows lost"
            );
        } else {
            assert_eq!(&after[table], rows, "table {table}");
        }
    }
    // The dumps of source and target are the same document.
    assert_eq!(
        dump_text(&target),
        dump_text(source),
        "dumpdata after restore"
    );
    // Restored rows and the restore's own row verify (exit 0) with the restored keys.
    target.manage_ok(&["audit", "verify"]);

    // The used OTP stays used; the next one validates with the restored seed and counter.
    let server = target.serve_in_process();
    let http = Http::new(&server);
    assert!(!accepted(
        &http,
        "alice",
        &format!("1234{}", oath::hotp(RFC_KEY_HEX, 0, 6))
    ));
    assert!(accepted(
        &http,
        "alice",
        &format!("1234{}", oath::hotp(RFC_KEY_HEX, 1, 6))
    ));
}

/// The installation's `dumpdata` document.
fn dump_text(env: &TestEnv) -> String {
    let file = env.dir.path().join("compare-dump.json");
    env.manage_ok(&["dumpdata", file.to_str().unwrap(), "--indent", "1"]);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    for section in ["\"realms\": [\n", "\"resolvers\": [\n", "\"policies\": [\n"] {
        assert!(text.contains(section), "{section} empty in {text}");
    }
    text
}

#[test]
fn backup_round_trip_into_fresh_sqlite_and_postgres() {
    let source = TestEnv::new(Backend::Sqlite);
    populate(&source);
    let paper = source.dir.path().join("paper.txt");
    std::fs::write(&paper, source.manage_ok(&["setup", "dump_enckey"])).unwrap();
    let bdir = source.dir.path().join("backups");
    let (archive, out) = backup(&source, &bdir, &["-q"]);
    assert!(out.contains("NOT in the archive"), "{out}");
    let name = archive.file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("keyward-backup-") && name.ends_with(".tgz") && name.len() == 32,
        "{name}"
    );
    let members = sh(Command::new("tar").arg("-tzf").arg(&archive));
    for m in [
        "db/users/000001.jsonl",
        "config/keyward.toml",
        "data/server-keys.toml",
    ] {
        assert!(members.lines().any(|l| l == m), "{m} not in {members}");
    }
    assert_eq!(members.lines().last(), Some("manifest.json"));
    assert!(
        !members.contains("enckey") && !members.contains("test.db"),
        "{members}"
    );

    round_trip_into(&source, &archive, &paper, Backend::Sqlite);
    if crate::harness::postgres_or_skip("backup round trip into PostgreSQL") {
        round_trip_into(&source, &archive, &paper, Backend::Postgres);
    }

    // With -e the key is inside, with a warning.
    let (with_key, out) = backup(&source, &bdir, &["-e", "-q"]);
    assert!(
        out.contains("WARNING: the archive contains the encryption key"),
        "{out}"
    );
    let members = sh(Command::new("tar").arg("-tzf").arg(&with_key));
    assert!(members.lines().any(|l| l == "keys/enckey"), "{members}");
}

/// Repacks an extracted archive in `dir` with the system tar, manifest last.
fn repack(dir: &Path, out: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n != "manifest.json")
        .collect();
    names.sort();
    names.push("manifest.json".into());
    sh(Command::new("tar")
        .arg("-czf")
        .arg(out)
        .arg("-C")
        .arg(dir)
        .args(&names));
}

fn extracted(archive: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    sh(Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(dir.path()));
    dir
}

fn counts(env: &TestEnv) -> (i64, i64, i64) {
    (
        env.query_i64("SELECT COUNT(*) FROM users"),
        env.query_i64("SELECT COUNT(*) FROM tokens"),
        env.query_i64("SELECT COUNT(*) FROM api_keys"),
    )
}

fn refused(target: &TestEnv, archive: &Path, expect: &str) {
    let before = counts(target);
    let (code, err) = target.manage_err(&[
        "backup",
        "restore",
        archive.to_str().unwrap(),
        "--force",
        "-q",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(expect), "expected {expect:?} in {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(counts(target), before, "the target changed");
}

crate::both_backends!(
    backup_restore_refuses_bad_archives_and_changes_nothing,
    |target: &TestEnv| {
        let source = TestEnv::new(Backend::Sqlite);
        populate(&source);
        let work = tempfile::tempdir().unwrap();
        let (archive, _) = backup(&source, work.path(), &["-q"]);
        target.manage_ok(&["createuser", "keeper", "keeperPw-1", "keeper@example.com"]);
        target.manage_ok(&["createuser", "other", "otherPw-1", "other@example.com"]);

        // A non-empty target without --force.
        let (_, err) = target.manage_err(&["backup", "restore", archive.to_str().unwrap(), "-q"]);
        assert!(
            err.contains("not empty") && err.contains("--force"),
            "{err}"
        );

        // Corrupted bytes in the middle of the compressed stream.
        let mut bytes = std::fs::read(&archive).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 16] {
            *b ^= 0x5a;
        }
        let corrupt = work.path().join("corrupt.tgz");
        std::fs::write(&corrupt, &bytes).unwrap();
        refused(target, &corrupt, "corrupt");

        // Truncated.
        let bytes = std::fs::read(&archive).unwrap();
        let truncated = work.path().join("truncated.tgz");
        std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
        refused(target, &truncated, "truncated or corrupt");

        // One record changed in the middle of a member: a valid archive, a wrong checksum.
        let dir = extracted(&archive);
        let users = dir.path().join("db/users/000001.jsonl");
        let text = std::fs::read_to_string(&users).unwrap();
        std::fs::write(
            &users,
            text.replace("alice@example.com", "mallory@example.com"),
        )
        .unwrap();
        let tampered = work.path().join("tampered.tgz");
        repack(dir.path(), &tampered);
        refused(target, &tampered, "does not match its checksum");

        // A member that climbs out of its folder, and an absolute one.
        std::fs::write(work.path().join("evil"), "x").unwrap();
        std::fs::create_dir(work.path().join("sub")).unwrap();
        let traversal = work.path().join("traversal.tgz");
        sh(Command::new("tar")
            .arg("-czPf")
            .arg(&traversal)
            .arg("-C")
            .arg(work.path().join("sub"))
            .arg("../evil"));
        refused(target, &traversal, "refused member \"../evil\"");
        let absolute = work.path().join("absolute.tgz");
        sh(Command::new("tar")
            .arg("-czPf")
            .arg(&absolute)
            .arg(work.path().join("evil")));
        refused(target, &absolute, "refused member \"/");

        // An archive from a newer schema.
        let dir = extracted(&archive);
        let manifest = dir.path().join("manifest.json");
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
        m["schema_version"] = json!(99);
        std::fs::write(&manifest, m.to_string()).unwrap();
        let newer = work.path().join("newer.tgz");
        repack(dir.path(), &newer);
        refused(target, &newer, "newer schema");

        assert!(target.manage_ok(&["listusers"]).contains("keeper"));
    }
);

/// Kills `backup restore` with SIGKILL once it is loading rows; the target stays as it was.
fn killed_restore_leaves_target_as_before(target: &TestEnv) {
    let source = TestEnv::new(Backend::Sqlite);
    source.manage_ok(&["migrate"]);
    source.exec(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000) \
         INSERT INTO users (id, username, username_key, username_skeleton, password_hash, email, \
         created_at, updated_at) SELECT 'u' || i, 'user' || i, 'user' || i, 'user' || i, '', \
         'u' || i || '@example.com', 1, 1 FROM n",
    );
    let work = tempfile::tempdir().unwrap();
    let (archive, _) = backup(&source, work.path(), &["-q"]);
    target.manage_ok(&["createuser", "keeper", "keeperPw-1", "keeper@example.com"]);
    let before = counts(target);

    #[allow(deprecated)] // cargo_bin: the binary this test package builds
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("keyward"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env("KEYWARD_CONFIG", &target.config_path)
        .current_dir(target.dir.path())
        .args([
            "manage",
            "backup",
            "restore",
            archive.to_str().unwrap(),
            "--force",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines.next().expect("restore ended before loading").unwrap();
        seen.push(line.clone());
        if line.starts_with("restore: loading rows: 0/") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the restore finished before the kill: {seen:?}"
    );
    assert_eq!(counts(target), before, "the target changed");
    assert!(target.manage_ok(&["listusers"]).contains("keeper"));

    // The lock died with the process: a full restore now succeeds.
    target.manage_ok(&[
        "backup",
        "restore",
        archive.to_str().unwrap(),
        "--force",
        "-q",
    ]);
    assert_eq!(target.query_i64("SELECT COUNT(*) FROM users"), 40000);
}

crate::both_backends!(
    backup_restore_killed_midway_leaves_target_as_before,
    |target: &TestEnv| {
        killed_restore_leaves_target_as_before(target);
    }
);

#[test]
fn backup_restore_refuses_while_a_server_runs() {
    let source = TestEnv::new(Backend::Sqlite);
    populate(&source);
    let work = tempfile::tempdir().unwrap();
    let (archive, _) = backup(&source, work.path(), &["-q"]);
    let target = TestEnv::new(Backend::Sqlite);
    target.manage_ok(&["migrate"]);
    let server = target.serve_in_process();
    let (_, err) = target.manage_err(&["backup", "restore", archive.to_str().unwrap(), "-q"]);
    assert!(
        err.contains("a keyward server is running on this database"),
        "{err}"
    );
    assert_eq!(target.query_i64("SELECT COUNT(*) FROM users"), 0);
    drop(server);
    let keep = std::fs::read_to_string(&target.config_path).unwrap();
    target.manage_ok(&[
        "backup",
        "restore",
        archive.to_str().unwrap(),
        "-q",
        "--force",
        "--keep-db-uri",
    ]);
    std::fs::write(&target.config_path, keep).unwrap();
    assert_eq!(target.query_i64("SELECT COUNT(*) FROM users"), 2);
}

#[test]
fn backup_progress_is_plain_lines_off_a_terminal_and_nothing_with_quiet() {
    let env = TestEnv::new(Backend::Sqlite);
    populate(&env);
    let work = tempfile::tempdir().unwrap();
    let d = work.path().display().to_string();
    let out = env
        .manage(&["backup", "create", "-d", &d])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.lines().any(|l| l.starts_with("backup: 0/")), "{err}");
    assert!(err.lines().any(|l| l.ends_with("rows (100%)")), "{err}");
    let out = env
        .manage(&["backup", "create", "-d", &d, "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
}

#[test]
fn paper_enckey_names_a_mistyped_line() {
    let env = TestEnv::new(Backend::Sqlite);
    env.manage_ok(&["setup", "create_enckey"]);
    let paper = env.manage_ok(&["setup", "dump_enckey"]);
    let original = std::fs::read(env.data_dir().join("enckey")).unwrap();
    let line = paper.lines().nth(3).unwrap();
    let digit = &line[4..5];
    let bad_line = format!(
        "{}{}{}",
        &line[..4],
        if digit == "a" { "b" } else { "a" },
        &line[5..]
    );
    let bad = env.dir.path().join("bad.txt");
    std::fs::write(&bad, paper.replace(line, &bad_line)).unwrap();
    let good = env.dir.path().join("good.txt");
    std::fs::write(&good, &paper).unwrap();

    let other = TestEnv::new(Backend::Sqlite);
    let (_, err) = other.manage_err(&[
        "setup",
        "create_enckey",
        "--from-paper",
        bad.to_str().unwrap(),
    ]);
    assert!(
        err.contains("line 4 (paper line 03): checksum does not match"),
        "{err}"
    );
    assert!(!other.data_dir().join("enckey").exists());
    other.manage_ok(&[
        "setup",
        "create_enckey",
        "--from-paper",
        good.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(other.data_dir().join("enckey")).unwrap(),
        original
    );
}

#[test]
fn audit_rotate_reads_its_watermarks_from_a_config_file() {
    let env = TestEnv::new(Backend::Sqlite);
    for i in 0..6 {
        let v = if i % 2 == 0 { "true" } else { "false" };
        env.manage_ok(&["config", "set", "registration_enabled", v]);
    }
    let total = env.query_i64("SELECT COUNT(*) FROM audit_log");
    let conf = env.dir.path().join("rotate.toml");
    std::fs::write(&conf, "highwatermark = 4\nlowwatermark = 2\n").unwrap();
    let out = env.manage_ok(&["audit", "rotate", "--config", conf.to_str().unwrap()]);
    assert!(
        out.contains(&format!("Deleted audit entries: {}", total - 2)),
        "{out}"
    );
    std::fs::write(&conf, "age = 3\nhighwatermark = 4\n").unwrap();
    let (_, err) = env.manage_err(&["audit", "rotate", "--config", conf.to_str().unwrap()]);
    assert!(err.contains("either age or the watermarks"), "{err}");
    std::fs::write(&conf, "hw = 4\n").unwrap();
    let (_, err) = env.manage_err(&["audit", "rotate", "--config", conf.to_str().unwrap()]);
    assert!(err.contains("hw"), "{err}");
    // The rotated chain still verifies from its signed checkpoint.
    env.manage_ok(&["audit", "verify"]);
}
