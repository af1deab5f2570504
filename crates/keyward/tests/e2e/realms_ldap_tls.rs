//! LDAP resolvers trusting a private CA (`tls_ca_file`), against a real slapd with a certificate
//! that an `openssl`-made CA signed (see `test_pki`): `testldap` and an LDAP user's login succeed
//! over ldaps:// and over StartTLS with the CA file; the same resolver without it (the system
//! roots) or with an unrelated CA fails at the connect step with a certificate error, at once,
//! and so does a certificate of the trusted CA for another host name; `no_tls_verify` still
//! connects; privacyIDEA's `CACERTIFICATE` and `TLS_CA_FILE` names work in a settings file; a CA
//! file that cannot be read or holds no certificate is refused when the resolver is created,
//! naming the field and never showing the file's contents.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::both_backends;
use crate::harness::TestEnv;
use crate::ldap_peer::{ADMIN_DN, ADMIN_PW, BASE_DN, Slapd, create_resolver};
use crate::server_client::Http;
use crate::server_validate::user;
use crate::test_pki::{TestPki, arg};

/// `testldap alice alice-secret --resolver NAME` succeeds; returns its output.
fn testldap_ok(env: &TestEnv, resolver: &str) -> String {
    let out = env.manage_ok(&["testldap", "alice", "alice-secret", "--resolver", resolver]);
    assert!(
        out.contains("[ok] bind as uid=alice,ou=people,dc=example,dc=org"),
        "{out}"
    );
    out
}

/// Timeouts longer than [`testldap_refuses_the_certificate`] waits: a refusal within that time
/// is the certificate check, not a timeout.
const PATIENT: [&str; 4] = ["--timeout", "20", "--op-timeout", "20"];

/// Why an unknown CA's certificate is refused.
const UNKNOWN_CA: &str = "the server's certificate is not signed by a trusted CA";

/// `testldap` through `resolver` (created with [`PATIENT`]) fails at the connect step, at once,
/// because the directory's certificate is not trusted, saying `why`.
fn testldap_refuses_the_certificate(env: &TestEnv, resolver: &str, why: &str) {
    let start = Instant::now();
    let out = env
        .manage(&["testldap", "alice", "alice-secret", "--resolver", resolver])
        .output()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("[FAILED] connect to"), "{text}");
    assert!(text.contains(why), "{text}");
    assert!(text.contains("tls_ca_file"), "{text}");
    assert!(!text.contains("[ok] bind"), "{text}");
}

/// Creates realm `corp` over resolver `corp`, syncs it and logs alice in over HTTP.
fn sync_and_log_in(env: &TestEnv) {
    env.console_ok(&["config", "realm", "create", "corp", "corp", "--default"]);
    let done = env.manage_ok(&["syncldap", "--resolver", "corp"]);
    assert!(done.contains("3 created"), "{done}");
    let server = env.serve_in_process();
    let http = Http::new(&server);
    http.login_ok("alice@corp", "alice-secret");
    assert_eq!(http.login("alice@corp", "wrong").status, 401);
}

both_backends!(
    ldaps_trusts_exactly_the_resolver_ca_file,
    |env: &TestEnv| {
        let pki = TestPki::new();
        let Some(ldap) = Slapd::start_with_tls("ldaps_trusts_exactly_the_resolver_ca_file", &pki)
        else {
            return;
        };
        user(env, "admin");
        let uri = ldap.tls_uri();
        create_resolver(env, "corp", &uri, &["--tls-ca-file", arg(&pki.ca)]);
        let out = testldap_ok(env, "corp");
        assert!(out.contains(&format!("[ok] connect to {uri}")), "{out}");
        sync_and_log_in(env);
        // The CA file is part of the resolver's settings; the bind password is not.
        let list = env.manage_ok(&["config", "resolver", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&list).unwrap();
        let corp = v.as_array().unwrap().iter().find(|r| r["name"] == "corp");
        assert_eq!(corp.unwrap()["config"]["tls_ca_file"], arg(&pki.ca), "{v}");
        assert!(!list.contains(ADMIN_PW));

        // The system roots do not know the private CA; an unrelated CA file is all that
        // resolver trusts.
        create_resolver(env, "system-roots", &uri, &PATIENT);
        testldap_refuses_the_certificate(env, "system-roots", UNKNOWN_CA);
        let other = [&PATIENT[..], &["--tls-ca-file", arg(&pki.other_ca)][..]].concat();
        create_resolver(env, "other-ca", &uri, &other);
        testldap_refuses_the_certificate(env, "other-ca", UNKNOWN_CA);
        // Verification off still connects (test servers only).
        create_resolver(env, "unverified", &uri, &["--no-tls-verify"]);
        testldap_ok(env, "unverified");
        // The host name is still checked: the trusted CA's certificate for another name fails.
        let misnamed = pki.misnamed();
        let elsewhere = Slapd::start_with_tls("misnamed", &misnamed).unwrap();
        let ca = [&PATIENT[..], &["--tls-ca-file", arg(&pki.ca)][..]].concat();
        create_resolver(env, "misnamed", &elsewhere.tls_uri(), &ca);
        let why = "the server's certificate is not valid for this host name";
        testldap_refuses_the_certificate(env, "misnamed", why);
    }
);

both_backends!(
    starttls_trusts_a_ca_file_given_by_its_privacyidea_name,
    |env: &TestEnv| {
        let pki = TestPki::new();
        let Some(ldap) = Slapd::start_with_tls(
            "starttls_trusts_a_ca_file_given_by_its_privacyidea_name",
            &pki,
        ) else {
            return;
        };
        user(env, "admin");
        // privacyIDEA's names: LDAPURI, START_TLS, CACERTIFICATE (a settings file).
        let file = env.dir.path().join("resolver.json");
        let settings = json!({
            "LDAPURI": ldap.uri(), "START_TLS": true, "CACERTIFICATE": arg(&pki.ca),
            "LDAPBASE": BASE_DN, "BINDDN": ADMIN_DN, "BINDPW": ADMIN_PW,
            "LDAPSEARCHFILTER": "(objectClass=inetOrgPerson)",
        });
        std::fs::write(&file, settings.to_string()).unwrap();
        env.manage_ok(&["config", "resolver", "create", "corp", "ldap", arg(&file)]);
        let out = testldap_ok(env, "corp");
        assert!(
            out.contains(&format!("[ok] connect to {} (StartTLS)", ldap.uri())),
            "{out}"
        );
        sync_and_log_in(env);
        // Its other name, TLS_CA_FILE, means the same.
        let mut settings = settings;
        let fields = settings.as_object_mut().unwrap();
        fields.remove("CACERTIFICATE");
        fields.insert("TLS_CA_FILE".into(), json!(arg(&pki.ca)));
        std::fs::write(&file, settings.to_string()).unwrap();
        env.manage_ok(&[
            "config",
            "resolver",
            "create",
            "pi-name",
            "ldap",
            arg(&file),
        ]);
        testldap_ok(env, "pi-name");

        let uri = ldap.uri();
        let system = [&PATIENT[..], &["--starttls"][..]].concat();
        create_resolver(env, "system-roots", &uri, &system);
        testldap_refuses_the_certificate(env, "system-roots", UNKNOWN_CA);
        let other = [&system[..], &["--tls-ca-file", arg(&pki.other_ca)][..]].concat();
        create_resolver(env, "other-ca", &uri, &other);
        testldap_refuses_the_certificate(env, "other-ca", UNKNOWN_CA);
        create_resolver(env, "unverified", &uri, &["--starttls", "--no-tls-verify"]);
        testldap_ok(env, "unverified");
    }
);

both_backends!(
    a_ca_file_that_cannot_work_is_refused_at_creation,
    |env: &TestEnv| {
        let pki = TestPki::new();
        user(env, "admin");
        let create = |extra: &[&str]| {
            let mut args = vec![
                "config",
                "resolver",
                "create",
                "corp",
                "ldap",
                "--uri",
                "ldaps://127.0.0.1:636",
                "--base-dn",
                BASE_DN,
            ];
            args.extend_from_slice(extra);
            env.manage_err(&args)
        };
        let missing = env.dir.path().join("no-such-ca.pem");
        let (code, err) = create(&["--tls-ca-file", arg(&missing)]);
        assert_ne!(code, 0);
        assert!(
            err.contains(&format!("tls_ca_file: cannot read {}", arg(&missing))),
            "{err}"
        );
        // A private key is PEM but no certificate: refused without a line of it in the error.
        let (_, err) = create(&["--tls-ca-file", arg(&pki.key)]);
        assert!(err.contains("tls_ca_file:"), "{err}");
        assert!(err.contains("holds no certificate"), "{err}");
        let key = std::fs::read_to_string(&pki.key).unwrap();
        for line in key.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!err.contains(line), "{err}");
        }
        let garbage = env.dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nnot base64: a-secret-line\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let (_, err) = create(&["--tls-ca-file", arg(&garbage)]);
        assert!(err.contains("tls_ca_file:"), "{err}");
        assert!(!err.contains("a-secret-line"), "{err}");
        let (_, err) = create(&["--tls-ca-file", "ca.pem"]);
        assert!(err.contains("tls_ca_file: give an absolute path"), "{err}");
        let (_, err) = create(&["--tls-ca-file", arg(&pki.ca), "--no-tls-verify"]);
        assert!(err.contains("tls_ca_file: not with no_tls_verify"), "{err}");
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM resolvers"), 0);
    }
);
