//! Why the test kit could not set up an installation, start a server or run a command.

use keyward_commands::CommandError;

/// A failed setup step; the message says which.
#[derive(Debug)]
pub enum TestkitError {
    /// The temporary directory, the config file or the throwaway database.
    Setup(String),
    /// The server did not bind or its thread failed.
    Server(String),
    /// An operator command failed, with its exit code (what `keyward manage` would exit with)
    /// and message.
    Command { exit_code: i32, message: String },
}

impl std::fmt::Display for TestkitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestkitError::Setup(m) => write!(f, "test installation: {m}"),
            TestkitError::Server(m) => write!(f, "test server: {m}"),
            TestkitError::Command { exit_code, message } => {
                write!(f, "command failed (exit {exit_code}): {message}")
            }
        }
    }
}

impl std::error::Error for TestkitError {}

impl From<CommandError> for TestkitError {
    fn from(e: CommandError) -> Self {
        TestkitError::Command {
            exit_code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

impl From<keyward_testdb::TestDbError> for TestkitError {
    fn from(e: keyward_testdb::TestDbError) -> Self {
        TestkitError::Setup(e.to_string())
    }
}

/// Runs `fut` to completion on a fresh current-thread runtime in a thread of its own, so the
/// blocking API works from plain test functions and from inside another runtime alike.
pub(crate) fn on_own_runtime<T: Send + 'static>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, TestkitError> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(fut))
            .map_err(|e| TestkitError::Setup(format!("cannot start a runtime: {e}")))
    })
    .join()
    .map_err(|_| TestkitError::Setup("a helper thread panicked".to_string()))?
}
