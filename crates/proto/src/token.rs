//! Bodies of the typed token and API key routes (`/api/v1/token`, `/api/v1/apikey`). The routes
//! run the same registry commands as LinOTP's `/admin/*` and `keyward manage api …`; these types
//! are their REST view. Every time in a token object is in epoch milliseconds (0: none); API
//! key times stay in epoch seconds, as `api list` has always shown them.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One OTP token (never its seed or PIN).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenObject {
    pub serial: String,
    /// `hotp`, `totp` or `pw`.
    #[serde(rename = "type")]
    pub token_type: String,
    pub description: String,
    pub active: bool,
    /// The owner's username; empty when the token is unassigned.
    pub user: String,
    pub realms: Vec<String>,
    pub otplen: i64,
    pub hashlib: String,
    /// HOTP counter (TOTP: the last accepted time step).
    pub counter: i64,
    pub fail_count: i64,
    pub max_fail: i64,
    pub count_window: i64,
    pub sync_window: i64,
    pub count_auth: i64,
    /// 0: unlimited.
    pub count_auth_max: i64,
    pub count_auth_success: i64,
    /// 0: unlimited.
    pub count_auth_success_max: i64,
    /// TOTP time step in seconds (0 for other types).
    pub time_step: i64,
    /// Epoch milliseconds; 0: no start.
    pub validity_start: i64,
    /// Epoch milliseconds; 0: no end.
    pub validity_end: i64,
    /// Epoch milliseconds; 0: never.
    pub last_auth: i64,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// One page of tokens (`GET /api/v1/token`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenObject>,
    /// How many tokens match the filters (all pages).
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// Filters and paging of `GET /api/v1/token`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenListQuery {
    /// Tokens per page, 1–1000 (default 50).
    pub limit: Option<i64>,
    /// Tokens to skip (default 0).
    pub offset: Option<i64>,
    /// Only this serial.
    pub serial: Option<String>,
    /// Only tokens of this user.
    pub user: Option<String>,
    /// Only this type: `hotp`, `totp` or `pw`.
    #[serde(rename = "type")]
    pub token_type: Option<String>,
    /// Only active (`true`) or inactive (`false`) tokens.
    pub active: Option<bool>,
    /// Substring of serial, type, description or owner.
    pub filter: Option<String>,
    /// Only tokens in this realm.
    pub realm: Option<String>,
}

/// `POST /api/v1/token`: enrol a token (the `token init` command's parameters).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenInit {
    /// `hotp` (default), `totp` or `pw`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Generated when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The seed (hex, or base32 with `otpkeyformat: "base32"`); for `pw` the password. Write-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otpkey: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otpkeyformat: Option<String>,
    /// Generate the seed (answered once in `otpkey`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genkey: Option<bool>,
    /// Seed length in bytes when generated: 20, 32 or 64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keysize: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The token PIN. Write-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The owner's username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Realms the token is put into, comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenrealm: Option<String>,
    /// 6 or 8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otplen: Option<i64>,
    /// `sha1`, `sha256` or `sha512`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashlib: Option<String>,
    /// TOTP time step in seconds (30 or 60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_step: Option<i64>,
    /// TOTP window in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_window: Option<i64>,
    /// Answer a bare PIN with a challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_response: Option<bool>,
}

/// A new token: its serial, and the secrets shown only now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub serial: String,
    /// The `otpauth://` URI for authenticator apps (carries the seed); empty for `pw` tokens.
    #[serde(default)]
    pub otpauth_uri: String,
    /// The generated seed as hex, when `genkey` was asked for; else empty.
    #[serde(default)]
    pub otpkey: String,
    /// The generated password of a `pw` token without `otpkey`; else empty.
    #[serde(default)]
    pub password: String,
}

/// `PATCH /api/v1/token/{serial}`: the settings to change (the `token set` command); fields not
/// given stay as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// A new token PIN. Write-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_fail: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_window: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otplen: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_window: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashlib: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_window: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_step: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_shift: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_auth: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_auth_max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_auth_success: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_auth_success_max: Option<i64>,
    /// Unix seconds, `DD/MM/YY HH:MM`, RFC 3339, or `unlimited`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_period_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity_period_end: Option<String>,
}

/// `PUT /api/v1/token/{serial}/assign`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenAssign {
    /// The new owner's username.
    pub user: String,
    /// Also set the token PIN. Write-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

/// `PUT /api/v1/token/{serial}/resync`: two consecutive OTP values.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenResync {
    pub otp1: String,
    pub otp2: String,
}

/// `POST /api/v1/apikey`: a new API key (the `api createtoken` command).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// `admin` or `validate`.
    pub role: String,
    /// Validity in days, 1–36500 (default 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    /// The account the key acts as (default: a generated name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Realm recorded with the key (default `API`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A new API key; `key` is shown only in this answer (keyward keeps its hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    pub id: String,
    /// The bearer secret, `kw_<id>_<secret>`.
    pub key: String,
    pub role: String,
    pub username: String,
    pub realm: String,
    pub days: i64,
    /// Epoch seconds.
    pub expires_at: i64,
}
