//! The `sessions` table: login sessions (bearer tokens stored as SHA-256 hashes) which double as
//! the list of connections an operator can see and close.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use keyward_proto::{SessionId, UserId, Username};

use crate::{Store, StoreError, sha256_hex};

/// One session joined with its user's name.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub username: Username,
    pub protocol: String,
    pub remote_addr: String,
    pub user_agent: String,
    pub created_at: i64,
    pub last_activity: i64,
    pub expires_at: i64,
}

/// What is needed to open a session; `token` is the bearer secret (only its hash is stored).
#[derive(Clone, Debug)]
pub struct NewSession<'a> {
    pub user_id: &'a UserId,
    pub token: &'a str,
    pub protocol: &'a str,
    pub remote_addr: &'a str,
    pub user_agent: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

const SELECT: &str = "SELECT s.id, s.user_id, u.username, s.protocol, s.remote_addr, s.user_agent, \
    s.created_at, s.last_activity, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id";

fn from_row(row: &AnyRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: row.try_get::<String, _>("id")?.into(),
        user_id: UserId::new(row.try_get::<String, _>("user_id")?),
        username: row.try_get::<String, _>("username")?.into(),
        protocol: row.try_get("protocol")?,
        remote_addr: row.try_get("remote_addr")?,
        user_agent: row.try_get("user_agent")?,
        created_at: row.try_get("created_at")?,
        last_activity: row.try_get("last_activity")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Store {
    pub async fn create_session(&self, new: &NewSession<'_>) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO sessions (id, user_id, token_hash, protocol, remote_addr, user_agent, created_at, \
             last_activity, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
        )
        .bind(&id)
        .bind(new.user_id.as_str())
        .bind(sha256_hex(new.token.as_bytes()))
        .bind(new.protocol)
        .bind(new.remote_addr)
        .bind(new.user_agent)
        .bind(new.now)
        .bind(new.expires_at)
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    /// The live session a bearer token belongs to, if any.
    pub async fn session_by_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Option<Session>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE s.token_hash = $1 AND s.expires_at > $2"
        ));
        let row = sqlx::query(sql)
            .bind(sha256_hex(token.as_bytes()))
            .bind(now)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// The user id of a session by its id (expired sessions included), if it exists.
    pub async fn session_user_id(&self, id: &SessionId) -> Result<Option<UserId>, StoreError> {
        let user: Option<String> = sqlx::query_scalar("SELECT user_id FROM sessions WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(user.map(UserId::new))
    }

    pub async fn touch_session(&self, id: &SessionId, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_activity = $1 WHERE id = $2")
            .bind(now)
            .bind(id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Live sessions, oldest first, keyset-paginated by (created_at, id).
    pub async fn list_sessions(&self, now: i64, limit: i64) -> Result<Vec<Session>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE s.expires_at > $1 ORDER BY s.created_at, s.id LIMIT $2"
        ));
        let rows = sqlx::query(sql)
            .bind(now)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn count_user_sessions(&self, user_id: &UserId, now: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at > $2",
        )
        .bind(user_id.as_str())
        .bind(now)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn delete_session_by_token(&self, token: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(sha256_hex(token.as_bytes()))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// One page of live sessions ordered by (created_at, id), after the `after` cursor.
    pub async fn list_sessions_page(
        &self,
        now: i64,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<Session>, StoreError> {
        let (after_ts, after_id) = after.unwrap_or((i64::MIN, ""));
        let sql = sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE s.expires_at > $1 AND (s.created_at > $2 OR (s.created_at = $2 AND s.id > $3)) \
             ORDER BY s.created_at, s.id LIMIT $4"
        ));
        let rows = sqlx::query(sql)
            .bind(now)
            .bind(after_ts)
            .bind(after_id)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }
}

pub(crate) async fn delete_session(
    conn: &mut AnyConnection,
    id: &SessionId,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes expired sessions; returns how many.
pub(crate) async fn delete_expired_sessions(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn delete_user_sessions(
    conn: &mut AnyConnection,
    user_id: &UserId,
) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
