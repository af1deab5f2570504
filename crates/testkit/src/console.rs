//! Operator commands run through the registry inside the test process, exactly as
//! `keyward manage` runs them locally (console principal, audit chain `local`, a store opened for
//! the command and closed after it) — only without spawning the binary.

use std::sync::Arc;

use keyward_commands::{Ctx, Output, Registry, Settings, Shared};

use crate::error::{TestkitError, on_own_runtime};

/// A new API key: the secret (shown once), its id and the account it acts as.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub key: String,
    pub id: String,
    pub username: String,
}

/// Runs `words` (e.g. `["createuser", "alice", "pw", "a@example.com"]`) on the installation
/// `settings` describe. `Ok` carries what `keyward manage` would print (`text`) and the JSON;
/// `Err` the exit code and message it would fail with.
pub fn console(settings: &Settings, words: &[&str]) -> Result<Output, TestkitError> {
    let settings = settings.clone();
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    on_own_runtime(async move {
        let shared = Arc::new(Shared::open(settings, "local".to_string()).await?);
        let result = Registry::standard()
            .run(&Ctx::console(shared.clone()), &words)
            .await;
        shared.store.close().await;
        Ok(result?)
    })?
}

/// `createuser NAME PASSWORD EMAIL`.
pub fn create_user(
    settings: &Settings,
    name: &str,
    password: &str,
    email: &str,
) -> Result<(), TestkitError> {
    console(settings, &["createuser", name, password, email]).map(|_| ())
}

/// `api createtoken -r ROLE [-u USER]`: a key acting as `USER` (or a generated `API_<ROLE>_…`).
pub fn create_api_key(
    settings: &Settings,
    role: &str,
    user: Option<&str>,
) -> Result<ApiKey, TestkitError> {
    let mut words = vec!["api", "createtoken", "-r", role];
    if let Some(u) = user {
        words.extend(["-u", u]);
    }
    let out = console(settings, &words)?;
    let field = |name: &str| {
        out.json[name]
            .as_str()
            .map(String::from)
            .ok_or_else(|| TestkitError::Setup(format!("api createtoken gave no {name}")))
    };
    Ok(ApiKey {
        key: field("key")?,
        id: field("id")?,
        username: field("username")?,
    })
}
