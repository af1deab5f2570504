//! `dumpdata`, `loaddata` and `convert-users` (issue 9, seed 004): the whole installation as one
//! JSON document in SFTPGo's shape and back, and user stores of other programs (Unix
//! passwd/shadow, Pure-FTPd, ProFTPD) turned into such a document.
//!
//! `dumpdata` reads one consistent snapshot and writes users (password = the stored hash),
//! tokens (seeds and PINs still sealed under the enckey), API keys (hashes) and admins as they
//! are read ([`stream`]: memory stays flat however many users there are), realms and resolvers
//! (bind passwords sealed; see `realms::dump_sections`) and policies (the records of `config
//! export`). `loaddata` (see
//! [`load`]) applies a file all or nothing in one transaction with its audit row. Files named by
//! callers other than the local console live in `backups_path` (see [`files`]).

mod convert;
pub(crate) mod files;
mod load;
mod records;
mod stream;
mod token_fields;

use clap::Parser;
use keyward_proto::StatusMessage;
use keyward_proto::dump::{DUMP_FORMAT, DUMP_VERSION, DumpApiKey};
use keyward_store::dump::DumpStreamError;
use serde::Serialize;

use crate::access::{ADMINS, Access, Target, Targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use stream::{DumpWriter, JsonDoc, dump_api_key};

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
    let written = |e: std::io::Error| files::PrivateFile::failed(&path, &e);
    let file = files::PrivateFile::create(&path)?;
    let doc = JsonDoc::start(file, a.indent).map_err(written)?;
    let mut rows = DumpWriter::start(doc, DUMP_FORMAT, DUMP_VERSION).map_err(written)?;
    let rest = ctx
        .store()
        .dump_stream(&mut rows)
        .await
        .map_err(|e| match e {
            DumpStreamError::Store(e) => CommandError::from(e),
            DumpStreamError::Rows(e) => written(e),
        })?;
    rows.end_streamed().map_err(written)?;
    let api_keys: Vec<DumpApiKey> = rest.api_keys.iter().map(dump_api_key).collect();
    let (realms, resolvers) = crate::realms::dump_sections::dump_sections(&ctx).await?;
    let policies: Vec<_> = rest
        .policies
        .iter()
        .map(crate::policies::transfer::record)
        .collect();
    let mut doc = rows.doc;
    doc.field("realms", &realms).map_err(written)?;
    doc.field("resolvers", &resolvers).map_err(written)?;
    doc.field("policies", &policies).map_err(written)?;
    doc.field("api_keys", &api_keys).map_err(written)?;
    doc.field("admins", &rows.admins).map_err(written)?;
    doc.finish().map_err(written)?.commit()?;
    let (users, admins, tokens) = (rows.users, rows.admins.len(), rows.tokens);
    let counts = format!(
        "{users} users, {admins} admins, {tokens} tokens, {} API keys, {} policies",
        api_keys.len(),
        policies.len()
    );
    let mut json = serde_json::to_value(StatusMessage::ok("Data saved")).unwrap_or_default();
    if let Some(map) = json.as_object_mut() {
        map.insert("file".into(), path.display().to_string().into());
        map.insert("users".into(), users.into());
        map.insert("admins".into(), admins.into());
        map.insert("tokens".into(), tokens.into());
        map.insert("api_keys".into(), api_keys.len().into());
        map.insert("policies".into(), policies.len().into());
    }
    Ok(
        Output::new(format!("Data saved to {}: {counts}", path.display()), json)
            .with_audit(format!("{counts} written")),
    )
}
