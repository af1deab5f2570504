//! Policy administration (pi-manage's `config policy …`, seed 001): `config policy create NAME
//! SCOPE ACTION [-f FILE]`, `enable`, `disable`, `delete`, `list`, and `config export -t policy`
//! / `config import -t policy` ([`transfer`]). The model and its matching are in
//! `keyward_core::policy`; where policies take effect is [`enforce`]; the in-memory copy the
//! validate path reads is [`cache`]. Every change commits with its audit row and drops this
//! process's cached set.

pub mod cache;
pub mod enforce;
pub mod passthru_guard;
pub mod transfer;

use clap::Parser;
use keyward_core::policy::{DEFAULT_PRIORITY, Policy, PolicyDraft};
use keyward_proto::policy::PolicyRecord;
use serde_json::json;

use crate::access::{ADMINS, AUDIT_READERS, Access};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::table::Table;

pub use cache::PolicyCache;

/// What a process keeps about policies: its copy of the active set and the passthru brake.
#[derive(Default)]
pub struct PolicyState {
    pub set: PolicyCache,
    pub passthru: passthru_guard::PassthruGuard,
}

impl PolicyState {
    /// Forgets the loaded set (after a change of the policies table in this process).
    pub fn invalidate(&self) {
        self.set.invalidate();
    }

    /// The active policies (see [`PolicyCache::get`]).
    pub async fn get(
        &self,
        ctx: &Ctx,
    ) -> Result<std::sync::Arc<keyward_core::policy::PolicySet>, CommandError> {
        self.set.get(ctx).await
    }
}

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "config policy create",
            "Create (or replace) a policy: NAME SCOPE ACTION, conditions as options or in -f FILE",
            create,
        )
        .mutating()
        .example("config policy create helpdesk-north admin 'enable, disable, reset' --realm north --adminuser carol")
        .example("config policy create passthru-office authentication passthru --client 10.0.0.0/8")
        .example("config policy create validate-key authorization api_key_required")
        .allow(Access::Roles(ADMINS)),
        command("config policy enable", "Enable a policy", enable)
            .mutating()
            .example("config policy enable helpdesk-north")
            .allow(Access::Roles(ADMINS)),
        command("config policy disable", "Disable a policy (kept, not applied)", disable)
            .mutating()
            .example("config policy disable helpdesk-north")
            .allow(Access::Roles(ADMINS)),
        command("config policy delete", "Delete a policy", delete)
            .mutating()
            .example("config policy delete helpdesk-north")
            .allow(Access::Roles(ADMINS)),
        command("config policy list", "List the policies", list)
            .example("config policy list")
            .example("config policy list --output csv")
            .lists()
            .allow(Access::Roles(AUDIT_READERS)),
        command(
            "config export",
            "Export the policies as JSON (-t policy; -o FILE, or printed)",
            transfer::export,
        )
        .example("config export -t policy -o policies.json")
        .example("config export -t policy")
        .allow(Access::Roles(AUDIT_READERS)),
        command(
            "config import",
            "Import policies written by config export (-t policy -i FILE)",
            transfer::import,
        )
        .mutating()
        .example("config import -t policy -i policies.json")
        .example("config import -t policy -i policies.json --cleanup")
        .allow(Access::Local),
    ]
}

pub(crate) fn no_such_policy(name: &str) -> CommandError {
    let shown: String = name.chars().take(64).collect();
    CommandError::NotFound(format!("policy \"{shown}\" does not exist"))
}

#[derive(Parser)]
struct CreateArgs {
    /// The policy's name (letters, digits, '-', '_', '.').
    name: String,
    /// admin, authentication, authorization, enrollment or user.
    scope: String,
    /// Actions, e.g. 'otppin=userstore, passthru' (admin scope: token operations such as
    /// 'enable, disable, reset').
    action: String,
    /// A JSON file with the policy's fields (name, scope, action, realm, user, resolver,
    /// client, adminuser, active, priority, description); its values take precedence (local
    /// runs only).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<std::path::PathBuf>,
    /// Realms it applies to (comma-separated; admin scope: the tokens' realms).
    #[arg(long)]
    realm: Option<String>,
    /// Users it applies to (comma-separated). A condition, not a principal acted on.
    #[arg(long = "user", value_name = "USERS")]
    users: Option<String>,
    /// User resolvers it applies to (comma-separated; keyward's own users: internal).
    #[arg(long)]
    resolver: Option<String>,
    /// Client networks (comma-separated CIDRs; a leading '!' excludes one).
    #[arg(long)]
    client: Option<String>,
    /// Admin scope: the operator accounts it restricts (comma-separated; empty: all below
    /// superuser).
    #[arg(long)]
    adminuser: Option<String>,
    /// Lower numbers win when policies disagree (default 1).
    #[arg(long)]
    priority: Option<i64>,
    #[arg(long)]
    description: Option<String>,
    /// Create it disabled.
    #[arg(long)]
    inactive: bool,
}

crate::target_field!(CreateArgs => Object(name));

fn list_arg(v: &Option<String>) -> Vec<String> {
    v.iter().cloned().collect()
}

/// The policy the arguments (and the file, whose values win) describe, with notes on what the
/// file overrode.
fn draft_of(a: &CreateArgs, file: Option<PolicyRecord>) -> (PolicyDraft, Vec<String>) {
    let mut d = PolicyDraft {
        name: a.name.clone(),
        scope: a.scope.clone(),
        action: a.action.clone(),
        realms: list_arg(&a.realm),
        users: list_arg(&a.users),
        resolvers: list_arg(&a.resolver),
        clients: list_arg(&a.client),
        admin_users: list_arg(&a.adminuser),
        active: !a.inactive,
        priority: a.priority.unwrap_or(DEFAULT_PRIORITY),
        description: a.description.clone().unwrap_or_default(),
    };
    let mut notes = Vec::new();
    if let Some(r) = file {
        let mut take = |field: &str, from_file: &str, target: &mut String| {
            if !from_file.is_empty() && from_file != target {
                notes.push(format!("{field} from the file: {from_file}"));
                *target = from_file.to_string();
            }
        };
        take("name", &r.name, &mut d.name);
        take("scope", &r.scope, &mut d.scope);
        take("action", &r.action, &mut d.action);
        for (from, to) in [
            (r.realm, &mut d.realms),
            (r.user, &mut d.users),
            (r.resolver, &mut d.resolvers),
            (r.client, &mut d.clients),
            (r.adminuser, &mut d.admin_users),
        ] {
            if !from.is_empty() {
                *to = from;
            }
        }
        d.active = r.active;
        d.priority = r.priority.unwrap_or(d.priority);
        if !r.description.is_empty() {
            d.description = r.description;
        }
    }
    (d, notes)
}

async fn create(ctx: Ctx, a: CreateArgs) -> Result<Output, CommandError> {
    let file = match &a.file {
        Some(_) if !ctx.is_local() => {
            return Err(CommandError::Invalid(
                "-f reads a file and works only with keyward manage on the server".into(),
            ));
        }
        Some(path) => {
            let text = crate::dump::read_bounded(path)?;
            Some(serde_json::from_str::<PolicyRecord>(&text).map_err(|e| {
                CommandError::Invalid(format!("{}: not a policy: {e}", path.display()))
            })?)
        }
        None => None,
    };
    let (draft, notes) = draft_of(&a, file);
    let policy = Policy::from_draft(&draft).map_err(|e| CommandError::Invalid(e.to_string()))?;
    let exists = ctx.store().get_policy(&policy.name).await?.is_some();
    let mut tx = ctx.begin_change().await?;
    tx.put_policy(&policy, true, ctx.now()).await?;
    let verb = if exists { "Replaced" } else { "Created" };
    let mut text = notes.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&format!(
        "{verb} policy \"{}\" (scope {}: {})",
        policy.name, policy.scope, policy.actions
    ));
    let out = Output::new(
        text,
        serde_json::to_value(transfer::record(&policy)).unwrap_or_default(),
    )
    .with_audit(format!(
        "{} {}: {}",
        verb.to_lowercase(),
        policy.scope,
        policy.actions
    ));
    let out = ctx.commit_output(tx, out).await?;
    ctx.shared.policies.invalidate();
    Ok(out)
}

#[derive(Parser)]
struct NameArg {
    name: String,
}

crate::target_field!(NameArg => Object(name));

async fn set_active(ctx: Ctx, name: &str, active: bool) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    if !tx.set_policy_active(name, active, ctx.now()).await? {
        return Err(no_such_policy(name));
    }
    let word = if active { "Enabled" } else { "Disabled" };
    let out = Output::new(
        format!("{word} policy \"{name}\""),
        json!({ "name": name, "active": active }),
    )
    .with_audit(word.to_lowercase());
    let out = ctx.commit_output(tx, out).await?;
    ctx.shared.policies.invalidate();
    Ok(out)
}

async fn enable(ctx: Ctx, a: NameArg) -> Result<Output, CommandError> {
    set_active(ctx, &a.name, true).await
}

async fn disable(ctx: Ctx, a: NameArg) -> Result<Output, CommandError> {
    set_active(ctx, &a.name, false).await
}

async fn delete(ctx: Ctx, a: NameArg) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    if !tx.delete_policy(&a.name).await? {
        return Err(no_such_policy(&a.name));
    }
    let out = Output::new(
        format!("Deleted policy \"{}\"", a.name),
        json!({ "name": a.name, "deleted": true }),
    )
    .with_audit("deleted");
    let out = ctx.commit_output(tx, out).await?;
    ctx.shared.policies.invalidate();
    Ok(out)
}

#[derive(Parser)]
struct ListArgs {}

crate::no_targets!(ListArgs);

/// The conditions of a policy in one cell.
fn conditions(p: &Policy) -> String {
    let mut parts = Vec::new();
    for (label, list) in [
        ("realm", &p.realms),
        ("user", &p.users),
        ("resolver", &p.resolvers),
        ("adminuser", &p.admin_users),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label}={}", list.join("|")));
        }
    }
    if !p.clients.is_empty() {
        let c: Vec<String> = p.clients.iter().map(ToString::to_string).collect();
        parts.push(format!("client={}", c.join("|")));
    }
    parts.join(" ")
}

async fn list(ctx: Ctx, _a: ListArgs) -> Result<Output, CommandError> {
    let policies = ctx.store().list_policies().await?;
    let rows = policies
        .iter()
        .map(|p| {
            vec![
                p.active.to_string(),
                p.name.clone(),
                p.scope.to_string(),
                p.priority.to_string(),
                p.actions.to_string(),
                conditions(p),
            ]
        })
        .collect();
    let table = Table::new(
        &[
            "ACTIVE",
            "NAME",
            "SCOPE",
            "PRIORITY",
            "ACTION",
            "CONDITIONS",
        ],
        rows,
    );
    let records: Vec<PolicyRecord> = policies.iter().map(transfer::record).collect();
    Ok(Output::new(table.render(None), json!({ "policies": records })).with_table(table))
}
