//! A changing command's writes and its audit row in one transaction. Before a changing command's
//! handler runs, the registry puts an [`AuditDraft`] on its [`Ctx`] (the action, and the target
//! once the arguments are parsed). The handler makes its changes in a [`WriteTx`] from
//! [`Ctx::begin_change`] and ends with [`Ctx::commit_change`], which appends the draft's signed
//! audit row inside that transaction and commits: the change and its audit entry are durable
//! together or not at all. The registry then knows the row is written; a changing command that
//! succeeds without writing it is an error (see `Registry::execute`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use keyward_store::write_tx::WriteTx;

use crate::context::Ctx;
use crate::output::{CommandError, Output};

/// The audit row a run of a changing command owes: its action (the command's name), its target
/// (from the parsed arguments) and whether it has been written with the change.
#[derive(Debug)]
pub struct AuditDraft {
    action: &'static str,
    target: Mutex<String>,
    written: AtomicBool,
}

impl AuditDraft {
    pub fn new(action: &'static str) -> Self {
        AuditDraft {
            action,
            target: Mutex::new(String::new()),
            written: AtomicBool::new(false),
        }
    }

    pub fn action(&self) -> &'static str {
        self.action
    }

    /// Sets the target, once the command's arguments are parsed.
    pub fn set_target(&self, target: &str) {
        if let Ok(mut t) = self.target.lock() {
            *t = target.to_string();
        }
    }

    pub fn target(&self) -> String {
        self.target.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Whether the row was committed with the command's change.
    pub fn written(&self) -> bool {
        self.written.load(Ordering::SeqCst)
    }
}

impl Ctx {
    /// Begins the transaction of this command's change.
    pub async fn begin_change(&self) -> Result<WriteTx, CommandError> {
        Ok(self.store().begin_change().await?)
    }

    /// Commits the change in `tx` together with the command's audit row (a success, with
    /// `details`, which must never contain secrets).
    pub async fn commit_change(&self, tx: WriteTx, details: &str) -> Result<(), CommandError> {
        let draft = self.draft.clone().ok_or_else(|| {
            CommandError::Internal("a change was committed outside a changing command".into())
        })?;
        if draft.written() {
            return Err(CommandError::Internal(format!(
                "{}: its audit row is already written",
                draft.action
            )));
        }
        self.commit_audit_as(tx, draft.action, &draft.target(), details)
            .await?;
        draft.written.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// [`Ctx::commit_change`] with the audit details the output carries; returns the output.
    pub async fn commit_output(&self, tx: WriteTx, out: Output) -> Result<Output, CommandError> {
        self.commit_change(tx, out.audit_details.as_deref().unwrap_or_default())
            .await?;
        Ok(out)
    }

    /// Commits the change in `tx` together with a successful audit row of `action` on `target`
    /// (for changes made outside the registry, e.g. self-registration).
    pub async fn commit_audit_as(
        &self,
        tx: WriteTx,
        action: &str,
        target: &str,
        details: &str,
    ) -> Result<(), CommandError> {
        let entry = self.audit_entry(action, target, true, details).await?;
        tx.commit_audited(entry).await?;
        Ok(())
    }
}
