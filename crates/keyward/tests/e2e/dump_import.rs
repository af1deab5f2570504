//! Foreign user stores and dumps (issue 9, seed 004): each user of the three real fixture stores
//! (Unix passwd/shadow, Pure-FTPd, ProFTPD) logs in with its old password after `convert-users`
//! and `loaddata` and then has an Argon2id hash; an SFTPGo dump with pbkdf2 and bcrypt users
//! loads as it is and its users log in (`/auth/login`, and HTTP Basic for its admin); the REST
//! routes and `keyward api dumpdata` / `loaddata` keep files inside `backups_path`.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{TestEnv, fixture};
use crate::server_client::Http;

fn stored_hash(env: &TestEnv, user: &str) -> String {
    env.query_strings(&format!(
        "SELECT password_hash FROM users WHERE username_key = '{user}'"
    ))[0][0]
        .clone()
}

both_backends!(
    converted_user_stores_log_in_and_get_argon2id,
    |env: &TestEnv| {
        let dir = fixture("userstores");
        let stores = [
            (
                "unix-passwd",
                dir.display().to_string(),
                ["Alice-Unix1", "Bob-Unix2", "Carol-Unix3"],
            ),
            (
                "pure-ftpd",
                dir.join("pureftpd.passwd").display().to_string(),
                ["Alice-Pure1", "Bob-Pure2", "Carol-Pure3"],
            ),
            (
                "proftpd",
                dir.join("ftpd.passwd").display().to_string(),
                ["Alice-Pro1", "Bob-Pro2", "Carol-Pro3"],
            ),
        ];
        env.manage_ok(&["createuser", "root", "pw-root-1", "root@example.com"]);
        for (format, input, passwords) in stores {
            let out_file = format!("{format}.json");
            let out = env.manage_ok(&["convert-users", &input, format, &out_file]);
            assert!(out.contains("3 users converted"), "{out}");
            let doc: Value = serde_json::from_str(
                &std::fs::read_to_string(env.dir.path().join(&out_file)).unwrap(),
            )
            .unwrap();
            assert_eq!(doc["users"][0]["username"], "alice", "{doc:#}");
            assert!(
                doc["users"][0]["home_dir"]
                    .as_str()
                    .unwrap()
                    .starts_with('/')
            );
            // mode 0: the same names come again from the next store and are updated.
            env.manage_ok(&["loaddata", &out_file, "--mode", "0"]);
            let server = env.serve_in_process();
            let http = Http::new(&server);
            for (user, password) in ["alice", "bob", "carol"].into_iter().zip(passwords) {
                assert!(!stored_hash(env, user).is_empty());
                http.login_ok(user, password);
                assert!(
                    stored_hash(env, user).starts_with("$argon2id$"),
                    "{format} {user}: {}",
                    stored_hash(env, user)
                );
                assert_eq!(http.login(user, "wrong-password").status, 401);
            }
        }
        // Filters and forced ids.
        let input = dir.display().to_string();
        env.manage_ok(&[
            "convert-users",
            &input,
            "unix-passwd",
            "some.json",
            "--min-uid",
            "3002",
            "--force-uid",
            "1000",
            "--force-gid",
            "1000",
            "--usernames",
            "bob",
            "alice",
        ]);
        let doc: Value = serde_json::from_str(
            &std::fs::read_to_string(env.dir.path().join("some.json")).unwrap(),
        )
        .unwrap();
        let users = doc["users"].as_array().unwrap();
        assert_eq!(users.len(), 1, "{doc:#}");
        assert_eq!(
            (users[0]["username"].as_str(), users[0]["uid"].as_i64()),
            (Some("bob"), Some(1000))
        );
    }
);

#[test]
fn convert_users_reports_locks_expiry_and_malformed_lines() {
    let env = TestEnv::new(crate::harness::Backend::Sqlite);
    let dir = env.dir.path().join("etc");
    std::fs::create_dir_all(&dir).unwrap();
    let hash = "$6$nzNp3QMqHioLU2Dq$0sEWQB1tRe7aK6x4wTBqw16NFR/RNeX5QGaDgfn0P2Cw.BWRZkQmfUQNIcoPvzi1xRpbutvjpHXTfJLWxas1i0";
    std::fs::write(
        dir.join("passwd"),
        "locked:x:4001:4001::/home/locked:/bin/sh\nold:x:4002:4002::/home/old:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("shadow"),
        format!("locked:!{hash}:20000:0:99999:7:::\nold:{hash}:20000:0:99999:7::19000:\n"),
    )
    .unwrap();
    let input = dir.display().to_string();
    env.manage_ok(&["convert-users", &input, "unix-passwd", "out.json"]);
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(env.dir.path().join("out.json")).unwrap())
            .unwrap();
    assert_eq!(doc["users"][0]["status"], 0, "{doc:#}");
    assert_eq!(doc["users"][0]["password"], hash);
    assert_eq!(doc["users"][1]["status"], 1);
    assert_eq!(doc["users"][1]["expiration_date"], 19000i64 * 86_400_000);
    std::fs::write(dir.join("shadow"), "locked:!x:20000\n").unwrap();
    let (_, err) = env.manage_err(&["convert-users", &input, "unix-passwd", "out.json"]);
    assert!(err.contains("shadow, line 1"), "{err}");
    let (_, err) = env.manage_err(&[
        "convert-users",
        "/nonexistent/ftpd.passwd",
        "proftpd",
        "o.json",
    ]);
    assert!(err.contains("/nonexistent/ftpd.passwd"), "{err}");
}

/// An SFTPGo 2.x dump as SFTPGo writes it (trimmed): pbkdf2 and bcrypt users, a virtual folder
/// defined in `folders`, an admin, and sections keyward ignores.
fn sftpgo_dump() -> Value {
    let user = |id: i64, name: &str, password: &str| {
        json!({
            "id": id, "status": 1, "username": name, "password": password,
            "home_dir": format!("/srv/sftpgo/data/{name}"), "uid": 0, "gid": 0,
            "max_sessions": 0, "quota_size": 0, "quota_files": 0,
            "permissions": {"/": ["*"]}, "used_quota_size": 1024, "used_quota_files": 3,
            "last_quota_update": 0, "upload_bandwidth": 0, "download_bandwidth": 0,
            "expiration_date": 0, "last_login": 0, "created_at": 1700000000000i64,
            "filters": {"hooks": {"external_auth_disabled": false}, "denied_protocols": null},
            "filesystem": {"provider": 0, "s3config": {}, "gcsconfig": {}, "azblobconfig": {}},
            "virtual_folders": [{"name": "vf1", "virtual_path": "/shared", "quota_size": -1}],
            "additional_info": ""
        })
    };
    json!({
        "folders": [{"name": "vf1", "mapped_path": "/srv/shared", "users": ["sftp_pbkdf2"]}],
        "users": [
            user(7, "sftp_pbkdf2", "$pbkdf2-sha256$150000$E86a9YMX3zC7$R5J62hsSq+pYw00hLLPKBbcGXmq7fj5+/M0IFoYtZbo="),
            user(9, "sftp_bcrypt", "$2a$05$eHqO78UjiQitGtDfMCHt1eYx4dxhNCreGegLj048617wnZM1HcrMm"),
            user(10, "sftp_sha1", "$pbkdf2-sha1$1000$saltsalt1$vW53RneVKM5WBk5px+jFlvuwQus="),
            user(11, "sftp_b64", "$pbkdf2-b64salt-sha256$3000$AAFiaW5hcnn/c2FsdA==$Y8gFJW9GSY7pbgwI5W4XkmbC5Cb61ra4sLvteiYReuk="),
        ],
        "admins": [{
            "id": 1, "status": 1, "username": "sftp_admin",
            "password": "$pbkdf2-sha512$2000$nacl42$rA4glkyzFlFOidHxtiPwjQPn9SaJvuD1AN2A+y6SDK5f1e2+FWpCWEtVAwSk4UA5Yh0F/Mgb1V0G/hZuqtifZw==",
            "email": "admin@example.com", "permissions": ["*"], "filters": {"allow_list": []},
            "description": "", "additional_info": ""
        }],
        "groups": [{"name": "g1"}],
        "api_keys": [{"id": "sftpgo-key", "key": "x", "scope": 1, "name": "k"}],
        "version": 16
    })
}

both_backends!(
    sftpgo_dump_users_log_in_with_their_hashes,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "root", "pw-root-1", "root@example.com"]);
        let path = env.dir.path().join("sftpgo.json");
        std::fs::write(&path, serde_json::to_vec(&sftpgo_dump()).unwrap()).unwrap();
        let out = env.manage_ok(&["loaddata", &path.display().to_string()]);
        assert!(
            out.contains("users 5 added") && out.contains("1 groups"),
            "{out}"
        );
        let got = env.manage_ok(&["get-user", "sftp_pbkdf2", "--json"]);
        let got: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(got["id"], 7);
        assert_eq!(got["used_quota_files"], 3);
        assert_eq!(got["virtual_folders"][0]["mapped_path"], "/srv/shared");
        let admin: Value =
            serde_json::from_str(&env.manage_ok(&["get-user", "sftp_admin", "--json"])).unwrap();
        assert_eq!(admin["roles"], json!(["admin"]));

        let server = env.serve_in_process();
        let http = Http::new(&server);
        for (user, password) in [
            ("sftp_pbkdf2", "password"),
            ("sftp_bcrypt", "Hash-Test-1"),
            ("sftp_sha1", "Sftp-Pass1"),
            ("sftp_b64", "Sftp-Pass3"),
        ] {
            assert!(!stored_hash(env, user).starts_with("$argon2id$"));
            http.login_ok(user, password);
            assert!(stored_hash(env, user).starts_with("$argon2id$"), "{user}");
        }
        // HTTP Basic (the admin account) is a login path too: it upgrades the hash as well.
        let r = http.send(
            http.client
                .get(http.url("/api/v1/me"))
                .basic_auth("sftp_admin", Some("Sftp-Pass2")),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(stored_hash(env, "sftp_admin").starts_with("$argon2id$"));
        http.login_ok("sftp_admin", "Sftp-Pass2");
    }
);

both_backends!(
    rest_and_api_client_dump_and_load_inside_backups_path,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "root", "pw-root-1", "root@example.com"]);
        env.manage_ok(&["createuser", "adm", "pw-adm-123", "adm@example.com"]);
        env.manage_ok(&["promoteuser", "adm", "admin"]);
        let server = env.serve();
        let http = Http::new(&server);
        let root = http.login_ok("root", "pw-root-1");
        let adm = http.login_ok("adm", "pw-adm-123");
        let backups = env.data_dir().join("backups");

        let r = http.get("/api/v1/dumpdata?output_file=b1.json&indent=1", Some(&root));
        assert_eq!(
            r.json(),
            json!({"error": "", "message": "Data saved", "status": 200}),
            "{}",
            r.text
        );
        assert!(backups.join("b1.json").is_file());
        for bad in ["../escape.json", "/tmp/escape.json", "sub/../../x.json"] {
            let r = http.get(&format!("/api/v1/dumpdata?output_file={bad}"), Some(&root));
            r.assert_error(400);
        }
        http.get("/api/v1/dumpdata?output_file=b2.json", Some(&adm))
            .assert_error(403);

        let abs = backups.join("b1.json").display().to_string();
        let r = http.get(
            &format!("/api/v1/loaddata?input_file={abs}&scan_quota=2&mode=0"),
            Some(&root),
        );
        assert_eq!(
            r.json(),
            json!({"error": "", "message": "Data restored", "status": 200}),
            "{}",
            r.text
        );
        http.get(
            "/api/v1/loaddata?input_file=/etc/passwd&mode=0",
            Some(&root),
        )
        .assert_error(400);
        http.get("/api/v1/loaddata?input_file=b1.json&mode=5", Some(&root))
            .assert_error(400);

        // POST with the dump as the body; an admin may add plain users, not admins.
        let body = json!({"format": "keyward", "version": 1,
        "users": [{"username": "posted", "password": "Posted-pass-1"}]});
        let r = http.post(
            "/api/v1/loaddata?mode=1",
            &body,
            Some(&format!("Bearer {adm}")),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let body = json!({"format": "keyward", "version": 1,
        "admins": [{"username": "sneaky", "password": "Sneaky-pass-1", "roles": ["superuser"]}]});
        http.post("/api/v1/loaddata", &body, Some(&format!("Bearer {adm}")))
            .assert_error(403);
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM users WHERE username_key = 'sneaky'"),
            0
        );

        // Seed 004's client lines.
        let api = |args: &[&str]| {
            env.keyward()
                .args(["api", "-b", &server.url, "-u", "root", "-p", "pw-root-1"])
                .args(args)
                .output()
                .unwrap()
        };
        let out = api(&["dumpdata", "backup.json", "--indent", "1"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(answer["message"], "Data saved");
        let file = backups.join("backup.json").display().to_string();
        let out = api(&["loaddata", &file, "--scan-quota", "2", "--mode", "0"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            answer,
            json!({"error": "", "message": "Data restored", "status": 200})
        );
        let out = api(&[
            "convert-users",
            &fixture("userstores/ftpd.passwd").display().to_string(),
            "proftpd",
            &env.dir.path().join("pro_users.json").display().to_string(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = api(&[
            "loaddata",
            &env.dir.path().join("pro_users.json").display().to_string(),
            "--upload",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM users WHERE username_key = 'carol'"),
            1
        );
    }
);
