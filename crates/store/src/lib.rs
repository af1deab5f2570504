//! keyward's database layer. One SQL text serves SQLite (embedded default, WAL) and PostgreSQL
//! (multi-node) through sqlx's `Any` driver: booleans and times are integers, placeholders `$N`.
//! Each table family has its own module; callers never write SQL.

pub mod api_keys;
pub mod audit;
pub mod audit_heads;
pub mod challenges;
mod columns;
pub mod dump;
pub mod fileserver;
pub mod instance;
pub mod login_tx;
mod migrations;
mod native_read;
pub mod policies;
pub mod quota;
pub mod realms;
pub mod restore;
pub mod runtime_config;
pub mod serving_lock;
pub mod sessions;
pub mod snapshot;
mod token_writes;
pub mod tokens;
pub mod user_edit;
pub mod users;
pub mod write_tx;
pub mod writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Transaction};

pub use migrations::{MIGRATION_COUNT, SCHEMA_VERSION};

/// Which database engine a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::BadUrl(redact_url(url)))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Errors of the store layer. Messages never include query parameters (they may be secrets).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database_url {0:?} (expected sqlite:PATH or postgres://…)")]
    BadUrl(String),
    #[error("cannot connect to the database at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The change would leave no active superuser (nobody could administer keyward any more).
    #[error("refused: {0} is the last active superuser")]
    LastSuperuser(String),
    /// The first account can only be made at the console (`keyward manage createuser`).
    #[error("no user exists yet: create the first administrator with `keyward manage createuser`")]
    FirstUserAtConsole,
    /// A new name whose confusable skeleton equals an existing user's.
    #[error("{0} looks like an existing user's name: choose another")]
    LookAlike(String),
    #[error("database schema migration {version} failed: {reason}")]
    Migration { version: i64, reason: String },
    #[error(
        "database schema is newer ({found}) than this keyward knows ({known}): upgrade keyward"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database cannot take writes right now (the writer stopped, a commit failed): the
    /// request may be retried later; nothing of it was committed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Native(String),
    #[error("database error: {0}")]
    UniqueViolation(String),
}

impl StoreError {
    /// Whether the database could not be reached (pool exhausted, connection lost): an
    /// "unavailable", not a fault in the data or the query.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_))
        )
    }

    /// Whether this is a uniqueness violation (a concurrent insert of the same key).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StoreError::UniqueViolation(_) => true,
            _ => false,
        }
    }
}

/// Hides the password of a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Every SQLite connection's settings (sqlx's pool, the writer's and the readers' native
/// connections): write-ahead log, a 10 s wait for the write lock, foreign keys, durable commits.
pub(crate) const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; \
    PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;";

/// A handle on the database: a connection pool plus what it is.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The group-commit writer of the hot write paths (audit appends, validations).
    writer: writer::Writer,
    /// The database file on SQLite, for the native reads of the validate path.
    sqlite_file: Option<std::path::PathBuf>,
    /// Where the writer keeps the audit chains' signed head records (unset: nowhere).
    audit_heads: writer::HeadLog,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend.name())
    }
}

/// Options that matter for opening a store.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl Store {
    /// Connects (creating a SQLite file when missing) without touching the schema.
    pub async fn connect(url: &str, opts: &OpenOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let full_url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let connect_err = |e: sqlx::Error| StoreError::Connect {
            url: redact_url(url),
            reason: e.to_string(),
        };
        let options = AnyConnectOptions::from_str(&full_url).map_err(connect_err)?;
        let pool_opts = AnyPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.connect_timeout);
        let pool_opts = match backend {
            Backend::Sqlite => pool_opts.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::raw_sql(SQLITE_PRAGMAS).execute(conn).await?;
                    Ok(())
                })
            }),
            Backend::Postgres => pool_opts,
        };
        let pool = pool_opts.connect_with(options).await.map_err(connect_err)?;
        let file = sqlite_file(url);
        let audit_heads = writer::HeadLog::default();
        audit_heads.spawn_ticker();
        Ok(Store {
            writer: writer::Writer::spawn(pool.clone(), backend, file.clone(), audit_heads.clone()),
            audit_heads,
            sqlite_file: file,
            pool,
            backend,
        })
    }

    /// Connects and brings the schema up to date.
    pub async fn open(url: &str, opts: &OpenOptions) -> Result<Store, StoreError> {
        let store = Self::connect(url, opts).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Has the writer keep a signed head record of each audit chain it appends to in `dir`
    /// (see `audit_heads`). Set once, before the first append; later calls change nothing.
    pub fn keep_audit_heads_in(&self, dir: std::path::PathBuf) {
        self.audit_heads.set_dir(dir);
    }

    /// The connection pool. Other crates see it only with the `test-support` feature, for tests
    /// that must reach under the store's API (e.g. to fake a row no command would write).
    #[cfg(feature = "test-support")]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    #[cfg(not(feature = "test-support"))]
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let applied = migrations::run(self).await?;
        self.backfill_username_skeletons().await?;
        Ok(applied)
    }

    /// The schema version now in the database (0 when empty).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        migrations::current_version(self).await
    }

    /// A transaction for writing. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so that concurrent writers queue on busy_timeout instead of failing
    /// when a read lock cannot be upgraded.
    pub async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Cheap liveness check (`SELECT 1`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Writes the pending audit heads and closes the pool.
    pub async fn close(&self) {
        self.audit_heads.flush();
        self.pool.close().await;
    }
}

/// The file of a `sqlite:` URL (none for in-memory databases or other engines).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// Converts an integer column to bool (booleans are INTEGER on both engines).
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}

/// Decodes a JSON list of strings stored in a TEXT column.
pub(crate) fn json_list(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not a JSON list")))
}

/// Current time in epoch seconds.
#[allow(clippy::disallowed_methods)] // the store's one reading of the wall clock
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// SHA-256 hex digest, used to store bearer tokens and API keys.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    data_encoding::HEXLOWER.encode(&Sha256::digest(data))
}

/// What a PostgreSQL user may do in its database (`presetup` reports it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Privileges {
    pub create_on_database: bool,
    pub create_on_schema: bool,
}

impl Store {
    /// The connected user's CREATE privileges (PostgreSQL; SQLite files have no such notion and
    /// answer both true).
    pub async fn privileges(&self) -> Result<Privileges, StoreError> {
        if self.backend == Backend::Sqlite {
            return Ok(Privileges {
                create_on_database: true,
                create_on_schema: true,
            });
        }
        let (create_on_database, create_on_schema): (bool, bool) = sqlx::query_as(
            "SELECT has_database_privilege(current_user, current_database(), 'CREATE'), \
             has_schema_privilege(current_user, current_schema(), 'CREATE')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Privileges {
            create_on_database,
            create_on_schema,
        })
    }
}
