//! SFTPGo's own REST client of 2020 (`scripts/sftpgo_api_cli.py` of drakkan/sftpgo, v0.9.x: the
//! version with `get-connections`, `dumpdata` and `loaddata`) as a client of keyward's `/api/v1`:
//! every sub-command it has, in the order an operator would use them, with HTTP Basic as the
//! seed shows, checking the JSON it prints.
//!
//! The script is SFTPGo's code and is not part of this repository: the test runs it when
//! `KEYWARD_SFTPGO_API_CLI` names a copy (Python 3 with `requests`), and otherwise says
//! `SKIPPED` on stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::api_client::{ROOT_PASSWORD, server_with_root};
use crate::both_backends;
use crate::harness::ServerGuard;

fn script() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("KEYWARD_SFTPGO_API_CLI")?);
    path.is_file().then_some(path)
}

/// Runs the script with Basic auth as `root` and returns what it printed, parsed as JSON.
fn cli(script: &Path, server: &ServerGuard, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(script)
        .args([
            "-b",
            &server.url,
            "-a",
            "basic",
            "-u",
            "root",
            "-p",
            ROOT_PASSWORD,
            "-t",
        ])
        .args(args)
        .env("TZ", "UTC")
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{args:?}: the client printed no JSON ({e}): {stdout}"))
}

fn assert_status(v: &Value, status: i64, message: &str) {
    assert_eq!(v["status"], json!(status), "{v}");
    assert_eq!(v["message"], json!(message), "{v}");
    assert_eq!(v["error"], json!(""), "{v}");
}

both_backends!(
    sftpgo_api_cli_of_2020_is_a_client_of_api_v1,
    |env: &TestEnv| {
        let Some(script) = script() else {
            eprintln!(
                "SKIPPED: sftpgo_api_cli (set KEYWARD_SFTPGO_API_CLI to a copy of SFTPGo's \
             scripts/sftpgo_api_cli.py of v0.9.x to run SFTPGo's own client)"
            );
            return;
        };
        let server = server_with_root(env);
        let home = env.data_dir().join("homes/test_username");
        std::fs::create_dir_all(home.join("dir1")).unwrap();
        std::fs::write(home.join("dir1/a.txt"), b"12345").unwrap();
        std::fs::write(home.join("b.txt"), b"123").unwrap();
        let home = home.to_str().unwrap().to_string();

        // add-user: the seed's flags as this version of the client spells them.
        let added = cli(
            &script,
            &server,
            &[
                "add-user",
                "test_username",
                "-P",
                "test_pwd",
                "-H",
                &home,
                "--uid",
                "33",
                "--gid",
                "1000",
                "-C",
                "2",
                "-S",
                "0",
                "-F",
                "3",
                "-G",
                "list",
                "download",
                "upload",
                "delete",
                "rename",
                "create_dirs",
                "overwrite",
                "--subdirs-permissions",
                "/dir1:list,download",
                "/dir2:*",
                "-U",
                "100",
                "-D",
                "60",
                "--status",
                "0",
                "-E",
                "2019-01-01",
                "-Y",
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
            ],
        );
        assert_eq!(added["username"], "test_username", "{added}");
        assert_eq!(added["status"], 0);
        assert_eq!(added["expiration_date"], 1_546_300_800_000_i64);
        assert_eq!(added["max_sessions"], 2);
        assert_eq!(added["quota_files"], 3);
        assert_eq!(
            added["permissions"],
            json!({
                "/": ["list", "download", "upload", "delete", "rename", "create_dirs", "overwrite"],
                "/dir1": ["list", "download"],
                "/dir2": ["*"]
            })
        );
        assert_eq!(added["filters"]["allowed_ip"], json!(["192.168.1.1/32"]));
        assert_eq!(added["filesystem"]["provider"], 1);
        assert_eq!(added["filesystem"]["s3config"]["bucket"], "test");
        let sealed = added["filesystem"]["s3config"]["access_secret"]
            .as_str()
            .unwrap();
        assert!(sealed.starts_with("$aes$"), "sealed on the wire: {added}");
        assert!(
            added.get("password").is_none(),
            "password is write-only: {added}"
        );
        let id = added["id"].as_i64().expect("an integer id").to_string();

        let got = cli(&script, &server, &["get-user-by-id", &id]);
        assert_eq!(got["username"], "test_username");
        assert_eq!(got["uid"], 33);
        let page = cli(
            &script,
            &server,
            &[
                "get-users",
                "-L",
                "1",
                "-O",
                "0",
                "-U",
                "test_username",
                "-S",
                "DESC",
            ],
        );
        assert_eq!(page.as_array().map(Vec::len), Some(1), "{page}");
        assert_eq!(page[0]["id"].to_string(), id);

        // update-user: enabled again, no expiry, a denied network, local filesystem.
        let updated = cli(
            &script,
            &server,
            &[
                "update-user",
                &id,
                "test_username",
                "-H",
                &home,
                "--uid",
                "0",
                "--gid",
                "33",
                "-C",
                "3",
                "-S",
                "0",
                "-F",
                "4",
                "-G",
                "*",
                "--subdirs-permissions",
                "/dir1:list,download,create_symlinks",
                "-U",
                "90",
                "-D",
                "80",
                "--status",
                "1",
                "-E",
                "",
                "-N",
                "192.168.1.0/24",
                "--fs",
                "local",
            ],
        );
        assert_status(&updated, 200, "User updated");
        let got = cli(&script, &server, &["get-user-by-id", &id]);
        assert_eq!(got["status"], 1, "{got}");
        assert_eq!(got["expiration_date"], 0);
        assert_eq!(got["max_sessions"], 3);
        assert_eq!(got["filters"]["denied_ip"], json!(["192.168.1.0/24"]));
        assert_eq!(got["filesystem"]["provider"], 0);
        assert_eq!(
            got["permissions"]["/dir1"],
            json!(["list", "download", "create_symlinks"])
        );

        // A login makes a connection; the client lists it and closes it.
        let http = reqwest::blocking::Client::new();
        let login = http
            .post(format!("{}/auth/login", server.url))
            .json(&json!({"username": "test_username", "password": "test_pwd"}))
            .send()
            .unwrap();
        assert!(login.status().is_success(), "{}", login.text().unwrap());
        let conns = cli(&script, &server, &["get-connections"]);
        let conn = conns
            .as_array()
            .and_then(|c| c.iter().find(|c| c["username"] == "test_username"))
            .unwrap_or_else(|| panic!("the login's connection: {conns}"))
            .clone();
        let conn_id = conn["connection_id"].as_str().unwrap();
        let closed = cli(&script, &server, &["close-connection", conn_id]);
        assert_eq!(closed["status"], 200, "{closed}");
        let conns = cli(&script, &server, &["get-connections"]);
        assert!(
            !conns.to_string().contains(conn_id),
            "closed connection still listed: {conns}"
        );

        // Quota: a scan of the home directory.
        let started = cli(&script, &server, &["start-quota-scan", "test_username"]);
        assert_status(&started, 201, "Scan started");
        let mut used = Value::Null;
        for _ in 0..100 {
            let scans = cli(&script, &server, &["get-quota-scans"]);
            assert!(scans.is_array(), "{scans}");
            used = cli(&script, &server, &["get-user-by-id", &id]);
            if scans.as_array().unwrap().is_empty() && used["used_quota_files"] == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(used["used_quota_files"], 2, "{used}");
        assert_eq!(used["used_quota_size"], 8, "{used}");

        let version = cli(&script, &server, &["get-version"]);
        assert!(version["version"].is_string(), "{version}");
        assert_status(
            &cli(&script, &server, &["get-provider-status"]),
            200,
            "Alive",
        );

        // dumpdata on the server, delete, loaddata from the server's backups directory.
        assert_status(
            &cli(&script, &server, &["dumpdata", "backup.json"]),
            200,
            "Data saved",
        );
        let dump = env.data_dir().join("backups/backup.json");
        assert!(dump.is_file(), "{} written", dump.display());
        assert_status(
            &cli(&script, &server, &["delete-user", &id]),
            200,
            "User deleted",
        );
        let gone = cli(&script, &server, &["get-user-by-id", &id]);
        assert_eq!(gone["status"], 404, "{gone}");
        assert_status(
            &cli(
                &script,
                &server,
                &["loaddata", dump.to_str().unwrap(), "-Q", "0"],
            ),
            200,
            "Data restored",
        );
        let back = cli(&script, &server, &["get-users", "-U", "test_username"]);
        assert_eq!(back[0]["username"], "test_username", "{back}");
        assert_eq!(back[0]["max_sessions"], 3, "{back}");
    }
);
