//! The `users` table: the full user record (SFTPGo-style) with case-insensitively unique names.

use keyward_core::user::{Role, Roles, username_key, username_skeleton};
use keyward_proto::{UserId, Username};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::columns::Columns;
use crate::{Store, StoreError, flag, json_list};

/// One user as stored.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: UserId,
    /// The stable integer id (SFTPGo's `id`), assigned at creation and never reused.
    pub num: i64,
    pub username: Username,
    #[serde(skip)]
    pub password_hash: String,
    pub email: String,
    pub email_verified: bool,
    pub active: bool,
    pub roles: Roles,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_login: Option<i64>,
    pub expires_at: Option<i64>,
    pub allowed_networks: Vec<String>,
    pub denied_networks: Vec<String>,
    pub denied_login_methods: Vec<String>,
    pub max_sessions: i64,
    pub description: String,
    pub resource_profile: serde_json::Value,
}

/// What is needed to insert a user.
#[derive(Clone, Debug)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub email: &'a str,
    pub now: i64,
    /// Whether this may be the first account (which becomes superuser): only at the console or
    /// by an operator, never by anonymous self-registration.
    pub may_be_first: bool,
}

pub(crate) fn from_row(row: &impl Columns) -> Result<User, StoreError> {
    let profile = row.text("resource_profile")?;
    Ok(User {
        id: UserId::new(row.text("id")?),
        num: row.int("num")?,
        username: Username::new(row.text("username")?),
        password_hash: row.text("password_hash")?,
        email: row.text("email")?,
        email_verified: flag(row.int("email_verified")?),
        active: flag(row.int("active")?),
        roles: Roles::from_db(&row.text("roles")?),
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        last_login: row.opt_int("last_login")?,
        expires_at: row.opt_int("expires_at")?,
        allowed_networks: json_list(&row.text("allowed_networks")?, "allowed_networks")?,
        denied_networks: json_list(&row.text("denied_networks")?, "denied_networks")?,
        denied_login_methods: json_list(
            &row.text("denied_login_methods")?,
            "denied_login_methods",
        )?,
        max_sessions: row.int("max_sessions")?,
        description: row.text("description")?,
        resource_profile: serde_json::from_str(&profile)
            .map_err(|_| StoreError::Corrupt("resource_profile is not JSON".into()))?,
    })
}

/// The refusal of a name whose skeleton matches an existing user's (the other name is not said).
fn lookalike(username: &str) -> StoreError {
    StoreError::LookAlike(format!("user {username:?}"))
}

macro_rules! select_users {
    ($tail:literal) => {
        concat!(
            "SELECT id, num, username, password_hash, email, email_verified, active, roles, created_at, \
             updated_at, last_login, expires_at, allowed_networks, denied_networks, denied_login_methods, \
             max_sessions, description, resource_profile FROM users ",
            $tail
        )
    };
}

pub(crate) use select_users;

impl Store {
    /// Looks a user up by name, case-insensitively.
    pub async fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        if let Some(path) = &self.sqlite_file {
            let users = crate::native_read::query_map(
                path,
                select_users!("WHERE username_key = $1"),
                [username_key(username.as_str())],
                |r| from_row(r),
            )?;
            return Ok(users.into_iter().next());
        }
        let row = sqlx::query(select_users!("WHERE username_key = $1"))
            .bind(username_key(username.as_str()))
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Like [`Store::find_user`] but a missing user is an error.
    pub async fn get_user(&self, username: &Username) -> Result<User, StoreError> {
        self.find_user(username)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {username:?}")))
    }

    pub async fn get_user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(select_users!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// One page of users ordered by name, keyset-paginated after `after` (a username key).
    pub async fn list_users(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_users!(
            "WHERE username_key > $1 ORDER BY username_key LIMIT $2"
        ))
        .bind(after.map(username_key).unwrap_or_default())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Users whose name matches a LIKE pattern (`%` any run, `_` one character), ordered by
    /// name, one page (`offset`, `limit`) — for LinOTP's `userlist`.
    pub async fn search_users(
        &self,
        pattern: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_users!(
            "WHERE username_key LIKE $1 ESCAPE '\\' ORDER BY username_key LIMIT $2 OFFSET $3"
        ))
        .bind(pattern.to_lowercase())
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.pool())
            .await?)
    }

    pub async fn set_password_hash(
        &self,
        user_id: &UserId,
        hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now)
            .bind(user_id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn record_login(&self, user_id: &UserId, now: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_login = $1 WHERE id = $2")
            .bind(now)
            .bind(user_id.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Active users whose last activity (last login, or creation when they never logged in) is
    /// older than `cutoff`.
    pub async fn inactive_users(&self, cutoff: i64) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(select_users!(
            "WHERE active = 1 AND COALESCE(last_login, created_at) < $1 ORDER BY username_key"
        ))
        .bind(cutoff)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// How many active superusers exist.
    pub async fn count_active_superusers(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE active = 1 AND roles LIKE '%superuser%'",
        )
        .fetch_one(self.pool())
        .await?)
    }
}

/// Arbitrary constant naming the advisory lock that serialises changes to superusers on
/// PostgreSQL (on SQLite, `BEGIN IMMEDIATE` already serialises writers).
const PG_SUPERUSER_LOCK: i64 = 0x006b_7773_7570_6572;

/// Takes the superuser lock (PostgreSQL) at the start of a transaction that may remove one.
async fn lock_superusers(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_SUPERUSER_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// How many active superusers there are (within the transaction).
async fn active_superusers(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE active = 1 AND roles LIKE '%superuser%'",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Takes the superuser lock (PostgreSQL) and counts the active superusers before a change.
pub(crate) async fn superusers_before(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    lock_superusers(conn).await?;
    active_superusers(conn).await
}

/// Refuses (before commit) a change that took the number of active superusers to zero.
pub(crate) async fn ensure_a_superuser_remains(
    conn: &mut AnyConnection,
    before: i64,
    who: &str,
) -> Result<(), StoreError> {
    if before > 0 && active_superusers(conn).await? == 0 {
        return Err(StoreError::LastSuperuser(format!("{who:?}")));
    }
    Ok(())
}

impl Store {
    /// Fills the look-alike skeleton of users made before it existed (or inserted by other
    /// means). A name that looks like another user's keeps none and is logged: both stay usable,
    /// and no new look-alike of either can be created.
    pub(crate) async fn backfill_username_skeletons(&self) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT id, username FROM users WHERE username_skeleton IS NULL")
            .fetch_all(self.pool())
            .await?;
        for row in rows {
            let id: String = row.try_get("id")?;
            let name: String = row.try_get("username")?;
            let done = sqlx::query(
                "UPDATE users SET username_skeleton = $1 WHERE id = $2 AND username_skeleton IS NULL",
            )
            .bind(username_skeleton(&name))
            .bind(&id)
            .execute(self.pool())
            .await
            .map_err(StoreError::from);
            match done {
                Err(e) if e.is_unique_violation() => {
                    tracing::warn!(user = %name, "username looks like another user's");
                }
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }
}

/// Inserts a user. The very first user of the installation becomes superuser (Deis rule):
/// decided inside the same write transaction, so two concurrent first users cannot both win.
pub(crate) async fn create_user(
    conn: &mut AnyConnection,
    new: &NewUser<'_>,
) -> Result<User, StoreError> {
    // Whether any user exists (not how many: a count is a scan, and loads create many users).
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) u")
        .fetch_one(&mut *conn)
        .await?;
    let key = username_key(new.username);
    let skeleton = username_skeleton(new.username);
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT username_key FROM users WHERE username_key = $1 OR username_skeleton = $2",
    )
    .bind(&key)
    .bind(&skeleton)
    .fetch_all(&mut *conn)
    .await?;
    if taken.contains(&key) {
        return Err(StoreError::Conflict(format!("user {:?}", new.username)));
    }
    if !taken.is_empty() {
        return Err(lookalike(new.username));
    }
    if existing == 0 && !new.may_be_first {
        return Err(StoreError::FirstUserAtConsole);
    }
    let roles = if existing == 0 { "superuser" } else { "" };
    let id = uuid::Uuid::new_v4().to_string();
    let inserted = sqlx::query(
        "INSERT INTO users (id, username, username_key, username_skeleton, password_hash, email, \
         roles, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(new.username)
    .bind(&key)
    .bind(&skeleton)
    .bind(new.password_hash)
    .bind(new.email)
    .bind(roles)
    .bind(new.now)
    .execute(&mut *conn)
    .await;
    match inserted.map_err(StoreError::from) {
        Err(e) if e.is_unique_violation() => {
            // A concurrent create of the same or a look-alike name won the unique index.
            // (Which index refused it is only in the message on both engines.)
            return Err(if e.to_string().contains("username_skeleton") {
                lookalike(new.username)
            } else {
                StoreError::Conflict(format!("user {:?}", new.username))
            });
        }
        other => {
            other?;
        }
    }
    let row = sqlx::query(select_users!("WHERE id = $1"))
        .bind(&id)
        .fetch_one(&mut *conn)
        .await?;
    let user = from_row(&row)?;
    Ok(user)
}

/// Deletes a user (sessions go with it by cascade). Returns whether it existed.
pub(crate) async fn delete_user(
    conn: &mut AnyConnection,
    username: &Username,
) -> Result<bool, StoreError> {
    let before = superusers_before(conn).await?;
    let key = username_key(username);
    // Explicit, so SQLite connections without foreign_keys cannot leave orphans.
    sqlx::query(
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username_key = $1)",
    )
    .bind(&key)
    .execute(&mut *conn)
    .await?;
    // Its API keys go with it (the foreign key cascades too; explicit for the same reason).
    sqlx::query(
        "DELETE FROM api_keys WHERE owner_id IN (SELECT id FROM users WHERE username_key = $1)",
    )
    .bind(&key)
    .execute(&mut *conn)
    .await?;
    // The user's tokens stay (an operator may re-assign them) but lose their owner.
    sqlx::query(
        "UPDATE tokens SET owner_id = NULL, pin_hash = '' \
         WHERE owner_id IN (SELECT id FROM users WHERE username_key = $1)",
    )
    .bind(&key)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query("DELETE FROM users WHERE username_key = $1")
        .bind(&key)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() > 0 {
        ensure_a_superuser_remains(conn, before, username).await?;
    }
    Ok(done.rows_affected() > 0)
}

/// Sets the active flag; ending sessions when disabling. Returns whether the user exists.
pub(crate) async fn set_user_active(
    conn: &mut AnyConnection,
    username: &Username,
    active: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let before = superusers_before(conn).await?;
    let key = username_key(username);
    let done = sqlx::query("UPDATE users SET active = $1, updated_at = $2 WHERE username_key = $3")
        .bind(i64::from(active))
        .bind(now)
        .bind(&key)
        .execute(&mut *conn)
        .await?;
    if !active {
        sqlx::query(
            "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username_key = $1)",
        )
        .bind(&key)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() > 0 {
            ensure_a_superuser_remains(conn, before, username).await?;
        }
    }
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn set_email_verified(
    conn: &mut AnyConnection,
    username: &Username,
    now: i64,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE users SET email_verified = 1, updated_at = $1 WHERE username_key = $2")
            .bind(now)
            .bind(username_key(username))
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

pub(crate) async fn set_roles(
    conn: &mut AnyConnection,
    user_id: &UserId,
    roles: &Roles,
    now: i64,
) -> Result<(), StoreError> {
    let before = superusers_before(conn).await?;
    sqlx::query("UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3")
        .bind(roles.to_db())
        .bind(now)
        .bind(user_id.as_str())
        .execute(&mut *conn)
        .await?;
    if !roles.contains(Role::Superuser) {
        ensure_a_superuser_remains(conn, before, user_id).await?;
    }
    Ok(())
}

/// Disables exactly the given users and ends their sessions, all in one transaction.
pub(crate) async fn disable_users(
    conn: &mut AnyConnection,
    ids: &[UserId],
    now: i64,
) -> Result<u64, StoreError> {
    let before = superusers_before(conn).await?;
    let mut n = 0;
    for id in ids {
        n += sqlx::query(
            "UPDATE users SET active = 0, updated_at = $1 WHERE id = $2 AND active = 1",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
    }
    ensure_a_superuser_remains(conn, before, "one of them").await?;
    Ok(n)
}
