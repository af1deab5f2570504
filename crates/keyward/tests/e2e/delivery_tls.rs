//! Mail over TLS to a mail server whose certificate a private CA signed (`smtp_tls_ca_file`),
//! against a real aiosmtpd with an `openssl`-made certificate (see `test_pki`), both with
//! STARTTLS (required by the server) and with implicit TLS: `sendtestmail` succeeds with the CA
//! file and the mail arrives; without it (the webpki roots) or with an unrelated CA it fails with
//! a clear certificate error and nothing arrives, and so does a certificate of the trusted CA
//! for another host name; a CA file that cannot work is a configuration error naming the key, in
//! the file and in the environment.

use crate::both_backends;
use crate::delivery_peers::{SmtpSink, smtp_or_skip};
use crate::harness::TestEnv;
use crate::test_pki::{TestPki, arg};

/// Runs `sendtestmail` to the sink with `security` and the extra `KEYWARD_*` variables.
fn sendtestmail(
    env: &TestEnv,
    sink: &SmtpSink,
    security: &str,
    extra: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = env.manage(&["sendtestmail", "someone@example.org"]);
    for (k, v) in sink.env() {
        cmd.env(k, v);
    }
    cmd.env("KEYWARD_SMTP_SECURITY", security);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// With the CA file the mail goes through; without it, or with another CA, a certificate error.
fn mail_trusts_exactly_the_ca_file(env: &TestEnv, security: &str) {
    let pki = TestPki::new();
    let sink = SmtpSink::start_tls(&env.dir.path().join("mail"), security, &pki);
    env.manage_ok(&["migrate"]);
    let out = sendtestmail(
        env,
        &sink,
        security,
        &[("KEYWARD_SMTP_TLS_CA_FILE", arg(&pki.ca))],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Sent a test mail to someone@example.org\n"
    );
    let mail = sink.message(1);
    assert!(mail.contains("X-Rcpt: someone@example.org"), "{mail}");
    assert!(mail.contains("Subject: keyward test mail"), "{mail}");

    let other = arg(&pki.other_ca);
    for extra in [&[][..], &[("KEYWARD_SMTP_TLS_CA_FILE", other)][..]] {
        let out = sendtestmail(env, &sink, security, extra);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("cannot send mail through 127.0.0.1:{}", sink.port)),
            "{err}"
        );
        assert!(
            err.contains("the server's certificate is not signed by a trusted CA"),
            "{err}"
        );
        assert!(err.contains("smtp_tls_ca_file"), "{err}");
    }
    assert_eq!(
        sink.count(),
        1,
        "a mail went through an untrusted connection"
    );

    // The host name is still checked: a certificate of the trusted CA for another name fails.
    let misnamed = pki.misnamed();
    let sink = SmtpSink::start_tls(&env.dir.path().join("mail2"), security, &misnamed);
    let ca = [("KEYWARD_SMTP_TLS_CA_FILE", arg(&pki.ca))];
    let out = sendtestmail(env, &sink, security, &ca);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the server's certificate is not valid for this host name"),
        "{err}"
    );
    assert_eq!(sink.count(), 0);
}

both_backends!(starttls_mail_trusts_the_smtp_ca_file, |env: &TestEnv| {
    if !smtp_or_skip("starttls_mail_trusts_the_smtp_ca_file") {
        return;
    }
    mail_trusts_exactly_the_ca_file(env, "starttls");
});

both_backends!(
    implicit_tls_mail_trusts_the_smtp_ca_file,
    |env: &TestEnv| {
        if !smtp_or_skip("implicit_tls_mail_trusts_the_smtp_ca_file") {
            return;
        }
        mail_trusts_exactly_the_ca_file(env, "tls");
    }
);

#[test]
fn an_smtp_ca_file_that_cannot_work_is_a_configuration_error() {
    let env = TestEnv::new(crate::harness::Backend::Sqlite);
    let missing = env.dir.path().join("no-such-ca.pem");
    // In the environment: the variable is named.
    let out = env
        .manage(&["sendtestmail", "someone@example.org"])
        .env("KEYWARD_SMTP_TLS_CA_FILE", &missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KEYWARD_SMTP_TLS_CA_FILE"), "{err}");
    assert!(
        err.contains(&format!("cannot read {}", arg(&missing))),
        "{err}"
    );
    // In the file: the key and its line; a key file is no CA file, and its lines stay out.
    let pki = TestPki::new();
    let toml = std::fs::read_to_string(&env.config_path).unwrap();
    let toml = toml.trim_end();
    let line = toml.lines().count() + 1;
    let with_key = format!("{toml}\nsmtp_tls_ca_file = \"{}\"\n", arg(&pki.key));
    std::fs::write(&env.config_path, with_key).unwrap();
    let (code, err) = env.manage_err(&["sendtestmail", "someone@example.org"]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!("line {line}: smtp_tls_ca_file")),
        "{err}"
    );
    assert!(err.contains("holds no certificate"), "{err}");
    let key = std::fs::read_to_string(&pki.key).unwrap();
    for l in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!err.contains(l), "{err}");
    }
}
