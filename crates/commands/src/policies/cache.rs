//! The active policy set, kept in memory per process so the validate path (thousands of
//! requests a second) does not read the table each time: a request uses the loaded set while it
//! is younger than [`MAX_AGE_MS`], and the first request after that reloads it (one at a time).
//! A change made in this process drops the set at once; a change made by another process (the
//! console, another node) is seen within [`MAX_AGE_MS`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keyward_core::policy::PolicySet;

use crate::context::Ctx;
use crate::output::CommandError;

/// How long a loaded policy set is used before it is read again.
pub const MAX_AGE_MS: i64 = 1000;

struct Loaded {
    set: Arc<PolicySet>,
    at_ms: i64,
}

/// This process's copy of the active policies.
#[derive(Default)]
pub struct PolicyCache {
    loaded: RwLock<Option<Loaded>>,
    /// Bumped by every local change, so a reload that raced with one is not kept as fresh.
    changes: AtomicU64,
    reload: tokio::sync::Mutex<()>,
}

impl PolicyCache {
    /// Forgets the loaded set (after a change of the policies table in this process).
    pub fn invalidate(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut l) = self.loaded.write() {
            *l = None;
        }
    }

    fn fresh(&self, now_ms: i64) -> Option<Arc<PolicySet>> {
        let l = self.loaded.read().ok()?;
        l.as_ref()
            .filter(|l| now_ms.saturating_sub(l.at_ms) < MAX_AGE_MS && now_ms >= l.at_ms)
            .map(|l| l.set.clone())
    }

    /// The active policies, reloaded when the copy is too old.
    pub async fn get(&self, ctx: &Ctx) -> Result<Arc<PolicySet>, CommandError> {
        let now = ctx.shared.clock.now_ms();
        if let Some(set) = self.fresh(now) {
            return Ok(set);
        }
        let _one_at_a_time = self.reload.lock().await;
        if let Some(set) = self.fresh(now) {
            return Ok(set);
        }
        let before = self.changes.load(Ordering::SeqCst);
        let set = Arc::new(PolicySet::new(ctx.store().list_policies().await?));
        if self.changes.load(Ordering::SeqCst) == before
            && let Ok(mut l) = self.loaded.write()
        {
            *l = Some(Loaded {
                set: set.clone(),
                at_ms: now,
            });
        }
        Ok(set)
    }
}
