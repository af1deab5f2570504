//! A small blocking HTTP client for the server tests: JSON in, status + headers + JSON out.

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

use crate::harness::ServerGuard;

/// A server the client can talk to: a `keyward serve` process or an in-process test server.
pub trait Served {
    fn base_url(&self) -> String;
}

impl Served for ServerGuard {
    fn base_url(&self) -> String {
        self.url.clone()
    }
}

impl Served for keyward_testkit::TestServer {
    fn base_url(&self) -> String {
        self.url().to_string()
    }
}

/// One answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Asserts a JSON error body `{"error", "message", "status"}` with this status.
    pub fn assert_error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        let v = self.json();
        assert_eq!(v["status"], status, "{v}");
        assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
        v
    }
}

pub struct Http {
    pub base: String,
    pub client: Client,
}

impl Http {
    pub fn new(server: &impl Served) -> Self {
        Http {
            base: server.base_url(),
            client: Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn send(&self, req: RequestBuilder) -> Resp {
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().unwrap();
        Resp {
            status,
            headers,
            text,
        }
    }

    /// GET with an optional bearer token.
    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req)
    }

    /// POST a JSON body with an optional raw Authorization header value.
    pub fn post(&self, path: &str, body: &Value, authorization: Option<&str>) -> Resp {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        self.send(req)
    }

    pub fn login(&self, username: &str, password: &str) -> Resp {
        self.post(
            "/auth/login",
            &serde_json::json!({ "username": username, "password": password }),
            None,
        )
    }

    /// Logs in and returns the token, asserting success.
    pub fn login_ok(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password);
        assert_eq!(r.status, 200, "login {username}: {}", r.text);
        r.json()["token"].as_str().unwrap().to_string()
    }
}
