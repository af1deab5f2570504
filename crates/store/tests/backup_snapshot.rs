//! Issue 9 (backup): the logical snapshot and its restore at the store level, on SQLite and
//! PostgreSQL in every direction — the restored tables equal the source's, the user-number
//! counter and the audit sequence continue past the restored rows, a restore that fails part-way
//! leaves the target as it was, and the serving lock keeps a restore off a served database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use keyward_store::audit::{AuditAppend, AuditEvent};
use keyward_store::instance::BulkToken;
use keyward_store::restore::check_same_schema;
use keyward_store::snapshot::{SnapshotInfo, SnapshotSink, TableSchema, Value};
use keyward_store::users::NewUser;
use keyward_store::{OpenOptions, Store};

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

/// Collects a snapshot in memory (the tests' tables are small).
#[derive(Default)]
struct Collect {
    info: Option<SnapshotInfo>,
    table: String,
    rows: BTreeMap<String, Vec<Vec<Value>>>,
}

impl SnapshotSink for Collect {
    type Error = String;
    fn start(&mut self, info: &SnapshotInfo) -> Result<(), String> {
        self.info = Some(info.clone());
        Ok(())
    }
    fn begin_table(&mut self, table: &TableSchema) -> Result<(), String> {
        self.table = table.name.clone();
        self.rows.insert(table.name.clone(), Vec::new());
        Ok(())
    }
    fn row(&mut self, values: Vec<Value>) -> Result<(), String> {
        self.rows.get_mut(&self.table).unwrap().push(values);
        Ok(())
    }
    fn end_table(&mut self, _: &TableSchema, _: u64) -> Result<(), String> {
        Ok(())
    }
}

async fn snapshot(store: &Store) -> Collect {
    let mut c = Collect::default();
    store
        .snapshot(&mut c)
        .await
        .map_err(|_| "snapshot")
        .unwrap();
    // Text order differs between the engines' collations: compare sorted.
    for rows in c.rows.values_mut() {
        rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    }
    c
}

async fn populate(store: &Store) {
    for name in ["alice", "bob", "carol"] {
        let mut tx = store.begin_change().await.unwrap();
        tx.create_user(&NewUser {
            username: name,
            password_hash: "$argon2id$x",
            email: "a@example.com",
            now: 10,
            may_be_first: true,
        })
        .await
        .unwrap();
        tx.commit_audited(entry("createuser")).await.unwrap();
    }
    // The highest-numbered user goes: the counter stays ahead of the rows.
    store.delete_user(&"carol".into()).await.unwrap();
    let alice = store.find_user(&"alice".into()).await.unwrap().unwrap();
    let tokens: Vec<BulkToken> = (0..50)
        .map(|i| BulkToken {
            id: format!("tok-{i}"),
            serial: format!("OATH{i:04}"),
            token_type: "hotp",
            description: "d'quote \"x\" ✓".into(),
            owner_id: (i % 2 == 0).then(|| alice.id.to_string()),
            realm: (i % 3 == 0).then(|| "keyward".to_string()),
        })
        .collect();
    store.bulk_insert_tokens(&tokens, 20).await.unwrap();
    store
        .config_set("registration_enabled", "false", 30)
        .await
        .unwrap();
    store.append_audit(entry("login")).await.unwrap();
}

/// Loads `c` into `target` the way `backup restore` does, in one audited transaction.
async fn restore(target: &Store, c: &Collect) {
    let info = c.info.as_ref().unwrap();
    let mut tx = target.begin_change().await.unwrap();
    let tables = tx.data_tables().await.unwrap();
    check_same_schema(&info.tables, &tables).unwrap();
    tx.clear_data_tables(&tables).await.unwrap();
    for t in &info.tables {
        let n = tx.insert_rows(t, &c.rows[&t.name]).await.unwrap();
        assert_eq!(n, c.rows[&t.name].len() as u64);
    }
    tx.finish_restore(&info.counters).await.unwrap();
    tx.commit_audited(entry("backup restore")).await.unwrap();
}

async fn round_trip(source: &Store, target: &Store) {
    let before = snapshot(source).await;
    let info = before.info.as_ref().unwrap();
    assert_eq!(info.row_counts["users"], 2);
    assert_eq!(info.row_counts["tokens"], 50);
    assert_eq!(info.counters["user_num"], 3);
    let names: Vec<&str> = info.tables.iter().map(|t| t.name.as_str()).collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("users") < pos("sessions") && pos("tokens") < pos("token_realms"));
    assert!(!names.contains(&"keyward_migrations") && !names.contains(&"user_num_counter"));

    restore(target, &before).await;
    let after = snapshot(target).await;
    for (table, rows) in &before.rows {
        if table == "audit_log" {
            // The restore's own row follows the restored ones.
            assert_eq!(after.rows[table].len(), rows.len() + 1);
            assert!(rows.iter().all(|r| after.rows[table].contains(r)));
        } else {
            assert_eq!(&after.rows[table], rows, "table {table}");
        }
    }
    // New rows continue the restored numbering: user 4 (3 was handed out before), audit ids.
    let mut tx = target.begin_change().await.unwrap();
    let dave = tx
        .create_user(&NewUser {
            username: "dave",
            password_hash: "x",
            email: "d@example.com",
            now: 40,
            may_be_first: false,
        })
        .await
        .unwrap();
    tx.commit_audited(entry("createuser")).await.unwrap();
    assert_eq!(dave.num, 4);
}

async fn sqlite(dir: &tempfile::TempDir, name: &str) -> Store {
    let url = format!("sqlite://{}", dir.path().join(name).display());
    Store::open(&url, &OpenOptions::default()).await.unwrap()
}

async fn pg(prefix: &str) -> (keyward_testdb::PgDatabase, Store) {
    let db = keyward_testdb::PgDatabase::create(prefix).await.unwrap();
    let store = Store::open(db.url(), &OpenOptions::default())
        .await
        .unwrap();
    (db, store)
}

#[tokio::test]
async fn backup_snapshot_round_trips_sqlite_to_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (sqlite(&dir, "a.db").await, sqlite(&dir, "b.db").await);
    populate(&source).await;
    round_trip(&source, &target).await;
}

#[tokio::test]
async fn backup_snapshot_round_trips_between_sqlite_and_postgres() {
    if !keyward_testdb::postgres_or_skip("backup snapshot round trip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite(&dir, "a.db").await;
    populate(&source).await;
    let (db1, pg_target) = pg("kw_backup_s2p").await;
    round_trip(&source, &pg_target).await;
    // And back: PostgreSQL → PostgreSQL and PostgreSQL → SQLite.
    let (db2, pg_source) = pg("kw_backup_p2p").await;
    populate(&pg_source).await;
    let (db3, pg_target2) = pg("kw_backup_p2p_t").await;
    round_trip(&pg_source, &pg_target2).await;
    round_trip(&pg_source, &sqlite(&dir, "c.db").await).await;
    for s in [pg_target, pg_source, pg_target2] {
        s.close().await;
    }
    for db in [db1, db2, db3] {
        db.drop_now().await.unwrap();
    }
}

/// A restore whose load fails part-way (a value of the wrong type) leaves the target as it was.
async fn failed_restore_changes_nothing(target: &Store, source: &Store) {
    populate(target).await;
    let before = snapshot(target).await;
    let mut c = snapshot(source).await;
    let tokens = c.rows.get_mut("tokens").unwrap();
    tokens[30][1] = Value::Int(7); // the serial column holds text
    let info = c.info.clone().unwrap();
    let mut tx = target.begin_change().await.unwrap();
    let tables = tx.data_tables().await.unwrap();
    tx.clear_data_tables(&tables).await.unwrap();
    let mut failed = false;
    for t in &info.tables {
        if tx.insert_rows(t, &c.rows[&t.name]).await.is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed);
    drop(tx);
    let after = snapshot(target).await;
    assert_eq!(after.rows, before.rows);
}

#[tokio::test]
async fn backup_failed_restore_leaves_target_untouched_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite(&dir, "a.db").await;
    populate(&source).await;
    failed_restore_changes_nothing(&sqlite(&dir, "b.db").await, &source).await;
}

#[tokio::test]
async fn backup_failed_restore_leaves_target_untouched_postgres() {
    if !keyward_testdb::postgres_or_skip("backup failed restore") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = sqlite(&dir, "a.db").await;
    populate(&source).await;
    let (db, target) = pg("kw_backup_fail").await;
    failed_restore_changes_nothing(&target, &source).await;
    target.close().await;
    db.drop_now().await.unwrap();
}

async fn serving_lock_excludes_restore(store: &Store, other: &Store) {
    let serving = store.lock_for_serving().await.unwrap();
    // A second server shares the database; a restore does not.
    let second = other.lock_for_serving().await.unwrap();
    assert!(other.lock_exclusively().await.unwrap().is_none());
    drop(serving);
    drop(second);
    let restore = other.lock_exclusively().await.unwrap().unwrap();
    assert!(store.lock_for_serving().await.is_err());
    drop(restore);
    drop(store.lock_for_serving().await.unwrap());
}

#[tokio::test]
async fn backup_serving_lock_keeps_restore_off_a_served_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let a = Store::open(&url, &OpenOptions::default()).await.unwrap();
    let b = Store::open(&url, &OpenOptions::default()).await.unwrap();
    serving_lock_excludes_restore(&a, &b).await;
    if !keyward_testdb::postgres_or_skip("backup serving lock") {
        return;
    }
    let (db, a) = pg("kw_backup_lock").await;
    let b = Store::open(db.url(), &OpenOptions::default())
        .await
        .unwrap();
    serving_lock_excludes_restore(&a, &b).await;
    a.close().await;
    b.close().await;
    db.drop_now().await.unwrap();
}
