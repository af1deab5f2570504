//! The group-commit writer tested inside the store, on SQLite and PostgreSQL: a batch folds its
//! jobs into one transaction; a fast run that fails commits nothing and the isolated re-run keeps
//! one job's failure its own (a transaction that fails on demand injects it); the chain heads
//! after a failed job leave no gap; every answer comes after its commit.

use std::sync::Arc;

use super::batch_tx::{BatchTx, Param};
use super::{HeadLog, Job, Mode, Writer, run_jobs};
use crate::audit::{AuditAppend, AuditEvent, GENESIS_HASH};
use crate::{OpenOptions, Store, StoreError};
use keyward_testdb::PgDatabase;

/// A real transaction that fails the audit insert carrying `poison` in one of its values.
struct Flaky {
    inner: sqlx::Transaction<'static, sqlx::Any>,
    poison: &'static str,
}

impl BatchTx for Flaky {
    async fn exec(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        let poisoned = params
            .iter()
            .any(|p| matches!(p, Param::Text(t) if *t == self.poison));
        if sql.starts_with("INSERT INTO audit_log") && poisoned {
            return Err(StoreError::Native("injected failure".into()));
        }
        self.inner.exec(sql, params).await
    }

    async fn int_text_row(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<(i64, String)>, StoreError> {
        self.inner.int_text_row(sql, params).await
    }
}

fn append(details: &str) -> AuditAppend {
    AuditAppend {
        chain: "batch".into(),
        ts_ms: 1,
        event: AuditEvent {
            actor: "test".into(),
            action: "append".into(),
            details: details.into(),
            success: true,
            ..AuditEvent::default()
        },
        signer: Arc::new(|h: &str| format!("sig:{h}")),
    }
}

fn audit_jobs(details: &[&str]) -> Vec<Job> {
    details
        .iter()
        .map(|d| Job::Audit(append(d), tokio::sync::oneshot::channel().0))
        .collect()
}

/// The rows of the test chain in order: (seq, details, prev_hash, hash).
async fn chain(store: &Store) -> Vec<(i64, String, String, String)> {
    let rows = store.audit_chain_page("batch", 0, 1000).await.unwrap();
    rows.into_iter()
        .map(|r| (r.seq, r.event.details, r.prev_hash, r.hash))
        .collect()
}

fn assert_linked(rows: &[(i64, String, String, String)]) {
    let mut prev = GENESIS_HASH.to_string();
    for (i, (seq, _, prev_hash, hash)) in rows.iter().enumerate() {
        assert_eq!(*seq, i as i64 + 1, "seq without gaps: {rows:?}");
        assert_eq!(prev_hash, &prev, "linked to the previous row: {rows:?}");
        prev = hash.clone();
    }
}

async fn fast_failure_then_isolated_rerun(store: Store) {
    let jobs = audit_jobs(&["a", "boom", "c"]);
    let mut tx = Flaky {
        inner: store.write_tx().await.unwrap(),
        poison: "boom",
    };
    // Fast: one multi-row insert, so one bad row fails the whole batch; nothing is committed.
    assert!(run_jobs(&mut tx, &jobs, Mode::Fast).await.is_err());
    drop(tx);
    assert!(chain(&store).await.is_empty());
    // Isolated: the bad job fails alone, the others commit, and the chain has no gap.
    let mut tx = Flaky {
        inner: store.write_tx().await.unwrap(),
        poison: "boom",
    };
    let (results, heads) = run_jobs(&mut tx, &jobs, Mode::Isolated).await.unwrap();
    tx.inner.commit().await.unwrap();
    let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, false, true]);
    let rows = chain(&store).await;
    let details: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(details, ["a", "c"]);
    assert_linked(&rows);
    assert_eq!(heads.get("batch"), Some(&(2, rows[1].3.clone())));
}

/// Through the writer task: concurrent appends fold into batches, one poisoned by a trigger;
/// each answer comes after its row is committed (visible from another connection).
async fn writer_keeps_failures_apart_and_answers_after_commit(store: Store) {
    let writer = Writer::spawn(
        store.pool().clone(),
        store.backend(),
        None,
        HeadLog::default(),
    );
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let writer = writer.clone();
            let store = store.clone();
            tokio::spawn(async move {
                let details = if i == 17 {
                    "boom".to_string()
                } else {
                    format!("row{i}")
                };
                let answer = writer.append_audit(append(&details)).await;
                let visible = store
                    .audit_chain_page("batch", 0, 1000)
                    .await
                    .unwrap()
                    .iter()
                    .any(|r| r.event.details == details);
                (i, answer.is_ok(), visible)
            })
        })
        .collect();
    for t in tasks {
        let (i, ok, visible) = t.await.unwrap();
        assert_eq!(ok, i != 17, "job {i}");
        assert_eq!(visible, ok, "job {i}: answered before its commit?");
    }
    let rows = chain(&store).await;
    assert_eq!(rows.len(), 39);
    assert_linked(&rows);
}

const SQLITE_TRIGGER: &str = "CREATE TRIGGER refuse_boom BEFORE INSERT ON audit_log \
    WHEN NEW.details = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END";
const PG_TRIGGER: [&str; 2] = [
    "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN \
     IF NEW.details = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END \
     $$ LANGUAGE plpgsql",
    "CREATE TRIGGER refuse_boom BEFORE INSERT ON audit_log FOR EACH ROW \
     EXECUTE FUNCTION refuse_boom()",
];

async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let store = Store::open(&url, &OpenOptions::default()).await.unwrap();
    sqlx::raw_sql(SQLITE_TRIGGER)
        .execute(store.pool())
        .await
        .unwrap();
    (store, dir)
}

/// A store on a throwaway PostgreSQL database (with the failing trigger), or `None` (loudly)
/// without a server on 127.0.0.1:5432, unless `KEYWARD_REQUIRE_POSTGRES=1`.
async fn postgres() -> Option<(Store, PgDatabase)> {
    if !keyward_testdb::postgres_or_skip("writer tests") {
        return None;
    }
    let db = PgDatabase::create("kw_writer").await.unwrap();
    let store = Store::open(db.url(), &OpenOptions::default())
        .await
        .unwrap();
    for sql in PG_TRIGGER {
        sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
    }
    Some((store, db))
}

async fn drop_postgres(store: Store, db: PgDatabase) {
    store.close().await;
    let _ = db.drop_now().await;
}

#[tokio::test]
async fn a_failed_fast_batch_reruns_isolated_sqlite() {
    let (store, _dir) = sqlite().await;
    fast_failure_then_isolated_rerun(store).await;
}

#[tokio::test]
async fn a_failed_fast_batch_reruns_isolated_postgres() {
    if let Some((store, db)) = postgres().await {
        fast_failure_then_isolated_rerun(store.clone()).await;
        drop_postgres(store, db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_writer_isolates_failures_and_answers_after_commit_sqlite() {
    let (store, _dir) = sqlite().await;
    writer_keeps_failures_apart_and_answers_after_commit(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_writer_isolates_failures_and_answers_after_commit_postgres() {
    if let Some((store, db)) = postgres().await {
        writer_keeps_failures_apart_and_answers_after_commit(store.clone()).await;
        drop_postgres(store, db).await;
    }
}
