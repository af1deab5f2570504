//! Native SQLite reads for the validate path. Each runtime thread keeps its own read-only
//! connection to the database file and runs these short indexed lookups in place — no hand-off
//! to another thread per statement, which dominated the cost of a validation. WAL readers see
//! the last committed state and never wait for the writer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Params};

use crate::StoreError;

thread_local! {
    static READERS: RefCell<HashMap<PathBuf, Connection>> = RefCell::new(HashMap::new());
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Runs a query on this thread's reader of `path`; maps each row with `map`.
pub(crate) fn query_map<T>(
    path: &Path,
    sql: &str,
    params: impl Params,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    READERS.with(|cell| {
        let mut readers = cell.borrow_mut();
        if !readers.contains_key(path) {
            readers.insert(path.to_path_buf(), open(path)?);
        }
        let conn = readers
            .get(path)
            .ok_or_else(|| StoreError::Native("reader connection missing".into()))?;
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(map(row)?);
        }
        Ok(out)
    })
}
