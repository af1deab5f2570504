//! The server itself: `keyward_server::bind` and `Bound::serve` — the code `keyward serve` runs —
//! on a runtime of its own in a background thread, listening on 127.0.0.1 with a port the system
//! picks. Dropping the handle stops accepting, lets open requests finish (the server's grace
//! period), writes pending audit summaries, closes the store and joins the thread.

use std::thread::JoinHandle;

use keyward_commands::{Output, Settings};
use keyward_server::AppState;
use tokio::sync::oneshot;

use crate::client::Client;
use crate::console::{self, ApiKey};
use crate::error::TestkitError;

/// Worker threads of the server's runtime (the binary uses one per core; two keep concurrency
/// real without starving parallel tests on a small machine).
const WORKERS: usize = 2;

/// A running in-process server; stopped gracefully on drop.
pub struct TestServer {
    url: String,
    settings: Settings,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts the server on `settings`, listening on 127.0.0.1 with a random port whatever
    /// `listen` says (TLS as configured), and returns once it accepts connections.
    pub fn start(mut settings: Settings) -> Result<TestServer, TestkitError> {
        settings.listen = "127.0.0.1:0".to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("keyward-testkit")
            .enable_all()
            .build()
            .map_err(|e| TestkitError::Server(format!("cannot start a runtime: {e}")))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let for_node = settings.clone();
        let thread = std::thread::Builder::new()
            .name("keyward-testkit-server".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let bound = match keyward_server::bind(for_node).await {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok((bound.url(), bound.state().clone())));
                    bound
                        .serve(async {
                            let _ = shutdown_rx.await;
                        })
                        .await;
                });
            })
            .map_err(|e| TestkitError::Server(format!("cannot start a thread: {e}")))?;
        let (url, state) = match ready_rx.recv() {
            Ok(Ok(ready)) => ready,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(TestkitError::Server(e));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(TestkitError::Server(
                    "the server thread ended before listening".to_string(),
                ));
            }
        };
        Ok(TestServer {
            url,
            settings,
            state,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host:port` the server listens on.
    pub fn authority(&self) -> &str {
        self.url.split_once("://").map_or(&self.url, |(_, a)| a)
    }

    /// The settings the server runs with (`listen` as bound for: `127.0.0.1:0`).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The server's shared state (store, registry, throttles, metrics), for assertions.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A typed client for this server (HTTPS certificates are not checked: tests use
    /// self-signed ones).
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// Runs an operator command as `keyward manage WORDS…` would (see [`console::console`]).
    pub fn console(&self, words: &[&str]) -> Result<Output, TestkitError> {
        console::console(&self.settings, words)
    }

    /// `createuser NAME PASSWORD EMAIL` through the registry.
    pub fn create_user(&self, name: &str, password: &str, email: &str) -> Result<(), TestkitError> {
        console::create_user(&self.settings, name, password, email)
    }

    /// `api createtoken -r ROLE [-u USER]` through the registry.
    pub fn create_api_key(&self, role: &str, user: Option<&str>) -> Result<ApiKey, TestkitError> {
        console::create_api_key(&self.settings, role, user)
    }

    /// Stops the server now, as dropping it does: waits until it has let open requests finish,
    /// flushed the audit summaries and closed the store.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}
