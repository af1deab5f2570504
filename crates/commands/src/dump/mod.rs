//! `dumpdata`, `loaddata` and `convert-users` (issue 9, seed 004): the whole installation as one
//! JSON document in SFTPGo's shape and back, and user stores of other programs (Unix
//! passwd/shadow, Pure-FTPd, ProFTPD) turned into such a document.
//!
//! `dumpdata` reads one consistent snapshot and writes users (password = the stored hash),
//! tokens (seeds and PINs still sealed under the enckey), API keys (hashes), admins and policies
//! (the records of `config export`); realms and resolvers are empty arrays (no such tables yet). `loaddata` (see
//! [`load`]) applies a file all or nothing in one transaction with its audit row. Files named by
//! callers other than the local console live in `backups_path` (see [`files`]).

mod convert;
pub(crate) mod files;
mod load;
mod records;

use clap::Parser;
use keyward_proto::StatusMessage;
use keyward_proto::dump::{DUMP_FORMAT, DUMP_VERSION, Dump, DumpApiKey, DumpToken};
use keyward_store::dump::DumpSnapshot;
use serde::Serialize;

use crate::access::{ADMINS, Access, Target, Targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::user_object::object_json;

pub use convert::{ConvertArgs, convert};
pub use files::read_bounded;
pub use load::LoadSummary;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "dumpdata",
            "Write users, tokens, API keys and admins to a JSON file (hashes and seeds as stored)",
            dumpdata,
        )
        .mutating_files()
        .example("dumpdata backup.json --indent 2")
        .allow(Access::Superuser),
        command(
            "loaddata",
            "Load a dumpdata (or SFTPGo dump) file, all or nothing (--mode 0 add+update, 1 add only, 2 update and end sessions)",
            load::loaddata,
        )
        .mutating()
        .example("loaddata backup.json --mode 0")
        .example("loaddata /app/data/backups/backup.json --scan-quota 2 --mode 0")
        .allow(Access::Roles(ADMINS)),
        command(
            "convert-users",
            "Convert a Unix, Pure-FTPd or ProFTPD user store into a loaddata file (runs locally)",
            convert::convert_users,
        )
        .mutating_files()
        .example("convert-users \"\" unix-passwd unix_users.json --min-uid 500 --force-uid 1000 --force-gid 1000")
        .example("convert-users pureftpd.passwd pure-ftpd pure_users.json --usernames user1 user2")
        .example("convert-users proftpd.passwd proftpd pro_users.json")
        .allow(Access::Local),
    ]
}

#[derive(Parser)]
struct DumpArgs {
    /// The file to write (local runs: any path; REST and remote: a name inside backups_path).
    file: String,
    /// Spaces of indentation (0: one line).
    #[arg(long, default_value_t = 0)]
    indent: u8,
}

impl Targets for DumpArgs {
    fn targets(&self) -> Vec<Target> {
        vec![Target::Object(self.file.chars().take(200).collect())]
    }
}

/// Largest indentation accepted.
const MAX_INDENT: u8 = 8;

/// The dump document of a snapshot.
pub fn dump_document(snap: &DumpSnapshot) -> Dump {
    let mut users = Vec::new();
    let mut admins = Vec::new();
    for u in &snap.users {
        let mut obj = object_json(u);
        if let Some(map) = obj.as_object_mut() {
            map.insert("password".into(), u.password_hash.clone().into());
        }
        if u.roles.is_empty() {
            users.push(obj);
        } else {
            admins.push(obj);
        }
    }
    let tokens = snap
        .tokens
        .iter()
        .map(|t| DumpToken {
            id: t.id.clone(),
            serial: t.serial.to_string(),
            token_type: t.token_type.clone(),
            description: t.description.clone(),
            user: t.owner_name.clone().unwrap_or_default(),
            active: t.active,
            seed_sealed: t.seed_sealed.clone(),
            pin_hash: t.pin_hash.clone(),
            userpin_sealed: t.userpin_sealed.clone(),
            sopin_sealed: t.sopin_sealed.clone(),
            otplen: t.otplen,
            hashlib: t.hashlib.clone(),
            counter: t.counter,
            time_step: t.time_step,
            time_window: t.time_window,
            time_shift: t.time_shift,
            sync_window: t.sync_window,
            count_window: t.count_window,
            fail_count: t.fail_count,
            max_fail: t.max_fail,
            count_auth: t.count_auth,
            count_auth_max: t.count_auth_max,
            count_auth_success: t.count_auth_success,
            count_auth_success_max: t.count_auth_success_max,
            validity_start: t.validity_start,
            validity_end: t.validity_end,
            last_auth: t.last_auth,
            info: t.info.clone(),
            realms: t.realms.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        })
        .collect();
    let api_keys = snap
        .api_keys
        .iter()
        .map(|k| DumpApiKey {
            id: k.key.id.to_string(),
            key_hash: k.key_hash.clone(),
            role: k.key.role.clone(),
            username: k.key.username.to_string(),
            owner: k.owner_name.clone().unwrap_or_default(),
            realm: k.key.realm.clone(),
            description: k.key.description.clone(),
            created_at: k.key.created_at,
            expires_at: k.key.expires_at,
            revoked_at: k.key.revoked_at,
        })
        .collect();
    Dump {
        format: DUMP_FORMAT.into(),
        version: DUMP_VERSION,
        users,
        tokens,
        realms: Vec::new(),
        resolvers: Vec::new(),
        policies: snap
            .policies
            .iter()
            .map(|p| serde_json::to_value(crate::policies::transfer::record(p)).unwrap_or_default())
            .collect(),
        api_keys,
        admins,
    }
}

/// JSON text with `indent` spaces (0: one line), ending in a newline.
pub(crate) fn to_json_text(value: &impl Serialize, indent: u8) -> Result<Vec<u8>, CommandError> {
    let fail = |e: serde_json::Error| CommandError::Internal(format!("cannot write JSON: {e}"));
    let mut out = Vec::new();
    if indent == 0 {
        serde_json::to_writer(&mut out, value).map_err(fail)?;
    } else {
        let spaces = vec![b' '; usize::from(indent)];
        let formatter = serde_json::ser::PrettyFormatter::with_indent(&spaces);
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        value.serialize(&mut ser).map_err(fail)?;
    }
    out.push(b'\n');
    Ok(out)
}

async fn dumpdata(ctx: Ctx, a: DumpArgs) -> Result<Output, CommandError> {
    if a.indent > MAX_INDENT {
        return Err(CommandError::Invalid(format!(
            "indent: must be 0 to {MAX_INDENT}, not {}",
            a.indent
        )));
    }
    let path = files::resolve(&ctx, &a.file, true)?;
    let snap = ctx.store().dump_snapshot().await?;
    let doc = dump_document(&snap);
    let bytes = to_json_text(&doc, a.indent)?;
    files::write_private(&path, &bytes)?;
    let counts = format!(
        "{} users, {} admins, {} tokens, {} API keys, {} policies",
        doc.users.len(),
        doc.admins.len(),
        doc.tokens.len(),
        doc.api_keys.len(),
        doc.policies.len()
    );
    let mut json = serde_json::to_value(StatusMessage::ok("Data saved")).unwrap_or_default();
    if let Some(map) = json.as_object_mut() {
        map.insert("file".into(), path.display().to_string().into());
        map.insert("users".into(), doc.users.len().into());
        map.insert("admins".into(), doc.admins.len().into());
        map.insert("tokens".into(), doc.tokens.len().into());
        map.insert("api_keys".into(), doc.api_keys.len().into());
        map.insert("policies".into(), doc.policies.len().into());
    }
    Ok(
        Output::new(format!("Data saved to {}: {counts}", path.display()), json)
            .with_audit(format!("{counts} written")),
    )
}
