//! `config resolver create|list|delete|test` and `config realm
//! create|list|delete|set_default|clear_default` (pi-manage's names). Superusers and admins
//! change them; admins and auditors read them. A resolver's settings come from options or from a
//! JSON file (local runs; privacyIDEA's upper-case keys accepted); its bind password is sealed
//! under the enckey and never shown.

use std::path::PathBuf;

use clap::Parser;
use keyward_store::realms::{RealmRow, ResolverDelete, ResolverRow};
use serde_json::{Map, Value, json};

use super::definition::{
    INTERNAL, Kind, LdapSettings, PasswdSettings, check_name, load_resolver, seal_bind_password,
};
use super::directory;
use crate::access::{ADMINS, AUDIT_READERS, Access, Target, Targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::table::Table;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command("config resolver create", "Create a user resolver (passwdfile or ldap)", resolver_create)
            .mutating()
            .example("config resolver create corp ldap --uri ldap://127.0.0.1:389 --base-dn ou=people,dc=example,dc=org --bind-dn cn=admin,dc=example,dc=org --bind-password-prompt")
            .example("config resolver create corp ldap --uri ldaps://ldap.example.org --tls-ca-file /etc/keyward/ldap-ca.pem --base-dn ou=people,dc=example,dc=org")
            .example("config resolver create corp ldap resolver.json")
            .example("config resolver create local passwdfile --file-path /etc/passwd")
            .secret("bind_password")
            .allow(Access::Roles(ADMINS)),
        command("config resolver list", "List user resolvers", resolver_list)
            .example("config resolver list")
            .lists()
            .allow(Access::Roles(AUDIT_READERS)),
        command("config resolver delete", "Delete a resolver no realm lists", resolver_delete)
            .mutating()
            .example("config resolver delete corp")
            .allow(Access::Roles(ADMINS)),
        command("config resolver test", "Test a resolver: reach it and count its users", resolver_test)
            .example("config resolver test corp")
            .allow(Access::Roles(AUDIT_READERS)),
        command("config realm create", "Create a realm: a name and its resolvers in order", realm_create)
            .mutating()
            .example("config realm create corp corp internal")
            .example("config realm create corp corp --default")
            .allow(Access::Roles(ADMINS)),
        command("config realm list", "List realms", realm_list)
            .example("config realm list")
            .lists()
            .allow(Access::Roles(AUDIT_READERS)),
        command("config realm delete", "Delete a realm", realm_delete)
            .mutating()
            .example("config realm delete corp")
            .allow(Access::Roles(ADMINS)),
        command("config realm set_default", "Make a realm the default realm", realm_set_default)
            .mutating()
            .example("config realm set_default corp")
            .allow(Access::Roles(ADMINS)),
        command("config realm clear_default", "Leave no realm the default", realm_clear_default)
            .mutating()
            .example("config realm clear_default")
            .allow(Access::Roles(ADMINS)),
    ]
}

#[derive(Parser)]
struct ResolverCreateArgs {
    /// The resolver's name (letters, digits, '-', '_', '.').
    name: String,
    /// passwdfile or ldap.
    #[arg(value_name = "TYPE")]
    kind: String,
    /// A JSON file with the settings (local runs only); options below override it.
    file: Option<PathBuf>,
    /// ldap:// or ldaps:// URI of the directory.
    #[arg(long)]
    uri: Option<String>,
    /// Upgrade ldap:// with StartTLS.
    #[arg(long)]
    starttls: bool,
    /// Skip TLS certificate verification (self-signed test servers only).
    #[arg(long)]
    no_tls_verify: bool,
    /// PEM file of the CA certificates to trust for ldaps:// and StartTLS instead of the system
    /// roots (a path on the host keyward runs on).
    #[arg(long, value_name = "PEM_FILE")]
    tls_ca_file: Option<String>,
    /// DN of the service account that searches (empty: anonymous search).
    #[arg(long)]
    bind_dn: Option<String>,
    /// Its password (stored encrypted).
    #[arg(long)]
    bind_password: Option<String>,
    #[arg(long)]
    base_dn: Option<String>,
    /// Attribute holding the login name (default uid).
    #[arg(long)]
    login_attribute: Option<String>,
    /// Filter ANDed to every user search, e.g. (objectClass=inetOrgPerson).
    #[arg(long)]
    search_filter: Option<String>,
    #[arg(long)]
    email_attribute: Option<String>,
    #[arg(long)]
    phone_attribute: Option<String>,
    #[arg(long)]
    name_attribute: Option<String>,
    /// Users matching this filter count as disabled.
    #[arg(long)]
    disabled_filter: Option<String>,
    /// Connect timeout in seconds (default 5).
    #[arg(long)]
    timeout: Option<u64>,
    /// Timeout of each LDAP operation in seconds (default 10).
    #[arg(long)]
    op_timeout: Option<u64>,
    /// Most entries one search returns (default 10000).
    #[arg(long)]
    size_limit: Option<u32>,
    /// passwdfile: the passwd-format file (local runs only).
    #[arg(long = "file-path", alias = "passwd-file")]
    file_path: Option<String>,
}

#[derive(Parser)]
struct NameArg {
    name: String,
}

#[derive(Parser)]
struct RealmCreateArgs {
    /// The realm's name.
    name: String,
    /// Its resolvers, asked in this order (`internal` is keyward's own users).
    #[arg(required = true)]
    resolvers: Vec<String>,
    /// Make it the default realm.
    #[arg(long)]
    default: bool,
}

#[derive(Parser)]
struct NoArgs {}

macro_rules! object_target {
    ($($t:ty => $prefix:literal),+) => {
        $(impl Targets for $t {
            fn targets(&self) -> Vec<Target> {
                vec![Target::Object(format!(concat!($prefix, "{}"), self.name))]
            }
        })+
    };
}
object_target!(ResolverCreateArgs => "resolver:", RealmCreateArgs => "realm:", NameArg => "");
crate::no_targets!(NoArgs);

/// The settings given as a JSON file (local runs) merged with the options.
fn settings_map(ctx: &Ctx, a: &ResolverCreateArgs) -> Result<Map<String, Value>, CommandError> {
    let mut map = match &a.file {
        None => Map::new(),
        Some(_) if !ctx.is_local() => {
            return Err(CommandError::Forbidden(
                "a settings file is read only by local runs; give the options instead".into(),
            ));
        }
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CommandError::Invalid(format!("cannot read {}: {e}", path.display()))
            })?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                _ => {
                    return Err(CommandError::Invalid(format!(
                        "{} is not a JSON object",
                        path.display()
                    )));
                }
            }
        }
    };
    let mut put = |k: &str, v: Value| {
        map.insert(k.to_string(), v);
    };
    let strings = [
        ("uri", &a.uri),
        ("tls_ca_file", &a.tls_ca_file),
        ("bind_dn", &a.bind_dn),
        ("base_dn", &a.base_dn),
        ("login_attribute", &a.login_attribute),
        ("search_filter", &a.search_filter),
        ("email_attribute", &a.email_attribute),
        ("phone_attribute", &a.phone_attribute),
        ("name_attribute", &a.name_attribute),
        ("disabled_filter", &a.disabled_filter),
        ("file", &a.file_path),
    ];
    for (k, v) in strings {
        if let Some(v) = v {
            put(k, json!(v));
        }
    }
    if a.starttls {
        put("starttls", json!(true));
    }
    if a.no_tls_verify {
        put("no_tls_verify", json!(true));
    }
    if let Some(t) = a.timeout {
        put("timeout_secs", json!(t));
    }
    if let Some(t) = a.op_timeout {
        put("op_timeout_secs", json!(t));
    }
    if let Some(n) = a.size_limit {
        put("size_limit", json!(n));
    }
    Ok(map)
}

async fn resolver_create(ctx: Ctx, a: ResolverCreateArgs) -> Result<Output, CommandError> {
    let name = check_name("resolver", &a.name)?;
    if name == INTERNAL {
        return Err(CommandError::Conflict(
            "resolver \"internal\" is built in".into(),
        ));
    }
    let kind = Kind::parse(&a.kind)?;
    let mut map = settings_map(&ctx, &a)?;
    // A password from the file (privacyIDEA's BINDPW) is taken out before anything is stored.
    let file_password = ["bind_password", "BINDPW"]
        .iter()
        .find_map(|k| map.remove(*k))
        .and_then(|v| v.as_str().map(|p| zeroize::Zeroizing::new(p.to_string())));
    let password = a
        .bind_password
        .clone()
        .map(zeroize::Zeroizing::new)
        .or(file_password)
        .unwrap_or_default();
    let invalid = |e: serde_json::Error| CommandError::Invalid(format!("resolver settings: {e}"));
    let config = match kind {
        Kind::Internal => {
            return Err(CommandError::Invalid(
                "the internal resolver is built in".into(),
            ));
        }
        Kind::Ldap => {
            let s: LdapSettings = serde_json::from_value(Value::Object(map)).map_err(invalid)?;
            s.check()?;
            if !s.bind_dn.is_empty() && password.is_empty() {
                return Err(CommandError::Invalid(
                    "bind_password: required with bind_dn".into(),
                ));
            }
            serde_json::to_value(s).map_err(invalid)?
        }
        Kind::PasswdFile => {
            let s: PasswdSettings = serde_json::from_value(Value::Object(map)).map_err(invalid)?;
            if s.file.is_empty() {
                return Err(CommandError::Invalid("file: required (--file-path)".into()));
            }
            if !ctx.is_local() {
                return Err(CommandError::Forbidden(
                    "a passwd-file resolver names a local file: create it with keyward manage"
                        .into(),
                ));
            }
            serde_json::to_value(s).map_err(invalid)?
        }
    };
    let Value::Object(config) = config else {
        return Err(CommandError::Internal("resolver settings".into()));
    };
    let sealed = seal_bind_password(&ctx, &name, &password).await?;
    let now = ctx.now();
    let row = ResolverRow {
        name: name.clone(),
        kind: kind.as_str().into(),
        config: config.clone(),
        bind_password_sealed: sealed,
        created_at: now,
        updated_at: now,
    };
    let mut tx = ctx.begin_change().await?;
    tx.create_resolver(&row).await?;
    let out = Output::new(
        format!("Created {} resolver \"{name}\"", kind.as_str()),
        json!({ "name": name, "type": kind.as_str(), "config": config }),
    )
    .with_audit(format!("type {}", kind.as_str()));
    ctx.commit_output(tx, out).await
}

/// A resolver row for listing (the sealed password only as "set").
fn resolver_view(r: &ResolverRow) -> Value {
    json!({
        "name": r.name,
        "type": r.kind,
        "config": r.config,
        "bind_password": if r.bind_password_sealed.is_empty() { "" } else { "(set)" },
    })
}

async fn resolver_list(ctx: Ctx, _: NoArgs) -> Result<Output, CommandError> {
    let rows = ctx.store().list_resolvers().await?;
    let mut list = vec![json!({ "name": INTERNAL, "type": "internal", "config": {} })];
    list.extend(rows.iter().map(resolver_view));
    let mut table_rows = vec![vec![INTERNAL.to_string(), "internal".into(), String::new()]];
    for r in &rows {
        let place = r
            .config
            .get("uri")
            .or_else(|| r.config.get("file"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        table_rows.push(vec![r.name.clone(), r.kind.clone(), place.to_string()]);
    }
    let table = Table::new(&["NAME", "TYPE", "WHERE"], table_rows);
    Ok(Output::new(table.render(None), json!(list)).with_table(table))
}

async fn resolver_delete(ctx: Ctx, a: NameArg) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    match tx.delete_resolver(&a.name).await? {
        ResolverDelete::Deleted => {}
        ResolverDelete::Missing => {
            return Err(CommandError::NotFound(format!(
                "resolver \"{}\" does not exist",
                a.name
            )));
        }
        ResolverDelete::InUse(realm) => {
            return Err(CommandError::Conflict(format!(
                "resolver \"{}\" is used by realm \"{realm}\": delete the realm first",
                a.name
            )));
        }
    }
    let out = Output::new(
        format!("Deleted resolver \"{}\"", a.name),
        json!({ "deleted": a.name.to_lowercase() }),
    );
    ctx.commit_output(tx, out).await
}

async fn resolver_test(ctx: Ctx, a: NameArg) -> Result<Output, CommandError> {
    let resolver = load_resolver(&ctx, &a.name).await?;
    let desc = directory::test(&ctx, &resolver).await?;
    Ok(Output::new(
        format!("Resolver \"{}\" works: {desc}", resolver.name()),
        json!({ "result": "success", "desc": desc }),
    ))
}

async fn realm_create(ctx: Ctx, a: RealmCreateArgs) -> Result<Output, CommandError> {
    let name = check_name("realm", &a.name)?;
    let mut resolvers: Vec<String> = Vec::new();
    for r in a.resolvers.iter().flat_map(|r| r.split(',')) {
        let r = r.trim().to_lowercase();
        if r.is_empty() {
            continue;
        }
        if resolvers.contains(&r) {
            return Err(CommandError::Invalid(format!(
                "resolver \"{r}\" is listed twice"
            )));
        }
        load_resolver(&ctx, &r).await?;
        resolvers.push(r);
    }
    if resolvers.is_empty() {
        return Err(CommandError::Invalid("give at least one resolver".into()));
    }
    let row = RealmRow {
        name: name.clone(),
        resolvers: resolvers.clone(),
        is_default: a.default,
        created_at: ctx.now(),
    };
    let mut tx = ctx.begin_change().await?;
    tx.create_realm(&row).await?;
    let out = Output::new(
        format!(
            "Created realm \"{name}\" with resolvers {}{}",
            resolvers.join(", "),
            if a.default { " (default)" } else { "" }
        ),
        json!({ "name": name, "resolvers": resolvers, "default": a.default }),
    )
    .with_audit(format!("resolvers {}", resolvers.join(",")));
    ctx.commit_output(tx, out).await
}

async fn realm_list(ctx: Ctx, _: NoArgs) -> Result<Output, CommandError> {
    let realms = ctx.store().list_realms().await?;
    let list: Vec<Value> = realms
        .iter()
        .map(|r| json!({ "name": r.name, "resolvers": r.resolvers, "default": r.is_default }))
        .collect();
    let rows = realms
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                r.resolvers.join(", "),
                if r.is_default { "yes" } else { "" }.to_string(),
            ]
        })
        .collect();
    let table = Table::new(&["NAME", "RESOLVERS", "DEFAULT"], rows);
    Ok(Output::new(table.render(None), json!(list)).with_table(table))
}

async fn realm_delete(ctx: Ctx, a: NameArg) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    if !tx.delete_realm(&a.name).await? {
        return Err(no_realm(&a.name));
    }
    let out = Output::new(
        format!("Deleted realm \"{}\"", a.name),
        json!({ "deleted": a.name.to_lowercase() }),
    );
    ctx.commit_output(tx, out).await
}

fn no_realm(name: &str) -> CommandError {
    let shown: String = name.chars().take(64).collect();
    CommandError::NotFound(format!("realm \"{shown}\" does not exist"))
}

async fn realm_set_default(ctx: Ctx, a: NameArg) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    if !tx.set_default_realm(Some(&a.name)).await? {
        return Err(no_realm(&a.name));
    }
    let out = Output::new(
        format!("Default realm: \"{}\"", a.name.to_lowercase()),
        json!({ "default": a.name.to_lowercase() }),
    );
    ctx.commit_output(tx, out).await
}

async fn realm_clear_default(ctx: Ctx, _: NoArgs) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    tx.set_default_realm(None).await?;
    let out = Output::new("No default realm", json!({ "default": null }));
    ctx.commit_output(tx, out).await
}
