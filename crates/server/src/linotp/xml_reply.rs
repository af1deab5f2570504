//! LinOTP's XML answer, which `/admin/loadtokens` gives to a browser's file upload
//! (`multipart/form-data`): the JSON-RPC envelope as elements, the value as
//! `<imported>N</imported><value>True</value>`, an error as `<status>False</status>` with
//! `<error><code>…</code><message>…</message></error>`. Text is XML-escaped; the HTTP status
//! follows the same rules as the JSON envelope.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::envelope::{LinotpError, version};

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    resp
}

/// A successful loadtokens: `{"imported": N}` as LinOTP writes it.
pub fn loadtokens_result(value: &Value) -> Response {
    let imported = value["imported"].as_u64().unwrap_or(0);
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<jsonrpc version=\"2.0\">\n    <result>\n        \
         <status>True</status>\n        <value><imported>{imported}</imported><value>True</value></value>\n    \
         </result>\n    <version>{}</version>\n    <id>1</id>\n</jsonrpc>",
        escape(&version())
    );
    xml_response(StatusCode::OK, body)
}

/// A failed loadtokens, with the error's code, message and HTTP status.
pub fn error(e: &LinotpError) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<jsonrpc version=\"2.0\">\n    <result>\n        \
         <status>False</status>\n        <error>\n            <code>{}</code>\n            \
         <message>{}</message>\n        </error>\n    </result>\n    <version>{}</version>\n    \
         <id>1</id>\n</jsonrpc>",
        e.code,
        escape(&e.message),
        escape(&version())
    );
    xml_response(e.status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_escaped() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
