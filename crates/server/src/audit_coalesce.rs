//! Bounded audit rows for repeated failures (bad management keys, bad bearer tokens, throttled
//! logins). The first failure of a kind from an address is audited at once; identical ones in
//! the next [`INTERVAL`] are only counted, and the count is written as one row ("N further
//! failures: …") when the interval is over (by the flusher task, or at shutdown). A flood thus
//! costs at most one row per address, kind and interval.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::AppState;

/// At most one row per address and kind of failure this often.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// How often the flusher looks for counts to write.
const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Distinct (actor, action, address, reason) entries kept; beyond, addresses are pooled.
const MAX_ENTRIES: usize = 50_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    actor: String,
    action: String,
    client: String,
    details: String,
}

struct Entry {
    /// When the last row for this key was written.
    written: Instant,
    /// Failures since then that got no row of their own.
    suppressed: u64,
    /// Target of the latest suppressed failure.
    target: String,
}

/// A row to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub actor: String,
    pub action: String,
    pub client: String,
    pub target: String,
    pub details: String,
}

/// The counts of one node.
#[derive(Default)]
pub struct AuditCoalescer {
    entries: Mutex<HashMap<Key, Entry>>,
}

fn summary(n: u64, details: &str) -> String {
    format!("{n} further failures: {details}")
}

impl AuditCoalescer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one failure; returns the row to write now, or `None` when it is only counted.
    pub fn admit(&self, row: Row) -> Option<Row> {
        let now = Instant::now();
        let mut map = self.lock();
        let mut key = Key {
            actor: row.actor.clone(),
            action: row.action.clone(),
            client: row.client.clone(),
            details: row.details.clone(),
        };
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            map.retain(|_, e| e.suppressed > 0 || now.duration_since(e.written) < INTERVAL);
            if map.len() >= MAX_ENTRIES {
                key.client = "*".into();
                key.actor = "*".into();
            }
        }
        match map.get_mut(&key) {
            Some(e) if now.duration_since(e.written) < INTERVAL => {
                e.suppressed = e.suppressed.saturating_add(1);
                e.target = row.target;
                None
            }
            Some(e) => {
                let earlier = std::mem::take(&mut e.suppressed);
                e.written = now;
                let mut row = row;
                if earlier > 0 {
                    row.details = format!("{} (after {earlier} further failures)", row.details);
                }
                Some(row)
            }
            None => {
                map.insert(
                    key,
                    Entry {
                        written: now,
                        suppressed: 0,
                        target: String::new(),
                    },
                );
                Some(row)
            }
        }
    }

    /// Summary rows that are due (every pending count when `all`), and forgets quiet entries.
    pub fn due(&self, all: bool) -> Vec<Row> {
        let now = Instant::now();
        let mut map = self.lock();
        let mut rows = Vec::new();
        for (k, e) in map.iter_mut() {
            let elapsed = now.duration_since(e.written) >= INTERVAL;
            if e.suppressed > 0 && (all || elapsed) {
                rows.push(Row {
                    actor: k.actor.clone(),
                    action: k.action.clone(),
                    client: k.client.clone(),
                    target: std::mem::take(&mut e.target),
                    details: summary(e.suppressed, &k.details),
                });
                e.suppressed = 0;
                e.written = now;
            }
        }
        map.retain(|_, e| e.suppressed > 0 || now.duration_since(e.written) < INTERVAL * 2);
        rows
    }
}

/// Writes `row` now or counts it for a later summary row. Audit failures are logged.
pub async fn audit_failure(state: &AppState, row: Row) {
    if let Some(row) = state.audit_coalescer.admit(row) {
        write(state, row).await;
    }
}

async fn write(state: &AppState, row: Row) {
    let ctx = state.ctx(&row.actor, &row.client);
    if let Err(e) = ctx
        .audit(&row.action, &row.target, false, &row.details)
        .await
    {
        tracing::error!(action = %row.action, error = %e, "could not write an audit row");
    }
}

/// Writes the summary rows that are due (all of them when `all`, e.g. at shutdown).
pub async fn flush(state: &AppState, all: bool) {
    for row in state.audit_coalescer.due(all) {
        write(state, row).await;
    }
}

/// Runs [`flush`] every few seconds for as long as the server runs.
pub fn spawn_flusher(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            tick.tick().await;
            flush(&state, false).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(client: &str) -> Row {
        Row {
            actor: "anonymous".into(),
            action: "authenticate".into(),
            client: client.into(),
            target: String::new(),
            details: "invalid token".into(),
        }
    }

    #[test]
    fn item8_repeats_in_the_interval_are_counted_not_written() {
        let c = AuditCoalescer::default();
        assert_eq!(c.admit(row("10.0.0.1")), Some(row("10.0.0.1")));
        for _ in 0..499 {
            assert_eq!(c.admit(row("10.0.0.1")), None);
        }
        // Another address gets its own first row.
        assert!(c.admit(row("10.0.0.2")).is_some());
        assert!(c.due(false).is_empty());
        let rows = c.due(true);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].details, "499 further failures: invalid token");
        assert_eq!(rows[0].client, "10.0.0.1");
        assert!(c.due(true).is_empty());
    }
}
