//! `backup restore`: checks the whole archive, then loads it into the configured database in
//! one audited transaction. Order: the database lock (no server may hold it), a checking pass
//! over the archive (manifest, checksums, paths, schema), the transaction (tables compared,
//! emptiness, `--force` clearing), the file plan (conflicts refused before any change), a
//! loading pass (a reader thread parses rows and hands over bounded batches), counts compared,
//! counters set, files put in place, then the commit with the audit row. Anything failing
//! before the commit rolls the database back and the files with it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use keyward_store::SCHEMA_VERSION;
use keyward_store::restore::check_same_schema;
use keyward_store::snapshot::{TableSchema, Value};
use serde_json::json;

use super::RestoreArgs;
use super::archive::{self, ArchiveError, Manifest, Verified};
use super::files;
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::progress::Progress;

/// Rows handed from the reader thread to the database per batch.
const BATCH_ROWS: usize = 2000;

fn archive_error(e: ArchiveError) -> CommandError {
    match e {
        ArchiveError::Bad(m) => CommandError::Invalid(m),
        ArchiveError::Io { .. } => CommandError::NotFound(e.to_string()),
    }
}

fn joined<T>(
    r: Result<Result<T, ArchiveError>, tokio::task::JoinError>,
) -> Result<T, CommandError> {
    r.map_err(|e| CommandError::Internal(format!("the archive reader failed: {e}")))?
        .map_err(archive_error)
}

/// The checking pass, on a blocking thread.
async fn verify(path: PathBuf, quiet: bool) -> Result<Verified, CommandError> {
    let size = std::fs::metadata(&path)
        .map_err(|e| CommandError::NotFound(format!("cannot read {}: {e}", path.display())))?
        .len();
    joined(
        tokio::task::spawn_blocking(move || {
            let mut progress =
                Progress::start("restore: checking the archive", "bytes", size, quiet);
            let out = archive::verify(&path, |read| progress.set(read));
            if out.is_ok() {
                progress.set(size);
            }
            progress.finish();
            out
        })
        .await,
    )
}

fn check_schema(m: &Manifest) -> Result<(), CommandError> {
    let known = SCHEMA_VERSION;
    if m.schema_version > known {
        return Err(CommandError::Invalid(format!(
            "the archive comes from a newer schema (version {}) than this keyward knows ({known}): \
             restore it with keyward {} or later; nothing was restored",
            m.schema_version, m.keyward_version
        )));
    }
    if m.schema_version < known {
        return Err(CommandError::Invalid(format!(
            "the archive has schema version {}, this keyward {known}: restore it with the keyward \
             version that wrote it ({}), then upgrade; nothing was restored",
            m.schema_version, m.keyward_version
        )));
    }
    Ok(())
}

/// One batch of rows of one table, from the reader thread.
struct Batch {
    table: String,
    rows: Vec<Vec<Value>>,
}

/// The loading pass: parses the `db/` members on a blocking thread and sends batches.
fn spawn_reader(
    path: PathBuf,
    manifest: Manifest,
    to_db: tokio::sync::mpsc::Sender<Batch>,
) -> tokio::task::JoinHandle<Result<(), ArchiveError>> {
    tokio::task::spawn_blocking(move || {
        archive::each_rows_member(&path, &manifest, |member, bytes| {
            let table = archive::member_table(&member.path)
                .unwrap_or_default()
                .to_string();
            let mut rows = Vec::with_capacity(BATCH_ROWS);
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let row: Vec<Value> = serde_json::from_slice(line).map_err(|_| {
                    ArchiveError::Bad(format!(
                        "member {:?}, line {}: not a row of values; nothing was restored",
                        member.path,
                        i + 1
                    ))
                })?;
                rows.push(row);
                if rows.len() == BATCH_ROWS {
                    let batch = Batch {
                        table: table.clone(),
                        rows: std::mem::take(&mut rows),
                    };
                    if to_db.blocking_send(batch).is_err() {
                        return Ok(false);
                    }
                }
            }
            if !rows.is_empty() && to_db.blocking_send(Batch { table, rows }).is_err() {
                return Ok(false);
            }
            Ok(true)
        })
    })
}

fn stamp(now: i64) -> String {
    crate::timefmt::rfc3339(now).replace([':', '-'], "")
}

pub(super) async fn restore(ctx: Ctx, a: RestoreArgs) -> Result<Output, CommandError> {
    let _lock = ctx.store().lock_exclusively().await?.ok_or_else(|| {
        CommandError::Conflict(
            "a keyward server is running on this database: stop it (every node) and run the \
             restore again; nothing was restored"
                .into(),
        )
    })?;
    let Verified { manifest, files } = verify(a.file.clone(), a.quiet).await?;
    check_schema(&manifest)?;

    let mut tx = ctx.begin_change().await?;
    let target: Vec<TableSchema> = tx.data_tables().await?;
    check_same_schema(&manifest.tables, &target)
        .map_err(|m| CommandError::Invalid(format!("{m}; nothing was restored")))?;
    // A new installation has audit rows already (its setup commands, refused runs): only other
    // data makes a database "not empty". Its audit rows are replaced all the same (and counted).
    let all_rows = tx.count_data_rows(&target).await?;
    let data: Vec<TableSchema> = target
        .iter()
        .filter(|t| !t.name.starts_with("audit_"))
        .cloned()
        .collect();
    let existing = tx.count_data_rows(&data).await?;
    if existing > 0 && !a.force {
        return Err(CommandError::Conflict(format!(
            "the database is not empty ({existing} rows besides the audit log): run with --force \
             to replace everything in it; nothing was restored"
        )));
    }
    let plan = files::plan(
        &files,
        &manifest,
        ctx.settings(),
        a.force,
        existing == 0,
        a.keep_db_uri,
    )?;
    let mut staged = plan.stage()?;
    let cleared = if all_rows > 0 {
        tx.clear_data_tables(&target).await?
    } else {
        0
    };

    let total: u64 = manifest.row_counts.values().sum();
    let mut progress = Progress::start("restore: loading rows", "rows", total, a.quiet);
    let (to_db, mut batches) = tokio::sync::mpsc::channel::<Batch>(4);
    let reader = spawn_reader(a.file.clone(), manifest.clone(), to_db);
    let by_name: BTreeMap<&str, &TableSchema> =
        target.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut loaded: BTreeMap<String, u64> = BTreeMap::new();
    let mut failure = None;
    while let Some(batch) = batches.recv().await {
        let Some(table) = by_name.get(batch.table.as_str()) else {
            failure = Some(CommandError::Invalid(format!(
                "rows of an unknown table {}; nothing was restored",
                batch.table
            )));
            break;
        };
        match tx.insert_rows(table, &batch.rows).await {
            Ok(n) => {
                *loaded.entry(batch.table).or_default() += n;
                progress.add(n);
            }
            Err(e) => {
                failure = Some(CommandError::Invalid(format!(
                    "table {}: {e}; nothing was restored",
                    table.name
                )));
                break;
            }
        }
    }
    drop(batches);
    let read = joined(reader.await);
    if let Some(e) = failure {
        return Err(e);
    }
    read?;
    progress.finish();
    for t in &manifest.tables {
        let want = manifest.row_counts.get(&t.name).copied().unwrap_or(0);
        let got = loaded.get(&t.name).copied().unwrap_or(0);
        if want != got {
            return Err(CommandError::Invalid(format!(
                "table {}: {got} rows loaded, the manifest says {want}; nothing was restored",
                t.name
            )));
        }
    }
    tx.finish_restore(&manifest.counters).await?;

    let stamp = stamp(ctx.now());
    let mut lines = vec![format!(
        "Restored {total} rows into {} tables from {} (a {} backup of {}, schema version {})",
        manifest.tables.len(),
        a.file.display(),
        manifest.backend,
        manifest.created_at,
        manifest.schema_version
    )];
    if cleared > 0 {
        lines.push(format!("replaced the {cleared} rows the database held"));
    }
    let placed = match staged.place(&stamp) {
        Ok(p) => p,
        Err(e) => {
            staged.undo();
            return Err(e);
        }
    };
    lines.extend(placed);
    // The signed audit heads of the replaced database describe chains that are gone.
    let heads = ctx.settings().data_dir().join("audit-heads");
    let moved_heads = if heads.exists() {
        let old = ctx
            .settings()
            .data_dir()
            .join(format!("audit-heads.before-restore-{stamp}"));
        std::fs::rename(&heads, &old).ok().map(|()| old)
    } else {
        None
    };
    if let Some(old) = &moved_heads {
        lines.push(format!(
            "moved the audit heads of the replaced database to {}",
            old.display()
        ));
    }
    lines.extend(plan.notes.iter().cloned());
    let out = Output::new(
        lines.join("\n"),
        json!({
            "file": a.file.display().to_string(),
            "rows": manifest.row_counts,
            "backend": manifest.backend,
            "schema_version": manifest.schema_version,
            "replaced_rows": cleared,
        }),
    )
    .with_audit(format!(
        "{}; {total} rows; {cleared} rows replaced",
        a.file.display()
    ));
    match ctx.commit_output(tx, out).await {
        Ok(out) => Ok(out),
        Err(e) => {
            staged.undo();
            if let Some(old) = moved_heads {
                let _ = std::fs::rename(old, heads);
            }
            Err(e)
        }
    }
}
