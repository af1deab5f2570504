//! The LinOTP JSON-RPC-style envelope every `/admin/*` and `/validate/*` answer is wrapped in,
//! and the `httperror` rule that picks the HTTP status of an error. An error's code and whether
//! its status is fixed come from its kind ([`ErrorKind::linotp_code`],
//! [`ErrorKind::linotp_fixed_status`]); see the module doc of [`crate::linotp`] for the table.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_commands::{CommandError, ErrorKind};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::error::ApiError;

/// The `version` field: `keyward <version>`.
pub fn version() -> String {
    format!("keyward {}", crate::status::VERSION)
}

/// The LinOTP envelope, for the OpenAPI document.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LinotpEnvelope {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// `{"status": true, "value": …}` on success (`/validate/*` adds `authentication`:
    /// `ACCEPT`, `REJECT` or `CHALLENGE`); `{"status": false, "error": {"code", "message"}}`
    /// on failure.
    #[schema(value_type = Object)]
    pub result: Value,
    /// `keyward <version>`.
    pub version: String,
    /// Always 1.
    pub id: i64,
    /// Extra information beside the value (e.g. the serial that accepted a check).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
}

/// The `httperror=<code>` request parameter: a 3-digit status 400..=599 (anything else is
/// ignored, like LinOTP does with values it cannot use).
pub fn parse_httperror(value: Option<&Value>) -> Option<StatusCode> {
    let text = match value? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        // Given more than once: the first one counts.
        Value::Array(items) => return parse_httperror(items.first()),
        _ => return None,
    };
    if text.len() != 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = text.parse().ok()?;
    if !(400..=599).contains(&code) {
        return None;
    }
    StatusCode::from_u16(code).ok()
}

/// A successful answer: `result.status = true`, `result.value`, optional extra `result` keys
/// (`authentication` for `/validate/*`) and an optional top-level `detail`.
#[derive(Clone, Debug)]
pub struct Success {
    pub value: Value,
    pub detail: Option<Value>,
    pub result_extra: Map<String, Value>,
}

impl Success {
    pub fn new(value: Value, detail: Option<Value>) -> Self {
        Success {
            value,
            detail,
            result_extra: Map::new(),
        }
    }

    /// Adds a key beside `status` and `value` in `result`.
    pub fn with_result_key(mut self, key: &str, value: Value) -> Self {
        self.result_extra.insert(key.to_string(), value);
        self
    }

    /// The envelope as JSON.
    pub fn body(&self) -> Value {
        let mut result = Map::new();
        result.insert("status".into(), Value::Bool(true));
        result.insert("value".into(), self.value.clone());
        for (k, v) in &self.result_extra {
            result.insert(k.clone(), v.clone());
        }
        let mut body = json!({
            "jsonrpc": "2.0",
            "result": Value::Object(result),
            "version": version(),
            "id": 1,
        });
        if let (Some(detail), Value::Object(obj)) = (&self.detail, &mut body) {
            obj.insert("detail".into(), detail.clone());
        }
        body
    }
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        (StatusCode::OK, Json(self.body())).into_response()
    }
}

/// A failed answer: `result.status = false` with `result.error = {code, message}`.
///
/// `status` is the HTTP status. Errors of the request itself (parameters, command failures)
/// start at 200 and take the status the client asked for with `httperror`; authentication
/// failures and unknown endpoints carry a fixed status that `httperror` does not change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinotpError {
    pub code: i64,
    pub message: String,
    pub status: StatusCode,
    /// Whether `httperror` may replace `status`.
    pub overridable: bool,
    /// Seconds for a `Retry-After` header (with 429 answers).
    pub retry_after: Option<u64>,
}

impl LinotpError {
    /// An error answered with HTTP 200 unless the request carries `httperror`.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        LinotpError {
            code,
            message: message.into(),
            status: StatusCode::OK,
            overridable: true,
            retry_after: None,
        }
    }

    /// An error with a fixed HTTP status.
    pub fn fixed(code: i64, message: impl Into<String>, status: StatusCode) -> Self {
        LinotpError {
            code,
            message: message.into(),
            status,
            overridable: false,
            retry_after: None,
        }
    }

    /// An error of `kind`, with the kind's LinOTP code and status rule. Internal details go to
    /// the log only ("internal error" is answered); the reason an unavailable backend gives is
    /// shown (it holds no secrets).
    pub fn from_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        let mut message = message.into();
        match kind {
            ErrorKind::Internal => {
                tracing::error!(error = %message, "LinOTP request: internal error");
                message = "internal error".into();
            }
            ErrorKind::Unavailable => {
                tracing::warn!(error = %message, "LinOTP request: unavailable")
            }
            _ => {}
        }
        let code = kind.linotp_code();
        match kind
            .linotp_fixed_status()
            .and_then(|s| StatusCode::from_u16(s).ok())
        {
            Some(status) => LinotpError::fixed(code, message, status),
            None => LinotpError::new(code, message),
        }
    }

    /// A malformed request (code 905).
    pub fn invalid(message: impl Into<String>) -> Self {
        LinotpError::from_kind(ErrorKind::InvalidArgument, message)
    }

    /// A malformed request whose HTTP status is fixed (e.g. 413 for an oversized body, 404 for
    /// an unknown endpoint).
    pub fn invalid_with_status(message: impl Into<String>, status: StatusCode) -> Self {
        LinotpError::fixed(ErrorKind::InvalidArgument.linotp_code(), message, status)
    }

    /// No credentials or bad credentials: -311, HTTP 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        LinotpError::from_kind(ErrorKind::Unauthorized, message)
    }

    /// Authenticated, but not allowed: -311, HTTP 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        LinotpError::from_kind(ErrorKind::Forbidden, message)
    }

    /// Applies the request's `httperror` (when this error allows it).
    pub fn with_httperror(mut self, httperror: Option<StatusCode>) -> Self {
        if self.overridable
            && let Some(status) = httperror
        {
            self.status = status;
        }
        self
    }

    /// The envelope as JSON.
    pub fn body(&self) -> Value {
        json!({
            "jsonrpc": "2.0",
            "result": {
                "status": false,
                "error": { "code": self.code, "message": self.message },
            },
            "version": version(),
            "id": 1,
        })
    }
}

impl From<CommandError> for LinotpError {
    fn from(e: CommandError) -> Self {
        LinotpError {
            retry_after: e.retry_after(),
            ..LinotpError::from_kind(e.kind(), e.to_string())
        }
    }
}

impl From<ApiError> for LinotpError {
    /// The REST layer's errors (from the `Authenticated` extractor) as LinOTP errors.
    fn from(e: ApiError) -> Self {
        LinotpError {
            retry_after: e.retry_after(),
            ..LinotpError::from_kind(e.kind(), e.message())
        }
    }
}

impl IntoResponse for LinotpError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, retry_after_value());
        }
        resp
    }
}

/// `Retry-After` for a 503 (overloaded) answer.
pub fn retry_after_value() -> HeaderValue {
    HeaderValue::from(keyward_commands::hashing::RETRY_AFTER_SECS.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_envelope_has_the_linotp_shape() {
        let body = Success::new(json!({"a": 1}), None).body();
        assert_eq!(
            body,
            json!({
                "jsonrpc": "2.0",
                "result": {"status": true, "value": {"a": 1}},
                "version": version(),
                "id": 1,
            })
        );
        assert!(version().starts_with("keyward "));
        let body = Success::new(json!(true), Some(json!({"serial": "S1"})))
            .with_result_key("authentication", json!("ACCEPT"))
            .body();
        assert_eq!(body["result"]["authentication"], json!("ACCEPT"));
        assert_eq!(body["result"]["value"], json!(true));
        assert_eq!(body["detail"], json!({"serial": "S1"}));
    }

    #[test]
    fn error_envelope_has_the_linotp_shape() {
        let e = LinotpError::from(CommandError::NotFound("no such token".into()));
        assert_eq!(e.status, StatusCode::OK);
        assert_eq!(
            e.body(),
            json!({
                "jsonrpc": "2.0",
                "result": {"status": false, "error": {"code": 1102, "message": "no such token"}},
                "version": version(),
                "id": 1,
            })
        );
    }

    #[test]
    fn command_errors_map_to_linotp_codes() {
        let code = |e: CommandError| LinotpError::from(e).code;
        assert_eq!(code(CommandError::Usage("x".into())), 905);
        assert_eq!(code(CommandError::Invalid("x".into())), 905);
        assert_eq!(code(CommandError::NotFound("x".into())), 1102);
        assert_eq!(code(CommandError::Conflict("x".into())), 1101);
        assert_eq!(code(CommandError::Forbidden("x".into())), -311);
        assert_eq!(code(CommandError::Unavailable("x".into())), -1);
        assert_eq!(
            LinotpError::from(CommandError::Unavailable("database unreachable".into())).message,
            "database unreachable"
        );
        let internal = LinotpError::from(CommandError::Internal("db password wrong".into()));
        assert_eq!(internal.code, -1);
        assert_eq!(internal.message, "internal error");
        let busy = LinotpError::from(CommandError::Overloaded("busy".into()));
        assert_eq!(
            (busy.code, busy.status),
            (-1, StatusCode::SERVICE_UNAVAILABLE)
        );
        assert!(!busy.overridable);
        let slow = LinotpError::from(CommandError::Throttled {
            message: "slow down".into(),
            retry_after: 9,
        });
        assert_eq!(
            (slow.code, slow.status),
            (-311, StatusCode::TOO_MANY_REQUESTS)
        );
        assert_eq!(
            (slow.message.as_str(), slow.retry_after),
            ("slow down", Some(9))
        );
    }

    #[test]
    fn rest_errors_map_to_linotp_errors() {
        let e = LinotpError::from(ApiError::unauthorized("invalid token"));
        assert_eq!((e.code, e.status), (-311, StatusCode::UNAUTHORIZED));
        let e = LinotpError::from(ApiError::forbidden("no"));
        assert_eq!((e.code, e.status), (-311, StatusCode::FORBIDDEN));
        let e = LinotpError::from(ApiError::throttled(5));
        assert_eq!(e.message, "too many failed attempts; retry in 5 s");
        assert_eq!(
            (e.status, e.retry_after),
            (StatusCode::TOO_MANY_REQUESTS, Some(5))
        );
        let e = LinotpError::from(ApiError::bad_request("x"));
        assert_eq!(
            (e.code, e.status, e.overridable),
            (905, StatusCode::OK, true)
        );
    }

    #[test]
    fn httperror_takes_three_digit_error_statuses_only() {
        let p = |v: Value| parse_httperror(Some(&v));
        assert_eq!(p(json!("400")), Some(StatusCode::BAD_REQUEST));
        assert_eq!(p(json!(" 503 ")), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(p(json!(418)), Some(StatusCode::IM_A_TEAPOT));
        assert_eq!(
            p(json!(["500", "400"])),
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        );
        assert_eq!(p(json!("200")), None);
        assert_eq!(p(json!("600")), None);
        assert_eq!(p(json!("4000")), None);
        assert_eq!(p(json!("+40")), None);
        assert_eq!(p(json!("abc")), None);
        assert_eq!(p(json!(true)), None);
        assert_eq!(parse_httperror(None), None);
    }

    #[test]
    fn httperror_changes_only_overridable_errors() {
        let s = Some(StatusCode::BAD_REQUEST);
        assert_eq!(
            LinotpError::invalid("x").with_httperror(s).status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            LinotpError::invalid("x").with_httperror(None).status,
            StatusCode::OK
        );
        assert_eq!(
            LinotpError::unauthenticated("x").with_httperror(s).status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            LinotpError::forbidden("x").with_httperror(s).status,
            StatusCode::FORBIDDEN
        );
    }
}
