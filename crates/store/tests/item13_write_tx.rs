//! Issue 7, item 13: a change and its audit row commit in one transaction. On SQLite and
//! PostgreSQL: a [`WriteTx`] whose changes commit with their audit row leaves both; one whose
//! audit append fails (a trigger on `audit_log` refuses the insert) leaves neither.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keyward_store::audit::{AuditAppend, AuditEvent};
use keyward_store::users::NewUser;
use keyward_store::{Backend, OpenOptions, Store};

fn entry(action: &str) -> AuditAppend {
    AuditAppend {
        chain: "local".into(),
        ts_ms: 1,
        event: AuditEvent {
            actor: "cli:local".into(),
            action: action.into(),
            target: "alice".into(),
            success: true,
            client: String::new(),
            details: String::new(),
        },
        signer: Arc::new(|_: &str| String::new()),
    }
}

fn user(name: &str) -> NewUser<'_> {
    NewUser {
        username: name,
        password_hash: "x",
        email: "a@example.com",
        now: 1,
        may_be_first: true,
    }
}

async fn install_refusing_trigger(store: &Store) {
    let sql = match store.backend() {
        Backend::Sqlite => vec![
            "CREATE TRIGGER kw_refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'x'); END",
        ],
        Backend::Postgres => vec![
            "CREATE FUNCTION kw_refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'x'; END $$",
            "CREATE TRIGGER kw_refuse BEFORE INSERT ON audit_log FOR EACH ROW \
             EXECUTE FUNCTION kw_refuse()",
        ],
    };
    for s in sql {
        sqlx::query(s).execute(store.pool()).await.unwrap();
    }
}

async fn audit_rows(store: &Store) -> i64 {
    store.count_audit().await.unwrap()
}

async fn change_and_row_commit_together(store: Store) {
    // Both visible.
    let mut tx = store.begin_change().await.unwrap();
    tx.create_user(&user("alice")).await.unwrap();
    tx.config_set("registration_enabled", "false", 1)
        .await
        .unwrap();
    tx.commit_audited(entry("createuser")).await.unwrap();
    assert!(store.find_user(&"alice".into()).await.unwrap().is_some());
    assert_eq!(audit_rows(&store).await, 1);
    let rows = store.list_audit(0, None, 10).await.unwrap();
    assert_eq!(rows[0].event.action, "createuser");

    // The audit append fails: neither the change nor the row is there.
    install_refusing_trigger(&store).await;
    let mut tx = store.begin_change().await.unwrap();
    tx.create_user(&user("bob")).await.unwrap();
    tx.config_unset("registration_enabled").await.unwrap();
    assert!(tx.commit_audited(entry("createuser")).await.is_err());
    assert!(store.find_user(&"bob".into()).await.unwrap().is_none());
    assert!(
        store
            .config_get("registration_enabled")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(audit_rows(&store).await, 1);

    // A WriteTx dropped without committing leaves nothing either.
    let mut tx = store.begin_change().await.unwrap();
    tx.create_user(&user("carol")).await.unwrap();
    drop(tx);
    assert!(store.find_user(&"carol".into()).await.unwrap().is_none());
    store.close().await;
}

/// PostgreSQL: audited transactions racing the group-commit writer on the same chain all land,
/// in one unbroken chain (the loser of a (chain, seq) race retries on the new head).
async fn concurrent_appends_keep_one_chain(store: &Store) {
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let mut tx = store.begin_change().await.unwrap();
                tx.config_set(&format!("k{i}"), "v", 1).await.unwrap();
                tx.commit_audited(entry("config set")).await.unwrap();
            } else {
                store.append_audit(entry("login")).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_log WHERE chain = 'local' ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(seqs, (1..=24).collect::<Vec<i64>>());
    sqlx::query("DELETE FROM audit_log")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM runtime_config")
        .execute(store.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn item13_write_tx_commits_change_and_audit_row_together_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::open(&url, &OpenOptions::default()).await.unwrap();
    change_and_row_commit_together(store).await;
}

#[tokio::test]
async fn item13_write_tx_commits_change_and_audit_row_together_postgres() {
    if !keyward_testdb::postgres_or_skip("item13 write_tx") {
        return;
    }
    let db = keyward_testdb::PgDatabase::create("kw_item13")
        .await
        .unwrap();
    let store = Store::open(db.url(), &OpenOptions::default())
        .await
        .unwrap();
    concurrent_appends_keep_one_chain(&store).await;
    change_and_row_commit_together(store).await;
    db.drop_now().await.unwrap();
}
