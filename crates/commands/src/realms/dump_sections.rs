//! The `realms` and `resolvers` sections of a keyward dump. A resolver entry carries its
//! settings, its bind password still sealed under the enckey (never in clear text; a load checks
//! it opens with this installation's key) and the shadow users linked to it
//! (`{"username", "external_id"}`), so a loaded shadow user keeps logging in through its
//! resolver. A realm entry is `{"name", "resolvers", "default"}`.

use std::collections::HashMap;

use keyward_core::user::username_key;
use keyward_proto::UserId;
use keyward_store::realms::{RealmRow, ResolverRow};
use keyward_store::write_tx::WriteTx;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::definition::{INTERNAL, Kind, check_name, open_resolver};
use crate::context::Ctx;
use crate::output::CommandError;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DumpResolver {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub config: Map<String, Value>,
    #[serde(default)]
    pub bind_password_sealed: String,
    #[serde(default)]
    pub users: Vec<DumpUserSource>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DumpUserSource {
    pub username: String,
    pub external_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DumpRealm {
    pub name: String,
    pub resolvers: Vec<String>,
    #[serde(default)]
    pub default: bool,
}

/// The two sections of the installation as they are now.
pub async fn dump_sections(ctx: &Ctx) -> Result<(Vec<Value>, Vec<Value>), CommandError> {
    let fail = |e: serde_json::Error| CommandError::Internal(format!("dump: {e}"));
    let mut resolvers = Vec::new();
    for r in ctx.store().list_resolvers().await? {
        let mut users = Vec::new();
        for u in ctx.store().users_of_resolver(&r.name).await? {
            let external_id = ctx
                .store()
                .user_source(&u.id)
                .await?
                .map(|(_, id)| id)
                .unwrap_or_default();
            users.push(DumpUserSource {
                username: u.username.to_string(),
                external_id,
            });
        }
        let entry = DumpResolver {
            name: r.name,
            kind: r.kind,
            config: r.config,
            bind_password_sealed: r.bind_password_sealed,
            users,
        };
        resolvers.push(serde_json::to_value(entry).map_err(fail)?);
    }
    let realms = ctx
        .store()
        .list_realms()
        .await?
        .into_iter()
        .map(|r| {
            serde_json::to_value(DumpRealm {
                name: r.name,
                resolvers: r.resolvers,
                default: r.is_default,
            })
            .map_err(fail)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((realms, resolvers))
}

/// The sections of a file, checked: names, kinds, settings, sealed passwords that open with
/// this installation's enckey, realms naming only known resolvers, at most one default.
pub struct Sections {
    pub resolvers: Vec<DumpResolver>,
    pub realms: Vec<DumpRealm>,
}

pub async fn check_sections(
    ctx: &Ctx,
    realms: Vec<Value>,
    resolvers: Vec<Value>,
) -> Result<Sections, CommandError> {
    let mut out = Sections {
        resolvers: Vec::new(),
        realms: Vec::new(),
    };
    for (i, v) in resolvers.into_iter().enumerate() {
        let label = format!("resolvers[{i}]");
        let mut r: DumpResolver = serde_json::from_value(v)
            .map_err(|e| CommandError::Invalid(format!("{label}: {e}")))?;
        let shown = r.name.chars().take(64).collect::<String>();
        let named = |e: CommandError| CommandError::Invalid(format!("{label} ({shown}): {e}"));
        r.name = check_name("resolver", &r.name).map_err(named)?;
        if r.name == INTERNAL || Kind::parse(&r.kind).map_err(named)? == Kind::Internal {
            return Err(named(CommandError::Invalid("internal is built in".into())));
        }
        if out.resolvers.iter().any(|o| o.name == r.name) {
            return Err(named(CommandError::Invalid("listed twice".into())));
        }
        // Opening it checks the settings and that the password opens with this enckey.
        open_resolver(ctx, &row_of(&r, 0)).await.map_err(named)?;
        out.resolvers.push(r);
    }
    let known: Vec<String> = ctx
        .store()
        .list_resolvers()
        .await?
        .into_iter()
        .map(|r| r.name)
        .chain(out.resolvers.iter().map(|r| r.name.clone()))
        .chain([INTERNAL.to_string()])
        .collect();
    for (i, v) in realms.into_iter().enumerate() {
        let label = format!("realms[{i}]");
        let mut r: DumpRealm = serde_json::from_value(v)
            .map_err(|e| CommandError::Invalid(format!("{label}: {e}")))?;
        r.name = check_name("realm", &r.name)
            .map_err(|e| CommandError::Invalid(format!("{label}: {e}")))?;
        r.resolvers = r.resolvers.iter().map(|s| s.to_lowercase()).collect();
        if let Some(missing) = r.resolvers.iter().find(|s| !known.contains(s)) {
            return Err(CommandError::Invalid(format!(
                "{label} ({}): resolver \"{missing}\" is not configured",
                r.name
            )));
        }
        if out.realms.iter().any(|o| o.name == r.name) {
            return Err(CommandError::Invalid(format!("{label}: listed twice")));
        }
        out.realms.push(r);
    }
    if out.realms.iter().filter(|r| r.default).count() > 1 {
        return Err(CommandError::Invalid(
            "realms: more than one is the default".into(),
        ));
    }
    Ok(out)
}

fn row_of(r: &DumpResolver, now: i64) -> ResolverRow {
    ResolverRow {
        name: r.name.clone(),
        kind: r.kind.to_ascii_lowercase(),
        config: r.config.clone(),
        bind_password_sealed: r.bind_password_sealed.clone(),
        created_at: now,
        updated_at: now,
    }
}

/// Writes the sections in the load's transaction (existing ones are replaced unless
/// `add_only`); the shadow users' links go to users loaded or present (`owners`: username key
/// → id). Returns how many resolvers and realms were written.
pub async fn load_sections(
    ctx: &Ctx,
    tx: &mut WriteTx,
    sections: &Sections,
    owners: &HashMap<String, UserId>,
    add_only: bool,
) -> Result<(usize, usize), CommandError> {
    let now = ctx.now();
    let mut written = (0, 0);
    for r in &sections.resolvers {
        if add_only && ctx.store().get_resolver(&r.name).await?.is_some() {
            continue;
        }
        tx.put_resolver(&row_of(r, now)).await?;
        for u in &r.users {
            let Some(id) = owners.get(&username_key(&u.username)) else {
                return Err(CommandError::Invalid(format!(
                    "resolvers ({}): user \"{}\" is neither in the file nor in the database",
                    r.name, u.username
                )));
            };
            tx.set_user_source(id, &r.name, &u.external_id, now).await?;
        }
        written.0 += 1;
    }
    for r in &sections.realms {
        if add_only && ctx.store().get_realm(&r.name).await?.is_some() {
            continue;
        }
        tx.put_realm(&RealmRow {
            name: r.name.clone(),
            resolvers: r.resolvers.clone(),
            is_default: r.default,
            created_at: now,
        })
        .await?;
        written.1 += 1;
    }
    Ok(written)
}
