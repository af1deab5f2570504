//! Traceable requests: every request gets an id — the client's `X-Request-Id` when it is a
//! short token of safe characters, else a fresh one — that names the request's tracing span
//! (so every log line of the request, the registry command's included, carries it) and comes
//! back as the `X-Request-Id` response header.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";
/// Longest id taken from a client.
const MAX_LEN: usize = 64;

/// The id of a request, in its extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A client's id when it is safe to log and echo: 1–64 of `A-Z a-z 0-9 - _ . :`.
fn acceptable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= MAX_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| text.to_string())
}

fn fresh() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Middleware (outermost): names the request, runs it in its span, echoes the id.
pub async fn assign(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(acceptable)
        .unwrap_or_else(fresh);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(HEADER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_safe_ids_are_taken_from_clients() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(
            acceptable(&v("abc-123_x.y:z")).as_deref(),
            Some("abc-123_x.y:z")
        );
        assert_eq!(acceptable(&v("")), None);
        assert_eq!(acceptable(&v("a b")), None);
        assert_eq!(acceptable(&v("<script>")), None);
        assert_eq!(acceptable(&v(&"x".repeat(65))), None);
        assert_eq!(fresh().len(), 32);
    }
}
