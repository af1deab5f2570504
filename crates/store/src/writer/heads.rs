//! The writer's side of the audit chains' head records (`audit_heads`): after each committed batch
//! the new head of every chain it appended to is noted; the records are signed and rewritten at
//! most every [`HEAD_INTERVAL`] (right away after a quiet spell, so a one-command CLI run leaves
//! its head before it answers), by a background tick when a burst ends, and when the store
//! closes. So the hot validate path pays one signature and one small file write per interval,
//! not per request. A record that lags behind the table after a crash only weakens the check,
//! since a head is a lower bound.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Job, job_audit};
use crate::audit::SharedSigner;
use crate::audit_heads::{AuditHead, head_message, write_head};

/// Least time between two rewrites of the head records under load.
const HEAD_INTERVAL: Duration = Duration::from_millis(250);

/// The newest (seq, hash) of each chain a batch appended to.
pub(super) type BatchHeads = HashMap<String, (i64, String)>;

struct Pending {
    seq: i64,
    hash: String,
    signer: SharedSigner,
}

#[derive(Default)]
struct Recorder {
    dir: Option<PathBuf>,
    pending: HashMap<String, Pending>,
    last_write: Option<Instant>,
}

impl Recorder {
    fn flush(&mut self) {
        let Some(dir) = self.dir.clone() else {
            return;
        };
        for (chain, p) in self.pending.drain() {
            write_one(&dir, chain, p);
        }
        self.last_write = Some(Instant::now());
    }
}

fn write_one(dir: &Path, chain: String, p: Pending) {
    let head = AuditHead {
        signature: (p.signer)(&head_message(&chain, p.seq, &p.hash)),
        chain,
        seq: p.seq,
        hash: p.hash,
    };
    if let Err(e) = write_head(dir, &head) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot record the audit chain head");
    }
}

/// Shared between the writer (which notes heads) and the store (which sets the directory and
/// flushes on close).
#[derive(Clone, Default)]
pub(crate) struct HeadLog(Arc<Mutex<Recorder>>);

impl HeadLog {
    /// Starts keeping head records in `dir` (the first directory set wins).
    pub(crate) fn set_dir(&self, dir: PathBuf) {
        if let Ok(mut r) = self.0.lock()
            && r.dir.is_none()
        {
            r.dir = Some(dir);
        }
    }

    /// Notes the heads a committed batch reached; writes them when due.
    pub(super) fn note(&self, jobs: &[Job], heads: BatchHeads) {
        let Ok(mut r) = self.0.lock() else {
            return;
        };
        if r.dir.is_none() {
            return;
        }
        for (chain, (seq, hash)) in heads {
            let signer = jobs
                .iter()
                .map(job_audit)
                .find(|a| a.chain == chain)
                .map(|a| a.signer.clone());
            if let Some(signer) = signer {
                r.pending.insert(chain, Pending { seq, hash, signer });
            }
        }
        if r.last_write.is_none_or(|t| t.elapsed() >= HEAD_INTERVAL) {
            r.flush();
        }
    }

    /// Notes the head one committed audited write transaction reached on `chain` (see
    /// `write_tx`); writes it when due. A head older than one already noted is ignored.
    pub(crate) fn note_head(&self, chain: &str, head: (i64, String), signer: SharedSigner) {
        let Ok(mut r) = self.0.lock() else {
            return;
        };
        if r.dir.is_none() || r.pending.get(chain).is_some_and(|p| p.seq >= head.0) {
            return;
        }
        let (seq, hash) = head;
        r.pending
            .insert(chain.to_string(), Pending { seq, hash, signer });
        if r.last_write.is_none_or(|t| t.elapsed() >= HEAD_INTERVAL) {
            r.flush();
        }
    }

    /// Writes every pending head now.
    pub(crate) fn flush(&self) {
        if let Ok(mut r) = self.0.lock() {
            r.flush();
        }
    }

    /// Flushes what a finished burst left pending, every [`HEAD_INTERVAL`], until the store is
    /// gone (needs a tokio runtime).
    pub(crate) fn spawn_ticker(&self) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEAD_INTERVAL);
            loop {
                tick.tick().await;
                let Some(recorder) = weak.upgrade() else {
                    break;
                };
                if let Ok(mut r) = recorder.lock()
                    && !r.pending.is_empty()
                    && r.last_write.is_none_or(|t| t.elapsed() >= HEAD_INTERVAL)
                {
                    r.flush();
                }
            }
        });
    }
}
