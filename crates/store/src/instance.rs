//! What benchmarks and test harnesses need of a database beyond keyward's own tables: throwaway
//! PostgreSQL databases, bulk synthetic rows, query plans, the durability settings in force and
//! a few cross-check counts. The server never calls these; they live here so that no SQL and no
//! database handle leaves the store.

use keyward_core::user::{username_key, username_skeleton};
use sqlx::Row;

use crate::{Backend, Store, StoreError};

/// One synthetic token row for `Store::bulk_insert_tokens`.
pub struct BulkToken {
    pub id: String,
    pub serial: String,
    pub token_type: &'static str,
    pub description: String,
    /// The owning user's id, if any.
    pub owner_id: Option<String>,
    /// A realm to put the token in, if any.
    pub realm: Option<String>,
}

/// One synthetic user row for `Store::bulk_insert_users` (no password: such users cannot log in).
pub struct BulkUser {
    pub id: String,
    pub username: String,
    pub email: String,
}

/// A database name safe to splice into `CREATE/DROP DATABASE` (letters, digits, `_`).
fn checked_name(name: &str) -> Result<&str, StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(name)
    } else {
        Err(StoreError::BadUrl(format!(
            "database name {name:?} (lowercase letters, digits and _ only)"
        )))
    }
}

/// Single-quoted SQL literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Store {
    /// Creates database `name` on this (PostgreSQL) server.
    pub async fn create_database(&self, name: &str) -> Result<(), StoreError> {
        let name = checked_name(name)?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops database `name` on this (PostgreSQL) server, ending its connections.
    pub async fn drop_database(&self, name: &str) -> Result<(), StoreError> {
        let name = checked_name(name)?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Inserts users in one transaction, many rows per statement.
    pub async fn bulk_insert_users(&self, users: &[BulkUser], now: i64) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for chunk in users.chunks(1000) {
            let rows: Vec<String> = chunk
                .iter()
                .map(|u| {
                    format!(
                        "({}, {}, {}, {}, '', {}, {now}, {now})",
                        lit(&u.id),
                        lit(&u.username),
                        lit(&username_key(&u.username)),
                        lit(&username_skeleton(&u.username)),
                        lit(&u.email)
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO users (id, username, username_key, username_skeleton, \
                 password_hash, email, created_at, updated_at) VALUES {}",
                rows.join(", ")
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Inserts tokens (with no seed: they cannot validate) in one transaction.
    pub async fn bulk_insert_tokens(
        &self,
        tokens: &[BulkToken],
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for chunk in tokens.chunks(1000) {
            let rows: Vec<String> = chunk
                .iter()
                .map(|t| {
                    let owner = t.owner_id.as_deref().map_or("NULL".to_string(), lit);
                    format!(
                        "({}, {}, {}, {}, {owner}, '', {now}, {now})",
                        lit(&t.id),
                        lit(&t.serial),
                        lit(t.token_type),
                        lit(&t.description)
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO tokens (id, serial, token_type, description, owner_id, seed_sealed, \
                 created_at, updated_at) VALUES {}",
                rows.join(", ")
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
            let realms: Vec<String> = chunk
                .iter()
                .filter_map(|t| {
                    let realm = t.realm.as_deref()?;
                    Some(format!("({}, {})", lit(&t.id), lit(realm)))
                })
                .collect();
            if !realms.is_empty() {
                let sql = format!(
                    "INSERT INTO token_realms (token_id, realm) VALUES {}",
                    realms.join(", ")
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Refreshes the planner's statistics (PostgreSQL `ANALYZE`; SQLite's is cheap too).
    pub async fn analyze(&self) -> Result<(), StoreError> {
        sqlx::raw_sql("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }

    /// The database's plan for `sql` (a query of keyward's own, never user input), one line each.
    pub async fn query_plan(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let mut lines = Vec::new();
        match self.backend {
            Backend::Sqlite => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(&self.pool)
                    .await?;
                for row in rows {
                    lines.push(row.try_get::<String, _>("detail")?);
                }
            }
            Backend::Postgres => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
                    .fetch_all(&self.pool)
                    .await?;
                for row in rows {
                    lines.push(row.try_get::<String, _>(0)?);
                }
            }
        }
        Ok(lines)
    }

    /// The durability settings in force, read back from the database, in one line.
    pub async fn durability(&self) -> Result<String, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                    .fetch_one(&self.pool)
                    .await?;
                let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                    .fetch_one(&self.pool)
                    .await?;
                let sync = match sync {
                    0 => "OFF",
                    1 => "NORMAL",
                    2 => "FULL",
                    3 => "EXTRA",
                    _ => "?",
                };
                format!("SQLite journal_mode={mode}, synchronous={sync}")
            }
            Backend::Postgres => {
                let commit: String = sqlx::query_scalar("SHOW synchronous_commit")
                    .fetch_one(&self.pool)
                    .await?;
                let fsync: String = sqlx::query_scalar("SHOW fsync")
                    .fetch_one(&self.pool)
                    .await?;
                format!("PostgreSQL synchronous_commit={commit}, fsync={fsync}")
            }
        })
    }

    /// The sum of every token's counter (a benchmark's cross-check: one step per accepted OTP).
    pub async fn token_counter_sum(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT CAST(COALESCE(SUM(counter), 0) AS BIGINT) FROM tokens")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// How many audit rows record `action`.
    pub async fn count_audit_action(&self, action: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
                .bind(action)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
