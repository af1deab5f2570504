//! How `keyward api` prints: JSON with keys sorted and an indent of 2 (as SFTPGo's client does),
//! coloured on a terminal unless NO_COLOR / `--no-color`; and the masking of secrets for
//! `--debug` (passwords, tokens, secrets, the Authorization header).

use serde_json::Value;

const KEY: &str = "\x1b[34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[36m";
const LITERAL: &str = "\x1b[35m";
const RESET: &str = "\x1b[0m";

/// Pretty JSON, keys sorted, indent 2; ANSI colours when `color`.
pub fn render(value: &Value, color: bool) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0, color);
    out
}

fn paint(out: &mut String, text: &str, code: &str, color: bool) {
    if color {
        out.push_str(code);
        out.push_str(text);
        out.push_str(RESET);
    } else {
        out.push_str(text);
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    out.push_str(&"  ".repeat(level));
}

fn write_value(out: &mut String, value: &Value, level: usize, color: bool) {
    match value {
        Value::Null => paint(out, "null", LITERAL, color),
        Value::Bool(b) => paint(out, &b.to_string(), LITERAL, color),
        Value::Number(n) => paint(out, &n.to_string(), NUMBER, color),
        Value::String(s) => paint(out, &quoted(s), STRING, color),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                write_value(out, item, level + 1, color);
            }
            indent(out, level);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                paint(out, &quoted(key), KEY, color);
                out.push_str(": ");
                write_value(out, &map[key], level + 1, color);
            }
            indent(out, level);
            out.push('}');
        }
    }
}

/// Keys whose values are secrets: masked in `--debug` output.
const SECRET_KEYS: &[&str] = &[
    "password",
    "old_password",
    "new_password",
    "token",
    "access_secret",
    "credentials",
    "secret",
    "api_key",
    "key",
    "otpkey",
    "pin",
    "otpauth_uri",
    "otp1",
    "otp2",
];

/// A copy of `value` with every secret-named string replaced by `"******"`.
pub fn masked(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let secret = SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str())
                        && !matches!(v, Value::Null)
                        && v.as_str() != Some("");
                    let v = if secret {
                        Value::String("******".into())
                    } else {
                        masked(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        other => other.clone(),
    }
}

/// An Authorization header value with its credential masked (`Basic ******`).
pub fn masked_authorization(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, _)) => format!("{scheme} ******"),
        None => "******".to_string(),
    }
}

/// Whether to colour: `--color` forces, `--no-color` or NO_COLOR (any value) disables, else
/// only when stdout is a terminal.
pub fn use_color(force: bool, disable: bool) -> bool {
    if disable {
        return false;
    }
    if force {
        return true;
    }
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    std::io::IsTerminal::is_terminal(&std::io::stdout())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_indent_two_like_the_seed() {
        let v = json!({"status": 200, "message": "Alive", "error": ""});
        assert_eq!(
            render(&v, false),
            "{\n  \"error\": \"\",\n  \"message\": \"Alive\",\n  \"status\": 200\n}"
        );
        let v = json!([{"b": [1, 2], "a": {}}]);
        assert_eq!(
            render(&v, false),
            "[\n  {\n    \"a\": {},\n    \"b\": [\n      1,\n      2\n    ]\n  }\n]"
        );
        assert!(render(&v, true).contains("\x1b[34m\"a\"\x1b[0m"));
    }

    #[test]
    fn secrets_are_masked() {
        let v = json!({"username": "u", "password": "p", "filesystem": {"s3config": {"access_secret": "s"}}});
        let m = masked(&v).to_string();
        assert!(!m.contains("\"p\"") && !m.contains("\"s\""), "{m}");
        assert!(m.contains("\"u\""));
        assert_eq!(masked_authorization("Basic YWJj"), "Basic ******");
    }
}
