//! Policies (seed 001's `config policy …`, `config export/import -t policy`) on both backends:
//! the commands and their refusals, the export → import → export round trip and the
//! `dumpdata`/`loaddata` copy, and each enforced action changing an outcome — `api_key_required`,
//! `otppin`, `lockout`, `passthru` at `/validate/check`, `otp_length`/`hashlib` at enrollment,
//! and an admin policy limiting a helpdesk account to one realm's tokens over `/admin/*`.

use serde_json::json;

use crate::both_backends;
use crate::harness::TestEnv;
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_client::Http;
use crate::server_validate::{accepted, enroll_rfc_hotp, key_for, user};

fn console_err(env: &TestEnv, args: &[&str]) -> String {
    match keyward_testkit::console(&env.settings(&[]), args) {
        Ok(out) => panic!("console {args:?} succeeded: {}", out.text),
        Err(e) => e.to_string(),
    }
}

fn hotp(counter: u64) -> String {
    oath::hotp(RFC_KEY_HEX, counter, 6)
}

both_backends!(
    policy_commands_round_trip_through_export_and_dumps,
    |env: &TestEnv| {
        env.console_ok(&[
            "config",
            "policy",
            "create",
            "helpdesk-north",
            "admin",
            "enable, disable",
            "--realm",
            "North",
            "--adminuser",
            "carol",
        ]);
        env.console_ok(&[
            "config",
            "policy",
            "create",
            "office",
            "authentication",
            "otppin=userstore, passthru",
            "--client",
            "10.0.0.0/8,!10.6.6.6",
            "--priority",
            "2",
        ]);
        let file = env.dir.path().join("pol.json");
        std::fs::write(
        &file,
        r#"{"action": {"otp_length": "8", "hashlib": "sha256"}, "realm": "north", "active": false}"#,
    )
    .unwrap();
        env.console_ok(&[
            "config",
            "policy",
            "create",
            "enrol",
            "enrollment",
            "hashlib=sha1",
            "-f",
            file.to_str().unwrap(),
        ]);
        env.console_ok(&["config", "policy", "disable", "office"]);
        env.console_ok(&["config", "policy", "enable", "office"]);
        // Unknown scope, action or value: a clear error, nothing changed.
        let before = env.query_i64("SELECT COUNT(*) FROM policies");
        for (args, says) in [
            (["x", "admins", "enable"], "unknown policy scope"),
            (
                ["x", "authorization", "api_key_requird"],
                "api_key_required",
            ),
            (
                ["x", "authentication", "otppin=sometimes"],
                "tokenpin, userstore, none",
            ),
        ] {
            let e = console_err(
                env,
                &[&["config", "policy", "create"][..], &args[..]].concat(),
            );
            assert!(e.contains(says), "{e}");
        }
        assert!(
            console_err(env, &["config", "policy", "delete", "nope"]).contains("does not exist")
        );
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM policies"), before);
        let list = env.console_ok(&["config", "policy", "list"]);
        assert!(
            list.contains("helpdesk-north") && list.contains("adminuser=carol"),
            "{list}"
        );
        assert!(list.contains("hashlib=sha256, otp_length=8"), "{list}");

        let exported = env.dir.path().join("export.json");
        env.console_ok(&[
            "config",
            "export",
            "-t",
            "policy",
            "-o",
            exported.to_str().unwrap(),
        ]);
        let first = std::fs::read_to_string(&exported).unwrap();
        assert!(
            first.contains("\"!10.6.6.6/32\"") && first.contains("\"north\""),
            "{first}"
        );
        let dump = env.dir.path().join("dump.json");
        env.console_ok(&["dumpdata", dump.to_str().unwrap()]);

        // Into an empty installation: the same export, byte for byte; again from the dump.
        for how in ["import", "loaddata"] {
            let other = TestEnv::new(env.backend);
            match how {
                "import" => other.console_ok(&[
                    "config",
                    "import",
                    "-t",
                    "policy",
                    "-i",
                    exported.to_str().unwrap(),
                ]),
                _ => other.console_ok(&["loaddata", dump.to_str().unwrap()]),
            };
            let again = other.console_ok(&["config", "export", "-t", "policy"]);
            assert_eq!(again, first, "{how}");
        }
        // Importing again keeps what exists unless -u; --cleanup starts from none.
        env.console_ok(&["config", "policy", "delete", "enrol"]);
        let out = env.console_ok(&[
            "config",
            "import",
            "-t",
            "policy",
            "-i",
            exported.to_str().unwrap(),
        ]);
        assert!(out.contains("1 added, 0 updated, 2 skipped"), "{out}");
        assert!(
            console_err(env, &["config", "import", "-t", "realm", "-i", "x"])
                .contains("unknown configuration type")
        );
    }
);

both_backends!(
    authentication_and_authorization_policies_change_validation,
    |env: &TestEnv| {
        user(env, "alice");
        user(env, "bob");
        enroll_rfc_hotp(env, "H1", "alice", "1234");
        let server = env.serve_in_process();
        let http = Http::new(&server);
        // Policies made at the console reach the running server at its next reload; the test
        // drops the server's copy instead of waiting for it.
        let policy = |args: &[&str]| {
            env.console_ok(&[&["config", "policy"][..], args].concat());
            server.state().shared.policies.invalidate();
        };
        // passthru: bob has no token.
        assert!(!accepted(&http, "bob", "pw-12345"));
        policy(&[
            "create",
            "pt",
            "authentication",
            "passthru",
            "--user",
            "bob",
        ]);
        assert!(accepted(&http, "bob", "pw-12345"));
        // Guessing is braked: after five failures even the right password waits.
        for _ in 0..5 {
            assert!(!accepted(&http, "bob", "wrong-password"));
        }
        assert!(!accepted(&http, "bob", "pw-12345"), "throttled");
        // otppin=none: the OTP alone; the PIN in front is now wrong.
        policy(&["create", "pin", "authentication", "otppin=none"]);
        assert!(!accepted(&http, "alice", &format!("1234{}", hotp(0))));
        assert!(accepted(&http, "alice", &hotp(0)));
        // otppin=userstore: the user's password in front.
        policy(&["create", "pin", "authentication", "otppin=userstore"]);
        assert!(!accepted(&http, "alice", &format!("1234{}", hotp(1))));
        assert!(accepted(&http, "alice", &format!("pw-12345{}", hotp(1))));
        policy(&["delete", "pin"]);
        // lockout=2: two failures lock the token (its own MaxFailCount is 10).
        policy(&["create", "lock", "authentication", "lockout=2"]);
        assert!(!accepted(&http, "alice", "1234000000"));
        assert!(!accepted(&http, "alice", "1234000000"));
        assert!(
            !accepted(&http, "alice", &format!("1234{}", hotp(2))),
            "locked"
        );
        policy(&["disable", "lock"]);
        assert!(accepted(&http, "alice", &format!("1234{}", hotp(2))));
        // api_key_required for one client network only.
        policy(&[
            "create",
            "key",
            "authorization",
            "api_key_required",
            "--client",
            "192.0.2.0/24",
        ]);
        assert!(accepted(&http, "alice", &format!("1234{}", hotp(3))));
        policy(&[
            "create",
            "key",
            "authorization",
            "api_key_required",
            "--client",
            "127.0.0.0/8",
        ]);
        let r = http.post(
            "/validate/check",
            &json!({"user": "alice", "pass": format!("1234{}", hotp(4))}),
            None,
        );
        assert_eq!(r.json()["result"]["status"], false, "{}", r.text);
        let key = env.console_ok(&["api", "createtoken", "-r", "validate"]);
        let key = key
            .lines()
            .find_map(|l| l.strip_prefix("Auth-Token: "))
            .unwrap()
            .to_string();
        let r = http.post(
            "/validate/check",
            &json!({"user": "alice", "pass": format!("1234{}", hotp(4))}),
            Some(&format!("Bearer {key}")),
        );
        assert_eq!(r.json()["result"]["value"], true, "{}", r.text);
    }
);

both_backends!(enrollment_policies_set_token_defaults, |env: &TestEnv| {
    user(env, "alice");
    env.console_ok(&[
        "config",
        "policy",
        "create",
        "long",
        "enrollment",
        "otp_length=8, totp_hashlib=sha256",
    ]);
    env.console_ok(&[
        "token", "init", "--type", "totp", "--genkey", "--serial", "T1", "--user", "alice",
    ]);
    env.console_ok(&[
        "token", "init", "--type", "hotp", "--genkey", "--serial", "H1", "--otplen", "6",
    ]);
    let rows = env
        .query_strings("SELECT serial, CAST(otplen AS TEXT), hashlib FROM tokens ORDER BY serial");
    assert_eq!(
        rows,
        vec![
            vec!["H1".to_string(), "6".into(), "sha1".into()],
            vec!["T1".to_string(), "8".into(), "sha256".into()],
        ]
    );
});

both_backends!(
    an_admin_policy_limits_a_helpdesk_account_to_one_realm,
    |env: &TestEnv| {
        for name in ["root", "carol", "dave", "alice", "bob"] {
            user(env, name);
        }
        env.console_ok(&["promoteuser", "carol", "helpdesk"]);
        env.console_ok(&["promoteuser", "dave", "helpdesk"]);
        for (serial, owner, realm) in [("N1", "alice", "north"), ("S1", "bob", "south")] {
            env.console_ok(&[
                "token",
                "init",
                "--genkey",
                "--serial",
                serial,
                "--user",
                owner,
                "--tokenrealm",
                realm,
            ]);
        }
        env.console_ok(&[
            "config",
            "policy",
            "create",
            "helpdesk-north",
            "admin",
            "enable, disable",
            "--realm",
            "north",
            "--adminuser",
            "carol",
        ]);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        let carol = key_for(env, "carol");
        let dave = key_for(env, "dave");
        // Allowed, or refused with HTTP 403 (LinOTP's -311) and nothing changed.
        let run = |key: &str, endpoint: &str, serial: &str| {
            let r = http.post(
                &format!("/admin/{endpoint}"),
                &json!({ "serial": serial }),
                Some(&format!("Bearer {key}")),
            );
            match r.status {
                200 => true,
                403 => false,
                other => panic!("/admin/{endpoint}: {other} {}", r.text),
            }
        };
        assert!(run(&carol, "disable", "N1"));
        assert!(!run(&carol, "disable", "S1"), "another realm's token");
        assert!(
            !run(&carol, "reset", "N1"),
            "an action the policy does not name"
        );
        assert!(
            run(&dave, "disable", "S1"),
            "policies naming carol leave dave to his role"
        );
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM tokens WHERE active = 0"),
            2
        );
        // The refusal is the registry's, on every transport, and audited.
        let refused = env.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'token disable' AND success = 0 \
         AND details LIKE '%admin policies%'",
        );
        assert_eq!(refused, 1);
    }
);
