//! `backup create` and `backup restore` (privacyIDEA pi-manage, seed 001; issue 9 items 1, 2, 7,
//! 8): one archive holding a consistent logical snapshot of every table (engine-independent, so
//! a SQLite backup restores into PostgreSQL and back), the configuration directory, the server
//! keys kept in the data directory, and the enckey only when asked (`-e`). Both run on the
//! server's machine only (`keyward manage`), show progress on stderr, and restore is all or
//! nothing.
//!
//! Layout: `archive` is the file format (writing, checking, reading), `create` the snapshot
//! into an archive, `restore` the way back, `files` the configuration and key files.

mod archive;
mod create;
mod files;
mod restore;

use std::path::PathBuf;

use clap::Parser;

use crate::access::Access;
use crate::registry::{CommandSpec, command};

pub use archive::{FORMAT, FORMAT_VERSION, MANIFEST};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "backup create",
            "Write one archive with the database, the config directory and (-e) the enckey",
            create::create,
        )
        .mutating_files()
        .example("backup create")
        .example("backup create -d /var/backups/keyward -c /etc/keyward")
        .allow(Access::Local),
        command(
            "backup restore",
            "Restore an archive of `backup create` into the configured database (all or nothing)",
            restore::restore,
        )
        .mutating()
        .example("backup restore keyward-data/backups/keyward-backup-20261129-0130.tgz")
        .example("backup restore backup.tgz --force --keep-db-uri")
        .allow(Access::Local),
    ]
}

/// Write a backup archive `keyward-backup-YYYYMMDD-HHMM.tgz`.
#[derive(Parser)]
struct CreateArgs {
    /// Directory for the archive (created 0700 if missing); default: `backups` in data_dir.
    #[arg(short = 'd', long = "directory")]
    directory: Option<PathBuf>,
    /// Configuration directory to include; default: the directory of the config file in use.
    #[arg(short = 'c', long = "config_dir", alias = "config-dir")]
    config_dir: Option<PathBuf>,
    /// Include the encryption key. Anyone holding the archive can then read every OTP seed.
    #[arg(short = 'e', long = "enckey")]
    enckey: bool,
    /// No progress on stderr.
    #[arg(short = 'q', long)]
    quiet: bool,
}

/// Restore a backup archive into the configured database.
///
/// The archive is checked whole first (manifest, checksums, member paths, schema version). The
/// database must be empty unless --force, which replaces everything in it. Configuration files
/// go to the directory of the config file in use: a file that exists with other contents is
/// replaced only with --force (the old one is kept as NAME.before-restore-TIMESTAMP); the
/// server-keys file and the enckey are replaced when the database was empty or with --force,
/// kept the same way. A running keyward server on the database makes restore refuse.
#[derive(Parser)]
struct RestoreArgs {
    /// The archive (`keyward-backup-….tgz`).
    file: PathBuf,
    /// Replace a non-empty database, and differing config and key files.
    #[arg(long)]
    force: bool,
    /// Keep the `database_url` of the config file in use in the restored config file (e.g. when
    /// a SQLite backup is restored into PostgreSQL).
    #[arg(long = "keep-db-uri", alias = "keep_db_uri")]
    keep_db_uri: bool,
    /// No progress on stderr.
    #[arg(short = 'q', long)]
    quiet: bool,
}

crate::no_targets!(CreateArgs, RestoreArgs);
