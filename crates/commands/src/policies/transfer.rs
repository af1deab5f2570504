//! Policies in files: the record shape of `keyward_proto::policy` converted to and from the
//! model, `config export -t policy [-o FILE] [-n NAME]` and `config import -t policy -i FILE
//! [--cleanup] [--update]` (pi-manage's). An export is canonical — the same policies give the
//! same bytes — so export, import into an empty installation and export again gives an
//! identical file. An import is one transaction with its audit row: a bad record refuses the
//! whole file, naming it.

use clap::Parser;
use keyward_core::policy::{DEFAULT_PRIORITY, Policy, PolicyDraft};
use keyward_proto::policy::{PolicyExport, PolicyRecord};
use serde_json::json;

use crate::access::{Target, Targets};
use crate::context::Ctx;
use crate::dump::files;
use crate::output::{CommandError, Output};

/// The configuration types `config export`/`import` know.
const TYPES: &[&str] = &["policy"];

fn check_type(t: &str) -> Result<(), CommandError> {
    if TYPES.contains(&t.trim()) {
        return Ok(());
    }
    Err(CommandError::Invalid(format!(
        "unknown configuration type \"{}\" (known: {})",
        t.chars().take(64).collect::<String>(),
        TYPES.join(", ")
    )))
}

/// A policy as a file record.
pub fn record(p: &Policy) -> PolicyRecord {
    let d = p.to_draft();
    PolicyRecord {
        name: d.name,
        scope: d.scope,
        action: d.action,
        realm: d.realms,
        user: d.users,
        resolver: d.resolvers,
        client: d.clients,
        adminuser: d.admin_users,
        active: d.active,
        priority: Some(d.priority),
        description: d.description,
    }
}

/// A file record as a checked policy; errors name `label`.
pub fn from_record(r: &PolicyRecord, label: &str) -> Result<Policy, CommandError> {
    let draft = PolicyDraft {
        name: r.name.clone(),
        scope: r.scope.clone(),
        action: r.action.clone(),
        realms: r.realm.clone(),
        users: r.user.clone(),
        resolvers: r.resolver.clone(),
        clients: r.client.clone(),
        admin_users: r.adminuser.clone(),
        active: r.active,
        priority: r.priority.unwrap_or(DEFAULT_PRIORITY),
        description: r.description.clone(),
    };
    Policy::from_draft(&draft).map_err(|e| CommandError::Invalid(format!("{label}: {e}")))
}

#[derive(Parser)]
pub(super) struct ExportArgs {
    /// What to export: policy.
    #[arg(short = 't', long = "type", default_value = "policy")]
    kind: String,
    /// Write to FILE (local runs only) instead of printing.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<std::path::PathBuf>,
    /// Only the policy of this name.
    #[arg(short = 'n', long = "name")]
    name: Option<String>,
}

crate::no_targets!(ExportArgs);

pub(super) async fn export(ctx: Ctx, a: ExportArgs) -> Result<Output, CommandError> {
    check_type(&a.kind)?;
    if a.output.is_some() && !ctx.is_local() {
        return Err(CommandError::Invalid(
            "-o writes a file and works only with keyward manage on the server; leave it out \
             to get the export as the answer"
                .into(),
        ));
    }
    let mut doc = PolicyExport::default();
    for p in ctx.store().list_policies().await? {
        if a.name.as_deref().is_none_or(|n| n == p.name) {
            doc.policy.insert(p.name.clone(), record(&p));
        }
    }
    if let Some(n) = &a.name
        && doc.policy.is_empty()
    {
        return Err(super::no_such_policy(n));
    }
    let bytes = crate::dump::to_json_text(&doc, 2)?;
    let value = serde_json::to_value(&doc).unwrap_or_default();
    match &a.output {
        Some(path) => {
            files::write_private(path, &bytes)?;
            Ok(Output::new(
                format!(
                    "Exported {} policies to {}",
                    doc.policy.len(),
                    path.display()
                ),
                json!({ "file": path.display().to_string(), "policies": doc.policy.len() }),
            ))
        }
        None => Ok(Output::new(String::from_utf8_lossy(&bytes), value)),
    }
}

#[derive(Parser)]
pub(super) struct ImportArgs {
    /// What to import: policy.
    #[arg(short = 't', long = "type", default_value = "policy")]
    kind: String,
    /// The file written by `config export` (JSON: {"policy": {NAME: {...}}}).
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    input: std::path::PathBuf,
    /// Delete every existing policy first.
    #[arg(short = 'c', long)]
    cleanup: bool,
    /// Overwrite existing policies of the same name (otherwise they are kept and skipped).
    #[arg(short = 'u', long)]
    update: bool,
}

impl Targets for ImportArgs {
    fn targets(&self) -> Vec<Target> {
        let shown: String = self.input.display().to_string().chars().take(200).collect();
        vec![Target::Object(shown)]
    }
}

/// Reads an export file into checked policies (file order: by name).
fn read_export(text: &str) -> Result<Vec<Policy>, CommandError> {
    let doc: PolicyExport = serde_json::from_str(text).map_err(|e| {
        CommandError::Invalid(format!("not a policy export ({{\"policy\": {{…}}}}): {e}"))
    })?;
    doc.policy
        .iter()
        .map(|(name, r)| {
            let label = format!("policy \"{name}\"");
            let mut r = r.clone();
            if r.name.is_empty() {
                r.name = name.clone();
            } else if r.name != *name {
                return Err(CommandError::Invalid(format!(
                    "{label}: its record is named \"{}\"",
                    r.name
                )));
            }
            from_record(&r, &label)
        })
        .collect()
}

pub(super) async fn import(ctx: Ctx, a: ImportArgs) -> Result<Output, CommandError> {
    check_type(&a.kind)?;
    let policies = read_export(&files::read_bounded(&a.input)?)?;
    let existing: Vec<String> = ctx
        .store()
        .list_policies()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let now = ctx.now();
    let mut tx = ctx.begin_change().await?;
    let removed = if a.cleanup {
        tx.delete_all_policies().await?
    } else {
        0
    };
    let (mut added, mut updated, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for p in &policies {
        let exists = !a.cleanup && existing.contains(&p.name);
        if exists && !a.update {
            skipped.push(p.name.clone());
            continue;
        }
        tx.put_policy(p, exists, now).await?;
        if exists {
            updated.push(p.name.clone());
        } else {
            added.push(p.name.clone());
        }
    }
    let mut text = format!(
        "Imported policies: {} added, {} updated, {} skipped",
        added.len(),
        updated.len(),
        skipped.len()
    );
    if a.cleanup {
        text.push_str(&format!(" ({removed} removed first)"));
    }
    if !skipped.is_empty() {
        text.push_str(&format!(
            "\nKept (exist already; -u overwrites): {}",
            skipped.join(", ")
        ));
    }
    let out = Output::new(
        text.clone(),
        json!({ "added": added, "updated": updated, "skipped": skipped, "removed": removed }),
    )
    .with_audit(text.lines().next().unwrap_or_default().to_string());
    let out = ctx.commit_output(tx, out).await?;
    ctx.shared.policies.invalidate();
    Ok(out)
}
