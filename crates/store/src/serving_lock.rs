//! Who holds the database: every `keyward serve` holds a shared lock on it for its lifetime, and
//! `backup restore` takes it exclusively — so a restore refuses while any server runs on the
//! database (a server's caches, readers and audit heads would not see the replaced data), and a
//! server does not start in the middle of a restore. SQLite: an advisory file lock on
//! `DBFILE-serving.lock` beside the database; PostgreSQL: a session advisory lock held on a
//! connection of its own (several nodes share it; a restore needs it alone). The lock goes when
//! its holder does, crash included.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use sqlx::AnyConnection;

use crate::{Store, StoreError};

/// Arbitrary constant naming keyward's serving lock on PostgreSQL.
const PG_SERVING_KEY: i64 = 0x006b_7773_6572_7665;

/// A held lock; dropping it releases it.
pub struct DatabaseLock {
    _file: Option<File>,
    _conn: Option<AnyConnection>,
}

impl std::fmt::Debug for DatabaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseLock")
    }
}

impl Store {
    fn lock_file_path(&self) -> Option<PathBuf> {
        let db = self.sqlite_file.as_ref()?;
        let mut name = db.as_os_str().to_owned();
        name.push("-serving.lock");
        Some(PathBuf::from(name))
    }

    fn open_lock_file(&self) -> Result<Option<File>, StoreError> {
        let Some(path) = self.lock_file_path() else {
            return Ok(None);
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::Native(format!("cannot open {}: {e}", path.display())))?;
        Ok(Some(file))
    }

    async fn pg_lock(&self, exclusive: bool) -> Result<Option<AnyConnection>, StoreError> {
        let mut conn = self.pool.acquire().await?.detach();
        let sql = if exclusive {
            "SELECT pg_try_advisory_lock($1)"
        } else {
            "SELECT pg_try_advisory_lock_shared($1)"
        };
        let got: bool = sqlx::query_scalar(sql)
            .bind(PG_SERVING_KEY)
            .fetch_one(&mut conn)
            .await?;
        Ok(got.then_some(conn))
    }

    /// The shared lock a server holds while it serves. Fails when a restore holds the database.
    pub async fn lock_for_serving(&self) -> Result<DatabaseLock, StoreError> {
        let busy = || {
            StoreError::Unavailable(
                "a `keyward manage backup restore` is replacing the database: start the server \
                 when it has finished"
                    .into(),
            )
        };
        match self.backend {
            crate::Backend::Sqlite => {
                let file = self.open_lock_file()?;
                if let Some(f) = &file {
                    match f.try_lock_shared() {
                        Ok(()) => {}
                        Err(TryLockError::WouldBlock) => return Err(busy()),
                        Err(TryLockError::Error(e)) => {
                            return Err(StoreError::Native(e.to_string()));
                        }
                    }
                }
                Ok(DatabaseLock {
                    _file: file,
                    _conn: None,
                })
            }
            crate::Backend::Postgres => match self.pg_lock(false).await? {
                Some(conn) => Ok(DatabaseLock {
                    _file: None,
                    _conn: Some(conn),
                }),
                None => Err(busy()),
            },
        }
    }

    /// The exclusive lock of a restore; `None` while a server holds the database.
    pub async fn lock_exclusively(&self) -> Result<Option<DatabaseLock>, StoreError> {
        match self.backend {
            crate::Backend::Sqlite => {
                let file = self.open_lock_file()?;
                if let Some(f) = &file {
                    match f.try_lock() {
                        Ok(()) => {}
                        Err(TryLockError::WouldBlock) => return Ok(None),
                        Err(TryLockError::Error(e)) => {
                            return Err(StoreError::Native(e.to_string()));
                        }
                    }
                }
                Ok(Some(DatabaseLock {
                    _file: file,
                    _conn: None,
                }))
            }
            crate::Backend::Postgres => Ok(self.pg_lock(true).await?.map(|conn| DatabaseLock {
                _file: None,
                _conn: Some(conn),
            })),
        }
    }
}
