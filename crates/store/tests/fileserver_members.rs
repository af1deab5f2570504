//! Fileserver member announcements in the store, on SQLite and PostgreSQL: of concurrent
//! recordings of one announcement exactly one is accepted (the others are replays, as on
//! several nodes sharing the database), a newer one refreshes or changes the member, members
//! are listed until they expire and forgotten only once a replay would be stale, and unlinking
//! a shard ends what the cluster's members served of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_store::fileserver::{Announcement, Cluster, Link, Recorded, Shard};
use keyward_store::{OpenOptions, Store};

const CLUSTER: &str = "1713b68b-df64-41c5-822c-6eb8c877037c";
const SHARD: &str = "a8a1176c-bad8-4b84-b45e-1084b3a48e7d";
const LINK: &str = "c8916ab1-4a22-4aa6-9549-c0b15f688e7c";

async fn seed(store: &Store) {
    let mut tx = store.begin_change().await.unwrap();
    tx.create_fileserver_cluster(&Cluster {
        id: CLUSTER.into(),
        title: "c".into(),
        file_size_limit: 0,
        public_key: "pk".into(),
        private_key_sealed: "sealed".into(),
        created_at: 1,
    })
    .await
    .unwrap();
    tx.create_fileserver_shard(&Shard {
        id: SHARD.into(),
        title: "s".into(),
        description: String::new(),
        created_at: 1,
    })
    .await
    .unwrap();
    tx.create_fileserver_link(&Link {
        id: LINK.into(),
        cluster_id: CLUSTER.into(),
        shard_id: SHARD.into(),
        can_read: true,
        can_write: true,
        created_at: 1,
    })
    .await
    .unwrap();
    tx.commit_unaudited().await.unwrap();
}

/// Records an announcement of member m1 at `url`, stamped `ts_ms`, alive until `expires_at`.
async fn record(store: &Store, url: &str, ts_ms: i64, expires_at: i64) -> Recorded {
    let shards = vec![(SHARD.to_string(), true, false)];
    let mut tx = store.begin_change().await.unwrap();
    let recorded = tx
        .record_fileserver_announcement(&Announcement {
            cluster_id: CLUSTER,
            member_id: "m1",
            url,
            ts_ms,
            now: 100,
            expires_at,
            shards: &shards,
        })
        .await
        .unwrap();
    if recorded != Recorded::Replayed {
        tx.commit_unaudited().await.unwrap();
    }
    recorded
}

async fn members_are_recorded_once_and_expire(store: Store) {
    seed(&store).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            record(&store, "https://fs1", 1_000, 200).await
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let accepted = outcomes
        .iter()
        .filter(|r| **r != Recorded::Replayed)
        .count();
    assert_eq!(accepted, 1, "{outcomes:?}");
    assert!(outcomes.contains(&Recorded::Changed));

    assert_eq!(
        record(&store, "https://fs1", 1_000, 200).await,
        Recorded::Replayed
    );
    assert_eq!(
        record(&store, "https://fs1", 999, 200).await,
        Recorded::Replayed
    );
    assert_eq!(
        record(&store, "https://fs1", 2_000, 300).await,
        Recorded::Refreshed
    );
    assert_eq!(
        record(&store, "https://fs1b", 3_000, 300).await,
        Recorded::Changed
    );

    let live = store.fileserver_live_members(299).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].url.as_str(), live[0].last_ts_ms),
        ("https://fs1b", 3_000)
    );
    let served = store.fileserver_live_member_shards(299).await.unwrap();
    assert_eq!(served.len(), 1);
    assert!(served[0].can_read && !served[0].can_write);
    assert!(store.fileserver_live_members(300).await.unwrap().is_empty());

    // Expired, but a replay of its newest timestamp would not be stale yet: kept.
    let mut tx = store.begin_change().await.unwrap();
    assert_eq!(tx.prune_fileserver_members(400, 3_000).await.unwrap(), 0);
    tx.commit_unaudited().await.unwrap();
    assert_eq!(
        record(&store, "https://fs1b", 3_000, 500).await,
        Recorded::Replayed
    );

    // Unlinking ends what the member served of the shard.
    assert_eq!(
        record(&store, "https://fs1b", 4_000, 500).await,
        Recorded::Refreshed
    );
    let mut tx = store.begin_change().await.unwrap();
    assert!(tx.delete_fileserver_link(LINK).await.unwrap().is_some());
    tx.commit_unaudited().await.unwrap();
    assert!(
        store
            .fileserver_live_member_shards(450)
            .await
            .unwrap()
            .is_empty()
    );

    let mut tx = store.begin_change().await.unwrap();
    assert_eq!(tx.prune_fileserver_members(600, 4_001).await.unwrap(), 1);
    tx.commit_unaudited().await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fileserver_members_are_recorded_once_and_expire_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::open(&url, &OpenOptions::default()).await.unwrap();
    members_are_recorded_once_and_expire(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fileserver_members_are_recorded_once_and_expire_postgres() {
    if !keyward_testdb::postgres_or_skip("fileserver members") {
        return;
    }
    let db = keyward_testdb::PgDatabase::create("kw_fileserver")
        .await
        .unwrap();
    let store = Store::open(db.url(), &OpenOptions::default())
        .await
        .unwrap();
    members_are_recorded_once_and_expire(store).await;
    db.drop_now().await.unwrap();
}
