//! The group-commit writer on a SQLite file: its own thread and its own native connection
//! (same pragmas as the pool: WAL, busy timeout, foreign keys, synchronous=FULL), so a batch
//! costs one hand-off between threads instead of one per statement.

use std::path::Path;
use std::task::{Context, Poll, Waker};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::mpsc;

use super::batch_tx::NativeTx;
use super::{BatchResult, HeadLog, Job, Mode, finish, gather, run_again, run_jobs};
use crate::StoreError;

/// Opens the writer's connection.
pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch(crate::SQLITE_PRAGMAS)?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Native(format!(
            "journal_mode is {mode}, not wal"
        )));
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Runs the writer loop on a thread of its own until every sender is gone.
pub(super) fn spawn(mut conn: Connection, mut rx: mpsc::Receiver<Job>, heads: HeadLog) {
    let spawned = std::thread::Builder::new()
        .name("keyward-writer".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let jobs = gather(first, &mut rx);
                let mut outcome = batch(&mut conn, &jobs, Mode::Fast);
                let mut attempts = 0;
                while run_again(&outcome, attempts) {
                    attempts += 1;
                    outcome = batch(&mut conn, &jobs, Mode::Isolated);
                }
                finish(jobs, outcome, &heads);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the database writer thread");
    }
}

fn batch(conn: &mut Connection, jobs: &[Job], mode: Mode) -> BatchResult {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut native = NativeTx(tx);
    let done = run_ready(run_jobs(&mut native, jobs, mode))?;
    native.0.commit()?;
    Ok(done)
}

/// Drives a future that never waits (every native statement completes synchronously).
fn run_ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}
