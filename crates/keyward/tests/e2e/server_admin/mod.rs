//! The LinOTP admin API (`/admin/<endpoint>`, seed 003) through the real server on both
//! backends: every endpoint's documented behaviour (status, envelope, value, database state),
//! the role rule (helpdesk, auditor, no credentials), and bad input (error envelopes with HTTP
//! 200 that change nothing, `httperror`, unknown endpoint, malformed bodies). One file per
//! endpoint group; the shared client and assertions are here.

mod enrol;
mod lifecycle;
mod lookups;
mod owners;
mod roles_and_input;
mod settings;
mod show;

use serde_json::{Value, json};

use crate::harness::TestEnv;
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_client::{Http, Resp};
use crate::server_validate::{admin, admin_key, user};
use keyward_testkit::TestServer;

/// A second HOTP seed (differs from the RFC seed in its last byte).
pub(super) const OTHER_KEY_HEX: &str = "3132333435363738393031323334353637383931";

/// A running server, a client for it and an admin API key.
pub(super) struct Api {
    pub(super) _server: TestServer,
    pub(super) http: Http,
    pub(super) key: String,
}

impl Api {
    /// Creates `users` (password `pw-12345`), an admin key, and starts the server.
    pub(super) fn start(env: &TestEnv, users: &[&str]) -> Api {
        for u in users {
            user(env, u);
        }
        let key = admin_key(env);
        let server = env.serve_in_process();
        let http = Http::new(&server);
        Api {
            _server: server,
            http,
            key,
        }
    }

    /// POST JSON to `/admin/<endpoint>`: the envelope (HTTP 200 asserted).
    pub(super) fn call(&self, endpoint: &str, params: Value) -> Value {
        let v = admin(&self.http, &self.key, endpoint, params);
        assert_envelope(&v);
        v
    }

    /// POST JSON, success expected: `result.value`.
    pub(super) fn ok(&self, endpoint: &str, params: Value) -> Value {
        let v = self.call(endpoint, params.clone());
        assert_eq!(
            v["result"]["status"], true,
            "/admin/{endpoint} {params}: {v}"
        );
        v["result"]["value"].clone()
    }

    /// POST JSON, error expected with this code (HTTP 200): the error message.
    pub(super) fn err(&self, endpoint: &str, params: Value, code: i64) -> String {
        let v = self.call(endpoint, params.clone());
        assert_error(&v, code, &format!("/admin/{endpoint} {params}"))
    }

    /// GET `/admin/<endpoint>?query` with the admin key.
    pub(super) fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Resp {
        self.http.send(
            self.http
                .client
                .get(self.http.url(&format!("/admin/{endpoint}")))
                .query(query)
                .bearer_auth(&self.key),
        )
    }

    /// POST a form-encoded body (names may repeat) with the admin key.
    pub(super) fn form(&self, endpoint: &str, pairs: &[(&str, &str)]) -> Resp {
        self.http.send(
            self.http
                .client
                .post(self.http.url(&format!("/admin/{endpoint}")))
                .form(pairs)
                .bearer_auth(&self.key),
        )
    }

    /// POST a raw body with a content type, with the admin key.
    pub(super) fn raw(&self, endpoint: &str, content_type: &str, body: Vec<u8>) -> Resp {
        self.http.send(
            self.http
                .client
                .post(self.http.url(&format!("/admin/{endpoint}")))
                .header("Content-Type", content_type)
                .body(body)
                .bearer_auth(&self.key),
        )
    }

    /// Enrolls an HOTP token through `/admin/init`.
    pub(super) fn hotp(&self, serial: &str, key_hex: &str, owner: Option<&str>, pin: Option<&str>) {
        let mut p = json!({"serial": serial, "otpkey": key_hex});
        if let Some(u) = owner {
            p["user"] = json!(u);
        }
        if let Some(pin) = pin {
            p["pin"] = json!(pin);
        }
        assert_eq!(self.ok("init", p), true);
    }

    /// `show` data for the given parameters.
    pub(super) fn show(&self, params: Value) -> Vec<Value> {
        self.ok("show", params)["data"].as_array().unwrap().clone()
    }

    /// Serials listed by `show` for the given parameters.
    pub(super) fn serials(&self, params: Value) -> Vec<String> {
        self.show(params)
            .iter()
            .map(|t| t["LinOtp.TokenSerialnumber"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The LinOTP envelope: `jsonrpc`, `result.status`, `version`, `id`.
pub(super) fn assert_envelope(v: &Value) {
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["id"], 1, "{v}");
    assert!(v["version"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert!(v["result"]["status"].is_boolean(), "{v}");
}

/// An error envelope with this code: returns the message.
pub(super) fn assert_error(v: &Value, code: i64, what: &str) -> String {
    assert_envelope(v);
    assert_eq!(v["result"]["status"], false, "{what}: {v}");
    assert_eq!(v["result"]["error"]["code"], code, "{what}: {v}");
    assert!(v["result"].get("value").is_none(), "{what}: {v}");
    let msg = v["result"]["error"]["message"].as_str().unwrap_or_default();
    assert!(!msg.is_empty(), "{what}: {v}");
    msg.to_string()
}

pub(super) fn hotp(counter: u64) -> String {
    oath::hotp(RFC_KEY_HEX, counter, 6)
}

pub(super) fn user_id(env: &TestEnv, name: &str) -> String {
    env.query_strings(&format!("SELECT id FROM users WHERE username = '{name}'"))[0][0].clone()
}

pub(super) fn owner_of(env: &TestEnv, serial: &str) -> String {
    env.query_strings(&format!(
        "SELECT COALESCE(owner_id, '') FROM tokens WHERE serial = '{serial}'"
    ))[0][0]
        .clone()
}

pub(super) fn column(env: &TestEnv, serial: &str, col: &str) -> i64 {
    env.query_i64(&format!(
        "SELECT COALESCE({col}, -1) FROM tokens WHERE serial = '{serial}'"
    ))
}

pub(super) fn text_column(env: &TestEnv, serial: &str, col: &str) -> String {
    env.query_strings(&format!(
        "SELECT {col} FROM tokens WHERE serial = '{serial}'"
    ))[0][0]
        .clone()
}

pub(super) fn token_count(env: &TestEnv) -> i64 {
    env.query_i64("SELECT COUNT(*) FROM tokens")
}
