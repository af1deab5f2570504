//! Where dump files live and how they are read and written. Local `keyward manage` runs name any
//! path; every other caller (REST, the management endpoint) names a file inside `backups_path`,
//! and a name that would leave it (`..`, an absolute path elsewhere, a symlink pointing out) is
//! refused. Reads are bounded by [`MAX_DUMP_BYTES`]; writes go to a temporary file in the same
//! directory, readable by the owner only, renamed into place once complete.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use keyward_proto::dump::MAX_DUMP_BYTES;

use crate::context::Ctx;
use crate::output::CommandError;

/// The path a caller's file name stands for: as given for local runs, inside the backups
/// directory for everyone else. `creating` makes the backups directory when missing.
pub(crate) fn resolve(ctx: &Ctx, name: &str, creating: bool) -> Result<PathBuf, CommandError> {
    if name.trim().is_empty() {
        return Err(CommandError::Invalid("file name: required".into()));
    }
    if ctx.is_local() {
        return Ok(PathBuf::from(name));
    }
    let dir = ctx.settings().backups_dir();
    if creating {
        crate::keys::ensure_private_dir(&dir)?;
    }
    let given = Path::new(name);
    let relative = if given.is_absolute() {
        given
            .strip_prefix(&dir)
            .map_err(|_| outside())?
            .to_path_buf()
    } else {
        given.to_path_buf()
    };
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
        || relative.as_os_str().is_empty()
    {
        return Err(outside());
    }
    let path = dir.join(&relative);
    // A symlink (or a directory swapped for one) must not lead out of the directory either.
    if let (Ok(real_dir), Some(parent)) = (dir.canonicalize(), path.parent()) {
        let real_parent = parent.canonicalize().map_err(|_| {
            CommandError::NotFound(format!("directory of {name:?} in backups_path"))
        })?;
        if !real_parent.starts_with(&real_dir) {
            return Err(outside());
        }
        if let Ok(real) = path.canonicalize()
            && !real.starts_with(&real_dir)
        {
            return Err(outside());
        }
    }
    Ok(path)
}

fn outside() -> CommandError {
    CommandError::Invalid(
        "file name: must name a file inside the server's backups_path (no '..', no other \
         directory)"
            .into(),
    )
}

/// Reads a dump (or user store) file of at most [`MAX_DUMP_BYTES`].
pub fn read_bounded(path: &Path) -> Result<String, CommandError> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| CommandError::Invalid(format!("cannot read {shown}: {e}")))?;
    let mut text = String::new();
    file.take(MAX_DUMP_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| CommandError::Invalid(format!("cannot read {shown}: {e}")))?;
    if text.len() as u64 > MAX_DUMP_BYTES {
        return Err(CommandError::Invalid(format!(
            "{shown}: larger than {MAX_DUMP_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// Writes `bytes` to `path` through a temporary file renamed into place (mode 0600).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CommandError> {
    let mut file = PrivateFile::create(path)?;
    file.write_all(bytes)
        .map_err(|e| PrivateFile::failed(path, &e))?;
    file.commit()
}

/// A file being written: a temporary file beside `path` (owner-only), renamed onto `path` by
/// [`PrivateFile::commit`] once complete and removed if dropped before.
pub(crate) struct PrivateFile {
    out: std::io::BufWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl PrivateFile {
    pub(crate) fn create(path: &Path) -> Result<Self, CommandError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dump".into());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&tmp).map_err(|e| Self::failed(path, &e))?;
        Ok(PrivateFile {
            out: std::io::BufWriter::new(file),
            tmp,
            path: path.to_path_buf(),
            committed: false,
        })
    }

    /// The error of a failed write of `path`.
    pub(crate) fn failed(path: &Path, e: &std::io::Error) -> CommandError {
        CommandError::Invalid(format!("cannot write {}: {e}", path.display()))
    }

    /// Flushes, syncs and renames the file into place.
    pub(crate) fn commit(mut self) -> Result<(), CommandError> {
        let result = self
            .out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .and_then(|()| std::fs::rename(&self.tmp, &self.path));
        result.map_err(|e| Self::failed(&self.path, &e))?;
        self.committed = true;
        Ok(())
    }
}

impl Write for PrivateFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
