//! Resolvers and realms (LinOTP/privacyIDEA's user stores): where users come from (`internal`,
//! a passwd file, an LDAP directory) and named, ordered lists of them, one of which may be the
//! default. Users of a passwd file or a directory own tokens and sessions through a local
//! "shadow" user (linked to its resolver), made by `syncldap` or on first use (see [`adopt`]);
//! their password is checked by their resolver (an LDAP bind as the user, the file's hash),
//! never against a local hash.
//!
//! `user@realm` names a user of that realm (its resolvers, in order); a name alone is the local
//! user of that name, and where a local row is needed ([`find_or_adopt`]) also a user of the
//! default realm's directories. With no realm defined, the `default_realm` setting is the one
//! realm name accepted (keyward's internal users), as before realms existed.

pub mod admin;
pub mod adopt;
pub mod definition;
pub mod directory;
pub mod dump_sections;
pub mod ldap;
pub mod ldap_tools;
pub mod passwd;
pub mod sync;

use keyward_proto::Username;
use keyward_store::realms::RealmRow;
use keyward_store::users::User;

use crate::context::Ctx;
use crate::output::CommandError;
use crate::registry::CommandSpec;
use definition::{INTERNAL, Resolver, load_resolver};

pub fn commands() -> Vec<CommandSpec> {
    let mut all = admin::commands();
    all.extend(ldap_tools::commands());
    all
}

/// Where a local user comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSource {
    /// The resolver's name (`internal` for keyward's own users).
    pub resolver: String,
    /// The user's id in that resolver (LDAP: the DN); "" for internal users.
    pub external_id: String,
}

impl UserSource {
    pub fn is_internal(&self) -> bool {
        self.resolver == INTERNAL
    }
}

/// The resolver a local user belongs to.
pub async fn source_of_user(ctx: &Ctx, user: &User) -> Result<UserSource, CommandError> {
    Ok(match ctx.store().user_source(&user.id).await? {
        Some((resolver, external_id)) => UserSource {
            resolver,
            external_id,
        },
        None => UserSource {
            resolver: INTERNAL.into(),
            external_id: String::new(),
        },
    })
}

/// The realm a user of `source` belongs to, for policies: the default realm when it lists the
/// user's resolver, else the first realm (by name) that does; with no realm defined, the
/// `default_realm` setting for internal users. `None`: in no realm.
pub async fn realm_of_source(
    ctx: &Ctx,
    source: &UserSource,
) -> Result<Option<String>, CommandError> {
    let realms = ctx.store().list_realms().await?;
    if realms.is_empty() {
        return Ok(source
            .is_internal()
            .then(|| ctx.settings().default_realm.to_lowercase()));
    }
    let mut holding = realms
        .iter()
        .filter(|r| r.resolvers.contains(&source.resolver));
    let first = holding.clone().next().map(|r| r.name.clone());
    Ok(holding
        .find(|r| r.is_default)
        .map(|r| r.name.clone())
        .or(first))
}

/// Whether `name` is one of `realms` (as listed by the store), or, none defined, the
/// `default_realm` setting.
pub fn names_realm(ctx: &Ctx, realms: &[RealmRow], name: &str) -> bool {
    if realms.is_empty() {
        return name.eq_ignore_ascii_case(&ctx.settings().default_realm);
    }
    realms.iter().any(|r| r.name.eq_ignore_ascii_case(name))
}

/// The default of `realms` (as listed by the store), or, none defined, the setting.
pub fn default_of(ctx: &Ctx, realms: &[RealmRow]) -> Option<String> {
    if realms.is_empty() {
        return Some(ctx.settings().default_realm.to_lowercase());
    }
    realms.iter().find(|r| r.is_default).map(|r| r.name.clone())
}

/// The default realm's name: the defined default, else (no realm defined) the setting.
pub async fn default_realm(ctx: &Ctx) -> Result<Option<String>, CommandError> {
    Ok(default_of(ctx, &ctx.store().list_realms().await?))
}

/// The resolvers of a realm, in order; an unknown realm is an error. With no realm defined,
/// the `default_realm` setting names the internal users.
pub async fn realm_resolvers(ctx: &Ctx, realm: &str) -> Result<Vec<Resolver>, CommandError> {
    let shown: String = realm.chars().take(64).collect();
    let unknown = || CommandError::NotFound(format!("realm \"{shown}\" does not exist"));
    match ctx.store().get_realm(realm).await? {
        Some(r) => load_resolvers(ctx, &r.resolvers).await,
        None if realm.eq_ignore_ascii_case(&ctx.settings().default_realm)
            && ctx.store().list_realms().await?.is_empty() =>
        {
            Ok(vec![Resolver::Internal])
        }
        None => Err(unknown()),
    }
}

/// The resolvers named `names` (a realm's list), in order.
async fn load_resolvers(ctx: &Ctx, names: &[String]) -> Result<Vec<Resolver>, CommandError> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        out.push(load_resolver(ctx, name).await?);
    }
    Ok(out)
}

/// `found` with its source.
async fn with_source(
    ctx: &Ctx,
    found: Option<User>,
) -> Result<Option<(User, UserSource)>, CommandError> {
    match found {
        Some(u) => {
            let source = source_of_user(ctx, &u).await?;
            Ok(Some((u, source)))
        }
        None => Ok(None),
    }
}

/// A user named as LinOTP does: `name` or `name@realm`. A local username that itself contains
/// `@` (e.g. an email address) is tried whole first; `name@realm` is the user `name` of the
/// first of the realm's resolvers that has it (an unknown realm is an error, never ignored).
pub async fn find_user(ctx: &Ctx, spec: &str) -> Result<Option<(User, UserSource)>, CommandError> {
    with_source(ctx, find_user_only(ctx, spec).await?).await
}

/// [`find_user`] without the user's source: one query for a plain name (the validate path).
pub async fn find_user_only(ctx: &Ctx, spec: &str) -> Result<Option<User>, CommandError> {
    let spec = spec.trim();
    if let Some(u) = ctx.store().find_user(&Username::from(spec)).await? {
        return Ok(Some(u));
    }
    let Some((name, realm)) = spec.rsplit_once('@') else {
        return Ok(None);
    };
    if name.is_empty() {
        return Ok(None);
    }
    find_in_resolvers(ctx, name, &realm_resolvers(ctx, realm).await?).await
}

/// The local user `name` of the first of `resolvers` that has one.
async fn find_in_resolvers(
    ctx: &Ctx,
    name: &str,
    resolvers: &[Resolver],
) -> Result<Option<User>, CommandError> {
    for resolver in resolvers {
        let from = match resolver {
            Resolver::Internal => None,
            r => Some(r.name()),
        };
        if let Some(u) = ctx.store().find_user_from(name, from).await? {
            return Ok(Some(u));
        }
    }
    Ok(None)
}

/// [`find_user_only`] where a local row is needed (validate, login, token enrolment and
/// assignment): a user its realm's directory has but who has no shadow user yet is adopted
/// now (see [`adopt`]). A plain name no local user has is looked for in the default realm's
/// directories, as privacyIDEA resolves plain names in the default realm. A local user is found
/// exactly as by [`find_user_only`] (one query for a plain name).
pub async fn find_or_adopt(ctx: &Ctx, spec: &str) -> Result<Option<User>, CommandError> {
    let spec = spec.trim();
    if let Some(u) = ctx.store().find_user(&Username::from(spec)).await? {
        return Ok(Some(u));
    }
    let (name, realm, resolvers) = match spec.rsplit_once('@') {
        Some(("", _)) => return Ok(None),
        Some((name, realm)) => {
            let resolvers = realm_resolvers(ctx, realm).await?;
            if let Some(u) = find_in_resolvers(ctx, name, &resolvers).await? {
                return Ok(Some(u));
            }
            (name, realm.to_string(), resolvers)
        }
        // The plain name's shadow user would have been found above (its username is the login).
        None => {
            let realms = ctx.store().list_realms().await?;
            let Some(default) = realms.into_iter().find(|r| r.is_default) else {
                return Ok(None);
            };
            // Answered before the resolvers are even loaded when recently not found.
            if default
                .resolvers
                .iter()
                .all(|r| r.eq_ignore_ascii_case(INTERNAL))
                || ctx
                    .shared
                    .adoption
                    .recently_missing(&adopt::missing_key(spec, &default.name))
            {
                return Ok(None);
            }
            let resolvers = load_resolvers(ctx, &default.resolvers).await?;
            (spec, default.name, resolvers)
        }
    };
    adopt::adopt(ctx, name, &realm, &resolvers).await
}

/// [`find_or_adopt`] with the user's source (login).
pub async fn find_user_or_adopt(
    ctx: &Ctx,
    spec: &str,
) -> Result<Option<(User, UserSource)>, CommandError> {
    with_source(ctx, find_or_adopt(ctx, spec).await?).await
}

/// Checks the password of a user whose source is not internal, by asking its resolver.
pub async fn check_resolver_password(
    ctx: &Ctx,
    user: &User,
    source: &UserSource,
    password: &str,
) -> Result<bool, CommandError> {
    let resolver = load_resolver(ctx, &source.resolver).await?;
    directory::check_password(ctx, &resolver, user, password).await
}

/// Whether `password` is the user's password, wherever it lives: keyward's own hash (behind the
/// hashing bound) or the user's resolver (an LDAP bind, the passwd file) for shadow users.
pub async fn check_user_password(
    ctx: &Ctx,
    user: &User,
    password: &str,
) -> Result<bool, CommandError> {
    if password.is_empty() {
        return Ok(false);
    }
    let source = source_of_user(ctx, user).await?;
    if source.is_internal() {
        return Ok(matches!(
            ctx.shared
                .hashing
                .verify(password, &user.password_hash)
                .await?,
            Ok(true)
        ));
    }
    check_resolver_password(ctx, user, &source, password).await
}
