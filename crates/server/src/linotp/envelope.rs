//! The LinOTP JSON-RPC-style envelope every `/admin/*` and `/validate/*` answer is wrapped in,
//! and the `httperror` rule that picks the HTTP status of an error (see the module doc of
//! [`crate::linotp`] for the error codes).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_commands::CommandError;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Parameter or input error (`Usage`, `Invalid`, malformed request).
pub const CODE_INVALID: i64 = 905;
/// The object (token, user) does not exist.
pub const CODE_NOT_FOUND: i64 = 1102;
/// The object exists already / the state does not allow it.
pub const CODE_CONFLICT: i64 = 1101;
/// Not authenticated or not allowed.
pub const CODE_FORBIDDEN: i64 = -311;
/// Everything else (internal errors, unavailable backend).
pub const CODE_INTERNAL: i64 = -1;

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

    /// A malformed request (code 905).
    pub fn invalid(message: impl Into<String>) -> Self {
        LinotpError::new(CODE_INVALID, message)
    }

    /// A malformed request whose HTTP status is fixed (e.g. 413 for an oversized body).
    pub fn invalid_with_status(message: impl Into<String>, status: StatusCode) -> Self {
        LinotpError::fixed(CODE_INVALID, message, status)
    }

    /// No credentials or bad credentials: -311, HTTP 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        LinotpError::fixed(CODE_FORBIDDEN, message, StatusCode::UNAUTHORIZED)
    }

    /// Authenticated, but not allowed: -311, HTTP 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        LinotpError::fixed(CODE_FORBIDDEN, message, StatusCode::FORBIDDEN)
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
        match e {
            CommandError::Usage(m) | CommandError::Invalid(m) => LinotpError::new(CODE_INVALID, m),
            CommandError::NotFound(m) => LinotpError::new(CODE_NOT_FOUND, m),
            CommandError::Conflict(m) => LinotpError::new(CODE_CONFLICT, m),
            CommandError::Forbidden(m) => LinotpError::forbidden(m),
            // As on the REST side: the reason (database unreachable, feature not available)
            // is shown; it holds no secrets.
            CommandError::Unavailable(m) => {
                tracing::warn!(error = %m, "LinOTP request: unavailable");
                LinotpError::new(CODE_INTERNAL, m)
            }
            // Not the request's fault and not an answer to it: a fixed 503 with Retry-After,
            // so that RADIUS front ends and PAM modules retry instead of treating it as REJECT.
            CommandError::Overloaded(m) => {
                LinotpError::fixed(CODE_INTERNAL, m, StatusCode::SERVICE_UNAVAILABLE)
            }
            CommandError::Internal(m) => {
                tracing::error!(error = %m, "LinOTP request: internal error");
                LinotpError::new(CODE_INTERNAL, "internal error")
            }
            CommandError::Throttled {
                message,
                retry_after,
            } => LinotpError {
                retry_after: Some(retry_after),
                ..LinotpError::fixed(CODE_FORBIDDEN, message, StatusCode::TOO_MANY_REQUESTS)
            },
        }
    }
}

impl From<ApiError> for LinotpError {
    /// The REST layer's errors (from the `Authenticated` extractor) as LinOTP errors.
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized(m) => LinotpError::unauthenticated(m),
            ApiError::Forbidden(m) => LinotpError::forbidden(m),
            ApiError::BadRequest(m) => LinotpError::invalid(m),
            ApiError::NotFound(m) => LinotpError::new(CODE_NOT_FOUND, m),
            ApiError::Conflict(m) => LinotpError::new(CODE_CONFLICT, m),
            ApiError::Unavailable(m) => LinotpError::from(CommandError::Unavailable(m)),
            ApiError::TooManyRequests { retry_after } => {
                LinotpError::from(CommandError::Throttled {
                    message: e.to_string(),
                    retry_after,
                })
            }
            ApiError::Overloaded(m) => LinotpError::from(CommandError::Overloaded(m)),
            other => LinotpError::from(CommandError::Internal(other.to_string())),
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
