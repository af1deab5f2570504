//! Throwaway PostgreSQL databases for keyward's tests, in one place: every store-level test runs
//! on SQLite and on PostgreSQL at 127.0.0.1:5432 (user `postgres`, trust authentication), each in
//! a database of its own that is created here and dropped when its [`PgDatabase`] goes.
//!
//! When no server answers, tests print a loud `SKIPPED` line and pass — unless
//! `KEYWARD_REQUIRE_POSTGRES=1` (set by `.ci/run`), where they fail instead
//! ([`postgres_or_skip`]).
//!
//! Depends on nothing of keyward's, so the store's own tests can use it as well as the commands',
//! the e2e harness and the in-process test server (`keyward-testkit`).

use std::sync::OnceLock;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// Where the test PostgreSQL server listens.
pub const PG_ADDR: &str = "127.0.0.1:5432";
/// The server's URL without a database name; a database's URL is `{PG_BASE_URL}/{name}`.
pub const PG_BASE_URL: &str = "postgres://postgres@127.0.0.1:5432";
/// The database the administrative statements (CREATE/DROP DATABASE) run in.
const PG_MAINTENANCE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Why a throwaway database could not be made.
#[derive(Debug)]
pub struct TestDbError(pub String);

impl std::fmt::Display for TestDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "throwaway PostgreSQL database: {}", self.0)
    }
}

impl std::error::Error for TestDbError {}

/// Whether PostgreSQL answers on 127.0.0.1:5432 (checked once per process).
pub fn postgres_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        PG_ADDR.parse().is_ok_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
        })
    })
}

/// Whether `KEYWARD_REQUIRE_POSTGRES=1` makes a missing PostgreSQL a failure.
pub fn postgres_required() -> bool {
    std::env::var("KEYWARD_REQUIRE_POSTGRES").as_deref() == Ok("1")
}

/// Decides whether the PostgreSQL half of `test` may run; says so loudly when it may not. A
/// missing server is an error (not a skip) under `KEYWARD_REQUIRE_POSTGRES=1`: the caller then
/// gets `Err` and fails the test with it.
pub fn check_postgres(test: &str) -> Result<bool, TestDbError> {
    if postgres_available() {
        return Ok(true);
    }
    if postgres_required() {
        return Err(TestDbError(format!(
            "PostgreSQL at {PG_ADDR} is required (KEYWARD_REQUIRE_POSTGRES=1) but does not answer"
        )));
    }
    eprintln!("*** SKIPPED {test} on PostgreSQL: no server at {PG_ADDR} ***");
    Ok(false)
}

/// [`check_postgres`] for tests: panics (fails the test) when PostgreSQL is required but absent.
#[allow(clippy::panic)] // test support: a required but missing server fails the calling test
pub fn postgres_or_skip(test: &str) -> bool {
    match check_postgres(test) {
        Ok(run) => run,
        Err(e) => panic!("{e}"),
    }
}

/// A database of its own on the test server, dropped (with its open connections) when this
/// value is dropped or [`PgDatabase::drop_now`] is awaited.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    url: String,
    dropped: bool,
}

impl PgDatabase {
    /// Creates `{prefix}_{random}` (the prefix says which test made it, should it be left over).
    pub async fn create(prefix: &str) -> Result<PgDatabase, TestDbError> {
        let name = format!("{prefix}_{}", random_suffix()?);
        maintenance(&format!("CREATE DATABASE {name}")).await?;
        Ok(PgDatabase {
            url: format!("{PG_BASE_URL}/{name}"),
            name,
            dropped: false,
        })
    }

    /// [`PgDatabase::create`] from synchronous code (also from inside a runtime).
    pub fn create_blocking(prefix: &str) -> Result<PgDatabase, TestDbError> {
        let prefix = prefix.to_string();
        on_own_runtime(async move { PgDatabase::create(&prefix).await })?
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `postgres://postgres@127.0.0.1:5432/{name}`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database now (terminating its connections), reporting a failure.
    pub async fn drop_now(mut self) -> Result<(), TestDbError> {
        self.dropped = true;
        maintenance(&drop_statement(&self.name)).await
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        self.dropped = true;
        let statement = drop_statement(&self.name);
        // Best effort: a database left over only costs disk on the test server.
        let _ = on_own_runtime(async move { maintenance(&statement).await });
    }
}

fn drop_statement(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
}

/// Runs one statement in the maintenance database on a connection of its own.
async fn maintenance(statement: &str) -> Result<(), TestDbError> {
    let mut conn = PgConnection::connect(PG_MAINTENANCE_URL)
        .await
        .map_err(|e| TestDbError(format!("cannot connect to {PG_MAINTENANCE_URL}: {e}")))?;
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(&mut conn)
        .await
        .map_err(|e| TestDbError(format!("{statement}: {e}")));
    let _ = conn.close().await;
    result.map(|_| ())
}

/// Runs `fut` to completion on a fresh current-thread runtime in a thread of its own, so it
/// works from plain test functions and from inside another runtime alike.
fn on_own_runtime<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, TestDbError> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(fut))
            .map_err(|e| TestDbError(format!("cannot start a runtime: {e}")))
    })
    .join()
    .map_err(|_| TestDbError("the helper thread panicked".to_string()))?
}

/// 12 hex digits from the OS's random source: database names that never collide in practice.
fn random_suffix() -> Result<String, TestDbError> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).map_err(|e| TestDbError(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
