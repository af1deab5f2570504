//! LinOTP-compatible API: `/admin/<endpoint>` (token administration) and `/validate/check`,
//! `/validate/simplecheck` (authentication). Thin adapters: parameters are merged from the
//! query string and the body ([`params`]), the work is done by registry commands and
//! `keyward_commands::validate`, and every answer is LinOTP's envelope ([`envelope`]):
//!
//! ```json
//! {"jsonrpc": "2.0", "result": {"status": true, "value": V}, "version": "keyward X.Y.Z", "id": 1, "detail": D}
//! {"jsonrpc": "2.0", "result": {"status": false, "error": {"code": N, "message": "…"}}, "version": "keyward X.Y.Z", "id": 1}
//! ```
//!
//! Error codes, by error kind (`keyward_proto::ErrorKind::linotp_code` and
//! `linotp_fixed_status` are the one place they are decided):
//!
//! | code   | cause                                                                    | HTTP status   |
//! |--------|--------------------------------------------------------------------------|---------------|
//! | `905`  | bad or missing parameters, malformed body (`usage`, `invalid`)           | 200¹          |
//! | `1102` | no such token / user (`not_found`)                                       | 200¹          |
//! | `1101` | already exists, not allowed in this state (`conflict`)                   | 200¹          |
//! | `-311` | missing or invalid credentials (`unauthorized`)                          | 401           |
//! | `-311` | a `validate` API key on `/admin/*`, or roles that do not allow the call (`forbidden`) | 403 |
//! | `-311` | too many failed attempts (`throttled`), with `Retry-After`               | 429           |
//! | `-1`   | internal error ("internal error"; details only in the server log)        | 200¹          |
//! | `-1`   | unavailable (database unreachable, feature not available; with reason)   | 200¹          |
//! | `-1`   | too busy hashing passwords (`overloaded`), with `Retry-After`            | 503           |
//! | `905`  | unknown `/admin/<endpoint>`                                              | 404           |
//! | `905`  | request body over the size limit                                         | 413           |
//!
//! ¹ LinOTP's rule: errors are answered with HTTP 200 unless the request carries
//! `httperror=<code>` (three digits, 400..=599), then with that status. A wrong OTP is not an
//! error (`status: true, value: false`).

pub mod admin;
pub mod admin_session;
pub mod envelope;
pub mod params;
pub mod validate;
pub mod xml_reply;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// The LinOTP routes, documented.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(admin_session::routes())
        .merge(admin::routes())
        .merge(validate::routes())
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::any;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::envelope::{LinotpError, Success};
    use super::params::LinotpParams;

    /// Echoes the merged parameters, or fails when `fail` is among them.
    async fn echo(params: Result<LinotpParams, LinotpError>) -> Response {
        match params {
            Ok(p) if p.map.contains_key("fail") => LinotpError::invalid("asked to fail")
                .with_httperror(p.httperror)
                .into_response(),
            Ok(p) => Success::new(Value::Object(p.map), None).into_response(),
            Err(e) => e.into_response(),
        }
    }

    async fn call(
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let app = Router::new()
            .route("/echo", any(echo))
            .layer(axum::extract::DefaultBodyLimit::max(256));
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        let Ok(req) = req.body(Body::from(body.to_vec())) else {
            return (StatusCode::IM_A_TEAPOT, Value::Null);
        };
        let Ok(resp) = app.oneshot(req).await;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[tokio::test]
    async fn query_and_form_body_merge() {
        let (status, body) = call(
            "POST",
            "/echo?serial=S1&tokens[]=a",
            Some("application/x-www-form-urlencoded"),
            b"tokens[]=b&pin=12%2034",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["result"]["status"], json!(true));
        assert_eq!(
            body["result"]["value"],
            json!({"serial": "S1", "tokens[]": ["a", "b"], "pin": "12 34"})
        );
    }

    #[tokio::test]
    async fn json_body_merges_on_get_too() {
        let (status, body) = call(
            "GET",
            "/echo?user=alice",
            Some("application/json; charset=utf-8"),
            br#"{"otplen": 8, "genkey": true}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["result"]["value"],
            json!({"user": "alice", "otplen": 8, "genkey": true})
        );
    }

    #[tokio::test]
    async fn garbage_is_an_envelope_not_a_500() {
        for (ct, payload) in [
            (Some("application/json"), &b"[1]"[..]),
            (Some("application/json"), &b"{nope"[..]),
            (Some("application/x-www-form-urlencoded"), &b"a=%FF"[..]),
            (Some("text/xml"), &b"<a/>"[..]),
            (None, &b"a=b"[..]),
        ] {
            let (status, body) = call("POST", "/echo", ct, payload).await;
            assert_eq!(status, StatusCode::OK, "{ct:?}");
            assert_eq!(body["result"]["status"], json!(false));
            assert_eq!(body["result"]["error"]["code"], json!(905));
            assert_eq!(body["jsonrpc"], json!("2.0"));
            assert_eq!(body["id"], json!(1));
        }
        let (status, body) = call("GET", "/echo?a=%C3%28", None, b"").await;
        assert_eq!(
            (status, &body["result"]["error"]["code"]),
            (StatusCode::OK, &json!(905))
        );
    }

    #[tokio::test]
    async fn httperror_sets_the_status_of_errors_only() {
        let (status, body) = call("GET", "/echo?fail=1&httperror=400", None, b"").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["result"]["status"], json!(false));
        let (status, _) = call(
            "POST",
            "/echo",
            Some("application/json"),
            br#"{"fail": 1, "httperror": 503}"#,
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        // Malformed body: httperror still comes from the query string.
        let (status, body) = call(
            "POST",
            "/echo?httperror=422",
            Some("application/json"),
            b"[",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["result"]["error"]["code"], json!(905));
        // Success ignores it; unusable values are ignored.
        let (status, _) = call("GET", "/echo?httperror=400", None, b"").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call("GET", "/echo?fail=1&httperror=200", None, b"").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call("GET", "/echo?fail=1&httperror=abc", None, b"").await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn oversized_body_is_413_envelope() {
        let big = vec![b'a'; 1024];
        let (status, body) = call(
            "POST",
            "/echo",
            Some("application/x-www-form-urlencoded"),
            &big,
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["result"]["error"]["code"], json!(905));
    }
}
