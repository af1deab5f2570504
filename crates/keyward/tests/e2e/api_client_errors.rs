//! `keyward api` and `keyward manage --remote` when things go wrong: bad flags exit 2 naming the
//! flag before any request, HTTP and connection failures are told in words (refused, 401, the
//! management endpoint off), and TLS verification with a test CA (`--cacert`, `SSL_CERT_FILE`,
//! `--insecure` with its warning).

use serde_json::Value;

use crate::api_client::{ROOT_PASSWORD, ack, api, server_with_root};
use crate::harness::{Backend, TestEnv, fixture};

#[test]
fn bad_flags_exit_2_naming_the_flag_without_a_request() {
    let env = TestEnv::new(Backend::Sqlite);
    // Nothing listens on port 9 here: a request would fail with "connection refused" (exit 1).
    let base = "http://127.0.0.1:9";
    let cases: &[(&[&str], &str)] = &[
        (
            &["add-user", "u", "--allowed-ip", "10.0.0.300/8"],
            "--allowed-ip",
        ),
        (&["add-user", "u", "--denied-ip", "10.0.0.1"], "--denied-ip"),
        (
            &["add-user", "u", "--permissions", "list", "fly"],
            "--permissions",
        ),
        (
            &["add-user", "u", "--expiration-date", "01/01/2019"],
            "--expiration-date",
        ),
        (&["add-user", "u", "--quota-size", "-1"], "--quota-size"),
        (&["add-user", "u", "--fs", "FTP"], "--fs"),
        (
            &["add-user", "u", "--subdirs-permissions", "/dir1:list"],
            "--subdirs-permissions",
        ),
        (
            &["add-user", "u", "--subdirs-permissions", "/dir1::fly"],
            "--subdirs-permissions",
        ),
        (
            &["add-user", "u", "--virtual-folders", "vdir::/tmp"],
            "--virtual-folders",
        ),
        (
            &["update-user", "1", "u", "--quota-files", "-5"],
            "--quota-files",
        ),
        (&["get-users", "--order", "UP"], "--order"),
        (&["get-users", "--limit", "0"], "--limit"),
        // Checked with the server's own rules before sending: S3 needs a bucket.
        (
            &[
                "add-user",
                "u",
                "--password",
                "pw-long-enough",
                "--permissions",
                "*",
                "--fs",
                "S3",
            ],
            "--s3-bucket",
        ),
    ];
    for (args, flag) in cases {
        let out = env
            .keyward()
            .args(["api", "-b", base, "-u", "root", "-p", "x"])
            .args(*args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?}: {stderr} does not name {flag}"
        );
        assert!(
            !stderr.contains("refused"),
            "{args:?} sent a request: {stderr}"
        );
    }
    // Help needs no server, configuration or data directory, and creates no file.
    let empty = tempfile::tempdir().unwrap();
    for args in [
        &["api", "--help"][..],
        &["api", "add-user", "--help"],
        &["api", "get-users", "-h"],
    ] {
        let out = env
            .keyward()
            .current_dir(empty.path())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Example:"), "{args:?}: {help}");
    }
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);

    let out = env
        .keyward()
        .args(["api", "-b", "not a url", "get-version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--base-url"));
}

#[test]
fn failures_are_told_in_plain_words() {
    let env = TestEnv::new(Backend::Sqlite);
    let out = env
        .keyward()
        .args(["api", "-b", "http://127.0.0.1:9", "get-version"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");

    let server = server_with_root(&env);
    let out = env
        .keyward()
        .args([
            "api",
            "-b",
            &server.url,
            "-u",
            "root",
            "-p",
            "wrong-password",
        ])
        .arg("get-users")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not authenticated") && stderr.contains("401"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-password"), "{stderr}");
    assert!(out.stdout.is_empty());

    // `--color` forces colour even into a pipe; `-t` turns it off.
    let out = api(&env, &server, &["--color", "get-provider-status"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains('\x1b'));
    let out = api(&env, &server, &["-t", "get-provider-status"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));

    // The management endpoint is off on this server (no access key): said so in words.
    let out = env
        .keyward()
        .env("KEYWARD_ACCESS_KEY", "any-key")
        .args(["manage", "--remote", &server.url, "listusers"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("management endpoint is off"), "{stderr}");
    let out = env
        .keyward()
        .env("KEYWARD_ACCESS_KEY", "any-key")
        .args(["manage", "--remote", "http://127.0.0.1:9", "listusers"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(!stderr.contains("builder error"), "{stderr}");
}

#[test]
fn tls_cacert_ssl_cert_file_and_insecure() {
    let key = crate::server_management::KEY;
    let env = TestEnv::with_config(
        Backend::Sqlite,
        &format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n{}",
            fixture("tls/server-cert.pem").display(),
            fixture("tls/server-key.pem").display(),
            crate::server_management::WITH_KEY,
        ),
    );
    let server = server_with_root(&env);
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let ca = fixture("tls/ca.pem");
    let ca = ca.to_str().unwrap();
    let run = |pre: &[&str], env_vars: &[(&str, &str)]| {
        let mut cmd = env.keyward();
        cmd.env_remove("SSL_CERT_FILE");
        cmd.envs(env_vars.iter().copied());
        cmd.args(["api", "-b", &server.url, "-u", "root", "-p", ROOT_PASSWORD])
            .args(pre)
            .arg("get-provider-status")
            .output()
            .unwrap()
    };

    let out = run(&["--cacert", ca], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, ack("Alive"));

    let out = run(&[], &[("SSL_CERT_FILE", ca)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(&[], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("TLS verification failed"), "{stderr}");
    assert!(stderr.contains("--cacert"), "{stderr}");

    let out = run(&["-i"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("WARNING") && stderr.contains("--insecure"),
        "{stderr}"
    );

    let out = run(&["--cacert", "/nonexistent/ca.pem"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--cacert") && stderr.contains("/nonexistent/ca.pem"),
        "{stderr}"
    );

    // `manage --remote` shares the client and its TLS options.
    let remote = |pre: &[&str]| {
        let mut cmd = env.keyward();
        cmd.env_remove("SSL_CERT_FILE");
        cmd.env("KEYWARD_ACCESS_KEY", key)
            .args(["manage", "--remote", &server.url])
            .args(pre)
            .arg("listusers")
            .output()
            .unwrap()
    };
    let out = remote(&["--cacert", ca]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("root"));
    let out = remote(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("TLS verification failed"), "{stderr}");
    assert!(!stderr.contains("builder error"), "{stderr}");
    let out = remote(&["--insecure"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("WARNING"), "{stderr}");
}
