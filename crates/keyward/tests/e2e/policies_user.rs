//! User-scope policies on both backends: with no user policy, every user may change its own
//! password (`PUT /api/v1/changepwd`); once a user policy applies to a user, it must name
//! `password`. A policy naming only privacyIDEA self-service actions keyward has no use for
//! (`enrollHOTP`) still applies, and so withholds the password change; the refusal is a 403 and
//! is audited, and nothing changes.

use serde_json::{Value, json};

use crate::both_backends;
use crate::server_client::{Http, Resp};
use crate::server_validate::user;

fn change(http: &Http, token: &str, current: &str, new: &str) -> Resp {
    let body: Value = json!({"current_password": current, "new_password": new});
    let req = http
        .client
        .put(http.url("/api/v1/changepwd"))
        .bearer_auth(token)
        .json(&body);
    http.send(req)
}

both_backends!(
    user_policies_decide_who_may_change_its_password,
    |env: &TestEnv| {
        user(env, "alice");
        user(env, "bob");
        let server = env.serve_in_process();
        let http = Http::new(&server);
        // No user policy: everyone may.
        let alice = http.login_ok("alice", "pw-12345");
        assert_eq!(change(&http, &alice, "pw-12345", "pw-alice-2").status, 200);

        // A policy for bob naming only a self-service action keyward does not offer: it applies
        // to bob, so bob may no longer change his password; alice is not concerned.
        env.console_ok(&[
            "config",
            "policy",
            "create",
            "bob-tokens",
            "user",
            "enrollHOTP",
            "--user",
            "bob",
        ]);
        // The server re-reads the policies at most once a second.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let listed = env.console_ok(&["config", "policy", "list"]);
        assert!(listed.contains("enrollHOTP"), "{listed}");
        let bob = http.login_ok("bob", "pw-12345");
        let r = change(&http, &bob, "pw-12345", "pw-bob-2");
        let v = r.assert_error(403);
        assert!(v.to_string().contains("no user policy allows"), "{v}");
        http.login_ok("bob", "pw-12345");
        let alice = http.login_ok("alice", "pw-alice-2");
        assert_eq!(
            change(&http, &alice, "pw-alice-2", "pw-alice-3").status,
            200
        );
        let refused = env.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'changepassword' AND success = 0",
        );
        assert_eq!(refused, 1, "the refusal is audited");

        // A policy naming `password` gives it back (both apply; one names it).
        env.console_ok(&[
            "config", "policy", "create", "bob-pw", "user", "password", "--user", "bob",
        ]);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(change(&http, &bob, "pw-12345", "pw-bob-2").status, 200);
        http.login_ok("bob", "pw-bob-2");

        // A policy file of privacyIDEA's with user actions imports as it is.
        let file = env.dir.path().join("user-pol.json");
        std::fs::write(
            &file,
            r#"{"policy": {"self": {"scope": "user", "action": "enrollTOTP, disable, password",
                "realm": "", "user": "", "resolver": "", "client": "", "active": true}}}"#,
        )
        .unwrap();
        env.console_ok(&[
            "config",
            "import",
            "-t",
            "policy",
            "-i",
            file.to_str().unwrap(),
        ]);
        let exported = env.console_ok(&["config", "export", "-t", "policy"]);
        assert!(exported.contains("enrollTOTP"), "{exported}");
    }
);
