//! The files of a backup besides the database: the configuration directory, the server keys of
//! the data directory and (with `-e`) the enckey. Collecting them for `backup create`, and for
//! `backup restore` a plan (what goes where, refused conflicts) made before the database is
//! touched, staged under temporary names, and put in place just before the database commits —
//! every replaced file is kept as `NAME.before-restore-TIMESTAMP`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::archive::{MAX_FILES_TOTAL, Manifest};
use crate::keys::ensure_private_dir;
use crate::output::CommandError;
use crate::settings::Settings;

/// Deepest folder nesting read from a configuration directory.
const MAX_DEPTH: usize = 8;

/// The directory of the config file in use, if any.
pub(super) fn default_config_dir(settings: &Settings) -> Option<PathBuf> {
    let file = settings.config_file.as_ref()?;
    Some(match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    })
}

pub(super) struct Collected {
    /// `config/<relative path>` and contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// The config file in use, relative to the directory, when it lies inside.
    pub config_file: Option<String>,
}

fn canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

/// Reads a configuration directory for the archive: regular files only (symbolic links are
/// not followed), never the enckey, the data directory or the backup directory inside it.
pub(super) fn collect_config_dir(
    dir: &Path,
    settings: &Settings,
    backup_dir: &Path,
) -> Result<Collected, CommandError> {
    let root = canonical(dir).ok_or_else(|| {
        CommandError::NotFound(format!(
            "configuration directory {} not found",
            dir.display()
        ))
    })?;
    let excluded: Vec<PathBuf> = [
        settings.enckey_path(),
        settings.data_dir(),
        backup_dir.to_path_buf(),
    ]
    .iter()
    .filter_map(|p| canonical(p))
    .collect();
    // The SQLite database and its companions (-wal, -shm, -serving.lock) when they lie inside.
    let database = keyward_store::sqlite_file(&settings.database_url()).and_then(|f| {
        let name = f.file_name()?.to_str()?.to_string();
        let parent = f.parent().filter(|p| !p.as_os_str().is_empty());
        Some((canonical(parent.unwrap_or(Path::new(".")))?, name))
    });
    let is_database = |path: &Path| {
        database.as_ref().is_some_and(|(dir, name)| {
            path.parent() == Some(dir.as_path())
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(name.as_str()))
        })
    };
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut stack = vec![(root.clone(), 0usize)];
    while let Some((folder, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| {
            CommandError::Unavailable(format!("cannot read {}: {e}", folder.display()))
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| {
                CommandError::Unavailable(format!("cannot read {}: {e}", folder.display()))
            })?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| {
                CommandError::Unavailable(format!("cannot read {}: {e}", path.display()))
            })?;
            if excluded.iter().any(|x| path.starts_with(x)) || is_database(&path) {
                continue;
            }
            if kind.is_dir() && depth < MAX_DEPTH {
                stack.push((path, depth + 1));
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(&root)
                    .ok()
                    .and_then(|r| r.to_str())
                    .ok_or_else(|| {
                        CommandError::Invalid(format!(
                            "{}: only UTF-8 file names can be backed up",
                            path.display()
                        ))
                    })?
                    .to_string();
                let bytes = std::fs::read(&path).map_err(|e| {
                    CommandError::Unavailable(format!("cannot read {}: {e}", path.display()))
                })?;
                total += bytes.len() as u64;
                if total > MAX_FILES_TOTAL {
                    return Err(CommandError::Invalid(format!(
                        "the configuration directory {} holds more than {} MiB: \
                         name a smaller one with -c",
                        dir.display(),
                        MAX_FILES_TOTAL >> 20
                    )));
                }
                files.push((format!("config/{rel}"), bytes));
            }
        }
    }
    files.sort();
    let config_file = settings
        .config_file
        .as_deref()
        .and_then(canonical)
        .and_then(|f| {
            f.strip_prefix(&root)
                .ok()
                .and_then(|r| r.to_str())
                .map(String::from)
        });
    Ok(Collected { files, config_file })
}

/// The config text with its `database_url` replaced by the one in force (or removed when the
/// embedded default is in force).
fn keep_database_url(text: &str, settings: &Settings) -> String {
    let mut out = String::new();
    if let Some(url) = &settings.database_url {
        out.push_str(&format!(
            "database_url = {}\n",
            toml::Value::String(url.clone())
        ));
    }
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        if key == "database_url" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

struct Planned {
    target: PathBuf,
    bytes: Vec<u8>,
    mode: u32,
}

/// The files a restore will write, checked against what is on disk.
pub(super) struct FilePlan {
    items: Vec<Planned>,
    pub notes: Vec<String>,
}

/// Plans the file side of a restore; refuses (before anything changes) a differing file that
/// may not be replaced: config files need `force`, key files `force` or an empty database.
pub(super) fn plan(
    files: &BTreeMap<String, Vec<u8>>,
    manifest: &Manifest,
    settings: &Settings,
    force: bool,
    db_empty: bool,
    keep_db_uri: bool,
) -> Result<FilePlan, CommandError> {
    let config_dir = default_config_dir(settings);
    let mut items = Vec::new();
    let mut notes = Vec::new();
    let mut skipped_config = 0;
    for (name, bytes) in files {
        let (target, mode, may_replace, what) = if let Some(rel) = name.strip_prefix("config/") {
            let Some(dir) = &config_dir else {
                skipped_config += 1;
                continue;
            };
            (dir.join(rel), 0o600, force, "config file")
        } else if name == "data/server-keys.toml" {
            (
                settings.server_keys_path(),
                0o600,
                force || db_empty,
                "server keys file",
            )
        } else if name == "keys/enckey" {
            (settings.enckey_path(), 0o400, force || db_empty, "enckey")
        } else {
            continue;
        };
        let mut bytes = bytes.clone();
        if keep_db_uri
            && manifest
                .config_file
                .as_deref()
                .map(|f| format!("config/{f}"))
                == Some(name.clone())
        {
            let text = String::from_utf8_lossy(&bytes);
            bytes = keep_database_url(&text, settings).into_bytes();
        }
        match std::fs::read(&target) {
            Ok(existing) if existing == bytes => continue,
            Ok(_) if !may_replace => {
                return Err(CommandError::Conflict(format!(
                    "the {what} {} differs from the archive's: run with --force to replace it \
                     (the old one is kept as {}.before-restore-…); nothing was restored",
                    target.display(),
                    target.display()
                )));
            }
            _ => {}
        }
        items.push(Planned {
            target,
            bytes,
            mode,
        });
    }
    if skipped_config > 0 {
        notes.push(format!(
            "{skipped_config} configuration files in the archive were not restored: no config \
             file is in use (run with --config FILE to restore them beside it)"
        ));
    }
    if !manifest.includes_enckey && !settings.enckey_path().exists() {
        notes.push(format!(
            "the archive holds no enckey: put the installation's key at {} (e.g. `keyward manage \
             setup create_enckey --from-paper FILE`) before using the tokens",
            settings.enckey_path().display()
        ));
    }
    Ok(FilePlan { items, notes })
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Files written under temporary names, ready to be put in place.
pub(super) struct Staged {
    items: Vec<(PathBuf, PathBuf, u32)>,
    placed: Vec<(PathBuf, Option<PathBuf>)>,
}

impl FilePlan {
    /// Writes every planned file as `TARGET.restore-tmp`.
    pub(super) fn stage(&self) -> Result<Staged, CommandError> {
        let mut staged = Staged {
            items: Vec::new(),
            placed: Vec::new(),
        };
        for p in &self.items {
            if let Some(dir) = p.target.parent().filter(|d| !d.as_os_str().is_empty()) {
                ensure_private_dir(dir)?;
            }
            let tmp = sibling(&p.target, ".restore-tmp");
            let _ = std::fs::remove_file(&tmp);
            // Written 0600 first so it can be replaced if needed; the final mode is set below.
            let write = crate::keys::write_new_file(&tmp, &p.bytes, 0o600);
            if let Err(e) = write {
                staged.discard();
                return Err(e);
            }
            staged.items.push((tmp, p.target.clone(), p.mode));
        }
        Ok(staged)
    }
}

impl Staged {
    /// Moves the staged files into place; an existing file is kept as
    /// `NAME.before-restore-STAMP`. Returns what it did, one line each.
    pub(super) fn place(&mut self, stamp: &str) -> Result<Vec<String>, CommandError> {
        let mut lines = Vec::new();
        for (tmp, target, mode) in std::mem::take(&mut self.items) {
            let kept = if target.exists() {
                let old = sibling(&target, &format!(".before-restore-{stamp}"));
                std::fs::rename(&target, &old).map_err(|e| {
                    CommandError::Unavailable(format!("cannot move {}: {e}", target.display()))
                })?;
                Some(old)
            } else {
                None
            };
            std::fs::rename(&tmp, &target).map_err(|e| {
                CommandError::Unavailable(format!("cannot write {}: {e}", target.display()))
            })?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode));
            }
            lines.push(match &kept {
                Some(old) => format!(
                    "restored {} (the old one is {})",
                    target.display(),
                    old.display()
                ),
                None => format!("restored {}", target.display()),
            });
            self.placed.push((target, kept));
        }
        Ok(lines)
    }

    /// Undoes `place` (after a failed database commit) and removes staged files.
    pub(super) fn undo(mut self) {
        for (target, kept) in std::mem::take(&mut self.placed).into_iter().rev() {
            let _ = std::fs::remove_file(&target);
            if let Some(old) = kept {
                let _ = std::fs::rename(old, &target);
            }
        }
        self.discard();
    }

    fn discard(&mut self) {
        for (tmp, _, _) in std::mem::take(&mut self.items) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.discard();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_db_uri_replaces_only_that_key() {
        let settings = Settings {
            database_url: Some("postgres://kw@db/kw".into()),
            ..Settings::default()
        };
        let out = keep_database_url(
            "listen = \"127.0.0.1:1\"\ndatabase_url = \"sqlite:/old.db\"\n",
            &settings,
        );
        assert_eq!(
            out,
            "database_url = \"postgres://kw@db/kw\"\nlisten = \"127.0.0.1:1\"\n"
        );
        let out = keep_database_url("database_url = \"sqlite:/old.db\"\n", &Settings::default());
        assert_eq!(out, "");
    }
}
