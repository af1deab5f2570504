//! Group commit: one writer task per store takes the writes of the hot paths — audit appends and
//! the outcome of a validation (challenge answered, OTP accepted by compare-and-set, failures
//! counted, the audit row) — from many concurrent requests, runs them in one shared transaction
//! (audit rows chained in memory and inserted together), commits once, and only then answers
//! every request. Concurrent validations thus share one durable commit instead of paying one
//! each, and a request is never told "yes" before its OTP is durably used up. If that fast run
//! fails, nothing was committed and the batch runs again with each request in its own savepoint,
//! so one request's failure stays its own and every request's writes land together or not at all.
//!
//! On PostgreSQL the compare-and-set still holds across nodes (the row lock is kept until the
//! shared commit); a batch that loses a deadlock or serialization race is re-run from scratch,
//! since nothing of it was committed.

#[cfg(test)]
mod batch_tests;
pub(crate) mod batch_tx;
pub(crate) mod heads;
mod native;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::audit::{AuditEvent, ChainedRow};
use crate::tokens::OtpAcceptance;
use crate::{Backend, StoreError};
use batch_tx::BatchTx;
use heads::BatchHeads;
pub(crate) use heads::HeadLog;

/// Signs a chained audit hash (owned, so it can travel to the writer task).
pub type SharedSigner = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// One audit row to append to a chain.
#[derive(Clone)]
pub struct AuditAppend {
    pub chain: String,
    pub ts_ms: i64,
    pub event: AuditEvent,
    pub signer: SharedSigner,
}

/// The writes that end one validation.
#[derive(Clone)]
pub struct ValidationCommit {
    /// A challenge to close first (`open` → `answered`); if it is no longer open, nothing is
    /// accepted.
    pub answer_challenge: Option<String>,
    /// The OTP to accept (compare-and-set on the token's counter).
    pub accept: Option<OtpAcceptance>,
    /// Tokens whose fail counter goes up.
    pub failed: Vec<String>,
    pub now: i64,
    /// The audit row, as it reads when the acceptance (if any) wins.
    pub audit: AuditAppend,
    /// The audit details when the acceptance loses (the OTP was used meanwhile).
    pub lost_details: String,
}

enum Job {
    Audit(AuditAppend, oneshot::Sender<Result<(), StoreError>>),
    Validation(ValidationCommit, oneshot::Sender<Result<bool, StoreError>>),
}

/// Most requests folded into one commit.
const MAX_BATCH: usize = 512;
/// Attempts of a batch that loses a PostgreSQL deadlock / serialization race.
const BATCH_ATTEMPTS: usize = 4;
/// Attempts of one job whose audit row loses the (chain, seq) race to another process.
const AUDIT_ATTEMPTS: usize = 8;

/// Handle on the writer task.
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer: on a SQLite file, a thread with its own native connection; else a
    /// task on the sqlx pool.
    pub(crate) fn spawn(
        pool: AnyPool,
        backend: Backend,
        sqlite_file: Option<PathBuf>,
        heads: HeadLog,
    ) -> Writer {
        let (jobs, rx) = mpsc::channel(4096);
        match sqlite_file.map(|path| native::open(&path)) {
            Some(Ok(conn)) => native::spawn(conn, rx, heads),
            other => {
                if let Some(Err(e)) = other {
                    tracing::warn!(error = %e, "native SQLite writer unavailable; using the pool");
                }
                tokio::spawn(run(pool, backend, rx, heads));
            }
        }
        Writer { jobs }
    }

    async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(make(tx))
            .await
            .map_err(|_| StoreError::Unavailable("the database writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the database writer dropped a request".into()))?
    }

    pub(crate) async fn append_audit(&self, a: AuditAppend) -> Result<(), StoreError> {
        self.submit(|reply| Job::Audit(a, reply)).await
    }

    pub(crate) async fn commit_validation(&self, v: ValidationCommit) -> Result<bool, StoreError> {
        self.submit(|reply| Job::Validation(v, reply)).await
    }
}

/// What one job produced: for a validation, whether its OTP was accepted.
type Done = bool;

/// How a batch runs. `Fast`: the jobs' writes straight into one transaction, the chain heads
/// kept in memory and all audit rows in one multi-row insert — a handful of statements per
/// request. `Isolated`: each job in its own savepoint with its own audit insert, so one job's
/// failure stays its own; used when a fast run fails.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fast,
    Isolated,
}

/// Takes the first waiting job and whatever else is queued behind it.
fn gather(first: Job, rx: &mut mpsc::Receiver<Job>) -> Vec<Job> {
    let mut jobs = vec![first];
    while jobs.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(j) => jobs.push(j),
            Err(_) => break,
        }
    }
    jobs
}

type BatchResult = Result<(Vec<Result<Done, StoreError>>, BatchHeads), StoreError>;

/// Whether a batch that ended with `outcome` runs again, each job isolated: after a failed fast
/// run (nothing was committed), and again while PostgreSQL reports a deadlock or serialization
/// failure.
fn run_again(outcome: &BatchResult, attempts: usize) -> bool {
    match outcome {
        Ok(_) => false,
        Err(e) => attempts == 0 || (is_retryable(e) && attempts < BATCH_ATTEMPTS),
    }
}

/// Answers every job of a batch, after recording the new chain heads of a committed one (so a
/// process that exits right after its answer leaves its head behind).
fn finish(jobs: Vec<Job>, outcome: BatchResult, head_log: &HeadLog) {
    match outcome {
        Ok((results, heads)) => {
            head_log.note(&jobs, heads);
            for (job, result) in jobs.into_iter().zip(results) {
                reply(job, result);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed");
            let msg = e.to_string();
            for job in jobs {
                reply(
                    job,
                    Err(StoreError::Unavailable(format!("commit failed: {msg}"))),
                );
            }
        }
    }
}

/// The audit row a job appends.
fn job_audit(job: &Job) -> &AuditAppend {
    match job {
        Job::Audit(a, _) => a,
        Job::Validation(v, _) => &v.audit,
    }
}

/// The writer as a task on the sqlx pool.
async fn run(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<Job>, heads: HeadLog) {
    while let Some(first) = rx.recv().await {
        let jobs = gather(first, &mut rx);
        let mut outcome = pool_batch(&pool, backend, &jobs, Mode::Fast).await;
        let mut attempts = 0;
        while run_again(&outcome, attempts) {
            attempts += 1;
            outcome = pool_batch(&pool, backend, &jobs, Mode::Isolated).await;
        }
        finish(jobs, outcome, &heads);
    }
}

async fn pool_batch(pool: &AnyPool, backend: Backend, jobs: &[Job], mode: Mode) -> BatchResult {
    let mut tx = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    };
    let done = run_jobs(&mut tx, jobs, mode).await?;
    tx.commit().await?;
    Ok(done)
}

fn reply(job: Job, result: Result<Done, StoreError>) {
    match job {
        Job::Audit(_, tx) => {
            let _ = tx.send(result.map(|_| ()));
        }
        Job::Validation(_, tx) => {
            let _ = tx.send(result);
        }
    }
}

/// PostgreSQL deadlock (40P01) or serialization failure (40001).
fn is_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sqlx::Error::Database(db)) => {
            matches!(db.code().as_deref(), Some("40P01" | "40001"))
        }
        _ => false,
    }
}

/// Runs the jobs in `tx` (the caller commits). In `Fast` mode any failure fails the batch. In
/// `Isolated` mode a job's own failure is rolled back to its savepoint and reported to it alone;
/// only a failure of the transaction itself fails the batch.
async fn run_jobs(tx: &mut impl BatchTx, jobs: &[Job], mode: Mode) -> BatchResult {
    let mut results = Vec::with_capacity(jobs.len());
    let mut heads: BatchHeads = HashMap::new();
    if mode == Mode::Fast {
        let mut rows = Vec::with_capacity(jobs.len());
        for job in jobs {
            let (done, audit) = job_writes(tx, job).await?;
            let head = match heads.get(&audit.chain) {
                Some(h) => h.clone(),
                None => crate::audit::chain_head(tx, &audit.chain).await?,
            };
            let row = ChainedRow::after(&head, &audit);
            heads.insert(audit.chain.clone(), row.head());
            rows.push(row);
            results.push(Ok(done));
        }
        crate::audit::insert_rows(tx, &rows).await?;
    } else {
        for job in jobs {
            let result = isolated_job(tx, job).await?;
            results.push(result.map(|(done, head)| {
                heads.insert(job_audit(job).chain.clone(), head);
                done
            }));
        }
    }
    Ok((results, heads))
}

/// One job in its own savepoint; retried when its audit row loses the chain race.
async fn isolated_job(
    tx: &mut impl BatchTx,
    job: &Job,
) -> Result<Result<(Done, (i64, String)), StoreError>, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        tx.exec("SAVEPOINT kw_job", &[]).await?;
        let r = match job_writes(tx, job).await {
            Ok((done, audit)) => crate::audit::append_in(tx, &audit)
                .await
                .map(|head| (done, head)),
            Err(e) => Err(e),
        };
        match r {
            Ok(done) => {
                tx.exec("RELEASE SAVEPOINT kw_job", &[]).await?;
                return Ok(Ok(done));
            }
            Err(e) => {
                tx.exec("ROLLBACK TO SAVEPOINT kw_job", &[]).await?;
                tx.exec("RELEASE SAVEPOINT kw_job", &[]).await?;
                if is_retryable(&e) {
                    return Err(e);
                }
                if e.is_unique_violation() && attempt < AUDIT_ATTEMPTS {
                    continue;
                }
                return Ok(Err(e));
            }
        }
    }
}

/// A job's writes other than its audit row; returns its result and the audit row as it must
/// read (a validation whose OTP was used meanwhile is audited as refused).
async fn job_writes(tx: &mut impl BatchTx, job: &Job) -> Result<(Done, AuditAppend), StoreError> {
    match job {
        Job::Audit(a, _) => Ok((true, a.clone())),
        Job::Validation(v, _) => {
            let mut won = v.accept.is_some();
            if let Some(txid) = &v.answer_challenge {
                won = won && crate::challenges::answer_in(tx, txid, v.now).await?;
            }
            if let Some(acc) = &v.accept
                && won
            {
                won = crate::tokens::accept_in(tx, acc).await?;
            }
            let mut failed = v.failed.clone();
            let lost = v.accept.is_some() && !won;
            if lost && let Some(acc) = &v.accept {
                failed.push(acc.token_id.clone());
            }
            crate::tokens::record_failures_in(tx, &failed, v.now).await?;
            let mut audit = v.audit.clone();
            if lost {
                audit.event.success = false;
                audit.event.details = v.lost_details.clone();
            }
            Ok((won, audit))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit_job() -> AuditAppend {
        AuditAppend {
            chain: "local".into(),
            ts_ms: 0,
            event: AuditEvent::default(),
            signer: Arc::new(|_: &str| String::new()),
        }
    }

    #[tokio::test]
    async fn item19_a_stopped_writer_is_unavailable_not_corrupt() {
        let (jobs, rx) = mpsc::channel(1);
        drop(rx);
        let writer = Writer { jobs };
        let err = writer.append_audit(audit_job()).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(!err.to_string().contains("corrupt"), "{err}");
    }

    #[tokio::test]
    async fn item19_a_failed_commit_is_unavailable() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        // The pool writer on a closed pool cannot begin its batch.
        let writer = Writer::spawn(pool.clone(), Backend::Sqlite, None, HeadLog::default());
        pool.close().await;
        let err = writer.append_audit(audit_job()).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}
