//! Test harness: per-test environments on SQLite and PostgreSQL, helpers to run
//! `keyward manage …` and `keyward serve` as processes, the in-process server of
//! `keyward-testkit` for HTTP tests where the process boundary is not what is tested, and direct
//! SQL for asserting database state.
//!
//! PostgreSQL tests create their own database on 127.0.0.1:5432 (user postgres, trust auth;
//! `keyward-testdb`) and drop it afterwards. When the server does not answer, the tests print a
//! loud SKIPPED line — unless `KEYWARD_REQUIRE_POSTGRES=1` (set by `.ci/run`), where they fail
//! instead.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::Command;
pub use keyward_testkit::Backend;
use keyward_testkit::{Installation, PgDatabase, TestServer};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const PG_BASE_URL: &str = keyward_testdb::PG_BASE_URL;

/// Whether PostgreSQL answers on 127.0.0.1:5432 (checked once).
pub fn postgres_available() -> bool {
    keyward_testdb::postgres_available()
}

/// Decides whether a PostgreSQL test may run; says so loudly when it may not.
pub fn postgres_or_skip(test: &str) -> bool {
    keyward_testdb::postgres_or_skip(test)
}

/// One test's world: a temporary directory with a config file, and its own database.
pub struct TestEnv {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub config_path: PathBuf,
    /// Dropped (with FORCE) after the pool below is closed.
    pg_db: Option<PgDatabase>,
    pool: OnceLock<AnyPool>,
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

impl TestEnv {
    /// A fresh environment; extra TOML lines are appended to the config.
    pub fn new(backend: Backend) -> Self {
        Self::with_config(backend, "")
    }

    pub fn with_config(backend: Backend, extra_toml: &str) -> Self {
        sqlx::any::install_default_drivers();
        let Installation {
            backend,
            dir,
            database_url,
            config_path,
            pg,
        } = Installation::new(backend, extra_toml).unwrap();
        TestEnv {
            backend,
            dir,
            database_url,
            config_path,
            pg_db: pg,
            pool: OnceLock::new(),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `keyward` with this environment's config and no stray KEYWARD_* variables.
    pub fn keyward(&self) -> Command {
        let mut cmd = Command::cargo_bin("keyward").unwrap();
        for (k, _) in std::env::vars() {
            if k.starts_with("KEYWARD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("KEYWARD_CONFIG", &self.config_path)
            .current_dir(self.dir.path());
        cmd
    }

    /// `keyward manage ARGS…`.
    pub fn manage(&self, args: &[&str]) -> Command {
        let mut cmd = self.keyward();
        cmd.arg("manage").args(args);
        cmd
    }

    /// Runs `keyward manage ARGS…`, asserts success and returns stdout.
    pub fn manage_ok(&self, args: &[&str]) -> String {
        let out = self.manage(args).output().unwrap();
        assert!(
            out.status.success(),
            "manage {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `keyward manage ARGS…`, asserts failure, and returns (exit code, stderr).
    pub fn manage_err(&self, args: &[&str]) -> (i32, String) {
        let out = self.manage(args).output().unwrap();
        assert!(
            !out.status.success(),
            "manage {args:?} unexpectedly succeeded"
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn pool(&self) -> &AnyPool {
        self.pool.get_or_init(|| {
            let url = self.database_url.clone();
            std::thread::spawn(move || {
                block_on(async {
                    AnyPoolOptions::new()
                        .max_connections(1)
                        .connect_lazy(&url)
                        .unwrap()
                })
            })
            .join()
            .unwrap()
        })
    }

    /// Runs a statement against the test database (for setting up states such as old logins).
    pub fn exec(&self, sql: &str) {
        let pool = self.pool().clone();
        let sql = sql.to_string();
        std::thread::spawn(move || {
            block_on(async {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .unwrap()
            })
        })
        .join()
        .unwrap();
    }

    /// The first column of the first row of a query returning one integer.
    pub fn query_i64(&self, sql: &str) -> i64 {
        let pool = self.pool().clone();
        let sql = sql.to_string();
        std::thread::spawn(move || {
            block_on(async {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            })
        })
        .join()
        .unwrap()
    }

    /// Rows of a query returning text columns, each row as a vector of strings.
    pub fn query_strings(&self, sql: &str) -> Vec<Vec<String>> {
        use sqlx::Row;
        let pool = self.pool().clone();
        let sql = sql.to_string();
        std::thread::spawn(move || {
            block_on(async {
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.try_get::<String, _>(i).unwrap_or_default())
                            .collect()
                    })
                    .collect()
            })
        })
        .join()
        .unwrap()
    }

    /// The whole database as text, to search for secrets that must not be there: the SQLite file
    /// and its WAL as bytes, or a `pg_dump` of the PostgreSQL database.
    pub fn database_text(&self) -> String {
        match self.backend {
            Backend::Sqlite => {
                let mut all = Vec::new();
                for entry in std::fs::read_dir(self.dir.path()).unwrap() {
                    let p = entry.unwrap().path();
                    let name = p.file_name().unwrap().to_string_lossy().to_string();
                    if name.starts_with("test.db") {
                        all.extend(std::fs::read(&p).unwrap());
                    }
                }
                assert!(!all.is_empty(), "no database file found");
                String::from_utf8_lossy(&all).to_string()
            }
            Backend::Postgres => {
                let out = std::process::Command::new("pg_dump")
                    .arg(&self.database_url)
                    .output()
                    .unwrap_or_else(|e| {
                        panic!("pg_dump not found ({e}): apt-get install postgresql-client")
                    });
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap()
            }
        }
    }

    /// The settings `keyward` reads with this environment's config and these `KEYWARD_*`
    /// variables.
    pub fn settings(&self, env: &[(&str, &str)]) -> keyward_commands::Settings {
        keyward_testkit::settings_at(&self.config_path, env).unwrap()
    }

    /// Starts the real server inside the test process (`keyward-testkit`) on an ephemeral port;
    /// it stops gracefully when dropped. For HTTP tests where the process boundary (CLI output,
    /// signals, startup messages, logs, process limits) is not what is tested.
    pub fn serve_in_process(&self) -> TestServer {
        self.serve_in_process_with_env(&[])
    }

    /// [`TestEnv::serve_in_process`] with `KEYWARD_*` overrides, as `serve_with_env` passes them.
    pub fn serve_in_process_with_env(&self, env: &[(&str, &str)]) -> TestServer {
        TestServer::start(self.settings(env)).unwrap()
    }

    /// Runs `keyward manage ARGS…`'s command through the registry inside the test process
    /// (console principal, chain `local`, as the binary does), asserts success and returns what
    /// the binary would print. For setup steps whose CLI output is not what is tested.
    pub fn console_ok(&self, args: &[&str]) -> String {
        match keyward_testkit::console(&self.settings(&[]), args) {
            Ok(out) => out.text,
            Err(e) => panic!("console {args:?} failed: {e}"),
        }
    }

    /// Starts `keyward serve` on an ephemeral port; the guard stops it.
    pub fn serve(&self) -> ServerGuard {
        self.serve_with_env(&[])
    }

    pub fn serve_with_env(&self, env: &[(&str, &str)]) -> ServerGuard {
        self.serve_via(&[], env)
    }

    /// Starts `keyward serve` through a launcher (e.g. `["prlimit", "--nofile=256:"]`).
    pub fn serve_via(&self, launcher: &[&str], env: &[(&str, &str)]) -> ServerGuard {
        let keyward = assert_cmd::cargo::cargo_bin("keyward");
        let mut cmd = match launcher.split_first() {
            None => std::process::Command::new(&keyward),
            Some((program, args)) => {
                let mut c = std::process::Command::new(program);
                c.args(args).arg(&keyward);
                c
            }
        };
        for (k, _) in std::env::vars() {
            if k.starts_with("KEYWARD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("KEYWARD_CONFIG", &self.config_path)
            .env("KEYWARD_LISTEN", "127.0.0.1:0")
            .env("KEYWARD_LOG_LEVEL", "warn")
            .envs(env.iter().copied())
            .current_dir(self.dir.path())
            .arg("serve");
        spawn_server(cmd)
    }
}

/// Spawns a prepared `keyward serve` command (it must listen on an ephemeral port) and waits
/// for the "listening on URL" line on its stderr; the rest of stderr is echoed to the test's.
pub fn spawn_server(mut cmd: std::process::Command) -> ServerGuard {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(url) = line.split("listening on ").nth(1) {
                let _ = tx.send(Ok(url.trim().to_string()));
                sent = true;
                continue;
            }
            eprintln!("[keyward serve] {line}");
        }
        if !sent {
            let _ = tx.send(Err("server exited before listening".to_string()));
        }
    });
    let url = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(url)) => url,
        other => {
            let _ = child.kill();
            panic!("keyward serve did not start: {other:?}");
        }
    };
    ServerGuard { child, url }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.get() {
            let pool = pool.clone();
            let _ = std::thread::spawn(move || block_on(pool.close())).join();
        }
        // The database goes when `pg_db` is dropped, after this.
    }
}

/// A running `keyward serve`; killed on drop.
pub struct ServerGuard {
    pub child: Child,
    pub url: String,
}

impl ServerGuard {
    /// Sends SIGTERM and waits for a graceful exit; returns whether it exited successfully.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of a file in the shared fixtures copied into this repository.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Declares a test that runs once on SQLite and once on PostgreSQL:
/// `both_backends!(name, |env: &TestEnv| { … });` (optionally with extra config TOML).
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        $crate::both_backends!($name, "", $body);
    };
    ($name:ident, $config:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use $crate::harness::{Backend, TestEnv};

            #[test]
            fn sqlite() {
                let env = TestEnv::with_config(Backend::Sqlite, $config);
                let f: &dyn Fn(&TestEnv) = &$body;
                f(&env);
            }

            #[test]
            fn postgres() {
                if !$crate::harness::postgres_or_skip(concat!(module_path!())) {
                    return;
                }
                let env = TestEnv::with_config(Backend::Postgres, $config);
                let f: &dyn Fn(&TestEnv) = &$body;
                f(&env);
            }
        }
    };
}
