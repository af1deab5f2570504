//! API keys (pi-manage `api createtoken`, seed 001) on both backends: the key is printed once,
//! stored hashed, works as `Bearer KEY` or raw `Authorization: KEY`, can be listed without its
//! secret, revoked, and is revoked by `reissuetoken`; `validate` keys do not open the REST API.

use crate::both_backends;
use crate::server_client::Http;

/// The key and its id from `api createtoken` output.
fn created(out: &str) -> (String, String) {
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .trim()
            .to_string()
    };
    (field("Auth-Token:"), field("Key id:"))
}

both_backends!(
    admin_key_works_as_bearer_or_raw_until_revoked,
    |env: &TestEnv| {
        let out = env.manage_ok(&["api", "createtoken", "-r", "admin"]);
        assert!(out.contains("Role:       admin"), "{out}");
        assert!(out.contains("Validity:   365 days"), "{out}");
        let user = out
            .lines()
            .find_map(|l| l.strip_prefix("Username:"))
            .unwrap()
            .trim()
            .to_string();
        assert!(user.starts_with("API_ADMIN_"), "{user}");
        let (key, id) = created(&out);
        assert!(key.starts_with(&format!("kw_{id}_")), "{key}");

        let server = env.serve_in_process();
        let http = Http::new(&server);
        let me = http.get("/api/v1/me", Some(&key));
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.json()["username"], user.as_str());
        assert_eq!(me.json()["auth"], "api_key");
        let raw = http.send(
            http.client
                .get(http.url("/api/v1/connections"))
                .header("Authorization", &key),
        );
        assert_eq!(raw.status, 200, "{}", raw.text);

        let list = env.manage_ok(&["api", "list"]);
        assert!(list.contains(&id) && list.contains("active"), "{list}");
        let secret = key.rsplit_once('_').unwrap().1;
        assert!(!list.contains(secret));
        assert!(!env.manage_ok(&["api", "list", "--json"]).contains(secret));
        assert_eq!(
            env.query_i64(&format!(
                "SELECT COUNT(*) FROM api_keys WHERE key_hash = '{key}' OR key_hash LIKE '%{secret}%'"
            )),
            0
        );

        assert_eq!(
            env.manage_ok(&["api", "revoke", &id]),
            format!("Revoked API key \"{id}\"\n")
        );
        http.get("/api/v1/me", Some(&key)).assert_error(401);
        assert!(env.manage_ok(&["api", "list"]).contains("revoked"));
        let (code, err) = env.manage_err(&["api", "revoke", &id]);
        assert_eq!(code, 1);
        assert!(err.contains("no active API key"), "{err}");
    }
);

both_backends!(validate_keys_do_not_open_the_rest_api, |env: &TestEnv| {
    let out = env.manage_ok(&["api", "createtoken", "-r", "validate", "-d", "30"]);
    assert!(out.contains("Validity:   30 days"), "{out}");
    let (key, _) = created(&out);
    let server = env.serve_in_process();
    let http = Http::new(&server);
    http.get("/api/v1/me", Some(&key)).assert_error(403);
    http.get("/api/v1/connections", Some(&key))
        .assert_error(403);
});

both_backends!(
    reissuetoken_revokes_the_users_api_keys_and_sessions,
    |env: &TestEnv| {
        env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
        let (key, _) = created(&env.manage_ok(&[
            "api",
            "createtoken",
            "-r",
            "admin",
            "-u",
            "alice",
            "-R",
            "corp",
        ]));
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let session = http.login_ok("alice", "pw-alice");
        assert_eq!(http.get("/api/v1/me", Some(&key)).status, 200);
        assert_eq!(
            env.manage_ok(&["reissuetoken", "alice"]),
            "Re-issued token for user \"alice\": revoked 1 sessions and 1 API keys\n"
        );
        http.get("/api/v1/me", Some(&key)).assert_error(401);
        http.get("/api/v1/me", Some(&session)).assert_error(401);
    }
);

both_backends!(
    createtoken_rejects_bad_roles_and_validity,
    |env: &TestEnv| {
        for args in [
            vec!["api", "createtoken", "-r", "root"],
            vec!["api", "createtoken", "-r", "admin", "-d", "0"],
            vec!["api", "createtoken"],
        ] {
            let (code, err) = env.manage_err(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
        }
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM api_keys"), 0);
    }
);

both_backends!(a_disabled_named_user_cannot_use_its_key, |env: &TestEnv| {
    env.manage_ok(&["createuser", "root", "pw-root", "root@example.com"]);
    env.manage_ok(&["createuser", "alice", "pw-alice", "alice@example.com"]);
    let (key, _) = created(&env.manage_ok(&["api", "createtoken", "-r", "admin", "-u", "alice"]));
    let server = env.serve_in_process();
    let http = Http::new(&server);
    assert_eq!(http.get("/api/v1/me", Some(&key)).status, 200);
    env.manage_ok(&["disableuser", "alice"]);
    http.get("/api/v1/me", Some(&key)).assert_error(401);
});
