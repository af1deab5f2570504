//! Audit log commands (O3, pi-manage `audit`): `audit verify` proves the log untouched (hash
//! chains, signatures, no gaps, no missing tail or chain: see `audit_verify`), `audit dump`
//! writes it as CSV, `audit rotate` deletes old rows by watermarks or age while keeping every
//! chain verifiable from its signed checkpoint.

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;
use keyward_store::audit::{AuditRecord, KeepFrom};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::access::{AUDIT_READERS, Access};
use crate::audit_verify::verify;
use crate::context::Ctx;
use crate::csv::{raw_cell, text_cell};
use crate::output::{CommandError, Output};
use crate::progress::Progress;
use crate::registry::{CommandSpec, command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "audit verify",
            "Check every audit chain: hashes, links, signatures, no missing entries",
            verify,
        )
        .example("audit verify")
        .example("audit verify --json")
        .allow(Access::Roles(AUDIT_READERS)),
        command(
            "audit dump",
            "Write the audit log as CSV (-t 5d|3h|30m: only that recent; -f FILE)",
            dump,
        )
        .example("audit dump -t 5d -f audit.csv")
        .allow(Access::Roles(AUDIT_READERS)),
        command(
            "audit rotate",
            "Delete old audit entries (-hw N -lw M, or --age DAYS; --dryrun, --chunksize)",
            RotateArgs::run,
        )
        .mutating()
        .example("audit rotate --age 365 --dryrun")
        .example("audit rotate --highwatermark 100000 --lowwatermark 50000")
        .example("audit rotate --config /etc/keyward/audit-rotate.toml")
        .allow(Access::Superuser),
    ]
}

const PAGE: i64 = 1000;

/// Parses `5d`, `3h`, `30m`, `45s`, `2w` into seconds.
fn parse_span(s: &str) -> Result<i64, String> {
    crate::timefmt::span_secs(s, false).ok_or_else(|| {
        format!(
            "time span must look like 5d, 3h, 30m or 45s, not {:?}",
            s.trim()
        )
    })
}

#[derive(Parser)]
struct DumpArgs {
    /// Only entries newer than this (e.g. 5d, 3h, 30m).
    #[arg(short = 't', long = "time", value_parser = parse_span)]
    time: Option<i64>,
    /// Write to this new file instead of standard output (never overwrites).
    #[arg(short = 'f', long = "filename")]
    file: Option<std::path::PathBuf>,
}

pub const CSV_HEADER: &str =
    "id,chain,seq,time,actor,action,target,success,client,details,prev_hash,hash,signature";

fn ms_time(ts_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ts_ms.to_string())
}

fn csv_row(r: &AuditRecord) -> String {
    let cells = [
        r.id.to_string(),
        text_cell(&r.chain),
        r.seq.to_string(),
        ms_time(r.ts_ms),
        text_cell(&r.event.actor),
        text_cell(&r.event.action),
        text_cell(&r.event.target),
        if r.event.success { "1" } else { "0" }.to_string(),
        text_cell(&r.event.client),
        text_cell(&r.event.details),
        raw_cell(&r.prev_hash),
        raw_cell(&r.hash),
        raw_cell(&r.signature),
    ];
    let mut line = cells.join(",");
    line.push('\n');
    line
}

async fn dump(ctx: Ctx, a: DumpArgs) -> Result<Output, CommandError> {
    let since_ms = match a.time {
        Some(secs) => ctx
            .shared
            .clock
            .now_ms()
            .saturating_sub(secs.saturating_mul(1000)),
        None => i64::MIN,
    };
    if a.file.is_some() && !ctx.is_local() {
        return Err(CommandError::Forbidden(
            "-f/--filename writes a file on the server and works only in local runs; \
             leave it out to get the CSV in the answer"
                .into(),
        ));
    }
    let mut file = match &a.file {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| {
                    CommandError::Invalid(format!("cannot create {}: {e}", path.display()))
                })?,
        ),
        None => None,
    };
    let mut text = String::from(CSV_HEADER);
    text.push('\n');
    let mut count: u64 = 0;
    let mut after = i64::MIN;
    loop {
        let page = ctx.store().audit_rows_asc(since_ms, after, PAGE).await?;
        for r in &page {
            text.push_str(&csv_row(r));
            count += 1;
        }
        if let Some(f) = file.as_mut() {
            f.write_all(text.as_bytes())
                .map_err(|e| CommandError::Internal(format!("cannot write the dump: {e}")))?;
            text.clear();
        }
        match page.last() {
            Some(last) if (page.len() as i64) == PAGE => after = last.id,
            _ => break,
        }
    }
    match (&a.file, file) {
        (Some(path), Some(f)) => {
            f.sync_all()
                .map_err(|e| CommandError::Internal(format!("cannot write the dump: {e}")))?;
            Ok(Output::new(
                format!("Wrote {count} audit entries to {}", path.display()),
                json!({ "entries": count, "file": path.display().to_string() }),
            ))
        }
        _ => Ok(Output::new(
            text,
            json!({ "entries": count, "header": CSV_HEADER }),
        )),
    }
}

// pi-manage spells the watermarks `-hw` / `-lw`; clap short options are one letter, so
// `RotateArgs` rewrites those two spellings before parsing.
/// Delete old audit entries: with more than -hw/--highwatermark entries (default 10000), all but
/// the newest -lw/--lowwatermark (default 5000); or, with --age DAYS, those older than that.
#[derive(Parser)]
struct RotateInner {
    /// Rotate when there are more entries than this (pi-manage -hw).
    #[arg(long = "highwatermark", visible_alias = "hw", conflicts_with = "age")]
    highwatermark: Option<i64>,
    /// Keep this many newest entries when rotating (pi-manage -lw).
    #[arg(long = "lowwatermark", visible_alias = "lw", conflicts_with = "age")]
    lowwatermark: Option<i64>,
    /// Instead of watermarks: delete entries older than DAYS.
    #[arg(long)]
    age: Option<i64>,
    /// Only count what would be deleted.
    #[arg(long)]
    dryrun: bool,
    /// Delete in transactions of this many rows.
    #[arg(long, default_value = "1000")]
    chunksize: i64,
    /// Read highwatermark/lowwatermark or age from this TOML file (local runs only).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["highwatermark", "lowwatermark", "age"])]
    config: Option<std::path::PathBuf>,
    /// No progress output (local runs show a bar on a terminal, plain lines otherwise).
    #[arg(short, long)]
    quiet: bool,
}

/// The rotation settings `audit rotate --config FILE` reads: `highwatermark` and
/// `lowwatermark`, or `age` (days).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateConfig {
    highwatermark: Option<i64>,
    lowwatermark: Option<i64>,
    age: Option<i64>,
}

/// Fills the watermarks or the age of `a` from its `--config` file.
fn apply_rotate_config(ctx: &Ctx, a: &mut RotateInner) -> Result<(), CommandError> {
    let Some(path) = a.config.clone() else {
        return Ok(());
    };
    if !ctx.is_local() {
        return Err(CommandError::Forbidden(
            "--config reads a file on the server and works only in local runs; \
             give -hw/-lw or --age instead"
                .into(),
        ));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CommandError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let c: RotateConfig = toml::from_str(&text).map_err(|e| {
        CommandError::Invalid(format!(
            "{}: {} (keys: highwatermark, lowwatermark, age)",
            path.display(),
            e.message()
        ))
    })?;
    if c.age.is_some() && (c.highwatermark.is_some() || c.lowwatermark.is_some()) {
        return Err(CommandError::Invalid(format!(
            "{}: give either age or the watermarks, not both",
            path.display()
        )));
    }
    a.highwatermark = c.highwatermark;
    a.lowwatermark = c.lowwatermark;
    a.age = c.age;
    Ok(())
}

struct RotateArgs(RotateInner);

impl clap::CommandFactory for RotateArgs {
    fn command() -> clap::Command {
        RotateInner::command()
    }
    fn command_for_update() -> clap::Command {
        RotateInner::command_for_update()
    }
}

impl clap::FromArgMatches for RotateArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        RotateInner::from_arg_matches(m).map(RotateArgs)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
}

impl clap::Parser for RotateArgs {
    fn try_parse_from<I, T>(itr: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let words = itr.into_iter().map(|w| {
            let w: OsString = w.into();
            match w.to_str() {
                Some(s) if s == "-hw" || s.starts_with("-hw=") => {
                    OsString::from(s.replacen("-hw", "--highwatermark", 1))
                }
                Some(s) if s == "-lw" || s.starts_with("-lw=") => {
                    OsString::from(s.replacen("-lw", "--lowwatermark", 1))
                }
                _ => w,
            }
        });
        RotateInner::try_parse_from(words).map(RotateArgs)
    }
}

impl RotateArgs {
    async fn run(ctx: Ctx, a: RotateArgs) -> Result<Output, CommandError> {
        rotate(ctx, a.0).await
    }
}

async fn rotate(ctx: Ctx, mut a: RotateInner) -> Result<Output, CommandError> {
    apply_rotate_config(&ctx, &mut a)?;
    let chunk = a.chunksize;
    if chunk < 1 {
        return Err(CommandError::Usage(
            "audit rotate: --chunksize must be at least 1".into(),
        ));
    }
    let keep = match a.age {
        Some(days) if days < 0 => {
            return Err(CommandError::Usage(
                "audit rotate: --age must not be negative".into(),
            ));
        }
        Some(days) => Some(KeepFrom::TsMs(
            ctx.shared
                .clock
                .now_ms()
                .saturating_sub(days.saturating_mul(86_400_000)),
        )),
        None => {
            let hw = a.highwatermark.unwrap_or(10_000);
            let lw = a.lowwatermark.unwrap_or(5_000);
            if hw < 0 || lw < 0 || lw > hw {
                return Err(CommandError::Usage(format!(
                    "audit rotate: need 0 <= lowwatermark <= highwatermark (got -lw {lw}, -hw {hw})"
                )));
            }
            if ctx.store().count_audit().await? > hw {
                ctx.store()
                    .audit_id_keeping_newest(lw)
                    .await?
                    .map(KeepFrom::Id)
            } else {
                None
            }
        }
    };
    let signer = ctx.shared.audit_signer().await?;
    let mut deleted: u64 = 0;
    let mut per_chain = Vec::new();
    if let Some(keep) = keep {
        for chain in ctx.store().audit_chains().await? {
            let bound = ctx.store().audit_chain_rotation_bound(&chain, keep).await?;
            let due = u64::try_from(ctx.store().count_audit_chain_upto(&chain, bound).await?)
                .unwrap_or(0);
            let n = if a.dryrun {
                due
            } else {
                // Progress only where the operator watches: at the console.
                let quiet = a.quiet || !ctx.principal.is_local() || due == 0;
                let mut progress =
                    Progress::start(&format!("audit rotate {chain}"), "rows", due, quiet);
                let mut n = 0;
                loop {
                    let got = ctx
                        .store()
                        .delete_audit_chunk(&chain, bound, chunk, ctx.now(), &signer)
                        .await?;
                    if got == 0 {
                        break;
                    }
                    n += got;
                    progress.add(got);
                }
                progress.finish();
                n
            };
            if n > 0 {
                per_chain.push(format!("{chain}: {n} up to seq {bound}"));
            }
            deleted += n;
        }
    }
    let mut text = format!("Deleted audit entries: {deleted}");
    if a.dryrun {
        text.push_str(" (dry run)");
    }
    let details = format!(
        "{}{deleted} deleted{}{}",
        if a.dryrun { "dry run, " } else { "" },
        if per_chain.is_empty() { "" } else { "; " },
        per_chain.join("; ")
    );
    // The chunks above committed one by one (each moves its chain's signed checkpoint, so the
    // chain verifies after every one); the audit row commits on its own at the end.
    let out =
        Output::new(text, json!({ "deleted": deleted, "dry_run": a.dryrun })).with_audit(details);
    ctx.commit_output(ctx.begin_change().await?, out).await
}

crate::no_targets!(DumpArgs, RotateArgs);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse() {
        assert_eq!(parse_span("5d"), Ok(432_000));
        assert_eq!(parse_span("3h"), Ok(10_800));
        assert_eq!(parse_span("30m"), Ok(1800));
        assert!(parse_span("d").is_err());
        assert!(parse_span("").is_err());
        assert!(parse_span("5y").is_err());
    }

    #[test]
    fn pi_manage_watermark_spelling_is_accepted() {
        use clap::Parser as _;
        let a = RotateArgs::try_parse_from(["audit rotate", "-hw", "10", "-lw=5", "--dryrun"])
            .unwrap()
            .0;
        assert_eq!(a.highwatermark, Some(10));
        assert_eq!(a.lowwatermark, Some(5));
        assert!(a.dryrun);
        assert!(RotateArgs::try_parse_from(["audit rotate", "-hw", "10", "--age", "3"]).is_err());
    }
}
