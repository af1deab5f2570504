//! The `resolvers`, `realms` and `user_sources` tables: where users come from (a resolver's
//! settings as JSON, its bind password sealed by the caller), named ordered lists of resolvers
//! (one may be the default), and which resolver a local shadow user was synchronised from.

use keyward_core::user::username_key;
use keyward_proto::UserId;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::users::{User, select_users};
use crate::{Store, StoreError, flag, json_list};

/// A resolver as stored. `config` holds no secret; the bind password is in
/// `bind_password_sealed` (sealed under the enckey by the commands layer, "" when none).
#[derive(Clone, Debug, PartialEq)]
pub struct ResolverRow {
    pub name: String,
    pub kind: String,
    pub config: serde_json::Map<String, serde_json::Value>,
    pub bind_password_sealed: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A realm: its resolvers in the order they are asked.
#[derive(Clone, Debug, PartialEq)]
pub struct RealmRow {
    pub name: String,
    pub resolvers: Vec<String>,
    pub is_default: bool,
    pub created_at: i64,
}

/// What deleting a resolver did.
#[derive(Clone, Debug, PartialEq)]
pub enum ResolverDelete {
    Deleted,
    Missing,
    /// Still listed by this realm: nothing deleted.
    InUse(String),
}

fn resolver_from_row(row: &AnyRow) -> Result<ResolverRow, StoreError> {
    let config: String = row.try_get("config")?;
    let config = serde_json::from_str(&config)
        .map_err(|_| StoreError::Corrupt("a resolver's config is not a JSON object".into()))?;
    Ok(ResolverRow {
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        config,
        bind_password_sealed: row.try_get("bind_password_sealed")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn realm_from_row(row: &AnyRow) -> Result<RealmRow, StoreError> {
    Ok(RealmRow {
        name: row.try_get("name")?,
        resolvers: json_list(&row.try_get::<String, _>("resolvers")?, "realm resolvers")?,
        is_default: flag(row.try_get("is_default")?),
        created_at: row.try_get("created_at")?,
    })
}

const SELECT_RESOLVERS: &str = "SELECT name, kind, config, bind_password_sealed, created_at, \
     updated_at FROM resolvers";
const SELECT_REALMS: &str = "SELECT name, resolvers, is_default, created_at FROM realms";

impl Store {
    /// Every stored resolver, by name.
    pub async fn list_resolvers(&self) -> Result<Vec<ResolverRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_RESOLVERS} ORDER BY name"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(resolver_from_row).collect()
    }

    /// One resolver by its (lower-case) name.
    pub async fn get_resolver(&self, name: &str) -> Result<Option<ResolverRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_RESOLVERS} WHERE name = $1"
        )))
        .bind(name.to_lowercase())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(resolver_from_row).transpose()
    }

    /// Every realm, by name.
    pub async fn list_realms(&self) -> Result<Vec<RealmRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_REALMS} ORDER BY name"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(realm_from_row).collect()
    }

    /// One realm by its (lower-case) name.
    pub async fn get_realm(&self, name: &str) -> Result<Option<RealmRow>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_REALMS} WHERE name = $1"
        )))
        .bind(name.to_lowercase())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(realm_from_row).transpose()
    }

    /// The resolver a local user was synchronised from, with its id there (`None`: an
    /// internal user).
    pub async fn user_source(&self, id: &UserId) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query("SELECT resolver, external_id FROM user_sources WHERE user_id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| Ok((r.try_get("resolver")?, r.try_get("external_id")?)))
            .transpose()
    }

    /// The local users synchronised from `resolver`, by name.
    pub async fn users_of_resolver(&self, resolver: &str) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_users!(
            "WHERE id IN (SELECT user_id FROM user_sources WHERE resolver = $1) \
             ORDER BY username_key"
        ))
        .bind(resolver)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(crate::users::from_row).collect()
    }

    /// The local user `username` when it belongs to `resolver` (`None` for `resolver`:
    /// an internal user, one without a source).
    pub async fn find_user_from(
        &self,
        username: &str,
        resolver: Option<&str>,
    ) -> Result<Option<User>, StoreError> {
        let key = username_key(username);
        let row = match resolver {
            Some(r) => {
                sqlx::query(select_users!(
                    "WHERE username_key = $1 AND id IN \
                     (SELECT user_id FROM user_sources WHERE resolver = $2)"
                ))
                .bind(key)
                .bind(r)
                .fetch_optional(self.pool())
                .await?
            }
            None => {
                sqlx::query(select_users!(
                    "WHERE username_key = $1 AND id NOT IN (SELECT user_id FROM user_sources)"
                ))
                .bind(key)
                .fetch_optional(self.pool())
                .await?
            }
        };
        row.as_ref().map(crate::users::from_row).transpose()
    }

    /// A page of internal users (no source) whose name matches the SQL LIKE `pattern`.
    pub async fn search_internal_users(
        &self,
        pattern: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_users!(
            "WHERE username_key LIKE $1 ESCAPE '\\' \
             AND id NOT IN (SELECT user_id FROM user_sources) \
             ORDER BY username_key LIMIT $2 OFFSET $3"
        ))
        .bind(pattern.to_lowercase())
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(crate::users::from_row).collect()
    }
}

pub(crate) async fn create_resolver(
    conn: &mut AnyConnection,
    r: &ResolverRow,
) -> Result<(), StoreError> {
    insert_resolver(conn, r, false).await
}

/// Inserts or replaces a resolver (loaddata).
pub(crate) async fn put_resolver(
    conn: &mut AnyConnection,
    r: &ResolverRow,
) -> Result<(), StoreError> {
    insert_resolver(conn, r, true).await
}

async fn insert_resolver(
    conn: &mut AnyConnection,
    r: &ResolverRow,
    replace: bool,
) -> Result<(), StoreError> {
    let config = serde_json::Value::Object(r.config.clone()).to_string();
    let conflict = if replace {
        "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, config = excluded.config, \
         bind_password_sealed = excluded.bind_password_sealed, updated_at = excluded.updated_at"
    } else {
        "ON CONFLICT (name) DO NOTHING"
    };
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO resolvers (name, kind, config, bind_password_sealed, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) {conflict}"
    )))
    .bind(r.name.to_lowercase())
    .bind(&r.kind)
    .bind(config)
    .bind(&r.bind_password_sealed)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!("resolver {:?}", r.name)));
    }
    Ok(())
}

pub(crate) async fn delete_resolver(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<ResolverDelete, StoreError> {
    let name = name.to_lowercase();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT_REALMS} ORDER BY name"
    )))
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let realm = realm_from_row(row)?;
        if realm.resolvers.contains(&name) {
            return Ok(ResolverDelete::InUse(realm.name));
        }
    }
    let done = sqlx::query("DELETE FROM resolvers WHERE name = $1")
        .bind(&name)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(ResolverDelete::Missing);
    }
    // Its shadow users stay (tokens and sessions hang on them) but become internal users
    // that cannot log in with a password (their stored hash is unusable).
    sqlx::query("DELETE FROM user_sources WHERE resolver = $1")
        .bind(&name)
        .execute(&mut *conn)
        .await?;
    Ok(ResolverDelete::Deleted)
}

/// Inserts a realm; a default realm takes the default from any other.
pub(crate) async fn create_realm(conn: &mut AnyConnection, r: &RealmRow) -> Result<(), StoreError> {
    insert_realm(conn, r, false).await
}

/// Inserts or replaces a realm (loaddata).
pub(crate) async fn put_realm(conn: &mut AnyConnection, r: &RealmRow) -> Result<(), StoreError> {
    insert_realm(conn, r, true).await
}

async fn insert_realm(
    conn: &mut AnyConnection,
    r: &RealmRow,
    replace: bool,
) -> Result<(), StoreError> {
    if r.is_default {
        sqlx::query("UPDATE realms SET is_default = 0 WHERE is_default <> 0")
            .execute(&mut *conn)
            .await?;
    }
    let list = serde_json::to_string(&r.resolvers)
        .map_err(|e| StoreError::Corrupt(format!("realm resolvers: {e}")))?;
    let conflict = if replace {
        "ON CONFLICT (name) DO UPDATE SET resolvers = excluded.resolvers, \
         is_default = excluded.is_default"
    } else {
        "ON CONFLICT (name) DO NOTHING"
    };
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO realms (name, resolvers, is_default, created_at) VALUES ($1, $2, $3, $4) \
         {conflict}"
    )))
    .bind(r.name.to_lowercase())
    .bind(list)
    .bind(i64::from(r.is_default))
    .bind(r.created_at)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!("realm {:?}", r.name)));
    }
    Ok(())
}

pub(crate) async fn delete_realm(conn: &mut AnyConnection, name: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM realms WHERE name = $1")
        .bind(name.to_lowercase())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Makes `name` the default realm (`None`: no default). False when no such realm.
pub(crate) async fn set_default_realm(
    conn: &mut AnyConnection,
    name: Option<&str>,
) -> Result<bool, StoreError> {
    if let Some(n) = name {
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM realms WHERE name = $1")
            .bind(n.to_lowercase())
            .fetch_one(&mut *conn)
            .await?;
        if exists == 0 {
            return Ok(false);
        }
    }
    sqlx::query("UPDATE realms SET is_default = 0 WHERE is_default <> 0")
        .execute(&mut *conn)
        .await?;
    if let Some(n) = name {
        sqlx::query("UPDATE realms SET is_default = 1 WHERE name = $1")
            .bind(n.to_lowercase())
            .execute(&mut *conn)
            .await?;
    }
    Ok(true)
}

/// Records (or moves) the source of a local user.
pub(crate) async fn set_user_source(
    conn: &mut AnyConnection,
    user_id: &UserId,
    resolver: &str,
    external_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO user_sources (user_id, resolver, external_id, synced_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
         resolver = excluded.resolver, external_id = excluded.external_id, \
         synced_at = excluded.synced_at",
    )
    .bind(user_id.as_str())
    .bind(resolver)
    .bind(external_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Sets a user's email (synchronised from its resolver); whether the user exists.
pub(crate) async fn set_user_email(
    conn: &mut AnyConnection,
    user_id: &UserId,
    email: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE users SET email = $1, updated_at = $2 WHERE id = $3")
        .bind(email)
        .bind(now)
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
