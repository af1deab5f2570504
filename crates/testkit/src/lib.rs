//! keyward's in-process test server (after kanidm's `server/testkit`): boots the real router and
//! state — the same `keyward_server::bind` + `Bound::serve` that `keyward serve` runs, with its
//! listen loop and limits — inside the test process, on 127.0.0.1 with a random port, over a
//! throwaway installation on SQLite (a temporary directory) or PostgreSQL (a database of its own,
//! see `keyward-testdb`). A [`TestServer`] hands out its base URL and a typed [`Client`] (reqwest
//! and the `keyward-proto` wire types), runs operator commands through the registry directly
//! ([`console`], acting as `keyward manage` does, without spawning it) and shuts the server down
//! gracefully when dropped.
//!
//! Tests whose subject is the process itself — CLI output, signals and `kill -9`, startup
//! messages, log output, process limits, two nodes — keep spawning the binary.
//!
//! ```no_run
//! use keyward_testkit::{Backend, Installation};
//!
//! let install = Installation::new(Backend::Sqlite, "").unwrap();
//! install.create_user("alice", "pw-alice", "alice@example.com").unwrap();
//! let server = install.serve().unwrap();
//! let session = server.client().login("alice", "pw-alice", None).unwrap();
//! assert_eq!(server.client().me(&session.token).unwrap().username, "alice");
//! ```

mod client;
mod console;
mod error;
mod install;
mod server;

pub use client::{Client, ClientError, LoginStep};
pub use console::{ApiKey, console, create_api_key, create_user};
pub use error::TestkitError;
pub use install::{Backend, Installation, settings_at};
pub use keyward_testdb::{PgDatabase, postgres_available, postgres_or_skip};
pub use server::TestServer;
