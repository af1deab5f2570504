//! Psono's LDAP operator commands (seed 000): `testldap USERNAME PASSWORD` and
//! `testldapgateway USERNAME PASSWORD` (connect, bind as the service account, find the user,
//! bind as the user — each step's result printed, exit ≠ 0 at the first failure) and
//! `syncldap [--dryrun]` (see [`super::sync`]). They use an LDAP resolver: `--resolver NAME`,
//! else the first LDAP resolver of the default realm, else the only LDAP resolver. The gateway
//! test asks the `ldap_gateway_url` setting with that resolver's other settings.

use clap::Parser;
use serde_json::{Value, json};

use super::definition::{Kind, LdapSettings, Resolver, load_resolver};
use super::directory::{DirectoryUser, ldap_error};
use super::ldap;
use super::sync::{self, Change};
use crate::access::{ADMINS, Access};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "testldap",
            "Test the LDAP connection: connect, find USERNAME, bind as it",
            testldap,
        )
        .example("testldap username@something.com thePassWord")
        .example("testldap alice alicePassword --resolver corp")
        .secret("password")
        .allow(Access::Roles(ADMINS)),
        command(
            "testldapgateway",
            "Test the LDAP gateway (ldap_gateway_url) as testldap tests the directory",
            testldapgateway,
        )
        .example("testldapgateway username@something.com thePassWord")
        .secret("password")
        .allow(Access::Roles(ADMINS)),
        command(
            "syncldap",
            "Sync users and their activity state from LDAP (--dryrun: only print the plan)",
            syncldap,
        )
        .mutating()
        .example("syncldap")
        .example("syncldap --dryrun")
        .allow(Access::Roles(ADMINS)),
    ]
}

#[derive(Parser)]
struct TestArgs {
    /// The login name in the directory.
    username: String,
    /// Its password (leave it out to be prompted).
    password: String,
    /// The LDAP resolver to use.
    #[arg(long)]
    resolver: Option<String>,
}

#[derive(Parser)]
struct SyncArgs {
    /// Print the planned changes, change nothing.
    #[arg(long, alias = "dry-run")]
    dryrun: bool,
    /// Sync only this resolver: an LDAP one, or a passwd file (default: every LDAP resolver).
    #[arg(long)]
    resolver: Option<String>,
}

crate::no_targets!(TestArgs);
// syncldap decides per user whom it may change (see `sync::plan`); its audit row lists them.
crate::no_targets!(SyncArgs);

/// The LDAP resolver a command uses (see the module doc).
async fn pick_resolver(ctx: &Ctx, name: Option<&str>) -> Result<Resolver, CommandError> {
    if let Some(n) = name {
        let r = load_resolver(ctx, n).await?;
        if r.kind() != Kind::Ldap {
            return Err(CommandError::Invalid(format!(
                "resolver \"{n}\" is not an LDAP resolver"
            )));
        }
        return Ok(r);
    }
    let realms = ctx.store().list_realms().await?;
    let ldap_rows: Vec<String> = ctx
        .store()
        .list_resolvers()
        .await?
        .into_iter()
        .filter(|r| r.kind == Kind::Ldap.as_str())
        .map(|r| r.name)
        .collect();
    if let Some(default) = realms.iter().find(|r| r.is_default)
        && let Some(first) = default.resolvers.iter().find(|r| ldap_rows.contains(r))
    {
        return load_resolver(ctx, first).await;
    }
    match ldap_rows.as_slice() {
        [only] => load_resolver(ctx, only).await,
        [] => Err(CommandError::NotFound(
            "no LDAP resolver is configured: create one with `config resolver create NAME ldap …`"
                .into(),
        )),
        _ => Err(CommandError::Invalid(format!(
            "several LDAP resolvers ({}): choose one with --resolver",
            ldap_rows.join(", ")
        ))),
    }
}

/// The steps of a connection test, printed as they went.
struct Steps {
    text: String,
    list: Vec<Value>,
}

impl Steps {
    fn ok(&mut self, step: &str, detail: &str) {
        self.text.push_str(&format!("[ok] {step}"));
        if !detail.is_empty() {
            self.text.push_str(&format!(": {detail}"));
        }
        self.text.push('\n');
        self.list
            .push(json!({ "step": step, "ok": true, "detail": detail }));
    }

    fn failed(mut self, step: &str, reason: &str, base: Value) -> Output {
        self.text.push_str(&format!("[FAILED] {step}: {reason}\n"));
        self.list
            .push(json!({ "step": step, "ok": false, "detail": reason }));
        let mut json = base;
        json["steps"] = json!(self.list);
        json["success"] = json!(false);
        Output::new(self.text, json).as_failure()
    }
}

/// Connect, service bind, find, user bind — against `url`, each step reported.
async fn run_test(
    resolver: &Resolver,
    url: &str,
    username: &str,
    password: &str,
) -> Result<Output, CommandError> {
    let Resolver::Ldap {
        name,
        settings,
        bind_password,
    } = resolver
    else {
        return Err(CommandError::Internal("not an LDAP resolver".into()));
    };
    let base = json!({ "resolver": name, "url": url, "username": username });
    let mut steps = Steps {
        text: format!("Resolver \"{name}\", {url}\n"),
        list: Vec::new(),
    };
    let tls = if settings.starttls { " (StartTLS)" } else { "" };
    let connect_step = format!("connect to {url}{tls}");
    let mut conn = match ldap::connect(settings, url).await {
        Ok(c) => c,
        Err(e) => return Ok(steps.failed(&connect_step, &e.0, base)),
    };
    steps.ok(&connect_step, "");
    let outcome = test_on(
        &mut conn,
        settings,
        bind_password,
        username,
        password,
        &mut steps,
    )
    .await;
    conn.close().await;
    Ok(match outcome {
        Ok(user) => {
            steps.text.push_str(&format!(
                "User {}: email {}, name {}\n",
                user.login,
                if user.email.is_empty() {
                    "-"
                } else {
                    &user.email
                },
                if user.name.is_empty() {
                    "-"
                } else {
                    &user.name
                },
            ));
            let mut json = base;
            json["steps"] = json!(steps.list);
            json["success"] = json!(true);
            json["user"] = json!({
                "dn": user.external_id, "login": user.login, "email": user.email,
                "phone": user.phone, "name": user.name,
            });
            Output::new(steps.text, json)
        }
        Err((step, reason)) => steps.failed(&step, &reason, base),
    })
}

async fn test_on(
    conn: &mut ldap::Connection,
    settings: &LdapSettings,
    bind_password: &str,
    username: &str,
    password: &str,
    steps: &mut Steps,
) -> Result<DirectoryUser, (String, String)> {
    let fail = |step: String| move |e: ldap::LdapFailure| (step, e.0);
    if settings.bind_dn.is_empty() {
        steps.ok("anonymous search (no bind_dn)", "");
    } else {
        let step = format!("bind as {}", settings.bind_dn);
        conn.service_bind(bind_password)
            .await
            .map_err(fail(step.clone()))?;
        steps.ok(&step, "");
    }
    let step = format!(
        "find {}={username} under {}",
        settings.login_attribute, settings.base_dn
    );
    let user = conn.find(username).await.map_err(fail(step.clone()))?;
    let Some(user) = user else {
        return Err((step, "no such user".into()));
    };
    steps.ok(&step, &user.dn);
    if user.disabled {
        return Err((step, "the user is disabled in the directory".into()));
    }
    let step = format!("bind as {} with the given password", user.dn);
    conn.bind(&user.dn, password)
        .await
        .map_err(fail(step.clone()))?;
    steps.ok(&step, "");
    Ok(DirectoryUser::from(user))
}

async fn testldap(ctx: Ctx, a: TestArgs) -> Result<Output, CommandError> {
    let resolver = pick_resolver(&ctx, a.resolver.as_deref()).await?;
    let Resolver::Ldap { settings, .. } = &resolver else {
        return Err(CommandError::Internal("not an LDAP resolver".into()));
    };
    let url = settings.uri.clone();
    run_test(&resolver, &url, &a.username, &a.password).await
}

async fn testldapgateway(ctx: Ctx, a: TestArgs) -> Result<Output, CommandError> {
    let Some(url) = ctx.settings().ldap_gateway_url.clone() else {
        return Err(CommandError::NotFound(
            "no LDAP gateway is configured: set ldap_gateway_url in the config file".into(),
        ));
    };
    let resolver = pick_resolver(&ctx, a.resolver.as_deref()).await?;
    run_test(&resolver, &url, &a.username, &a.password).await
}

async fn syncldap(ctx: Ctx, a: SyncArgs) -> Result<Output, CommandError> {
    let resolvers: Vec<Resolver> = match &a.resolver {
        // A passwd-file resolver is synced only when named: its users get shadow users too.
        Some(n) => match load_resolver(&ctx, n).await? {
            r @ Resolver::PasswdFile { .. } => vec![r],
            _ => vec![pick_resolver(&ctx, Some(n)).await?],
        },
        None => {
            let mut all = Vec::new();
            for row in ctx.store().list_resolvers().await? {
                if row.kind == Kind::Ldap.as_str() {
                    all.push(super::definition::open_resolver(&ctx, &row).await?);
                }
            }
            if all.is_empty() {
                pick_resolver(&ctx, None).await?; // the "none configured" error
            }
            all
        }
    };
    // Read every directory first: a failure changes nothing.
    let mut plans = Vec::new();
    for r in &resolvers {
        let users = super::directory::search(&ctx, r, "*", usize::MAX).await?;
        if let Resolver::Ldap { settings, .. } = r
            && users.len() >= settings.size_limit as usize
        {
            return Err(ldap_error(
                r.name(),
                ldap::LdapFailure(format!(
                    "the directory answered {} entries, the size limit: raise size_limit so \
                     that no user is taken as gone",
                    users.len()
                )),
            ));
        }
        plans.push((
            r.name().to_string(),
            sync::plan(&ctx, r.name(), &users).await?,
        ));
    }
    let mut text = String::new();
    let mut lines = Vec::new();
    let mut changes = 0usize;
    for (name, plan) in &plans {
        for c in plan {
            let line = c.describe(name);
            text.push_str(&line);
            text.push('\n');
            lines.push(line);
            changes += usize::from(c.is_change());
        }
    }
    let mut tx = ctx.begin_change().await?;
    if !a.dryrun {
        for (name, plan) in &plans {
            sync::apply(&ctx, &mut tx, name, plan).await?;
        }
    }
    let count = |f: fn(&Change) -> bool| plans.iter().flat_map(|(_, p)| p).filter(|c| f(c)).count();
    let created = count(|c| matches!(c, Change::Create { .. }));
    let disabled = count(|c| matches!(c, Change::Disable { .. }));
    text.push_str(&format!(
        "{}{changes} changes ({created} created, {disabled} disabled)",
        if a.dryrun {
            "Dry run, nothing changed: "
        } else {
            "Synced: "
        }
    ));
    let names: Vec<String> = plans
        .iter()
        .flat_map(|(_, p)| p)
        .filter(|c| c.is_change())
        .map(|c| match c {
            Change::Create { login, .. }
            | Change::UpdateEmail { login, .. }
            | Change::Disable { login, .. }
            | Change::Enable { login } => login.clone(),
            Change::Skip { login, .. } => login.clone(),
        })
        .collect();
    let out = Output::new(
        text,
        json!({ "dry_run": a.dryrun, "changes": lines, "created": created, "disabled": disabled }),
    )
    .with_audit(format!(
        "{}{changes} changes: {}",
        if a.dryrun { "dry run, " } else { "" },
        names.join(",")
    ));
    ctx.commit_output(tx, out).await
}
