//! The user object of `/api/v1/user` in SFTPGo's shape (v0.9.x field names and meanings), plus
//! keyward's own fields (`email`, `email_verified`, `roles`, `description`). Every time in this
//! object is epoch **milliseconds** (0: never / none). [`User`] is what the server answers;
//! [`UserInput`] is what `POST` and `PUT` take (every field optional, the password write-only).
//! Validation lives in [`crate::user_check`], shared by the server and the clients.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A user as the server reports it. Never carries the password.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// Stable integer id (SFTPGo's `id`), assigned at creation, never reused.
    pub id: i64,
    pub username: String,
    /// 1 enabled, 0 disabled.
    pub status: i64,
    /// Account expiry in epoch milliseconds; 0: never expires.
    pub expiration_date: i64,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    /// keyward roles: superuser, admin, helpdesk, auditor.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// Maximum concurrent sessions; 0: unlimited.
    pub max_sessions: i64,
    pub filters: UserFilters,
    /// Last login in epoch milliseconds; 0: never.
    pub last_login: i64,
    /// Last quota update in epoch milliseconds; 0: never.
    pub last_quota_update: i64,
    #[serde(default)]
    pub home_dir: String,
    pub uid: i64,
    pub gid: i64,
    /// Maximum size in bytes; 0: unlimited.
    pub quota_size: i64,
    /// Maximum number of files; 0: unlimited.
    pub quota_files: i64,
    pub used_quota_size: i64,
    pub used_quota_files: i64,
    /// Permissions per directory (`/` is the home directory): `{"/": ["*"], "/dir1": ["list"]}`.
    pub permissions: BTreeMap<String, Vec<String>>,
    /// Upload limit in KB/s; 0: unlimited.
    pub upload_bandwidth: i64,
    /// Download limit in KB/s; 0: unlimited.
    pub download_bandwidth: i64,
    pub filesystem: Filesystem,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_folders: Vec<VirtualFolder>,
}

/// Login restrictions (SFTPGo `filters`). Empty lists are left out of answers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserFilters {
    /// Only these networks (CIDR) may log in; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_ip: Vec<String>,
    /// These networks (CIDR) may not log in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_ip: Vec<String>,
    /// Login methods refused for this user: keyward's `password`, `otp`, `api-key`, `radius`,
    /// or SFTPGo's `publickey`, `keyboard-interactive`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_login_methods: Vec<String>,
    /// Per-directory allowed/denied file extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_extensions: Vec<ExtensionsFilter>,
}

/// Allowed or denied file extensions below one directory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExtensionsFilter {
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_extensions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_extensions: Vec<String>,
}

/// Where the user's files live: provider 0 local, 1 S3, 2 Google Cloud Storage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Filesystem {
    #[serde(default)]
    pub provider: i64,
    #[serde(default)]
    pub s3config: S3Config,
    #[serde(default)]
    pub gcsconfig: GcsConfig,
}

/// The S3 settings (provider 1). `access_secret` is write-only in clear: answers show it sealed
/// with the server's encryption key as `$aes$<hex>`; sending that sealed form back keeps it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct S3Config {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bucket: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_prefix: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_secret: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_class: String,
    /// Multipart upload part size in MB (5–5000; 0: the default).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upload_part_size: i64,
    /// Parts uploaded in parallel (0–64; 0: the default).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upload_concurrency: i64,
}

/// The Google Cloud Storage settings (provider 2). `credentials` (the service account JSON,
/// base64) is write-only in clear and shown sealed as `$aes$<hex>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GcsConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bucket: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_prefix: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credentials: String,
    /// 1: use the environment's credentials instead of `credentials`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub automatic_credentials: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_class: String,
}

/// A directory outside the home directory, mapped into the user's tree.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VirtualFolder {
    pub virtual_path: String,
    pub mapped_path: String,
}

/// `POST /api/v1/user` and `PUT /api/v1/user/{id}` body. Every field is optional: on `PUT`, a
/// field left out keeps its value and a given one replaces it whole (`filters`, `filesystem`,
/// `permissions` and `virtual_folders` included), which is how SFTPGo's client, sending the whole
/// object, replaces everything. `id` and the read-only fields (`last_login`, `used_quota_*`,
/// `last_quota_update`) are ignored. Times in epoch milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserInput {
    /// Ignored (the path names the user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Required on `POST`; on `PUT` it must name the same user if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Write-only: required on `POST`; on `PUT` it sets a new password (other sessions end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    /// Epoch milliseconds; 0: never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sessions: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<UserFilters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_files: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_bandwidth: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_bandwidth: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<Filesystem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_folders: Option<Vec<VirtualFolder>>,
}

/// Most users one `GET /api/v1/user` answers (SFTPGo's cap too).
pub const MAX_USERS_PAGE: u32 = 500;
/// Users per page when `limit` is not given.
pub const DEFAULT_USERS_PAGE: u32 = 100;

/// Paging of `GET /api/v1/user`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Users per page, 1–500 (default 100).
    pub limit: Option<u32>,
    /// Users to skip (default 0).
    pub offset: Option<u64>,
    /// Only the user of exactly this name.
    pub username: Option<String>,
    /// `ASC` (default) or `DESC`, by username.
    pub order: Option<String>,
}

/// `PUT /api/v1/user/{id}` query.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpdateUserQuery {
    /// 1: also end the user's sessions (connections).
    pub disconnect: Option<u8>,
}

/// `PUT /api/v1/changepwd` body: the signed-in account's own password change.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}
