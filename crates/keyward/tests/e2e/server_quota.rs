//! Quota scans and usage (SFTPGo's `/api/v1/quota_scan`, `/api/v1/quota_update`, seed 004) on
//! both backends, with a real temporary home directory: the server scans in the background and
//! records size and file count (links not followed), the console scans in the foreground; bad
//! input answers 4xx naming the field and changes nothing; only admins start scans, and not of
//! their peers.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestEnv;
use crate::server_client::Http;
use crate::server_tokens_rest::{accounts, bearer, send};

/// A home directory with 3 regular files, 8 bytes in all, an empty subdirectory, and links to a
/// large file and a directory outside it (neither followed nor counted).
pub fn home_with_files(root: &Path, outside: &Path) -> std::path::PathBuf {
    let home = root.join("home");
    std::fs::create_dir_all(home.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(home.join("empty")).unwrap();
    std::fs::write(home.join("a.txt"), b"12345").unwrap();
    std::fs::write(home.join("sub/b.bin"), b"123").unwrap();
    std::fs::write(home.join("sub/deeper/c"), b"").unwrap();
    std::fs::create_dir_all(outside).unwrap();
    std::fs::write(outside.join("big"), vec![7u8; 100_000]).unwrap();
    std::os::unix::fs::symlink(outside, home.join("escape")).unwrap();
    std::os::unix::fs::symlink(outside.join("big"), home.join("big-link")).unwrap();
    home
}

fn user_of(http: &Http, auth: &str, name: &str) -> Value {
    let r = send(http, "GET", &format!("/api/v1/user/{name}"), None, auth);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

both_backends!(
    quota_scan_counts_the_home_dir_in_the_background,
    |env: &TestEnv| {
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let root = accounts(env, &http);
        let home = home_with_files(env.dir.path(), &env.dir.path().join("outside"));
        let body = json!({"username": "ftp", "password": "pw-ftp-1234", "home_dir": home.to_str().unwrap()});
        assert_eq!(
            send(&http, "POST", "/api/v1/user", Some(&body), &root).status,
            200
        );

        // SFTPGo's client posts the whole user object.
        let whole = user_of(&http, &root, "ftp");
        let r = send(&http, "POST", "/api/v1/quota_scan", Some(&whole), &root);
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"status": 201, "message": "Scan started", "error": ""})
        );

        let deadline = Instant::now() + Duration::from_secs(20);
        let user = loop {
            let u = user_of(&http, &root, "ftp");
            if u["used_quota_files"] != 0 || Instant::now() > deadline {
                break u;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(
            (
                user["used_quota_files"].as_i64(),
                user["used_quota_size"].as_i64()
            ),
            (Some(3), Some(8)),
            "{user}"
        );
        assert!(
            user["last_quota_update"].as_i64().unwrap() > 1_000_000_000_000,
            "{user}"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while send(&http, "GET", "/api/v1/quota_scan", None, &root).json() != json!([]) {
            assert!(Instant::now() < deadline, "the scan never ended");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'quota scan' AND success = 1"
            ),
            1
        );
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'start-quota-scan' AND success = 1"
            ),
            1
        );

        // Usage updates: add, then reset.
        let r = send(
            &http,
            "PUT",
            "/api/v1/quota_update?mode=add",
            Some(&json!({"username": "ftp", "used_quota_size": 2, "used_quota_files": 1})),
            &root,
        );
        assert_eq!(
            r.json(),
            json!({"error": "", "message": "Quota updated", "status": 200})
        );
        let u = user_of(&http, &root, "ftp");
        assert_eq!(
            (
                u["used_quota_files"].as_i64(),
                u["used_quota_size"].as_i64()
            ),
            (Some(4), Some(10))
        );
        let r = send(
            &http,
            "PUT",
            "/api/v1/quota_update",
            Some(&json!({"username": "ftp", "used_quota_size": 0, "used_quota_files": 0})),
            &root,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let u = user_of(&http, &root, "ftp");
        assert_eq!(
            (
                u["used_quota_files"].as_i64(),
                u["used_quota_size"].as_i64()
            ),
            (Some(0), Some(0))
        );
        // The rest of the user record is untouched.
        assert_eq!(u["home_dir"], home.to_str().unwrap());
    }
);

both_backends!(quota_routes_refuse_bad_input_and_peers, |env: &TestEnv| {
    let server = env.serve_in_process();
    let http = Http::new(&server);
    let root = accounts(env, &http);
    let home = home_with_files(env.dir.path(), &env.dir.path().join("outside"));
    for (name, dir) in [
        ("ftp", home.to_str().unwrap()),
        ("nohome", ""),
        ("gone", "/nonexistent/keyward-quota"),
    ] {
        let body = json!({"username": name, "password": "pw-ftp-1234", "home_dir": dir});
        assert_eq!(
            send(&http, "POST", "/api/v1/user", Some(&body), &root).status,
            200
        );
    }
    let before = profiles(env);
    for (body, status, field) in [
        (json!({"username": "nohome"}), 400, "home_dir"),
        (json!({"username": "gone"}), 400, "home_dir"),
        (json!({"username": ""}), 400, "username"),
        (json!({"username": "nobody"}), 404, "nobody"),
    ] {
        let r = send(&http, "POST", "/api/v1/quota_scan", Some(&body), &root);
        assert!(
            r.assert_error(status)["error"]
                .as_str()
                .unwrap()
                .contains(field),
            "{body}: {}",
            r.text
        );
    }
    let r = send(
        &http,
        "POST",
        "/api/v1/quota_scan",
        Some(&json!({"name": "ftp"})),
        &root,
    );
    assert!(
        (400..500).contains(&r.status) && r.text.contains("username"),
        "{}",
        r.text
    );
    for (query, body, field) in [
        (
            "?mode=bogus",
            json!({"username": "ftp", "used_quota_size": 1}),
            "mode",
        ),
        (
            "",
            json!({"username": "ftp", "used_quota_size": -1}),
            "used_quota_size",
        ),
        (
            "",
            json!({"username": "ftp", "used_quota_files": "many"}),
            "used_quota_files",
        ),
    ] {
        let r = send(
            &http,
            "PUT",
            &format!("/api/v1/quota_update{query}"),
            Some(&body),
            &root,
        );
        assert!(
            (400..500).contains(&r.status) && r.text.contains(field),
            "{body}: {}",
            r.text
        );
    }
    // Helpdesk may not start scans; an admin may not scan a peer admin's home.
    let hal = bearer(&http, "hal");
    send(
        &http,
        "POST",
        "/api/v1/quota_scan",
        Some(&json!({"username": "ftp"})),
        &hal,
    )
    .assert_error(403);
    send(
        &http,
        "PUT",
        "/api/v1/quota_update",
        Some(&json!({"username": "ftp"})),
        &hal,
    )
    .assert_error(403);
    let adam = bearer(&http, "adam");
    send(
        &http,
        "PUT",
        "/api/v1/quota_update",
        Some(&json!({"username": "root", "used_quota_size": 5})),
        &adam,
    )
    .assert_error(403);
    assert_eq!(
        send(
            &http,
            "GET",
            "/api/v1/quota_scan",
            None,
            &bearer(&http, "aud")
        )
        .status,
        200
    );
    send(
        &http,
        "GET",
        "/api/v1/quota_scan",
        None,
        &bearer(&http, "bob"),
    )
    .assert_error(403);
    assert_eq!(profiles(env), before, "a refused request changed a user");
});

/// Every user's resource profile (where the usage lives).
fn profiles(env: &TestEnv) -> Vec<Vec<String>> {
    env.query_strings(
        "SELECT username, resource_profile, CAST(updated_at AS TEXT) FROM users ORDER BY username",
    )
}

both_backends!(
    console_quota_scan_runs_in_the_foreground,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "root", "pw-root-123", "root@example.com"]);
        let home = home_with_files(env.dir.path(), &env.dir.path().join("outside"));
        env.manage_ok(&[
            "add-user",
            "ftp",
            "--password",
            "pw-ftp-1234",
            "--home-dir",
            home.to_str().unwrap(),
        ]);
        let out = env.manage_ok(&["start-quota-scan", "ftp"]);
        assert!(out.contains("3 files, 8 bytes"), "{out}");
        let user: Value =
            serde_json::from_str(&env.manage_ok(&["get-user", "ftp", "--json"])).unwrap();
        assert_eq!(
            (
                user["used_quota_files"].as_i64(),
                user["used_quota_size"].as_i64()
            ),
            (Some(3), Some(8))
        );
        env.manage_ok(&[
            "update-quota-usage",
            "ftp",
            "--used-quota-files",
            "-1",
            "--used-quota-size",
            "-3",
            "--mode",
            "add",
        ]);
        let user: Value =
            serde_json::from_str(&env.manage_ok(&["get-user", "ftp", "--json"])).unwrap();
        assert_eq!(
            (
                user["used_quota_files"].as_i64(),
                user["used_quota_size"].as_i64()
            ),
            (Some(2), Some(5))
        );
        let (code, err) = env.manage_err(&["update-quota-usage", "ftp", "--used-quota-size", "-3"]);
        assert_ne!(code, 0);
        assert!(err.contains("used_quota_size"), "{err}");
        let scans: Value =
            serde_json::from_str(&env.manage_ok(&["get-quota-scans", "--json"])).unwrap();
        assert_eq!(scans, json!({"scans": []}));
    }
);

both_backends!(
    remote_quota_scan_runs_in_the_server_background,
    crate::server_management::WITH_KEY,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "root", "pw-root-123", "root@example.com"]);
        let home = home_with_files(env.dir.path(), &env.dir.path().join("outside"));
        env.manage_ok(&[
            "add-user",
            "ftp",
            "--password",
            "pw-ftp-1234",
            "--home-dir",
            home.to_str().unwrap(),
        ]);
        let server = env.serve_in_process();
        let remote = |words: &[&str]| {
            let out = env
                .keyward()
                .env("KEYWARD_ACCESS_KEY", crate::server_management::KEY)
                .args(["manage", "--remote", server.url()])
                .args(words)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{words:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        assert!(remote(&["start-quota-scan", "ftp"]).contains("Scan started"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let user: Value =
                serde_json::from_str(&remote(&["get-user", "ftp", "--json"])).unwrap();
            if user["used_quota_files"] == 3 {
                assert_eq!(user["used_quota_size"], 8);
                break;
            }
            assert!(Instant::now() < deadline, "no usage recorded: {user}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let actor = env.query_strings("SELECT actor FROM audit_log WHERE action = 'quota scan'");
        assert_eq!(actor.len(), 1, "{actor:?}");
    }
);
