//! Group commit: one writer task per store takes the writes of the hot paths — audit appends and
//! the outcome of a validation (challenge answered, OTP accepted by compare-and-set, failures
//! counted, the audit row) — from many concurrent requests, runs each request's writes inside its
//! own savepoint of one shared transaction, commits once, and only then answers every request.
//! Concurrent validations thus share one durable commit instead of paying one each, each
//! request's writes still land all together or not at all, and a request is never told "yes"
//! before its OTP is durably used up.
//!
//! On PostgreSQL the compare-and-set still holds across nodes (the row lock is kept until the
//! shared commit); a batch that loses a deadlock or serialization race is re-run from scratch,
//! since nothing of it was committed.

use std::sync::Arc;

use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::{mpsc, oneshot};

use crate::audit::{AuditEvent, AuditRecord};
use crate::tokens::OtpAcceptance;
use crate::{Backend, StoreError};

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
    Audit(
        AuditAppend,
        oneshot::Sender<Result<AuditRecord, StoreError>>,
    ),
    Validation(ValidationCommit, oneshot::Sender<Result<bool, StoreError>>),
}

/// Most requests folded into one commit.
const MAX_BATCH: usize = 512;
/// Attempts of a batch that loses a PostgreSQL deadlock / serialization race.
const BATCH_ATTEMPTS: usize = 4;
/// Attempts of one audit append that loses the (chain, seq) race to another process.
const AUDIT_ATTEMPTS: usize = 8;

/// Handle on the writer task.
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    pub(crate) fn spawn(pool: AnyPool, backend: Backend) -> Writer {
        let (jobs, rx) = mpsc::channel(4096);
        tokio::spawn(run(pool, backend, rx));
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
            .map_err(|_| StoreError::Corrupt("the database writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Corrupt("the database writer dropped a request".into()))?
    }

    pub(crate) async fn append_audit(&self, a: AuditAppend) -> Result<AuditRecord, StoreError> {
        self.submit(|reply| Job::Audit(a, reply)).await
    }

    pub(crate) async fn commit_validation(&self, v: ValidationCommit) -> Result<bool, StoreError> {
        self.submit(|reply| Job::Validation(v, reply)).await
    }
}

/// What one job produced inside the batch.
enum Done {
    Audit(Box<AuditRecord>),
    Validation(bool),
}

async fn run(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut outcome = Err(StoreError::Corrupt("batch not run".into()));
        for _ in 0..BATCH_ATTEMPTS {
            outcome = run_batch(&pool, backend, &jobs).await;
            match &outcome {
                Err(e) if is_retryable(e) => continue,
                _ => break,
            }
        }
        match outcome {
            Ok(results) => {
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
                        Err(StoreError::Corrupt(format!("commit failed: {msg}"))),
                    );
                }
            }
        }
    }
}

fn reply(job: Job, result: Result<Done, StoreError>) {
    match (job, result) {
        (Job::Audit(_, tx), Ok(Done::Audit(rec))) => {
            let _ = tx.send(Ok(*rec));
        }
        (Job::Validation(_, tx), Ok(Done::Validation(won))) => {
            let _ = tx.send(Ok(won));
        }
        (Job::Audit(_, tx), Err(e)) => {
            let _ = tx.send(Err(e));
        }
        (Job::Validation(_, tx), Err(e)) => {
            let _ = tx.send(Err(e));
        }
        (Job::Audit(_, tx), Ok(_)) => {
            let _ = tx.send(Err(StoreError::Corrupt("mismatched writer result".into())));
        }
        (Job::Validation(_, tx), Ok(_)) => {
            let _ = tx.send(Err(StoreError::Corrupt("mismatched writer result".into())));
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

/// Runs every job in its own savepoint of one transaction and commits. A job's own failure is
/// rolled back to its savepoint and reported to it alone; a failure of the transaction itself
/// fails the batch.
async fn run_batch(
    pool: &AnyPool,
    backend: Backend,
    jobs: &[Job],
) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
    let mut tx = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    };
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            sqlx::query("SAVEPOINT kw_job").execute(&mut *tx).await?;
            let r = run_job(&mut tx, job).await;
            match r {
                Ok(done) => {
                    sqlx::query("RELEASE SAVEPOINT kw_job")
                        .execute(&mut *tx)
                        .await?;
                    break Ok(done);
                }
                Err(e) => {
                    sqlx::query("ROLLBACK TO SAVEPOINT kw_job")
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("RELEASE SAVEPOINT kw_job")
                        .execute(&mut *tx)
                        .await?;
                    if is_retryable(&e) {
                        return Err(e);
                    }
                    if e.is_unique_violation() && attempt < AUDIT_ATTEMPTS {
                        continue;
                    }
                    break Err(e);
                }
            }
        };
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

async fn run_job(tx: &mut Transaction<'static, Any>, job: &Job) -> Result<Done, StoreError> {
    match job {
        Job::Audit(a, _) => Ok(Done::Audit(Box::new(crate::audit::append_in(tx, a).await?))),
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
            crate::audit::append_in(tx, &audit).await?;
            Ok(Done::Validation(won))
        }
    }
}
