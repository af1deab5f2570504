//! Users over REST (`/api/v1/user`, SFTPGo v0.9's shape, seed 004) on both backends: the seed's
//! add / update / get / list / delete with its field values, paging in the database, a 400
//! naming the field for every kind of bad input (and nothing changed), 404 for unknown ids,
//! HTTP Basic for operators, `disconnect=1` and password changes ending sessions, the role rule,
//! one audit row per change, and the password never in an answer. (`update-user` at the console
//! with the seed's flags: `manage_user_flags`.)

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestEnv;
use crate::server_client::{Http, Resp};

/// The seed's add-user, as SFTPGo's client sends it (its `--expiration-date 2019-01-01` became
/// 1546297200000 in the seed author's time zone).
fn seed_add_body() -> Value {
    json!({
        "id": 0,
        "username": "test_username",
        "password": "test_pwd",
        "home_dir": "/tmp/test_home_dir",
        "uid": 33, "gid": 1000, "max_sessions": 2, "quota_size": 0, "quota_files": 3,
        "permissions": {
            "/": ["list", "download", "upload", "delete", "rename", "create_dirs", "overwrite"],
            "/dir1": ["list", "download"],
            "/dir2": ["*"]
        },
        "upload_bandwidth": 100, "download_bandwidth": 60, "status": 0,
        "expiration_date": 1546297200000i64,
        "filters": {
            "allowed_ip": ["192.168.1.1/32"], "denied_ip": [],
            "denied_login_methods": ["password", "keyboard-interactive"],
            "file_extensions": [
                {"path": "/dir1", "allowed_extensions": [".jpg", ".png"], "denied_extensions": []},
                {"path": "/dir2", "allowed_extensions": [".rar", ".png"], "denied_extensions": []},
                {"path": "/dir3", "allowed_extensions": [], "denied_extensions": [".zip", ".rar"]}
            ]
        },
        "filesystem": {
            "provider": 1,
            "s3config": {
                "bucket": "test", "region": "eu-west-1", "access_key": "accesskey",
                "access_secret": "secret", "endpoint": "http://127.0.0.1:9000",
                "storage_class": "Standard", "key_prefix": "vfolder/",
                "upload_part_size": 10, "upload_concurrency": 4
            },
            "gcsconfig": {}
        },
        "virtual_folders": []
    })
}

/// The seed's add-user answer, without its id and sealed secret.
pub(crate) fn seed_add_answer() -> Value {
    json!({
        "download_bandwidth": 60,
        "expiration_date": 1546297200000i64,
        "filesystem": {
            "gcsconfig": {},
            "provider": 1,
            "s3config": {
                "access_key": "accesskey", "bucket": "test",
                "endpoint": "http://127.0.0.1:9000", "key_prefix": "vfolder/",
                "region": "eu-west-1", "storage_class": "Standard",
                "upload_concurrency": 4, "upload_part_size": 10
            }
        },
        "filters": {
            "allowed_ip": ["192.168.1.1/32"],
            "denied_login_methods": ["password", "keyboard-interactive"],
            "file_extensions": [
                {"allowed_extensions": [".jpg", ".png"], "path": "/dir1"},
                {"allowed_extensions": [".rar", ".png"], "path": "/dir2"},
                {"denied_extensions": [".zip", ".rar"], "path": "/dir3"}
            ]
        },
        "gid": 1000, "home_dir": "/tmp/test_home_dir", "last_login": 0, "last_quota_update": 0,
        "max_sessions": 2,
        "permissions": {
            "/": ["list", "download", "upload", "delete", "rename", "create_dirs", "overwrite"],
            "/dir1": ["list", "download"],
            "/dir2": ["*"]
        },
        "quota_files": 3, "quota_size": 0, "status": 0, "uid": 33, "upload_bandwidth": 100,
        "used_quota_files": 0, "used_quota_size": 0, "username": "test_username"
    })
}

/// The seed's update-user body (SFTPGo's client sends the whole object).
fn seed_update_body(id: i64) -> Value {
    json!({
        "id": id, "username": "test_username", "password": "test_pwd",
        "home_dir": "/tmp/test_home_dir", "uid": 0, "gid": 33, "max_sessions": 3,
        "quota_size": 0, "quota_files": 4,
        "permissions": {"/": ["*"], "/dir1": ["list", "download", "create_symlinks"]},
        "upload_bandwidth": 90, "download_bandwidth": 80, "status": 1, "expiration_date": 0,
        "filters": {
            "allowed_ip": [], "denied_ip": ["192.168.1.0/24"], "denied_login_methods": [],
            "file_extensions": []
        },
        "filesystem": {"provider": 0, "s3config": {}, "gcsconfig": {}},
        "virtual_folders": [
            {"virtual_path": "/vdir1", "mapped_path": "/tmp/mapped1"},
            {"virtual_path": "/vdir2", "mapped_path": "/tmp/mapped2"}
        ]
    })
}

/// The seed's get-user-by-id answer after the update, without its id.
pub(crate) fn seed_get_answer() -> Value {
    json!({
        "download_bandwidth": 80, "expiration_date": 0,
        "filesystem": {"gcsconfig": {}, "provider": 0, "s3config": {}},
        "filters": {"denied_ip": ["192.168.1.0/24"]},
        "gid": 33, "home_dir": "/tmp/test_home_dir", "last_login": 0, "last_quota_update": 0,
        "max_sessions": 3,
        "permissions": {"/": ["*"], "/dir1": ["list", "download", "create_symlinks"]},
        "quota_files": 4, "quota_size": 0, "status": 1, "uid": 0, "upload_bandwidth": 90,
        "used_quota_files": 0, "used_quota_size": 0, "username": "test_username",
        "virtual_folders": [
            {"mapped_path": "/tmp/mapped1", "virtual_path": "/vdir1"},
            {"mapped_path": "/tmp/mapped2", "virtual_path": "/vdir2"}
        ]
    })
}

/// Asserts every field of `want` has its value in `got` (keyward's own fields may be extra;
/// the sealed secret is checked apart).
pub(crate) fn assert_fields(got: &Value, want: &Value) {
    let mut got = got.clone();
    if let Some(s3) = got["filesystem"]["s3config"].as_object_mut() {
        s3.remove("access_secret");
    }
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&got[k], v, "field {k} of {got:#}");
    }
}

fn send(http: &Http, method: &str, path: &str, body: Option<&Value>, auth: &str) -> Resp {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http
        .client
        .request(method, http.url(path))
        .header("Authorization", auth);
    if let Some(b) = body {
        req = req.json(b);
    }
    http.send(req)
}

/// A superuser `root` and its bearer header.
fn root(env: &TestEnv, http: &Http) -> String {
    env.manage_ok(&["createuser", "root", "pw-root-1", "root@example.com"]);
    format!("Bearer {}", http.login_ok("root", "pw-root-1"))
}

fn audit_count(env: &TestEnv, action: &str) -> i64 {
    env.query_i64(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND success = 1"
    ))
}

both_backends!(
    seed_user_object_add_update_get_list_delete,
    |env: &TestEnv| {
        let server = env.serve();
        let http = Http::new(&server);
        let auth = root(env, &http);

        let r = send(&http, "POST", "/api/v1/user", Some(&seed_add_body()), &auth);
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            !r.text.contains("test_pwd") && r.json().get("password").is_none(),
            "{}",
            r.text
        );
        let added = r.json();
        assert_fields(&added, &seed_add_answer());
        assert!(added.get("virtual_folders").is_none(), "{added:#}");
        let secret = added["filesystem"]["s3config"]["access_secret"]
            .as_str()
            .unwrap();
        assert!(
            secret.starts_with("$aes$") && !secret.contains("secret"),
            "{secret}"
        );
        let id = added["id"].as_i64().unwrap();
        assert!(id > 0);
        assert_eq!(audit_count(env, "add-user"), 1);
        let db = env.database_text();
        assert!(!db.contains("test_pwd") && !db.contains("\"access_secret\":\"secret\""));

        // The seed's update: the whole object back, with the answer SFTPGo gives.
        let path = format!("/api/v1/user/{id}");
        let r = send(&http, "PUT", &path, Some(&seed_update_body(id)), &auth);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"error": "", "message": "User updated", "status": 200})
        );
        assert_eq!(audit_count(env, "update-user"), 1);

        // By integer id and by name: the seed's get-user-by-id answer.
        for p in [path.clone(), "/api/v1/user/test_username".to_string()] {
            let r = send(&http, "GET", &p, None, &auth);
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(!r.text.contains("test_pwd"));
            let got = r.json();
            assert_fields(&got, &seed_get_answer());
            assert_eq!(got["id"], id);
        }
        // A sealed secret sent back unchanged is kept; the S3 settings are gone with provider 0.
        let r = send(
            &http,
            "GET",
            "/api/v1/user?limit=1&offset=0&username=test_username&order=DESC",
            None,
            &auth,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        let list = r.json();
        assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
        assert_fields(&list[0], &seed_get_answer());

        // The new password works (and the user is enabled now, with no address restriction
        // but the denied network).
        http.login_ok("test_username", "test_pwd");

        let r = send(&http, "DELETE", &path, None, &auth);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"error": "", "message": "User deleted", "status": 200})
        );
        assert_eq!(audit_count(env, "delete-user"), 1);
        for method in ["GET", "DELETE"] {
            let v = send(&http, method, &path, None, &auth).assert_error(404);
            assert!(
                v["error"].as_str().unwrap().contains("does not exist"),
                "{v}"
            );
        }
        send(&http, "PUT", &path, Some(&json!({"status": 1})), &auth).assert_error(404);
        // Ids are never reused.
        let r = send(&http, "POST", "/api/v1/user", Some(&seed_add_body()), &auth);
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json()["id"].as_i64().unwrap() > id);
    }
);

both_backends!(
    listing_pages_orders_and_filters_in_the_database,
    |env: &TestEnv| {
        let server = env.serve();
        let http = Http::new(&server);
        let auth = root(env, &http);
        for name in ["u3", "u1", "u5", "u2", "u4"] {
            let body = json!({"username": name, "password": "pw-12345"});
            let r = send(&http, "POST", "/api/v1/user", Some(&body), &auth);
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let names = |q: &str| -> Vec<String> {
            let r = send(&http, "GET", &format!("/api/v1/user?{q}"), None, &auth);
            assert_eq!(r.status, 200, "{q}: {}", r.text);
            r.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names("limit=2"), ["root", "u1"]);
        assert_eq!(names("limit=2&offset=2"), ["u2", "u3"]);
        assert_eq!(names("limit=3&order=DESC"), ["u5", "u4", "u3"]);
        assert_eq!(names("username=u4"), ["u4"]);
        assert_eq!(names("username=nobody"), Vec::<String>::new());
        assert_eq!(names("offset=10"), Vec::<String>::new());
        assert_eq!(names("").len(), 6);
        for (q, field) in [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("order=SIDEWAYS", "order"),
            ("limit=-1", "limit"),
        ] {
            let v = send(&http, "GET", &format!("/api/v1/user?{q}"), None, &auth).assert_error(400);
            assert!(v["error"].as_str().unwrap().contains(field), "{q}: {v}");
            assert_eq!(v["field"], json!(field), "{q}: {v}");
        }
    }
);

both_backends!(
    bad_fields_answer_400_naming_the_field_and_change_nothing,
    |env: &TestEnv| {
        let server = env.serve();
        let http = Http::new(&server);
        let auth = root(env, &http);
        let r = send(&http, "POST", "/api/v1/user", Some(&seed_add_body()), &auth);
        assert_eq!(r.status, 200, "{}", r.text);
        let before = send(&http, "GET", "/api/v1/user/test_username", None, &auth).json();
        let users = env.query_i64("SELECT COUNT(*) FROM users");
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"filters": {"allowed_ip": ["192.168.1.1"]}}),
                "filters.allowed_ip",
            ),
            (
                json!({"filters": {"denied_ip": ["10.0.0.0/33"]}}),
                "filters.denied_ip",
            ),
            (
                json!({"filters": {"denied_login_methods": ["telepathy"]}}),
                "filters.denied_login_methods",
            ),
            (json!({"permissions": {"/": ["fly"]}}), "permissions./"),
            (
                json!({"permissions": {"dir1": ["list"], "/": ["*"]}}),
                "permissions.dir1",
            ),
            (json!({"permissions": {"/dir1": ["list"]}}), "permissions"),
            (json!({"quota_size": -1}), "quota_size"),
            (json!({"quota_files": -5}), "quota_files"),
            (json!({"uid": "abc"}), "uid"),
            (json!({"status": 2}), "status"),
            (json!({"expiration_date": -1}), "expiration_date"),
            (json!({"home_dir": "relative/dir"}), "home_dir"),
            (
                json!({"filesystem": {"provider": 9}}),
                "filesystem.provider",
            ),
            (
                json!({"filesystem": {"provider": 1, "s3config": {"region": "x"}}}),
                "filesystem.s3config.bucket",
            ),
            (
                json!({"filesystem": {"provider": 1, "s3config": {"bucket": "b", "region": "r",
            "access_secret": "$aes$00ff"}}}),
                "filesystem.s3config.access_secret",
            ),
            (
                json!({"virtual_folders": [{"virtual_path": "/v", "mapped_path": "../x"}]}),
                "virtual_folders.mapped_path",
            ),
            (json!({"roles": ["emperor"]}), "roles"),
            (json!({"email": "not-an-email"}), "email"),
            (json!({"username": "someone_else"}), "username"),
        ];
        for (body, field) in &cases {
            let r = send(
                &http,
                "PUT",
                "/api/v1/user/test_username",
                Some(body),
                &auth,
            );
            let v = r.assert_error(400);
            assert!(
                v["error"].as_str().unwrap().contains(field),
                "{body}: error should name {field}: {v}"
            );
            assert_eq!(
                v["field"],
                json!(field),
                "{body}: the field, machine-readable"
            );
        }
        assert_eq!(
            send(&http, "GET", "/api/v1/user/test_username", None, &auth).json(),
            before
        );
        // Creating: the same checks, and username and password are required.
        let mut add_cases = cases;
        add_cases.retain(|(_, f)| *f != "username");
        add_cases.push((json!({"password": "x"}), "username"));
        add_cases.push((json!({"username": "nopw"}), "password"));
        for (mut body, field) in add_cases {
            if field != "username" && field != "password" {
                body["username"] = json!("fresh");
                body["password"] = json!("pw-12345");
            }
            let v = send(&http, "POST", "/api/v1/user", Some(&body), &auth).assert_error(400);
            assert!(v["error"].as_str().unwrap().contains(field), "{body}: {v}");
            assert_eq!(v["field"], json!(field), "{body}: {v}");
        }
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM users"), users);
        assert_eq!(audit_count(env, "update-user"), 0);
        send(&http, "GET", "/api/v1/user/999999", None, &auth).assert_error(404);
        send(&http, "GET", "/api/v1/user/nobody", None, &auth).assert_error(404);
        // Unauthenticated: 401 before anything.
        http.get("/api/v1/user", None).assert_error(401);
    }
);

fn basic(user: &str, password: &str) -> String {
    use data_encoding::BASE64;
    format!(
        "Basic {}",
        BASE64.encode(format!("{user}:{password}").as_bytes())
    )
}

both_backends!(http_basic_for_operator_accounts, |env: &TestEnv| {
    let server = env.serve();
    let http = Http::new(&server);
    let auth = root(env, &http);
    let body = json!({"username": "plain", "password": "pw-plain-1"});
    assert_eq!(
        send(&http, "POST", "/api/v1/user", Some(&body), &auth).status,
        200
    );

    let r = send(
        &http,
        "GET",
        "/api/v1/user",
        None,
        &basic("root", "pw-root-1"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let body = json!({"username": "viabasic", "password": "pw-12345"});
    let r = send(
        &http,
        "POST",
        "/api/v1/user",
        Some(&body),
        &basic("root", "pw-root-1"),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let v = send(&http, "GET", "/api/v1/user", None, &basic("root", "wrong")).assert_error(401);
    assert!(!v.to_string().contains("wrong"));
    send(&http, "GET", "/api/v1/user", None, &basic("nobody", "x")).assert_error(401);
    send(&http, "GET", "/api/v1/user", None, "Basic !!notbase64").assert_error(401);
    // A plain account cannot use Basic here.
    send(
        &http,
        "GET",
        "/api/v1/user",
        None,
        &basic("plain", "pw-plain-1"),
    )
    .assert_error(403);
    // Failures are audited (coalesced) as authentication failures.
    let r = send(
        &http,
        "GET",
        "/api/v1/me",
        None,
        &basic("root", "pw-root-1"),
    );
    assert_eq!(r.json()["auth"], "basic");
});

both_backends!(
    disconnect_and_password_changes_end_sessions,
    |env: &TestEnv| {
        let server = env.serve();
        let http = Http::new(&server);
        let auth = root(env, &http);
        let body = json!({"username": "bob", "password": "pw-bob-1"});
        assert_eq!(
            send(&http, "POST", "/api/v1/user", Some(&body), &auth).status,
            200
        );
        let t1 = http.login_ok("bob", "pw-bob-1");
        let t2 = http.login_ok("bob", "pw-bob-1");
        let path = "/api/v1/user/bob";
        let r = send(
            &http,
            "PUT",
            path,
            Some(&json!({"description": "x"})),
            &auth,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(http.get("/api/v1/me", Some(&t1)).status, 200);
        let r = send(
            &http,
            "PUT",
            &format!("{path}?disconnect=1"),
            Some(&json!({})),
            &auth,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        http.get("/api/v1/me", Some(&t1)).assert_error(401);
        http.get("/api/v1/me", Some(&t2)).assert_error(401);

        // The user's own change keeps the session it is made with and ends the others.
        let t1 = format!("Bearer {}", http.login_ok("bob", "pw-bob-1"));
        let t2 = http.login_ok("bob", "pw-bob-1");
        let wrong = json!({"current_password": "nope", "new_password": "pw-bob-2"});
        send(&http, "PUT", "/api/v1/changepwd", Some(&wrong), &t1).assert_error(403);
        let right = json!({"current_password": "pw-bob-1", "new_password": "pw-bob-2"});
        let r = send(&http, "PUT", "/api/v1/changepwd", Some(&right), &t1);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(send(&http, "GET", "/api/v1/me", None, &t1).status, 200);
        http.get("/api/v1/me", Some(&t2)).assert_error(401);
        http.login("bob", "pw-bob-1").assert_error(401);
        // An operator's new password ends every session of the user.
        let r = send(
            &http,
            "PUT",
            path,
            Some(&json!({"password": "pw-bob-3"})),
            &auth,
        );
        assert_eq!(r.status, 200, "{}", r.text);
        send(&http, "GET", "/api/v1/me", None, &t1).assert_error(401);
        http.login_ok("bob", "pw-bob-3");
        let out = env.manage_ok(&["resetpassword", "bob", "--password", "pw-bob-4"]);
        assert!(out.contains("1 sessions ended"), "{out}");
        http.login_ok("bob", "pw-bob-4");
        // changepassword is for signed-in accounts, not the console.
        let (code, err) = env.manage_err(&[
            "changepassword",
            "--current-password",
            "pw-bob-4",
            "--new-password",
            "pw-bob-5",
        ]);
        assert_ne!(code, 0);
        assert!(err.contains("resetpassword"), "{err}");
        let details = env.query_strings(
        "SELECT details FROM audit_log WHERE action IN ('update-user', 'changepassword', 'resetpassword')",
    );
        assert!(!format!("{details:?}").contains("pw-bob"), "{details:?}");
    }
);

both_backends!(the_role_rule_applies_to_user_editing, |env: &TestEnv| {
    let server = env.serve();
    let http = Http::new(&server);
    let auth = root(env, &http);
    for (name, roles) in [
        ("adm", json!(["admin"])),
        ("adm2", json!(["admin"])),
        ("hd", json!(["helpdesk"])),
        ("plain", json!([])),
    ] {
        let body = json!({"username": name, "password": "pw-12345", "roles": roles});
        let r = send(&http, "POST", "/api/v1/user", Some(&body), &auth);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["roles"], roles);
    }
    let adm = format!("Bearer {}", http.login_ok("adm", "pw-12345"));
    let hd = format!("Bearer {}", http.login_ok("hd", "pw-12345"));
    let change = json!({"description": "edited"});
    let r = send(&http, "PUT", "/api/v1/user/plain", Some(&change), &adm);
    assert_eq!(r.status, 200, "{}", r.text);
    for target in ["root", "adm2", "adm"] {
        let p = format!("/api/v1/user/{target}");
        send(&http, "PUT", &p, Some(&change), &adm).assert_error(403);
        send(&http, "DELETE", &p, None, &adm).assert_error(403);
    }
    // An admin grants no role at or above its own.
    let up = json!({"roles": ["admin"]});
    send(&http, "PUT", "/api/v1/user/plain", Some(&up), &adm).assert_error(403);
    let new_su = json!({"username": "sneaky", "password": "pw-12345", "roles": ["superuser"]});
    send(&http, "POST", "/api/v1/user", Some(&new_su), &adm).assert_error(403);
    // A helpdesk reads users but edits none; it resets passwords of users below it only.
    assert_eq!(
        send(&http, "GET", "/api/v1/user/plain", None, &hd).status,
        200
    );
    send(&http, "PUT", "/api/v1/user/plain", Some(&change), &hd).assert_error(403);
    send(&http, "PUT", "/api/v1/user/adm", Some(&change), &hd).assert_error(403);
    let ok = env.manage_ok(&["get-user", "plain", "--json"]);
    assert!(ok.contains("\"edited\""), "{ok}");
    // Refusals are audited.
    assert!(
        env.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'update-user' AND success = 0"
        ) >= 4
    );
});

both_backends!(
    wrong_current_passwords_are_throttled_like_logins,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "carl", "pw-carl-1", "carl@example.com"]);
        let server = env.serve();
        let http = Http::new(&server);
        let t = format!("Bearer {}", http.login_ok("carl", "pw-carl-1"));
        let hash = || env.query_strings("SELECT password_hash FROM users WHERE username = 'carl'");
        let before = hash();
        let wrong = json!({"current_password": "guess", "new_password": "pw-carl-2"});
        let statuses: Vec<u16> = (0..8)
            .map(|_| send(&http, "PUT", "/api/v1/changepwd", Some(&wrong), &t).status)
            .collect();
        assert_eq!(statuses[0], 403, "{statuses:?}");
        assert!(
            statuses.contains(&429),
            "guesses go unthrottled: {statuses:?}"
        );
        // Blocked means blocked: the right password waits too, and nothing changed.
        let right = json!({"current_password": "pw-carl-1", "new_password": "pw-carl-2"});
        let r = send(&http, "PUT", "/api/v1/changepwd", Some(&right), &t);
        r.assert_error(429);
        assert!(r.headers.get("retry-after").is_some(), "Retry-After");
        assert_eq!(hash(), before, "the password did not change");
    }
);
