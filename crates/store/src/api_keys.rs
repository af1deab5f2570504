//! The `api_keys` table: long-lived keys for automation (pi-manage `api createtoken`), stored as
//! SHA-256 hashes, listable and revocable.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use keyward_proto::{ApiKeyId, UserId, Username};

use crate::{Store, StoreError, sha256_hex};

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub role: String,
    pub username: Username,
    pub realm: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The account the key was made for (`None`: a service key named after no account).
    pub owner_id: Option<UserId>,
}

#[derive(Clone, Debug)]
pub struct NewApiKey<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub role: &'a str,
    pub username: &'a str,
    pub realm: &'a str,
    pub description: &'a str,
    pub now: i64,
    pub expires_at: i64,
    /// The id of the account named by `username`, when one exists.
    pub owner_id: Option<&'a UserId>,
}

macro_rules! select_keys {
    ($tail:literal) => {
        concat!(
            "SELECT id, role, username, realm, description, created_at, expires_at, revoked_at, owner_id FROM api_keys ",
            $tail
        )
    };
}

pub(crate) fn from_row(row: &AnyRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.try_get::<String, _>("id")?.into(),
        role: row.try_get("role")?,
        username: row.try_get::<String, _>("username")?.into(),
        realm: row.try_get("realm")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        owner_id: row
            .try_get::<Option<String>, _>("owner_id")?
            .map(UserId::new),
    })
}

impl Store {
    /// The live (unrevoked, unexpired) key a presented secret belongs to.
    pub async fn api_key_by_secret(
        &self,
        secret: &str,
        now: i64,
    ) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(select_keys!(
            "WHERE key_hash = $1 AND revoked_at IS NULL AND expires_at > $2"
        ))
        .bind(sha256_hex(secret.as_bytes()))
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// One key by id (revoked and expired ones included).
    pub async fn get_api_key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(select_keys!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(select_keys!("ORDER BY created_at, id"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }
}

pub(crate) async fn create_api_key(
    conn: &mut AnyConnection,
    new: &NewApiKey<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, key_hash, role, username, realm, description, created_at, expires_at, owner_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new.id)
    .bind(sha256_hex(new.secret.as_bytes()))
    .bind(new.role)
    .bind(new.username)
    .bind(new.realm)
    .bind(new.description)
    .bind(new.now)
    .bind(new.expires_at)
    .bind(new.owner_id.map(UserId::as_str))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Revokes one key; false when no unrevoked key has that id.
pub(crate) async fn revoke_api_key(
    conn: &mut AnyConnection,
    id: &ApiKeyId,
    now: i64,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Revokes every key made for the account `user_id`, or named after `username` without an
/// account; returns how many.
pub(crate) async fn revoke_user_api_keys(
    conn: &mut AnyConnection,
    user_id: &UserId,
    username: &Username,
    now: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE revoked_at IS NULL \
         AND (owner_id = $2 OR (owner_id IS NULL AND LOWER(username) = LOWER($3)))",
    )
    .bind(now)
    .bind(user_id.as_str())
    .bind(username.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
