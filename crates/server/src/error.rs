//! The REST layer's one error type and the one place errors become HTTP responses: a JSON body
//! `{"error": "...", "message": "...", "status": N}` whose status is the error kind's
//! ([`keyward_proto::ErrorKind::http_status`]). Framework rejections (malformed JSON, wrong
//! content type, oversized or non-UTF-8 bodies, bad query strings, unknown routes, wrong methods)
//! are mapped here too, so clients never see a bare text error, and internal details stay in the
//! server log.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyward_commands::{CommandError, ErrorKind};
use serde::de::DeserializeOwned;

use keyward_proto::StatusMessage;

/// Everything a REST handler can answer besides success: a stable [`ErrorKind`] (which gives the
/// HTTP status) and a message for the client.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    /// A framework rejection's own status (axum's extractors: 413, 415, …) instead of the
    /// kind's.
    status: Option<StatusCode>,
    /// Seconds for `Retry-After` (throttled answers).
    retry_after: Option<u64>,
    /// The request field an invalid-argument error names (`field` in the body).
    field: Option<String>,
}

impl ApiError {
    /// An error of `kind`; `message` is shown to the client unless the kind is internal.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            status: None,
            retry_after: None,
            field: None,
        }
    }

    /// An invalid-argument error naming `field` (the body says which).
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(ErrorKind::InvalidArgument, message)
        }
    }

    /// The request field the error names, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::InvalidArgument, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Conflict, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Unavailable, message)
    }

    /// Logged in full; the client sees only that something failed.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(ErrorKind::Internal, message)
    }

    /// Too many failed attempts: 429 with `Retry-After: retry_after`.
    pub fn throttled(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                ErrorKind::Throttled,
                format!("too many failed attempts; retry in {retry_after} s"),
            )
        }
    }

    /// A framework rejection that comes with its own status (a client error keeps its message;
    /// a server error is internal).
    pub fn rejection(status: StatusCode, message: impl Into<String>) -> Self {
        let kind = if status.is_server_error() {
            ErrorKind::Internal
        } else {
            ErrorKind::InvalidArgument
        };
        ApiError {
            status: Some(status),
            ..ApiError::new(kind, message)
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Seconds for `Retry-After`, when the error carries them.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| kind_status(self.kind))
    }
}

/// The HTTP status of a kind ([`ErrorKind::http_status`]) as axum's type.
pub fn kind_status(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The JSON error body for a status and message.
pub fn error_body(status: StatusCode, error: &str) -> StatusMessage {
    StatusMessage {
        error: error.to_string(),
        message: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        field: None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = if self.kind == ErrorKind::Internal {
            tracing::error!(error = %self.message, "internal error answering a request");
            "internal server error".to_string()
        } else {
            self.message
        };
        let body = StatusMessage {
            field: self.field,
            ..error_body(status, &error)
        };
        let mut resp = (status, Json(body)).into_response();
        let retry_after = match self.retry_after {
            Some(secs) => Some(secs),
            None if self.kind.retries() => Some(keyward_commands::hashing::RETRY_AFTER_SECS),
            None => None,
        };
        if let Some(secs) = retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match (e.retry_after(), e.field()) {
            (Some(secs), _) => ApiError::throttled(secs),
            (None, Some(field)) => ApiError::invalid_field(field, e.to_string()),
            (None, None) => ApiError::new(e.kind(), e.to_string()),
        }
    }
}

/// Why a request is not authenticated. Deliberately coarse: clients learn nothing more.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required")]
    Missing,
    #[error("invalid token")]
    Invalid,
    #[error("authentication backend unavailable")]
    Unavailable,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::Invalid => ApiError::unauthorized(e.to_string()),
            AuthError::Unavailable => ApiError::unavailable(e.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = match r.status() {
            // A body that parses but does not fit the schema is still a bad request.
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            s => s,
        };
        let text = r.body_text();
        let field = matches!(r, JsonRejection::JsonDataError(_))
            .then(|| json_error_path(&text))
            .flatten();
        ApiError {
            field,
            ..ApiError::rejection(status, text)
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        ApiError {
            field: query_error_field(&text),
            ..ApiError::rejection(r.status(), text)
        }
    }
}

/// The parameter a query string that does not fit names: axum reports serde's field first
/// (`Failed to deserialize query string: limit: invalid digit …`).
fn query_error_field(text: &str) -> Option<String> {
    let (field, _) = text.split_once("query string: ")?.1.split_once(": ")?;
    (!field.is_empty() && !field.contains(char::is_whitespace)).then(|| field.to_string())
}

/// The field path of a body that parsed but did not fit the schema: axum reports serde's path
/// first (`…target type: filters.allowed_ip[0]: invalid type: …`); `None` for the root.
fn json_error_path(text: &str) -> Option<String> {
    let rest = text.split_once("target type: ")?.1;
    let (path, _) = rest.split_once(": ")?;
    let path = path.trim();
    (!path.is_empty() && path != "." && !path.contains(char::is_whitespace))
        .then(|| path.to_string())
}

/// `Query<T>` whose rejections are [`ApiError`]s naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(ApiError::from)
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(ApiError::from)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Middleware: any 4xx/5xx that is not JSON yet (axum's own rejections, 404, 405) gets the JSON
/// error body; headers such as `Allow` are kept.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(resp.headers()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = if status.is_server_error() {
        tracing::error!(status = status.as_u16(), error = %text, "request failed");
        "internal server error".to_string()
    } else if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (parts, Json(error_body(status, &error))).into_response()
}

/// Fallback for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_errors_map_to_statuses() {
        let s = |e: CommandError| ApiError::from(e).status();
        assert_eq!(s(CommandError::Usage("x".into())), StatusCode::BAD_REQUEST);
        assert_eq!(
            s(CommandError::Invalid("x".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(s(CommandError::NotFound("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(s(CommandError::Conflict("x".into())), StatusCode::CONFLICT);
        assert_eq!(
            s(CommandError::Forbidden("x".into())),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            s(CommandError::Unavailable("x".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            s(CommandError::Overloaded("x".into())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            s(CommandError::Internal("x".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let throttled = ApiError::from(CommandError::Throttled {
            message: "slow down".into(),
            retry_after: 7,
        });
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            throttled.to_string(),
            "too many failed attempts; retry in 7 s"
        );
        assert_eq!(throttled.retry_after(), Some(7));
    }

    #[test]
    fn a_query_that_does_not_fit_names_the_parameter() {
        assert_eq!(
            query_error_field(
                "Failed to deserialize query string: limit: invalid digit found in string"
            )
            .as_deref(),
            Some("limit")
        );
        assert_eq!(
            query_error_field("Failed to deserialize query string"),
            None
        );
    }

    #[test]
    fn a_body_that_does_not_fit_names_the_field() {
        assert_eq!(
            json_error_path(
                "Failed to deserialize the JSON body into the target type: uid: invalid type: \
                 string \"abc\", expected i64 at line 1 column 10"
            )
            .as_deref(),
            Some("uid")
        );
        assert_eq!(
            json_error_path(
                "Failed to deserialize the JSON body into the target type: filters.allowed_ip[0]: \
                 invalid type: integer `1`, expected a string"
            )
            .as_deref(),
            Some("filters.allowed_ip[0]")
        );
        assert_eq!(
            json_error_path(
                "Failed to deserialize the JSON body into the target type: invalid type: \
                 integer `1`, expected struct UserInput"
            ),
            None
        );
    }

    #[test]
    fn rejections_keep_their_status() {
        let e = ApiError::rejection(StatusCode::UNSUPPORTED_MEDIA_TYPE, "wrong type");
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(e.message(), "wrong type");
    }

    #[test]
    fn every_kind_has_an_http_status() {
        for kind in ErrorKind::ALL {
            assert_eq!(kind_status(kind).as_u16(), kind.http_status(), "{kind}");
        }
    }
}
