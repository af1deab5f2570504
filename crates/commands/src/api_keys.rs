//! API keys (pi-manage `api createtoken`, seed 001), improved as privacyIDEA later did: keys are
//! random, stored only as hashes, listable and revocable. A key reads `kw_<id>_<secret>` and is
//! sent as `Authorization: Bearer KEY` (or raw). `admin` keys act with role admin, named after an
//! account that need not exist (as in pi-manage); a key made for an existing account dies with
//! it. `validate` keys only open `/validate/*`.

use clap::Parser;
use keyward_proto::{ApiKeyId, ApiKeyInfo, Username};
use keyward_store::api_keys::{ApiKey, NewApiKey};
use serde_json::json;

use crate::access::{ADMINS, AUDIT_READERS, Access, Target, Targets, targets_of};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::timefmt::{rfc3339, rfc3339_opt};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "api createtoken",
            "Create an API key (-r admin|validate, -d DAYS, -u USERNAME, -R REALM); shown once",
            createtoken,
        )
        .mutating()
        .example("api createtoken -r admin -u alice -d 30")
        .example("api createtoken -r validate --description 'VPN gateway'")
        .allow(Access::Superuser),
        command("api list", "List API keys (never their secrets)", list)
            .example("api list")
            .example("api list --output json")
            .lists()
            .allow(Access::Roles(AUDIT_READERS)),
        command(
            "api show",
            "Show one API key by its id (never its secret)",
            show,
        )
        .example("api show 9f86d081884c7d65")
        .allow(Access::Roles(AUDIT_READERS)),
        command("api revoke", "Revoke an API key by its id", revoke)
            .mutating()
            .example("api revoke 9f86d081884c7d65")
            .allow(Access::Roles(ADMINS)),
    ]
}

impl Targets for CreateArgs {
    fn targets(&self) -> Vec<Target> {
        targets_of([self.username.clone().map(Target::User)])
    }
}

crate::target_field!(IdArg => ApiKey(id));
crate::no_targets!(ShowArg);

crate::no_targets!(NoArgs);

/// The roles an API key can have.
pub const KEY_ROLES: [&str; 2] = ["admin", "validate"];

fn parse_role(s: &str) -> Result<String, String> {
    let r = s.trim().to_ascii_lowercase();
    if KEY_ROLES.contains(&r.as_str()) {
        Ok(r)
    } else {
        Err(format!("role must be admin or validate, not {s:?}"))
    }
}

fn parse_days(s: &str) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(d) if (1..=36_500).contains(&d) => Ok(d),
        _ => Err(format!(
            "DAYS must be a whole number from 1 to 36500, not {s:?}"
        )),
    }
}

#[derive(Parser)]
struct CreateArgs {
    /// admin (acts as the named admin on the REST API) or validate (only /validate/*).
    #[arg(short = 'r', long, value_parser = parse_role)]
    role: String,
    /// Validity in days.
    #[arg(short = 'd', long, default_value = "365", value_parser = parse_days)]
    days: i64,
    /// The user the key acts as; default: a generated name such as API_ADMIN_1a2b3c.
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Realm recorded with the key.
    #[arg(short = 'R', long, default_value = "API")]
    realm: String,
    /// Free-text note shown by `api list`.
    #[arg(long, default_value = "")]
    description: String,
}

fn random_hex(n: usize) -> Result<String, CommandError> {
    keyward_core::random::hex(n).map_err(|e| CommandError::Internal(e.to_string()))
}

/// Splits a presented key into its id, when it has keyward's shape.
pub fn key_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix("kw_")?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some(id)
}

async fn createtoken(ctx: Ctx, a: CreateArgs) -> Result<Output, CommandError> {
    let username = match a.username {
        Some(u) => {
            keyward_core::user::validate_username(&u)?;
            u
        }
        None => format!("API_{}_{}", a.role.to_ascii_uppercase(), random_hex(3)?),
    };
    let id = random_hex(8)?;
    let secret =
        keyward_core::random::token_string().map_err(|e| CommandError::Internal(e.to_string()))?;
    let key = format!("kw_{id}_{secret}");
    let now = ctx.now();
    let expires_at = now.saturating_add(a.days.saturating_mul(86_400));
    // A key made for an existing account belongs to it and dies with it.
    let owner = ctx
        .store()
        .find_user(&Username::from(username.as_str()))
        .await?;
    let mut tx = ctx.begin_change().await?;
    tx.create_api_key(&NewApiKey {
        id: &id,
        secret: &key,
        role: &a.role,
        username: &username,
        realm: &a.realm,
        description: &a.description,
        now,
        expires_at,
        owner_id: owner.as_ref().map(|u| &u.id),
    })
    .await?;
    let text = format!(
        "Username:   {username}\nRealm:      {}\nRole:       {}\nValidity:   {} days\n\
         Expires:    {}\nKey id:     {id}\nAuth-Token: {key}\n\
         (the key is shown only now; keyward stores only its hash)",
        a.realm,
        a.role,
        a.days,
        rfc3339(expires_at)
    );
    let value = json!({
        "id": id, "key": key, "role": a.role, "username": username, "realm": a.realm,
        "days": a.days, "expires_at": expires_at,
    });
    let out = Output::new(text, value).with_audit(format!(
        "key {id} role {} user {username} expires {}",
        a.role,
        rfc3339(expires_at)
    ));
    ctx.commit_output(tx, out).await
}

fn status(k: &ApiKey, now: i64) -> &'static str {
    if k.revoked_at.is_some() {
        "revoked"
    } else if k.expires_at <= now {
        "expired"
    } else {
        "active"
    }
}

/// A key as `api list --json` shows it.
fn key_info(k: &ApiKey, now: i64) -> ApiKeyInfo {
    ApiKeyInfo {
        id: k.id.clone(),
        role: k.role.clone(),
        username: k.username.clone(),
        realm: k.realm.clone(),
        description: k.description.clone(),
        created_at: k.created_at,
        expires_at: k.expires_at,
        revoked_at: k.revoked_at,
        revoked: rfc3339_opt(k.revoked_at),
        status: status(k, now).to_string(),
    }
}

#[derive(Parser)]
struct NoArgs {}

async fn list(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let keys = ctx.store().list_api_keys().await?;
    let now = ctx.now();
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.to_string(),
                k.role.clone(),
                k.username.to_string(),
                k.realm.clone(),
                rfc3339(k.created_at),
                rfc3339(k.expires_at),
                status(k, now).to_string(),
            ]
        })
        .collect();
    let table = crate::table::Table::new(
        &[
            "ID", "ROLE", "USER", "REALM", "CREATED", "EXPIRES", "STATUS",
        ],
        rows,
    );
    let items: Vec<ApiKeyInfo> = keys.iter().map(|k| key_info(k, now)).collect();
    Ok(Output::new(table.render(None), json!({ "api_keys": items })).with_table(table))
}

#[derive(Parser)]
struct IdArg {
    /// The key id (see `api list`).
    id: String,
}

#[derive(Parser)]
struct ShowArg {
    /// The key id (see `api list`).
    id: String,
}

async fn show(ctx: Ctx, a: ShowArg) -> Result<Output, CommandError> {
    let key = ctx
        .store()
        .get_api_key(&ApiKeyId::from(a.id.as_str()))
        .await?
        .ok_or_else(|| {
            let shown: String = a.id.chars().take(64).collect();
            CommandError::NotFound(format!("no API key with id \"{shown}\""))
        })?;
    let info = key_info(&key, ctx.now());
    let text = format!(
        "Key id:   {}\nRole:     {}\nUsername: {}\nRealm:    {}\nCreated:  {}\nExpires:  {}\nStatus:   {}\n",
        info.id,
        info.role,
        info.username,
        info.realm,
        rfc3339(info.created_at),
        rfc3339(info.expires_at),
        info.status
    );
    let json = serde_json::to_value(&info).map_err(|e| CommandError::Internal(e.to_string()))?;
    Ok(Output::new(text, json))
}

async fn revoke(ctx: Ctx, a: IdArg) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    if !tx
        .revoke_api_key(&ApiKeyId::from(a.id.as_str()), ctx.now())
        .await?
    {
        return Err(CommandError::NotFound(format!(
            "no active API key with id \"{}\"",
            a.id
        )));
    }
    let out = Output::new(
        format!("Revoked API key \"{}\"", a.id),
        json!({ "id": a.id, "revoked": true }),
    );
    ctx.commit_output(tx, out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_read_from_the_key_shape() {
        assert_eq!(key_id("kw_abcd_se_cr-et"), Some("abcd"));
        assert_eq!(key_id("kw__x"), None);
        assert_eq!(key_id("eyJhbGciOi"), None);
    }

    #[test]
    fn roles_and_days_are_checked() {
        assert_eq!(parse_role("Admin").as_deref(), Ok("admin"));
        assert!(parse_role("root").is_err());
        assert_eq!(parse_days("365"), Ok(365));
        assert!(parse_days("0").is_err());
        assert!(parse_days("x").is_err());
    }

    #[test]
    fn the_listed_key_has_the_json_shape_of_before() {
        let key = ApiKey {
            id: "k1".into(),
            role: "admin".into(),
            username: "ops".into(),
            realm: "r".into(),
            description: "d".into(),
            created_at: 10,
            expires_at: 20,
            revoked_at: None,
            owner_id: None,
        };
        assert_eq!(
            json!(key_info(&key, 30)),
            json!({
                "id": "k1", "role": "admin", "username": "ops", "realm": "r",
                "description": "d", "created_at": 10, "expires_at": 20, "revoked_at": null,
                "revoked": "never", "status": "expired",
            })
        );
    }
}
