//! `token set` (LinOTP `/admin/set`): a token's PIN, description, fail and count limits,
//! windows, algorithm, validity period and phone, for one serial or all tokens of a user, in one
//! transaction.

use clap::Parser;
use keyward_core::otp::{HashAlg, check_otplen};
use keyward_store::tokens::TokenField;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::admin::serials;
use super::validity::{parse_limit, parse_when};
use super::{hash_pin, tokens_by_serial_or_user};
use crate::access::{Access, TOKEN_OPERATORS, Target, Targets, targets_of};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::params::{given, int_in};
use crate::registry::{CommandSpec, param_command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command(
            "token set",
            "Set token values (PIN, MaxFailCount, windows, limits…)",
            set,
        )
        .mutating()
        .example("token set OATH0001 --max-fail-count 5 --count-auth-success-max 100")
        .example("token set OATH0001 --pin 4321")
        .new_secret("pin")
        .allow(Access::Roles(TOKEN_OPERATORS)),
    ]
}

/// LinOTP reads `set`'s parameter names case-insensitively (its admin client sends
/// `maxfailcount`, `syncwindow`, `otplen`): each camel-case name also has its lower-case alias.
#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct SetArgs {
    serial: Option<String>,
    #[arg(long)]
    user: Option<String>,
    /// The OTP PIN.
    #[arg(long)]
    pin: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long = "max-fail-count", alias = "MaxFailCount")]
    #[serde(rename = "MaxFailCount", alias = "maxfailcount")]
    max_fail_count: Option<String>,
    #[arg(long = "sync-window", alias = "SyncWindow")]
    #[serde(rename = "SyncWindow", alias = "syncwindow")]
    sync_window: Option<String>,
    #[arg(long = "otp-len", alias = "OtpLen")]
    #[serde(rename = "OtpLen", alias = "otplen")]
    otp_len: Option<String>,
    #[arg(long = "counter-window", alias = "CounterWindow")]
    #[serde(rename = "CounterWindow", alias = "counterwindow")]
    counter_window: Option<String>,
    #[arg(long)]
    hashlib: Option<String>,
    #[arg(long = "time-window", alias = "timeWindow")]
    #[serde(rename = "timeWindow", alias = "timewindow")]
    time_window: Option<String>,
    #[arg(long = "time-step", alias = "timeStep")]
    #[serde(rename = "timeStep", alias = "timestep")]
    time_step: Option<String>,
    #[arg(long = "time-shift", alias = "timeShift")]
    #[serde(rename = "timeShift", alias = "timeshift")]
    time_shift: Option<String>,
    #[arg(long = "count-auth-success-max", alias = "countAuthSuccessMax")]
    #[serde(rename = "countAuthSuccessMax", alias = "countauthsuccessmax")]
    count_auth_success_max: Option<String>,
    #[arg(long = "count-auth-success", alias = "countAuthSuccess")]
    #[serde(rename = "countAuthSuccess", alias = "countauthsuccess")]
    count_auth_success: Option<String>,
    #[arg(long = "count-auth", alias = "countAuth")]
    #[serde(rename = "countAuth", alias = "countauth")]
    count_auth: Option<String>,
    #[arg(long = "count-auth-max", alias = "countAuthMax")]
    #[serde(rename = "countAuthMax", alias = "countauthmax")]
    count_auth_max: Option<String>,
    /// Start of validity: unix seconds, `DD/MM/YY HH:MM`, RFC 3339, or `unlimited`.
    #[arg(long = "validity-period-start", alias = "validityPeriodStart")]
    #[serde(rename = "validityPeriodStart", alias = "validityperiodstart")]
    validity_period_start: Option<String>,
    #[arg(long = "validity-period-end", alias = "validityPeriodEnd")]
    #[serde(rename = "validityPeriodEnd", alias = "validityperiodend")]
    validity_period_end: Option<String>,
    /// Phone number (SMS tokens).
    #[arg(long)]
    phone: Option<String>,
}

/// An integer `set` parameter: name, value, bounds and the column it sets.
type IntParam<'a> = (
    &'static str,
    &'a Option<String>,
    i64,
    i64,
    fn(i64) -> TokenField,
);

async fn set(ctx: Ctx, a: SetArgs) -> Result<Output, CommandError> {
    // Everything is parsed before anything is written.
    let mut fields = Vec::new();
    let mut report = Map::new();
    let mut note = |key: &str, field: TokenField, fields: &mut Vec<TokenField>| {
        report.insert(format!("set {key}"), json!(1));
        fields.push(field);
    };
    if let Some(pin) = a.pin.as_deref() {
        note(
            "pin",
            TokenField::PinHash(hash_pin(&ctx, pin).await?),
            &mut fields,
        );
    }
    if let Some(d) = a.description.as_deref() {
        if d.len() > 512 {
            return Err(CommandError::Invalid(
                "parameter 'description' is too long".into(),
            ));
        }
        note(
            "description",
            TokenField::Description(d.to_string()),
            &mut fields,
        );
    }
    let ints: [IntParam<'_>; 9] = [
        (
            "MaxFailCount",
            &a.max_fail_count,
            1,
            1_000_000,
            TokenField::MaxFail,
        ),
        (
            "SyncWindow",
            &a.sync_window,
            1,
            1_000_000,
            TokenField::SyncWindow,
        ),
        (
            "CounterWindow",
            &a.counter_window,
            1,
            10_000,
            TokenField::CountWindow,
        ),
        (
            "timeWindow",
            &a.time_window,
            0,
            86_400,
            TokenField::TimeWindow,
        ),
        ("timeStep", &a.time_step, 1, 3600, TokenField::TimeStep),
        (
            "timeShift",
            &a.time_shift,
            -86_400,
            86_400,
            TokenField::TimeShift,
        ),
        (
            "countAuthSuccess",
            &a.count_auth_success,
            0,
            i64::from(i32::MAX),
            TokenField::CountAuthSuccess,
        ),
        (
            "countAuth",
            &a.count_auth,
            0,
            i64::from(i32::MAX),
            TokenField::CountAuth,
        ),
        ("OtpLen", &a.otp_len, 0, 99, TokenField::Otplen),
    ];
    for (name, value, min, max, make) in ints {
        if let Some(v) = given(value) {
            let n = int_in(name, v, min, max)?;
            if name == "OtpLen" {
                check_otplen(n)?;
            }
            note(name, make(n), &mut fields);
        }
    }
    if let Some(h) = given(&a.hashlib) {
        note(
            "hashlib",
            TokenField::Hashlib(HashAlg::parse(h)?.as_str().into()),
            &mut fields,
        );
    }
    if let Some(v) = given(&a.count_auth_success_max) {
        note(
            "countAuthSuccessMax",
            TokenField::CountAuthSuccessMax(parse_limit("countAuthSuccessMax", v)?),
            &mut fields,
        );
    }
    if let Some(v) = given(&a.count_auth_max) {
        note(
            "countAuthMax",
            TokenField::CountAuthMax(parse_limit("countAuthMax", v)?),
            &mut fields,
        );
    }
    if let Some(v) = a.validity_period_start.as_deref() {
        note(
            "validityPeriodStart",
            TokenField::ValidityStart(parse_when("validityPeriodStart", v)?),
            &mut fields,
        );
    }
    if let Some(v) = a.validity_period_end.as_deref() {
        note(
            "validityPeriodEnd",
            TokenField::ValidityEnd(parse_when("validityPeriodEnd", v)?),
            &mut fields,
        );
    }
    let tokens = tokens_by_serial_or_user(&ctx, given(&a.serial), given(&a.user)).await?;
    let phone = given(&a.phone);
    if phone.is_some() {
        report.insert("set phone".into(), json!(1));
    }
    if fields.is_empty() && report.is_empty() {
        return Err(CommandError::Invalid(
            "nothing to set: give at least one value (pin, MaxFailCount, …)".into(),
        ));
    }
    // The phone lives in each token's info (SMS tokens read it), so each token gets its own
    // field list; all of them are written in one transaction.
    let per_token: Vec<Vec<TokenField>> = tokens
        .iter()
        .map(|t| {
            let mut own = fields.clone();
            if let Some(phone) = phone {
                let mut info = t.info.clone();
                info.insert("phone".into(), json!(phone));
                own.push(TokenField::Info(info));
            }
            own
        })
        .collect();
    let updates: Vec<(&str, &[TokenField])> = tokens
        .iter()
        .zip(&per_token)
        .map(|(t, f)| (t.id.as_str(), f.as_slice()))
        .collect();
    let mut tx = ctx.begin_change().await?;
    tx.update_tokens_each(&updates, ctx.now()).await?;
    let names: Vec<&str> = report
        .keys()
        .map(|k| k.trim_start_matches("set "))
        .collect();
    let text = format!("Set {} on {}", names.join(", "), serials(&tokens));
    let audit = format!("set {} on {}", names.join(", "), serials(&tokens));
    ctx.commit_output(
        tx,
        Output::new(text, Value::Object(report)).with_audit(audit),
    )
    .await
}

impl Targets for SetArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([
            self.serial.clone().map(Target::Token),
            self.user.clone().map(Target::User),
        ])
    }
}
