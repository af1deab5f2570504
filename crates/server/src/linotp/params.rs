//! LinOTP request parameters: one map from the query string and the body, whatever the client
//! used — `application/x-www-form-urlencoded`, a JSON object (`application/json`, `…+json`) or
//! `multipart/form-data` (`/admin/loadtokens` uploads its file that way).
//!
//! Merging rules: query pairs come first, then form or multipart pairs; a name given more than
//! once (`tokens[]=a&tokens[]=b`) becomes a JSON array of its texts, in order. A JSON body's
//! members are merged last and replace query values of the same name; JSON numbers and booleans
//! pass through unchanged (the commands turn scalars into text). An empty body is ignored
//! whatever its content type. Malformed bodies, text that is not UTF-8 (also when
//! percent-encoded), JSON that is not an object and unsupported content types are refused with
//! a 905 envelope — never a 500.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use super::envelope::{LinotpError, parse_httperror};

/// The merged request parameters, and the status the client asked errors to carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinotpParams {
    pub map: Map<String, Value>,
    pub httperror: Option<StatusCode>,
}

impl LinotpParams {
    /// A parameter as one text value: scalars as text, `null`/absent as `None`; a list or an
    /// object is a 905 error.
    pub fn text(&self, name: &str) -> Result<Option<String>, LinotpError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(if *b { "1" } else { "0" }.to_string())),
            Some(_) => Err(LinotpError::invalid(format!(
                "parameter '{name}' must be a single text value"
            ))
            .with_httperror(self.httperror)),
        }
    }

    /// Like [`Self::text`], with empty (or blank) values treated as absent.
    pub fn non_empty(&self, name: &str) -> Result<Option<String>, LinotpError> {
        Ok(self.text(name)?.filter(|s| !s.trim().is_empty()))
    }
}

/// Adds one form pair: the first value of a name is a string, further ones make it a list.
fn push_pair(map: &mut Map<String, Value>, key: String, value: String) {
    match map.get_mut(&key) {
        None => {
            map.insert(key, Value::String(value));
        }
        Some(Value::Array(items)) => items.push(Value::String(value)),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, Value::String(value)]);
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte
/// (a `%` not followed by two hex digits stays as it is), and the result must be UTF-8.
fn decode_component(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                raw.get(i + 1).and_then(|h| hex(*h)),
                raw.get(i + 2).and_then(|l| hex(*l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Parses `a=1&b=2&b=3` into pairs (empty segments and empty names are skipped).
pub fn parse_urlencoded(input: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for segment in input.split(|b| *b == b'&') {
        if segment.is_empty() {
            continue;
        }
        let (k, v) = match segment.iter().position(|b| *b == b'=') {
            Some(i) => (
                segment.get(..i).unwrap_or_default(),
                segment.get(i + 1..).unwrap_or_default(),
            ),
            None => (segment, &b""[..]),
        };
        let key = decode_component(k).ok_or_else(|| "parameters must be UTF-8 text".to_string())?;
        let value =
            decode_component(v).ok_or_else(|| "parameters must be UTF-8 text".to_string())?;
        if !key.is_empty() {
            pairs.push((key, value));
        }
    }
    Ok(pairs)
}

/// The body's kind, from `Content-Type`.
#[derive(Debug, PartialEq, Eq)]
enum BodyKind {
    Form,
    Json,
    Multipart(String),
}

/// `name=value` parameters of a header value after the first `;` (quotes removed).
fn header_param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(v)
                .to_string()
        })
    })
}

fn body_kind(headers: &HeaderMap) -> Result<BodyKind, String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("a request body needs a Content-Type".into());
    };
    let value = value
        .to_str()
        .map_err(|_| "unsupported content type".to_string())?;
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Ok(BodyKind::Form),
        "application/json" => Ok(BodyKind::Json),
        s if s.starts_with("application/") && s.ends_with("+json") => Ok(BodyKind::Json),
        "multipart/form-data" => match header_param(value, "boundary") {
            Some(b) if (1..=70).contains(&b.len()) => Ok(BodyKind::Multipart(b)),
            _ => Err("multipart/form-data needs a boundary".into()),
        },
        _ => Err(format!(
            "unsupported content type {:?} (use application/x-www-form-urlencoded, \
             application/json or multipart/form-data)",
            essence.chars().take(100).collect::<String>()
        )),
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// Parses a `multipart/form-data` body into (name, text) pairs. File parts count as fields
/// named by their `name`; their content must be UTF-8 text (token files are).
pub fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<(String, String)>, String> {
    let malformed = || "malformed multipart/form-data body".to_string();
    let delimiter = [b"--".as_slice(), boundary.as_bytes()].concat();
    let next_delimiter = [b"\r\n".as_slice(), &delimiter].concat();
    let mut pos = find(body, &delimiter, 0).ok_or_else(malformed)? + delimiter.len();
    let mut pairs = Vec::new();
    loop {
        let rest = body.get(pos..).ok_or_else(malformed)?;
        if rest.starts_with(b"--") {
            return Ok(pairs);
        }
        let start = if rest.starts_with(b"\r\n") {
            pos + 2
        } else {
            return Err(malformed());
        };
        let end = find(body, &next_delimiter, start).ok_or_else(malformed)?;
        let part = body.get(start..end).ok_or_else(malformed)?;
        let split = find(part, b"\r\n\r\n", 0);
        let (head, content) = match split {
            Some(i) => (
                part.get(..i).unwrap_or_default(),
                part.get(i + 4..).unwrap_or_default(),
            ),
            // A part without headers has no name: it cannot be a parameter.
            None if part.starts_with(b"\r\n") => (&b""[..], part.get(2..).unwrap_or_default()),
            None => return Err(malformed()),
        };
        let head = std::str::from_utf8(head).map_err(|_| malformed())?;
        let name = head
            .split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
            .and_then(|(_, v)| header_param(v, "name"));
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            let text = std::str::from_utf8(content)
                .map_err(|_| format!("multipart field '{name}' is not UTF-8 text"))?;
            pairs.push((name, text.to_string()));
        }
        pos = end + next_delimiter.len();
    }
}

/// Merges the query string and the body (by its content type) into one parameter map.
pub fn merge(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for (k, v) in parse_urlencoded(query.unwrap_or_default().as_bytes())? {
        push_pair(&mut map, k, v);
    }
    if body.is_empty() {
        return Ok(map);
    }
    match body_kind(headers)? {
        BodyKind::Form => {
            for (k, v) in parse_urlencoded(body)? {
                push_pair(&mut map, k, v);
            }
        }
        BodyKind::Multipart(boundary) => {
            for (k, v) in parse_multipart(body, &boundary)? {
                push_pair(&mut map, k, v);
            }
        }
        BodyKind::Json => {
            let text =
                std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(obj)) => map.extend(obj),
                Ok(_) => return Err("the JSON body must be an object".into()),
                Err(e) => return Err(format!("malformed JSON body: {e}")),
            }
        }
    }
    Ok(map)
}

impl<S: Send + Sync> FromRequest<S> for LinotpParams {
    type Rejection = LinotpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = req.uri().query().map(str::to_string);
        // For an error in the body, `httperror` can still come from the query string.
        let query_httperror = parse_urlencoded(query.as_deref().unwrap_or_default().as_bytes())
            .ok()
            .and_then(|pairs| {
                pairs
                    .into_iter()
                    .find(|(k, _)| k == "httperror")
                    .and_then(|(_, v)| parse_httperror(Some(&Value::String(v))))
            });
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await.map_err(|r| {
            let status = r.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the request body is too large".to_string()
            } else {
                "the request body could not be read".to_string()
            };
            if status.is_client_error() {
                LinotpError::invalid_with_status(message, status)
            } else {
                LinotpError::invalid(message).with_httperror(query_httperror)
            }
        })?;
        let map = merge(query.as_deref(), &headers, &body)
            .map_err(|m| LinotpError::invalid(m).with_httperror(query_httperror))?;
        let httperror = parse_httperror(map.get("httperror"));
        Ok(LinotpParams { map, httperror })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h
    }

    fn merged(query: Option<&str>, ct: &str, body: &str) -> Value {
        match merge(query, &headers(ct), body.as_bytes()) {
            Ok(m) => Value::Object(m),
            Err(e) => json!({ "error": e }),
        }
    }

    #[test]
    fn urlencoded_components_decode_strictly() {
        assert_eq!(decode_component(b"a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(decode_component(b"%C3%A9").as_deref(), Some("é"));
        assert_eq!(decode_component(b"100%").as_deref(), Some("100%"));
        assert_eq!(decode_component(b"%%41").as_deref(), Some("%A"));
        assert_eq!(decode_component(b"%4").as_deref(), Some("%4"));
        assert_eq!(decode_component(b"%zz").as_deref(), Some("%zz"));
        assert_eq!(decode_component(b"%FF"), None);
        assert_eq!(decode_component(b"\xff"), None);
    }

    #[test]
    fn query_and_form_merge_and_repeated_names_become_lists() {
        let v = merged(
            Some("serial=S1&tokens[]=a&flag"),
            "application/x-www-form-urlencoded; charset=utf-8",
            "tokens%5B%5D=b&tokens[]=c&pin=1+2&&=x",
        );
        assert_eq!(
            v,
            json!({"serial": "S1", "tokens[]": ["a", "b", "c"], "flag": "", "pin": "1 2"})
        );
    }

    #[test]
    fn json_members_pass_through_and_win_over_the_query() {
        let v = merged(
            Some("serial=Q&user=alice"),
            "application/json",
            r#"{"serial": "J", "otplen": 8, "genkey": true, "tokens[]": ["a", "b"]}"#,
        );
        assert_eq!(
            v,
            json!({"serial": "J", "user": "alice", "otplen": 8, "genkey": true, "tokens[]": ["a", "b"]})
        );
        assert_eq!(
            merged(None, "application/vnd.api+json", r#"{"a": "b"}"#),
            json!({"a": "b"})
        );
    }

    #[test]
    fn bad_bodies_are_errors() {
        let err = |q: Option<&str>, ct: &str, body: &[u8]| merge(q, &headers(ct), body).is_err();
        assert!(err(None, "application/json", b"[1, 2]"));
        assert!(err(None, "application/json", b"\"x\""));
        assert!(err(None, "application/json", b"{\"a\": "));
        assert!(err(None, "application/json", b"{\"a\": \"\xff\"}"));
        assert!(err(None, "application/x-www-form-urlencoded", b"a=%FF"));
        assert!(err(None, "application/x-www-form-urlencoded", b"a=\xfe"));
        assert!(err(None, "text/plain", b"a=b"));
        assert!(err(None, "", b"a=b"));
        assert!(err(None, "multipart/form-data", b"--x--"));
        assert!(err(Some("a=%C3"), "application/json", b""));
        // An empty body is ignored whatever it claims to be.
        assert!(!err(Some("a=b"), "text/plain", b""));
        assert!(merge(Some("a=b"), &HeaderMap::new(), b"").is_ok());
    }

    #[test]
    fn multipart_fields_and_files_are_parameters() {
        let body = "preamble\r\n--XyZ\r\n\
                    Content-Disposition: form-data; name=\"type\"\r\n\r\n\
                    oathcsv\r\n\
                    --XyZ\r\n\
                    Content-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\n\
                    Content-Type: text/csv\r\n\r\n\
                    S1, 3132, hotp\r\nS2, 3334, totp\r\n\
                    --XyZ\r\n\
                    Content-Disposition: form-data; name=\"tokens[]\"\r\n\r\na\r\n\
                    --XyZ\r\n\
                    Content-Disposition: form-data; name=\"tokens[]\"\r\n\r\nb\r\n\
                    --XyZ--\r\n";
        let v = merged(
            Some("realm=r1"),
            "multipart/form-data; boundary=\"XyZ\"",
            body,
        );
        assert_eq!(
            v,
            json!({
                "realm": "r1",
                "type": "oathcsv",
                "file": "S1, 3132, hotp\r\nS2, 3334, totp",
                "tokens[]": ["a", "b"],
            })
        );
        let truncated = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb";
        assert!(parse_multipart(truncated.as_bytes(), "XyZ").is_err());
        let binary = b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\xff\r\n--b--";
        assert!(parse_multipart(binary, "b").is_err());
    }

    #[test]
    fn text_values_are_single_scalars() {
        let p = LinotpParams {
            map: match json!({"a": "x", "n": 6, "b": true, "l": ["1"], "z": null, "e": " "}) {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            httperror: Some(StatusCode::BAD_REQUEST),
        };
        assert_eq!(p.text("a").ok().flatten().as_deref(), Some("x"));
        assert_eq!(p.text("n").ok().flatten().as_deref(), Some("6"));
        assert_eq!(p.text("b").ok().flatten().as_deref(), Some("1"));
        assert_eq!(p.text("z").ok().flatten(), None);
        assert_eq!(p.text("missing").ok().flatten(), None);
        assert_eq!(p.non_empty("e").ok().flatten(), None);
        let e = p.text("l").err();
        assert_eq!(e.map(|e| e.status), Some(StatusCode::BAD_REQUEST));
    }
}
