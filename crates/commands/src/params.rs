//! Named parameters (LinOTP-style requests): turns a map of request fields into a command's typed
//! argument struct, and parses the text values those APIs use (`"1"`, `"true"`, numbers,
//! `unlimited`) with errors that name the parameter.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::output::CommandError;

/// Longest parameter value accepted (anything longer is an input error, not a database write).
pub const MAX_PARAM_LEN: usize = 4096;
/// Longest value of the one parameter that carries a whole file: `file` (`/admin/loadtokens`).
pub const MAX_FILE_PARAM_LEN: usize = keyward_core::otp::import::MAX_IMPORT_BYTES;

/// Deserialises `A` from request fields. Scalars become text (form values are text anyway);
/// `null`s are dropped; lists stay lists of text; unknown names are ignored (LinOTP clients send
/// `session`, `httperror` and the like).
pub fn from_map<A: DeserializeOwned>(map: Map<String, Value>) -> Result<A, CommandError> {
    let mut clean = Map::new();
    for (k, v) in map {
        let v = match v {
            Value::Null => continue,
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .filter_map(scalar_text)
                    .map(Value::String)
                    .collect(),
            ),
            other => match scalar_text(other) {
                Some(t) => Value::String(t),
                None => {
                    return Err(CommandError::Invalid(format!(
                        "parameter '{k}' must be a text value"
                    )));
                }
            },
        };
        let limit = if k == "file" {
            MAX_FILE_PARAM_LEN
        } else {
            MAX_PARAM_LEN
        };
        let too_long = match &v {
            Value::String(s) => s.len() > limit,
            Value::Array(a) => {
                a.len() > 10_000
                    || a.iter()
                        .any(|i| i.as_str().is_some_and(|s| s.len() > MAX_PARAM_LEN))
            }
            _ => false,
        };
        if too_long {
            return Err(CommandError::Invalid(format!(
                "parameter '{k}' is too long"
            )));
        }
        clean.insert(k, v);
    }
    serde_json::from_value(Value::Object(clean)).map_err(|e| {
        let msg = e.to_string();
        match msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            Some(field) => CommandError::Invalid(format!("Missing parameter: '{field}'")),
            None => CommandError::Invalid(format!("invalid parameters: {msg}")),
        }
    })
}

fn scalar_text(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if b { "1" } else { "0" }.to_string()),
        _ => None,
    }
}

/// Serde helper: a field given once (`x=a`) or repeatedly / as a JSON list (`x[]=a&x[]=b`).
pub fn one_or_many<'de, D>(d: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(
        match <Option<OneOrMany> as serde::Deserialize>::deserialize(d)? {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
        },
    )
}

/// The value of a required parameter, trimmed; missing or empty is LinOTP's "Missing parameter".
pub fn required<'a>(name: &str, v: &'a Option<String>) -> Result<&'a str, CommandError> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(CommandError::Invalid(format!(
            "Missing parameter: '{name}'"
        ))),
    }
}

/// A present, non-empty parameter value.
pub fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An integer parameter within `min..=max`.
pub fn int_in(name: &str, text: &str, min: i64, max: i64) -> Result<i64, CommandError> {
    match text.trim().parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(_) => Err(CommandError::Invalid(format!(
            "parameter '{name}' must be between {min} and {max}"
        ))),
        Err(_) => Err(CommandError::Invalid(format!(
            "parameter '{name}' must be an integer"
        ))),
    }
}

/// A boolean parameter: 1/0, true/false, yes/no, on/off.
pub fn boolean(name: &str, text: &str) -> Result<bool, CommandError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(CommandError::Invalid(format!(
            "parameter '{name}' must be 1 or 0 (true or false)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(serde::Deserialize, Debug)]
    struct P {
        serial: String,
        #[serde(default, rename = "tokens[]", deserialize_with = "one_or_many")]
        tokens: Vec<String>,
        #[serde(default)]
        otplen: Option<String>,
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn scalars_become_text_and_lists_stay_lists() {
        let p: P = from_map(map(
            json!({"serial": "S1", "otplen": 8, "tokens[]": ["a", "b"], "x": null}),
        ))
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.serial, "S1");
        assert_eq!(p.otplen.as_deref(), Some("8"));
        assert_eq!(p.tokens, vec!["a", "b"]);
        let p: P = from_map(map(json!({"serial": "S1", "tokens[]": "a"})))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(p.tokens, vec!["a"]);
    }

    #[test]
    fn missing_field_names_the_parameter() {
        let e = from_map::<P>(map(json!({"otplen": "6"}))).err();
        assert_eq!(
            e,
            Some(CommandError::Invalid("Missing parameter: 'serial'".into()))
        );
    }

    #[test]
    fn typed_values_are_checked() {
        assert_eq!(int_in("otplen", "8", 6, 8).ok(), Some(8));
        assert!(int_in("otplen", "x", 6, 8).is_err());
        assert!(int_in("otplen", "9", 6, 8).is_err());
        assert_eq!(boolean("genkey", "1").ok(), Some(true));
        assert!(boolean("genkey", "maybe").is_err());
        assert!(required("serial", &Some("  ".into())).is_err());
    }
}
