//! Adoption on first use: a user of a passwd-file or LDAP resolver gets its local "shadow" user
//! the first time a request needs one (validate, login, token enrolment or assignment), without
//! `syncldap` first. The shadow user is made exactly as `syncldap` makes it (same fields, same
//! source link), in one transaction with its audit row (`user.adopt`, actor `resolver:NAME`,
//! target the login).
//!
//! Looking a name up in a directory costs a connection and a search, and any caller can send
//! random names, so lookups are bounded: at most [`LOOKUPS_AT_ONCE`] at a time on this node (a
//! request that cannot get a turn within [`LOOKUP_WAIT`] fails as overloaded: HTTP 503 with
//! `Retry-After` on every transport, and no audit row per refusal), and names not adopted (not
//! in the directory, disabled there, held by a local user from elsewhere) are remembered for
//! [`FORGET_AFTER`] (at most [`REMEMBERED`] of them) and answered "no such user" without asking
//! again. Local users are found before any of this: the path of a user that exists costs
//! nothing more.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use keyward_proto::Username;
use keyward_store::StoreError;
use keyward_store::users::User;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::definition::Resolver;
use super::directory::{self, DirectoryUser};
use super::sync::new_shadow_user;
use crate::context::Ctx;
use crate::output::CommandError;

/// Directory lookups for adoption running at once on one node.
pub const LOOKUPS_AT_ONCE: usize = 4;
/// How long a request waits for a lookup turn before it fails as unavailable.
pub const LOOKUP_WAIT: Duration = Duration::from_secs(1);
/// How long a name not adopted is answered "no such user" without asking again.
pub const FORGET_AFTER: Duration = Duration::from_secs(30);
/// Names remembered as not adopted, at most (the oldest go first).
pub const REMEMBERED: usize = 4096;
/// Longest name looked up in a directory (longer ones are nobody).
const MAX_NAME_CHARS: usize = 256;

/// One node's adoption bounds: the lookup turns and the names recently not found.
pub struct Adoption {
    turns: Semaphore,
    missing: Mutex<HashMap<String, Instant>>,
    /// Requests refused for want of a turn (logged, not audited, like the hashing bound).
    refused: AtomicU64,
}

impl Default for Adoption {
    fn default() -> Self {
        Adoption {
            turns: Semaphore::new(LOOKUPS_AT_ONCE),
            missing: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        }
    }
}

impl Adoption {
    fn missing(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.missing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `key` ([`missing_key`]) was not adopted within the last
    /// [`FORGET_AFTER`].
    pub(super) fn recently_missing(&self, key: &str) -> bool {
        let mut missing = self.missing();
        match missing.get(key) {
            Some(at) if at.elapsed() < FORGET_AFTER => true,
            Some(_) => {
                missing.remove(key);
                false
            }
            None => false,
        }
    }

    /// Remembers that `key` was not adopted.
    fn note_missing(&self, key: String) {
        let mut missing = self.missing();
        if missing.len() >= REMEMBERED {
            missing.retain(|_, at| at.elapsed() < FORGET_AFTER);
        }
        if missing.len() >= REMEMBERED
            && let Some(oldest) = missing
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
        {
            missing.remove(&oldest);
        }
        missing.insert(key, Instant::now());
    }

    /// A lookup turn, or overloaded when none frees up in time.
    async fn turn(&self) -> Result<SemaphorePermit<'_>, CommandError> {
        let busy = || {
            CommandError::Overloaded(
                "server busy: too many directory lookups, retry shortly".into(),
            )
        };
        match tokio::time::timeout(LOOKUP_WAIT, self.turns.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_multiple_of(100) {
                    tracing::warn!(
                        refused = n,
                        "directory lookups for adoption: all turns busy"
                    );
                }
                Err(busy())
            }
        }
    }
}

/// The key under which a name of `realm` that was not adopted is remembered.
pub(super) fn missing_key(name: &str, realm: &str) -> String {
    format!("{}@{}", name.to_lowercase(), realm.to_lowercase())
}

/// Whether a name may be looked up in a directory at all (no wildcard, no control character,
/// not absurdly long): anything else is nobody.
fn may_look_up(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && !name.chars().any(|c| c == '*' || c.is_control())
}

/// The user `name` of `realm`, adopted from the first of `resolvers` (in order) whose directory
/// has it, when it is active there and no local user of that name stands in the way. The caller
/// has found no local user for it. `None`: nobody (also for a directory user who is disabled, or
/// whose name a local user from elsewhere holds — never taken over).
pub async fn adopt(
    ctx: &Ctx,
    name: &str,
    realm: &str,
    resolvers: &[Resolver],
) -> Result<Option<User>, CommandError> {
    if !resolvers.iter().any(|r| !matches!(r, Resolver::Internal)) || !may_look_up(name) {
        return Ok(None);
    }
    let key = missing_key(name, realm);
    let state = &ctx.shared.adoption;
    if state.recently_missing(&key) {
        return Ok(None);
    }
    let _turn = state.turn().await?;
    let mut offered = None;
    for resolver in resolvers {
        if let Some(found) = directory::find_one(resolver, name).await? {
            offered = Some((resolver.name(), found));
            break;
        }
    }
    let adopted = match offered {
        Some((resolver, found)) if !found.disabled => create_shadow(ctx, resolver, &found).await?,
        _ => None,
    };
    if adopted.is_none() {
        state.note_missing(key);
    }
    Ok(adopted)
}

/// The shadow user of `found` in `resolver`: made now (with its audit row, one transaction),
/// or, when it appeared meanwhile (a concurrent adoption, a sync), read back. A local user of
/// that name from elsewhere is left alone: `None`.
async fn create_shadow(
    ctx: &Ctx,
    resolver: &str,
    found: &DirectoryUser,
) -> Result<Option<User>, CommandError> {
    if ctx
        .store()
        .find_user(&Username::from(found.login.as_str()))
        .await?
        .is_some()
    {
        return read_back(ctx, resolver, found).await;
    }
    let now = ctx.now();
    let mut tx = ctx.begin_change().await?;
    let created = tx
        .create_user(&new_shadow_user(&found.login, &found.email, now))
        .await;
    let user = match created {
        Ok(user) => user,
        // Another request (or node) made a user of that name first: roll back, read it.
        Err(StoreError::Conflict(_) | StoreError::LookAlike(_)) => {
            drop(tx);
            return read_back(ctx, resolver, found).await;
        }
        Err(e) => return Err(e.into()),
    };
    tx.set_user_source(&user.id, resolver, &found.external_id, now)
        .await?;
    let mut by_resolver = ctx.clone();
    by_resolver.actor = format!("resolver:{resolver}");
    let entry = by_resolver
        .audit_entry(
            "user.adopt",
            user.username.as_str(),
            true,
            &format!("shadow user of {resolver} ({})", found.external_id),
        )
        .await?;
    match tx.commit_audited(entry).await {
        Ok(()) => {
            tracing::info!(user = %user.username, resolver, "adopted a directory user");
            Ok(Some(user))
        }
        Err(e) if e.is_unique_violation() => read_back(ctx, resolver, found).await,
        Err(e) => Err(e.into()),
    }
}

/// The local user of `found`'s login when it is `resolver`'s shadow user; `None` when the name
/// belongs to a local user from elsewhere.
async fn read_back(
    ctx: &Ctx,
    resolver: &str,
    found: &DirectoryUser,
) -> Result<Option<User>, CommandError> {
    let user = ctx
        .store()
        .find_user_from(&found.login, Some(resolver))
        .await?;
    if user.is_none() {
        tracing::info!(
            login = %found.login,
            resolver,
            "not adopted: a local user of that name is not from this resolver"
        );
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_wildcards_or_control_characters_are_never_looked_up() {
        assert!(may_look_up("bob"));
        assert!(may_look_up("bob.smith-2"));
        assert!(!may_look_up(""));
        assert!(!may_look_up("b*"));
        assert!(!may_look_up("bob\n"));
        assert!(!may_look_up(&"x".repeat(MAX_NAME_CHARS + 1)));
    }

    #[test]
    fn missing_names_are_remembered_within_the_bound() {
        let state = Adoption::default();
        assert!(!state.recently_missing("nobody@corp"));
        state.note_missing("nobody@corp".into());
        assert!(state.recently_missing("nobody@corp"));
        // Strictly the oldest, whatever the clock's resolution.
        std::thread::sleep(Duration::from_millis(2));
        for i in 0..REMEMBERED + 10 {
            state.note_missing(format!("n{i}@corp"));
        }
        assert!(state.missing().len() <= REMEMBERED);
        // The newest stay; the oldest went first.
        assert!(state.recently_missing(&format!("n{}@corp", REMEMBERED + 9)));
        assert!(!state.recently_missing("nobody@corp"));
    }

    #[tokio::test]
    async fn a_lookup_waits_for_a_turn_and_then_fails_as_overloaded() {
        let state = Adoption::default();
        let mut held = Vec::new();
        for _ in 0..LOOKUPS_AT_ONCE {
            held.push(state.turn().await.unwrap());
        }
        let started = Instant::now();
        match state.turn().await {
            Err(CommandError::Overloaded(m)) => assert!(m.contains("retry shortly"), "{m}"),
            other => panic!("expected overloaded, got {:?}", other.map(|_| ())),
        }
        assert!(started.elapsed() >= LOOKUP_WAIT);
        held.pop();
        assert!(state.turn().await.is_ok());
    }
}
