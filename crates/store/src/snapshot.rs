//! An engine-independent logical snapshot of every keyward table, for `backup create`: the
//! tables and their columns are read from the database's own catalogue (so a table added by a
//! later migration is included without code here), each value typed as integer, text or null,
//! and every row is streamed to a [`SnapshotSink`] — nothing is held in memory but the row in
//! hand. The whole snapshot is one read transaction (PostgreSQL `REPEATABLE READ READ ONLY`,
//! SQLite a deferred transaction, i.e. one WAL snapshot), so it is consistent while a server
//! keeps writing.
//!
//! What differs between the engines is left out of the rows and carried by name instead: the
//! migration bookkeeping (the schema version), SQLite's `user_num_counter` table and
//! PostgreSQL's `users_num_seq` sequence (both the counter `user_num`).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use crate::{Backend, Store, StoreError};

/// Tables that are not data: schema bookkeeping and engine-specific counters.
const NOT_DATA: &[&str] = &["keyward_migrations", "user_num_counter"];

/// The counter of users' integer ids (the last number handed out).
pub const USER_NUM_COUNTER: &str = "user_num";

/// How a column's values are typed in a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Int,
    Text,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// One table: its columns in order, and the tables its foreign keys point to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    pub name: String,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// One value of a row: JSON `null`, a number or a string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

/// Read by JSON type directly (serde's untagged form would try each variant in turn and build an
/// error for every miss: a large share of a restore's time).
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Value;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("null, an integer or a string")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
                i64::try_from(v)
                    .map(Value::Int)
                    .map_err(|_| E::custom("integer out of range"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Text(v.to_string()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
                Ok(Value::Text(v))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// Where a snapshot's rows go (the backup archive).
pub trait SnapshotSink {
    type Error;
    /// Called once, before the first table, with what the snapshot holds.
    fn start(&mut self, info: &SnapshotInfo) -> Result<(), Self::Error>;
    fn begin_table(&mut self, table: &TableSchema) -> Result<(), Self::Error>;
    fn row(&mut self, values: Vec<Value>) -> Result<(), Self::Error>;
    fn end_table(&mut self, table: &TableSchema, rows: u64) -> Result<(), Self::Error>;
}

/// Where a snapshot failed: reading the database or writing the sink.
#[derive(Debug)]
pub enum SnapshotError<E> {
    Store(StoreError),
    Sink(E),
}

impl<E> From<StoreError> for SnapshotError<E> {
    fn from(e: StoreError) -> Self {
        SnapshotError::Store(e)
    }
}

impl<E> From<sqlx::Error> for SnapshotError<E> {
    fn from(e: sqlx::Error) -> Self {
        SnapshotError::Store(e.into())
    }
}

/// What a snapshot holds besides rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub backend: String,
    pub schema_version: i64,
    /// Every data table in dependency order (a table after those it references).
    pub tables: Vec<TableSchema>,
    /// Row count per table, as of the snapshot.
    pub row_counts: BTreeMap<String, u64>,
    /// Named counters (see [`USER_NUM_COUNTER`]).
    pub counters: BTreeMap<String, i64>,
}

/// A table or column name safe to quote into SQL (it comes from the catalogue or an archive).
pub(crate) fn checked_ident(name: &str) -> Result<&str, StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(StoreError::Corrupt(format!(
            "unexpected table or column name {name:?}"
        )))
    }
}

fn kind_of(declared: &str, table: &str, column: &str) -> Result<ColumnKind, StoreError> {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") || t == "bigserial" || t == "serial" {
        Ok(ColumnKind::Int)
    } else if t.contains("text") || t.contains("char") {
        Ok(ColumnKind::Text)
    } else {
        Err(StoreError::Corrupt(format!(
            "column {table}.{column} has type {declared}, which backups do not know"
        )))
    }
}

/// The data tables of the database behind `conn`, in dependency order.
pub(crate) async fn data_tables(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<Vec<TableSchema>, StoreError> {
    let names: Vec<String> =
        match backend {
            Backend::Sqlite => sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
            )
            .fetch_all(&mut *conn)
            .await?,
            Backend::Postgres => {
                sqlx::query_scalar(
                    "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             ORDER BY table_name",
                )
                .fetch_all(&mut *conn)
                .await?
            }
        };
    let mut tables = Vec::new();
    for name in names
        .into_iter()
        .filter(|n| !NOT_DATA.contains(&n.as_str()))
    {
        checked_ident(&name)?;
        let (cols, deps): (Vec<(String, String)>, Vec<String>) = match backend {
            Backend::Sqlite => (
                sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
                    .bind(&name)
                    .fetch_all(&mut *conn)
                    .await?,
                sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)")
                    .bind(&name)
                    .fetch_all(&mut *conn)
                    .await?,
            ),
            Backend::Postgres => (
                sqlx::query_as(
                    "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT) \
                     FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1 \
                     ORDER BY ordinal_position",
                )
                .bind(&name)
                .fetch_all(&mut *conn)
                .await?,
                sqlx::query_scalar(
                    "SELECT DISTINCT CAST(c2.relname AS TEXT) FROM pg_constraint k \
                     JOIN pg_class c1 ON c1.oid = k.conrelid \
                     JOIN pg_class c2 ON c2.oid = k.confrelid \
                     WHERE k.contype = 'f' AND c1.relname = $1 \
                     AND c1.relnamespace = CAST(current_schema() AS regnamespace)",
                )
                .bind(&name)
                .fetch_all(&mut *conn)
                .await?,
            ),
        };
        let mut columns = Vec::new();
        for (col, declared) in cols {
            checked_ident(&col)?;
            let kind = kind_of(&declared, &name, &col)?;
            columns.push(Column { name: col, kind });
        }
        let depends_on = deps.into_iter().filter(|d| *d != name).collect();
        tables.push(TableSchema {
            name,
            columns,
            depends_on,
        });
    }
    dependency_order(tables)
}

/// Sorts tables so each comes after the tables it references (otherwise in the given order).
fn dependency_order(mut left: Vec<TableSchema>) -> Result<Vec<TableSchema>, StoreError> {
    let mut ordered: Vec<TableSchema> = Vec::new();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            t.depends_on
                .iter()
                .all(|d| ordered.iter().any(|o| &o.name == d) || !left.iter().any(|l| &l.name == d))
        });
        match ready {
            Some(i) => ordered.push(left.remove(i)),
            None => {
                return Err(StoreError::Corrupt(
                    "the tables' foreign keys form a cycle".into(),
                ));
            }
        }
    }
    Ok(ordered)
}

pub(crate) fn quoted_columns(table: &TableSchema) -> String {
    table
        .columns
        .iter()
        .map(|c| format!("\"{}\"", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn row_values(row: &AnyRow, table: &TableSchema) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::with_capacity(table.columns.len());
    for (i, c) in table.columns.iter().enumerate() {
        out.push(match c.kind {
            ColumnKind::Int => match row.try_get::<Option<i64>, _>(i)? {
                Some(v) => Value::Int(v),
                None => Value::Null,
            },
            ColumnKind::Text => match row.try_get::<Option<String>, _>(i)? {
                Some(v) => Value::Text(v),
                None => Value::Null,
            },
        });
    }
    Ok(out)
}

/// The named counters as they stand in `conn`'s view of the database.
async fn read_counters(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let last: i64 = match backend {
        Backend::Sqlite => {
            sqlx::query_scalar("SELECT COALESCE(MAX(last), 0) FROM user_num_counter")
                .fetch_one(&mut *conn)
                .await?
        }
        Backend::Postgres => sqlx::query_scalar(
            "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM users_num_seq",
        )
        .fetch_one(&mut *conn)
        .await?,
    };
    Ok(BTreeMap::from([(USER_NUM_COUNTER.to_string(), last)]))
}

pub(crate) async fn begin_snapshot(store: &Store) -> Result<Transaction<'static, Any>, StoreError> {
    Ok(match store.backend() {
        Backend::Sqlite => store.pool().begin_with("BEGIN").await?,
        Backend::Postgres => {
            store
                .pool()
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?
        }
    })
}

impl Store {
    /// The data tables of this database, in dependency order.
    pub async fn data_tables(&self) -> Result<Vec<TableSchema>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        data_tables(&mut conn, self.backend()).await
    }

    /// Streams every row of every data table to `sink`, all from one read transaction.
    pub async fn snapshot<S: SnapshotSink>(
        &self,
        sink: &mut S,
    ) -> Result<SnapshotInfo, SnapshotError<S::Error>> {
        let backend = self.backend();
        let mut tx = begin_snapshot(self).await?;
        // The first read fixes the snapshot; everything below sees the same state.
        let schema_version: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM keyward_migrations")
                .fetch_one(&mut *tx)
                .await?;
        let tables = data_tables(&mut tx, backend).await?;
        let mut row_counts = BTreeMap::new();
        for t in &tables {
            let sql = format!("SELECT COUNT(*) FROM \"{}\"", t.name);
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *tx)
                .await?;
            row_counts.insert(t.name.clone(), u64::try_from(n).unwrap_or(0));
        }
        let info = SnapshotInfo {
            backend: backend.name().to_string(),
            schema_version,
            counters: read_counters(&mut tx, backend).await?,
            tables,
            row_counts,
        };
        sink.start(&info).map_err(SnapshotError::Sink)?;
        for t in &info.tables {
            sink.begin_table(t).map_err(SnapshotError::Sink)?;
            let sql = format!(
                "SELECT {} FROM \"{}\" ORDER BY 1",
                quoted_columns(t),
                t.name
            );
            let mut rows = 0u64;
            {
                let mut stream = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
                while let Some(row) = stream.try_next().await? {
                    sink.row(row_values(&row, t)?)
                        .map_err(SnapshotError::Sink)?;
                    rows += 1;
                }
            }
            if info.row_counts.get(&t.name) != Some(&rows) {
                return Err(SnapshotError::Store(StoreError::Corrupt(format!(
                    "table {} changed during the snapshot",
                    t.name
                ))));
            }
            sink.end_table(t, rows).map_err(SnapshotError::Sink)?;
        }
        tx.rollback().await?;
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, deps: &[&str]) -> TableSchema {
        TableSchema {
            name: name.into(),
            columns: Vec::new(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn referenced_tables_come_first() {
        let out = dependency_order(vec![
            t("sessions", &["users"]),
            t("challenges", &["tokens"]),
            t("users", &[]),
            t("tokens", &[]),
        ])
        .unwrap();
        let names: Vec<&str> = out.iter().map(|t| t.name.as_str()).collect();
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert_eq!(names.len(), 4);
        assert!(pos("users") < pos("sessions"), "{names:?}");
        assert!(pos("tokens") < pos("challenges"), "{names:?}");
        assert!(dependency_order(vec![t("a", &["b"]), t("b", &["a"])]).is_err());
    }

    #[test]
    fn values_are_plain_json() {
        let row = vec![Value::Null, Value::Int(-3), Value::Text("x".into())];
        let text = serde_json::to_string(&row).unwrap();
        assert_eq!(text, r#"[null,-3,"x"]"#);
        let back: Vec<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, row);
    }

    #[test]
    fn odd_names_are_refused() {
        assert!(checked_ident("users").is_ok());
        assert!(checked_ident("a\"b").is_err());
        assert!(checked_ident("").is_err());
    }
}
