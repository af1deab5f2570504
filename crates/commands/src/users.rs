//! User lifecycle commands (Psono `manage.py`, seed 000): createuser, deleteuser, disableuser,
//! enableuser, verifyuseremail, promoteuser, demoteuser, disableinactiveusers, plus listusers and
//! showuser. Output wording follows Psono's where it is known.

use clap::Parser;
use keyward_core::user::{Role, normalize_username, validate_email, validate_password};
use keyward_proto::{UserId, Username};
use keyward_store::users::{NewUser, User};
use keyward_store::write_tx::WriteTx;
use serde_json::json;

use crate::access::{ADMINS, Access, TOKEN_READERS, Target, Targets, targets_of};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::timefmt::{rfc3339, rfc3339_opt};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "createuser",
            "Create a user with a username, password and email",
            createuser,
        )
        .mutating()
        .example("createuser alice alicePassword alice@example.com")
        .example("createuser bob@example.com bobPassword bob@example.com --show-password")
        .new_secret("password")
        .allow(Access::Roles(ADMINS)),
        command("deleteuser", "Delete a user", deleteuser)
            .mutating()
            .example("deleteuser alice")
            .allow(Access::Roles(ADMINS)),
        command(
            "disableuser",
            "Disable a user: no more logins, sessions end",
            disableuser,
        )
        .mutating()
        .example("disableuser alice")
        .allow(Access::Roles(ADMINS)),
        command("enableuser", "Enable a user again", enableuser)
            .mutating()
            .example("enableuser alice")
            .allow(Access::Roles(ADMINS)),
        command(
            "verifyuseremail",
            "Mark the email of a user as verified",
            verifyuseremail,
        )
        .mutating()
        .example("verifyuseremail alice")
        .allow(Access::Roles(ADMINS)),
        command(
            "promoteuser",
            "Grant a role (superuser, admin, helpdesk, auditor)",
            promoteuser,
        )
        .mutating()
        .example("promoteuser bob helpdesk")
        .allow(Access::Roles(ADMINS)),
        command("demoteuser", "Revoke a role", demoteuser)
            .mutating()
            .example("demoteuser bob helpdesk")
            .allow(Access::Roles(ADMINS)),
        command(
            "disableinactiveusers",
            "Disable users not logged in for SECONDS (--dry-run: only list them)",
            disableinactiveusers,
        )
        .mutating()
        .example("disableinactiveusers --dry-run 2592000")
        .example("disableinactiveusers 7776000")
        .allow(Access::Superuser),
        command("listusers", "List users", listusers)
            .example("listusers")
            .example("listusers --limit 50 --after alice --output csv")
            .lists()
            .allow(Access::Roles(TOKEN_READERS)),
        command("showuser", "Show one user's record", showuser)
            .example("showuser alice --json")
            .allow(Access::Roles(TOKEN_READERS)),
    ]
}

crate::target_field!(CreateUserArgs => User(username));

crate::target_field!(UsernameArg => User(username));

impl Targets for RoleArgs {
    fn targets(&self) -> Vec<Target> {
        let role = self.role.parse().ok().map(Target::Role);
        targets_of([Some(Target::User(self.username.clone())), role])
    }
}

crate::no_targets!(InactiveArgs, ListArgs);

/// Not-found error for a username.
pub(crate) fn no_such_user(username: &str) -> CommandError {
    CommandError::NotFound(format!("user \"{username}\" does not exist"))
}

pub(crate) async fn load_user(ctx: &Ctx, username: &str) -> Result<User, CommandError> {
    find_named_user(ctx, username)
        .await?
        .ok_or_else(|| no_such_user(username))
}

/// The user named `name` or `name@realm` (a name holding `@` is tried whole first; see
/// [`crate::realms::find_user`]); a realm that does not exist finds no one.
pub(crate) async fn find_named_user(ctx: &Ctx, spec: &str) -> Result<Option<User>, CommandError> {
    match crate::realms::find_user_only(ctx, spec).await {
        Ok(found) => Ok(found),
        Err(CommandError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn user_json(u: &User) -> serde_json::Value {
    serde_json::to_value(u).unwrap_or_default()
}

#[derive(Parser)]
struct CreateUserArgs {
    /// The new user's name (NFKC-normalised, unique case-insensitively).
    username: String,
    /// The password (at least password_min_length characters; leave it out to be prompted).
    password: String,
    /// The user's email address.
    email: String,
    /// Print the password in the confirmation instead of stars.
    #[arg(long)]
    show_password: bool,
}

async fn createuser(ctx: Ctx, a: CreateUserArgs) -> Result<Output, CommandError> {
    let (tx, user) = create_user_account(&ctx, &a.username, &a.password, &a.email).await?;
    let shown = if a.show_password {
        a.password.as_str()
    } else {
        "******"
    };
    let text = format!(
        "Created user \"{}\" with password \"{}\" and email \"{}\"",
        user.username, shown, user.email
    );
    let details = if user.roles.is_empty() {
        "created".to_string()
    } else {
        format!("created with roles {}", user.roles)
    };
    ctx.commit_change(tx, &details).await?;
    Ok(Output::new(text, user_json(&user)).with_audit(details))
}

/// Validates and creates a user (the first one becomes superuser): shared by `createuser` and
/// self-registration (`POST /auth/register`), so both apply the same rules. The user is made in
/// the returned transaction, which the caller commits with its audit row.
pub async fn create_user_account(
    ctx: &Ctx,
    username: &str,
    password: &str,
    email: &str,
) -> Result<(WriteTx, User), CommandError> {
    // Stored in NFKC form: `ａｌｉｃｅ` is `alice`; look-alikes are refused by the store.
    let username = normalize_username(username)?;
    let username = username.as_str();
    validate_password(password, ctx.settings().password_min_length as usize)?;
    validate_email(email)?;
    if ctx
        .store()
        .find_user(&Username::from(username))
        .await?
        .is_some()
    {
        return Err(CommandError::Conflict(format!(
            "user \"{username}\" already exists"
        )));
    }
    let params = ctx.settings().argon2_params();
    let hash = ctx.shared.hashing.hash(password, params).await?;
    // Begun after the slow hash, so the write lock is held only for the insert.
    let mut tx = ctx.begin_change().await?;
    let user = tx
        .create_user(&NewUser {
            username,
            password_hash: &hash,
            email,
            now: ctx.now(),
            may_be_first: !matches!(ctx.principal, crate::access::Principal::Anonymous),
        })
        .await
        .map_err(|e| match e {
            keyward_store::StoreError::Conflict(_) => {
                CommandError::Conflict(format!("user \"{username}\" already exists"))
            }
            other => other.into(),
        })?;
    Ok((tx, user))
}

#[derive(Parser)]
struct UsernameArg {
    username: String,
}

async fn deleteuser(ctx: Ctx, a: UsernameArg) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    if !tx.delete_user(&Username::from(a.username.as_str())).await? {
        return Err(no_such_user(&a.username));
    }
    ctx.commit_output(
        tx,
        Output::new(
            format!("Deleted user \"{}\"", a.username),
            json!({ "deleted": a.username }),
        ),
    )
    .await
}

async fn set_active(ctx: &Ctx, username: &str, active: bool) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    if !tx
        .set_user_active(&Username::from(username), active, ctx.now())
        .await?
    {
        return Err(no_such_user(username));
    }
    let verb = if active { "Enabled" } else { "Disabled" };
    ctx.commit_output(
        tx,
        Output::new(
            format!("{verb} user \"{username}\""),
            json!({ "username": username, "active": active }),
        ),
    )
    .await
}

async fn disableuser(ctx: Ctx, a: UsernameArg) -> Result<Output, CommandError> {
    set_active(&ctx, &a.username, false).await
}

async fn enableuser(ctx: Ctx, a: UsernameArg) -> Result<Output, CommandError> {
    set_active(&ctx, &a.username, true).await
}

async fn verifyuseremail(ctx: Ctx, a: UsernameArg) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    if !tx
        .set_email_verified(&Username::from(a.username.as_str()), ctx.now())
        .await?
    {
        return Err(no_such_user(&a.username));
    }
    ctx.commit_output(
        tx,
        Output::new(
            format!("Verified email of user \"{}\"", a.username),
            json!({ "username": a.username, "email_verified": true }),
        ),
    )
    .await
}

#[derive(Parser)]
struct RoleArgs {
    username: String,
    role: String,
}

async fn promoteuser(ctx: Ctx, a: RoleArgs) -> Result<Output, CommandError> {
    let role: Role = a.role.parse()?;
    let mut user = load_user(&ctx, &a.username).await?;
    let changed = user.roles.insert(role);
    let mut tx = ctx.begin_change().await?;
    if changed {
        tx.set_roles(&user.id, &user.roles, ctx.now()).await?;
    }
    let text = if changed {
        format!("Promoted user \"{}\" to \"{}\"", user.username, role)
    } else {
        format!("User \"{}\" already has role \"{}\"", user.username, role)
    };
    let out = Output::new(
        text,
        json!({ "username": user.username, "roles": user.roles, "changed": changed }),
    )
    .with_audit(format!("role {role}"));
    ctx.commit_output(tx, out).await
}

async fn demoteuser(ctx: Ctx, a: RoleArgs) -> Result<Output, CommandError> {
    let role: Role = a.role.parse()?;
    let mut user = load_user(&ctx, &a.username).await?;
    let changed = user.roles.remove(role);
    let mut tx = ctx.begin_change().await?;
    if changed {
        tx.set_roles(&user.id, &user.roles, ctx.now())
            .await
            .map_err(|e| match e {
                keyward_store::StoreError::LastSuperuser(_) => CommandError::Conflict(format!(
                    "refused: \"{}\" is the last active superuser",
                    user.username
                )),
                other => other.into(),
            })?;
    }
    let text = if changed {
        format!("Demoted user \"{}\" from \"{}\"", user.username, role)
    } else {
        format!("User \"{}\" does not have role \"{}\"", user.username, role)
    };
    let out = Output::new(
        text,
        json!({ "username": user.username, "roles": user.roles, "changed": changed }),
    )
    .with_audit(format!("role {role}"));
    ctx.commit_output(tx, out).await
}

#[derive(Parser)]
struct InactiveArgs {
    /// Users whose last login (or creation, if never) is older than this many seconds.
    #[arg(value_parser = positive_seconds)]
    seconds: u64,
    /// List the users that would be disabled, change nothing.
    #[arg(long)]
    dry_run: bool,
}

fn positive_seconds(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n > 0 && i64::try_from(n).is_ok() => Ok(n),
        _ => Err(format!("SECONDS must be a positive integer, not {s:?}")),
    }
}

async fn disableinactiveusers(ctx: Ctx, a: InactiveArgs) -> Result<Output, CommandError> {
    let cutoff = ctx
        .now()
        .saturating_sub(i64::try_from(a.seconds).unwrap_or(i64::MAX));
    let mut users = ctx.store().inactive_users(cutoff).await?;
    let mut text = String::new();
    // Never disable the last active superuser: keep the most recently active one of them.
    let inactive_superusers = users
        .iter()
        .filter(|u| u.roles.contains(Role::Superuser))
        .count() as i64;
    if inactive_superusers > 0
        && inactive_superusers >= ctx.store().count_active_superusers().await?
        && let Some(keep) = users
            .iter()
            .enumerate()
            .filter(|(_, u)| u.roles.contains(Role::Superuser))
            .max_by_key(|(_, u)| u.last_login.unwrap_or(u.created_at))
            .map(|(i, _)| i)
    {
        let kept = users.remove(keep);
        text.push_str(&format!(
            "{} (kept: the last active superuser)\n",
            kept.username
        ));
    }
    for u in &users {
        let last = match u.last_login {
            Some(t) => format!("last login {}", rfc3339(t)),
            None => format!("never logged in, created {}", rfc3339(u.created_at)),
        };
        text.push_str(&format!("{} ({})\n", u.username, last));
    }
    // A dry run commits an empty change with its audit row.
    let mut tx = ctx.begin_change().await?;
    let count = if a.dry_run {
        users.len() as u64
    } else {
        let ids: Vec<UserId> = users.iter().map(|u| u.id.clone()).collect();
        tx.disable_users(&ids, ctx.now()).await?
    };
    text.push_str(&format!("Disabled inactive users: {count}"));
    if a.dry_run {
        text.push_str(" (dry run)");
    }
    let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    let details = format!(
        "{}{} users: {}",
        if a.dry_run { "dry run, " } else { "" },
        count,
        names.join(",")
    );
    let out = Output::new(
        text,
        json!({ "dry_run": a.dry_run, "count": count, "users": names }),
    )
    .with_audit(details);
    ctx.commit_output(tx, out).await
}

#[derive(Parser)]
struct ListArgs {
    /// Show at most this many users.
    #[arg(long)]
    limit: Option<u64>,
    /// Start after this username (keyset paging).
    #[arg(long)]
    after: Option<String>,
}

const PAGE: i64 = 500;

async fn listusers(ctx: Ctx, a: ListArgs) -> Result<Output, CommandError> {
    let mut users: Vec<User> = Vec::new();
    let mut after = a.after.clone();
    let limit = a
        .limit
        .map(|l| i64::try_from(l).unwrap_or(i64::MAX))
        .unwrap_or(i64::MAX);
    while (users.len() as i64) < limit {
        let want = PAGE.min(limit - users.len() as i64);
        let page = ctx.store().list_users(after.as_deref(), want).await?;
        let done = (page.len() as i64) < want;
        after = page.last().map(|u| u.username.to_string());
        users.extend(page);
        if done {
            break;
        }
    }
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.username.to_string(),
                u.email.clone(),
                u.roles.to_string(),
                if u.active { "active" } else { "disabled" }.to_string(),
                if u.email_verified { "yes" } else { "no" }.to_string(),
                rfc3339_opt(u.last_login),
            ]
        })
        .collect();
    let table = crate::table::Table::new(
        &[
            "USERNAME",
            "EMAIL",
            "ROLES",
            "STATUS",
            "VERIFIED",
            "LAST LOGIN",
        ],
        rows,
    );
    let list: Vec<_> = users.iter().map(user_json).collect();
    Ok(Output::new(table.render(None), json!({ "users": list })).with_table(table))
}

async fn showuser(ctx: Ctx, a: UsernameArg) -> Result<Output, CommandError> {
    let u = load_user(&ctx, &a.username).await?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    let text = format!(
        "id: {}\nusername: {}\nemail: {}\nemail verified: {}\nstatus: {}\nroles: {}\ncreated: {}\n\
         last login: {}\nexpires: {}\nallowed networks: {}\ndenied networks: {}\n\
         denied login methods: {}\nmax sessions: {}\ndescription: {}\nresource profile: {}",
        u.id,
        u.username,
        u.email,
        if u.email_verified { "yes" } else { "no" },
        if u.active { "active" } else { "disabled" },
        u.roles,
        rfc3339(u.created_at),
        rfc3339_opt(u.last_login),
        rfc3339_opt(u.expires_at),
        list(&u.allowed_networks),
        list(&u.denied_networks),
        list(&u.denied_login_methods),
        if u.max_sessions == 0 {
            "unlimited".to_string()
        } else {
            u.max_sessions.to_string()
        },
        if u.description.is_empty() {
            "-"
        } else {
            &u.description
        },
        u.resource_profile,
    );
    Ok(Output::new(text, user_json(&u)))
}
