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

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};

use super::envelope::{LinotpError, parse_httperror};

/// The merged request parameters, and the status the client asked errors to carry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinotpParams {
    pub map: Map<String, Value>,
    pub httperror: Option<StatusCode>,
    /// The body was `multipart/form-data` (a browser's file upload).
    pub multipart: bool,
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

/// Parses `a=1&b=2&b=3` into pairs with `form_urlencoded` (`+` is a space, `%XX` a byte, a `%`
/// not followed by two hex digits stays as it is); empty segments and empty names are skipped.
/// Names and values must decode to UTF-8: `form_urlencoded` would put U+FFFD in place of the
/// bad bytes, so the input is checked first. `&`, `=` and `+` are ASCII and never inside a
/// `%XX` escape, so the whole input decodes to UTF-8 exactly when every name and value does.
pub fn parse_urlencoded(input: &[u8]) -> Result<Vec<(String, String)>, String> {
    if percent_encoding::percent_decode(input)
        .decode_utf8()
        .is_err()
    {
        return Err("parameters must be UTF-8 text".into());
    }
    Ok(form_urlencoded::parse(input)
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect())
}

/// The body's kind, from `Content-Type`.
#[derive(Debug, PartialEq, Eq)]
enum BodyKind {
    Form,
    Json,
    Multipart(String),
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
        "multipart/form-data" => match multer::parse_boundary(value) {
            // RFC 2046 limits a boundary to 70 characters.
            Ok(b) if (1..=70).contains(&b.len()) => Ok(BodyKind::Multipart(b)),
            _ => Err("multipart/form-data needs a boundary".into()),
        },
        _ => Err(format!(
            "unsupported content type {:?} (use application/x-www-form-urlencoded, \
             application/json or multipart/form-data)",
            essence.chars().take(100).collect::<String>()
        )),
    }
}

/// Parses a `multipart/form-data` body into (name, text) pairs with `multer`. File parts count
/// as fields named by their `name`; their content must be UTF-8 text (token files are). Parts
/// without a name are skipped; a part without any header is malformed (multer would read the
/// next part's headers as its own and lose that part).
pub async fn parse_multipart(body: Bytes, boundary: &str) -> Result<Vec<(String, String)>, String> {
    let malformed = |_| "malformed multipart/form-data body".to_string();
    let mut multipart = multer::Multipart::new(Body::from(body).into_data_stream(), boundary);
    let mut pairs = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        if field.headers().is_empty() {
            return Err("malformed multipart/form-data body".into());
        }
        let name = field.name().filter(|n| !n.is_empty()).map(str::to_string);
        let content = field.bytes().await.map_err(malformed)?;
        if let Some(name) = name {
            let text = String::from_utf8(content.into())
                .map_err(|_| format!("multipart field '{name}' is not UTF-8 text"))?;
            pairs.push((name, text));
        }
    }
    Ok(pairs)
}

/// Merges the query string and the body (by its content type) into one parameter map.
pub async fn merge(
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
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
            for (k, v) in parse_urlencoded(&body)? {
                push_pair(&mut map, k, v);
            }
        }
        BodyKind::Multipart(boundary) => {
            for (k, v) in parse_multipart(body, &boundary).await? {
                push_pair(&mut map, k, v);
            }
        }
        BodyKind::Json => {
            let text =
                std::str::from_utf8(&body).map_err(|_| "the body is not UTF-8".to_string())?;
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
        let multipart = matches!(body_kind(&headers), Ok(BodyKind::Multipart(_)));
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
        let map = merge(query.as_deref(), &headers, body)
            .await
            .map_err(|m| LinotpError::invalid(m).with_httperror(query_httperror))?;
        let httperror = parse_httperror(map.get("httperror"));
        Ok(LinotpParams {
            map,
            httperror,
            multipart,
        })
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

    async fn merged(query: Option<&str>, ct: &str, body: &str) -> Value {
        match merge(query, &headers(ct), Bytes::copy_from_slice(body.as_bytes())).await {
            Ok(m) => Value::Object(m),
            Err(e) => json!({ "error": e }),
        }
    }

    async fn is_err(query: Option<&str>, ct: &str, body: &[u8]) -> bool {
        merge(query, &headers(ct), Bytes::copy_from_slice(body))
            .await
            .is_err()
    }

    /// One form value decoded on its own: `None` when it is not UTF-8.
    fn decode_component(raw: &[u8]) -> Option<String> {
        let pairs = parse_urlencoded(&[b"v=".as_slice(), raw].concat()).ok()?;
        pairs.into_iter().next().map(|(_, v)| v)
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
    fn urlencoded_names_split_at_the_first_equals_and_plus_is_a_space_only_unescaped() {
        let pairs = parse_urlencoded(b"a+b=1%2B1=2&c%3Dd=%26&e").unwrap_or_default();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("a b", "1+1=2"), ("c=d", "&"), ("e", "")]);
    }

    #[test]
    fn urlencoded_text_that_is_not_utf8_is_refused_in_names_values_and_unnamed_pairs() {
        assert!(parse_urlencoded(b"%C3=a").is_err());
        assert!(parse_urlencoded(b"a=ok&b=%C3%28").is_err());
        // A pair without a name is skipped, but its bytes must still be text.
        assert!(parse_urlencoded(b"=%FF&a=b").is_err());
        // A character split by a separator is two broken halves, not one character.
        assert!(parse_urlencoded(b"a=%C3&b=%A9").is_err());
        assert_eq!(
            parse_urlencoded(b"a=%F0%9F%94%91").unwrap_or_default(),
            [("a".to_string(), "\u{1F511}".to_string())]
        );
    }

    #[tokio::test]
    async fn query_and_form_merge_and_repeated_names_become_lists() {
        let v = merged(
            Some("serial=S1&tokens[]=a&flag"),
            "application/x-www-form-urlencoded; charset=utf-8",
            "tokens%5B%5D=b&tokens[]=c&pin=1+2&&=x",
        )
        .await;
        assert_eq!(
            v,
            json!({"serial": "S1", "tokens[]": ["a", "b", "c"], "flag": "", "pin": "1 2"})
        );
    }

    #[tokio::test]
    async fn json_members_pass_through_and_win_over_the_query() {
        let v = merged(
            Some("serial=Q&user=alice"),
            "application/json",
            r#"{"serial": "J", "otplen": 8, "genkey": true, "tokens[]": ["a", "b"]}"#,
        )
        .await;
        assert_eq!(
            v,
            json!({"serial": "J", "user": "alice", "otplen": 8, "genkey": true, "tokens[]": ["a", "b"]})
        );
        assert_eq!(
            merged(None, "application/vnd.api+json", r#"{"a": "b"}"#).await,
            json!({"a": "b"})
        );
    }

    #[tokio::test]
    async fn bad_bodies_are_errors() {
        assert!(is_err(None, "application/json", b"[1, 2]").await);
        assert!(is_err(None, "application/json", b"\"x\"").await);
        assert!(is_err(None, "application/json", b"{\"a\": ").await);
        assert!(is_err(None, "application/json", b"{\"a\": \"\xff\"}").await);
        assert!(is_err(None, "application/x-www-form-urlencoded", b"a=%FF").await);
        assert!(is_err(None, "application/x-www-form-urlencoded", b"a=\xfe").await);
        assert!(is_err(None, "text/plain", b"a=b").await);
        assert!(is_err(None, "", b"a=b").await);
        assert!(is_err(None, "multipart/form-data", b"--x--").await);
        assert!(is_err(Some("a=%C3"), "application/json", b"").await);
        // An empty body is ignored whatever it claims to be.
        assert!(!is_err(Some("a=b"), "text/plain", b"").await);
        assert!(
            merge(Some("a=b"), &HeaderMap::new(), Bytes::new())
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn multipart_fields_and_files_are_parameters() {
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
        )
        .await;
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
        assert!(
            parse_multipart(Bytes::from(truncated), "XyZ")
                .await
                .is_err()
        );
        let binary = b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n\xff\r\n--b--";
        assert!(
            parse_multipart(Bytes::from_static(binary), "b")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn multipart_needs_a_boundary_of_1_to_70_characters() {
        let part = |b: &str| {
            format!("--{b}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--{b}--")
        };
        let parse = |ct: String, body: String| async move {
            merge(None, &headers(&ct), Bytes::from(body)).await
        };
        let needs = Err("multipart/form-data needs a boundary".to_string());
        assert_eq!(parse("multipart/form-data".into(), part("b")).await, needs);
        assert_eq!(
            parse("multipart/form-data; charset=utf-8".into(), part("b")).await,
            needs
        );
        assert_eq!(
            parse("multipart/form-data; boundary=".into(), part("")).await,
            needs
        );
        assert_eq!(
            parse("multipart/form-data; boundary=\"\"".into(), part("")).await,
            needs
        );
        let b71 = "b".repeat(71);
        assert_eq!(
            parse(format!("multipart/form-data; boundary={b71}"), part(&b71)).await,
            needs
        );
        let b70 = "b".repeat(70);
        let ok = parse(format!("multipart/form-data; boundary={b70}"), part(&b70)).await;
        assert_eq!(ok.map(Value::Object), Ok(json!({"a": "1"})));
        // Type, subtype and parameter names are case-insensitive; other parameters may follow.
        let ok = parse(
            "Multipart/Form-Data;Boundary=b;charset=utf-8".into(),
            part("b"),
        )
        .await;
        assert_eq!(ok.map(Value::Object), Ok(json!({"a": "1"})));
    }

    #[tokio::test]
    async fn multipart_parts_without_a_name_are_skipped_and_quoted_names_kept_whole() {
        let body = "--b\r\nContent-Type: text/plain\r\n\r\nno name\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nempty name\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"a;x\"; filename=\"t;1.csv\"\r\n\r\n\
                    1\r\n2\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n\
                    --b--\r\nepilogue";
        assert_eq!(
            merged(None, "multipart/form-data; boundary=b", body).await,
            json!({"a;x": "1\r\n2", "e": ""})
        );
        assert_eq!(
            merged(Some("q=1"), "multipart/form-data; boundary=b", "--b--").await,
            json!({"q": "1"})
        );
    }

    #[tokio::test]
    async fn malformed_multipart_bodies_are_errors() {
        let malformed = json!({"error": "malformed multipart/form-data body"});
        for body in [
            "no delimiter at all",
            "--bX\r\n",
            // Bare LF line ends.
            "--b\nContent-Disposition: form-data; name=\"a\"\n\n1\n--b--",
            // A part without any header.
            "--b\r\n\r\nheaderless\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--",
            // Headers never end.
            "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n",
        ] {
            assert_eq!(
                merged(None, "multipart/form-data; boundary=b", body).await,
                malformed,
                "{body:?}"
            );
        }
    }

    #[test]
    fn text_values_are_single_scalars() {
        let p = LinotpParams {
            map: match json!({"a": "x", "n": 6, "b": true, "l": ["1"], "z": null, "e": " "}) {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            httperror: Some(StatusCode::BAD_REQUEST),
            multipart: false,
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
