//! A user's used quota (`used_quota_size`, `used_quota_files`, `last_quota_update` in the
//! `resource_profile` JSON column): set or added to by quota scans and `update-quota-usage`.
//! The column is rewritten only if it still holds what was read (compare-and-set, retried), so
//! a concurrent edit of the user's other profile fields is never lost on either backend.

use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};

use crate::StoreError;

/// How many times a compare-and-set that lost a race is retried.
const RETRIES: usize = 8;

/// The new usage after an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaUsage {
    pub used_quota_size: i64,
    pub used_quota_files: i64,
}

/// Sets (`add` false) or adds to (`add` true; never below 0) the used quota of the user with
/// id `user_id`, stamping `last_quota_update` with `now_ms`. `None` when no such user.
pub(crate) async fn set_quota_usage(
    conn: &mut AnyConnection,
    user_id: &str,
    size: i64,
    files: i64,
    add: bool,
    now_ms: i64,
) -> Result<Option<QuotaUsage>, StoreError> {
    for _ in 0..RETRIES {
        let Some(row) = sqlx::query("SELECT resource_profile FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let old: String = row.try_get(0)?;
        let mut profile: Value = serde_json::from_str(&old)
            .map_err(|_| StoreError::Corrupt("resource_profile is not JSON".into()))?;
        if !profile.is_object() {
            profile = json!({});
        }
        let current = |key: &str| profile.get(key).and_then(Value::as_i64).unwrap_or(0);
        let usage = if add {
            QuotaUsage {
                used_quota_size: current("used_quota_size").saturating_add(size).max(0),
                used_quota_files: current("used_quota_files").saturating_add(files).max(0),
            }
        } else {
            QuotaUsage {
                used_quota_size: size.max(0),
                used_quota_files: files.max(0),
            }
        };
        if let Some(map) = profile.as_object_mut() {
            map.insert("used_quota_size".into(), json!(usage.used_quota_size));
            map.insert("used_quota_files".into(), json!(usage.used_quota_files));
            map.insert("last_quota_update".into(), json!(now_ms));
        }
        let done = sqlx::query(
            "UPDATE users SET resource_profile = $1 WHERE id = $2 AND resource_profile = $3",
        )
        .bind(profile.to_string())
        .bind(user_id)
        .bind(&old)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Some(usage));
        }
    }
    Err(StoreError::Conflict(
        "the user's record kept changing; try the quota update again".into(),
    ))
}
