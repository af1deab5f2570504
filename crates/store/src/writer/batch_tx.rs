//! The few statements of the group-commit writer, written once over [`BatchTx`]: a transaction
//! that executes SQL text with positional parameters. Two implementations: sqlx's (PostgreSQL,
//! and SQLite when no native connection is available) and a native SQLite connection on the
//! writer's own thread, which avoids a thread hand-off per statement on the hot path. Both run
//! the same SQL text.

use std::future::Future;

use crate::StoreError;

/// A bound parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

/// A transaction the writer's statements run in.
pub(crate) trait BatchTx {
    /// Executes a statement; returns the number of rows it changed.
    fn exec(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The first row of a query returning (integer, text), if any.
    fn int_text_row(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Option<(i64, String)>, StoreError>> + Send;
}

/// sqlx's transaction (any engine).
impl BatchTx for sqlx::Transaction<'_, sqlx::Any> {
    async fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
        for p in params {
            q = match *p {
                Param::Int(v) => q.bind(v),
                Param::Text(v) => q.bind(v.to_string()),
            };
        }
        Ok(q.execute(&mut **self).await?.rows_affected())
    }

    async fn int_text_row(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<(i64, String)>, StoreError> {
        use sqlx::Row;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
        for p in params {
            q = match *p {
                Param::Int(v) => q.bind(v),
                Param::Text(v) => q.bind(v.to_string()),
            };
        }
        match q.fetch_optional(&mut **self).await? {
            Some(row) => Ok(Some((row.try_get(0)?, row.try_get(1)?))),
            None => Ok(None),
        }
    }
}

/// A native SQLite transaction (used on the writer thread only).
pub(crate) struct NativeTx<'c>(pub(crate) rusqlite::Transaction<'c>);

fn native_params<'a>(params: &'a [Param<'a>]) -> Vec<&'a dyn rusqlite::ToSql> {
    params
        .iter()
        .map(|p| match p {
            Param::Int(v) => v as &dyn rusqlite::ToSql,
            Param::Text(v) => v as &dyn rusqlite::ToSql,
        })
        .collect()
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::UniqueViolation(e.to_string())
            }
            _ => StoreError::Native(e.to_string()),
        }
    }
}

// The native calls never wait: each future is ready on its first poll.
impl BatchTx for NativeTx<'_> {
    fn exec(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let r = (|| {
            let mut stmt = self.0.prepare_cached(sql)?;
            let n = stmt.execute(native_params(params).as_slice())?;
            Ok(n as u64)
        })();
        std::future::ready(r)
    }

    fn int_text_row(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Option<(i64, String)>, StoreError>> + Send {
        let r = (|| {
            let mut stmt = self.0.prepare_cached(sql)?;
            let mut rows = stmt.query(native_params(params).as_slice())?;
            match rows.next()? {
                Some(row) => Ok(Some((row.get(0)?, row.get(1)?))),
                None => Ok(None),
            }
        })();
        std::future::ready(r)
    }
}
