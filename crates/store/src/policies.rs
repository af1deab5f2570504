//! The `policies` table: one row per policy (see `keyward_core::policy`), its condition lists as
//! JSON arrays. Rows are written in canonical form and read back through
//! `Policy::from_draft`, so a row that no longer checks is reported as corrupt, never half used.

use keyward_core::policy::{Policy, PolicyDraft};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::{Store, StoreError, flag, json_list};

macro_rules! select_policies {
    ($tail:literal) => {
        concat!(
            "SELECT name, scope, action, realms, users, resolvers, clients, admin_users, ",
            "active, priority, description FROM policies ",
            $tail
        )
    };
}

/// Every policy, ordered by name.
pub(crate) const SELECT_ALL: &str = select_policies!("ORDER BY name");

pub(crate) fn from_row(row: &AnyRow) -> Result<Policy, StoreError> {
    let name: String = row.try_get("name")?;
    let list = |col: &str| -> Result<Vec<String>, StoreError> {
        json_list(&row.try_get::<String, _>(col)?, col)
    };
    let draft = PolicyDraft {
        scope: row.try_get("scope")?,
        action: row.try_get("action")?,
        realms: list("realms")?,
        users: list("users")?,
        resolvers: list("resolvers")?,
        clients: list("clients")?,
        admin_users: list("admin_users")?,
        active: flag(row.try_get("active")?),
        priority: row.try_get("priority")?,
        description: row.try_get("description")?,
        name: name.clone(),
    };
    Policy::from_draft(&draft).map_err(|e| StoreError::Corrupt(format!("policy {name}: {e}")))
}

impl Store {
    /// Every policy, ordered by name.
    pub async fn list_policies(&self) -> Result<Vec<Policy>, StoreError> {
        let rows = sqlx::query(SELECT_ALL).fetch_all(self.pool()).await?;
        rows.iter().map(from_row).collect()
    }

    /// One policy by name.
    pub async fn get_policy(&self, name: &str) -> Result<Option<Policy>, StoreError> {
        let row = sqlx::query(select_policies!("WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }
}

fn json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// Inserts a policy, or with `replace` overwrites one of the same name (keeping its creation
/// time). A taken name without `replace` is a conflict.
pub(crate) async fn put_policy(
    conn: &mut AnyConnection,
    p: &Policy,
    replace: bool,
    now: i64,
) -> Result<(), StoreError> {
    let d = p.to_draft();
    let sql = if replace {
        "INSERT INTO policies (name, scope, action, realms, users, resolvers, clients, \
         admin_users, active, priority, description, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
         ON CONFLICT (name) DO UPDATE SET scope = excluded.scope, action = excluded.action, \
         realms = excluded.realms, users = excluded.users, resolvers = excluded.resolvers, \
         clients = excluded.clients, admin_users = excluded.admin_users, \
         active = excluded.active, priority = excluded.priority, \
         description = excluded.description, updated_at = excluded.updated_at"
    } else {
        "INSERT INTO policies (name, scope, action, realms, users, resolvers, clients, \
         admin_users, active, priority, description, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
         ON CONFLICT (name) DO NOTHING"
    };
    let done = sqlx::query(sql)
        .bind(&d.name)
        .bind(&d.scope)
        .bind(&d.action)
        .bind(json(&d.realms))
        .bind(json(&d.users))
        .bind(json(&d.resolvers))
        .bind(json(&d.clients))
        .bind(json(&d.admin_users))
        .bind(i64::from(d.active))
        .bind(d.priority)
        .bind(&d.description)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!("policy \"{}\"", d.name)));
    }
    Ok(())
}

/// Sets a policy's active flag; false when no such policy.
pub(crate) async fn set_policy_active(
    conn: &mut AnyConnection,
    name: &str,
    active: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE policies SET active = $1, updated_at = $2 WHERE name = $3")
        .bind(i64::from(active))
        .bind(now)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes one policy; false when no such policy.
pub(crate) async fn delete_policy(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM policies WHERE name = $1")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes every policy; returns how many.
pub(crate) async fn delete_all_policies(conn: &mut AnyConnection) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM policies")
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}
