//! The user-store endpoints of LinOTP's admin API, `userlist` and `testresolver`, over keyward's
//! internal users (LDAP and passwd-file resolvers come with the realm work).

use clap::Parser;
use serde::Deserialize;
use serde_json::{Value, json};

use super::MAX_PAGESIZE;
use super::query::INTERNAL_RESOLVER;
use crate::access::{Access, TOKEN_READERS};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::params::{given, int_in, required};
use crate::registry::{CommandSpec, param_command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command(
            "token userlist",
            "List users of the internal user store",
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

async fn userlist(ctx: Ctx, a: UserListArgs) -> Result<Output, CommandError> {
    if let Some(r) = given(&a.res_conf)
        && r != INTERNAL_RESOLVER
    {
        return Err(not_configured(r));
    }
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
    let users = ctx
        .store()
        .search_users(&pattern, (page - 1).saturating_mul(rp), rp)
        .await?;
    let list: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({
                "username": u.username,
                "userid": u.id,
                "email": u.email,
                "description": u.description,
                "useridresolver": INTERNAL_RESOLVER,
            })
        })
        .collect();
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| vec![u.username.to_string(), u.email.clone()])
        .collect();
    let table = crate::table::Table::new(&["USERNAME", "EMAIL"], rows);
    let mut text = table.render(None);
    text.push_str(&format!("queried: {}\n", list.len()));
    let queried = list.len();
    Ok(Output::new(text, json!(list))
        .with_table(table)
        .with_result_key("queried", json!(queried))
        .with_detail(json!({ "page": page, "rp": rp })))
}

fn not_configured(name: &str) -> CommandError {
    CommandError::NotFound(format!(
        "resolver \"{name}\" is not configured (only the \"{INTERNAL_RESOLVER}\" user store \
         exists; LDAP and passwd-file resolvers are not available yet)"
    ))
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct TestResolverArgs {
    /// Resolver name.
    name: Option<String>,
}

async fn testresolver(ctx: Ctx, a: TestResolverArgs) -> Result<Output, CommandError> {
    let name = required("name", &a.name)?;
    if name != INTERNAL_RESOLVER {
        return Err(not_configured(name));
    }
    let n = ctx.store().count_users().await?;
    Ok(Output::new(
        format!("Resolver \"{name}\" works: {n} users"),
        json!({ "result": "success", "desc": format!("{n} users found") }),
    ))
}

// Reads act on nobody: the target rule is for changes.
crate::no_targets!(UserListArgs, TestResolverArgs);
