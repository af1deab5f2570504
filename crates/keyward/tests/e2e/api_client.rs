//! `keyward api`, the REST client (seed 004), against a real server on both backends: every
//! sample command line of the seed that this client covers, in order, with the seed's JSON
//! fields and values (ids, times and sealed secrets aside); `--debug` masks secrets; the password
//! from stdin. Failures, bad flags and TLS are in `api_client_errors`.

use std::process::Output;

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{ServerGuard, TestEnv};

pub const ROOT_PASSWORD: &str = "root-password-4711";

/// A server with a superuser `root` (the first user).
pub fn server_with_root(env: &TestEnv) -> ServerGuard {
    env.manage_ok(&["createuser", "root", ROOT_PASSWORD, "root@example.com"]);
    env.serve()
}

/// `keyward api -b URL -u root -p … ARGS…`.
pub fn api(env: &TestEnv, server: &ServerGuard, args: &[&str]) -> Output {
    env.keyward()
        .args(["api", "-b", &server.url, "-u", "root", "-p", ROOT_PASSWORD])
        .args(args)
        .output()
        .unwrap()
}

/// Runs an api command, asserts success, returns its stdout as JSON.
fn api_json(env: &TestEnv, server: &ServerGuard, args: &[&str]) -> Value {
    let out = api(env, server, args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains('\x1b'),
        "colour when not on a terminal: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout}"))
}

/// Asserts that `actual` has every field of `expected` with the same value (objects compared
/// field by field, recursively; lists element by element). Fields in `skip` are only required
/// to exist (ids, times).
fn assert_has(actual: &Value, expected: &Value, skip: &[&str], at: &str) {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} missing in {actual}"));
                if !skip.contains(&k.as_str()) {
                    assert_has(av, ev, skip, &format!("{at}.{k}"));
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{at}: {actual} vs {expected}");
            for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                assert_has(av, ev, skip, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{at}"),
    }
}

/// The seed's "Add user" output.
fn seed_added_user() -> Value {
    json!({
      "download_bandwidth": 60,
      "expiration_date": 1546297200000_i64,
      "filesystem": {
        "gcsconfig": {},
        "provider": 1,
        "s3config": {
          "access_key": "accesskey",
          "access_secret": "$aes$…",
          "bucket": "test",
          "endpoint": "http://127.0.0.1:9000",
          "key_prefix": "vfolder/",
          "region": "eu-west-1",
          "storage_class": "Standard",
          "upload_concurrency": 4,
          "upload_part_size": 10
        }
      },
      "filters": {
        "allowed_ip": ["192.168.1.1/32"],
        "denied_login_methods": ["password", "keyboard-interactive"],
        "file_extensions": [
          { "allowed_extensions": [".jpg", ".png"], "path": "/dir1" },
          { "allowed_extensions": [".rar", ".png"], "path": "/dir2" },
          { "denied_extensions": [".zip", ".rar"], "path": "/dir3" }
        ]
      },
      "gid": 1000,
      "home_dir": "/tmp/test_home_dir",
      "id": 9576,
      "last_login": 0,
      "last_quota_update": 0,
      "max_sessions": 2,
      "permissions": {
        "/": ["list", "download", "upload", "delete", "rename", "create_dirs", "overwrite"],
        "/dir1": ["list", "download"],
        "/dir2": ["*"]
      },
      "quota_files": 3,
      "quota_size": 0,
      "status": 0,
      "uid": 33,
      "upload_bandwidth": 100,
      "used_quota_files": 0,
      "used_quota_size": 0,
      "username": "test_username"
    })
}

/// The seed's "Get user by id" output (after "Update user").
fn seed_updated_user() -> Value {
    json!({
      "download_bandwidth": 80,
      "expiration_date": 0,
      "filesystem": { "gcsconfig": {}, "provider": 0, "s3config": {} },
      "filters": { "denied_ip": ["192.168.1.0/24"] },
      "gid": 33,
      "home_dir": "/tmp/test_home_dir",
      "id": 9576,
      "last_login": 0,
      "last_quota_update": 0,
      "max_sessions": 3,
      "permissions": {
        "/": ["*"],
        "/dir1": ["list", "download", "create_symlinks"]
      },
      "quota_files": 4,
      "quota_size": 0,
      "status": 1,
      "uid": 0,
      "upload_bandwidth": 90,
      "used_quota_files": 0,
      "used_quota_size": 0,
      "username": "test_username",
      "virtual_folders": [
        { "mapped_path": "/tmp/mapped1", "virtual_path": "/vdir1" },
        { "mapped_path": "/tmp/mapped2", "virtual_path": "/vdir2" }
      ]
    })
}

/// Seed 004's "Add user" command line, after `keyward api`.
pub(crate) const SEED_ADD_USER: &[&str] = &[
    "add-user",
    "test_username",
    "--password",
    "test_pwd",
    "--home-dir=/tmp/test_home_dir",
    "--uid",
    "33",
    "--gid",
    "1000",
    "--max-sessions",
    "2",
    "--quota-size",
    "0",
    "--quota-files",
    "3",
    "--permissions",
    "list",
    "download",
    "upload",
    "delete",
    "rename",
    "create_dirs",
    "overwrite",
    "--subdirs-permissions",
    "/dir1::list,download",
    "/dir2::*",
    "--upload-bandwidth",
    "100",
    "--download-bandwidth",
    "60",
    "--status",
    "0",
    "--expiration-date",
    "2019-01-01",
    "--allowed-ip",
    "192.168.1.1/32",
    "--fs",
    "S3",
    "--s3-bucket",
    "test",
    "--s3-region",
    "eu-west-1",
    "--s3-access-key",
    "accesskey",
    "--s3-access-secret",
    "secret",
    "--s3-endpoint",
    "http://127.0.0.1:9000",
    "--s3-storage-class",
    "Standard",
    "--s3-key-prefix",
    "vfolder/",
    "--s3-upload-part-size",
    "10",
    "--s3-upload-concurrency",
    "4",
    "--denied-login-methods",
    "password",
    "keyboard-interactive",
    "--allowed-extensions",
    "/dir1::.jpg,.png",
    "/dir2::.rar,.png",
    "--denied-extensions",
    "/dir3::.zip,.rar",
];

/// Seed 004's "Update user" command line after the id (the id is the one the server gave).
pub(crate) const SEED_UPDATE_USER: &[&str] = &[
    "test_username",
    "--password",
    "test_pwd",
    "--home-dir=/tmp/test_home_dir",
    "--uid",
    "0",
    "--gid",
    "33",
    "--max-sessions",
    "3",
    "--quota-size",
    "0",
    "--quota-files",
    "4",
    "--permissions",
    "*",
    "--subdirs-permissions",
    "/dir1::list,download,create_symlinks",
    "--upload-bandwidth",
    "90",
    "--download-bandwidth",
    "80",
    "--status",
    "1",
    "--expiration-date",
    "",
    "--allowed-ip",
    "",
    "--denied-ip",
    "192.168.1.0/24",
    "--denied-login-methods",
    "",
    "--fs",
    "local",
    "--virtual-folders",
    "/vdir1::/tmp/mapped1",
    "/vdir2::/tmp/mapped2",
    "--allowed-extensions",
    "",
    "--denied-extensions",
    "",
];

pub fn ack(message: &str) -> Value {
    json!({ "error": "", "message": message, "status": 200 })
}

both_backends!(seed_004_command_lines_in_order, |env: &TestEnv| {
    let server = server_with_root(env);

    // Add user
    let added = api_json(env, &server, SEED_ADD_USER);
    assert_has(
        &added,
        &seed_added_user(),
        &["id", "expiration_date", "access_secret"],
        "add-user",
    );
    let secret = added["filesystem"]["s3config"]["access_secret"]
        .as_str()
        .unwrap();
    assert!(
        secret.starts_with("$aes$") && !secret.contains("secret"),
        "{secret}"
    );
    assert!(added["expiration_date"].as_i64().unwrap() > 0);
    assert!(added.get("password").is_none(), "{added}");
    let id = added["id"].as_i64().unwrap().to_string();

    // Update user
    let mut update = vec!["update-user", id.as_str()];
    update.extend_from_slice(SEED_UPDATE_USER);
    assert_eq!(api_json(env, &server, &update), ack("User updated"));

    // Get user by id
    let got = api_json(env, &server, &["get-user-by-id", &id]);
    assert_has(&got, &seed_updated_user(), &["id"], "get-user-by-id");
    assert_eq!(got["id"].as_i64().unwrap().to_string(), id);
    let filters = got["filters"].as_object().unwrap();
    assert!(
        filters.get("allowed_ip").is_none_or(|v| v == &json!([])),
        "{got}"
    );

    // Get users
    let page = api_json(
        env,
        &server,
        &[
            "get-users",
            "--limit",
            "1",
            "--offset",
            "0",
            "--username",
            "test_username",
            "--order",
            "DESC",
        ],
    );
    assert_has(&page, &json!([seed_updated_user()]), &["id"], "get-users");

    // Get active connections: the user logs in (a session is keyward's connection).
    let http = crate::server_client::Http::new(&server);
    http.login_ok("test_username", "test_pwd");
    let connections = api_json(env, &server, &["get-connections"]);
    let list = connections.as_array().unwrap();
    let mine = list
        .iter()
        .find(|c| c["username"] == "test_username")
        .unwrap_or_else(|| panic!("no session of test_username in {connections}"));
    for field in [
        "active_transfers",
        "client_version",
        "connection_id",
        "connection_time",
        "last_activity",
        "protocol",
        "remote_address",
        "ssh_command",
        "username",
    ] {
        assert!(mine.get(field).is_some(), "{field} missing in {mine}");
    }
    assert_eq!(mine["ssh_command"], "", "{mine}");
    let connection_id = mine["connection_id"].as_str().unwrap().to_string();

    // Close connection
    assert_eq!(
        api_json(env, &server, &["close-connection", &connection_id]),
        ack("Connection closed")
    );
    let after = api_json(env, &server, &["get-connections"]);
    assert!(!after.to_string().contains(&connection_id), "{after}");

    // Get quota scans; Start quota scan (the seed's home dir need not exist: the scan runs in
    // the background and a failed one is audited).
    assert!(api_json(env, &server, &["get-quota-scans"]).is_array());
    assert_eq!(
        api_json(env, &server, &["start-quota-scan", "test_username"]),
        json!({"status": 201, "message": "Scan started", "error": ""})
    );
    for _ in 0..100 {
        let scans = api_json(env, &server, &["get-quota-scans"]);
        if scans.as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // Delete user
    assert_eq!(
        api_json(env, &server, &["delete-user", &id]),
        ack("User deleted")
    );
    let gone = api(env, &server, &["get-user-by-id", &id]);
    assert_eq!(gone.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(stderr.contains("404"), "{stderr}");

    // Get version
    let version = api_json(env, &server, &["get-version"]);
    for field in ["build_date", "commit_hash", "version"] {
        assert!(version[field].is_string(), "{field} in {version}");
    }

    // Get provider status
    assert_eq!(
        api_json(env, &server, &["get-provider-status"]),
        ack("Alive")
    );

    // Backup data: written on the server, inside its backups directory.
    assert_eq!(
        api_json(env, &server, &["dumpdata", "backup.json", "--indent", "1"]),
        ack("Data saved")
    );
    let backup = env.data_dir().join("backups/backup.json");
    let dumped: Value = serde_json::from_slice(&std::fs::read(&backup).unwrap()).unwrap();
    assert!(dumped["users"].is_array(), "{dumped}");

    // Restore data (the seed's /app/data/backups is this server's backups directory).
    let backup = backup.display().to_string();
    assert_eq!(
        api_json(
            env,
            &server,
            &["loaddata", &backup, "--scan-quota", "2", "--mode", "0"]
        ),
        ack("Data restored")
    );

    // Convert users from other stores: runs locally, writes loaddata files. The seed's input
    // files are the fixtures made by the real tools ("" reads this machine's passwd/shadow).
    let out_dir = env.dir.path();
    let pure = crate::harness::fixture("userstores/pureftpd.passwd");
    let pro = crate::harness::fixture("userstores/ftpd.passwd");
    let pure = pure.display().to_string();
    let pro = pro.display().to_string();
    let lines: [Vec<&str>; 3] = [
        vec![
            "convert-users",
            "",
            "unix-passwd",
            "unix_users.json",
            "--min-uid",
            "500",
            "--force-uid",
            "1000",
            "--force-gid",
            "1000",
        ],
        vec![
            "convert-users",
            &pure,
            "pure-ftpd",
            "pure_users.json",
            "--usernames",
            "user1",
            "user2",
        ],
        vec!["convert-users", &pro, "proftpd", "pro_users.json"],
    ];
    for line in &lines {
        let out = env
            .keyward()
            .current_dir(out_dir)
            .arg("api")
            .args(line)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = out_dir.join(line[3]);
        let converted: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert!(converted["users"].is_array(), "{line:?}: {converted}");
    }
    // ProFTPD's three users, with their hashes as ftpasswd wrote them.
    let pro_users: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("pro_users.json")).unwrap()).unwrap();
    let names: Vec<&str> = pro_users["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert!(
        pro_users["users"][0]["password"]
            .as_str()
            .unwrap()
            .starts_with("$1$")
    );
});

both_backends!(debug_masks_every_secret, |env: &TestEnv| {
    let server = server_with_root(env);
    let out = env
        .keyward()
        .args([
            "api",
            "-d",
            "-b",
            &server.url,
            "-u",
            "root",
            "-p",
            ROOT_PASSWORD,
        ])
        .args([
            "add-user",
            "dbg_user",
            "--password",
            "pw-in-clear-0815",
            "--permissions",
            "*",
            "--fs",
            "S3",
            "--s3-bucket",
            "b",
            "--s3-region",
            "r",
            "--s3-access-key",
            "k",
            "--s3-access-secret",
            "s3-secret-in-clear",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("> POST ") && stderr.contains("< 200"),
        "{stderr}"
    );
    assert!(stderr.contains("Authorization: Basic ******"), "{stderr}");
    let basic = data_encoding::BASE64.encode(format!("root:{ROOT_PASSWORD}").as_bytes());
    for secret in [
        ROOT_PASSWORD,
        "pw-in-clear-0815",
        "s3-secret-in-clear",
        basic.as_str(),
    ] {
        assert!(
            !stderr.contains(secret),
            "{secret} in --debug output: {stderr}"
        );
    }

    // Bearer: an admin API key from KEYWARD_API_TOKEN, masked too.
    let created = env.manage_ok(&["api", "createtoken", "-r", "admin", "-u", "root"]);
    let key = created
        .lines()
        .find_map(|l| l.strip_prefix("Auth-Token:"))
        .unwrap()
        .trim()
        .to_string();
    let out = env
        .keyward()
        .env("KEYWARD_API_TOKEN", &key)
        .args(["api", "--debug", "-b", &server.url, "get-users"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Authorization: Bearer ******"), "{stderr}");
    assert!(!stderr.contains(&key), "{stderr}");
    let users: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(users.to_string().contains("dbg_user"), "{users}");

    // --password-stdin: the password from standard input, never in the answer.
    let out = env
        .keyward()
        .args(["api", "-b", &server.url, "-u", "root", "-p", ROOT_PASSWORD])
        .args([
            "add-user",
            "stdin_user",
            "--password-stdin",
            "--permissions",
            "*",
        ])
        .write_stdin("pw-from-stdin-77\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("pw-from-stdin-77"));
    crate::server_client::Http::new(&server).login_ok("stdin_user", "pw-from-stdin-77");
});
