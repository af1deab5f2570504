//! The user-store endpoints of LinOTP's admin API, `userlist` and `testresolver`, over every
//! resolver (internal users, passwd files, LDAP directories; see [`crate::realms`]).

use clap::Parser;
use serde::Deserialize;
use serde_json::{Value, json};

use super::MAX_PAGESIZE;
use super::query::INTERNAL_RESOLVER;
use crate::access::{Access, TOKEN_READERS};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::params::{given, int_in, required};
use crate::realms::definition::{Resolver, load_resolver};
use crate::realms::directory::{DirectoryUser, like_pattern, search, test};
use crate::realms::realm_resolvers;
use crate::registry::{CommandSpec, param_command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command(
            "token userlist",
            "List users of a realm or resolver (internal, passwd file, LDAP)",
            userlist,
        )
        .example("token userlist --username 'a*'")
        .lists()
        .allow(Access::Roles(TOKEN_READERS)),
        param_command("token testresolver", "Test a user resolver", testresolver)
            .example("token testresolver internal")
            .allow(Access::Roles(TOKEN_READERS)),
    ]
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct UserListArgs {
    /// Search expression on the username (`*` wildcards), e.g. `username=*smith*`.
    #[arg(long)]
    username: Option<String>,
    #[arg(long)]
    realm: Option<String>,
    #[arg(long = "resConf", alias = "resconf")]
    #[serde(rename = "resConf")]
    res_conf: Option<String>,
    #[arg(long)]
    page: Option<String>,
    /// Rows per page (default 16).
    #[arg(long)]
    rp: Option<String>,
}

const USERLIST_FIELDS: &[&str] = &["username", "userid", "email", "description"];

/// The resolvers a `userlist` asks: `resConf`, else the realm's, else the default realm's.
async fn userlist_resolvers(ctx: &Ctx, a: &UserListArgs) -> Result<Vec<Resolver>, CommandError> {
    if let Some(r) = given(&a.res_conf) {
        return Ok(vec![load_resolver(ctx, r).await?]);
    }
    if let Some(realm) = given(&a.realm) {
        return realm_resolvers(ctx, realm).await;
    }
    match crate::realms::default_realm(ctx).await? {
        Some(realm) => realm_resolvers(ctx, &realm).await,
        None => Ok(vec![Resolver::Internal]),
    }
}

async fn userlist(ctx: Ctx, a: UserListArgs) -> Result<Output, CommandError> {
    let resolvers = userlist_resolvers(&ctx, &a).await?;
    let Some(expr) = given(&a.username) else {
        return Ok(Output::new(
            format!(
                "Give a search expression, e.g. username=*smith*; search fields: {}",
                USERLIST_FIELDS.join(", ")
            ),
            json!({
                "usage": "give a search expression such as username=*smith*",
                "searchfields": USERLIST_FIELDS,
            }),
        ));
    };
    let page = match given(&a.page) {
        Some(p) => int_in("page", p, 1, i64::from(i32::MAX))?,
        None => 1,
    };
    let rp = match given(&a.rp) {
        Some(p) => int_in("rp", p, 1, MAX_PAGESIZE)?,
        None => 16,
    };
    let offset = (page - 1).saturating_mul(rp);
    let mut users: Vec<(String, DirectoryUser)> = Vec::new();
    if let [Resolver::Internal] = resolvers.as_slice() {
        // One internal store: paged in the database.
        let found = ctx
            .store()
            .search_internal_users(&like_pattern(expr), offset, rp)
            .await?;
        users.extend(found.iter().map(|u| {
            (
                INTERNAL_RESOLVER.to_string(),
                crate::realms::directory::from_local(u),
            )
        }));
    } else {
        // Several resolvers in order: each gives at most the rows up to this page's end.
        let want = usize::try_from(offset.saturating_add(rp)).unwrap_or(usize::MAX);
        for r in &resolvers {
            for u in search(&ctx, r, expr, want).await? {
                users.push((r.name().to_string(), u));
            }
            if users.len() >= want {
                break;
            }
        }
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        users = users
            .into_iter()
            .skip(skip)
            .take(usize::try_from(rp).unwrap_or(usize::MAX))
            .collect();
    }
    let list: Vec<Value> = users
        .iter()
        .map(|(resolver, u)| {
            json!({
                "username": u.login,
                "userid": u.external_id,
                "email": u.email,
                "phone": u.phone,
                "givenname": u.name,
                "description": u.name,
                "useridresolver": resolver,
            })
        })
        .collect();
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|(resolver, u)| vec![u.login.clone(), u.email.clone(), resolver.clone()])
        .collect();
    let table = crate::table::Table::new(&["USERNAME", "EMAIL", "RESOLVER"], rows);
    let mut text = table.render(None);
    text.push_str(&format!("queried: {}\n", list.len()));
    let queried = list.len();
    Ok(Output::new(text, json!(list))
        .with_table(table)
        .with_result_key("queried", json!(queried))
        .with_detail(json!({ "page": page, "rp": rp })))
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct TestResolverArgs {
    /// Resolver name.
    name: Option<String>,
}

async fn testresolver(ctx: Ctx, a: TestResolverArgs) -> Result<Output, CommandError> {
    let name = required("name", &a.name)?;
    let resolver = load_resolver(&ctx, name).await?;
    let desc = test(&ctx, &resolver).await?;
    Ok(Output::new(
        format!("Resolver \"{}\" works: {desc}", resolver.name()),
        json!({ "result": "success", "desc": desc }),
    ))
}

// Reads act on nobody: the target rule is for changes.
crate::no_targets!(UserListArgs, TestResolverArgs);
