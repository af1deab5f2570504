//! `POST /auth/login` with challenge-response second factors, on both backends: an e-mail token
//! without a PIN gets its OTP sent when the password is right and no OTP is given (a real
//! aiosmtpd on 127.0.0.1 receives it); a PIN'd one when the PIN is given as `otp`; the 202
//! answer's transaction id plus the mailed OTP opens a session, once. A wrong password never
//! sends mail. An ocra2 token's drawn question is answered with an OCRA computation of our own.

use keyward_core::otp::ocra::{OcraInput, OcraSuite, ocra};
use keyward_proto::LoginBody;
use keyward_testkit::{Client, LoginStep};
use serde_json::json;

use crate::both_backends;
use crate::delivery_peers::{SmtpSink, otp_after, smtp_or_skip};
use crate::server_client::Http;
use crate::server_validate::user;

fn body(user: &str, password: &str, otp: Option<&str>, txid: Option<&str>) -> LoginBody {
    LoginBody {
        username: user.into(),
        password: password.into(),
        otp: otp.map(String::from),
        transaction_id: txid.map(String::from),
    }
}

/// The transaction id of a login that must stop at a challenge.
fn challenged(client: &Client, login: &LoginBody) -> (String, Option<String>) {
    match client.login_step(login) {
        Ok(LoginStep::Challenge(c)) => {
            assert_eq!(c.transaction_id.len(), 20, "{c:?}");
            (c.transaction_id, c.challenge)
        }
        other => panic!("expected a challenge, got {other:?}"),
    }
}

/// The status of a login that must not open a session now.
fn refused(client: &Client, login: &LoginBody) -> u16 {
    match client.login_step(login) {
        Err(e) => e.status().unwrap_or(0),
        Ok(step) => panic!("expected a refusal, got {step:?}"),
    }
}

fn session(client: &Client, login: &LoginBody) -> String {
    match client.login_step(login) {
        Ok(LoginStep::Session(s)) => s.token,
        other => panic!("expected a session, got {other:?}"),
    }
}

fn env_refs<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

both_backends!(
    login_with_an_email_token_answers_the_mailed_otp,
    |env: &TestEnv| {
        if !smtp_or_skip("login_with_an_email_token_answers_the_mailed_otp") {
            return;
        }
        let sink = SmtpSink::start(&env.dir.path().join("mail"), None);
        user(env, "alice");
        user(env, "bob");
        env.console_ok(&[
            "token", "init", "--type", "email", "--serial", "EMA", "--user", "alice",
        ]);
        env.console_ok(&[
            "token", "init", "--type", "email", "--serial", "EMB", "--user", "bob", "--pin",
            "bob-pin",
        ]);
        let server = env.serve_in_process_with_env(&env_refs(&sink.env()));
        let client = Client::new(server.url());

        // A wrong password sends nothing and looks like any refusal.
        assert_eq!(
            refused(&client, &body("alice", "wrong-pw", None, None)),
            401
        );
        assert_eq!(sink.count(), 0, "no mail before the password is right");

        // Right password, no OTP: the PIN-less e-mail token is challenged.
        let (txid, question) = challenged(&client, &body("alice", "pw-12345", None, None));
        assert_eq!(question, None);
        let mail = sink.message(1);
        assert!(mail.contains("X-Rcpt: alice@example.com"), "{mail}");
        let otp = otp_after(&mail, "Your one-time password:", 6);
        let wrong = if otp == "000000" { "111111" } else { "000000" };
        let answer = |otp: &str, password: &str| body("alice", password, Some(otp), Some(&txid));
        assert_eq!(refused(&client, &answer(wrong, "pw-12345")), 401);
        // The OTP does not stand in for the password.
        assert_eq!(refused(&client, &answer(&otp, "wrong-pw")), 401);
        let token = session(&client, &answer(&otp, "pw-12345"));
        assert_eq!(client.me(&token).unwrap().username, "alice");
        assert_eq!(
            refused(&client, &answer(&otp, "pw-12345")),
            401,
            "a mailed OTP opens one session"
        );

        // A PIN'd e-mail token: no OTP is refused without mail; the PIN opens the challenge.
        assert_eq!(refused(&client, &body("bob", "pw-12345", None, None)), 401);
        assert_eq!(sink.count(), 1);
        let (txid, _) = challenged(&client, &body("bob", "pw-12345", Some("bob-pin"), None));
        let otp = otp_after(&sink.message(2), "Your one-time password:", 6);
        session(&client, &body("bob", "pw-12345", Some(&otp), Some(&txid)));

        // The login audit says a challenge was opened; the OTP is in no row.
        let rows = env
            .query_strings("SELECT target || ' ' || details FROM audit_log WHERE action = 'login'");
        assert!(
            rows.iter()
                .any(|r| r[0].starts_with("alice ") && r[0].contains("challenge")),
            "{rows:?}"
        );
        assert!(rows.iter().all(|r| !r[0].contains(&otp)), "{rows:?}");
        // The plain HTTP view: 202 with the transaction id, no token.
        let http = Http::new(&server);
        let r = http.post(
            "/auth/login",
            &json!({"username": "alice", "password": "pw-12345"}),
            None,
        );
        assert_eq!(r.status, 202, "{}", r.text);
        let v = r.json();
        assert!(
            v["transaction_id"].is_string() && v.get("token").is_none(),
            "{v}"
        );
    }
);

both_backends!(
    login_with_an_ocra2_token_answers_the_question,
    |env: &TestEnv| {
        user(env, "carol");
        let out = env.console_ok(&[
            "token", "init", "--type", "ocra2", "--genkey", "--serial", "OCL1", "--user", "carol",
            "--pin", "1234",
        ]);
        let seed_hex = out
            .lines()
            .find_map(|l| l.strip_prefix("sharedsecret: "))
            .unwrap_or_else(|| panic!("no shared secret in {out}"))
            .to_string();
        let server = env.serve_in_process();
        let client = Client::new(server.url());
        // A password login without the second factor is refused; a wrong PIN too.
        assert_eq!(
            refused(&client, &body("carol", "pw-12345", None, None)),
            401
        );
        assert_eq!(
            refused(&client, &body("carol", "pw-12345", Some("9999"), None)),
            401
        );
        let (txid, question) = challenged(&client, &body("carol", "pw-12345", Some("1234"), None));
        let question = question.expect("an OCRA challenge carries its question");
        let suite = OcraSuite::parse("OCRA-1:HOTP-SHA256-8:QA64").unwrap();
        let seed = data_encoding::HEXLOWER.decode(seed_hex.as_bytes()).unwrap();
        let input = OcraInput {
            question: &question,
            ..Default::default()
        };
        let response = ocra(&suite, &seed, &input).unwrap();
        let token = session(
            &client,
            &body("carol", "pw-12345", Some(&response), Some(&txid)),
        );
        assert_eq!(client.me(&token).unwrap().username, "carol");
    }
);
