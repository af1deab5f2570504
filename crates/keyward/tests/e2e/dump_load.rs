//! `dumpdata` / `loaddata` at the console on both backends (issue 9, seed 004): a dump loaded
//! into a fresh installation (sharing the enckey) dumps identically and its token still
//! validates; a bad record anywhere in a file — caught while parsing or inside the load's
//! transaction — leaves the database exactly as before (dumps compared); duplicate names, an
//! unknown mode, another version and malformed JSON are refused naming what is wrong; mode 1
//! only adds.

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestEnv;
use crate::server_client::Http;

/// RFC 4226's seed; its HOTP values at counters 0 and 1.
const SEED_HEX: &str = "3132333435363738393031323334353637383930";

fn populate(env: &TestEnv) {
    env.manage_ok(&["createuser", "root", "pw-root-1", "root@example.com"]);
    env.manage_ok(&["createuser", "bob", "pw-bob-123", "bob@example.com"]);
    env.manage_ok(&["promoteuser", "bob", "helpdesk"]);
    env.manage_ok(&[
        "add-user",
        "carol",
        "--password",
        "pw-carol-1",
        "--home-dir",
        "/srv/carol",
        "--uid",
        "33",
        "--quota-files",
        "3",
        "--permissions",
        "list",
        "download",
        "--denied-ip",
        "10.0.0.0/8",
        "--expiration-date",
        "2030-01-01",
    ]);
    env.manage_ok(&[
        "token", "init", "--type", "hotp", "--otpkey", SEED_HEX, "--serial", "OATH0001", "--user",
        "carol", "--pin", "1234",
    ]);
    env.manage_ok(&["api", "createtoken", "-r", "admin", "-u", "root"]);
}

/// `dumpdata` into the test directory; the parsed document.
fn dump(env: &TestEnv, name: &str) -> Value {
    env.manage_ok(&["dumpdata", name, "--indent", "2"]);
    let text = std::fs::read_to_string(env.dir.path().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn write(env: &TestEnv, name: &str, doc: &Value) -> String {
    let path = env.dir.path().join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    path.display().to_string()
}

both_backends!(
    dumpdata_loaddata_roundtrip_into_a_fresh_installation,
    |env: &TestEnv| {
        populate(env);
        let first = dump(env, "first.json");
        assert_eq!(first["format"], "keyward");
        assert_eq!(first["version"], 1);
        for empty in ["realms", "resolvers", "policies"] {
            assert_eq!(first[empty], json!([]), "{empty}");
        }
        assert_eq!(first["users"].as_array().unwrap().len(), 1, "{first:#}");
        assert_eq!(first["admins"].as_array().unwrap().len(), 2, "{first:#}");
        assert_eq!(first["tokens"][0]["serial"], "OATH0001");
        assert_eq!(first["api_keys"].as_array().unwrap().len(), 1);
        let carol = &first["users"][0];
        assert_eq!(carol["username"], "carol");
        assert!(
            carol["password"]
                .as_str()
                .unwrap()
                .starts_with("$argon2id$")
        );
        assert_eq!(carol["home_dir"], "/srv/carol");
        let text = std::fs::read_to_string(env.dir.path().join("first.json")).unwrap();
        assert!(!text.contains("pw-carol-1") && !text.contains(SEED_HEX));

        let fresh = TestEnv::new(env.backend);
        // The same enckey: the tokens' seeds stay sealed under it.
        std::fs::create_dir_all(fresh.data_dir()).unwrap();
        std::fs::copy(
            env.data_dir().join("enckey"),
            fresh.data_dir().join("enckey"),
        )
        .unwrap();
        let src = env.dir.path().join("first.json").display().to_string();
        let out = fresh.manage_ok(&["loaddata", &src, "--mode", "0"]);
        assert!(
            out.contains("Data restored") && out.contains("users 3 added"),
            "{out}"
        );
        assert_eq!(dump(&fresh, "second.json"), first);

        // The token works in the new installation; the users log in with their passwords.
        let server = fresh.serve_in_process();
        let http = Http::new(&server);
        let r = http.send(
            http.client
                .post(http.url("/validate/check"))
                .form(&[("user", "carol"), ("pass", "1234755224")]),
        );
        let audit = fresh.manage_ok(&["audit", "list"]);
        assert_eq!(r.json()["result"]["value"], true, "{}\n{audit}", r.text);
        http.login_ok("root", "pw-root-1");
    }
);

both_backends!(a_bad_record_anywhere_changes_nothing, |env: &TestEnv| {
    populate(env);
    let before = dump(env, "before.json");
    let user = |name: &str| json!({"username": name, "password": "Plain-pass-1", "status": 1});

    // Refused while reading: a corrupt field in the middle names its record.
    let mut bad = user("u2");
    bad["status"] = json!("enabled");
    let file = write(
        env,
        "corrupt.json",
        &json!({
            "format": "keyward", "version": 1,
            "users": [user("u1"), bad, user("u3")],
        }),
    );
    let (code, err) = env.manage_err(&["loaddata", &file]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("users[1] (\"u2\")"), "{err}");

    // Refused inside the transaction, after users were written: a token whose owner exists
    // nowhere. The users of the file must be gone with it.
    let mut token = before["tokens"][0].clone();
    token["serial"] = json!("OATH0002");
    token["id"] = json!("00000000-0000-4000-8000-000000000002");
    token["seed_sealed"] = json!("");
    token["user"] = json!("nobody");
    let file = write(
        env,
        "late.json",
        &json!({
            "format": "keyward", "version": 1,
            "users": [user("u1"), user("u2")],
            "tokens": [token],
        }),
    );
    let (_, err) = env.manage_err(&["loaddata", &file]);
    assert!(
        err.contains("tokens[0] (\"OATH0002\")") && err.contains("nobody"),
        "{err}"
    );

    let cases: [(&str, Value, &str); 5] = [
        (
            "dup.json",
            json!({"format": "keyward", "version": 1,
            "users": [user("dave"), user("DAVE")]}),
            "users[1] (\"DAVE\"): duplicate of users[0]",
        ),
        (
            "version.json",
            json!({"format": "keyward", "version": 99, "users": [user("x1")]}),
            "version",
        ),
        (
            "sftpgo-version.json",
            json!({"version": 99, "users": [user("x1")]}),
            "version 99",
        ),
        (
            "hash.json",
            json!({"format": "keyward", "version": 1, "users": [
            {"username": "x2", "password": "$gy$j9T$a$b"}]}),
            "unsupported hash scheme",
        ),
        (
            "digest.json",
            json!({"version": 16, "users": [
            {"username": "x3", "password": "{MD5}5f4dcc3b5aa765d61d8327deb882cf99"}]}),
            "{MD5}",
        ),
    ];
    for (name, doc, want) in cases {
        let file = write(env, name, &doc);
        let (_, err) = env.manage_err(&["loaddata", &file]);
        assert!(err.contains(want), "{name}: {err}");
    }
    std::fs::write(env.dir.path().join("broken.json"), "{\"users\": [").unwrap();
    let (_, err) = env.manage_err(&["loaddata", "broken.json"]);
    assert!(err.contains("not valid JSON"), "{err}");
    let file = write(env, "ok.json", &json!({"format": "keyward", "version": 1}));
    let (_, err) = env.manage_err(&["loaddata", &file, "--mode", "3"]);
    assert!(err.contains("mode"), "{err}");
    let (_, err) = env.manage_err(&["loaddata", &file, "--scan-quota", "7"]);
    assert!(err.contains("scan_quota"), "{err}");

    assert_eq!(dump(env, "after.json"), before);
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'loaddata' AND success = 1"),
        0
    );
});

both_backends!(mode_1_adds_only_and_mode_0_updates, |env: &TestEnv| {
    populate(env);
    let mut doc = dump(env, "base.json");
    doc["users"][0]["home_dir"] = json!("/srv/changed");
    doc["users"]
        .as_array_mut()
        .unwrap()
        .push(json!({"username": "erin", "password": "Plain-pass-2", "home_dir": "/srv/erin"}));
    let file = write(env, "changed.json", &doc);
    let out = env.manage_ok(&["loaddata", &file, "--mode", "1"]);
    assert!(out.contains("users 1 added, 0 updated, 3 skipped"), "{out}");
    let carol = env.manage_ok(&["get-user", "carol"]);
    assert!(carol.contains("/srv/carol"), "{carol}");
    let out = env.manage_ok(&["loaddata", &file, "--mode", "0"]);
    assert!(out.contains("0 added, 4 updated"), "{out}");
    let carol = env.manage_ok(&["get-user", "carol"]);
    assert!(carol.contains("/srv/changed"), "{carol}");
    // The plain password was hashed: erin logs in with it.
    let server = env.serve_in_process();
    Http::new(&server).login_ok("erin", "Plain-pass-2");
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'loaddata' AND success = 1"),
        2
    );
});

both_backends!(scan_quota_scans_the_loaded_users_homes, |env: &TestEnv| {
    env.manage_ok(&["createuser", "root", "pw-root-1", "root@example.com"]);
    let home = env.dir.path().join("home-frank");
    std::fs::create_dir_all(home.join("sub")).unwrap();
    std::fs::write(home.join("a.txt"), b"12345").unwrap();
    std::fs::write(home.join("sub").join("b.txt"), b"678").unwrap();
    let home = home.display().to_string();
    let user = |name: &str, quota_files: i64| {
        json!({"username": name, "password": "Plain-pass-1", "home_dir": home,
            "quota_files": quota_files})
    };
    let file = write(
        env,
        "q.json",
        &json!({"format": "keyward", "version": 1,
        "users": [user("frank", 0), user("grace", 10)]}),
    );
    // 2: only users with a quota limit.
    let out = env.manage_ok(&["loaddata", &file, "--scan-quota", "2", "--json"]);
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(out["quota_scans"], 1, "{out}");
    let used = |name: &str| -> Value {
        serde_json::from_str(&env.manage_ok(&["get-user", name, "--json"])).unwrap()
    };
    assert_eq!(used("grace")["used_quota_files"], 2);
    assert_eq!(used("grace")["used_quota_size"], 8);
    assert_eq!(used("frank")["used_quota_files"], 0);
    env.manage_ok(&["loaddata", &file, "--scan-quota", "1"]);
    assert_eq!(used("frank")["used_quota_files"], 2);
});

#[test]
fn loaddata_and_audit_rotate_show_progress_at_the_console_unless_quiet() {
    let env = TestEnv::new(crate::harness::Backend::Sqlite);
    let file = env.dir.path().join("two.json");
    let dump = serde_json::json!({"format": "keyward", "version": 1, "users": [
        {"username": "p1", "password": "Pass-word-1"},
        {"username": "p2", "password": "Pass-word-2"}]});
    std::fs::write(&file, dump.to_string()).unwrap();
    let file = file.display().to_string();
    let out = env.manage(&["loaddata", &file]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.lines().any(|l| l == "loaddata: 0/2 records"), "{err}");
    assert!(
        err.lines().any(|l| l == "loaddata: 2/2 records (100%)"),
        "{err}"
    );
    let out = env.manage(&["loaddata", &file, "-q"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");

    let rotate = [
        "audit",
        "rotate",
        "--highwatermark",
        "1",
        "--lowwatermark",
        "0",
    ];
    let out = env.manage(&rotate).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.lines()
            .any(|l| l.starts_with("audit rotate ") && l.ends_with("rows (100%)")),
        "{err}"
    );
    env.manage_ok(&["loaddata", &file, "-q"]);
    let mut quiet = rotate.to_vec();
    quiet.push("--quiet");
    let out = env.manage(&quiet).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
}
