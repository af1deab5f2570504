//! A throwaway installation: a temporary directory with a config file and a database of its own
//! (a SQLite file in the directory, or a fresh PostgreSQL database), cheap password hashing, and
//! node id `test-node`. Everything goes when the value is dropped.

use std::path::{Path, PathBuf};

use keyward_commands::{Output, Settings};
use keyward_testdb::PgDatabase;

use crate::console::{self, ApiKey};
use crate::error::TestkitError;
use crate::server::TestServer;

/// Which database engine an installation runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's installation. The fields are public so a harness can take it apart (the
/// directory and the database are removed by their own drops).
pub struct Installation {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub config_path: PathBuf,
    /// The PostgreSQL database, dropped with this value.
    pub pg: Option<PgDatabase>,
}

impl Installation {
    /// A fresh installation; `extra_toml` lines are appended to its config.
    pub fn new(backend: Backend, extra_toml: &str) -> Result<Installation, TestkitError> {
        let dir = tempfile::tempdir().map_err(|e| TestkitError::Setup(e.to_string()))?;
        let (database_url, pg) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("test.db").display()),
                None,
            ),
            Backend::Postgres => {
                let db = PgDatabase::create_blocking("kw_test")?;
                (db.url().to_string(), Some(db))
            }
        };
        let config_path = dir.path().join("keyward.toml");
        // Cheap hashing, and short throwaway passwords allowed (`cli_help` tests the
        // password_min_length default with KEYWARD_PASSWORD_MIN_LENGTH, which wins over this).
        let config = format!(
            "data_dir = \"{}\"\ndatabase_url = \"{}\"\nargon2_memory_kib = 1024\nargon2_iterations = 1\n\
             node_id = \"test-node\"\npassword_min_length = 1\n{}\n",
            dir.path().join("data").display(),
            database_url,
            extra_toml
        );
        std::fs::write(&config_path, config).map_err(|e| TestkitError::Setup(e.to_string()))?;
        Ok(Installation {
            backend,
            dir,
            database_url,
            config_path,
            pg,
        })
    }

    /// The data directory named in the config (keys, audit heads).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The settings a process started with this config and these `KEYWARD_*` variables reads.
    pub fn settings(&self, env: &[(&str, &str)]) -> Result<Settings, TestkitError> {
        settings_at(&self.config_path, env)
    }

    /// Starts the in-process server over this installation.
    pub fn serve(&self) -> Result<TestServer, TestkitError> {
        self.serve_with_env(&[])
    }

    /// Starts the in-process server with extra `KEYWARD_*` overrides (as `keyward serve` would
    /// read them from its environment).
    pub fn serve_with_env(&self, env: &[(&str, &str)]) -> Result<TestServer, TestkitError> {
        TestServer::start(self.settings(env)?)
    }

    /// Runs an operator command as `keyward manage WORDS…` would, without spawning it.
    pub fn console(&self, words: &[&str]) -> Result<Output, TestkitError> {
        console::console(&self.settings(&[])?, words)
    }

    /// `createuser NAME PASSWORD EMAIL` through the registry.
    pub fn create_user(&self, name: &str, password: &str, email: &str) -> Result<(), TestkitError> {
        console::create_user(&self.settings(&[])?, name, password, email)
    }

    /// `api createtoken -r ROLE [-u USER]` through the registry.
    pub fn create_api_key(&self, role: &str, user: Option<&str>) -> Result<ApiKey, TestkitError> {
        console::create_api_key(&self.settings(&[])?, role, user)
    }
}

/// [`Installation::settings`] for any config file.
pub fn settings_at(config: &Path, env: &[(&str, &str)]) -> Result<Settings, TestkitError> {
    let vars = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Settings::load(Some(config), vars).map_err(|e| TestkitError::Setup(e.to_string()))
}
