//! The `runtime_config` table: key/value settings changed while running
//! (`manage config set registration_enabled false`), as opposed to the TOML file.

use sqlx::{AnyConnection, Row};

use crate::{Store, StoreError};

impl Store {
    pub async fn config_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM runtime_config WHERE key = $1")
                .bind(key)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Every stored key and value, ordered by key.
    pub async fn config_list(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT key, value FROM runtime_config ORDER BY key")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
            .collect()
    }
}

pub(crate) async fn config_set(
    conn: &mut AnyConnection,
    key: &str,
    value: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO runtime_config (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn config_unset(conn: &mut AnyConnection, key: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM runtime_config WHERE key = $1")
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
