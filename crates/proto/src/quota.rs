//! Bodies of the quota routes (`/api/v1/quota_scan`, `/api/v1/quota_update`), SFTPGo's shape:
//! a scan walks a user's `home_dir` and records `used_quota_size` / `used_quota_files`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A running quota scan (`GET /api/v1/quota_scan`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaScan {
    pub username: String,
    /// When the scan started, epoch milliseconds.
    pub start_time: i64,
}

/// The running scans, as the `get-quota-scans` command reports them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuotaScanList {
    pub scans: Vec<QuotaScan>,
}

/// `POST /api/v1/quota_scan`: the user to scan. SFTPGo's client posts a whole user object; only
/// `username` is read.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct QuotaScanRequest {
    pub username: String,
}

/// `PUT /api/v1/quota_update`: a user's usage to set (or add, with `mode=add`). SFTPGo's client
/// sends a whole user object; `username`, `used_quota_size` and `used_quota_files` are read.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct QuotaUsage {
    pub username: String,
    #[serde(default)]
    pub used_quota_size: i64,
    #[serde(default)]
    pub used_quota_files: i64,
}

/// How `PUT /api/v1/quota_update` applies the numbers.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuotaUpdateQuery {
    /// `reset` (default): the numbers replace the usage; `add`: they are added to it (negative
    /// numbers subtract; the result never goes below 0).
    pub mode: Option<String>,
}
