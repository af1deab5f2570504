//! Reading tokens (LinOTP `/admin/*`): show (filtered, sorted and paged in the database; CSV
//! with `outform=csv`), getTokenOwner, getSerialByOtp, totp_lookup, checkstatus (the user-store endpoints: resolvers.rs).

use clap::Parser;
use keyward_core::otp::{self, TokenType};
use keyward_proto::UserId;
use keyward_store::tokens::{SortBy, Token, TokenQuery};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    DEFAULT_PAGESIZE, MAX_PAGESIZE, find_owner, linotp_token, load_token, token_hashlib,
    token_seed, token_type,
};
use crate::access::{ADMINS, Access, TOKEN_READERS};
use crate::context::Ctx;
use crate::csv::{linotp_raw_cell, linotp_text_cell};
use crate::output::{CommandError, Output};
use crate::params::{boolean, given, int_in, required};
use crate::registry::{CommandSpec, param_command};
use crate::timefmt::rfc3339;

/// Name of the user store of keyward's own users, as `testresolver` and `userlist` know it.
pub const INTERNAL_RESOLVER: &str = "internal";

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command(
            "token show",
            "List tokens (filter, sort, page; --outform csv)",
            show,
        )
        .example("token show --user alice --page 1 --pagesize 50")
        .example("token show --serial OATH0001 --outform csv")
        .lists()
        .allow(Access::Roles(TOKEN_READERS)),
        param_command("token owner", "Show the owner of a token", owner)
            .example("token owner OATH0001")
            .allow(Access::Roles(TOKEN_READERS)),
        param_command(
            "token getserial",
            "Find the token that generates an OTP value",
            getserial,
        )
        .example("token getserial 287922 --type hotp")
        .allow(Access::Roles(ADMINS)),
        param_command(
            "token totp_lookup",
            "When was a past OTP of a TOTP token valid",
            totp_lookup,
        )
        .example("token totp_lookup TOTP0001 123456")
        .allow(Access::Roles(ADMINS)),
        param_command(
            "token checkstatus",
            "Show challenges by transaction id, serial or user",
            checkstatus,
        )
        .example("token checkstatus --user alice")
        .lists()
        .allow(Access::Roles(TOKEN_READERS)),
    ]
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct ShowArgs {
    /// Only this serial.
    #[arg(long)]
    serial: Option<String>,
    /// Only tokens of this user (or, if no such user, of users whose name contains it).
    #[arg(long)]
    user: Option<String>,
    /// Substring of serial, type, description or owner.
    #[arg(long)]
    filter: Option<String>,
    #[arg(long)]
    realm: Option<String>,
    #[arg(long)]
    viewrealm: Option<String>,
    /// serial, type, description, active, failcount, count, user (LinOTP names work too).
    #[arg(long)]
    sortby: Option<String>,
    /// asc or desc.
    #[arg(long)]
    sortdir: Option<String>,
    #[arg(long)]
    page: Option<String>,
    #[arg(long)]
    pagesize: Option<String>,
    #[arg(long)]
    user_fields: Option<String>,
    /// csv for a CSV listing.
    #[arg(long)]
    outform: Option<String>,
    /// json to embed the token info as an object.
    #[arg(long)]
    tokeninfo_format: Option<String>,
    /// Only this type: hotp, totp or pw.
    #[arg(long = "type")]
    #[serde(rename = "type")]
    token_type: Option<String>,
    /// Only active (1) or inactive (0) tokens.
    #[arg(long)]
    active: Option<String>,
    /// Tokens to skip, instead of --page.
    #[arg(long)]
    offset: Option<String>,
    /// rest: answer the REST token list ({tokens, total, limit, offset}) instead of LinOTP's value.
    #[arg(long)]
    view: Option<String>,
}

async fn show(ctx: Ctx, a: ShowArgs) -> Result<Output, CommandError> {
    let page = match given(&a.page) {
        Some(p) => int_in("page", p, 1, i64::from(i32::MAX))?,
        None => 1,
    };
    let pagesize = match given(&a.pagesize) {
        Some(p) => int_in("pagesize", p, 1, MAX_PAGESIZE)?,
        None => DEFAULT_PAGESIZE,
    };
    let sort = match given(&a.sortby) {
        Some(s) => Some(SortBy::parse(s).ok_or_else(|| {
            CommandError::Invalid(format!(
                "parameter 'sortby' cannot be \"{s}\" (serial, type, description, active, failcount, count, user)"
            ))
        })?),
        None => None,
    };
    let descending = match given(&a.sortdir).map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(CommandError::Invalid(
                "parameter 'sortdir' must be asc or desc".into(),
            ));
        }
    };
    let csv = match given(&a.outform).map(str::to_ascii_lowercase).as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(CommandError::Invalid(
                "parameter 'outform' must be csv".into(),
            ));
        }
    };
    let rest_view = match given(&a.view).map(str::to_ascii_lowercase).as_deref() {
        None | Some("linotp") => false,
        Some("rest") => true,
        Some(_) => {
            return Err(CommandError::Invalid(
                "parameter 'view' must be rest or linotp".into(),
            ));
        }
    };
    let offset = match given(&a.offset) {
        Some(o) => Some(int_in("offset", o, 0, i64::from(i32::MAX))?),
        None => None,
    };
    let token_type = match given(&a.token_type) {
        Some(t) => Some(
            TokenType::parse(t)
                .map_err(|_| {
                    CommandError::Invalid("parameter 'type' must be hotp, totp or pw".into())
                })?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let active = match given(&a.active) {
        Some(v) => Some(boolean("active", v)?),
        None => None,
    };
    let info_as_json = given(&a.tokeninfo_format)
        .map(str::to_ascii_lowercase)
        .as_deref()
        == Some("json");
    let mut q = TokenQuery {
        serial: given(&a.serial).map(String::from),
        filter: given(&a.filter).map(String::from),
        realm: given(&a.realm)
            .or(given(&a.viewrealm))
            .filter(|r| *r != "*")
            .map(String::from),
        sort,
        descending,
        page,
        pagesize,
        offset,
        token_type,
        active,
        ..Default::default()
    };
    if let Some(u) = given(&a.user) {
        match find_owner(&ctx, u).await? {
            Some(owner) => q.owner_id = Some(owner.id.into_string()),
            None if rest_view => q.owner_id = Some(String::new()),
            None => q.owner_like = Some(u.trim_matches('*').to_string()),
        }
    }
    let result = ctx.store().list_tokens(&q).await?;
    if rest_view {
        let skipped = offset.unwrap_or((page - 1).saturating_mul(pagesize));
        return super::rest_view::token_list(&result, pagesize, skipped);
    }
    let pages = (result.total + pagesize - 1) / pagesize;
    let data: Vec<Value> = result
        .tokens
        .iter()
        .map(|t| linotp_token(t, info_as_json))
        .collect();
    let value = json!({
        "data": data,
        "resultset": {
            "pages": pages,
            "pagesize": pagesize,
            "tokens": result.total,
            "page": page,
        },
    });
    if csv {
        return Ok(Output::new(csv_text(&data), value));
    }
    let (table, footer) = token_table(&result.tokens, page, pages, result.total);
    Ok(Output::new(table.render(None) + &footer, value).with_table(table))
}

/// LinOTP's CSV: a header row, then a row per token, each cell `'value'; ` (see `crate::csv`).
fn csv_text(rows: &[Value]) -> String {
    let Some(Value::Object(first)) = rows.first() else {
        return String::new();
    };
    let keys: Vec<&String> = first.keys().collect();
    let mut out = String::new();
    for k in &keys {
        out.push_str(&linotp_raw_cell(k));
    }
    out.push('\n');
    for row in rows {
        for k in &keys {
            // Text (descriptions, user names, realms) may be anyone's: defused. Numbers and
            // flags are keyward's own.
            let cell = match row.get(k.as_str()) {
                Some(Value::String(s)) => linotp_text_cell(s),
                Some(Value::Array(items)) => linotp_text_cell(
                    &items
                        .iter()
                        .map(|i| {
                            i.as_str()
                                .map(String::from)
                                .unwrap_or_else(|| i.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                Some(other) => linotp_raw_cell(&other.to_string()),
                None => linotp_raw_cell(""),
            };
            out.push_str(&cell);
        }
        out.push('\n');
    }
    out
}

fn token_table(
    tokens: &[Token],
    page: i64,
    pages: i64,
    total: i64,
) -> (crate::table::Table, String) {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.serial.to_string(),
                t.token_type.clone(),
                if t.active { "yes" } else { "no" }.to_string(),
                t.owner_name.clone().unwrap_or_default(),
                format!("{}/{}", t.fail_count, t.max_fail),
                t.counter.to_string(),
                t.realms.join(","),
                t.description.clone(),
            ]
        })
        .collect();
    let table = crate::table::Table::new(
        &[
            "SERIAL",
            "TYPE",
            "ACTIVE",
            "USER",
            "FAILS",
            "COUNTER",
            "REALMS",
            "DESCRIPTION",
        ],
        rows,
    );
    (table, format!("page {page} of {pages} ({total} tokens)\n"))
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct SerialOnlyArgs {
    serial: Option<String>,
}

async fn owner(ctx: Ctx, a: SerialOnlyArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let token = load_token(&ctx, serial).await?;
    let Some(id) = &token.owner_id else {
        return Ok(Output::new(
            format!("Token {serial} is not assigned to a user"),
            json!({}),
        ));
    };
    let Some(user) = ctx
        .store()
        .get_user_by_id(&UserId::from(id.as_str()))
        .await?
    else {
        return Ok(Output::new(
            format!("Token {serial} belongs to a user that no longer exists"),
            json!({}),
        ));
    };
    Ok(Output::new(
        format!("Token {serial} belongs to user \"{}\"", user.username),
        json!({
            "username": user.username,
            "userid": user.id,
            "email": user.email,
            "description": user.description,
            "resolver": INTERNAL_RESOLVER,
        }),
    ))
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct GetSerialArgs {
    /// The OTP value to look for.
    otp: Option<String>,
    /// Only tokens of this type.
    #[arg(long = "type")]
    #[serde(rename = "type")]
    token_type: Option<String>,
    #[arg(long)]
    realm: Option<String>,
    /// 1: only assigned tokens, 0: only unassigned.
    #[arg(long)]
    assigned: Option<String>,
}

/// Tokens read per database round trip while scanning.
const SCAN_CHUNK: i64 = 500;

async fn getserial(ctx: Ctx, a: GetSerialArgs) -> Result<Output, CommandError> {
    let otp_value = required("otp", &a.otp)?;
    if !otp_value.bytes().all(|b| b.is_ascii_digit()) || otp_value.len() > 10 {
        return Err(CommandError::Invalid(
            "parameter 'otp' must be digits".into(),
        ));
    }
    super::lookup_limit::charge_caller(&ctx)?;
    let mut q = TokenQuery {
        realm: given(&a.realm).map(String::from),
        active: Some(true),
        ..Default::default()
    };
    if let Some(t) = given(&a.token_type) {
        q.token_type = Some(TokenType::parse(t)?.as_str().to_string());
    }
    if let Some(v) = given(&a.assigned) {
        q.assigned = Some(boolean("assigned", v)?);
    }
    let now = ctx.now();
    let mut after = String::new();
    loop {
        let chunk = ctx.store().scan_tokens(&q, &after, SCAN_CHUNK).await?;
        let Some(last) = chunk.last() else { break };
        after = last.serial.to_string();
        for t in &chunk {
            if generates(&ctx, t, otp_value, now).await? {
                let value = json!({
                    "serial": t.serial,
                    "user_login": t.owner_name.clone().unwrap_or_default(),
                    "user_resolver": if t.owner_id.is_some() { INTERNAL_RESOLVER } else { "" },
                    "user_realm": "",
                });
                return Ok(Output::new(
                    format!(
                        "OTP generated by token {}{}",
                        t.serial,
                        t.owner_name
                            .as_ref()
                            .map(|u| format!(" of user \"{u}\""))
                            .unwrap_or_default()
                    ),
                    value,
                ));
            }
        }
    }
    Ok(Output::new(
        "No token generates this OTP",
        json!({ "serial": "", "user_login": "", "user_resolver": "", "user_realm": "" }),
    ))
}

/// Whether the HOTP/TOTP token would accept `otp` now (its windows, unused counters) — the
/// validate path's own search, without a write.
async fn generates(ctx: &Ctx, t: &Token, otp: &str, now: i64) -> Result<bool, CommandError> {
    if !matches!(token_type(t), Ok(TokenType::Hotp | TokenType::Totp)) {
        return Ok(false);
    }
    Ok(matches!(
        crate::validate::find_otp(ctx, t, otp, now).await?,
        crate::validate::Found::Fresh(_)
    ))
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct TotpLookupArgs {
    serial: Option<String>,
    /// A past OTP value.
    otp: Option<String>,
    /// How far back to search: seconds, or with s/m/h/d (default 24h).
    #[arg(long)]
    window: Option<String>,
}

/// `90`, `90s`, `15m`, `24h`, `2d` → seconds (at most 31 days).
fn parse_duration(name: &str, text: &str) -> Result<i64, CommandError> {
    crate::timefmt::span_secs(text, true)
        .filter(|n| *n > 0 && *n <= 31 * 86_400)
        .ok_or_else(|| {
            CommandError::Invalid(format!(
                "parameter '{name}' must be a duration like 3600, 15m, 24h or 2d (at most 31d)"
            ))
        })
}

async fn totp_lookup(ctx: Ctx, a: TotpLookupArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let otp_value = required("otp", &a.otp)?;
    let window = match given(&a.window) {
        Some(w) => parse_duration("window", w)?,
        None => 24 * 3600,
    };
    // Each lookup tests an OTP against a whole window of steps: an OTP search on one token,
    // counted against the same per-caller budget as `getserial`.
    super::lookup_limit::charge_caller(&ctx)?;
    let token = load_token(&ctx, serial).await?;
    if token_type(&token)? != TokenType::Totp {
        return Err(CommandError::Invalid(format!(
            "token {serial} is not a TOTP token"
        )));
    }
    let digits = u32::try_from(token.otplen).unwrap_or(6);
    if !otp::is_otp_format(otp_value, digits) {
        return Err(CommandError::Invalid(format!(
            "parameter 'otp' must be {digits} digits"
        )));
    }
    let seed = token_seed(&ctx, &token).await?;
    let step = u32::try_from(token.time_step.max(1)).unwrap_or(30);
    let now = ctx.now().saturating_add(token.time_shift);
    let center = otp::totp_step(now, step, 0);
    let back = window / i64::from(step);
    let found = otp::find_totp(
        &seed,
        token_hashlib(&token),
        digits,
        otp_value,
        center,
        back,
        0,
        0,
    );
    let Some(s) = found else {
        return Ok(Output::new(
            format!("OTP not valid for token {serial} within the last {window} s"),
            json!({ "serial": serial, "found": false }),
        ));
    };
    let start = s * i64::from(step) - token.time_shift;
    let end = start + i64::from(step);
    Ok(Output::new(
        format!(
            "OTP of token {serial} was valid from {} to {}",
            rfc3339(start),
            rfc3339(end)
        ),
        json!({
            "serial": serial,
            "found": true,
            "otp_time": start,
            "valid_start": rfc3339(start),
            "valid_end": rfc3339(end),
            "span": step,
        }),
    ))
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct CheckStatusArgs {
    #[arg(long)]
    #[serde(alias = "state", alias = "transaction_id")]
    transactionid: Option<String>,
    #[arg(long)]
    serial: Option<String>,
    #[arg(long)]
    user: Option<String>,
}

async fn checkstatus(ctx: Ctx, a: CheckStatusArgs) -> Result<Output, CommandError> {
    let challenges = if let Some(txid) = given(&a.transactionid) {
        ctx.store().challenge(txid).await?.into_iter().collect()
    } else if let Some(serial) = given(&a.serial) {
        let t = load_token(&ctx, serial).await?;
        ctx.store().challenges_of_tokens(&[t.id]).await?
    } else if let Some(user) = given(&a.user) {
        let owner = super::load_owner(&ctx, user).await?;
        let ids: Vec<String> = ctx
            .store()
            .tokens_of_owner(&owner.id)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        ctx.store().challenges_of_tokens(&ids).await?
    } else {
        return Err(CommandError::Invalid(
            "Missing parameter: 'transactionid', 'serial' or 'user'".into(),
        ));
    };
    let now = ctx.now();
    let mut values = Map::new();
    let mut rows = Vec::new();
    for c in &challenges {
        let status = if c.state == "open" && c.expires_at <= now {
            "expired"
        } else {
            c.state.as_str()
        };
        let entry = values
            .entry(c.serial.to_string())
            .or_insert_with(|| json!({ "challenges": {} }));
        entry["challenges"][c.transaction_id.as_str()] = json!({
            "transactionid": c.transaction_id,
            "status": status,
            "message": c.message,
            "received_tan": c.state == "answered",
            "valid_tan": c.state == "answered",
            "timestamp": rfc3339(c.created_at),
            "expires": rfc3339(c.expires_at),
        });
        rows.push(vec![
            c.transaction_id.clone(),
            c.serial.to_string(),
            status.to_string(),
            rfc3339(c.created_at),
            rfc3339(c.expires_at),
        ]);
    }
    let table = crate::table::Table::new(
        &["TRANSACTION", "SERIAL", "STATUS", "CREATED", "EXPIRES"],
        rows,
    );
    Ok(Output::new(table.render(None), json!({ "values": values })).with_table(table))
}

// Reads act on nobody: the target rule is for changes.
crate::no_targets!(
    ShowArgs,
    SerialOnlyArgs,
    GetSerialArgs,
    TotpLookupArgs,
    CheckStatusArgs,
);
