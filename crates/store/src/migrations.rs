//! Linear, numbered schema migrations, one SQL file per engine and version
//! (`migrations/sqlite/NNNN_*.sql`, `migrations/postgres/NNNN_*.sql`). Each runs in its own
//! transaction together with its bookkeeping row; on PostgreSQL an advisory lock keeps several
//! nodes starting at once from racing.

use crate::{Backend, Store, StoreError, now_secs};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// One migration: its version, its name and the file stem of its SQL under
/// `migrations/sqlite/` and `migrations/postgres/` (the same stem for both engines).
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "foundation", "0001_foundation"),
    migration!(2, "tokens", "0002_tokens"),
    migration!(
        3,
        "audit checkpoint signature",
        "0003_audit_checkpoint_signature"
    ),
    migration!(4, "username skeleton", "0004_username_skeleton"),
    migration!(5, "key_owners", "0005_key_owners"),
    migration!(6, "user number", "0006_user_number"),
    migration!(7, "realms", "0007_realms"),
    migration!(8, "policies", "0008_policies"),
    migration!(9, "fileserver clusters and shards", "0009_fileserver"),
];

/// How many migrations this build knows; a test pins it so none is lost or renumbered.
pub const MIGRATION_COUNT: usize = 9;

/// The schema version this build brings a database to: the last migration's version (the
/// count, while the numbers are linear; backups compare with this).
pub const SCHEMA_VERSION: i64 = match MIGRATIONS.last() {
    Some(m) => m.version,
    None => 0,
};

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS keyward_migrations (\
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Arbitrary constant naming keyward's migration advisory lock on PostgreSQL.
const PG_LOCK_KEY: i64 = 0x006b_6579_7761_7264;

pub(crate) async fn current_version(store: &Store) -> Result<i64, StoreError> {
    sqlx::query(BOOKKEEPING).execute(store.pool()).await?;
    let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM keyward_migrations")
        .fetch_one(store.pool())
        .await?;
    Ok(v.unwrap_or(0))
}

pub(crate) async fn run(store: &Store) -> Result<Vec<i64>, StoreError> {
    let known = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
    let found = current_version(store).await?;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let fail = |e: sqlx::Error| StoreError::Migration {
            version: m.version,
            reason: e.to_string(),
        };
        let mut tx = store.write_tx().await?;
        if store.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        // Another process may have applied it while we waited for the lock.
        let done: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM keyward_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_one(&mut *tx)
                .await
                .map_err(fail)?;
        if done > 0 {
            tx.rollback().await.map_err(fail)?;
            continue;
        }
        let sql = match store.backend() {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
        sqlx::query(
            "INSERT INTO keyward_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now_secs())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "applied schema migration"
        );
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_linear_and_counted() {
        assert_eq!(MIGRATIONS.len(), MIGRATION_COUNT);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                m.version,
                i as i64 + 1,
                "migration {} out of sequence",
                m.name
            );
        }
    }
}
