//! The `challenges` table: challenge-response state (transaction id, token, expiry, state).
//! Answering a challenge closes it with a compare-and-set, so one transaction id is answered at
//! most once; old rows are removed in chunks by `config challenge cleanup`.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::writer::batch_tx::{BatchTx, Param};

use keyward_proto::Serial;

use crate::{Store, StoreError};

/// One challenge as stored.
#[derive(Clone, Debug)]
pub struct Challenge {
    pub transaction_id: String,
    pub token_id: String,
    pub serial: Serial,
    pub message: String,
    pub data_sealed: String,
    /// `open`, `answered` or `closed`.
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

fn from_row(row: &AnyRow) -> Result<Challenge, StoreError> {
    Ok(Challenge {
        transaction_id: row.try_get("transaction_id")?,
        token_id: row.try_get("token_id")?,
        serial: row.try_get::<String, _>("serial")?.into(),
        message: row.try_get("message")?,
        data_sealed: row.try_get("data_sealed")?,
        state: row.try_get("state")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

const SELECT: &str = "SELECT transaction_id, token_id, serial, message, data_sealed, state, \
    created_at, expires_at FROM challenges ";

impl Store {
    pub async fn create_challenge(&self, c: &Challenge) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO challenges (transaction_id, token_id, serial, message, data_sealed, state, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.transaction_id)
        .bind(&c.token_id)
        .bind(c.serial.as_str())
        .bind(&c.message)
        .bind(&c.data_sealed)
        .bind(&c.state)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn challenge(&self, transaction_id: &str) -> Result<Option<Challenge>, StoreError> {
        let sql = format!("{SELECT}WHERE transaction_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(transaction_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The challenges of some tokens, newest first.
    pub async fn challenges_of_tokens(
        &self,
        token_ids: &[String],
    ) -> Result<Vec<Challenge>, StoreError> {
        if token_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=token_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "{SELECT}WHERE token_id IN ({}) ORDER BY created_at DESC, transaction_id",
            marks.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for id in token_ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }

    /// Deletes one challenge (an OTP delivery that failed leaves nothing to answer).
    pub async fn delete_challenge(&self, transaction_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM challenges WHERE transaction_id = $1")
            .bind(transaction_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// How many challenges were created before `cutoff`.
    pub async fn count_challenges_before(&self, cutoff: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM challenges WHERE created_at < $1")
                .bind(cutoff)
                .fetch_one(self.pool())
                .await?,
        )
    }
}

/// Moves an open, unexpired challenge to `answered`; false if it was not open (already answered
/// by a concurrent request, or expired).
pub(crate) async fn answer_in(
    tx: &mut impl BatchTx,
    transaction_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = tx
        .exec(
            "UPDATE challenges SET state = 'answered' \
             WHERE transaction_id = $1 AND state = 'open' AND expires_at > $2",
            &[Param::Text(transaction_id), Param::Int(now)],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes up to `chunk` challenges created before `cutoff`; returns how many went.
pub(crate) async fn delete_challenges_chunk(
    conn: &mut AnyConnection,
    cutoff: i64,
    chunk: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM challenges WHERE transaction_id IN \
         (SELECT transaction_id FROM challenges WHERE created_at < $1 \
          ORDER BY created_at LIMIT $2)",
    )
    .bind(cutoff)
    .bind(chunk.max(1))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}
