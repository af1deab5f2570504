//! Request and response bodies of the REST routes (`/auth/*`, `/api/v1/*`, the management
//! endpoint), with their OpenAPI schemas; the server serves them and the clients read them.

use serde::{Deserialize, Serialize};

use crate::ids::{ApiKeyId, SessionId, Username};
use utoipa::{IntoParams, ToSchema};

/// Every error, and SFTPGo-style acknowledgements: `{"error": "", "message": "Alive", "status": 200}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusMessage {
    /// What went wrong (empty on success).
    pub error: String,
    /// Human-readable summary.
    pub message: String,
    /// The HTTP status code.
    pub status: u16,
    /// On a 400 that names one argument or field of the request (`email`,
    /// `filters.allowed_ip`, `limit`): its name. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl StatusMessage {
    pub fn ok(message: impl Into<String>) -> Self {
        StatusMessage {
            error: String::new(),
            message: message.into(),
            status: 200,
            field: None,
        }
    }
}

/// `POST /auth/login` body.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
    /// Token PIN + OTP, required when the user has an active token. For an e-mail, SMS or
    /// OCRA token: its PIN alone opens a challenge (answered 202), then the OTP it delivered
    /// together with `transaction_id`.
    #[serde(default)]
    pub otp: Option<String>,
    /// The challenge being answered (from a 202 answer), with the delivered OTP in `otp`.
    #[serde(default)]
    pub transaction_id: Option<String>,
}

/// `POST /auth/login` answered 202: the password was right and a challenge is open; log in
/// again with the same credentials, the OTP in `otp` and this `transaction_id`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginChallenge {
    pub transaction_id: String,
    /// What happened, e.g. "an OTP was sent by e-mail".
    pub message: String,
    /// The question an OCRA token computes its response over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

/// A new session: the bearer token (shown once) and its expiry (epoch seconds).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: i64,
    pub username: String,
}

/// `POST /auth/register` body.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct RegisterBody {
    pub username: String,
    pub password: String,
    pub email: String,
}

/// A user as registration reports it.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    pub username: String,
    pub email: String,
    /// Roles, e.g. `["superuser"]` for the first user.
    pub roles: Vec<String>,
}

/// The authenticated caller (`GET /api/v1/me`).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    pub username: String,
    pub roles: Vec<String>,
    /// `session` or `api_key`.
    pub auth: String,
}

/// One active session, in SFTPGo's `get-connections` shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Connection {
    #[schema(value_type = String)]
    pub connection_id: SessionId,
    #[schema(value_type = String)]
    pub username: Username,
    /// `http`, `radius` or `api`.
    pub protocol: String,
    pub remote_address: String,
    /// The client's user agent.
    pub client_version: String,
    /// Epoch milliseconds.
    pub connection_time: i64,
    /// Epoch milliseconds.
    pub last_activity: i64,
    /// Epoch seconds.
    pub expires_at: i64,
    pub active_transfers: Vec<serde_json::Value>,
    /// SFTPGo's SSH command of the connection; always empty (keyward runs no SSH commands).
    #[serde(default)]
    pub ssh_command: String,
}

/// The `connections` command's result: live sessions, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectionList {
    pub connections: Vec<Connection>,
}

/// One API key as `api list` shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyInfo {
    #[schema(value_type = String)]
    pub id: ApiKeyId,
    /// `admin` or `validate`.
    pub role: String,
    #[schema(value_type = String)]
    pub username: Username,
    pub realm: String,
    pub description: String,
    /// Epoch seconds.
    pub created_at: i64,
    /// Epoch seconds.
    pub expires_at: i64,
    /// Epoch seconds, when revoked.
    pub revoked_at: Option<i64>,
    /// `revoked_at` as RFC 3339, or `never`.
    pub revoked: String,
    /// `active`, `expired` or `revoked`.
    pub status: String,
}

/// `POST /server/management-command/` body (Psono).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct ManagementRequest {
    /// The command, e.g. `createuser` or `api createtoken` (words separated by spaces).
    pub command_name: String,
    /// Its arguments.
    #[serde(default)]
    pub command_args: Vec<String>,
    /// Also return the command's structured result in `result`.
    #[serde(default)]
    pub json: bool,
}

/// What the command printed (or, with `exit_code` ≠ 0, its error message).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct ManagementResponse {
    pub output: String,
    pub exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// 403 of the management endpoint: `{"detail": "Invalid access key"}`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct ManagementDenied {
    pub detail: String,
}

/// 400 of the management endpoint: command not allowed, unknown, or a malformed request.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct ManagementRejected {
    /// e.g. `["MANAGEMENT_COMMAND_NOT_ALLOWED"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_field_errors: Vec<String>,
    /// Problems with `command_name` (e.g. unknown command).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command_name: Vec<String>,
}

/// Build information (`GET /api/v1/version`).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionInfo {
    pub version: String,
    pub commit_hash: String,
    pub build_date: String,
}

/// `GET /healthz` answer.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` or what is wrong.
    pub status: String,
}

/// One audit log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub chain: String,
    pub seq: i64,
    /// Epoch milliseconds.
    pub ts_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub success: bool,
    pub client: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
    pub signature: String,
}

/// One page of the audit log, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before_id` for the next (older) page; absent on the last page.
    pub next_before_id: Option<i64>,
}

/// Paging of `GET /api/v1/audit`.
#[derive(Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries per page (1–1000, default 100).
    pub limit: Option<u32>,
    /// Only entries with a smaller id (keyset paging).
    pub before_id: Option<i64>,
    /// Only entries written at or after this time (epoch seconds).
    pub since: Option<i64>,
}

/// Header on the management endpoint's 403 when the endpoint is disabled, so `keyward manage
/// --remote` can say the endpoint is off rather than that the key is wrong (the body stays
/// Psono's `{"detail": "Invalid access key"}`).
pub const MANAGEMENT_OFF_HEADER: &str = "keyward-management-endpoint";
