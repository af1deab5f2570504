//! Changing tokens (LinOTP `/admin/*`): assign, unassign, enable, disable, remove, reset,
//! setPin, setValidity, tokenrealm, copyTokenPin, copyTokenUser, unpair — and `reset2fa
//! USERNAME` (seed 000), which removes every second factor of a user (`set`: set.rs). Operations on several
//! tokens (a user's, or a `tokens[]` selection) are one transaction.

use clap::Parser;
use keyward_store::tokens::{Token, TokenField};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::validity::setvalidity;
use super::{
    done, hash_pin, load_owner, load_token, seal_token_secret, token_type, tokens_by_serial_or_user,
};
use crate::access::{Access, TOKEN_OPERATORS, Target, Targets, targets_of};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::params::{given, required};
use crate::registry::{CommandSpec, command, param_command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command("token assign", "Assign a token to a user", assign)
            .mutating()
            .example("token assign OATH0001 alice --pin 1234")
            .new_secret("pin")
            .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command("token unassign", "Remove a token's owner", unassign)
            .mutating()
            .example("token unassign OATH0001")
            .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token enable",
            "Enable a token, or all tokens of --user",
            enable,
        )
        .mutating()
        .example("token enable OATH0001")
        .example("token enable --user alice")
        .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token disable",
            "Disable a token, or all tokens of --user",
            disable,
        )
        .mutating()
        .example("token disable OATH0001")
        .example("token disable --user alice")
        .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token remove",
            "Delete a token, or all tokens of --user",
            remove,
        )
        .mutating()
        .example("token remove OATH0001")
        .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token reset",
            "Reset the fail counter of a token, or of all tokens of --user",
            reset,
        )
        .mutating()
        .example("token reset OATH0001")
        .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token setpin",
            "Store a token's userpin / sopin (encrypted)",
            setpin,
        )
        .mutating()
        .example("token setpin OATH0001 --userpin 1234 --sopin 5678")
        .new_secret("userpin")
        .new_secret("sopin")
        .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token setvalidity",
            "Set validity period and count limits of several tokens",
            setvalidity,
        )
        .mutating()
        .example("token setvalidity --tokens OATH0001,OATH0002 --count-auth-max 100")
        .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command("token tokenrealm", "Set the realms of a token", tokenrealm)
            .mutating()
            .example("token tokenrealm OATH0001 keyward")
            .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token copypin",
            "Copy the PIN from one token to another",
            copypin,
        )
        .mutating()
        .example("token copypin OATH0001 OATH0002")
        .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token copyuser",
            "Copy the owner from one token to another",
            copyuser,
        )
        .mutating()
        .example("token copyuser OATH0001 OATH0002")
        .allow(Access::Roles(TOKEN_OPERATORS)),
        param_command(
            "token unpair",
            "Reset a paired token to its unpaired state",
            unpair,
        )
        .mutating()
        .example("token unpair OATH0001")
        .allow(Access::Roles(TOKEN_OPERATORS)),
        command(
            "reset2fa",
            "Remove every second factor (token) of a user",
            reset2fa,
        )
        .mutating()
        .example("reset2fa alice")
        .allow(Access::Roles(TOKEN_OPERATORS)),
    ]
}

pub(super) fn ids(tokens: &[Token]) -> Vec<String> {
    tokens.iter().map(|t| t.id.clone()).collect()
}

pub(super) fn serials(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| t.serial.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct AssignArgs {
    serial: Option<String>,
    /// USERNAME or USERNAME@REALM.
    user: Option<String>,
    /// The user's realm (LinOTP's `realm` parameter), for a USERNAME without `@REALM`.
    #[arg(long)]
    realm: Option<String>,
    /// Also set the token PIN.
    #[arg(long)]
    pin: Option<String>,
}

async fn assign(ctx: Ctx, a: AssignArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let user = super::user_in_realm(required("user", &a.user)?, a.realm.as_deref());
    let token = load_token(&ctx, serial).await?;
    let owner = super::load_or_adopt_owner(&ctx, &user).await?;
    if let Some(current) = &token.owner_id
        && current != &owner.id
    {
        return Err(CommandError::Conflict(format!(
            "token {serial} is already assigned to another user; unassign it first"
        )));
    }
    let mut fields = vec![
        TokenField::Owner(Some(owner.id.to_string())),
        TokenField::FailCount(0),
    ];
    if let Some(pin) = a.pin.as_deref() {
        fields.push(TokenField::PinHash(hash_pin(&ctx, pin).await?));
    }
    let mut tx = ctx.begin_change().await?;
    tx.update_token(&token.id, &fields, ctx.now()).await?;
    ctx.commit_output(
        tx,
        Output::new(
            format!("Assigned token {serial} to user \"{}\"", owner.username),
            json!(true),
        )
        .with_audit(format!("owner {}", owner.username)),
    )
    .await
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct SerialArgs {
    serial: Option<String>,
    /// Optional owner (checked when given).
    #[arg(long)]
    user: Option<String>,
}

async fn unassign(ctx: Ctx, a: SerialArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let token = load_token(&ctx, serial).await?;
    if let Some(u) = given(&a.user) {
        let owner = load_owner(&ctx, u).await?;
        if token.owner_id.as_deref() != Some(owner.id.as_str()) {
            return Err(CommandError::Invalid(format!(
                "token {serial} does not belong to user \"{u}\""
            )));
        }
    }
    // LinOTP also clears the PIN and the fail counter: the next owner starts fresh.
    let mut tx = ctx.begin_change().await?;
    let n = tx
        .update_tokens(
            std::slice::from_ref(&token.id),
            &[
                TokenField::Owner(None),
                TokenField::PinHash(String::new()),
                TokenField::FailCount(0),
            ],
            ctx.now(),
        )
        .await?;
    ctx.commit_output(
        tx,
        Output::new(format!("Unassigned token {serial}"), done(n)),
    )
    .await
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct SerialOrUserArgs {
    serial: Option<String>,
    /// All tokens of this user instead of one serial.
    #[arg(long)]
    user: Option<String>,
}

/// Applies `fields` to the tokens named by serial or user; says `verb` for each.
async fn update_selected(
    ctx: &Ctx,
    a: &SerialOrUserArgs,
    fields: &[TokenField],
    verb: &str,
) -> Result<Output, CommandError> {
    let tokens = tokens_by_serial_or_user(ctx, given(&a.serial), given(&a.user)).await?;
    let mut tx = ctx.begin_change().await?;
    let n = tx.update_tokens(&ids(&tokens), fields, ctx.now()).await?;
    ctx.commit_output(
        tx,
        Output::new(
            format!("{verb} {n} token(s){}", list_suffix(&tokens)),
            done(n),
        )
        .with_audit(format!("{} {}", verb.to_lowercase(), serials(&tokens))),
    )
    .await
}

fn list_suffix(tokens: &[Token]) -> String {
    if tokens.is_empty() {
        String::new()
    } else {
        format!(": {}", serials(tokens))
    }
}

async fn enable(ctx: Ctx, a: SerialOrUserArgs) -> Result<Output, CommandError> {
    update_selected(&ctx, &a, &[TokenField::Active(true)], "Enabled").await
}

async fn disable(ctx: Ctx, a: SerialOrUserArgs) -> Result<Output, CommandError> {
    update_selected(&ctx, &a, &[TokenField::Active(false)], "Disabled").await
}

async fn reset(ctx: Ctx, a: SerialOrUserArgs) -> Result<Output, CommandError> {
    update_selected(&ctx, &a, &[TokenField::FailCount(0)], "Reset").await
}

async fn remove(ctx: Ctx, a: SerialOrUserArgs) -> Result<Output, CommandError> {
    let tokens = tokens_by_serial_or_user(&ctx, given(&a.serial), given(&a.user)).await?;
    let mut tx = ctx.begin_change().await?;
    let n = tx.delete_tokens(&ids(&tokens)).await?;
    ctx.commit_output(
        tx,
        Output::new(
            format!("Removed {n} token(s){}", list_suffix(&tokens)),
            done(n),
        )
        .with_audit(format!("removed {}", serials(&tokens))),
    )
    .await
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct SetPinArgs {
    serial: Option<String>,
    #[arg(long)]
    userpin: Option<String>,
    #[arg(long)]
    sopin: Option<String>,
}

async fn setpin(ctx: Ctx, a: SetPinArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let token = load_token(&ctx, serial).await?;
    let mut fields = Vec::new();
    let mut report = Map::new();
    if let Some(p) = given(&a.userpin) {
        let sealed = seal_token_secret(&ctx, &token.id, "userpin", p.as_bytes()).await?;
        fields.push(TokenField::UserpinSealed(sealed));
        report.insert("set userpin".into(), json!(1));
    }
    if let Some(p) = given(&a.sopin) {
        let sealed = seal_token_secret(&ctx, &token.id, "sopin", p.as_bytes()).await?;
        fields.push(TokenField::SopinSealed(sealed));
        report.insert("set sopin".into(), json!(1));
    }
    if fields.is_empty() {
        return Err(CommandError::Invalid(
            "Missing parameter: 'userpin' or 'sopin'".into(),
        ));
    }
    let mut tx = ctx.begin_change().await?;
    tx.update_token(&token.id, &fields, ctx.now()).await?;
    let names: Vec<String> = report
        .keys()
        .map(|k| k.trim_start_matches("set ").to_string())
        .collect();
    ctx.commit_output(
        tx,
        Output::new(
            format!("Stored {} of token {serial}", names.join(" and ")),
            Value::Object(report),
        )
        .with_audit(format!("stored {}", names.join(", "))),
    )
    .await
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct TokenRealmArgs {
    serial: Option<String>,
    /// Comma-separated realm names (empty: none).
    realms: Option<String>,
}

async fn tokenrealm(ctx: Ctx, a: TokenRealmArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let realms_text = a
        .realms
        .as_deref()
        .ok_or_else(|| CommandError::Invalid("Missing parameter: 'realms'".into()))?;
    let mut realms: Vec<String> = realms_text
        .split(',')
        .map(|r| r.trim().to_lowercase())
        .filter(|r| !r.is_empty())
        .collect();
    realms.sort();
    realms.dedup();
    if realms.iter().any(|r| r.len() > 64) {
        return Err(CommandError::Invalid(
            "realm names are at most 64 characters".into(),
        ));
    }
    let token = load_token(&ctx, serial).await?;
    let mut tx = ctx.begin_change().await?;
    tx.set_token_realms(&token.id, &realms).await?;
    ctx.commit_output(
        tx,
        Output::new(
            format!("Token {serial} is in realms: {}", realms.join(", ")),
            json!(1),
        )
        .with_audit(format!("realms {}", realms.join(","))),
    )
    .await
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct FromToArgs {
    /// Serial to copy from.
    from: Option<String>,
    /// Serial to copy to.
    to: Option<String>,
}

async fn from_to(ctx: &Ctx, a: &FromToArgs) -> Result<(Token, Token), CommandError> {
    let from = required("from", &a.from)?;
    let to = required("to", &a.to)?;
    Ok((load_token(ctx, from).await?, load_token(ctx, to).await?))
}

async fn copypin(ctx: Ctx, a: FromToArgs) -> Result<Output, CommandError> {
    let (from, to) = from_to(&ctx, &a).await?;
    let mut tx = ctx.begin_change().await?;
    tx.update_token(
        &to.id,
        &[TokenField::PinHash(from.pin_hash.clone())],
        ctx.now(),
    )
    .await?;
    ctx.commit_output(
        tx,
        Output::new(
            format!(
                "Copied the PIN of token {} to token {}",
                from.serial, to.serial
            ),
            json!(true),
        )
        .with_audit(format!("pin copied from {}", from.serial)),
    )
    .await
}

async fn copyuser(ctx: Ctx, a: FromToArgs) -> Result<Output, CommandError> {
    let (from, to) = from_to(&ctx, &a).await?;
    let Some(owner) = from.owner_id.clone() else {
        return Err(CommandError::Invalid(format!(
            "token {} is not assigned to a user",
            from.serial
        )));
    };
    let mut tx = ctx.begin_change().await?;
    tx.update_token(&to.id, &[TokenField::Owner(Some(owner))], ctx.now())
        .await?;
    let name = from.owner_name.clone().unwrap_or_default();
    ctx.commit_output(
        tx,
        Output::new(
            format!(
                "Assigned token {} to user \"{name}\" (owner of {})",
                to.serial, from.serial
            ),
            json!(true),
        )
        .with_audit(format!("owner {name} copied from {}", from.serial)),
    )
    .await
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct UnpairArgs {
    serial: Option<String>,
}

async fn unpair(ctx: Ctx, a: UnpairArgs) -> Result<Output, CommandError> {
    let serial = required("serial", &a.serial)?;
    let token = load_token(&ctx, serial).await?;
    let kind = token_type(&token)?;
    // Pairing exists for app tokens (QR/push) only; keyward's OATH, password, e-mail and SMS
    // tokens have nothing to unpair — LinOTP answers the same for them.
    Err(CommandError::Invalid(format!(
        "token {serial} of type {} does not support pairing; nothing to unpair",
        kind.as_str()
    )))
}

impl Targets for AssignArgs {
    fn targets(&self) -> Vec<Target> {
        let user = self
            .user
            .as_deref()
            .map(|u| Target::User(super::user_in_realm(u, self.realm.as_deref())));
        targets_of([self.serial.clone().map(Target::Token), user])
    }
}

impl Targets for SerialArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([
            self.serial.clone().map(Target::Token),
            self.user.clone().map(Target::User),
        ])
    }
}

impl Targets for SerialOrUserArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([
            self.serial.clone().map(Target::Token),
            self.user.clone().map(Target::User),
        ])
    }
}

impl Targets for SetPinArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([self.serial.clone().map(Target::Token)])
    }
}

impl Targets for TokenRealmArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([self.serial.clone().map(Target::Token)])
    }
}

impl Targets for UnpairArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([self.serial.clone().map(Target::Token)])
    }
}

impl Targets for FromToArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([
            self.from.clone().map(Target::Token),
            self.to.clone().map(Target::Token),
        ])
    }
}

crate::target_field!(Reset2faArgs => User(username));

#[derive(Parser)]
pub struct Reset2faArgs {
    username: String,
}

async fn reset2fa(ctx: Ctx, a: Reset2faArgs) -> Result<Output, CommandError> {
    let owner = crate::users::load_user(&ctx, &a.username).await?;
    let mut tx = ctx.begin_change().await?;
    let tokens = ctx.store().tokens_of_owner(&owner.id).await?;
    let n = tx.delete_tokens(&ids(&tokens)).await?;
    ctx.commit_output(tx, Output::new(
        format!("Removed {n} second factor(s) of user \"{}\"", owner.username),
        json!({ "username": owner.username, "removed": n, "serials": tokens.iter().map(|t| t.serial.clone()).collect::<Vec<_>>() }),
    )
    .with_audit(format!("removed {}", serials(&tokens)))).await
}
