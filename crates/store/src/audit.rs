//! The append-only `audit_log`. Entries form hash chains (one per writer, e.g. `local` for the
//! CLI or a server node's id): each row's hash covers its fields and its predecessor's hash, so a
//! changed, inserted or deleted row breaks the chain. Signatures are filled by the caller when a
//! signing key is configured; rotation records a checkpoint so the oldest kept row still verifies.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::writer::batch_tx::{BatchTx, Param};
pub use crate::writer::{AuditAppend, SharedSigner};
use crate::{Store, StoreError, sha256_hex};

/// The hash that precedes the first entry of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audited event says. `details` must never contain secrets.
#[derive(Clone, Debug, Default)]
pub struct AuditEvent {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub success: bool,
    pub client: String,
    pub details: String,
}

/// A stored audit row.
#[derive(Clone, Debug)]
pub struct AuditRecord {
    pub id: i64,
    pub chain: String,
    pub seq: i64,
    pub ts_ms: i64,
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
    pub signature: String,
}

/// The chained hash of one entry: SHA-256 over length-prefixed fields, so no two different
/// entries can serialise to the same bytes.
pub fn entry_hash(prev_hash: &str, chain: &str, seq: i64, ts_ms: i64, e: &AuditEvent) -> String {
    let mut buf = Vec::with_capacity(256);
    let success = if e.success { "1" } else { "0" };
    let seq_s = seq.to_string();
    let ts_s = ts_ms.to_string();
    for field in [
        prev_hash, chain, &seq_s, &ts_s, &e.actor, &e.action, &e.target, success, &e.client,
        &e.details,
    ] {
        buf.extend_from_slice(&(field.len() as u64).to_be_bytes());
        buf.extend_from_slice(field.as_bytes());
    }
    sha256_hex(&buf)
}

fn from_row(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        chain: row.try_get("chain")?,
        seq: row.try_get("seq")?,
        ts_ms: row.try_get("ts_ms")?,
        event: AuditEvent {
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            success: crate::flag(row.try_get("success")?),
            client: row.try_get("client")?,
            details: row.try_get("details")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
        signature: row.try_get("signature")?,
    })
}

macro_rules! select_audit {
    ($tail:literal) => {
        concat!(
            "SELECT id, chain, seq, ts_ms, actor, action, target, success, client, details, prev_hash, hash, \
             signature FROM audit_log ",
            $tail
        )
    };
}

/// An audit row with its place in the chain computed, ready to insert.
pub(crate) struct ChainedRow {
    chain: String,
    ts_ms: i64,
    event: AuditEvent,
    seq: i64,
    prev_hash: String,
    hash: String,
    signature: String,
}

impl ChainedRow {
    /// Chains `a` after the entry `prev` (its seq and hash); signs it.
    pub(crate) fn after(prev: &(i64, String), a: &AuditAppend) -> ChainedRow {
        let seq = prev.0 + 1;
        let hash = entry_hash(&prev.1, &a.chain, seq, a.ts_ms, &a.event);
        let signature = (a.signer)(&hash);
        ChainedRow {
            chain: a.chain.clone(),
            ts_ms: a.ts_ms,
            event: a.event.clone(),
            seq,
            prev_hash: prev.1.clone(),
            hash,
            signature,
        }
    }

    /// This row as the predecessor of the next one.
    pub(crate) fn head(&self) -> (i64, String) {
        (self.seq, self.hash.clone())
    }
}

/// The newest entry of `chain` (seq and hash), or its rotation checkpoint, or the genesis.
pub(crate) async fn chain_head(
    tx: &mut impl BatchTx,
    chain: &str,
) -> Result<(i64, String), StoreError> {
    let newest = tx
        .int_text_row(
            "SELECT seq, hash FROM audit_log WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
            &[Param::Text(chain)],
        )
        .await?;
    if let Some(head) = newest {
        return Ok(head);
    }
    let checkpoint = tx
        .int_text_row(
            "SELECT seq, hash FROM audit_checkpoints WHERE chain = $1",
            &[Param::Text(chain)],
        )
        .await?;
    Ok(checkpoint.unwrap_or_else(|| (0, GENESIS_HASH.to_string())))
}

/// Rows per multi-row INSERT (12 parameters each, well under both engines' limits).
const INSERT_CHUNK: usize = 64;

/// Inserts chained rows with as few statements as possible.
pub(crate) async fn insert_rows(
    tx: &mut impl BatchTx,
    rows: &[ChainedRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut sql = String::from(
            "INSERT INTO audit_log (chain, seq, ts_ms, actor, action, target, success, client, \
             details, prev_hash, hash, signature) VALUES ",
        );
        let mut params = Vec::with_capacity(chunk.len() * 12);
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let marks: Vec<String> = (1..=12).map(|k| format!("${}", i * 12 + k)).collect();
            sql.push('(');
            sql.push_str(&marks.join(", "));
            sql.push(')');
            params.extend([
                Param::Text(&r.chain),
                Param::Int(r.seq),
                Param::Int(r.ts_ms),
                Param::Text(&r.event.actor),
                Param::Text(&r.event.action),
                Param::Text(&r.event.target),
                Param::Int(i64::from(r.event.success)),
                Param::Text(&r.event.client),
                Param::Text(&r.event.details),
                Param::Text(&r.prev_hash),
                Param::Text(&r.hash),
                Param::Text(&r.signature),
            ]);
        }
        tx.exec(&sql, &params).await?;
    }
    Ok(())
}

/// Appends one event to its chain inside `tx` (head, hash, signature, insert); returns the
/// chain's new head.
pub(crate) async fn append_in(
    tx: &mut impl BatchTx,
    a: &AuditAppend,
) -> Result<(i64, String), StoreError> {
    let head = chain_head(tx, &a.chain).await?;
    let row = ChainedRow::after(&head, a);
    insert_rows(tx, std::slice::from_ref(&row)).await?;
    Ok(row.head())
}

impl Store {
    /// Appends one event to its chain, through the group-commit writer (so it shares a commit
    /// with concurrent appends and validations). A concurrent append to the same chain from
    /// another process loses the unique (chain, seq) race and is retried.
    pub async fn append_audit(&self, a: AuditAppend) -> Result<(), StoreError> {
        self.writer.append_audit(a).await
    }

    /// Audit rows newer than `since_ms`, newest first, keyset-paginated below `before_id`.
    pub async fn list_audit(
        &self,
        since_ms: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(select_audit!(
            "WHERE ts_ms >= $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(since_ms)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One chain's rows in order, from `after_seq` on (paged by the caller).
    pub async fn audit_chain_page(
        &self,
        chain: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(select_audit!(
            "WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(chain)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn audit_chains(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT chain FROM audit_log UNION SELECT chain FROM audit_checkpoints ORDER BY 1",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The entry a chain's oldest kept row follows, recorded (and signed) by rotation.
    pub async fn audit_checkpoint(&self, chain: &str) -> Result<Option<Checkpoint>, StoreError> {
        let row =
            sqlx::query("SELECT seq, hash, signature FROM audit_checkpoints WHERE chain = $1")
                .bind(chain)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| {
            Ok(Checkpoint {
                seq: r.try_get("seq")?,
                hash: r.try_get("hash")?,
                signature: r.try_get("signature")?,
            })
        })
        .transpose()
    }

    pub async fn count_audit(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
            .fetch_one(self.pool())
            .await?)
    }
}

/// Where a rotated chain starts: the last deleted entry's seq and hash, signed over
/// `audit_heads::checkpoint_message` so that a checkpoint cannot be forged to hide deleted rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub signature: String,
}

/// Which rows of a chain rotation keeps: those from a row id on, or from a timestamp on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepFrom {
    /// Keep rows whose id is at least this (ids grow with time).
    Id(i64),
    /// Keep rows written at or after this time (epoch ms).
    TsMs(i64),
}

impl Store {
    /// Audit rows written at or after `since_ms`, oldest first, keyset-paginated after `after_id`.
    pub async fn audit_rows_asc(
        &self,
        since_ms: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(select_audit!(
            "WHERE ts_ms >= $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(since_ms)
        .bind(after_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// The smallest id among the newest `keep` rows (rows below it are older); `None` when the
    /// log has no more than `keep` rows. With `keep == 0`, one past the newest id.
    pub async fn audit_id_keeping_newest(&self, keep: i64) -> Result<Option<i64>, StoreError> {
        if keep <= 0 {
            let max: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM audit_log")
                .fetch_one(self.pool())
                .await?;
            return Ok(max.map(|m| m + 1));
        }
        Ok(
            sqlx::query_scalar("SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET $1")
                .bind(keep - 1)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The highest seq of `chain` that rotation may delete so that every row to keep survives
    /// and the chain stays a contiguous run; 0 when nothing goes.
    pub async fn audit_chain_rotation_bound(
        &self,
        chain: &str,
        keep: KeepFrom,
    ) -> Result<i64, StoreError> {
        let first_kept: Option<i64> = match keep {
            KeepFrom::Id(id) => {
                sqlx::query_scalar("SELECT MIN(seq) FROM audit_log WHERE chain = $1 AND id >= $2")
                    .bind(chain)
                    .bind(id)
                    .fetch_one(self.pool())
                    .await?
            }
            KeepFrom::TsMs(ts) => {
                sqlx::query_scalar(
                    "SELECT MIN(seq) FROM audit_log WHERE chain = $1 AND ts_ms >= $2",
                )
                .bind(chain)
                .bind(ts)
                .fetch_one(self.pool())
                .await?
            }
        };
        Ok(match first_kept {
            Some(seq) => seq - 1,
            None => sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MAX(seq) FROM audit_log WHERE chain = $1",
            )
            .bind(chain)
            .fetch_one(self.pool())
            .await?
            .unwrap_or(0),
        })
    }

    /// How many rows of `chain` have a seq up to `upto_seq`.
    pub async fn count_audit_chain_upto(
        &self,
        chain: &str,
        upto_seq: i64,
    ) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE chain = $1 AND seq <= $2")
                .bind(chain)
                .bind(upto_seq)
                .fetch_one(self.pool())
                .await?,
        )
    }
}

/// Deletes the oldest rows of `chain` (at most `chunk`, none above `upto_seq`) and, in the
/// same transaction, moves the chain's checkpoint (signed with `signer`) to the last deleted
/// row, so the oldest kept row still verifies. Returns how many rows went (0 when none are
/// left to delete).
pub(crate) async fn delete_audit_chunk(
    conn: &mut AnyConnection,
    chain: &str,
    upto_seq: i64,
    chunk: i64,
    now: i64,
    signer: &SharedSigner,
) -> Result<u64, StoreError> {
    let last = sqlx::query(
        "SELECT seq, hash FROM (SELECT seq, hash FROM audit_log WHERE chain = $1 AND seq <= $2 \
         ORDER BY seq LIMIT $3) chunk ORDER BY seq DESC LIMIT 1",
    )
    .bind(chain)
    .bind(upto_seq)
    .bind(chunk.max(1))
    .fetch_optional(&mut *conn)
    .await?;
    let Some(last) = last else {
        return Ok(0);
    };
    let seq: i64 = last.try_get("seq")?;
    let hash: String = last.try_get("hash")?;
    let done = sqlx::query("DELETE FROM audit_log WHERE chain = $1 AND seq <= $2")
        .bind(chain)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    let signature = signer(&crate::audit_heads::checkpoint_message(chain, seq, &hash));
    sqlx::query(
        "INSERT INTO audit_checkpoints (chain, seq, hash, created_at, signature) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, \
         hash = excluded.hash, created_at = excluded.created_at, signature = excluded.signature",
    )
    .bind(chain)
    .bind(seq)
    .bind(&hash)
    .bind(now)
    .bind(&signature)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
