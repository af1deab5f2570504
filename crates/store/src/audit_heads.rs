//! Signed head records of the audit chains, kept outside the database (one small file per chain
//! in `data_dir/audit-heads/`), so that cutting the newest rows or deleting a whole chain from the
//! table is noticed by `audit verify`. The group-commit writer rewrites a chain's file after every
//! committed batch that appended to it (write to a temporary file, then rename; no fsync: a file
//! that lags behind the table after a crash only makes the check weaker, never wrong, since a head
//! is a lower bound on what the chain must contain).
//!
//! Each process writes the heads of the chains it appends to. Several nodes sharing one
//! PostgreSQL database each have their own chain and, unless they share a data directory, each
//! knows only its own head: verify on every node (or pass the other nodes' heads with
//! `audit verify --expect-head`) to cover all chains.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sha256_hex;

/// A chain's newest committed entry, signed with the audit signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub chain: String,
    pub seq: i64,
    pub hash: String,
    pub signature: String,
}

/// SHA-256 over length-prefixed fields, so no two different records share a digest.
fn digest(fields: &[&str]) -> String {
    let mut buf = Vec::with_capacity(160);
    for f in fields {
        buf.extend_from_slice(&(f.len() as u64).to_be_bytes());
        buf.extend_from_slice(f.as_bytes());
    }
    sha256_hex(&buf)
}

/// What a head record's signature covers. Its own prefix keeps a row's signature (over a bare
/// hash) or a checkpoint's from passing as a head's.
pub fn head_message(chain: &str, seq: i64, hash: &str) -> String {
    format!(
        "keyward-audit-head:{}",
        digest(&[chain, &seq.to_string(), hash])
    )
}

/// What a rotation checkpoint's signature covers (see [`head_message`]).
pub fn checkpoint_message(chain: &str, seq: i64, hash: &str) -> String {
    format!(
        "keyward-audit-checkpoint:{}",
        digest(&[chain, &seq.to_string(), hash])
    )
}

/// The file name of a chain's head: the name itself when it is plain, else its hex form.
fn file_name(chain: &str) -> String {
    let plain = !chain.is_empty()
        && !chain.starts_with('.')
        && chain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        format!("{chain}.head")
    } else {
        format!(
            "hex-{}.head",
            data_encoding::HEXLOWER.encode(chain.as_bytes())
        )
    }
}

/// Writes a chain's head record (temporary file, then rename); creates the directory (0700).
pub fn write_head(dir: &Path, head: &AuditHead) -> std::io::Result<()> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let name = file_name(&head.chain);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let text = serde_json::to_string(head).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join(name))
}

/// One head file as found: its record, or why it cannot be read.
pub type FoundHead = (PathBuf, Result<AuditHead, String>);

/// Every head record in `dir` (none when the directory does not exist).
pub fn read_heads(dir: &Path) -> std::io::Result<Vec<FoundHead>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let is_head = path.extension().is_some_and(|e| e == "head")
            && !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !is_head {
            continue;
        }
        let record = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<AuditHead>(&t).map_err(|e| e.to_string()));
        found.push((path, record));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item14_head_records_round_trip_and_messages_are_distinct() {
        let dir = tempfile::tempdir().unwrap();
        let heads = dir.path().join("audit-heads");
        for chain in ["local", "node/../x"] {
            let head = AuditHead {
                chain: chain.into(),
                seq: 7,
                hash: "ab".into(),
                signature: "sig".into(),
            };
            write_head(&heads, &head).unwrap();
            write_head(&heads, &head).unwrap();
        }
        let found = read_heads(&heads).unwrap();
        assert_eq!(found.len(), 2);
        let chains: Vec<String> = found.into_iter().map(|(_, h)| h.unwrap().chain).collect();
        assert!(chains.contains(&"node/../x".to_string()));
        assert_ne!(head_message("c", 1, "h"), checkpoint_message("c", 1, "h"));
        assert_ne!(head_message("c", 1, "h"), head_message("c", 2, "h"));
        assert!(read_heads(&dir.path().join("none")).unwrap().is_empty());
    }
}
