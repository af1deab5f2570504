//! The writes of a successful login, in one transaction: the stored password hash replaced by
//! its Argon2id upgrade (only if it is still the hash the password was checked against, so a
//! password changed meanwhile is never overwritten), the last-login time, and the new session.
//! Either all of them are committed or none is.

use keyward_proto::UserId;
use sqlx::AnyConnection;

use crate::sessions::NewSession;
use crate::{Store, StoreError, sha256_hex};

/// A password hash to replace: `old` is the one verified, `new` its Argon2id successor.
#[derive(Clone, Copy, Debug)]
pub struct HashUpgrade<'a> {
    pub old: &'a str,
    pub new: &'a str,
}

/// Replaces `user_id`'s hash when it still is `up.old`; whether it did.
async fn upgrade_hash(
    conn: &mut AnyConnection,
    user_id: &UserId,
    up: HashUpgrade<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4",
    )
    .bind(up.new)
    .bind(now)
    .bind(user_id.as_str())
    .bind(up.old)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// What a login committed.
#[derive(Clone, Debug)]
pub struct LoginCommitted {
    /// The new session's id (none for a sessionless check such as HTTP Basic).
    pub session_id: Option<String>,
    /// Whether the stored hash was upgraded.
    pub upgraded: bool,
}

impl Store {
    /// Commits a successful login: the optional hash upgrade, `last_login` (with a session
    /// only), and the session, in one transaction.
    pub async fn commit_login(
        &self,
        user_id: &UserId,
        upgrade: Option<HashUpgrade<'_>>,
        session: Option<&NewSession<'_>>,
        now: i64,
    ) -> Result<LoginCommitted, StoreError> {
        let mut tx = self.write_tx().await?;
        let upgraded = match upgrade {
            Some(up) => upgrade_hash(&mut tx, user_id, up, now).await?,
            None => false,
        };
        let mut session_id = None;
        if let Some(new) = session {
            sqlx::query("UPDATE users SET last_login = $1 WHERE id = $2")
                .bind(now)
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
            let id = uuid::Uuid::new_v4().to_string();
            sqlx::query(
                "INSERT INTO sessions (id, user_id, token_hash, protocol, remote_addr, user_agent, \
                 created_at, last_activity, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            )
            .bind(&id)
            .bind(new.user_id.as_str())
            .bind(sha256_hex(new.token.as_bytes()))
            .bind(new.protocol)
            .bind(new.remote_addr)
            .bind(new.user_agent)
            .bind(new.now)
            .bind(new.expires_at)
            .execute(&mut *tx)
            .await?;
            session_id = Some(id);
        }
        tx.commit().await?;
        Ok(LoginCommitted {
            session_id,
            upgraded,
        })
    }
}
