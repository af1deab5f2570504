//! E-mail and SMS tokens against real peers on 127.0.0.1 (see `delivery_peers`): the challenge
//! is triggered by the PIN, the OTP is read from the mail the SMTP server received (or the
//! request the SMS gateway received) and completes `/validate/check` with the transaction id,
//! once; `losttoken --type email`; `sendtestmail` with a sealed SMTP password; a mail server or
//! gateway that is down or refuses gives a clear error and leaves no challenge open; the send
//! limit per token.

use serde_json::{Value, json};

use crate::both_backends;
use crate::delivery_peers::{SmsGateway, SmtpSink, otp_after, smtp_or_skip};
use crate::harness::{Backend, TestEnv};
use crate::server_client::Http;
use crate::server_validate::{admin_key, admin_ok, check, user};

fn env_refs<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Triggers a challenge with `pass` and returns its transaction id.
fn challenge(http: &Http, user: &str, pass: &str) -> String {
    let v = check(http, json!({"user": user, "pass": pass}));
    assert_eq!(v["result"]["authentication"], "CHALLENGE", "{v}");
    v["detail"]["transactionid"].as_str().unwrap().to_string()
}

fn answer(http: &Http, user: &str, txid: &str, otp: &str) -> bool {
    let v = check(
        http,
        json!({"user": user, "transactionid": txid, "pass": otp}),
    );
    assert_eq!(v["result"]["status"], true, "{v}");
    v["result"]["value"].as_bool().unwrap()
}

/// The error message of a failed `/validate/check`.
fn check_error(http: &Http, user: &str, pass: &str) -> String {
    let v = check(http, json!({"user": user, "pass": pass}));
    assert_eq!(v["result"]["status"], false, "{v}");
    v["result"]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string()
}

both_backends!(
    email_token_otp_arrives_by_mail_and_answers_once,
    |env: &TestEnv| {
        if !smtp_or_skip("email_token_otp_arrives_by_mail_and_answers_once") {
            return;
        }
        let sink = SmtpSink::start(&env.dir.path().join("mail"), None);
        user(env, "alice");
        env.console_ok(&[
            "token", "init", "--type", "email", "--serial", "EM1", "--user", "alice", "--pin",
            "pin-1234",
        ]);
        let key = admin_key(env);
        let server = env.serve_in_process_with_env(&env_refs(&sink.env()));
        let http = Http::new(&server);

        let txid = challenge(&http, "alice", "pin-1234");
        let mail = sink.message(1);
        assert!(mail.contains("X-Rcpt: alice@example.com"), "{mail}");
        assert!(mail.contains("Subject: Your one-time password"), "{mail}");
        let otp = otp_after(&mail, "Your one-time password:", 6);
        let wrong = if otp == "000000" { "111111" } else { "000000" };
        assert!(!answer(&http, "alice", &txid, wrong));
        assert!(answer(&http, "alice", &txid, &otp));
        assert!(!answer(&http, "alice", &txid, &otp), "an OTP answers once");
        // PIN + the mailed OTP in one pass is not a way around the challenge.
        assert!(!answer(&http, "alice", "", &format!("pin-1234{otp}")));
        // The OTP is in no audit row and no challenge message.
        let rows = env.query_strings(
            "SELECT target || ' ' || details FROM audit_log \
         UNION ALL SELECT message FROM challenges",
        );
        assert!(rows.iter().all(|r| !r[0].contains(&otp)), "{rows:?}");

        // losttoken --type email: bob's HOTP token is replaced by an e-mail token with his PIN.
        user(env, "bob");
        env.console_ok(&[
            "token", "init", "--serial", "OATH1", "--genkey", "--user", "bob", "--pin", "bob-pin",
        ]);
        let v = admin_ok(
            &http,
            &key,
            "losttoken",
            json!({"serial": "OATH1", "type": "email"}),
        );
        assert_eq!(v["serial"], "lostOATH1", "{v}");
        assert_eq!(v["email_address"], "bob@example.com", "{v}");
        assert!(v["end_date"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
        let show = admin_ok(&http, &key, "show", json!({"serial": "OATH1"}));
        assert_eq!(show["data"][0]["LinOtp.Isactive"], false, "{show}");
        let txid = challenge(&http, "bob", "bob-pin");
        let mail = sink.message(2);
        assert!(mail.contains("X-Rcpt: bob@example.com"), "{mail}");
        let otp = otp_after(&mail, "Your one-time password:", 6);
        assert!(answer(&http, "bob", &txid, &otp));
    }
);

#[test]
fn sendtestmail_sealed_password_and_smtp_down() {
    if !smtp_or_skip("sendtestmail_sealed_password_and_smtp_down") {
        return;
    }
    let env = TestEnv::new(Backend::Sqlite);
    let sink = SmtpSink::start(&env.dir.path().join("mail"), Some("mailer:mail-pass"));
    env.manage_ok(&["migrate"]);
    let out = env
        .manage(&["setup", "seal_smtp_password", "--password-stdin"])
        .write_stdin("mail-pass\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let sealed = text
        .trim()
        .strip_prefix("smtp_password_sealed = \"")
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    assert!(!sealed.contains("mail-pass"));
    let mut base = sink.env();
    base.push(("KEYWARD_SMTP_USER", "mailer".into()));
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = env.manage(&["sendtestmail", "something@something.com"]);
        for (k, v) in &base {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    // Seed 000's command line, with the sealed password from the environment.
    let out = run(&[("KEYWARD_SMTP_PASSWORD_SEALED", &sealed)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Sent a test mail to something@something.com\n"
    );
    let mail = sink.message(1);
    assert!(mail.contains("X-Rcpt: something@something.com"), "{mail}");
    assert!(mail.contains("Subject: keyward test mail"), "{mail}");
    assert!(mail.contains("From: keyward@example.org"), "{mail}");
    // A wrong password: refused by the server, a clear error that does not echo it.
    let out = run(&[("KEYWARD_SMTP_PASSWORD", "not-the-pass")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot send mail through 127.0.0.1:{}", sink.port)),
        "{err}"
    );
    assert!(!err.contains("not-the-pass"), "{err}");
    // The plain password does not belong in the config file.
    let toml = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(&env.config_path, format!("{toml}\nsmtp_password = \"x\"\n")).unwrap();
    let (code, err) = env.manage_err(&["sendtestmail", "a@example.com"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("smtp_password_sealed"), "{err}");
    std::fs::write(&env.config_path, toml).unwrap();

    // SMTP down: sendtestmail and an e-mail token's challenge fail clearly, nothing left open.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let out = run(&[
        ("KEYWARD_SMTP_PORT", &down_port),
        ("KEYWARD_SMTP_PASSWORD_SEALED", &sealed),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot send mail through 127.0.0.1:{down_port}")),
        "{err}"
    );
    user(&env, "carol");
    env.console_ok(&[
        "token",
        "init",
        "--type",
        "email",
        "--user",
        "carol",
        "--pin",
        "carol-pin",
    ]);
    let mut down = sink.env();
    down.retain(|(k, _)| *k != "KEYWARD_SMTP_PORT");
    down.push(("KEYWARD_SMTP_PORT", down_port.clone()));
    let server = env.serve_in_process_with_env(&env_refs(&down));
    let http = Http::new(&server);
    let msg = check_error(&http, "carol", "carol-pin");
    assert!(msg.contains("cannot send mail through"), "{msg}");
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM challenges"), 0);
    assert_eq!(sink.count(), 1);
}

both_backends!(
    sms_token_via_local_gateway_with_send_limit,
    |env: &TestEnv| {
        let gateway = SmsGateway::start();
        user(env, "alice");
        env.console_ok(&[
            "token",
            "init",
            "--type",
            "sms",
            "--serial",
            "SM1",
            "--user",
            "alice",
            "--pin",
            "pin-1234",
            "--phone",
            "+49 170 1234567",
        ]);
        let url = format!("http://127.0.0.1:{}/send?key=gw-key", gateway.port);
        let server = env.serve_in_process_with_env(&[
            ("KEYWARD_SMS_GATEWAY_URL", &url),
            (
                "KEYWARD_SMS_GATEWAY_BODY",
                r#"{"to":"{phone}","text":"Code {otp}"}"#,
            ),
            ("KEYWARD_SMS_GATEWAY_CONTENT_TYPE", "application/json"),
            ("KEYWARD_SMS_GATEWAY_SUCCESS_STATUS", "201"),
            ("KEYWARD_OTP_DELIVERY_MAX_SENDS", "2"),
        ]);
        let http = Http::new(&server);
        gateway
            .status
            .store(201, std::sync::atomic::Ordering::SeqCst);

        let txid = challenge(&http, "alice", "pin-1234");
        let request = gateway.last_request();
        assert!(
            request.starts_with("POST /send?key=gw-key HTTP/1.1"),
            "{request}"
        );
        assert!(request.contains(r#""to":"+49 170 1234567""#), "{request}");
        let body: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        let otp = otp_after(body["text"].as_str().unwrap(), "Code", 6);
        assert!(answer(&http, "alice", &txid, &otp));
        assert!(!answer(&http, "alice", &txid, &otp));

        // The gateway refuses: a clear error, and no challenge is left open.
        gateway
            .status
            .store(500, std::sync::atomic::Ordering::SeqCst);
        let msg = check_error(&http, "alice", "pin-1234");
        assert!(msg.contains("the gateway answered HTTP 500"), "{msg}");
        assert!(!msg.contains("gw-key"), "{msg}");
        assert_eq!(env.query_i64("SELECT COUNT(*) FROM challenges"), 1);
        // Two sends per window: the second goes, the third is refused.
        gateway
            .status
            .store(201, std::sync::atomic::Ordering::SeqCst);
        challenge(&http, "alice", "pin-1234");
        let r = http.post(
            "/validate/check",
            &json!({"user": "alice", "pass": "pin-1234"}),
            None,
        );
        assert_eq!(r.status, 429, "throttled like any throttle: {}", r.text);
        assert!(r.text.contains("at most 2 OTPs are sent"), "{}", r.text);
        assert_eq!(gateway.requests.lock().unwrap().len(), 3);
    }
);
