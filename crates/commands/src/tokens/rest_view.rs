//! The REST view of tokens (`/api/v1/token`, `keyward_proto::TokenObject`): `token show --view
//! rest` lists them, and `token get SERIAL` shows one (LinOTP has no single-token read). Times
//! in epoch milliseconds; never a seed or PIN.

use clap::Parser;
use keyward_proto::{TokenList, TokenObject};
use keyward_store::tokens::{Token, TokenPage};
use serde::Deserialize;

use super::{load_token, token_type};
use crate::access::{Access, TOKEN_READERS, Target, Targets, targets_of};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::params::required;
use crate::registry::{CommandSpec, param_command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command("token get", "Show one token (REST view, times in ms)", get)
            .example("token get OATH0001")
            .allow(Access::Roles(TOKEN_READERS)),
    ]
}

fn ms(secs: Option<i64>) -> i64 {
    secs.map(|s| s.saturating_mul(1000)).unwrap_or(0)
}

/// A stored token as the REST object.
pub fn rest_token(t: &Token) -> TokenObject {
    let kind = token_type(t).ok();
    TokenObject {
        serial: t.serial.to_string(),
        token_type: kind
            .map(|k| k.as_str().to_string())
            .unwrap_or_else(|| t.token_type.clone()),
        description: t.description.clone(),
        active: t.active,
        user: t.owner_name.clone().unwrap_or_default(),
        realms: t.realms.clone(),
        otplen: t.otplen,
        hashlib: t.hashlib.clone(),
        counter: t.counter,
        fail_count: t.fail_count,
        max_fail: t.max_fail,
        count_window: t.count_window,
        sync_window: t.sync_window,
        count_auth: t.count_auth,
        count_auth_max: t.count_auth_max,
        count_auth_success: t.count_auth_success,
        count_auth_success_max: t.count_auth_success_max,
        time_step: if kind == Some(keyward_core::otp::TokenType::Totp) {
            t.time_step
        } else {
            0
        },
        validity_start: ms(t.validity_start),
        validity_end: ms(t.validity_end),
        last_auth: ms(t.last_auth),
        created_at: t.created_at.saturating_mul(1000),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, CommandError> {
    serde_json::to_value(v).map_err(|e| CommandError::Internal(e.to_string()))
}

/// One page as the REST list, with a table for the console.
pub(super) fn token_list(
    page: &TokenPage,
    limit: i64,
    offset: i64,
) -> Result<Output, CommandError> {
    let list = TokenList {
        tokens: page.tokens.iter().map(rest_token).collect(),
        total: page.total,
        limit,
        offset,
    };
    let rows = list
        .tokens
        .iter()
        .map(|t| {
            vec![
                t.serial.clone(),
                t.token_type.clone(),
                if t.active { "yes" } else { "no" }.to_string(),
                t.user.clone(),
                t.description.clone(),
            ]
        })
        .collect();
    let table =
        crate::table::Table::new(&["SERIAL", "TYPE", "ACTIVE", "USER", "DESCRIPTION"], rows);
    let text = format!(
        "{}{} of {} tokens from offset {offset}\n",
        table.render(None),
        list.tokens.len(),
        list.total
    );
    Ok(Output::new(text, to_json(&list)?).with_table(table))
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct GetArgs {
    /// The token's serial number.
    serial: Option<String>,
}

impl Targets for GetArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([self.serial.clone().map(Target::Token)])
    }
}

async fn get(ctx: Ctx, a: GetArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let token = load_token(&ctx, serial).await?;
    let object = rest_token(&token);
    let text = format!(
        "{} ({}, {}){}\n",
        object.serial,
        object.token_type,
        if object.active { "active" } else { "disabled" },
        if object.user.is_empty() {
            String::new()
        } else {
            format!(", user \"{}\"", object.user)
        }
    );
    Ok(Output::new(text, to_json(&object)?))
}
