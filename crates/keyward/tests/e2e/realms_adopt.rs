//! Adoption on first use, without `syncldap`: against a real slapd, a directory user gets its
//! shadow user when a token is assigned or enrolled for it (`/admin/assign`, `/admin/init`,
//! `POST /api/v1/token`, `token init --user`), or when it validates or logs in as
//! `name@realm` (or a plain name in the default realm); one audit row each. A name the
//! directory lacks, a user disabled there and a name a local user already holds are not
//! adopted and create no row; reads never adopt; concurrent first requests on two nodes make
//! one row and all are answered; names the directory lacked are remembered (asked again only
//! after a while), so they keep their answer when the directory is down. A passwd-file
//! resolver adopts the same way, and an admin policy limited to a realm judges a user not yet
//! adopted by the realm named.

use std::sync::{Arc, Barrier};

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestEnv;
use crate::ldap_peer::{BASE_DN, Slapd};
use crate::oath::{self, RFC_KEY_HEX};
use crate::realms_ldap::{create_ldap_resolver, create_passwd_resolver};
use crate::server_client::Http;
use crate::server_validate::{accepted, admin_key, admin_ok, check, key_for, user};

fn hotp(counter: u64) -> String {
    oath::hotp(RFC_KEY_HEX, counter, 6)
}

/// Adds a person to the directory (`description: disabled` when `disabled`).
fn add_person(ldap: &Slapd, uid: &str, disabled: bool) {
    let mut ldif = format!(
        "dn: uid={uid},{BASE_DN}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {uid}\n\
         cn: {uid} Example\nsn: Example\nmail: {uid}@example.org\nuserPassword: {uid}-secret\n"
    );
    if disabled {
        ldif.push_str("description: disabled\n");
    }
    ldap.modify(&ldif);
}

fn user_count(env: &TestEnv) -> i64 {
    env.query_i64("SELECT COUNT(*) FROM users")
}

/// The adoption audit rows: (actor, target), in order.
fn adoptions(env: &TestEnv) -> Vec<Vec<String>> {
    env.query_strings(
        "SELECT actor, target FROM audit_log WHERE action = 'user.adopt' AND success = 1 \
         ORDER BY id",
    )
}

/// The source of the local user `name`: (resolver, external id).
fn source_of(env: &TestEnv, name: &str) -> Vec<Vec<String>> {
    env.query_strings(&format!(
        "SELECT s.resolver, s.external_id FROM user_sources s JOIN users u ON u.id = s.user_id \
         WHERE u.username = '{name}'"
    ))
}

/// A validation that was answered (not an error) and rejected.
fn rejected(http: &Http, params: Value) {
    let v = check(http, params);
    assert_eq!(v["result"]["status"], true, "{v}");
    assert_eq!(v["result"]["value"], false, "{v}");
}

fn corp_with_ldap(env: &TestEnv, ldap: &Slapd) {
    create_ldap_resolver(
        env,
        &ldap.uri(),
        &["--disabled-filter", "(description=disabled)"],
    );
    env.console_ok(&["config", "realm", "create", "corp", "corp"]);
}

both_backends!(ldap_users_are_adopted_on_first_use, |env: &TestEnv| {
    let Some(ldap) = Slapd::start("ldap_users_are_adopted_on_first_use") else {
        return;
    };
    user(env, "admin");
    // A local user holding a directory user's name: never taken over.
    user(env, "carol");
    corp_with_ldap(env, &ldap);
    add_person(&ldap, "dave", true);
    for uid in ["erin", "frank", "grace"] {
        add_person(&ldap, uid, false);
    }
    let key = admin_key(env);
    let bearer = format!("Bearer {key}");
    env.console_ok(&[
        "token",
        "init",
        "--serial",
        "A1",
        "--otpkey",
        RFC_KEY_HEX,
        "--pin",
        "12",
    ]);
    // A disabled token, so that its owner logs in with the password alone.
    env.console_ok(&["token", "init", "--serial", "A2", "--genkey"]);
    env.console_ok(&["token", "disable", "A2"]);
    // Reads never adopt.
    let (_, err) = env.manage_err(&["showuser", "bob@corp"]);
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(user_count(env), 2);

    let server = env.serve_in_process();
    let http = Http::new(&server);
    // Assigning a token to bob@corp adopts bob: the shadow user syncldap would make.
    admin_ok(
        &http,
        &key,
        "assign",
        json!({"serial": "A1", "user": "bob@corp"}),
    );
    assert_eq!(
        source_of(env, "bob"),
        vec![vec!["corp".to_string(), format!("uid=bob,{BASE_DN}")]]
    );
    assert_eq!(
        env.query_strings("SELECT email, roles FROM users WHERE username = 'bob'"),
        vec![vec!["bob@example.org".to_string(), String::new()]]
    );
    assert_eq!(
        adoptions(env),
        vec![vec!["resolver:corp".to_string(), "bob".to_string()]]
    );
    assert!(accepted(&http, "bob@corp", &format!("12{}", hotp(0))));
    let v = check(
        &http,
        json!({"user": "bob", "realm": "corp", "pass": format!("12{}", hotp(1))}),
    );
    assert_eq!(v["result"]["value"], true, "{v}");

    // LinOTP's separate `realm` parameter of /admin/assign names alice of corp (not the
    // default realm, which corp is not): she is adopted; logging in as alice@corp finds her,
    // with the directory's password.
    admin_ok(
        &http,
        &key,
        "assign",
        json!({"serial": "A2", "user": "alice", "realm": "corp"}),
    );
    assert_eq!(
        adoptions(env)[1],
        vec!["resolver:corp".to_string(), "alice".to_string()]
    );
    http.login_ok("alice@corp", "alice-secret");
    assert_eq!(http.login("alice@corp", "wrong").status, 401);
    assert_eq!(source_of(env, "alice")[0][0], "corp");

    // Enrolling for erin (LinOTP user + realm), frank (REST) and grace (console) adopts them.
    admin_ok(
        &http,
        &key,
        "init",
        json!({"type": "hmac", "serial": "E1", "otpkey": RFC_KEY_HEX, "user": "erin", "realm": "corp"}),
    );
    let body = json!({"type": "hotp", "serial": "F1", "otpkey": RFC_KEY_HEX, "user": "frank@corp"});
    let r = http.send(
        http.client
            .post(http.url("/api/v1/token"))
            .header("Authorization", &bearer)
            .json(&body),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    env.console_ok(&[
        "token",
        "init",
        "--serial",
        "G1",
        "--otpkey",
        RFC_KEY_HEX,
        "--user",
        "grace@corp",
    ]);
    for name in ["erin", "frank", "grace"] {
        assert_eq!(source_of(env, name)[0][0], "corp", "{name}");
    }
    assert!(accepted(&http, "frank@corp", &hotp(0)));
    assert_eq!(adoptions(env).len(), 5);
    let before = user_count(env);

    // Not adopted, no row: a name the directory lacks, a user disabled there, a name a local
    // user from elsewhere holds.
    for name in ["nobody@corp", "dave@corp", "carol@corp"] {
        rejected(&http, json!({"user": name, "pass": "12345678"}));
    }
    assert_eq!(http.login("dave@corp", "dave-secret").status, 401);
    assert_eq!(http.login("carol@corp", "carol-secret").status, 401);
    let (_, err) = env.manage_err(&["token", "init", "--genkey", "--user", "nobody@corp"]);
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(user_count(env), before);
    assert_eq!(adoptions(env).len(), 5);
    assert!(source_of(env, "carol").is_empty(), "carol stays internal");
    http.login_ok("carol", "pw-12345");

    // A plain name is a user of the default realm.
    env.console_ok(&["config", "realm", "set_default", "corp"]);
    add_person(&ldap, "henry", false);
    http.login_ok("henry", "henry-secret");
    assert_eq!(source_of(env, "henry")[0][0], "corp");

    // The directory goes away: adopted users still validate (no directory asked), a name just
    // found missing keeps its answer, a name never asked cannot be resolved now.
    rejected(&http, json!({"user": "nobody@corp", "pass": "x"}));
    drop(ldap);
    assert!(accepted(&http, "bob@corp", &format!("12{}", hotp(2))));
    rejected(&http, json!({"user": "nobody@corp", "pass": "x"}));
    let v = check(&http, json!({"user": "zed@corp", "pass": "x"}));
    assert_eq!(v["result"]["status"], false, "{v}");
    assert!(
        v["result"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("LDAP resolver \"corp\""),
        "{v}"
    );
    assert_eq!(user_count(env), before + 1);
    // No secret of the directory or the users in the adoption rows.
    let rows = env
        .query_strings("SELECT actor, target, details FROM audit_log WHERE action = 'user.adopt'");
    let text = format!("{rows:?}");
    assert!(
        !text.contains("secret") && !text.contains("adminpw"),
        "{text}"
    );
});

both_backends!(
    concurrent_first_requests_on_two_nodes_adopt_one_user,
    |env: &TestEnv| {
        let Some(ldap) = Slapd::start("concurrent_first_requests_on_two_nodes_adopt_one_user")
        else {
            return;
        };
        user(env, "admin");
        corp_with_ldap(env, &ldap);
        let nodes = [
            env.serve_in_process_with_env(&[("KEYWARD_NODE_ID", "node-a")]),
            env.serve_in_process_with_env(&[("KEYWARD_NODE_ID", "node-b")]),
        ];
        let urls: Vec<String> = nodes.iter().map(|n| Http::new(n).base).collect();
        // Three first validations of bob and three first logins of alice on each node, at once.
        let barrier = Arc::new(Barrier::new(12));
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let url = urls[i % 2].clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(std::time::Duration::from_secs(60))
                        .build()
                        .unwrap();
                    barrier.wait();
                    if i % 4 < 2 {
                        let r = client
                            .post(format!("{url}/validate/check"))
                            .json(&json!({"user": "bob@corp", "pass": "12345678"}))
                            .send()
                            .unwrap();
                        let status = r.status().as_u16();
                        let v: Value = r.json().unwrap();
                        assert_eq!(status, 200, "{v}");
                        assert_eq!(v["result"]["status"], true, "{v}");
                        assert_eq!(v["result"]["value"], false, "{v}");
                    } else {
                        let r = client
                            .post(format!("{url}/auth/login"))
                            .json(&json!({"username": "alice@corp", "password": "alice-secret"}))
                            .send()
                            .unwrap();
                        let status = r.status().as_u16();
                        assert_eq!(status, 200, "{}", r.text().unwrap());
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        for name in ["alice", "bob"] {
            assert_eq!(
                env.query_i64(&format!(
                    "SELECT COUNT(*) FROM users WHERE username = '{name}'"
                )),
                1
            );
            assert_eq!(source_of(env, name).len(), 1, "{name}");
        }
        let mut adopted: Vec<String> = adoptions(env).into_iter().map(|r| r[1].clone()).collect();
        adopted.sort();
        assert_eq!(adopted, ["alice", "bob"]);
        // All six logins opened a session for the one alice.
        assert_eq!(
            env.query_i64(
                "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE u.username = 'alice'"
            ),
            6
        );
    }
);

// erin's and frank's hash is SHA-512 crypt of "erinPassword1".
both_backends!(
    passwd_file_users_are_adopted_on_first_use,
    |env: &TestEnv| {
        user(env, "admin");
        let hash = "$6$kwsalt01$o4sGjeyZxbiyMmTVW9xMe7wyiiDeKe2HjrXqGxcfMyHRuw4CU/Lo8xWqjLICxI2WyKWhvGbciBTz0yvzIar4I.";
        create_passwd_resolver(
            env,
            &format!(
                "erin:{hash}:1002:1002::/home/erin:/bin/sh\n\
             frank:{hash}:1003:1003:Frank,,,,frank@example.org:/home/frank:/bin/sh\n"
            ),
        );
        env.console_ok(&[
            "config",
            "realm",
            "create",
            "local",
            "files",
            "internal",
            "--default",
        ]);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        // Logging in adopts erin; enrolling a token for the plain name frank (default realm)
        // adopts frank, who then validates.
        http.login_ok("erin@local", "erinPassword1");
        env.console_ok(&[
            "token",
            "init",
            "--serial",
            "P1",
            "--otpkey",
            RFC_KEY_HEX,
            "--user",
            "frank",
        ]);
        assert!(accepted(&http, "frank", &hotp(0)));
        assert_eq!(
            source_of(env, "erin"),
            vec![vec!["files".to_string(), "1002".to_string()]]
        );
        assert_eq!(
            source_of(env, "frank"),
            vec![vec!["files".to_string(), "1003".to_string()]]
        );
        assert_eq!(
            env.query_strings("SELECT email FROM users WHERE username = 'frank'"),
            vec![vec!["frank@example.org".to_string()]]
        );
        assert_eq!(
            adoptions(env),
            vec![
                vec!["resolver:files".to_string(), "erin".to_string()],
                vec!["resolver:files".to_string(), "frank".to_string()],
            ]
        );
        // A name the file lacks: no user, no row.
        rejected(&http, json!({"user": "nobody", "pass": "x"}));
        assert_eq!(http.login("nobody@local", "erinPassword1").status, 401);
        assert_eq!(user_count(env), 3);
        assert_eq!(adoptions(env).len(), 2);
    }
);

// An admin policy limiting a helpdesk account to realm north: it may enrol a token for (and so
// adopt) a directory user of north, not of south; the refusal adopts no one.
both_backends!(
    an_admin_policy_judges_a_user_to_adopt_by_the_realm_named,
    |env: &TestEnv| {
        user(env, "admin");
        user(env, "carol");
        env.console_ok(&["promoteuser", "carol", "helpdesk"]);
        create_passwd_resolver(env, "erin:x:1002:1002::/home/erin:/bin/sh\n");
        let south = env.dir.path().join("passwd-south");
        std::fs::write(&south, "frank:x:1003:1003::/home/frank:/bin/sh\n").unwrap();
        let south = south.display().to_string();
        env.console_ok(&[
            "config",
            "resolver",
            "create",
            "south",
            "passwdfile",
            "--file-path",
            &south,
        ]);
        env.console_ok(&["config", "realm", "create", "north", "files"]);
        env.console_ok(&["config", "realm", "create", "south", "south"]);
        env.console_ok(&[
            "config",
            "policy",
            "create",
            "helpdesk-north",
            "admin",
            "init",
            "--realm",
            "north",
            "--adminuser",
            "carol",
        ]);
        let carol = key_for(env, "carol");
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let init = |user: &str| {
            http.post(
                "/admin/init",
                &json!({"type": "hmac", "genkey": "1", "user": user}),
                Some(&format!("Bearer {carol}")),
            )
        };
        let r = init("erin@north");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["result"]["status"], true, "{}", r.text);
        assert_eq!(source_of(env, "erin")[0][0], "files");
        assert_eq!(init("frank@south").status, 403);
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM users WHERE username = 'frank'"),
            0
        );
        assert_eq!(
            adoptions(env),
            vec![vec!["resolver:files".to_string(), "erin".to_string()]]
        );
    }
);
