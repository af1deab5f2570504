//! Whole-installation reads and writes of `dumpdata` / `loaddata`: one consistent snapshot of
//! users, tokens (with realms), API keys and policies read in one transaction, and the row writes a
//! restore needs beyond the ordinary ones — a user's stored hash, integer id and last login as
//! the dump says, a token inserted with every column (its sealed values are bound to its id, so
//! the id is kept), and an API key with its stored hash. The writes run on a connection already
//! in the caller's transaction (the whole load is one transaction with its audit row).

use std::collections::HashMap;

use futures_util::TryStreamExt;
use keyward_core::user::Roles;
use keyward_proto::UserId;
use sqlx::{AnyConnection, Row};

use crate::api_keys::ApiKey;
use crate::tokens::{SELECT as TOKEN_SELECT, Token};
use crate::users::{User, from_row as user_from_row, select_users};
use crate::write_tx::WriteTx;
use crate::{Store, StoreError};

/// An API key with what a dump needs besides [`ApiKey`]: its stored hash and its owner's name.
#[derive(Clone, Debug)]
pub struct ApiKeyRow {
    pub key: ApiKey,
    pub key_hash: String,
    pub owner_name: Option<String>,
}

/// Everything `dumpdata` writes, read in one transaction.
#[derive(Clone, Debug, Default)]
pub struct DumpSnapshot {
    pub users: Vec<User>,
    pub tokens: Vec<Token>,
    pub api_keys: Vec<ApiKeyRow>,
    /// Every policy, by name.
    pub policies: Vec<keyward_core::policy::Policy>,
}

/// Where [`Store::dump_stream`] sends the large sections, one row at a time.
pub trait DumpRows {
    type Error;
    fn user(&mut self, user: User) -> Result<(), Self::Error>;
    fn token(&mut self, token: Token) -> Result<(), Self::Error>;
}

/// Where a streamed dump failed: reading the database or writing the rows.
#[derive(Debug)]
pub enum DumpStreamError<E> {
    Store(StoreError),
    Rows(E),
}

impl<E> From<StoreError> for DumpStreamError<E> {
    fn from(e: StoreError) -> Self {
        DumpStreamError::Store(e)
    }
}

impl<E> From<sqlx::Error> for DumpStreamError<E> {
    fn from(e: sqlx::Error) -> Self {
        DumpStreamError::Store(e.into())
    }
}

/// Collects the streamed rows (for callers that want the whole snapshot in memory).
struct Collect<'a>(&'a mut DumpSnapshot);

impl DumpRows for Collect<'_> {
    type Error = std::convert::Infallible;
    fn user(&mut self, user: User) -> Result<(), Self::Error> {
        self.0.users.push(user);
        Ok(())
    }
    fn token(&mut self, token: Token) -> Result<(), Self::Error> {
        self.0.tokens.push(token);
        Ok(())
    }
}

impl Store {
    /// Users (by name), tokens (by serial, with realms) and API keys (by creation) as of one
    /// moment, all in memory; [`Store::dump_stream`] for installations of any size.
    pub async fn dump_snapshot(&self) -> Result<DumpSnapshot, StoreError> {
        let mut whole = DumpSnapshot::default();
        let rest = self
            .dump_stream(&mut Collect(&mut whole))
            .await
            .map_err(|e| match e {
                DumpStreamError::Store(e) => e,
                DumpStreamError::Rows(never) => match never {},
            })?;
        whole.api_keys = rest.api_keys;
        whole.policies = rest.policies;
        Ok(whole)
    }

    /// One consistent read of everything a dump holds (a read-only repeatable-read transaction
    /// on PostgreSQL, one read transaction on SQLite, whose WAL readers see one snapshot from
    /// their first read): users (by name) and then tokens (by serial, with realms) go to `rows`
    /// one at a time, so memory does not grow with the installation; the small sections (API
    /// keys) come back in the returned snapshot, whose `users` and `tokens` stay empty.
    pub async fn dump_stream<R: DumpRows>(
        &self,
        rows: &mut R,
    ) -> Result<DumpSnapshot, DumpStreamError<R::Error>> {
        let mut tx = crate::snapshot::begin_snapshot(self).await?;
        {
            let mut users = sqlx::query(select_users!("ORDER BY username_key")).fetch(&mut *tx);
            while let Some(row) = users.try_next().await? {
                rows.user(user_from_row(&row)?)
                    .map_err(DumpStreamError::Rows)?;
            }
        }
        // A token's realms, by token id (a few short strings per token).
        let realm_rows =
            sqlx::query("SELECT token_id, realm FROM token_realms ORDER BY token_id, realm")
                .fetch_all(&mut *tx)
                .await?;
        let mut realms: HashMap<String, Vec<String>> = HashMap::new();
        for row in realm_rows {
            realms
                .entry(row.try_get("token_id")?)
                .or_default()
                .push(row.try_get("realm")?);
        }
        {
            let sql = format!("{TOKEN_SELECT} ORDER BY t.serial");
            let mut tokens = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).fetch(&mut *tx);
            while let Some(row) = tokens.try_next().await? {
                let mut t = crate::tokens::from_row(&row)?;
                t.realms = realms.remove(&t.id).unwrap_or_default();
                rows.token(t).map_err(DumpStreamError::Rows)?;
            }
        }
        let key_rows = sqlx::query(
            "SELECT k.id, k.key_hash, k.role, k.username, k.realm, k.description, k.created_at, \
             k.expires_at, k.revoked_at, k.owner_id, u.username AS owner_name FROM api_keys k \
             LEFT JOIN users u ON u.id = k.owner_id ORDER BY k.created_at, k.id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut api_keys = Vec::with_capacity(key_rows.len());
        for row in key_rows {
            api_keys.push(ApiKeyRow {
                key: crate::api_keys::from_row(&row)?,
                key_hash: row.try_get("key_hash")?,
                owner_name: row.try_get("owner_name")?,
            });
        }
        let rows = sqlx::query(crate::policies::SELECT_ALL)
            .fetch_all(&mut *tx)
            .await?;
        let policies = rows
            .iter()
            .map(crate::policies::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        tx.rollback().await?;
        Ok(DumpSnapshot {
            api_keys,
            policies,
            ..DumpSnapshot::default()
        })
    }
}

/// What [`Store::dump_lookup`] found.
#[derive(Clone, Debug, Default)]
pub struct LoadLookup {
    pub users: Vec<User>,
    pub tokens: Vec<Token>,
    pub api_key_ids: Vec<String>,
}

/// How many values one `IN (…)` list of [`Store::dump_lookup`] binds.
const LOOKUP_CHUNK: usize = 500;

/// `SELECT … WHERE column IN ($1, …)` over `values` in chunks, each row through `each`.
async fn select_in(
    tx: &mut AnyConnection,
    select: &str,
    column: &str,
    values: &[String],
    mut each: impl FnMut(&sqlx::any::AnyRow) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for chunk in values.chunks(LOOKUP_CHUNK) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("{select} WHERE {column} IN ({})", marks.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        for v in chunk {
            query = query.bind(v.as_str());
        }
        for row in query.fetch_all(&mut *tx).await? {
            each(&row)?;
        }
    }
    Ok(())
}

impl Store {
    /// The users (by username key), tokens (by serial) and API keys (by id) a load names, as
    /// of one moment — what `loaddata` must know of the database without reading all of it.
    /// Tokens come without their realms.
    pub async fn dump_lookup(
        &self,
        user_keys: &[String],
        serials: &[String],
        key_ids: &[String],
    ) -> Result<LoadLookup, StoreError> {
        let mut tx = crate::snapshot::begin_snapshot(self).await?;
        let mut found = LoadLookup::default();
        let users = select_users!("");
        select_in(&mut tx, users, "username_key", user_keys, |row| {
            found.users.push(user_from_row(row)?);
            Ok(())
        })
        .await?;
        select_in(&mut tx, TOKEN_SELECT, "t.serial", serials, |row| {
            found.tokens.push(crate::tokens::from_row(row)?);
            Ok(())
        })
        .await?;
        let mut ids = Vec::new();
        select_in(&mut tx, "SELECT id FROM api_keys", "id", key_ids, |row| {
            ids.push(row.try_get::<String, _>("id")?);
            Ok(())
        })
        .await?;
        tx.rollback().await?;
        found.api_key_ids = ids;
        Ok(found)
    }
}

/// What a dump restores of a new user beyond its editable record.
#[derive(Clone, Copy, Debug)]
pub struct UserExtras<'a> {
    /// The stored password hash, as given (any supported scheme).
    pub password_hash: &'a str,
    /// Exactly these roles: a user made by a load is not the installation's first account,
    /// which would make it superuser.
    pub roles: &'a Roles,
    /// The integer id, kept when given and free (the id counter never hands it out again).
    pub num: Option<i64>,
    pub last_login: Option<i64>,
}

/// Sets a freshly inserted user's [`UserExtras`].
pub(crate) async fn restore_user_extras(
    conn: &mut AnyConnection,
    user_id: &UserId,
    extras: &UserExtras<'_>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET password_hash = $1, last_login = $2, roles = $3 WHERE id = $4")
        .bind(extras.password_hash)
        .bind(extras.last_login)
        .bind(extras.roles.to_db())
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    let num = extras.num;
    let Some(num) = num.filter(|n| *n > 0) else {
        return Ok(());
    };
    let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE num = $1")
        .bind(num)
        .fetch_optional(&mut *conn)
        .await?;
    if taken.is_some() {
        return Ok(());
    }
    sqlx::query("UPDATE users SET num = $1 WHERE id = $2")
        .bind(num)
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query(
            "SELECT setval('users_num_seq', GREATEST((SELECT last_value FROM users_num_seq), $1))",
        )
        .bind(num)
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query("UPDATE user_num_counter SET last = MAX(last, $1)")
            .bind(num)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Inserts a token with every column as given (id, sealed values, counters, validity, times)
/// and its realms. A taken serial or id is a conflict naming the serial.
pub(crate) async fn insert_token_row(
    conn: &mut AnyConnection,
    t: &Token,
) -> Result<(), StoreError> {
    let taken: Option<String> =
        sqlx::query_scalar("SELECT serial FROM tokens WHERE serial = $1 OR id = $2")
            .bind(t.serial.as_str())
            .bind(&t.id)
            .fetch_optional(&mut *conn)
            .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!("token {:?}", t.serial)));
    }
    sqlx::query(
        "INSERT INTO tokens (id, serial, token_type, description, owner_id, active, seed_sealed, \
         pin_hash, userpin_sealed, sopin_sealed, otplen, hashlib, counter, time_step, time_window, \
         time_shift, sync_window, count_window, fail_count, max_fail, count_auth, count_auth_max, \
         count_auth_success, count_auth_success_max, validity_start, validity_end, last_auth, \
         info, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)",
    )
    .bind(&t.id)
    .bind(t.serial.as_str())
    .bind(&t.token_type)
    .bind(&t.description)
    .bind(t.owner_id.as_deref())
    .bind(i64::from(t.active))
    .bind(&t.seed_sealed)
    .bind(&t.pin_hash)
    .bind(&t.userpin_sealed)
    .bind(&t.sopin_sealed)
    .bind(t.otplen)
    .bind(&t.hashlib)
    .bind(t.counter)
    .bind(t.time_step)
    .bind(t.time_window)
    .bind(t.time_shift)
    .bind(t.sync_window)
    .bind(t.count_window)
    .bind(t.fail_count)
    .bind(t.max_fail)
    .bind(t.count_auth)
    .bind(t.count_auth_max)
    .bind(t.count_auth_success)
    .bind(t.count_auth_success_max)
    .bind(t.validity_start)
    .bind(t.validity_end)
    .bind(t.last_auth)
    .bind(serde_json::Value::Object(t.info.clone()).to_string())
    .bind(t.created_at)
    .bind(t.updated_at)
    .execute(&mut *conn)
    .await?;
    for realm in &t.realms {
        sqlx::query("INSERT INTO token_realms (token_id, realm) VALUES ($1, $2)")
            .bind(&t.id)
            .bind(realm.to_lowercase())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Inserts an API key (or, when its id exists, replaces every column of it) with its stored
/// hash. A hash already used by another key is a conflict naming the key id.
pub(crate) async fn upsert_api_key_row(
    conn: &mut AnyConnection,
    row: &ApiKeyRow,
) -> Result<(), StoreError> {
    let k = &row.key;
    let other: Option<String> =
        sqlx::query_scalar("SELECT id FROM api_keys WHERE key_hash = $1 AND id <> $2")
            .bind(&row.key_hash)
            .bind(k.id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    if other.is_some() {
        return Err(StoreError::Conflict(format!(
            "API key {:?} (its hash belongs to another key)",
            k.id.as_str()
        )));
    }
    sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(k.id.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO api_keys (id, key_hash, role, username, realm, description, created_at, \
         expires_at, revoked_at, owner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(k.id.as_str())
    .bind(&row.key_hash)
    .bind(&k.role)
    .bind(k.username.as_str())
    .bind(&k.realm)
    .bind(&k.description)
    .bind(k.created_at)
    .bind(k.expires_at)
    .bind(k.revoked_at)
    .bind(k.owner_id.as_ref().map(UserId::as_str))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl WriteTx {
    /// See [`restore_user_extras`].
    pub async fn restore_user_extras(
        &mut self,
        user_id: &UserId,
        extras: &UserExtras<'_>,
    ) -> Result<(), StoreError> {
        restore_user_extras(self.conn(), user_id, extras).await
    }

    /// See [`insert_token_row`].
    pub async fn insert_token_row(&mut self, t: &Token) -> Result<(), StoreError> {
        insert_token_row(self.conn(), t).await
    }

    /// See [`upsert_api_key_row`].
    pub async fn upsert_api_key_row(&mut self, row: &ApiKeyRow) -> Result<(), StoreError> {
        upsert_api_key_row(self.conn(), row).await
    }
}
