//! User editing with the full user object (issue 8; SFTPGo's REST user, seed 004): `add-user`,
//! `update-user`, `get-user`, `get-users`, `delete-user`, plus `changepassword` (the signed-in
//! account's own) and `resetpassword` (an operator's). The REST routes `/api/v1/user…` run these.
//! A user is named by its integer id or its name ([`find_user_ref`]). Changing a password ends
//! the user's other sessions. Audit rows name the changed fields, never their values.

use clap::Parser;
use keyward_core::user::{Role, normalize_username, username_key, validate_password};
use keyward_proto::user_check::validate_user_input;
use keyward_proto::{
    DEFAULT_USERS_PAGE, MAX_USERS_PAGE, SessionId, StatusMessage, User as UserObject, Username,
};
use keyward_store::StoreError;
use keyward_store::user_edit::UserPage;
use keyward_store::users::{NewUser, User};
use serde_json::json;

use crate::access::{ADMINS, Access, Principal, TOKEN_OPERATORS, TOKEN_READERS, Target, Targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::user_flags::UserFlags;
use crate::user_object::{apply_input, changed_fields, invalid, object_json, to_object};
use crate::users::no_such_user;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "add-user",
            "Create a user with the full user object (SFTPGo fields); prints the object",
            adduser,
        )
        .mutating()
        .example("add-user test_username --password test_pwd --home-dir /tmp/test_home_dir --uid 33 --gid 1000 --max-sessions 2 --quota-files 3 --permissions list download --status 1")
        .example("add-user carol --email carol@example.com --password carolPassword")
        .new_secret("password")
        .allow(Access::Roles(ADMINS)),
        command(
            "update-user",
            "Change fields of a user (by id or name): only the fields given change",
            updateuser,
        )
        .mutating()
        .example("update-user 9576 --status 1 --expiration-date 2029-12-31 --allowed-ip 192.168.1.0/24")
        .example("update-user carol --max-sessions 3 --disconnect")
        .new_secret("password")
        .allow(Access::Roles(ADMINS)),
        command("get-user", "Show a user object by id or name", getuser)
            .example("get-user 9576")
            .example("get-user carol")
            .allow(Access::Roles(TOKEN_READERS)),
        command(
            "get-users",
            "List user objects, paged in the database (--limit at most 500)",
            getusers,
        )
        .example("get-users --limit 10 --offset 0 --order DESC")
        .example("get-users --username carol")
        .allow(Access::Roles(TOKEN_READERS)),
        command("delete-user", "Delete a user by id or name", deleteuser)
            .mutating()
            .example("delete-user 9576")
            .allow(Access::Roles(ADMINS)),
        command(
            "changepassword",
            "Change the signed-in account's own password (current and new); other sessions end",
            changepassword,
        )
        .mutating()
        .example("changepassword --current-password oldSecret1 --new-password newSecret12")
        .secret("current_password")
        .new_secret("new_password")
        .allow(Access::Authenticated),
        command(
            "resetpassword",
            "Set a new password for a user (operators); the user's sessions end",
            resetpassword,
        )
        .mutating()
        .example("resetpassword carol --password newSecret12")
        .new_secret("password")
        .allow(Access::Roles(TOKEN_OPERATORS)),
    ]
}

/// The shortest password the settings allow.
fn min_len(ctx: &Ctx) -> usize {
    ctx.settings().password_min_length as usize
}

/// The user a REST `{id}` or a command's USER names: the integer id when it is all digits and
/// such a user exists, else the username.
pub async fn find_user_ref(ctx: &Ctx, r: &str) -> Result<Option<User>, CommandError> {
    let r = r.trim();
    if !r.is_empty()
        && r.len() <= 18
        && r.bytes().all(|b| b.is_ascii_digit())
        && let Ok(num) = r.parse::<i64>()
        && let Some(u) = ctx.store().find_user_by_num(num).await?
    {
        return Ok(Some(u));
    }
    if r.is_empty() {
        return Ok(None);
    }
    crate::users::find_named_user(ctx, r).await
}

async fn load_ref(ctx: &Ctx, r: &str) -> Result<User, CommandError> {
    let shown: String = r.chars().take(150).collect();
    find_user_ref(ctx, r)
        .await?
        .ok_or_else(|| no_such_user(&shown))
}

fn role_targets(roles: Vec<String>) -> impl Iterator<Item = Target> {
    roles
        .into_iter()
        .filter_map(|r| r.parse::<Role>().ok())
        .map(Target::Role)
}

fn superuser_conflict(e: StoreError, who: &str) -> CommandError {
    match e {
        StoreError::LastSuperuser(_) => {
            CommandError::Conflict(format!("refused: \"{who}\" is the last active superuser"))
        }
        other => other.into(),
    }
}

fn status_output(message: &str, audit: String) -> Output {
    let body = StatusMessage::ok(message);
    Output::new(message, serde_json::to_value(body).unwrap_or_default()).with_audit(audit)
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

#[derive(Parser)]
struct AddUserArgs {
    username: String,
    #[command(flatten)]
    flags: UserFlags,
}

impl Targets for AddUserArgs {
    fn targets(&self) -> Vec<Target> {
        std::iter::once(Target::User(self.username.clone()))
            .chain(role_targets(self.flags.roles_named()))
            .collect()
    }
}

async fn adduser(ctx: Ctx, a: AddUserArgs) -> Result<Output, CommandError> {
    let mut input = a.flags.to_input(&UserObject::default())?;
    if let Some(u) = &input.username
        && username_key(u) != username_key(&a.username)
    {
        return Err(CommandError::invalid_field(
            "username",
            "differs from the USERNAME argument",
        ));
    }
    input.username = Some(a.username.clone());
    validate_user_input(&input, true).map_err(invalid)?;
    let username =
        normalize_username(&a.username).map_err(|e| CommandError::invalid_field("username", e))?;
    let password = input.password.clone().unwrap_or_default();
    validate_password(&password, min_len(&ctx))
        .map_err(|e| CommandError::invalid_field("password", e))?;
    if ctx
        .store()
        .find_user(&Username::from(username.as_str()))
        .await?
        .is_some()
    {
        return Err(CommandError::Conflict(format!(
            "user \"{username}\" already exists"
        )));
    }
    let hash = ctx
        .shared
        .hashing
        .hash(&password, ctx.settings().argon2_params())
        .await?;
    let mut tx = ctx.begin_change().await?;
    let mut user = tx
        .create_user(&NewUser {
            username: &username,
            password_hash: &hash,
            email: "",
            now: ctx.now(),
            may_be_first: !matches!(ctx.principal, Principal::Anonymous),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                CommandError::Conflict(format!("user \"{username}\" already exists"))
            }
            other => other.into(),
        })?;
    let first = user.roles.clone();
    apply_input(&ctx, &mut user, &input).await?;
    // The first account stays superuser whatever roles were asked for besides.
    for role in first.iter() {
        user.roles.insert(role);
    }
    tx.update_user_record(&user, ctx.now())
        .await
        .map_err(|e| superuser_conflict(e, &username))?;
    let json = object_json(&user);
    let fields = changed_fields(&input);
    let details = format!("created; fields: {}", fields.join(","));
    ctx.commit_output(tx, Output::new(pretty(&json), json).with_audit(details))
        .await
}

#[derive(Parser)]
struct UpdateUserArgs {
    /// The user: its integer id or its name.
    user: String,
    /// Also end the user's sessions (connections).
    #[arg(long)]
    disconnect: bool,
    #[command(flatten)]
    flags: UserFlags,
}

impl Targets for UpdateUserArgs {
    fn targets(&self) -> Vec<Target> {
        std::iter::once(Target::UserRef(self.user.clone()))
            .chain(role_targets(self.flags.roles_named()))
            .collect()
    }
}

/// The session to keep when a password changes: the caller's own, if it is this user's.
fn own_session(ctx: &Ctx, user: &User) -> Option<SessionId> {
    match &ctx.principal {
        Principal::Account {
            username,
            session: Some(s),
            ..
        } if username_key(username) == username_key(&user.username) => Some(s.clone()),
        _ => None,
    }
}

async fn updateuser(ctx: Ctx, a: UpdateUserArgs) -> Result<Output, CommandError> {
    let mut user = load_ref(&ctx, &a.user).await?;
    let input = a.flags.to_input(&to_object(&user))?;
    if let Some(u) = &input.username
        && username_key(u) != username_key(&user.username)
    {
        return Err(CommandError::invalid_field(
            "username",
            format!(
                "cannot be changed (user {} is \"{}\")",
                user.num, user.username
            ),
        ));
    }
    validate_user_input(&input, false).map_err(invalid)?;
    let hash = match &input.password {
        Some(p) => {
            validate_password(p, min_len(&ctx))
                .map_err(|e| CommandError::invalid_field("password", e))?;
            Some(
                ctx.shared
                    .hashing
                    .hash(p, ctx.settings().argon2_params())
                    .await?,
            )
        }
        None => None,
    };
    apply_input(&ctx, &mut user, &input).await?;
    let mut tx = ctx.begin_change().await?;
    if !tx
        .update_user_record(&user, ctx.now())
        .await
        .map_err(|e| superuser_conflict(e, &user.username))?
    {
        return Err(no_such_user(&user.username));
    }
    let mut ended = 0;
    if let Some(hash) = &hash {
        let keep = own_session(&ctx, &user);
        ended += tx
            .set_password(&user.id, hash, keep.as_ref(), ctx.now())
            .await?;
    }
    if a.disconnect {
        ended += tx.delete_user_sessions(&user.id).await?;
    }
    let fields = changed_fields(&input);
    let mut details = format!("user {}; changed: {}", user.num, fields.join(","));
    if ended > 0 || a.disconnect {
        details.push_str(&format!("; {ended} sessions ended"));
    }
    ctx.commit_output(tx, status_output("User updated", details))
        .await
}

#[derive(Parser)]
struct UserRefArg {
    /// The user: its integer id or its name.
    user: String,
}

crate::target_field!(UserRefArg => UserRef(user));

async fn getuser(ctx: Ctx, a: UserRefArg) -> Result<Output, CommandError> {
    let user = load_ref(&ctx, &a.user).await?;
    let json = object_json(&user);
    Ok(Output::new(pretty(&json), json))
}

#[derive(Parser)]
struct GetUsersArgs {
    /// Users per page, 1–500 (default 100).
    #[arg(long)]
    limit: Option<u32>,
    /// Users to skip.
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Only the user of exactly this name.
    #[arg(long)]
    username: Option<String>,
    /// ASC or DESC (by username).
    #[arg(long, default_value = "ASC")]
    order: String,
}

crate::no_targets!(GetUsersArgs, PasswordChangeArgs);

async fn getusers(ctx: Ctx, a: GetUsersArgs) -> Result<Output, CommandError> {
    let limit = a.limit.unwrap_or(DEFAULT_USERS_PAGE);
    if !(1..=MAX_USERS_PAGE).contains(&limit) {
        return Err(CommandError::invalid_field(
            "limit",
            format!("must be 1 to {MAX_USERS_PAGE}, not {limit}"),
        ));
    }
    let descending = match a.order.to_ascii_uppercase().as_str() {
        "ASC" => false,
        "DESC" => true,
        _ => {
            return Err(CommandError::invalid_field("order", "must be ASC or DESC"));
        }
    };
    let offset =
        i64::try_from(a.offset).map_err(|_| CommandError::invalid_field("offset", "too large"))?;
    let username = a.username.as_deref().filter(|u| !u.is_empty());
    let users = ctx
        .store()
        .list_users_page(&UserPage {
            offset,
            limit: i64::from(limit),
            username,
            descending,
        })
        .await?;
    let json = serde_json::Value::Array(users.iter().map(object_json).collect());
    Ok(Output::new(pretty(&json), json))
}

async fn deleteuser(ctx: Ctx, a: UserRefArg) -> Result<Output, CommandError> {
    let user = load_ref(&ctx, &a.user).await?;
    let mut tx = ctx.begin_change().await?;
    if !tx
        .delete_user(&user.username)
        .await
        .map_err(|e| superuser_conflict(e, &user.username))?
    {
        return Err(no_such_user(&user.username));
    }
    let details = format!("user {} ({})", user.num, user.username);
    ctx.commit_output(tx, status_output("User deleted", details))
        .await
}

#[derive(Parser)]
struct PasswordChangeArgs {
    /// The password the account has now.
    #[arg(long)]
    current_password: Option<String>,
    /// The new password.
    #[arg(long)]
    new_password: Option<String>,
}

fn required<'a>(name: &str, v: &'a Option<String>) -> Result<&'a str, CommandError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CommandError::invalid_field(name, "required"))
}

async fn changepassword(ctx: Ctx, a: PasswordChangeArgs) -> Result<Output, CommandError> {
    let Principal::Account { username, .. } = &ctx.principal else {
        return Err(CommandError::Invalid(
            "changepassword changes a signed-in account's own password; operators use \
             resetpassword USER"
                .into(),
        ));
    };
    let current = required("current_password", &a.current_password)?;
    let new = required("new_password", &a.new_password)?;
    validate_password(new, min_len(&ctx))
        .map_err(|e| CommandError::invalid_field("new_password", e))?;
    let user = ctx
        .store()
        .find_user(username)
        .await?
        .ok_or_else(|| CommandError::Invalid("this caller is no user account".into()))?;
    if !crate::realms::source_of_user(&ctx, &user)
        .await?
        .is_internal()
    {
        return Err(CommandError::Invalid(
            "this account's password lives in its directory (LDAP or passwd file); change it \
             there"
                .into(),
        ));
    }
    let client = ctx.client.parse().ok();
    if !crate::policies::enforce::user_may(&ctx, &user, "password", client).await? {
        return Err(CommandError::Forbidden(
            "no user policy allows you to change your password".into(),
        ));
    }
    let ok = ctx
        .shared
        .hashing
        .verify(current, &user.password_hash)
        .await?
        .unwrap_or(false);
    if !ok {
        return Err(CommandError::Forbidden(
            "current_password: wrong password".into(),
        ));
    }
    let hash = ctx
        .shared
        .hashing
        .hash(new, ctx.settings().argon2_params())
        .await?;
    let keep = own_session(&ctx, &user);
    let mut tx = ctx.begin_change().await?;
    let ended = tx
        .set_password(&user.id, &hash, keep.as_ref(), ctx.now())
        .await?;
    let details = format!("own password; {ended} other sessions ended");
    ctx.commit_output(tx, status_output("Password changed", details))
        .await
}

#[derive(Parser)]
struct ResetPasswordArgs {
    /// The user: its integer id or its name.
    user: String,
    /// The new password.
    #[arg(long)]
    password: Option<String>,
}

crate::target_field!(ResetPasswordArgs => UserRef(user));

async fn resetpassword(ctx: Ctx, a: ResetPasswordArgs) -> Result<Output, CommandError> {
    let user = load_ref(&ctx, &a.user).await?;
    let password = required("password", &a.password)?;
    validate_password(password, min_len(&ctx))
        .map_err(|e| CommandError::invalid_field("password", e))?;
    let hash = ctx
        .shared
        .hashing
        .hash(password, ctx.settings().argon2_params())
        .await?;
    let mut tx = ctx.begin_change().await?;
    let ended = tx.set_password(&user.id, &hash, None, ctx.now()).await?;
    let out = Output::new(
        format!(
            "Password of user \"{}\" reset; {ended} sessions ended",
            user.username
        ),
        json!({ "username": user.username, "id": user.num, "sessions_ended": ended }),
    )
    .with_audit(format!("{ended} sessions ended"));
    ctx.commit_output(tx, out).await
}
