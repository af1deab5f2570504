//! A policy as files carry it: `config export -t policy` writes `{"policy": {NAME: record}}`,
//! `config import -t policy` and `config policy create -f FILE` read records, and the
//! `policies` array of `dumpdata` holds the same records. Field names are privacyIDEA's
//! (`realm`, `user`, `resolver`, `client`, `adminuser`); lists are written as arrays and read
//! from arrays or comma-separated text, `action` is written as text (`otppin=userstore,
//! passthru`) and read from text or an object of action names to values.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyRecord {
    pub name: String,
    pub scope: String,
    #[serde(deserialize_with = "action_text")]
    pub action: String,
    #[serde(deserialize_with = "text_list")]
    pub realm: Vec<String>,
    #[serde(deserialize_with = "text_list")]
    pub user: Vec<String>,
    #[serde(deserialize_with = "text_list")]
    pub resolver: Vec<String>,
    #[serde(deserialize_with = "text_list")]
    pub client: Vec<String>,
    #[serde(deserialize_with = "text_list")]
    pub adminuser: Vec<String>,
    #[serde(deserialize_with = "flag", default = "yes")]
    pub active: bool,
    pub priority: Option<i64>,
    pub description: String,
}

fn yes() -> bool {
    true
}

/// The export document: policies by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyExport {
    pub policy: BTreeMap<String, PolicyRecord>,
}

/// A list given as an array of strings, comma-separated text, or null.
fn text_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(D::Error::custom("expected a list of strings")),
            })
            .collect(),
        _ => Err(D::Error::custom("expected a list or comma-separated text")),
    }
}

/// The actions as text, or an object of names to values (`true` or a value; `false` leaves the
/// action out).
fn action_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s),
        Value::Object(map) => {
            let mut items = Vec::new();
            for (name, v) in map {
                match v {
                    Value::Bool(true) => items.push(name),
                    Value::Bool(false) | Value::Null => {}
                    Value::String(s) => items.push(format!("{name}={s}")),
                    Value::Number(n) => items.push(format!("{name}={n}")),
                    _ => return Err(D::Error::custom(format!("action {name}: not a value"))),
                }
            }
            Ok(items.join(", "))
        }
        _ => Err(D::Error::custom("expected text or an object of actions")),
    }
}

/// A boolean given as such, as 0/1 or as text.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Null => Ok(true),
        Value::Number(n) => Ok(n.as_i64() != Some(0)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(D::Error::custom("active: expected true or false")),
        },
        _ => Err(D::Error::custom("active: expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_lists_and_actions_in_either_form() {
        let r: PolicyRecord = serde_json::from_str(
            r#"{"name": "p", "scope": "authentication", "action": {"passthru": true,
                "otppin": "userstore", "x": false}, "realm": "a, b", "client": ["10.0.0.0/8"],
                "active": "False"}"#,
        )
        .unwrap();
        assert_eq!(r.action, "otppin=userstore, passthru");
        assert_eq!(r.realm, vec!["a", "b"]);
        assert_eq!(r.client, vec!["10.0.0.0/8"]);
        assert!(!r.active);
        let r: PolicyRecord = serde_json::from_str(r#"{"name": "q"}"#).unwrap();
        assert!(r.active && r.priority.is_none() && r.user.is_empty());
    }
}
