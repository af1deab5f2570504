//! A typed, blocking client for the test server: the REST routes with the `keyward-proto`
//! request and response types. A non-2xx answer is [`ClientError::Status`] with the server's
//! [`StatusMessage`] when the body is one; [`Client::http`] and [`Client::url`] reach anything
//! else (LinOTP `/admin/*`, `/validate/*`, raw bodies).

use keyward_proto::{
    AuditPage, Connection, Health, LoginBody, LoginChallenge, LoginResponse, ManagementRequest,
    ManagementResponse, MeResponse, RegisterBody, StatusMessage, UserInfo, VersionInfo,
};
use reqwest::blocking::{RequestBuilder, Response};
use serde::de::DeserializeOwned;

/// Why a call did not give the expected body.
#[derive(Debug)]
pub enum ClientError {
    /// No answer (connection refused, timeout).
    Transport(String),
    /// An answer with a non-success status; `message` is the error body when it was one.
    Status {
        status: u16,
        message: Option<StatusMessage>,
        body: String,
    },
    /// A success status with a body that is not the expected type.
    Decode { status: u16, body: String },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Transport(e) => write!(f, "no answer: {e}"),
            ClientError::Status { status, body, .. } => write!(f, "HTTP {status}: {body}"),
            ClientError::Decode { status, body } => {
                write!(f, "HTTP {status} with an unexpected body: {body}")
            }
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Transport(_) => None,
            ClientError::Status { status, .. } | ClientError::Decode { status, .. } => {
                Some(*status)
            }
        }
    }
}

/// What one `POST /auth/login` gave: a session, or (202) an open challenge.
#[derive(Clone)]
pub enum LoginStep {
    Session(LoginResponse),
    Challenge(LoginChallenge),
}

/// Shows a session without its bearer token.
impl std::fmt::Debug for LoginStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginStep::Session(s) => write!(f, "Session(user {})", s.username),
            LoginStep::Challenge(c) => write!(f, "{c:?}"),
        }
    }
}

/// A client for one server.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:41234`); self-signed
    /// certificates are accepted.
    pub fn new(base: &str) -> Client {
        let http = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap_or_default();
        Client {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The underlying reqwest client, for requests the typed methods do not cover.
    pub fn http(&self) -> &reqwest::blocking::Client {
        &self.http
    }

    /// `GET /healthz`.
    pub fn health(&self) -> Result<Health, ClientError> {
        self.call(self.http.get(self.url("/healthz")))
    }

    /// `GET /api/v1/version`.
    pub fn version(&self) -> Result<VersionInfo, ClientError> {
        self.call(self.http.get(self.url("/api/v1/version")))
    }

    /// `GET /api/v1/providerstatus`.
    pub fn provider_status(&self) -> Result<StatusMessage, ClientError> {
        self.call(self.http.get(self.url("/api/v1/providerstatus")))
    }

    /// `POST /auth/login`.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        otp: Option<&str>,
    ) -> Result<LoginResponse, ClientError> {
        let body = LoginBody {
            username: username.to_string(),
            password: password.to_string(),
            otp: otp.map(String::from),
            transaction_id: None,
        };
        self.call(self.http.post(self.url("/auth/login")).json(&body))
    }

    /// `POST /auth/login` where a challenge may come first: 200 is a session, 202 a challenge.
    pub fn login_step(&self, body: &LoginBody) -> Result<LoginStep, ClientError> {
        let resp = self
            .http
            .post(self.url("/auth/login"))
            .json(body)
            .send()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if resp.status().as_u16() == 202 {
            return decode(resp).map(LoginStep::Challenge);
        }
        decode(resp).map(LoginStep::Session)
    }

    /// `POST /auth/logout` with a session token.
    pub fn logout(&self, token: &str) -> Result<StatusMessage, ClientError> {
        self.call(self.http.post(self.url("/auth/logout")).bearer_auth(token))
    }

    /// `POST /auth/register`.
    pub fn register(
        &self,
        username: &str,
        password: &str,
        email: &str,
    ) -> Result<UserInfo, ClientError> {
        let body = RegisterBody {
            username: username.to_string(),
            password: password.to_string(),
            email: email.to_string(),
        };
        self.call(self.http.post(self.url("/auth/register")).json(&body))
    }

    /// `GET /api/v1/me` with a session token or API key.
    pub fn me(&self, token: &str) -> Result<MeResponse, ClientError> {
        self.call(self.http.get(self.url("/api/v1/me")).bearer_auth(token))
    }

    /// `GET /api/v1/connections`.
    pub fn connections(&self, token: &str) -> Result<Vec<Connection>, ClientError> {
        self.call(
            self.http
                .get(self.url("/api/v1/connections"))
                .bearer_auth(token),
        )
    }

    /// `DELETE /api/v1/connections/{id}`.
    pub fn close_connection(&self, token: &str, id: &str) -> Result<StatusMessage, ClientError> {
        let url = self.url(&format!("/api/v1/connections/{id}"));
        self.call(self.http.delete(url).bearer_auth(token))
    }

    /// `GET /api/v1/audit?limit&before_id`.
    pub fn audit(
        &self,
        token: &str,
        limit: Option<u32>,
        before_id: Option<i64>,
    ) -> Result<AuditPage, ClientError> {
        let mut query = Vec::new();
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(b) = before_id {
            query.push(("before_id", b.to_string()));
        }
        let req = self.http.get(self.url("/api/v1/audit")).query(&query);
        self.call(req.bearer_auth(token))
    }

    /// `POST /server/management-command/` with the management access key.
    pub fn management(
        &self,
        access_key: &str,
        command: &str,
        args: &[&str],
    ) -> Result<ManagementResponse, ClientError> {
        let body = ManagementRequest {
            command_name: command.to_string(),
            command_args: args.iter().map(|a| a.to_string()).collect(),
            json: false,
        };
        let req = self
            .http
            .post(self.url("/server/management-command/"))
            .header("Authorization", format!("Token {access_key}"))
            .json(&body);
        self.call(req)
    }

    /// Sends `req` and decodes a success body as `T`.
    pub fn call<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        let resp = req
            .send()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        decode(resp)
    }
}

fn decode<T: DeserializeOwned>(resp: Response) -> Result<T, ClientError> {
    let status = resp.status().as_u16();
    let success = resp.status().is_success();
    let body = resp
        .text()
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    if !success {
        return Err(ClientError::Status {
            status,
            message: serde_json::from_str(&body).ok(),
            body,
        });
    }
    serde_json::from_str(&body).map_err(|_| ClientError::Decode { status, body })
}
