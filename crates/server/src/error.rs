//! The REST layer's one error type and the one place errors become HTTP responses: a JSON body
//! `{"error": "...", "message": "...", "status": N}`. Framework rejections (malformed JSON, wrong
//! content type, oversized or non-UTF-8 bodies, bad query strings, unknown routes, wrong methods)
//! are mapped here too, so clients never see a bare text error, and internal details stay in the
//! server log.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyward_commands::CommandError;
use serde::de::DeserializeOwned;

use keyward_proto::StatusMessage;

/// Everything a REST handler can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many failed attempts; retry in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// Too busy right now (password hashing slots and queue full): 503 with `Retry-After`.
    #[error("{0}")]
    Overloaded(String),
    /// Logged in full; the client sees only that something failed.
    #[error("{0}")]
    Internal(String),
    /// A rejection with its own status (from axum's extractors).
    #[error("{message}")]
    Status { status: StatusCode, message: String },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Status { status, .. } => *status,
        }
    }
}

/// The JSON error body for a status and message.
pub fn error_body(status: StatusCode, error: &str) -> StatusMessage {
    StatusMessage {
        error: error.to_string(),
        message: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error answering a request");
                "internal server error".to_string()
            }
            other => other.to_string(),
        };
        let mut resp = (status, Json(error_body(status, &error))).into_response();
        let retry_after = match self {
            ApiError::TooManyRequests { retry_after } => Some(retry_after),
            ApiError::Overloaded(_) => Some(keyward_commands::hashing::RETRY_AFTER_SECS),
            _ => None,
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
        match e {
            CommandError::Usage(m) | CommandError::Invalid(m) => ApiError::BadRequest(m),
            CommandError::NotFound(m) => ApiError::NotFound(m),
            CommandError::Conflict(m) => ApiError::Conflict(m),
            CommandError::Forbidden(m) => ApiError::Forbidden(m),
            CommandError::Unavailable(m) => ApiError::Unavailable(m),
            CommandError::Overloaded(m) => ApiError::Overloaded(m),
            CommandError::Internal(m) => ApiError::Internal(m),
            CommandError::Throttled { retry_after, .. } => {
                ApiError::TooManyRequests { retry_after }
            }
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
            AuthError::Missing | AuthError::Invalid => ApiError::Unauthorized(e.to_string()),
            AuthError::Unavailable => ApiError::Unavailable(e.to_string()),
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
        ApiError::Status {
            status,
            message: r.body_text(),
        }
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
    ApiError::NotFound("no such route".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_errors_map_to_statuses() {
        let s = |e: CommandError| ApiError::from(e).status();
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
    }
}
