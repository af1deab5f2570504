//! Loading a logical snapshot (see `snapshot`) back into a database, inside one audited
//! [`WriteTx`]: `backup restore` clears the data tables (only when asked to), inserts every row
//! in dependency order in batches, sets the named counters and sequences, and commits together
//! with its audit row — any failure before that commit leaves the database as it was.
//!
//! The rows may come from the other engine: values are typed integer/text/null and bound by the
//! *target* column's kind, so a SQLite snapshot loads into PostgreSQL and back.

use std::collections::BTreeMap;

use sqlx::AnyConnection;

use crate::snapshot::{
    ColumnKind, TableSchema, USER_NUM_COUNTER, Value, checked_ident, data_tables, quoted_columns,
};
use crate::write_tx::WriteTx;
use crate::{Backend, StoreError};

/// Parameters per INSERT statement on PostgreSQL (it allows 65535).
const PG_PARAMS_PER_STATEMENT: usize = 4000;
/// On SQLite: sqlx looks each parameter's name up among all of a statement's parameters, so a
/// statement's binding costs grow with the square of its parameters; small statements are fastest.
const SQLITE_PARAMS_PER_STATEMENT: usize = 240;

/// Checks that an archive's tables are this database's tables, column by column. The message
/// names the first difference.
pub fn check_same_schema(archive: &[TableSchema], target: &[TableSchema]) -> Result<(), String> {
    for t in target {
        if !archive.iter().any(|a| a.name == t.name) {
            return Err(format!("the archive has no table {}", t.name));
        }
    }
    for a in archive {
        let Some(t) = target.iter().find(|t| t.name == a.name) else {
            return Err(format!("this database has no table {}", a.name));
        };
        let names = |s: &TableSchema| -> Vec<(String, ColumnKind)> {
            s.columns.iter().map(|c| (c.name.clone(), c.kind)).collect()
        };
        if names(a) != names(t) {
            return Err(format!(
                "table {}: the archive's columns differ from this database's",
                a.name
            ));
        }
    }
    Ok(())
}

fn bad_value(table: &str, column: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "a value of {table}.{column} in the archive has the wrong type"
    ))
}

async fn insert_batch(
    conn: &mut AnyConnection,
    table: &TableSchema,
    rows: &[Vec<Value>],
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let width = table.columns.len();
    let mut placeholders = Vec::with_capacity(rows.len());
    let mut n = 0;
    for row in rows {
        if row.len() != width {
            return Err(StoreError::Corrupt(format!(
                "a row of {} in the archive has {} values, not {width}",
                table.name,
                row.len()
            )));
        }
        let one: Vec<String> = (0..width)
            .map(|_| {
                n += 1;
                format!("${n}")
            })
            .collect();
        placeholders.push(format!("({})", one.join(", ")));
    }
    let sql = format!(
        "INSERT INTO \"{}\" ({}) VALUES {}",
        checked_ident(&table.name)?,
        quoted_columns(table),
        placeholders.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        for (value, column) in row.iter().zip(&table.columns) {
            q = match (column.kind, value) {
                (ColumnKind::Int, Value::Int(v)) => q.bind(Some(*v)),
                (ColumnKind::Int, Value::Null) => q.bind(None::<i64>),
                (ColumnKind::Text, Value::Text(v)) => q.bind(Some(v.clone())),
                (ColumnKind::Text, Value::Null) => q.bind(None::<String>),
                _ => return Err(bad_value(&table.name, &column.name)),
            };
        }
    }
    Ok(q.execute(&mut *conn).await?.rows_affected())
}

impl WriteTx {
    /// The data tables as this transaction sees them, in dependency order.
    pub async fn data_tables(&mut self) -> Result<Vec<TableSchema>, StoreError> {
        let backend = self.backend();
        data_tables(&mut self.tx, backend).await
    }

    /// How many rows the data tables hold together.
    pub async fn count_data_rows(&mut self, tables: &[TableSchema]) -> Result<u64, StoreError> {
        let mut total = 0u64;
        for t in tables {
            let sql = format!("SELECT COUNT(*) FROM \"{}\"", checked_ident(&t.name)?);
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut *self.tx)
                .await?;
            total += u64::try_from(n).unwrap_or(0);
        }
        Ok(total)
    }

    /// Deletes every row of `tables` (given in dependency order; deleted in reverse).
    pub async fn clear_data_tables(&mut self, tables: &[TableSchema]) -> Result<u64, StoreError> {
        let mut total = 0;
        for t in tables.iter().rev() {
            let sql = format!("DELETE FROM \"{}\"", checked_ident(&t.name)?);
            total += sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        }
        Ok(total)
    }

    /// Inserts rows into `table` (columns as in `table`), in as many statements as needed.
    pub async fn insert_rows(
        &mut self,
        table: &TableSchema,
        rows: &[Vec<Value>],
    ) -> Result<u64, StoreError> {
        let params = match self.backend() {
            Backend::Sqlite => SQLITE_PARAMS_PER_STATEMENT,
            Backend::Postgres => PG_PARAMS_PER_STATEMENT,
        };
        let per = (params / table.columns.len().max(1)).max(1);
        let mut total = 0;
        for chunk in rows.chunks(per) {
            total += insert_batch(&mut self.tx, table, chunk).await?;
        }
        Ok(total)
    }

    /// Sets the named counters and brings every sequence up to its column's largest value.
    /// PostgreSQL sequences are not transactional, so they are only ever moved forward: a
    /// rolled-back restore can leave a gap in the numbers, never a number handed out twice.
    pub async fn finish_restore(
        &mut self,
        counters: &BTreeMap<String, i64>,
    ) -> Result<(), StoreError> {
        let user_num = counters.get(USER_NUM_COUNTER).copied().unwrap_or(0);
        match self.backend() {
            Backend::Sqlite => {
                // Never below the largest number in use, whatever the archive says.
                sqlx::query(
                    "UPDATE user_num_counter SET last = \
                     (SELECT MAX(v) FROM (SELECT $1 AS v UNION ALL \
                      SELECT COALESCE(MAX(num), 0) FROM users))",
                )
                .bind(user_num)
                .execute(&mut *self.tx)
                .await?;
            }
            Backend::Postgres => {
                sqlx::query(
                    "SELECT setval('users_num_seq', GREATEST($1, \
                       (SELECT COALESCE(MAX(num), 0) FROM users), \
                       (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END \
                        FROM users_num_seq), 1))",
                )
                .bind(user_num)
                .execute(&mut *self.tx)
                .await?;
                let serials: Vec<(String, String)> = sqlx::query_as(
                    "SELECT CAST(table_name AS TEXT), CAST(column_name AS TEXT) \
                     FROM information_schema.columns WHERE table_schema = current_schema() \
                     AND column_default LIKE 'nextval(%' AND NOT (table_name = 'users' \
                     AND column_name = 'num')",
                )
                .fetch_all(&mut *self.tx)
                .await?;
                for (table, column) in serials {
                    let (table, column) = (checked_ident(&table)?, checked_ident(&column)?);
                    let seq: Option<String> =
                        sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                            .bind(table)
                            .bind(column)
                            .fetch_one(&mut *self.tx)
                            .await?;
                    let Some(seq) = seq else { continue };
                    for part in seq.split('.') {
                        checked_ident(part.trim_matches('"'))?;
                    }
                    let sql = format!(
                        "SELECT setval('{seq}', GREATEST(\
                         (SELECT COALESCE(MAX(\"{column}\"), 0) FROM \"{table}\"), \
                         (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END \
                          FROM {seq}), 1))"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut *self.tx)
                        .await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Column;

    fn table(name: &str, cols: &[(&str, ColumnKind)]) -> TableSchema {
        TableSchema {
            name: name.into(),
            columns: cols
                .iter()
                .map(|(n, k)| Column {
                    name: n.to_string(),
                    kind: *k,
                })
                .collect(),
            depends_on: Vec::new(),
        }
    }

    #[test]
    fn schemas_must_match_column_by_column() {
        let a = vec![table("users", &[("id", ColumnKind::Text)])];
        assert!(check_same_schema(&a, &a).is_ok());
        let b = vec![table("users", &[("id", ColumnKind::Int)])];
        assert!(check_same_schema(&a, &b).unwrap_err().contains("users"));
        let c = vec![a[0].clone(), table("tokens", &[])];
        assert!(check_same_schema(&a, &c).unwrap_err().contains("tokens"));
        assert!(check_same_schema(&c, &a).unwrap_err().contains("tokens"));
    }
}
