//! The fileserver tables (Psono's clusters and shards, issue 11): clusters with their key pair
//! (the private key sealed by the caller), shards, the links between them, and the members that
//! announced themselves alive. Reads are `Store` methods; writes are `WriteTx` methods, so each
//! command's change commits with its audit row. Member announcements are recorded with a
//! compare-and-set on the member's newest timestamp, which refuses replays on every node sharing
//! the database.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::write_tx::WriteTx;
use crate::{Store, StoreError, flag};

/// A cluster: members holding its private key may announce the shards linked to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub id: String,
    pub title: String,
    /// Largest file a member should accept, in bytes (0: no limit).
    pub file_size_limit: i64,
    /// The Ed25519 public key, base64.
    pub public_key: String,
    /// The Ed25519 private key seed, sealed under the enckey by the commands layer.
    pub private_key_sealed: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    pub id: String,
    pub title: String,
    pub description: String,
    pub created_at: i64,
}

/// A cluster may serve a shard with at most these permissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub id: String,
    pub cluster_id: String,
    pub shard_id: String,
    pub can_read: bool,
    pub can_write: bool,
    pub created_at: i64,
}

/// A member as last announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub cluster_id: String,
    pub member_id: String,
    pub url: String,
    /// The newest announcement timestamp accepted (epoch milliseconds, the member's clock).
    pub last_ts_ms: i64,
    pub seen_at: i64,
    pub expires_at: i64,
}

/// One shard a member serves, with the permissions it announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberShard {
    pub cluster_id: String,
    pub member_id: String,
    pub shard_id: String,
    pub can_read: bool,
    pub can_write: bool,
}

/// What recording an announcement did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A new member, or one whose URL or shards changed.
    Changed,
    /// A known member announced the same again: only its lifetime moved.
    Refreshed,
    /// The timestamp is not newer than one already accepted (a replay, or a concurrent twin).
    Replayed,
}

/// An announcement to record: who, where, when, until when, and which shards.
#[derive(Clone, Debug)]
pub struct Announcement<'a> {
    pub cluster_id: &'a str,
    pub member_id: &'a str,
    pub url: &'a str,
    pub ts_ms: i64,
    pub now: i64,
    pub expires_at: i64,
    /// (shard id, read, write), each shard once.
    pub shards: &'a [(String, bool, bool)],
}

fn cluster_from_row(row: &AnyRow) -> Result<Cluster, StoreError> {
    Ok(Cluster {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        file_size_limit: row.try_get("file_size_limit")?,
        public_key: row.try_get("public_key")?,
        private_key_sealed: row.try_get("private_key_sealed")?,
        created_at: row.try_get("created_at")?,
    })
}

fn shard_from_row(row: &AnyRow) -> Result<Shard, StoreError> {
    Ok(Shard {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}

fn link_from_row(row: &AnyRow) -> Result<Link, StoreError> {
    Ok(Link {
        id: row.try_get("id")?,
        cluster_id: row.try_get("cluster_id")?,
        shard_id: row.try_get("shard_id")?,
        can_read: flag(row.try_get("can_read")?),
        can_write: flag(row.try_get("can_write")?),
        created_at: row.try_get("created_at")?,
    })
}

fn member_from_row(row: &AnyRow) -> Result<Member, StoreError> {
    Ok(Member {
        cluster_id: row.try_get("cluster_id")?,
        member_id: row.try_get("member_id")?,
        url: row.try_get("url")?,
        last_ts_ms: row.try_get("last_ts_ms")?,
        seen_at: row.try_get("seen_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn member_shard_from_row(row: &AnyRow) -> Result<MemberShard, StoreError> {
    Ok(MemberShard {
        cluster_id: row.try_get("cluster_id")?,
        member_id: row.try_get("member_id")?,
        shard_id: row.try_get("shard_id")?,
        can_read: flag(row.try_get("can_read")?),
        can_write: flag(row.try_get("can_write")?),
    })
}

const CLUSTERS: &str = "SELECT id, title, file_size_limit, public_key, private_key_sealed, \
     created_at FROM fileserver_clusters";
const SHARDS: &str = "SELECT id, title, description, created_at FROM fileserver_shards";
const LINKS: &str =
    "SELECT id, cluster_id, shard_id, can_read, can_write, created_at FROM fileserver_links";
const LIVE_MEMBERS: &str = "SELECT cluster_id, member_id, url, last_ts_ms, seen_at, expires_at \
     FROM fileserver_members WHERE expires_at > $1 ORDER BY cluster_id, member_id";
const LIVE_MEMBER_SHARDS: &str = "SELECT s.cluster_id, s.member_id, s.shard_id, s.can_read, \
     s.can_write FROM fileserver_member_shards s JOIN fileserver_members m \
     ON m.cluster_id = s.cluster_id AND m.member_id = s.member_id WHERE m.expires_at > $1 \
     ORDER BY s.shard_id, s.cluster_id, s.member_id";

async fn cluster_in(conn: &mut AnyConnection, id: &str) -> Result<Option<Cluster>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{CLUSTERS} WHERE id = $1")))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(cluster_from_row).transpose()
}

async fn shard_in(conn: &mut AnyConnection, id: &str) -> Result<Option<Shard>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SHARDS} WHERE id = $1")))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(shard_from_row).transpose()
}

async fn links_where(
    conn: &mut AnyConnection,
    column: &str,
    id: &str,
) -> Result<Vec<Link>, StoreError> {
    let sql = format!("{LINKS} WHERE {column} = $1 ORDER BY created_at, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(link_from_row).collect()
}

impl Store {
    pub async fn fileserver_clusters(&self) -> Result<Vec<Cluster>, StoreError> {
        let sql = format!("{CLUSTERS} ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(cluster_from_row).collect()
    }

    pub async fn fileserver_cluster(&self, id: &str) -> Result<Option<Cluster>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        cluster_in(&mut conn, id).await
    }

    pub async fn fileserver_shards(&self) -> Result<Vec<Shard>, StoreError> {
        let sql = format!("{SHARDS} ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(shard_from_row).collect()
    }

    pub async fn fileserver_links(&self) -> Result<Vec<Link>, StoreError> {
        let sql = format!("{LINKS} ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(link_from_row).collect()
    }

    /// The links of one cluster (what its members may announce).
    pub async fn fileserver_cluster_links(
        &self,
        cluster_id: &str,
    ) -> Result<Vec<Link>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        links_where(&mut conn, "cluster_id", cluster_id).await
    }

    /// Members whose lifetime has not ended at `now`.
    pub async fn fileserver_live_members(&self, now: i64) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(LIVE_MEMBERS)
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(member_from_row).collect()
    }

    /// The shards of the members alive at `now`.
    pub async fn fileserver_live_member_shards(
        &self,
        now: i64,
    ) -> Result<Vec<MemberShard>, StoreError> {
        let rows = sqlx::query(LIVE_MEMBER_SHARDS)
            .bind(now)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(member_shard_from_row).collect()
    }
}

impl WriteTx {
    /// A cluster as this transaction sees it.
    pub async fn fileserver_cluster(&mut self, id: &str) -> Result<Option<Cluster>, StoreError> {
        cluster_in(self.conn(), id).await
    }

    pub async fn fileserver_shard(&mut self, id: &str) -> Result<Option<Shard>, StoreError> {
        shard_in(self.conn(), id).await
    }

    /// Inserts a cluster; a taken id is a conflict.
    pub async fn create_fileserver_cluster(&mut self, c: &Cluster) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fileserver_clusters (id, title, file_size_limit, public_key, \
             private_key_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(&c.title)
        .bind(c.file_size_limit)
        .bind(&c.public_key)
        .bind(&c.private_key_sealed)
        .bind(c.created_at)
        .execute(self.conn())
        .await
        .map_err(|e| conflict_on_unique(e, format!("cluster {}", c.id)))?;
        Ok(())
    }

    /// Sets a cluster's title and file size limit; whether it exists.
    pub async fn update_fileserver_cluster(
        &mut self,
        id: &str,
        title: &str,
        file_size_limit: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE fileserver_clusters SET title = $1, file_size_limit = $2 WHERE id = $3",
        )
        .bind(title)
        .bind(file_size_limit)
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn create_fileserver_shard(&mut self, s: &Shard) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fileserver_shards (id, title, description, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&s.id)
        .bind(&s.title)
        .bind(&s.description)
        .bind(s.created_at)
        .execute(self.conn())
        .await
        .map_err(|e| conflict_on_unique(e, format!("shard {}", s.id)))?;
        Ok(())
    }

    /// Links a cluster and a shard; an existing link between them is a conflict.
    pub async fn create_fileserver_link(&mut self, l: &Link) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fileserver_links (id, cluster_id, shard_id, can_read, can_write, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&l.id)
        .bind(&l.cluster_id)
        .bind(&l.shard_id)
        .bind(i64::from(l.can_read))
        .bind(i64::from(l.can_write))
        .bind(l.created_at)
        .execute(self.conn())
        .await
        .map_err(|e| {
            conflict_on_unique(
                e,
                format!(
                    "a link of cluster {} and shard {}",
                    l.cluster_id, l.shard_id
                ),
            )
        })?;
        Ok(())
    }

    /// The links of a cluster (`column` `cluster_id`) or of a shard (`shard_id`).
    pub async fn fileserver_links_of(
        &mut self,
        of: LinksOf,
        id: &str,
    ) -> Result<Vec<Link>, StoreError> {
        let column = match of {
            LinksOf::Cluster => "cluster_id",
            LinksOf::Shard => "shard_id",
        };
        links_where(self.conn(), column, id).await
    }

    /// Deletes a link and the served shards it allowed; the deleted link, if it existed.
    pub async fn delete_fileserver_link(&mut self, id: &str) -> Result<Option<Link>, StoreError> {
        let sql = format!("{LINKS} WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.conn())
            .await?;
        let Some(link) = row.as_ref().map(link_from_row).transpose()? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM fileserver_member_shards WHERE cluster_id = $1 AND shard_id = $2")
            .bind(&link.cluster_id)
            .bind(&link.shard_id)
            .execute(self.conn())
            .await?;
        sqlx::query("DELETE FROM fileserver_links WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(Some(link))
    }

    /// Deletes a cluster with its links and members; whether it existed.
    pub async fn delete_fileserver_cluster(&mut self, id: &str) -> Result<bool, StoreError> {
        for sql in [
            "DELETE FROM fileserver_member_shards WHERE cluster_id = $1",
            "DELETE FROM fileserver_members WHERE cluster_id = $1",
            "DELETE FROM fileserver_links WHERE cluster_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(self.conn()).await?;
        }
        let done = sqlx::query("DELETE FROM fileserver_clusters WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a shard with its links and its members' claims to it; whether it existed.
    pub async fn delete_fileserver_shard(&mut self, id: &str) -> Result<bool, StoreError> {
        for sql in [
            "DELETE FROM fileserver_member_shards WHERE shard_id = $1",
            "DELETE FROM fileserver_links WHERE shard_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(self.conn()).await?;
        }
        let done = sqlx::query("DELETE FROM fileserver_shards WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Forgets members whose lifetime ended and whose newest timestamp is older than
    /// `replay_floor_ms` (any replay of theirs is stale anyway); returns how many went.
    pub async fn prune_fileserver_members(
        &mut self,
        now: i64,
        replay_floor_ms: i64,
    ) -> Result<u64, StoreError> {
        let cond = "FROM fileserver_members WHERE expires_at <= $1 AND last_ts_ms < $2";
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM fileserver_member_shards WHERE EXISTS (SELECT 1 {cond} \
             AND fileserver_members.cluster_id = fileserver_member_shards.cluster_id \
             AND fileserver_members.member_id = fileserver_member_shards.member_id)"
        )))
        .bind(now)
        .bind(replay_floor_ms)
        .execute(self.conn())
        .await?;
        let done = sqlx::query(sqlx::AssertSqlSafe(format!("DELETE {cond}")))
            .bind(now)
            .bind(replay_floor_ms)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected())
    }

    /// Records an announcement: the member's row moves forward only when `ts_ms` is newer than
    /// the newest accepted (a compare-and-set, so of two nodes given the same announcement one
    /// wins); its shards are replaced when they changed.
    pub async fn record_fileserver_announcement(
        &mut self,
        a: &Announcement<'_>,
    ) -> Result<Recorded, StoreError> {
        let known = sqlx::query(
            "SELECT url FROM fileserver_members WHERE cluster_id = $1 AND member_id = $2",
        )
        .bind(a.cluster_id)
        .bind(a.member_id)
        .fetch_optional(self.conn())
        .await?;
        let mut changed = match known {
            Some(row) => {
                let url: String = row.try_get("url")?;
                let moved = sqlx::query(
                    "UPDATE fileserver_members SET url = $1, last_ts_ms = $2, seen_at = $3, \
                     expires_at = $4 WHERE cluster_id = $5 AND member_id = $6 AND last_ts_ms < $2",
                )
                .bind(a.url)
                .bind(a.ts_ms)
                .bind(a.now)
                .bind(a.expires_at)
                .bind(a.cluster_id)
                .bind(a.member_id)
                .execute(self.conn())
                .await?;
                if moved.rows_affected() == 0 {
                    return Ok(Recorded::Replayed);
                }
                url != a.url
            }
            None => {
                let inserted = sqlx::query(
                    "INSERT INTO fileserver_members (cluster_id, member_id, url, last_ts_ms, \
                     seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(a.cluster_id)
                .bind(a.member_id)
                .bind(a.url)
                .bind(a.ts_ms)
                .bind(a.now)
                .bind(a.expires_at)
                .execute(self.conn())
                .await;
                match inserted.map_err(StoreError::from) {
                    Ok(_) => true,
                    // A concurrent announcement of the same new member won.
                    Err(e) if e.is_unique_violation() => return Ok(Recorded::Replayed),
                    Err(e) => return Err(e),
                }
            }
        };
        let rows = sqlx::query(
            "SELECT cluster_id, member_id, shard_id, can_read, can_write \
             FROM fileserver_member_shards WHERE cluster_id = $1 AND member_id = $2 \
             ORDER BY shard_id",
        )
        .bind(a.cluster_id)
        .bind(a.member_id)
        .fetch_all(self.conn())
        .await?;
        let mut before: Vec<(String, bool, bool)> = rows
            .iter()
            .map(member_shard_from_row)
            .map(|r| r.map(|s| (s.shard_id, s.can_read, s.can_write)))
            .collect::<Result<_, _>>()?;
        before.sort();
        let mut after = a.shards.to_vec();
        after.sort();
        if before != after {
            changed = true;
            sqlx::query(
                "DELETE FROM fileserver_member_shards WHERE cluster_id = $1 AND member_id = $2",
            )
            .bind(a.cluster_id)
            .bind(a.member_id)
            .execute(self.conn())
            .await?;
            for (shard, read, write) in &after {
                sqlx::query(
                    "INSERT INTO fileserver_member_shards (cluster_id, member_id, shard_id, \
                     can_read, can_write) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(a.cluster_id)
                .bind(a.member_id)
                .bind(shard)
                .bind(i64::from(*read))
                .bind(i64::from(*write))
                .execute(self.conn())
                .await?;
            }
        }
        Ok(if changed {
            Recorded::Changed
        } else {
            Recorded::Refreshed
        })
    }
}

/// Which side of the links to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinksOf {
    Cluster,
    Shard,
}

fn conflict_on_unique(e: sqlx::Error, what: String) -> StoreError {
    let e = StoreError::from(e);
    if e.is_unique_violation() {
        StoreError::Conflict(what)
    } else {
        e
    }
}
