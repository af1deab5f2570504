//! Reading a dump document into checked records before anything is written: the keyward format
//! (`"format": "keyward"`, version 1) or an SFTPGo dump as SFTPGo writes it (its `users`,
//! `admins` and `folders`; other sections are counted and ignored). Every problem names its
//! record (`users[3] ("bob")`), never a password; a duplicate username, serial or key id within
//! the file is refused.

use std::collections::{BTreeMap, HashMap};

use keyward_core::password::{PasswordError, scheme_name, verify_password};
use keyward_core::user::{normalize_username, username_key, validate_password};
use keyward_proto::UserInput;
use keyward_proto::dump::{
    DUMP_FORMAT, DUMP_VERSION, DumpApiKey, DumpToken, MAX_SFTPGO_DUMP_VERSION,
};
use keyward_proto::user_check::validate_user_input;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::output::CommandError;

/// The password a user record carries.
pub(crate) enum Password {
    /// None given: a new user gets no usable password, an existing one keeps its own.
    Empty,
    /// A hash of a supported scheme, stored as it is.
    Hash(String),
    /// Clear text, hashed with Argon2id before the load.
    Plain(Zeroizing<String>),
}

/// One user (or admin) record, checked.
pub(crate) struct UserRecord {
    /// `users[3] ("bob")`, for messages.
    pub label: String,
    pub username: String,
    /// The fields to apply (password removed).
    pub input: UserInput,
    pub password: Password,
    /// The integer id the file gives (kept when free).
    pub num: Option<i64>,
    /// Epoch seconds.
    pub last_login: Option<i64>,
    /// `used_quota_size`, `used_quota_files`, `last_quota_update` (ms) when given.
    pub used_quota: (Option<i64>, Option<i64>, Option<i64>),
}

/// A whole file, checked.
pub(crate) struct Parsed {
    /// `keyward` or `SFTPGo`.
    pub kind: &'static str,
    pub users: Vec<UserRecord>,
    pub tokens: Vec<(String, DumpToken)>,
    pub api_keys: Vec<(String, DumpApiKey)>,
    /// Policies (keyward dumps only), checked.
    pub policies: Vec<(String, keyward_core::policy::Policy)>,
    /// Sections read but not loaded, e.g. `2 folders`.
    pub ignored: Vec<String>,
    /// keyward's `realms` and `resolvers` sections, checked by `realms::dump_sections`.
    pub realms: Vec<Value>,
    pub resolvers: Vec<Value>,
}

fn invalid(msg: String) -> CommandError {
    CommandError::Invalid(msg)
}

/// Parses and checks a dump; `min_len` is the shortest clear-text password accepted.
pub(crate) fn parse(text: &str, min_len: usize) -> Result<Parsed, CommandError> {
    // JSON can carry NUL only escaped; no keyward text holds one (PostgreSQL refuses it).
    if text.contains("\\u0000") {
        return Err(invalid(
            "the file contains a NUL character (\\u0000), which no field may hold".into(),
        ));
    }
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| invalid(format!("the file is not valid JSON: {e}")))?;
    let Value::Object(mut doc) = doc else {
        return Err(invalid("the file is not a JSON object".into()));
    };
    let version = match doc.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| invalid("version: not an integer".into()))?,
        ),
    };
    let kind = match doc.get("format") {
        Some(Value::String(f)) if f == DUMP_FORMAT => {
            if version != Some(DUMP_VERSION) {
                return Err(invalid(format!(
                    "version: this keyward reads keyward dumps of version {DUMP_VERSION}, not {}",
                    version.map_or_else(|| "none".into(), |v| v.to_string())
                )));
            }
            "keyward"
        }
        Some(_) => return Err(invalid("format: not a keyward dump".into())),
        None => {
            if let Some(v) = version
                && !(1..=MAX_SFTPGO_DUMP_VERSION).contains(&v)
            {
                return Err(invalid(format!(
                    "version: an SFTPGo dump of version {v} is not supported (1 to \
                     {MAX_SFTPGO_DUMP_VERSION})"
                )));
            }
            "SFTPGo"
        }
    };
    let folders = folder_paths(doc.get("folders"));
    let mut users = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for (section, admin) in [("users", false), ("admins", true)] {
        for (i, v) in take_array(&mut doc, section)?.into_iter().enumerate() {
            let rec = user_record(section, i, v, admin, &folders, min_len)?;
            let key = username_key(&rec.username);
            if let Some(first) = seen.insert(key, rec.label.clone()) {
                return Err(invalid(format!("{}: duplicate of {first}", rec.label)));
            }
            users.push(rec);
        }
    }
    let mut tokens = Vec::new();
    let mut serials: HashMap<String, String> = HashMap::new();
    for (i, v) in take_array(&mut doc, "tokens")?.into_iter().enumerate() {
        let serial = v.get("serial").and_then(Value::as_str).unwrap_or_default();
        let label = format!("tokens[{i}] ({serial:?})");
        let t: DumpToken =
            serde_json::from_value(v).map_err(|e| invalid(format!("{label}: {e}")))?;
        if t.serial.trim().is_empty() || t.id.trim().is_empty() {
            return Err(invalid(format!("{label}: serial and id are required")));
        }
        if let Some(first) = serials.insert(t.serial.to_lowercase(), label.clone()) {
            return Err(invalid(format!("{label}: duplicate of {first}")));
        }
        tokens.push((label, t));
    }
    let mut api_keys = Vec::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    for (i, v) in take_array(&mut doc, "api_keys")?.into_iter().enumerate() {
        let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
        let label = format!("api_keys[{i}] ({id:?})");
        let Ok(k) = serde_json::from_value::<DumpApiKey>(v.clone()) else {
            if kind == "SFTPGo" {
                // SFTPGo's own API keys have another shape and no keyward meaning.
                continue;
            }
            return Err(invalid(format!("{label}: not an API key record")));
        };
        let hex = k.key_hash.len() == 64 && k.key_hash.bytes().all(|b| b.is_ascii_hexdigit());
        if k.id.trim().is_empty() || !hex || k.role.is_empty() {
            if kind == "SFTPGo" {
                continue;
            }
            return Err(invalid(format!(
                "{label}: id, role and a SHA-256 key_hash are required"
            )));
        }
        if let Some(first) = ids.insert(k.id.clone(), label.clone()) {
            return Err(invalid(format!("{label}: duplicate of {first}")));
        }
        api_keys.push((label, k));
    }
    let (realms, resolvers) = if kind == "SFTPGo" {
        (Vec::new(), Vec::new())
    } else {
        (
            take_array(&mut doc, "realms")?,
            take_array(&mut doc, "resolvers")?,
        )
    };
    let mut policies = Vec::new();
    if kind == "keyward" {
        let mut names: HashMap<String, String> = HashMap::new();
        for (i, v) in take_array(&mut doc, "policies")?.into_iter().enumerate() {
            let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
            let label = format!("policies[{i}] ({name:?})");
            let r: keyward_proto::policy::PolicyRecord =
                serde_json::from_value(v).map_err(|e| invalid(format!("{label}: {e}")))?;
            let p = crate::policies::transfer::from_record(&r, &label)?;
            if let Some(first) = names.insert(p.name.clone(), label.clone()) {
                return Err(invalid(format!("{label}: duplicate of {first}")));
            }
            policies.push((label, p));
        }
    }
    let mut ignored = Vec::new();
    for (name, v) in &doc {
        if let Value::Array(items) = v
            && !items.is_empty()
        {
            ignored.push(format!("{} {name}", items.len()));
        }
    }
    Ok(Parsed {
        kind,
        users,
        tokens,
        api_keys,
        policies,
        ignored,
        realms,
        resolvers,
    })
}

/// Removes and returns an array section (absent or null: empty).
fn take_array(doc: &mut Map<String, Value>, name: &str) -> Result<Vec<Value>, CommandError> {
    match doc.remove(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(invalid(format!("{name}: not a list"))),
    }
}

/// SFTPGo 2.x keeps a virtual folder's path in the top-level `folders`, by name.
fn folder_paths(folders: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for f in folders.and_then(Value::as_array).into_iter().flatten() {
        if let (Some(name), Some(path)) = (
            f.get("name").and_then(Value::as_str),
            f.get("mapped_path").and_then(Value::as_str),
        ) {
            out.insert(name.to_string(), path.to_string());
        }
    }
    out
}

fn user_record(
    section: &str,
    i: usize,
    mut v: Value,
    admin: bool,
    folders: &BTreeMap<String, String>,
    min_len: usize,
) -> Result<UserRecord, CommandError> {
    let name = v
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let label = format!("{section}[{i}] ({name:?})");
    let Some(map) = v.as_object_mut() else {
        return Err(invalid(format!("{label}: not an object")));
    };
    let password = match map.remove("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(Zeroizing::new(p)),
        Some(_) => return Err(invalid(format!("{label}: password: not a string"))),
    };
    let int = |map: &Map<String, Value>, k: &str| map.get(k).and_then(Value::as_i64);
    let num = int(map, "id");
    let last_login = int(map, "last_login")
        .filter(|ms| *ms > 0)
        .map(|ms| ms / 1000);
    let used_quota = (
        int(map, "used_quota_size"),
        int(map, "used_quota_files"),
        int(map, "last_quota_update"),
    );
    if admin {
        // SFTPGo's admins carry a list of admin permissions, not per-directory ones.
        if map.get("permissions").is_some_and(Value::is_array) {
            map.remove("permissions");
        }
        if !map.contains_key("roles") {
            map.insert("roles".into(), Value::Array(vec!["admin".into()]));
        }
    }
    if let Some(Value::Array(vfs)) = map.get_mut("virtual_folders") {
        for vf in vfs.iter_mut().filter_map(Value::as_object_mut) {
            if !vf.contains_key("mapped_path")
                && let Some(path) = vf
                    .get("name")
                    .and_then(Value::as_str)
                    .and_then(|n| folders.get(n))
            {
                vf.insert("mapped_path".into(), path.clone().into());
            }
        }
    }
    let input: UserInput =
        serde_json::from_value(v).map_err(|e| invalid(format!("{label}: {e}")))?;
    let username = normalize_username(input.username.as_deref().unwrap_or_default())
        .map_err(|e| invalid(format!("{label}: username: {e}")))?;
    validate_user_input(&input, false).map_err(|e| invalid(format!("{label}: {e}")))?;
    let password = classify(password, min_len).map_err(|e| invalid(format!("{label}: {e}")))?;
    Ok(UserRecord {
        label,
        username,
        input,
        password,
        num,
        last_login,
        used_quota,
    })
}

/// Whether a dump's password is a stored hash (kept), clear text (hashed) or absent.
fn classify(p: Option<Zeroizing<String>>, min_len: usize) -> Result<Password, String> {
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(Password::Empty);
    };
    if p.starts_with('$') {
        if scheme_name(&p) != "unknown" {
            return Ok(Password::Hash(p.to_string()));
        }
        // Unknown schemes fail before any hashing, so this costs nothing.
        if let Err(PasswordError::Unsupported(scheme)) = verify_password("", &p) {
            return Err(format!("password: unsupported hash scheme {scheme}"));
        }
    }
    for digest in ["{MD5}", "{SHA256}", "{SHA512}"] {
        if p.starts_with(digest) {
            return Err(format!(
                "password: unsalted {digest} digests are not accepted; set a new password"
            ));
        }
    }
    validate_password(&p, min_len).map_err(|e| format!("password: {e}"))?;
    Ok(Password::Plain(p))
}
