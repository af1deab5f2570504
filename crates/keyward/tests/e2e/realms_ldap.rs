//! Resolvers and realms (issue 10 §1–§2): an LDAP resolver against a real slapd — `testldap`
//! step by step (right and wrong password), `syncldap --dryrun` and `syncldap` (create, update
//! email, disable a user gone from the directory and end its sessions), login and
//! `/validate/check` as `user@realm`; an unresponsive directory fails within its timeout; the
//! resolver and realm commands with a passwd-file resolver; dumps carry realms and resolvers with
//! the bind password sealed.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::both_backends;
use crate::harness::TestEnv;
use crate::ldap_peer::{ADMIN_DN, ADMIN_PW, BASE_DN, Slapd, create_resolver, free_port};
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_client::Http;
use crate::server_validate::{accepted, check, enroll_rfc_hotp, user};

pub(crate) fn create_ldap_resolver(env: &TestEnv, uri: &str, extra: &[&str]) {
    create_resolver(env, "corp", uri, extra);
}

both_backends!(
    ldap_users_sync_log_in_and_validate_in_their_realm,
    |env: &TestEnv| {
        let Some(ldap) = Slapd::start("ldap_users_sync_log_in_and_validate_in_their_realm") else {
            return;
        };
        user(env, "admin");
        create_ldap_resolver(env, &ldap.uri(), &[]);
        env.console_ok(&["config", "realm", "create", "corp", "corp", "--default"]);
        // Seed 000's command line, each step printed.
        let out = env.manage_ok(&["testldap", "alice", "alice-secret"]);
        assert!(out.contains(&format!("[ok] bind as {ADMIN_DN}")), "{out}");
        assert!(
            out.contains("[ok] bind as uid=alice,ou=people,dc=example,dc=org"),
            "{out}"
        );
        assert!(out.contains("email alice@example.org"), "{out}");
        let bad = env
            .manage(&["testldap", "alice", "wrong"])
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(1));
        let text = String::from_utf8_lossy(&bad.stderr);
        assert!(text.contains("[FAILED] bind as uid=alice"), "{text}");
        assert!(text.contains("invalid credentials"), "{text}");
        // Dry run: the plan, nothing changed.
        let plan = env.manage_ok(&["syncldap", "--dryrun"]);
        assert!(plan.contains("create alice (alice@example.org)"), "{plan}");
        assert!(
            plan.contains("Dry run, nothing changed: 3 changes"),
            "{plan}"
        );
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM users"), 1);
        let done = env.manage_ok(&["syncldap"]);
        assert!(done.contains("3 created"), "{done}");
        // The console names a directory user as user@realm too.
        let shown = env.manage_ok(&["showuser", "alice@corp", "--json"]);
        assert!(shown.contains("\"alice\""), "{shown}");
        let (_, err) = env.manage_err(&["showuser", "alice@nosuchrealm"]);
        assert!(err.contains("does not exist"), "{err}");
        // The LDAP gateway (issue 11): the same steps against ldap_gateway_url.
        let (_, err) = env.manage_err(&["testldapgateway", "alice", "alice-secret"]);
        assert!(err.contains("ldap_gateway_url"), "{err}");
        let out = env
            .manage(&["testldapgateway", "alice", "alice-secret"])
            .env("KEYWARD_LDAP_GATEWAY_URL", ldap.uri())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains(&format!("[ok] connect to {}", ldap.uri())),
            "{text}"
        );
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM user_sources"), 3);
        // The bind password is sealed: not in the database, not in any listing.
        assert!(!env.database_text().contains(ADMIN_PW));
        assert!(
            !env.manage_ok(&["config", "resolver", "list", "--json"])
                .contains(ADMIN_PW)
        );

        let server = env.serve_in_process();
        let http = Http::new(&server);
        // The password is the directory's (an LDAP bind as the user).
        http.login_ok("alice", "alice-secret");
        http.login_ok("alice@corp", "alice-secret");
        assert_eq!(http.login("alice@corp", "wrong").status, 401);
        assert_eq!(http.login("alice@nosuchrealm", "alice-secret").status, 401);
        // A token of an LDAP user, named with its realm.
        enroll_rfc_hotp(env, "L1", "bob@corp", "12");
        assert!(accepted(
            &http,
            "bob@corp",
            &format!("12{}", oath::hotp(RFC_KEY_HEX, 0, 6))
        ));
        let v = check(&http, json!({"user": "bob@elsewhere", "pass": "12"}));
        assert_eq!(v["result"]["value"], false, "{v}");
        // Gone from the directory: disabled, its sessions end; a changed email follows.
        http.login_ok("carol", "carol-secret");
        ldap.modify(&format!("dn: uid=carol,{BASE_DN}\nchangetype: delete\n"));
        ldap.modify(&format!(
            "dn: uid=bob,{BASE_DN}\nchangetype: modify\nreplace: mail\nmail: bob@new.example.org\n"
        ));
        let done = env.manage_ok(&["syncldap"]);
        assert!(
            done.contains("disable carol (gone from the directory)"),
            "{done}"
        );
        assert!(done.contains("update email of bob"), "{done}");
        assert_eq!(
            env.query_i64("SELECT active FROM users WHERE username = 'carol'"),
            0
        );
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE u.username = 'carol'"
            ),
            0
        );
        assert_eq!(
            env.query_strings("SELECT email FROM users WHERE username = 'bob'"),
            vec![vec!["bob@new.example.org".to_string()]]
        );
        // userlist and testresolver ask the directory.
        let users = env.console_ok(&["token", "userlist", "--realm", "corp", "--username", "*"]);
        assert!(users.contains("alice") && users.contains("bob"), "{users}");
        assert!(!users.contains("carol"), "{users}");
        let tested = env.console_ok(&["token", "testresolver", "corp"]);
        assert!(tested.contains("2 users found"), "{tested}");
    }
);

#[test]
fn unresponsive_or_closed_ldap_fails_with_a_clear_error_in_time() {
    let env = TestEnv::new(crate::harness::Backend::Sqlite);
    user(&env, "admin");
    // A server that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("ldap://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(2) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(8));
    });
    create_ldap_resolver(&env, &uri, &["--timeout", "1", "--op-timeout", "1"]);
    let start = Instant::now();
    let out = env.manage(&["testldap", "alice", "pw"]).output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(&format!("[FAILED] bind as {ADMIN_DN}")),
        "{text}"
    );
    assert!(
        text.contains("timed out") || text.contains("no answer"),
        "{text}"
    );
    // The same over ldaps://: the TLS handshake gets no answer either.
    env.console_ok(&["config", "resolver", "delete", "corp"]);
    let tls_uri = uri.replace("ldap://", "ldaps://");
    create_ldap_resolver(&env, &tls_uri, &["--timeout", "1", "--op-timeout", "1"]);
    let start = Instant::now();
    let out = env.manage(&["testldap", "alice", "pw"]).output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(&format!("[FAILED] connect to {tls_uri}")),
        "{text}"
    );
    drop(held);
    // Nobody listening: the connect step says so.
    env.console_ok(&["config", "resolver", "delete", "corp"]);
    let closed = format!("ldap://127.0.0.1:{}", free_port());
    create_ldap_resolver(&env, &closed, &["--timeout", "1"]);
    let out = env.manage(&["testldap", "alice", "pw"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(&format!("[FAILED] connect to {closed}")),
        "{text}"
    );
    // syncldap changes nothing when the directory cannot be read.
    let (code, err) = env.manage_err(&["syncldap"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("LDAP resolver \"corp\""), "{err}");
}

/// A passwd-file resolver `files` over a file holding `lines`.
pub(crate) fn create_passwd_resolver(env: &TestEnv, lines: &str) {
    let passwd = env.dir.path().join("passwd");
    std::fs::write(&passwd, lines).unwrap();
    let file = passwd.display().to_string();
    env.console_ok(&[
        "config",
        "resolver",
        "create",
        "files",
        "passwdfile",
        "--file-path",
        &file,
    ]);
}

both_backends!(resolver_and_realm_commands_and_dumps, |env: &TestEnv| {
    user(env, "admin");
    create_passwd_resolver(
        env,
        "root:x:0:0:root:/root:/bin/sh\ndave:x:1001:1001:Dave Doe,,555-1234,,dave@example.org:/home/dave:/bin/sh\n",
    );
    let out = env.console_ok(&["config", "resolver", "test", "files"]);
    assert!(out.contains("2 users found"), "{out}");
    env.console_ok(&["config", "realm", "create", "local", "files", "internal"]);
    let (code, err) = env.manage_err(&["config", "resolver", "delete", "files"]);
    assert_eq!(code, 1);
    assert!(err.contains("used by realm \"local\""), "{err}");
    let (_, err) = env.manage_err(&["config", "realm", "create", "x", "nosuch"]);
    assert!(err.contains("not configured"), "{err}");
    env.console_ok(&["config", "realm", "set_default", "local"]);
    let list = env.manage_ok(&["config", "realm", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        v,
        json!([{"name": "local", "resolvers": ["files", "internal"], "default": true}])
    );
    // userlist over the realm: the file's users, then the internal ones.
    let users = env.console_ok(&["token", "userlist", "--username", "d*"]);
    assert!(users.contains("dave") && users.contains("files"), "{users}");
    let users = env.console_ok(&["token", "userlist", "--username", "admin"]);
    assert!(users.contains("internal"), "{users}");
    // An LDAP resolver (never contacted here) and its realm go into a dump, password sealed.
    let closed = format!("ldap://127.0.0.1:{}", free_port());
    create_ldap_resolver(env, &closed, &[]);
    env.console_ok(&["config", "realm", "create", "corp", "corp", "--default"]);
    env.exec(
        "INSERT INTO user_sources (user_id, resolver, external_id, synced_at) \
             SELECT id, 'corp', 'uid=admin,ou=people,dc=example,dc=org', 1 FROM users \
             WHERE username = 'admin'",
    );
    let dump = env.dir.path().join("dump.json");
    let dump_path = dump.display().to_string();
    env.manage_ok(&["dumpdata", &dump_path]);
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(
        !text.contains(ADMIN_PW),
        "the dump holds the bind password in clear"
    );
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["realms"].as_array().unwrap().len(), 2, "{doc}");
    let corp = doc["resolvers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "corp")
        .unwrap();
    assert!(!corp["bind_password_sealed"].as_str().unwrap().is_empty());
    assert_eq!(corp["users"][0]["username"], "admin");
    for args in [
        &["config", "realm", "delete", "corp"][..],
        &["config", "realm", "delete", "local"],
        &["config", "resolver", "delete", "corp"],
        &["config", "resolver", "delete", "files"],
    ] {
        env.console_ok(args);
    }
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM user_sources"), 0);
    let out = env.manage_ok(&["loaddata", &dump_path]);
    assert!(out.contains("resolvers 2 and realms 2 loaded"), "{out}");
    let list = env.manage_ok(&["config", "realm", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        v[0],
        json!({"name": "corp", "resolvers": ["corp"], "default": true})
    );
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM user_sources"), 1);
    assert!(!env.database_text().contains(ADMIN_PW));
    // Unknown realm in validate: refused, not taken as the plain name.
    let server = env.serve_in_process();
    let http = Http::new(&server);
    let v = check(&http, json!({"user": "admin@nosuch", "pass": "x"}));
    assert_eq!(v["result"]["value"], false, "{v}");
});

// A passwd-file resolver named to syncldap: its users get shadow users and log in as
// name@realm with the file's password (checked against the file, never a local hash).
both_backends!(passwd_file_users_sync_and_log_in, |env: &TestEnv| {
    user(env, "admin");
    create_passwd_resolver(
        env,
        "erin:$6$kwsalt01$o4sGjeyZxbiyMmTVW9xMe7wyiiDeKe2HjrXqGxcfMyHRuw4CU/Lo8xWqjLICxI2WyKWhvGbciBTz0yvzIar4I.:1002:1002::/home/erin:/bin/sh\n",
    );
    env.console_ok(&["config", "realm", "create", "local", "files", "internal"]);
    let plan = env.console_ok(&["syncldap", "--resolver", "files", "--dryrun"]);
    assert!(plan.contains("create erin"), "{plan}");
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM user_sources"), 0);
    env.console_ok(&["syncldap", "--resolver", "files"]);
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM user_sources"), 1);
    let server = env.serve_in_process();
    let http = Http::new(&server);
    http.login_ok("erin@local", "erinPassword1");
    http.login_ok("erin", "erinPassword1");
    assert_eq!(http.login("erin@local", "wrong-password").status, 401);
    // Her password lives in the file: keyward does not change it.
    let token = http.login_ok("erin@local", "erinPassword1");
    let body = json!({"current_password": "erinPassword1", "new_password": "erinPassword2"});
    let req = http.client.put(http.url("/api/v1/changepwd"));
    let r = http.send(req.bearer_auth(&token).json(&body));
    let v = r.assert_error(400);
    assert!(v.to_string().contains("directory"), "{v}");
    http.login_ok("erin@local", "erinPassword1");
});
