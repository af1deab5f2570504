//! Runtime configuration commands: `config set KEY VALUE`, `config get KEY`, `config list`,
//! `config unset KEY`. Only known keys are accepted, each with a typed value, so a typo cannot
//! silently leave a switch in its default state.

use clap::Parser;
use serde_json::json;

use crate::access::{ADMINS, AUDIT_READERS, Access};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};

/// The type of a runtime setting's value.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
}

/// A known runtime setting.
pub struct RuntimeKey {
    pub name: &'static str,
    pub about: &'static str,
    pub default: &'static str,
    kind: Kind,
}

/// Every runtime setting keyward reads.
pub const RUNTIME_KEYS: &[RuntimeKey] = &[
    RuntimeKey {
        name: "registration_enabled",
        about: "Whether POST /auth/register accepts self-registration",
        default: "true (the first user is made at the console, never by registration)",
        kind: Kind::Bool,
    },
    RuntimeKey {
        name: "api_key_required",
        about: "Whether /validate/* requires a validate API key",
        default: "false",
        kind: Kind::Bool,
    },
];

fn lookup(name: &str) -> Result<&'static RuntimeKey, CommandError> {
    RUNTIME_KEYS.iter().find(|k| k.name == name).ok_or_else(|| {
        let known: Vec<&str> = RUNTIME_KEYS.iter().map(|k| k.name).collect();
        CommandError::Invalid(format!(
            "unknown config key \"{name}\" (known: {})",
            known.join(", ")
        ))
    })
}

/// Normalises a value for its key, or says why it is not acceptable.
fn normalise(key: &RuntimeKey, value: &str) -> Result<String, CommandError> {
    match key.kind {
        Kind::Bool => match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok("true".into()),
            "0" | "false" | "no" | "off" => Ok("false".into()),
            _ => Err(CommandError::Invalid(format!(
                "config key \"{}\" takes true or false, not \"{value}\"",
                key.name
            ))),
        },
    }
}

/// Reads a boolean runtime setting; `None` when unset.
pub async fn get_bool(ctx: &Ctx, name: &str) -> Result<Option<bool>, CommandError> {
    Ok(ctx.store().config_get(name).await?.map(|v| v == "true"))
}

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "config set",
            "Set a runtime config value (e.g. registration_enabled false)",
            config_set,
        )
        .mutating()
        .example("config set registration_enabled false")
        .example("config set api_key_required true")
        .allow(Access::Roles(ADMINS)),
        command("config get", "Show a runtime config value", config_get)
            .example("config get registration_enabled")
            .allow(Access::Roles(AUDIT_READERS)),
        command(
            "config unset",
            "Remove a runtime config value (back to its default)",
            config_unset,
        )
        .mutating()
        .example("config unset registration_enabled")
        .allow(Access::Roles(ADMINS)),
        command(
            "config list",
            "List runtime config keys and values",
            config_list,
        )
        .example("config list")
        .example("config list --output csv")
        .lists()
        .allow(Access::Roles(AUDIT_READERS)),
    ]
}

#[derive(Parser)]
struct SetArgs {
    key: String,
    value: String,
}

async fn config_set(ctx: Ctx, a: SetArgs) -> Result<Output, CommandError> {
    let key = lookup(&a.key)?;
    let value = normalise(key, &a.value)?;
    let mut tx = ctx.begin_change().await?;
    tx.config_set(key.name, &value, ctx.now()).await?;
    let out = Output::new(
        format!("{} = {}", key.name, value),
        json!({ "key": key.name, "value": value }),
    )
    .with_audit(format!("{} = {}", key.name, value));
    ctx.commit_output(tx, out).await
}

#[derive(Parser)]
struct KeyArg {
    key: String,
}

async fn config_get(ctx: Ctx, a: KeyArg) -> Result<Output, CommandError> {
    let key = lookup(&a.key)?;
    Ok(match ctx.store().config_get(key.name).await? {
        Some(v) => Output::new(
            format!("{} = {}", key.name, v),
            json!({ "key": key.name, "value": v }),
        ),
        None => Output::new(
            format!("{} is not set (default: {})", key.name, key.default),
            json!({ "key": key.name, "value": null, "default": key.default }),
        ),
    })
}

async fn config_unset(ctx: Ctx, a: KeyArg) -> Result<Output, CommandError> {
    let key = lookup(&a.key)?;
    let mut tx = ctx.begin_change().await?;
    let removed = tx.config_unset(key.name).await?;
    let text = if removed {
        format!("Unset {}", key.name)
    } else {
        format!("{} was not set", key.name)
    };
    let out = Output::new(text, json!({ "key": key.name, "removed": removed }));
    ctx.commit_output(tx, out).await
}

#[derive(Parser)]
struct NoArgs {}

async fn config_list(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let stored = ctx.store().config_list().await?;
    let mut rows = Vec::new();
    let mut items = Vec::new();
    for key in RUNTIME_KEYS {
        let value = stored
            .iter()
            .find(|(k, _)| k == key.name)
            .map(|(_, v)| v.clone());
        rows.push(vec![
            key.name.to_string(),
            value
                .clone()
                .unwrap_or_else(|| format!("(default: {})", key.default)),
            key.about.to_string(),
        ]);
        items.push(
            json!({ "key": key.name, "value": value, "default": key.default, "about": key.about }),
        );
    }
    let table = crate::table::Table::new(&["KEY", "VALUE", "ABOUT"], rows);
    Ok(Output::new(table.render(None), json!({ "config": items })).with_table(table))
}

crate::target_field!(SetArgs => Object(key));

crate::target_field!(KeyArg => Object(key));

crate::no_targets!(NoArgs);
