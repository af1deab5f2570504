//! The backup archive: one gzip-compressed tar file (`keyward-backup-YYYYMMDD-HHMM.tgz`).
//!
//! Members: `db/<table>/<NNNNNN>.jsonl` (the rows of one table, one JSON array per line, at most
//! about 4 MiB a member, tables in dependency order), `config/<path>` (the configuration
//! directory), `data/server-keys.toml` (the server and audit signing keys, when kept in the data
//! directory), `keys/enckey` (only with `backup create -e`), and last `manifest.json`: format and
//! keyward version, engine, schema version, the tables' columns, row counts, counters, and the
//! size, SHA-256 and row count of every other member.
//!
//! Reading checks everything before anything is restored: each member's path (relative, no
//! `..`, under one of the known folders), its type (regular files only), its size and checksum,
//! that the manifest names exactly the members present, and the row counts.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use keyward_store::snapshot::TableSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const FORMAT: &str = "keyward-backup";
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
/// A table's rows are cut into members of about this size.
pub const MEMBER_BYTES: usize = 4 << 20;
/// The largest member a reader accepts (rows members are far smaller; config files too).
const MAX_MEMBER: u64 = 64 << 20;
/// The largest total of the members other than rows (config directory, keys, manifest).
pub const MAX_FILES_TOTAL: u64 = 64 << 20;

/// One member as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Rows in a `db/` member.
    #[serde(default)]
    pub rows: u64,
}

/// The archive's table of contents (the last member).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub keyward_version: String,
    pub created_at: String,
    /// The engine the snapshot was taken from (`sqlite` or `postgres`).
    pub backend: String,
    /// The number of schema migrations applied in the source database.
    pub schema_version: i64,
    pub tables: Vec<TableSchema>,
    pub row_counts: BTreeMap<String, u64>,
    pub counters: BTreeMap<String, i64>,
    /// The configuration file in use, relative to `config/`, when it was in the archived dir.
    pub config_file: Option<String>,
    pub includes_enckey: bool,
    pub members: Vec<Member>,
}

/// What is wrong with an archive; the message names the member.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0}")]
    Bad(String),
    #[error("cannot read the archive {path}: {reason}")]
    Io { path: String, reason: String },
}

fn hex_sha256(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

/// Writes an archive member by member; `finish` adds the manifest and makes it durable.
pub struct ArchiveWriter {
    builder: tar::Builder<GzEncoder<BufWriter<File>>>,
    members: Vec<Member>,
    mtime: u64,
}

impl ArchiveWriter {
    /// Starts writing to `file` (already created, empty); members carry `mtime` (epoch secs).
    pub fn new(file: File, mtime: u64) -> Self {
        let gz = GzEncoder::new(BufWriter::with_capacity(1 << 20, file), Compression::fast());
        let mut builder = tar::Builder::new(gz);
        builder.mode(tar::HeaderMode::Deterministic);
        ArchiveWriter {
            builder,
            members: Vec::new(),
            mtime,
        }
    }

    fn append(&mut self, path: &str, bytes: &[u8]) -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(self.mtime);
        self.builder.append_data(&mut header, path, bytes)
    }

    /// Adds one member (`rows`: how many table rows it holds, 0 for files).
    pub fn add(&mut self, path: &str, bytes: &[u8], rows: u64) -> std::io::Result<()> {
        self.append(path, bytes)?;
        self.members.push(Member {
            path: path.to_string(),
            size: bytes.len() as u64,
            sha256: hex_sha256(bytes),
            rows,
        });
        Ok(())
    }

    /// Adds the manifest (with the members written so far) and flushes the file to disk.
    pub fn finish(mut self, mut manifest: Manifest) -> std::io::Result<Manifest> {
        manifest.members = std::mem::take(&mut self.members);
        let text = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
        self.append(MANIFEST, &text)?;
        let gz = self.builder.into_inner()?;
        let buffered = gz.finish()?;
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(manifest)
    }
}

/// Checks a member's path: relative, plain components, under a known folder.
pub fn check_member_path(path: &str) -> Result<(), ArchiveError> {
    let bad = |why: &str| ArchiveError::Bad(format!("refused member {path:?}: {why}"));
    if path.starts_with('/') || path.contains('\\') || path.contains('\0') {
        return Err(bad("an absolute or malformed path"));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("a path that leaves its folder"));
    }
    let known = path == MANIFEST
        || ["db/", "config/", "keys/", "data/"]
            .iter()
            .any(|p| path.starts_with(p));
    if !known {
        return Err(bad("not a member of a keyward backup"));
    }
    Ok(())
}

/// Counts the (compressed) bytes read from the archive file, for progress.
struct Counting {
    file: File,
    read: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type Reader = tar::Archive<GzDecoder<BufReader<Counting>>>;

fn open(path: &Path, read: Arc<AtomicU64>) -> Result<Reader, ArchiveError> {
    let file = File::open(path).map_err(|e| ArchiveError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(tar::Archive::new(GzDecoder::new(BufReader::with_capacity(
        1 << 20,
        Counting { file, read },
    ))))
}

fn corrupt(e: std::io::Error) -> ArchiveError {
    ArchiveError::Bad(format!(
        "the archive is truncated or corrupt ({e}); nothing was restored"
    ))
}

/// Every member in archive order: its checked path and contents (at most [`MAX_MEMBER`]).
/// `visit` returns false to stop early.
fn each_member(
    path: &Path,
    read: Arc<AtomicU64>,
    mut visit: impl FnMut(&str, Vec<u8>) -> Result<bool, ArchiveError>,
) -> Result<(), ArchiveError> {
    let mut archive = open(path, read)?;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| ArchiveError::Bad("a member's path is not UTF-8".into()))?;
        if entry.header().entry_type() == tar::EntryType::Directory {
            // keyward writes none, but an archive repacked with tar has them: checked, skipped.
            let dir = name.trim_end_matches('/');
            check_member_path(&format!("{dir}/x"))?;
            continue;
        }
        check_member_path(&name)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(ArchiveError::Bad(format!(
                "refused member {name:?}: not a regular file"
            )));
        }
        let size = entry.header().size().map_err(corrupt)?;
        if size > MAX_MEMBER {
            return Err(ArchiveError::Bad(format!(
                "member {name:?} is larger than any keyward backup member"
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry.read_to_end(&mut bytes).map_err(corrupt)?;
        if !visit(&name, bytes)? {
            return Ok(());
        }
    }
    Ok(())
}

/// What the first, checking pass found: the manifest, and the small members (everything but
/// table rows) with their contents.
pub struct Verified {
    pub manifest: Manifest,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Reads the whole archive once and checks it (see the module doc); `progress` is told after
/// each member how many bytes of the file have been read so far.
pub fn verify(path: &Path, mut progress: impl FnMut(u64)) -> Result<Verified, ArchiveError> {
    let read = Arc::new(AtomicU64::new(0));
    let mut seen: HashMap<String, (u64, String)> = HashMap::new();
    let mut manifest: Option<Manifest> = None;
    let mut files = BTreeMap::new();
    let mut files_total = 0u64;
    each_member(path, read.clone(), |name, bytes| {
        if seen.contains_key(name) || (name == MANIFEST && manifest.is_some()) {
            return Err(ArchiveError::Bad(format!("member {name:?} appears twice")));
        }
        progress(read.load(Ordering::Relaxed));
        if name == MANIFEST {
            let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                ArchiveError::Bad(format!(
                    "the manifest is not a keyward backup manifest: {e}"
                ))
            })?;
            manifest = Some(m);
            return Ok(true);
        }
        if manifest.is_some() {
            return Err(ArchiveError::Bad(format!(
                "member {name:?} follows the manifest"
            )));
        }
        seen.insert(name.to_string(), (bytes.len() as u64, hex_sha256(&bytes)));
        if !name.starts_with("db/") {
            files_total += bytes.len() as u64;
            if files_total > MAX_FILES_TOTAL {
                return Err(ArchiveError::Bad(
                    "the archive's files (config, keys) are larger than keyward writes".into(),
                ));
            }
            files.insert(name.to_string(), bytes);
        }
        Ok(true)
    })?;
    let manifest = manifest.ok_or_else(|| {
        ArchiveError::Bad(
            "the archive has no manifest.json (truncated, or not a keyward backup)".into(),
        )
    })?;
    if manifest.format != FORMAT || manifest.format_version != FORMAT_VERSION {
        return Err(ArchiveError::Bad(format!(
            "the archive's format is {} version {}; this keyward reads {FORMAT} version {FORMAT_VERSION}",
            manifest.format, manifest.format_version
        )));
    }
    let mut rows_per_table: BTreeMap<String, u64> = BTreeMap::new();
    for m in &manifest.members {
        check_member_path(&m.path)?;
        match seen.remove(&m.path) {
            None => {
                return Err(ArchiveError::Bad(format!(
                    "member {:?} listed in the manifest is missing",
                    m.path
                )));
            }
            Some((size, sum)) if size != m.size || sum != m.sha256 => {
                return Err(ArchiveError::Bad(format!(
                    "member {:?} does not match its checksum: the archive is corrupt",
                    m.path
                )));
            }
            Some(_) => {}
        }
        if let Some(table) = m.path.strip_prefix("db/").and_then(|r| r.split('/').next()) {
            *rows_per_table.entry(table.to_string()).or_default() += m.rows;
        }
    }
    if let Some(extra) = seen.keys().next() {
        return Err(ArchiveError::Bad(format!(
            "member {extra:?} is not listed in the manifest"
        )));
    }
    for t in &manifest.tables {
        let listed = manifest.row_counts.get(&t.name).copied().unwrap_or(0);
        if rows_per_table.remove(&t.name).unwrap_or(0) != listed {
            return Err(ArchiveError::Bad(format!(
                "table {}: the members' row counts do not add up to the manifest's",
                t.name
            )));
        }
    }
    if let Some(table) = rows_per_table.keys().next() {
        return Err(ArchiveError::Bad(format!(
            "rows of table {table}, which the manifest does not declare"
        )));
    }
    Ok(Verified { manifest, files })
}

/// The second pass: hands each `db/` member's bytes to `visit` in archive order, checking its
/// checksum against the (verified) manifest again, since the file could have changed between
/// the passes.
pub fn each_rows_member(
    path: &Path,
    manifest: &Manifest,
    mut visit: impl FnMut(&Member, Vec<u8>) -> Result<bool, ArchiveError>,
) -> Result<(), ArchiveError> {
    let by_path: HashMap<&str, &Member> = manifest
        .members
        .iter()
        .map(|m| (m.path.as_str(), m))
        .collect();
    each_member(path, Arc::new(AtomicU64::new(0)), |name, bytes| {
        if !name.starts_with("db/") {
            return Ok(true);
        }
        let member = by_path.get(name).ok_or_else(|| {
            ArchiveError::Bad(format!("member {name:?} changed since it was checked"))
        })?;
        if hex_sha256(&bytes) != member.sha256 {
            return Err(ArchiveError::Bad(format!(
                "member {name:?} changed since it was checked"
            )));
        }
        visit(member, bytes)
    })
}

/// The table a `db/<table>/<n>.jsonl` member belongs to.
pub fn member_table(path: &str) -> Option<&str> {
    path.strip_prefix("db/")?.split('/').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_stay_inside() {
        for ok in [
            "manifest.json",
            "db/users/000001.jsonl",
            "config/keyward.toml",
        ] {
            assert!(check_member_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "db/../../x",
            "config//x",
            "config/./x",
            "other/x",
            "db\\x",
        ] {
            assert!(check_member_path(bad).is_err(), "{bad}");
        }
    }
}
