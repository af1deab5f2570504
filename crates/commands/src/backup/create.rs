//! `backup create`: streams the database snapshot into a new archive. Rows are serialised into
//! members of about 4 MiB on the command's task while a writer thread compresses and writes
//! them (a bounded hand-off, so memory stays a few members whatever the table sizes). The
//! archive is written under a temporary name and renamed when complete and on disk.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use keyward_store::snapshot::{SnapshotError, SnapshotInfo, SnapshotSink, TableSchema, Value};
use serde_json::json;
use time::OffsetDateTime;

use super::CreateArgs;
use super::archive::{ArchiveWriter, FORMAT, FORMAT_VERSION, MEMBER_BYTES, Manifest};
use super::files::{collect_config_dir, default_config_dir};
use crate::context::Ctx;
use crate::keys::ensure_private_dir;
use crate::output::{CommandError, Output};
use crate::progress::Progress;

/// What the writer thread is handed.
enum Piece {
    Member {
        path: String,
        bytes: Vec<u8>,
        rows: u64,
    },
    Finish(Box<Manifest>),
}

/// Serialises rows into members and hands them to the writer thread.
struct Sink {
    to_writer: SyncSender<Piece>,
    table: String,
    buf: Vec<u8>,
    buf_rows: u64,
    member_no: u32,
    progress: Option<Progress>,
    quiet: bool,
}

const WRITER_GONE: &str = "the archive writer stopped";

impl Sink {
    fn flush_member(&mut self) -> Result<(), String> {
        if self.buf_rows == 0 {
            return Ok(());
        }
        self.member_no += 1;
        let piece = Piece::Member {
            path: format!("db/{}/{:06}.jsonl", self.table, self.member_no),
            bytes: std::mem::take(&mut self.buf),
            rows: self.buf_rows,
        };
        self.buf_rows = 0;
        self.to_writer
            .send(piece)
            .map_err(|_| WRITER_GONE.to_string())
    }
}

impl SnapshotSink for Sink {
    type Error = String;

    fn start(&mut self, info: &SnapshotInfo) -> Result<(), String> {
        let total = info.row_counts.values().sum();
        self.progress = Some(Progress::start("backup", "rows", total, self.quiet));
        Ok(())
    }

    fn begin_table(&mut self, table: &TableSchema) -> Result<(), String> {
        self.table = table.name.clone();
        self.member_no = 0;
        Ok(())
    }

    fn row(&mut self, values: Vec<Value>) -> Result<(), String> {
        serde_json::to_writer(&mut self.buf, &values).map_err(|e| e.to_string())?;
        self.buf.push(b'\n');
        self.buf_rows += 1;
        if let Some(p) = self.progress.as_mut() {
            p.add(1);
        }
        if self.buf.len() >= MEMBER_BYTES {
            self.flush_member()?;
        }
        Ok(())
    }

    fn end_table(&mut self, _table: &TableSchema, _rows: u64) -> Result<(), String> {
        self.flush_member()
    }
}

/// The writer thread: members in, archive out; returns the final manifest.
fn write_archive(
    file: File,
    mtime: u64,
    files: Vec<(String, Vec<u8>)>,
    pieces: Receiver<Piece>,
) -> std::io::Result<Manifest> {
    let mut writer = ArchiveWriter::new(file, mtime);
    for (path, bytes) in &files {
        writer.add(path, bytes, 0)?;
    }
    while let Ok(piece) = pieces.recv() {
        match piece {
            Piece::Member { path, bytes, rows } => writer.add(&path, &bytes, rows)?,
            Piece::Finish(manifest) => return writer.finish(*manifest),
        }
    }
    Err(std::io::Error::other("the backup was abandoned"))
}

/// `DIR/keyward-backup-YYYYMMDD-HHMM.tgz`, or with `-2`, `-3`… when that exists.
fn archive_path(dir: &Path, now_secs: i64) -> PathBuf {
    let stamp = OffsetDateTime::from_unix_timestamp(now_secs)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year][month][day]-[hour][minute]"
            ))
            .ok()
        })
        .unwrap_or_else(|| now_secs.to_string());
    let mut path = dir.join(format!("keyward-backup-{stamp}.tgz"));
    let mut n = 1;
    while path.exists() || partial(&path).exists() {
        n += 1;
        path = dir.join(format!("keyward-backup-{stamp}-{n}.tgz"));
    }
    path
}

fn partial(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn create_exclusive(path: &Path) -> Result<File, CommandError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .map_err(|e| CommandError::Unavailable(format!("cannot create {}: {e}", path.display())))
}

pub(super) async fn create(ctx: Ctx, a: CreateArgs) -> Result<Output, CommandError> {
    let settings = ctx.settings();
    let dir = a
        .directory
        .clone()
        .unwrap_or_else(|| settings.data_dir().join("backups"));
    ensure_private_dir(&dir)?;
    let config_dir = a
        .config_dir
        .clone()
        .or_else(|| default_config_dir(settings));
    let mut files = Vec::new();
    let mut config_file = None;
    let mut config_note = String::from("no configuration directory (no config file in use)");
    if let Some(cdir) = &config_dir {
        let collected = collect_config_dir(cdir, settings, &dir)?;
        config_note = format!(
            "configuration directory {} ({} files)",
            cdir.display(),
            collected.files.len()
        );
        config_file = collected.config_file;
        files.extend(collected.files);
    }
    let keys_path = settings.server_keys_path();
    if keys_path.exists() {
        let bytes = std::fs::read(&keys_path).map_err(|e| {
            CommandError::Unavailable(format!("cannot read {}: {e}", keys_path.display()))
        })?;
        files.push(("data/server-keys.toml".to_string(), bytes));
    }
    if a.enckey {
        let path = settings.enckey_path();
        let bytes = std::fs::read(&path).map_err(|e| {
            CommandError::Unavailable(format!("cannot read enckey {}: {e}", path.display()))
        })?;
        files.push(("keys/enckey".to_string(), bytes));
    }

    let now = ctx.now();
    let final_path = archive_path(&dir, now);
    let temp_path = partial(&final_path);
    let file = create_exclusive(&temp_path)?;
    let (to_writer, pieces) = sync_channel::<Piece>(2);
    let mtime = u64::try_from(now).unwrap_or(0);
    let writer = std::thread::spawn(move || write_archive(file, mtime, files, pieces));
    let mut sink = Sink {
        to_writer,
        table: String::new(),
        buf: Vec::with_capacity(MEMBER_BYTES + 4096),
        buf_rows: 0,
        member_no: 0,
        progress: None,
        quiet: a.quiet,
    };
    let snapshot = ctx.store().snapshot(&mut sink).await;
    let progress = sink.progress.take();
    let result = match snapshot {
        Ok(info) => {
            let manifest = Manifest {
                format: FORMAT.to_string(),
                format_version: FORMAT_VERSION,
                keyward_version: env!("CARGO_PKG_VERSION").to_string(),
                created_at: crate::timefmt::rfc3339(now),
                backend: info.backend,
                schema_version: info.schema_version,
                tables: info.tables,
                row_counts: info.row_counts,
                counters: info.counters,
                config_file,
                includes_enckey: a.enckey,
                members: Vec::new(),
            };
            let _ = sink.to_writer.send(Piece::Finish(Box::new(manifest)));
            Ok(())
        }
        Err(SnapshotError::Store(e)) => Err(CommandError::from(e)),
        Err(SnapshotError::Sink(e)) => Err(CommandError::Unavailable(e)),
    };
    drop(sink);
    let written = writer
        .join()
        .map_err(|_| CommandError::Internal("the archive writer failed".into()))
        .and_then(|r| {
            r.map_err(|e| {
                CommandError::Unavailable(format!("cannot write {}: {e}", temp_path.display()))
            })
        });
    let manifest = match (result, written) {
        (Ok(()), Ok(manifest)) => manifest,
        // When the writer failed, its error says why (the snapshot only saw it stop).
        (Err(CommandError::Unavailable(m)), Err(e)) if m == WRITER_GONE => {
            let _ = std::fs::remove_file(&temp_path);
            return Err(e);
        }
        (Err(e), _) | (Ok(()), Err(e)) => {
            let _ = std::fs::remove_file(&temp_path);
            return Err(e);
        }
    };
    if let Some(p) = progress {
        p.finish();
    }
    std::fs::rename(&temp_path, &final_path).map_err(|e| {
        CommandError::Unavailable(format!("cannot rename to {}: {e}", final_path.display()))
    })?;
    let size = std::fs::metadata(&final_path).map(|m| m.len()).unwrap_or(0);
    let rows: u64 = manifest.row_counts.values().sum();
    let shown = final_path.display().to_string();
    let mut text = format!(
        "Backup written to {shown}\n{rows} rows in {} tables (schema version {}, {}), {config_note}, {size} bytes\n",
        manifest.tables.len(),
        manifest.schema_version,
        manifest.backend,
    );
    if a.enckey {
        text.push_str(
            "WARNING: the archive contains the encryption key. With it, the database dump in the \
             archive reveals every OTP seed: keep the archive as safe as the key itself.\n",
        );
    } else {
        text.push_str(
            "The encryption key is NOT in the archive: store it separately (a copy offline, or \
             on paper with `keyward manage setup dump_enckey`). Without it the OTP seeds in \
             this backup cannot be used.\n",
        );
    }
    Ok(Output::new(
        text,
        json!({
            "file": shown,
            "bytes": size,
            "rows": manifest.row_counts,
            "schema_version": manifest.schema_version,
            "backend": manifest.backend,
            "includes_enckey": a.enckey,
            "config_dir": config_dir.map(|d| d.display().to_string()),
        }),
    )
    .with_audit(format!(
        "{shown}; {rows} rows; enckey {}",
        if a.enckey { "included" } else { "not included" }
    )))
}
