//! The `dumpdata` / `loaddata` document and its REST parameters. A keyward dump is
//! `{"format": "keyward", "version": 1, "users": […], "tokens": […], "realms": […],
//! "resolvers": […], "policies": […], "api_keys": […], "admins": […]}`: `users` are user objects
//! in SFTPGo's shape (see [`crate::User`]) whose `password` holds the stored hash, `admins` the
//! same objects for accounts with a role. Tokens keep their seed and reversible PINs sealed under
//! the enckey they were made with, API keys their SHA-256 hash. A file without `format` is read
//! as an SFTPGo dump (`users`, `admins`, `folders`, its own `version`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

/// The `format` of keyward's dumps.
pub const DUMP_FORMAT: &str = "keyward";
/// The version of keyward's dump document this build writes and reads.
pub const DUMP_VERSION: i64 = 1;
/// The newest SFTPGo dump version read (SFTPGo 2.6 writes 16 or 17).
pub const MAX_SFTPGO_DUMP_VERSION: i64 = 17;
/// Largest dump file `loaddata` reads (also the largest `POST /api/v1/loaddata` body).
pub const MAX_DUMP_BYTES: u64 = 256 * 1024 * 1024;

/// A whole dump as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dump {
    /// `keyward` (absent in SFTPGo's dumps).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
    pub version: i64,
    /// User objects (SFTPGo's fields plus keyward's) of accounts without a role; `password` is
    /// the stored hash.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub users: Vec<Value>,
    #[serde(default)]
    pub tokens: Vec<DumpToken>,
    /// Realms: `{"name", "resolvers": [names in order], "default"}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub realms: Vec<Value>,
    /// Resolvers: `{"name", "type", "config", "bind_password_sealed", "users": [{"username",
    /// "external_id"}]}` (the bind password stays sealed under the enckey).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub resolvers: Vec<Value>,
    /// Policies as `config export` writes each record (see `keyward_proto::policy`).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub policies: Vec<Value>,
    #[serde(default)]
    pub api_keys: Vec<DumpApiKey>,
    /// User objects of accounts holding a role (superuser, admin, helpdesk, auditor).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub admins: Vec<Value>,
}

/// An OTP token as stored: secrets sealed (`seed_sealed`, `userpin_sealed`, `sopin_sealed`,
/// bound to `id`), the OTP PIN as its Argon2id hash. Times in epoch seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct DumpToken {
    pub id: String,
    pub serial: String,
    #[serde(rename = "type")]
    pub token_type: String,
    pub description: String,
    /// The owner's username; empty: unassigned.
    pub user: String,
    pub active: bool,
    pub seed_sealed: String,
    pub pin_hash: String,
    pub userpin_sealed: String,
    pub sopin_sealed: String,
    pub otplen: i64,
    pub hashlib: String,
    pub counter: i64,
    pub time_step: i64,
    pub time_window: i64,
    pub time_shift: i64,
    pub sync_window: i64,
    pub count_window: i64,
    pub fail_count: i64,
    pub max_fail: i64,
    pub count_auth: i64,
    pub count_auth_max: i64,
    pub count_auth_success: i64,
    pub count_auth_success_max: i64,
    pub validity_start: Option<i64>,
    pub validity_end: Option<i64>,
    pub last_auth: Option<i64>,
    #[schema(value_type = Object)]
    pub info: Map<String, Value>,
    pub realms: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An API key as stored (its SHA-256 hash, never the key). Times in epoch seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct DumpApiKey {
    pub id: String,
    pub key_hash: String,
    pub role: String,
    /// The name the key acts as.
    pub username: String,
    /// The account the key belongs to (deleted with it); empty: a service key.
    pub owner: String,
    pub realm: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// `GET /api/v1/dumpdata` (SFTPGo's client).
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DumpQuery {
    /// File name, written inside the server's `backups_path`.
    pub output_file: String,
    /// Spaces of JSON indentation (0–8; 0: one line).
    pub indent: Option<u8>,
}

/// `GET /api/v1/loaddata` (SFTPGo's client) and the query of `POST /api/v1/loaddata`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoadQuery {
    /// Dump file inside the server's `backups_path` (a name, or a path within it). Not used
    /// with `POST`, whose body is the dump.
    pub input_file: Option<String>,
    /// 0 no quota scan, 1 scan every loaded user, 2 only users with quota limits.
    pub scan_quota: Option<u8>,
    /// 0 add new users and update existing ones, 1 add new only, 2 as 0 and end the sessions
    /// of changed users.
    pub mode: Option<u8>,
}
