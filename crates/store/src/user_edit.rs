//! Editing whole user records and finding them the REST way: by the stable integer id (`num`),
//! and one page of users by offset, ordered by name either way, optionally one name only — the
//! paging runs in the database. Writes keep the superuser rule of `users` (an edit may not leave
//! the installation without an active superuser).

use sqlx::AnyConnection;

use keyward_core::user::{Role, Roles, username_key};
use keyward_proto::{SessionId, UserId};

use crate::users::{User, ensure_a_superuser_remains, from_row, select_users, superusers_before};
use crate::{Store, StoreError};

/// One page of users.
#[derive(Clone, Debug, Default)]
pub struct UserPage<'a> {
    pub offset: i64,
    pub limit: i64,
    /// Only the user of this name (case-insensitively).
    pub username: Option<&'a str>,
    /// Newest names first (`DESC`) instead of `ASC`.
    pub descending: bool,
}

impl Store {
    /// A user by its integer id.
    pub async fn find_user_by_num(&self, num: i64) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_users!("WHERE num = $1"))
            .bind(num)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// One page of users ordered by name (`offset`, `limit`, optional exact name).
    pub async fn list_users_page(&self, page: &UserPage<'_>) -> Result<Vec<User>, StoreError> {
        let query = match (page.username.is_some(), page.descending) {
            (true, false) => select_users!(
                "WHERE username_key = $1 ORDER BY username_key ASC LIMIT $2 OFFSET $3"
            ),
            (true, true) => select_users!(
                "WHERE username_key = $1 ORDER BY username_key DESC LIMIT $2 OFFSET $3"
            ),
            (false, false) => {
                select_users!("WHERE $1 = $1 ORDER BY username_key ASC LIMIT $2 OFFSET $3")
            }
            (false, true) => {
                select_users!("WHERE $1 = $1 ORDER BY username_key DESC LIMIT $2 OFFSET $3")
            }
        };
        let rows = sqlx::query(query)
            .bind(page.username.map(username_key).unwrap_or_default())
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }
}

/// Writes every editable column of `user` (found by its UUID). Returns whether it exists.
/// Refused before commit when it would leave no active superuser.
pub(crate) async fn update_user_record(
    conn: &mut AnyConnection,
    user: &User,
    now: i64,
) -> Result<bool, StoreError> {
    // Only an edit that takes an active superuser away can leave the installation without one:
    // the superuser count (a scan, under the superuser lock) is paid for those edits only.
    let old: Option<(i64, String)> =
        sqlx::query_as("SELECT active, roles FROM users WHERE id = $1")
            .bind(user.id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    let was_superuser = old.is_some_and(|(active, roles)| {
        active == 1 && Roles::from_db(&roles).contains(Role::Superuser)
    });
    let stays_superuser = user.active && user.roles.contains(Role::Superuser);
    let loses_one = was_superuser && !stays_superuser;
    let before = if loses_one {
        superusers_before(conn).await?
    } else {
        0
    };
    let list = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let done = sqlx::query(
        "UPDATE users SET email = $1, email_verified = $2, active = $3, roles = $4, \
         expires_at = $5, allowed_networks = $6, denied_networks = $7, \
         denied_login_methods = $8, max_sessions = $9, description = $10, \
         resource_profile = $11, updated_at = $12 WHERE id = $13",
    )
    .bind(&user.email)
    .bind(i64::from(user.email_verified))
    .bind(i64::from(user.active))
    .bind(user.roles.to_db())
    .bind(user.expires_at)
    .bind(list(&user.allowed_networks))
    .bind(list(&user.denied_networks))
    .bind(list(&user.denied_login_methods))
    .bind(user.max_sessions)
    .bind(&user.description)
    .bind(user.resource_profile.to_string())
    .bind(now)
    .bind(user.id.as_str())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if !user.active {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.id.as_str())
            .execute(&mut *conn)
            .await?;
    }
    if loses_one {
        ensure_a_superuser_remains(conn, before, &user.username).await?;
    }
    Ok(true)
}

/// Sets a user's password hash and ends their sessions except `keep` (the caller's own, when a
/// user changes their own password). Returns how many sessions ended.
pub(crate) async fn set_password(
    conn: &mut AnyConnection,
    user_id: &UserId,
    hash: &str,
    keep: Option<&SessionId>,
    now: i64,
) -> Result<u64, StoreError> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id.as_str())
        .bind(keep.map(SessionId::as_str).unwrap_or_default())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
