//! Bounded password hashing: every Argon2 (or imported-scheme) hash computed or verified for a
//! password, token PIN or timing equaliser goes through one [`PasswordHashing`] per process.
//!
//! Each evaluation allocates its memory cost (19 MiB by default) and keeps a CPU busy, so an
//! unauthenticated flood of `/validate/check` or `/auth/login` requests would otherwise grow the
//! process without bound. Here at most `permits` evaluations run at once, on the blocking pool
//! (never on an async worker, never while a database connection is held — callers read what they
//! need first and release it). Callers beyond that wait in a short queue for a bounded time; past
//! the queue or the wait they get [`CommandError::Overloaded`], which the transports answer with
//! HTTP 503 and `Retry-After`. Peak hashing memory is therefore `permits × memory cost`, whatever
//! the load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use keyward_core::password::{Argon2Params, PasswordError, hash_password, verify_password};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::output::CommandError;
use crate::settings::Settings;

/// What clients are told to wait (`Retry-After`, seconds) when hashing is overloaded.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The refusal shown to clients (holds no secret and no user name).
const OVERLOADED: &str = "server busy: too many password checks in progress, retry shortly";

/// The process-wide limit on concurrent password hash evaluations.
#[derive(Debug)]
pub struct PasswordHashing {
    slots: Arc<Semaphore>,
    permits: usize,
    /// Callers currently waiting for a slot.
    waiting: AtomicUsize,
    queue: usize,
    wait: Duration,
    /// Refusals so far (logged at 1, 2, 4, 8 … so a flood cannot flood the log either).
    refused: AtomicU64,
}

/// Leaves the wait queue when dropped (also when the waiting request is cancelled).
struct QueueSpot<'a>(&'a AtomicUsize);

impl Drop for QueueSpot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PasswordHashing {
    /// `permits` concurrent evaluations (at least one), `queue` waiting callers, each waiting at
    /// most `wait`.
    pub fn new(permits: usize, queue: usize, wait: Duration) -> Self {
        let permits = permits.max(1);
        PasswordHashing {
            slots: Arc::new(Semaphore::new(permits)),
            permits,
            waiting: AtomicUsize::new(0),
            queue,
            wait,
            refused: AtomicU64::new(0),
        }
    }

    /// From `password_hash_concurrency` (0: one per CPU), `password_hash_queue` and
    /// `password_hash_queue_ms`.
    pub fn from_settings(settings: &Settings) -> Self {
        let permits = match settings.password_hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => usize::try_from(n).unwrap_or(1),
        };
        PasswordHashing::new(
            permits,
            usize::try_from(settings.password_hash_queue).unwrap_or(usize::MAX),
            Duration::from_millis(settings.password_hash_queue_ms),
        )
    }

    /// How many evaluations may run at once.
    pub fn permits(&self) -> usize {
        self.permits
    }

    /// A slot, waiting in the queue when all are taken; `Overloaded` when the queue is full or
    /// the wait is over.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, CommandError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _spot = QueueSpot(&self.waiting);
        if ahead >= self.queue {
            return Err(self.refuse());
        }
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(self.refuse()),
        }
    }

    /// Counts (and now and then logs) a refusal.
    fn refuse(&self) -> CommandError {
        let n = self
            .refused
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if n.is_power_of_two() {
            tracing::warn!(
                refused_total = n,
                slots = self.permits,
                queue = self.queue,
                "password hashing overloaded: answering 503"
            );
        }
        CommandError::Overloaded(OVERLOADED.into())
    }

    /// How many callers have been refused since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Runs `work` on the blocking pool once a slot is free. The slot is held by the blocking
    /// task itself, so a cancelled request does not free it before the computation ends.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CommandError> {
        let permit = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|e| CommandError::Internal(format!("password hashing task failed: {e}")))
    }

    /// A new Argon2id hash of `secret`.
    pub async fn hash(&self, secret: &str, params: Argon2Params) -> Result<String, CommandError> {
        let secret = Zeroizing::new(secret.to_string());
        self.run(move || hash_password(&secret, &params))
            .await?
            .map_err(|e| CommandError::Internal(e.to_string()))
    }

    /// Whether `secret` matches `stored` (any supported scheme); the inner error says why a
    /// stored hash cannot be checked.
    pub async fn verify(
        &self,
        secret: &str,
        stored: &str,
    ) -> Result<Result<bool, PasswordError>, CommandError> {
        let secret = Zeroizing::new(secret.to_string());
        let stored = stored.to_string();
        self.run(move || verify_password(&secret, &stored)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn item6_callers_beyond_slots_and_queue_are_refused() {
        let hashing = Arc::new(PasswordHashing::new(1, 1, Duration::from_secs(5)));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        // Holds the only slot until told to stop.
        let busy = {
            let h = hashing.clone();
            tokio::spawn(async move {
                h.run(move || {
                    let _ = rx.recv();
                })
                .await
            })
        };
        while hashing.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // One waits in the queue …
        let queued = {
            let h = hashing.clone();
            tokio::spawn(async move { h.run(|| 7).await })
        };
        while hashing.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // … the next one is refused at once.
        assert!(matches!(
            hashing.run(|| 8).await,
            Err(CommandError::Overloaded(_))
        ));
        tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap().unwrap(), 7);
        assert_eq!(hashing.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn item6_queued_callers_give_up_after_the_wait() {
        let hashing = Arc::new(PasswordHashing::new(1, 8, Duration::from_millis(50)));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let h = hashing.clone();
        let busy = tokio::spawn(async move {
            h.run(move || {
                let _ = rx.recv();
            })
            .await
        });
        while hashing.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            hashing.run(|| ()).await,
            Err(CommandError::Overloaded(_))
        ));
        tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(hashing.run(|| 3).await.unwrap(), 3);
    }
}
