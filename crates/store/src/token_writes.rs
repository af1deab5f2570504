//! The writes of the `tokens` table and its realms outside the validate path: bulk insert (an
//! import is one transaction), field updates, realm changes, deletion and resync. Each is a
//! function over a connection already in a transaction, so the same statements serve
//! `Store`'s own methods (a transaction each) and a [`crate::write_tx::WriteTx`] that commits
//! them together with their audit row.

use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::StoreError;
use crate::tokens::{Bind, NewToken, TokenField, bind_all};

/// Rows per multi-row INSERT of an import (15 parameters each, well below both backends'
/// limits on bound parameters).
pub(crate) const IMPORT_CHUNK: usize = 100;

/// Applies column updates to one token; false when no such token.
pub(crate) async fn update_token(
    conn: &mut AnyConnection,
    id: &str,
    fields: &[TokenField],
    now: i64,
) -> Result<bool, StoreError> {
    Ok(update_tokens(conn, &[id.to_string()], fields, now).await? > 0)
}

/// Applies the same column updates to several tokens (all or nothing).
pub(crate) async fn update_tokens(
    conn: &mut AnyConnection,
    ids: &[String],
    fields: &[TokenField],
    now: i64,
) -> Result<u64, StoreError> {
    let updates: Vec<(&str, &[TokenField])> = ids.iter().map(|id| (id.as_str(), fields)).collect();
    update_tokens_each(conn, &updates, now).await
}

/// Inserts tokens and their realms in ONE transaction: all or nothing. A serial taken in the
/// database or repeated in `tokens` is a conflict naming it.
pub(crate) async fn create_tokens(
    conn: &mut AnyConnection,
    tokens: &[NewToken],
) -> Result<u64, StoreError> {
    let mut seen = std::collections::HashSet::with_capacity(tokens.len());
    if let Some(dup) = tokens.iter().find(|t| !seen.insert(t.serial.as_str())) {
        return Err(StoreError::Conflict(format!("token {:?}", dup.serial)));
    }
    let mut n = 0;
    for chunk in tokens.chunks(IMPORT_CHUNK) {
        let serials: Vec<String> = chunk.iter().map(|t| t.serial.to_string()).collect();
        let marks: Vec<String> = (1..=serials.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT serial FROM tokens WHERE serial IN ({}) ORDER BY serial LIMIT 1",
            marks.join(", ")
        );
        let taken: Option<String> =
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.as_str())), &serials)
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| row.try_get("serial"))
                .transpose()?;
        if let Some(serial) = taken {
            return Err(StoreError::Conflict(format!("token {serial:?}")));
        }
        const COLS: usize = 16;
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let marks: Vec<String> = (1..=COLS).map(|c| format!("${}", r * COLS + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO tokens (id, serial, token_type, description, owner_id, seed_sealed, \
             pin_hash, otplen, hashlib, counter, time_step, time_window, time_shift, info, \
             created_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for t in chunk {
            query = query
                .bind(t.id.as_str())
                .bind(t.serial.as_str())
                .bind(t.token_type.as_str())
                .bind(t.description.as_str())
                .bind(t.owner_id.as_deref())
                .bind(t.seed_sealed.as_str())
                .bind(t.pin_hash.as_str())
                .bind(t.otplen)
                .bind(t.hashlib.as_str())
                .bind(t.counter)
                .bind(t.time_step)
                .bind(t.time_window)
                .bind(t.time_shift)
                .bind(Value::Object(t.info.clone()).to_string())
                .bind(t.now)
                .bind(t.now);
        }
        match query.execute(&mut *conn).await.map_err(StoreError::from) {
            Ok(done) => n += done.rows_affected(),
            // Taken by a concurrent writer after the check above (PostgreSQL).
            Err(e) if e.is_unique_violation() => {
                return Err(StoreError::Conflict(format!(
                    "a serial among tokens {:?} … {:?} (taken concurrently)",
                    chunk.first().map(|t| t.serial.as_str()).unwrap_or_default(),
                    chunk.last().map(|t| t.serial.as_str()).unwrap_or_default()
                )));
            }
            Err(e) => return Err(e),
        }
        let realm_rows: Vec<(&str, String)> = chunk
            .iter()
            .flat_map(|t| t.realms.iter().map(|r| (t.id.as_str(), r.to_lowercase())))
            .collect();
        for part in realm_rows.chunks(IMPORT_CHUNK) {
            let marks: Vec<String> = (0..part.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO token_realms (token_id, realm) VALUES {}",
                marks.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
            for (id, realm) in part {
                query = query.bind(*id).bind(realm.as_str());
            }
            query.execute(&mut *conn).await?;
        }
    }
    Ok(n)
}

/// Replaces a token's realms.
pub(crate) async fn set_token_realms(
    conn: &mut AnyConnection,
    id: &str,
    realms: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM token_realms WHERE token_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for realm in realms {
        sqlx::query("INSERT INTO token_realms (token_id, realm) VALUES ($1, $2)")
            .bind(id)
            .bind(realm.to_lowercase())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Deletes tokens by id in one transaction (their challenges and realms go with them).
pub(crate) async fn delete_tokens(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<u64, StoreError> {
    let mut n = 0;
    for id in ids {
        n += sqlx::query("DELETE FROM tokens WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// Applies per-token column updates (`(id, fields)`, fields may differ between tokens) in
/// one transaction: every token gets its update or none does.
pub(crate) async fn update_tokens_each(
    conn: &mut AnyConnection,
    updates: &[(&str, &[TokenField])],
    now: i64,
) -> Result<u64, StoreError> {
    // Small sets (a user's tokens, a selection): per-row updates inside one transaction keep a
    // single code path for the dynamic SET list.
    let mut n = 0;
    for (id, fields) in updates {
        let mut sets: Vec<String> = Vec::with_capacity(fields.len() + 1);
        for (i, f) in fields.iter().enumerate() {
            sets.push(format!("{} = ${}", f.column_and_value().0, i + 1));
        }
        sets.push(format!("updated_at = ${}", fields.len() + 1));
        let sql = format!(
            "UPDATE tokens SET {} WHERE id = ${}",
            sets.join(", "),
            fields.len() + 2
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for f in fields.iter() {
            query = match f.column_and_value().1 {
                Bind::Int(v) => query.bind(v),
                Bind::Text(v) => query.bind(v),
            };
        }
        n += query
            .bind(now)
            .bind(*id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok(n)
}

/// Sets the counter to `counter` if it is not already beyond it (resync); false when the
/// token moved on meanwhile.
pub(crate) async fn resync_counter(
    conn: &mut AnyConnection,
    id: &str,
    counter: i64,
    time_shift: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE tokens SET counter = $1, time_shift = $2, fail_count = 0, updated_at = $3 \
         WHERE id = $4 AND counter <= $1",
    )
    .bind(counter)
    .bind(time_shift)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
