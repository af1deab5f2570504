//! `token setvalidity` (LinOTP `/admin/setValidity`) and the parsing of the limits and dates it
//! shares with `token set`: count limits, unix seconds, LinOTP's `DD/MM/YY HH:MM`, RFC 3339.

use clap::Parser;
use keyward_store::tokens::TokenField;
use serde::Deserialize;
use serde_json::json;

use super::admin::ids;
use super::load_token;
use crate::access::{Target, Targets, targets_of};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::params::{int_in, one_or_many};

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct SetValidityArgs {
    /// Token serials.
    #[arg(long = "tokens", num_args = 1.., value_delimiter = ',')]
    #[serde(
        rename = "tokens[]",
        alias = "tokens",
        deserialize_with = "one_or_many"
    )]
    tokens: Vec<String>,
    #[arg(long = "count-auth-success-max", alias = "countAuthSuccessMax")]
    #[serde(rename = "countAuthSuccessMax")]
    count_auth_success_max: Option<String>,
    #[arg(long = "count-auth-max", alias = "countAuthMax")]
    #[serde(rename = "countAuthMax")]
    count_auth_max: Option<String>,
    #[arg(long = "validity-period-start", alias = "validityPeriodStart")]
    #[serde(rename = "validityPeriodStart")]
    validity_period_start: Option<String>,
    #[arg(long = "validity-period-end", alias = "validityPeriodEnd")]
    #[serde(rename = "validityPeriodEnd")]
    validity_period_end: Option<String>,
}

pub(super) async fn setvalidity(ctx: Ctx, a: SetValidityArgs) -> Result<Output, CommandError> {
    let wanted: Vec<&str> = a
        .tokens
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if wanted.is_empty() {
        return Err(CommandError::Invalid(
            "Missing parameter: 'tokens[]'".into(),
        ));
    }
    let mut fields = Vec::new();
    if let Some(v) = a.count_auth_success_max.as_deref() {
        fields.push(TokenField::CountAuthSuccessMax(parse_limit(
            "countAuthSuccessMax",
            v,
        )?));
    }
    if let Some(v) = a.count_auth_max.as_deref() {
        fields.push(TokenField::CountAuthMax(parse_limit("countAuthMax", v)?));
    }
    if let Some(v) = a.validity_period_start.as_deref() {
        fields.push(TokenField::ValidityStart(parse_when(
            "validityPeriodStart",
            v,
        )?));
    }
    if let Some(v) = a.validity_period_end.as_deref() {
        fields.push(TokenField::ValidityEnd(parse_when("validityPeriodEnd", v)?));
    }
    if fields.is_empty() {
        return Err(CommandError::Invalid(
            "nothing to set: give countAuthMax, countAuthSuccessMax, validityPeriodStart or validityPeriodEnd".into(),
        ));
    }
    // Every serial must exist before anything changes (all or nothing).
    let mut tokens = Vec::with_capacity(wanted.len());
    for s in &wanted {
        tokens.push(load_token(&ctx, s).await?);
    }
    let mut tx = ctx.begin_change().await?;
    tx.update_tokens(&ids(&tokens), &fields, ctx.now()).await?;
    let list: Vec<String> = tokens.iter().map(|t| t.serial.to_string()).collect();
    ctx.commit_output(
        tx,
        Output::new(format!("Validity set on {}", list.join(", ")), json!(list))
            .with_audit(format!("validity set on {}", list.join(", "))),
    )
    .await
}

/// Parses a point in time: unix seconds, LinOTP's `DD/MM/YY HH:MM`, or RFC 3339; `unlimited`
/// (or empty) removes the limit.
pub(crate) fn parse_when(name: &str, text: &str) -> Result<Option<i64>, CommandError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    if let Ok(secs) = t.parse::<i64>() {
        if (0..=253_402_300_799).contains(&secs) {
            return Ok(Some(secs));
        }
    } else {
        if let Some(secs) = parse_linotp_date(t) {
            return Ok(Some(secs));
        }
        if let Ok(dt) =
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        {
            return Ok(Some(dt.unix_timestamp()));
        }
    }
    Err(CommandError::Invalid(format!(
        "parameter '{name}' must be unix seconds, DD/MM/YY HH:MM, RFC 3339 or 'unlimited'"
    )))
}

/// LinOTP's `DD/MM/YY HH:MM` (years 2000-2099, UTC) as unix seconds.
fn parse_linotp_date(text: &str) -> Option<i64> {
    let (date, clock) = text.split_once(' ')?;
    let mut d = date.split('/').map(|p| p.parse::<u8>().ok());
    let (day, month, year) = (d.next()??, d.next()??, d.next()??);
    let (hour, minute) = clock.trim().split_once(':')?;
    if d.next().is_some() || year > 99 {
        return None;
    }
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(2000 + i32::from(year), month, day).ok()?;
    let t = time::Time::from_hms(hour.parse().ok()?, minute.parse().ok()?, 0).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// A count limit: a non-negative integer, `unlimited`/empty = 0 (no limit).
pub(super) fn parse_limit(name: &str, text: &str) -> Result<i64, CommandError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("unlimited") {
        return Ok(0);
    }
    int_in(name, t, 0, i64::from(i32::MAX))
}

impl Targets for SetValidityArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of(self.tokens.iter().map(|s| Some(Target::Token(s.clone()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linotp_dates_parse_as_utc() {
        assert_eq!(parse_linotp_date("15/01/29 08:30"), Some(1_863_160_200));
        assert_eq!(parse_linotp_date("31/12/30 23:59"), Some(1_924_991_940));
        assert_eq!(parse_linotp_date("32/01/29 08:30"), None);
        assert_eq!(parse_linotp_date("15/01/2029 08:30"), None);
        assert!(parse_when("x", "unlimited").is_ok_and(|v| v.is_none()));
        assert!(parse_when("x", "tomorrow").is_err());
    }
}
