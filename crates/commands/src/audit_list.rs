//! `audit list [--limit N] [--before-id ID] [--since EPOCH]`: one page of the audit log, newest
//! first, paged by id in the database. The REST route `GET /api/v1/audit` runs this command, so
//! its role rule (superuser, admin, auditor) is the registry's.

use clap::Parser;
use keyward_proto::{AuditEntry, AuditPage};
use keyward_store::audit::AuditRecord;
use serde_json::json;

use crate::access::{AUDIT_READERS, Access};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::timefmt::rfc3339;

/// Default and largest page.
pub const DEFAULT_PAGE: i64 = 100;
pub const MAX_PAGE: i64 = 1000;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "audit list",
            "Show one page of the audit log, newest first (--limit, --before-id, --since)",
            list,
        )
        .example("audit list --limit 20")
        .example("audit list --before-id 1200 --output csv")
        .lists()
        .allow(Access::Roles(AUDIT_READERS)),
    ]
}

#[derive(Parser)]
struct ListArgs {
    /// Entries per page (1–1000).
    #[arg(long, default_value_t = DEFAULT_PAGE)]
    limit: i64,
    /// Only entries with a smaller id (the previous page's `next_before_id`).
    #[arg(long = "before-id")]
    before_id: Option<i64>,
    /// Only entries written at or after this time (epoch seconds).
    #[arg(long)]
    since: Option<i64>,
}

crate::no_targets!(ListArgs);

/// One entry as the REST API and `--json` show it.
fn entry(r: &AuditRecord) -> AuditEntry {
    AuditEntry {
        id: r.id,
        chain: r.chain.clone(),
        seq: r.seq,
        ts_ms: r.ts_ms,
        actor: r.event.actor.clone(),
        action: r.event.action.clone(),
        target: r.event.target.clone(),
        success: r.event.success,
        client: r.event.client.clone(),
        details: r.event.details.clone(),
        prev_hash: r.prev_hash.clone(),
        hash: r.hash.clone(),
        signature: r.signature.clone(),
    }
}

async fn list(ctx: Ctx, a: ListArgs) -> Result<Output, CommandError> {
    if !(1..=MAX_PAGE).contains(&a.limit) {
        return Err(CommandError::Invalid(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let since_ms = a.since.map(|s| s.saturating_mul(1000)).unwrap_or(i64::MIN);
    let rows = ctx
        .store()
        .list_audit(since_ms, a.before_id, a.limit)
        .await?;
    let next_before_id = (rows.len() as i64 == a.limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                rfc3339(r.ts_ms.div_euclid(1000)),
                r.event.actor.clone(),
                r.event.action.clone(),
                r.event.target.clone(),
                if r.event.success { "ok" } else { "FAILED" }.to_string(),
                r.event.details.clone(),
            ]
        })
        .collect();
    let table = crate::table::Table::new(
        &[
            "ID", "TIME", "ACTOR", "ACTION", "TARGET", "RESULT", "DETAILS",
        ],
        table,
    );
    let mut text = table.render(None);
    if let Some(next) = next_before_id {
        text.push_str(&format!("(more: --before-id {next})\n"));
    }
    let page = AuditPage {
        entries: rows.iter().map(entry).collect(),
        next_before_id,
    };
    Ok(Output::new(text, json!(page)).with_table(table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_store::audit::AuditEvent;

    #[test]
    fn an_entry_has_the_json_shape_of_before() {
        let r = AuditRecord {
            id: 7,
            chain: "local".into(),
            seq: 3,
            ts_ms: 1000,
            event: AuditEvent {
                actor: "root".into(),
                action: "createuser".into(),
                target: "user:bob".into(),
                success: true,
                client: "console".into(),
                details: "".into(),
            },
            prev_hash: "p".into(),
            hash: "h".into(),
            signature: "".into(),
        };
        let page = AuditPage {
            entries: vec![entry(&r)],
            next_before_id: None,
        };
        assert_eq!(
            json!(page),
            json!({ "entries": [{
                "id": 7, "chain": "local", "seq": 3, "ts_ms": 1000, "actor": "root",
                "action": "createuser", "target": "user:bob", "success": true,
                "client": "console", "details": "", "prev_hash": "p", "hash": "h",
                "signature": "",
            }], "next_before_id": null })
        );
    }
}
