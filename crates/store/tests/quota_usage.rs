//! A user's used quota (`set_quota_usage`) on SQLite and PostgreSQL: reset and add (never below
//! 0), the rest of the resource profile kept, an unknown user reported, and concurrent additions
//! all counted (the compare-and-set retries instead of losing an update).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_store::quota::QuotaUsage;
use keyward_store::users::NewUser;
use keyward_store::{OpenOptions, Store};
use serde_json::{Value, json};

async fn profile(store: &Store, id: &str) -> Value {
    let text: String = sqlx::query_scalar("SELECT resource_profile FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn usage_is_set_added_and_never_lost(store: Store) {
    let user = store
        .create_user(&NewUser {
            username: "ftp",
            password_hash: "x",
            email: "ftp@example.com",
            now: 1,
            may_be_first: true,
        })
        .await
        .unwrap();
    sqlx::query("UPDATE users SET resource_profile = $1 WHERE id = $2")
        .bind(json!({"home_dir": "/srv/ftp", "quota_files": 9}).to_string())
        .bind(user.id.as_str())
        .execute(store.pool())
        .await
        .unwrap();

    let set = store
        .set_quota_usage(&user.id, 10, 2, false, 5000)
        .await
        .unwrap();
    assert_eq!(
        set,
        Some(QuotaUsage {
            used_quota_size: 10,
            used_quota_files: 2
        })
    );
    let p = profile(&store, &user.id).await;
    assert_eq!(
        (p["home_dir"].as_str(), p["quota_files"].as_i64()),
        (Some("/srv/ftp"), Some(9))
    );
    assert_eq!(p["last_quota_update"], 5000);

    let added = store
        .set_quota_usage(&user.id, -20, 1, true, 6000)
        .await
        .unwrap();
    assert_eq!(
        added,
        Some(QuotaUsage {
            used_quota_size: 0,
            used_quota_files: 3
        })
    );
    assert_eq!(
        store
            .set_quota_usage("no-such-id", 1, 1, false, 1)
            .await
            .unwrap(),
        None
    );

    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        let id = user.id.clone();
        tasks.push(tokio::spawn(async move {
            store.set_quota_usage(&id, 1, 1, true, 7000).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let p = profile(&store, &user.id).await;
    assert_eq!(
        (
            p["used_quota_size"].as_i64(),
            p["used_quota_files"].as_i64()
        ),
        (Some(16), Some(19))
    );
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_usage_is_set_added_and_never_lost_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::open(&url, &OpenOptions::default()).await.unwrap();
    usage_is_set_added_and_never_lost(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_usage_is_set_added_and_never_lost_postgres() {
    if !keyward_testdb::postgres_or_skip("quota usage") {
        return;
    }
    let db = keyward_testdb::PgDatabase::create("kw_quota")
        .await
        .unwrap();
    let store = Store::open(db.url(), &OpenOptions::default())
        .await
        .unwrap();
    usage_is_set_added_and_never_lost(store).await;
    db.drop_now().await.unwrap();
}
