//! The store side of `dumpdata` / `loaddata` and of the login's hash upgrade, on SQLite and
//! PostgreSQL: a snapshot holds users, tokens (every column, realms) and API keys (hash, owner);
//! restored rows read back identical, an integer id given by a dump is kept and never handed out
//! again; a failed restore transaction leaves nothing; the login commit replaces a hash only if
//! it is still the one that was checked, with the session in the same transaction.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keyward_proto::Username;
use keyward_store::audit::{AuditAppend, AuditEvent};
use keyward_store::dump::{ApiKeyRow, DumpSnapshot, UserExtras};
use keyward_store::login_tx::HashUpgrade;
use keyward_store::sessions::NewSession;
use keyward_store::tokens::NewToken;
use keyward_store::users::NewUser;
use keyward_store::{OpenOptions, Store};

fn entry() -> AuditAppend {
    AuditAppend {
        chain: "local".into(),
        ts_ms: 1,
        event: AuditEvent {
            actor: "cli:local".into(),
            action: "loaddata".into(),
            target: String::new(),
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
        password_hash: "$1$salt$hash",
        email: "",
        now: 5,
        may_be_first: true,
    }
}

async fn populate(store: &Store) {
    let alice = store.create_user(&user("alice")).await.unwrap();
    let mut info = serde_json::Map::new();
    info.insert("k".into(), "v".into());
    store
        .create_tokens(&[NewToken {
            id: "tok-1".into(),
            serial: "OATH1".to_string().into(),
            token_type: "hotp".into(),
            description: "d".into(),
            owner_id: Some(alice.id.as_str().to_string()),
            seed_sealed: "sealed".into(),
            pin_hash: "pinhash".into(),
            otplen: 6,
            hashlib: "sha1".into(),
            counter: 4,
            time_step: 30,
            time_window: 180,
            time_shift: 0,
            info,
            realms: vec!["r1".into(), "r2".into()],
            now: 7,
        }])
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO api_keys (id, key_hash, role, username, realm, description, created_at, \
         expires_at, owner_id) VALUES ('key-1', $1, 'admin', 'alice', '', 'k', 3, 99, $2)",
    )
    .bind("ab".repeat(32))
    .bind(alice.id.as_str())
    .execute(store.pool())
    .await
    .unwrap();
}

/// Restores `snap` into `store` in one audited transaction.
async fn restore(store: &Store, snap: &DumpSnapshot) -> Result<(), keyward_store::StoreError> {
    let mut tx = store.begin_change().await?;
    let mut ids = std::collections::HashMap::new();
    for u in &snap.users {
        let created = tx.create_user(&user(&u.username)).await?;
        let extras = UserExtras {
            password_hash: &u.password_hash,
            roles: &u.roles,
            num: Some(u.num),
            last_login: u.last_login,
        };
        tx.restore_user_extras(&created.id, &extras).await?;
        ids.insert(u.id.as_str().to_string(), created.id);
    }
    for t in &snap.tokens {
        let mut t = t.clone();
        t.owner_id = t.owner_id.as_ref().map(|o| ids[o].as_str().to_string());
        tx.insert_token_row(&t).await?;
    }
    for k in &snap.api_keys {
        let mut k: ApiKeyRow = k.clone();
        k.key.owner_id = k.key.owner_id.as_ref().map(|o| ids[o.as_str()].clone());
        tx.upsert_api_key_row(&k).await?;
    }
    tx.commit_audited(entry()).await
}

async fn roundtrip(source: Store, target: Store) {
    populate(&source).await;
    let snap = source.dump_snapshot().await.unwrap();
    assert_eq!(snap.users.len(), 1);
    assert_eq!(snap.tokens[0].realms, vec!["r1", "r2"]);
    assert_eq!(snap.tokens[0].owner_name.as_deref(), Some("alice"));
    assert_eq!(snap.api_keys[0].owner_name.as_deref(), Some("alice"));
    // The dump gives another integer id than the counter would.
    let mut dumped = snap.clone();
    dumped.users[0].num = 41;
    restore(&target, &dumped).await.unwrap();
    let back = target.dump_snapshot().await.unwrap();
    assert_eq!(back.users[0].num, 41);
    assert_eq!(back.users[0].password_hash, "$1$salt$hash");
    let (a, b) = (&snap.tokens[0], &back.tokens[0]);
    assert_eq!(
        (
            &a.id,
            &a.seed_sealed,
            a.counter,
            &a.info,
            a.created_at,
            &a.realms
        ),
        (
            &b.id,
            &b.seed_sealed,
            b.counter,
            &b.info,
            b.created_at,
            &b.realms
        )
    );
    assert_eq!(back.api_keys[0].key_hash, snap.api_keys[0].key_hash);
    // The counter moved past the kept id.
    let next = target.create_user(&user("bob")).await.unwrap();
    assert!(next.num > 41, "{}", next.num);

    // A failing restore (the serial exists now) leaves nothing of itself.
    let mut again = dumped.clone();
    again.users[0].username = "carol".into();
    assert!(restore(&target, &again).await.is_err());
    assert!(
        target
            .find_user(&Username::from("carol"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(target.dump_snapshot().await.unwrap().users.len(), 2);
    source.close().await;
    login_commit(&target).await;
    target.close().await;
}

async fn login_commit(store: &Store) {
    let u = store
        .find_user(&Username::from("bob"))
        .await
        .unwrap()
        .unwrap();
    let session = NewSession {
        user_id: &u.id,
        token: "tok",
        protocol: "http",
        remote_addr: "",
        user_agent: "",
        now: 10,
        expires_at: 100,
    };
    // Checked against a hash that is no longer stored: the upgrade is skipped, the login stands.
    let stale = HashUpgrade {
        old: "$1$other$hash",
        new: "$argon2id$new",
    };
    let done = store
        .commit_login(&u.id, Some(stale), Some(&session), 10)
        .await
        .unwrap();
    assert!(!done.upgraded && done.session_id.is_some());
    let up = HashUpgrade {
        old: &u.password_hash,
        new: "$argon2id$new",
    };
    let done = store.commit_login(&u.id, Some(up), None, 11).await.unwrap();
    assert!(done.upgraded && done.session_id.is_none());
    let u = store
        .find_user(&Username::from("bob"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.password_hash.as_str(), u.last_login),
        ("$argon2id$new", Some(10))
    );
    assert_eq!(store.count_user_sessions(&u.id, 10).await.unwrap(), 1);
}

#[tokio::test]
async fn dump_snapshot_and_restore_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let open = |n: &str| format!("sqlite://{}", dir.path().join(n).display());
    let source = Store::open(&open("a.db"), &OpenOptions::default())
        .await
        .unwrap();
    let target = Store::open(&open("b.db"), &OpenOptions::default())
        .await
        .unwrap();
    roundtrip(source, target).await;
}

#[tokio::test]
async fn dump_snapshot_and_restore_postgres() {
    if !keyward_testdb::postgres_or_skip("dump restore") {
        return;
    }
    let a = keyward_testdb::PgDatabase::create("kw_dump_a")
        .await
        .unwrap();
    let b = keyward_testdb::PgDatabase::create("kw_dump_b")
        .await
        .unwrap();
    let source = Store::open(a.url(), &OpenOptions::default()).await.unwrap();
    let target = Store::open(b.url(), &OpenOptions::default()).await.unwrap();
    roundtrip(source, target).await;
    a.drop_now().await.unwrap();
    b.drop_now().await.unwrap();
}
