//! `convert-users INPUT unix-passwd|pure-ftpd|proftpd OUTPUT` (seed 004, SFTPGo's
//! `convert-users`): reads another program's user store and writes a keyward dump that
//! `loaddata` takes. Hashes are kept as they are (users log in with their old password and get
//! an Argon2id hash at the first login). Unix: INPUT `""` reads `/etc/passwd` and `/etc/shadow`,
//! a directory its `passwd` and `shadow`; locked shadow entries (`!`, `*`) become disabled users
//! and the shadow expiry date the account's expiry. Pure-FTPd (`pure-pw`'s file, 18 fields):
//! home (without the `/./` chroot mark), quota of files and sessions. ProFTPD (`ftpasswd`'s
//! AuthUserFile): passwd-shaped lines with the hash inside. A malformed line is an error naming
//! the file and the line; users whose hash is no supported `$id$` scheme are skipped and named.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use clap::Parser;
use keyward_core::password::scheme_name;
use keyward_proto::dump::{DUMP_FORMAT, DUMP_VERSION, Dump};
use serde_json::json;

use super::{files, to_json_text};
use crate::access::{Target, Targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};

#[derive(Parser, Debug)]
pub struct ConvertArgs {
    /// The user store: a file, or for unix-passwd "" (the system's) or a directory holding
    /// `passwd` and `shadow`.
    input: String,
    /// unix-passwd, pure-ftpd or proftpd.
    format: String,
    /// The loaddata file to write.
    output: String,
    /// Only users with at least this uid.
    #[arg(long = "min-uid", allow_negative_numbers = true)]
    min_uid: Option<i64>,
    /// Only users with at most this uid.
    #[arg(long = "max-uid", allow_negative_numbers = true)]
    max_uid: Option<i64>,
    /// Give every user this uid.
    #[arg(long = "force-uid", allow_negative_numbers = true)]
    force_uid: Option<i64>,
    /// Give every user this gid.
    #[arg(long = "force-gid", allow_negative_numbers = true)]
    force_gid: Option<i64>,
    /// Only these users.
    #[arg(long, num_args = 1..)]
    usernames: Vec<String>,
}

impl Targets for ConvertArgs {
    fn targets(&self) -> Vec<Target> {
        vec![Target::Object(self.output.chars().take(200).collect())]
    }
}

/// One account read from a store.
struct Account {
    name: String,
    hash: String,
    uid: i64,
    gid: i64,
    gecos: String,
    home: String,
    disabled: bool,
    /// Epoch milliseconds; 0: never.
    expires_ms: i64,
    quota_files: i64,
    max_sessions: i64,
}

/// The non-empty, non-comment lines of a file with their 1-based numbers.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

fn malformed(path: &Path, line: usize, why: &str) -> CommandError {
    CommandError::Invalid(format!("{}, line {line}: {why}", path.display()))
}

fn number(path: &Path, line: usize, field: &str, v: &str) -> Result<i64, CommandError> {
    if v.is_empty() {
        return Ok(0);
    }
    v.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| malformed(path, line, &format!("{field} is not a number")))
}

/// `name:password:uid:gid:gecos:home:shell` (passwd and ProFTPD's AuthUserFile).
fn passwd_accounts(path: &Path, text: &str) -> Result<Vec<Account>, CommandError> {
    let mut out = Vec::new();
    for (n, line) in lines(text) {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() != 7 || f[0].is_empty() {
            return Err(malformed(
                path,
                n,
                "expected 7 fields name:password:uid:gid:gecos:home:shell",
            ));
        }
        out.push(Account {
            name: f[0].to_string(),
            hash: f[1].to_string(),
            uid: number(path, n, "uid", f[2])?,
            gid: number(path, n, "gid", f[3])?,
            gecos: f[4].to_string(),
            home: f[5].to_string(),
            disabled: false,
            expires_ms: 0,
            quota_files: 0,
            max_sessions: 0,
        });
    }
    Ok(out)
}

/// Applies `/etc/shadow`-style entries: the hash, locks and the expiry date.
fn apply_shadow(path: &Path, text: &str, accounts: &mut [Account]) -> Result<(), CommandError> {
    let mut entries: HashMap<&str, (String, i64)> = HashMap::new();
    for (n, line) in lines(text) {
        let f: Vec<&str> = line.split(':').collect();
        if !(8..=9).contains(&f.len()) || f[0].is_empty() {
            return Err(malformed(
                path,
                n,
                "expected 9 fields name:password:lastchg:min:max:warn:inactive:expire:",
            ));
        }
        let expire_days = number(path, n, "expire", f[7])?;
        entries.insert(f[0], (f[1].to_string(), expire_days));
    }
    for a in accounts {
        if a.hash != "x" {
            continue;
        }
        match entries.get(a.name.as_str()) {
            Some((hash, expire_days)) => {
                a.hash = hash.clone();
                a.expires_ms = expire_days.saturating_mul(86_400_000);
            }
            None => a.hash = String::new(),
        }
    }
    Ok(())
}

/// Pure-FTPd's `login:hash:uid:gid:gecos:home/./:ul_bw:dl_bw:ul_ratio:dl_ratio:max_cnx:files:size:…`.
fn pure_accounts(path: &Path, text: &str) -> Result<Vec<Account>, CommandError> {
    let mut out = Vec::new();
    for (n, line) in lines(text) {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 6 || f[0].is_empty() {
            return Err(malformed(
                path,
                n,
                "expected login:hash:uid:gid:gecos:home and quota fields",
            ));
        }
        let field = |i: usize| f.get(i).copied().unwrap_or_default();
        let home = f[5]
            .trim_end_matches("/./")
            .trim_end_matches("/.")
            .to_string();
        out.push(Account {
            name: f[0].to_string(),
            hash: f[1].to_string(),
            uid: number(path, n, "uid", f[2])?,
            gid: number(path, n, "gid", f[3])?,
            gecos: f[4].to_string(),
            home: if home.is_empty() {
                f[5].to_string()
            } else {
                home
            },
            disabled: false,
            expires_ms: 0,
            max_sessions: number(path, n, "max connections", field(10))?,
            quota_files: number(path, n, "files quota", field(11))?,
        });
    }
    Ok(out)
}

/// Strips shadow's lock marks: the account is disabled, a hash behind the mark is kept.
fn unlock(a: &mut Account) {
    if a.hash.starts_with('!') || a.hash.starts_with('*') {
        a.disabled = true;
        a.hash = a.hash.trim_start_matches(['!', '*']).to_string();
    }
}

pub(crate) async fn convert_users(_ctx: Ctx, a: ConvertArgs) -> Result<Output, CommandError> {
    convert(&a)
}

/// Converts the store `a` names and writes the file (no database involved: `keyward api
/// convert-users` runs it too). The output's text and JSON say how many users and which were
/// skipped.
pub fn convert(a: &ConvertArgs) -> Result<Output, CommandError> {
    let mut accounts = match a.format.as_str() {
        "unix-passwd" => {
            let dir = if a.input.is_empty() {
                PathBuf::from("/etc")
            } else {
                PathBuf::from(&a.input)
            };
            if !dir.is_dir() {
                return Err(CommandError::Invalid(format!(
                    "{}: for unix-passwd INPUT is \"\" (/etc/passwd and /etc/shadow) or a \
                     directory holding passwd and shadow",
                    dir.display()
                )));
            }
            let (passwd, shadow) = (dir.join("passwd"), dir.join("shadow"));
            let mut accounts = passwd_accounts(&passwd, &files::read_bounded(&passwd)?)?;
            apply_shadow(&shadow, &files::read_bounded(&shadow)?, &mut accounts)?;
            accounts
        }
        "pure-ftpd" => {
            let path = PathBuf::from(&a.input);
            pure_accounts(&path, &files::read_bounded(&path)?)?
        }
        "proftpd" => {
            let path = PathBuf::from(&a.input);
            passwd_accounts(&path, &files::read_bounded(&path)?)?
        }
        other => {
            return Err(CommandError::Invalid(format!(
                "format: must be unix-passwd, pure-ftpd or proftpd, not {:?}",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    let wanted: Vec<&str> = a.usernames.iter().map(String::as_str).collect();
    accounts.retain(|acc| {
        a.min_uid.is_none_or(|m| m < 0 || acc.uid >= m)
            && a.max_uid.is_none_or(|m| m < 0 || acc.uid <= m)
            && (wanted.is_empty() || wanted.contains(&acc.name.as_str()))
    });
    let mut users = Vec::new();
    let mut skipped = Vec::new();
    for mut acc in accounts {
        unlock(&mut acc);
        let supported = acc.hash.starts_with('$') && scheme_name(&acc.hash) != "unknown";
        // A locked account without any hash stays (disabled, no password login).
        let locked_without_hash = acc.disabled && acc.hash.is_empty();
        if !(supported || locked_without_hash) {
            skipped.push(acc.name.clone());
            continue;
        }
        let mut perms = BTreeMap::new();
        perms.insert("/".to_string(), vec!["*".to_string()]);
        users.push(json!({
            "username": acc.name,
            "password": acc.hash,
            "status": i64::from(!acc.disabled),
            "expiration_date": acc.expires_ms,
            "home_dir": acc.home,
            "uid": a.force_uid.filter(|u| *u >= 0).unwrap_or(acc.uid),
            "gid": a.force_gid.filter(|g| *g >= 0).unwrap_or(acc.gid),
            "description": acc.gecos,
            "max_sessions": acc.max_sessions,
            "quota_files": acc.quota_files,
            "permissions": perms,
        }));
    }
    let count = users.len();
    let doc = Dump {
        format: DUMP_FORMAT.into(),
        version: DUMP_VERSION,
        users,
        ..Default::default()
    };
    let bytes = to_json_text(&doc, 2)?;
    let out = PathBuf::from(&a.output);
    files::write_private(&out, &bytes)?;
    let mut text = format!("{count} users converted into {}", out.display());
    if !skipped.is_empty() {
        text.push_str(&format!(
            "; skipped (no supported password hash): {}",
            skipped.join(", ")
        ));
    }
    let json = json!({
        "error": "", "message": "Users converted", "status": 200,
        "users": count, "skipped": skipped, "file": out.display().to_string(),
    });
    Ok(Output::new(text, json).with_audit(format!("{count} users converted")))
}
