//! ocra2 tokens (RFC 6287) through the real server on both backends: enrolment with the default
//! suite (`token init --type ocra2`) and with a given suite over `/admin/init`; a PIN opens a
//! challenge whose question the client chooses (`challenge`) or keyward draws; the OCRA
//! response with the transaction id is accepted once; a wrong response, a replay, a bare
//! PIN + digits and a question outside the suite are refused. The chosen-question case uses the
//! RFC 6287 Appendix C.3 vector (key SEED32, `OCRA-1:HOTP-SHA256-8:QA08`, "SIG10000" →
//! 53095496), so the server is checked against the RFC, not against itself.

use keyward_core::otp::ocra::{OcraInput, OcraSuite, ocra};
use serde_json::{Value, json};

use crate::both_backends;
use crate::server_client::Http;
use crate::server_validate::{admin, admin_key, admin_ok, check, user};

const SEED32_HEX: &str = "3132333435363738393031323334353637383930313233343536373839303132";

fn authentication(v: &Value) -> String {
    assert_eq!(v["result"]["status"], true, "{v}");
    v["result"]["authentication"].as_str().unwrap().to_string()
}

both_backends!(
    ocra2_challenges_are_answered_with_the_ocra_response,
    |env: &TestEnv| {
        user(env, "alice");
        user(env, "bob");
        let out = env.console_ok(&[
            "token", "init", "--type", "ocra2", "--genkey", "--serial", "LSOC0001", "--user",
            "alice", "--pin", "1234",
        ]);
        assert!(
            out.contains("ocrasuite: OCRA-1:HOTP-SHA256-8:QA64"),
            "{out}"
        );
        let seed_hex = out
            .lines()
            .find_map(|l| l.strip_prefix("sharedsecret: "))
            .unwrap_or_else(|| panic!("no shared secret in {out}"))
            .to_string();
        assert_eq!(seed_hex.len(), 64, "a SHA-256 suite gets a 32-byte seed");
        let key = admin_key(env);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        admin_ok(
            &http,
            &key,
            "init",
            json!({"type": "ocra2", "serial": "LSOC0002", "otpkey": SEED32_HEX,
               "ocrasuite": "OCRA-1:HOTP-SHA256-8:QA08", "user": "bob", "pin": "5678"}),
        );
        let refused = admin(
            &http,
            &key,
            "init",
            json!({"type": "ocra2", "genkey": 1, "ocrasuite": "OCRA-1:HOTP-SHA1-6:QN08-PSHA1"}),
        );
        assert_eq!(refused["result"]["status"], false, "{refused}");

        // The client's question: RFC 6287 C.3.
        let v = check(
            &http,
            json!({"user": "bob", "pass": "5678", "challenge": "SIG10000"}),
        );
        assert_eq!(authentication(&v), "CHALLENGE");
        assert_eq!(v["detail"]["challenge"], "SIG10000", "{v}");
        let txid = v["detail"]["transactionid"].as_str().unwrap().to_string();
        let answer = |pass: &str| {
            authentication(&check(
                &http,
                json!({"user": "bob", "transactionid": txid, "pass": pass}),
            ))
        };
        assert_eq!(answer("53095497"), "REJECT", "wrong response");
        assert_eq!(answer("53095496"), "ACCEPT");
        assert_eq!(answer("53095496"), "REJECT", "replay");
        // No challenge, no acceptance: PIN + the response is not an OTP.
        let v = check(&http, json!({"user": "bob", "pass": "567853095496"}));
        assert_eq!(authentication(&v), "REJECT");
        // A question the suite does not allow (QA08: at most 8 characters).
        let v = check(
            &http,
            json!({"user": "bob", "pass": "5678", "challenge": "SIG100000"}),
        );
        assert_eq!(v["result"]["status"], false, "{v}");
        assert!(
            v["result"]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("challenge")
        );

        // An OATH CSV row of type ocra (privacyIDEA's layout) imports an ocra2 token of its suite.
        let csv = format!("OCRA3, {SEED32_HEX}, ocra, OCRA-1:HOTP-SHA256-8:QA08\n");
        let v = admin_ok(
            &http,
            &key,
            "loadtokens",
            json!({"type": "oathcsv", "file": csv}),
        );
        assert_eq!(v["imported"], 1, "{v}");
        admin_ok(
            &http,
            &key,
            "set",
            json!({"serial": "OCRA3", "pin": "4321"}),
        );
        let v = check(
            &http,
            json!({"serial": "OCRA3", "pass": "4321", "challenge": "SIG11000"}),
        );
        assert_eq!(authentication(&v), "CHALLENGE");
        let txid = v["detail"]["transactionid"].as_str().unwrap();
        let v = check(
            &http,
            json!({"serial": "OCRA3", "transactionid": txid, "pass": "04110475"}),
        );
        assert_eq!(authentication(&v), "ACCEPT", "RFC 6287 C.3, SIG11000");
        let csv = format!("OCRA4, {SEED32_HEX}, ocra, OCRA-1:HOTP-SHA1-6:QN08-PSHA1\n");
        let v = admin(
            &http,
            &key,
            "loadtokens",
            json!({"type": "oathcsv", "file": csv}),
        );
        assert_eq!(v["result"]["status"], false, "{v}");

        // A drawn question for the default suite, answered by an OCRA computation of our own.
        let v = check(&http, json!({"user": "alice", "pass": "1234"}));
        assert_eq!(authentication(&v), "CHALLENGE");
        let question = v["detail"]["challenge"].as_str().unwrap().to_string();
        let suite = OcraSuite::parse("OCRA-1:HOTP-SHA256-8:QA64").unwrap();
        suite.check_challenge(&question).unwrap();
        let seed = data_encoding::HEXLOWER.decode(seed_hex.as_bytes()).unwrap();
        let input = OcraInput {
            question: &question,
            ..Default::default()
        };
        let response = ocra(&suite, &seed, &input).unwrap();
        let txid = v["detail"]["transactionid"].as_str().unwrap();
        let v = check(
            &http,
            json!({"user": "alice", "transactionid": txid, "pass": response}),
        );
        assert_eq!(authentication(&v), "ACCEPT", "{v}");
        // The question is sealed in the database, never stored in clear.
        let rows = env.query_strings("SELECT data_sealed FROM challenges WHERE data_sealed <> ''");
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(
            rows.iter()
                .all(|r| !r[0].contains("SIG10000") && !r[0].contains(&question))
        );
    }
);
