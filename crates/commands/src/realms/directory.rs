//! One interface over every resolver kind: search users, find one, check a password, test the
//! resolver. Internal users come from the store; passwd-file users from the file; LDAP users
//! from the directory (a connection per call, bounded by the resolver's timeouts).

use keyward_store::users::User;

use super::definition::{Resolver, SHADOW_PASSWORD_HASH};
use super::ldap::{self, LdapFailure};
use super::passwd::{self, wildcard_match};
use crate::context::Ctx;
use crate::output::CommandError;

/// A user as a resolver knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryUser {
    pub login: String,
    /// The resolver's own id of the user (internal: the UUID; passwd: the uid; LDAP: the DN).
    pub external_id: String,
    pub email: String,
    pub phone: String,
    pub name: String,
    pub disabled: bool,
}

impl From<ldap::LdapUser> for DirectoryUser {
    fn from(u: ldap::LdapUser) -> Self {
        DirectoryUser {
            login: u.login,
            external_id: u.dn,
            email: u.email,
            phone: u.phone,
            name: u.name,
            disabled: u.disabled,
        }
    }
}

impl From<passwd::PasswdUser> for DirectoryUser {
    fn from(u: passwd::PasswdUser) -> Self {
        DirectoryUser {
            login: u.login,
            external_id: u.uid,
            email: u.email,
            phone: u.phone,
            name: u.name,
            disabled: false,
        }
    }
}

/// A local (internal) user as a directory entry.
pub fn from_local(u: &User) -> DirectoryUser {
    DirectoryUser {
        login: u.username.to_string(),
        external_id: u.id.to_string(),
        email: u.email.clone(),
        phone: String::new(),
        name: u.description.clone(),
        disabled: !u.active,
    }
}

/// An LDAP failure as a command error naming the resolver.
pub fn ldap_error(resolver: &str, e: LdapFailure) -> CommandError {
    CommandError::Unavailable(format!("LDAP resolver \"{resolver}\": {e}"))
}

/// `*`-wildcard pattern as a SQL LIKE pattern.
pub fn like_pattern(expr: &str) -> String {
    let mut pattern = String::new();
    for c in expr.chars() {
        match c {
            '*' => pattern.push('%'),
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            other => pattern.push(other),
        }
    }
    pattern
}

/// The users of `resolver` whose login matches `expr` (`*` wildcards), at most `limit`.
pub async fn search(
    ctx: &Ctx,
    resolver: &Resolver,
    expr: &str,
    limit: usize,
) -> Result<Vec<DirectoryUser>, CommandError> {
    let mut users: Vec<DirectoryUser> = match resolver {
        Resolver::Internal => {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let found = ctx
                .store()
                .search_internal_users(&like_pattern(expr), 0, limit)
                .await?;
            found.iter().map(from_local).collect()
        }
        Resolver::PasswdFile { settings, .. } => passwd::read_users(settings)
            .await?
            .into_iter()
            .filter(|u| wildcard_match(expr, &u.login))
            .map(DirectoryUser::from)
            .collect(),
        Resolver::Ldap {
            name,
            settings,
            bind_password,
        } => {
            let run = async {
                let mut conn = ldap::connect_as_service(settings, bind_password).await?;
                let found = conn.search(expr).await;
                conn.close().await;
                found
            };
            let found: Vec<ldap::LdapUser> = run.await.map_err(|e| ldap_error(name, e))?;
            found.into_iter().map(DirectoryUser::from).collect()
        }
    };
    users.sort_by_key(|u| u.login.to_lowercase());
    users.truncate(limit);
    Ok(users)
}

/// The one user of `resolver` whose login is `login` (case-insensitively), as adoption asks
/// for it: a single-user LDAP search by the login attribute, or the passwd file's line.
/// Internal users exist only as local rows, so the internal resolver has none to offer here.
pub async fn find_one(
    resolver: &Resolver,
    login: &str,
) -> Result<Option<DirectoryUser>, CommandError> {
    match resolver {
        Resolver::Internal => Ok(None),
        Resolver::PasswdFile { settings, .. } => Ok(passwd::read_users(settings)
            .await?
            .into_iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
            .map(DirectoryUser::from)),
        Resolver::Ldap {
            name,
            settings,
            bind_password,
        } => {
            let run = async {
                let mut conn = ldap::connect_as_service(settings, bind_password).await?;
                let found = conn.find(login).await;
                conn.close().await;
                found
            };
            let found = run.await.map_err(|e| ldap_error(name, e))?;
            Ok(found.map(DirectoryUser::from))
        }
    }
}

/// Whether `password` is right for `user`, a local user whose source is `resolver` (asked by
/// login name, so a moved directory entry still works). Internal users are checked against
/// their stored hash elsewhere (login).
pub async fn check_password(
    ctx: &Ctx,
    resolver: &Resolver,
    user: &User,
    password: &str,
) -> Result<bool, CommandError> {
    match resolver {
        Resolver::Internal => Err(CommandError::Internal(
            "internal users are checked against their stored hash".into(),
        )),
        Resolver::PasswdFile { settings, .. } => {
            let users = passwd::read_users(settings).await?;
            let Some(hash) = users
                .into_iter()
                .find(|u| u.login.eq_ignore_ascii_case(user.username.as_str()))
                .and_then(|u| u.hash)
            else {
                return Ok(false);
            };
            Ok(ctx
                .shared
                .hashing
                .verify(password, &hash)
                .await?
                .unwrap_or(false))
        }
        Resolver::Ldap {
            name,
            settings,
            bind_password,
        } => ldap::check_login_password(settings, bind_password, user.username.as_str(), password)
            .await
            .map_err(|e| ldap_error(name, e)),
    }
}

/// Tests a resolver: reaches it and counts its users (LDAP: up to the size limit).
pub async fn test(ctx: &Ctx, resolver: &Resolver) -> Result<String, CommandError> {
    let n = match resolver {
        Resolver::Internal => usize::try_from(ctx.store().count_users().await?).unwrap_or(0),
        _ => search(ctx, resolver, "*", usize::MAX).await?.len(),
    };
    Ok(format!("{n} users found"))
}

/// Whether a stored hash marks a shadow user (its password lives in its resolver).
pub fn is_shadow_hash(hash: &str) -> bool {
    hash == SHADOW_PASSWORD_HASH
}
