//! Installation commands: `setup create_enckey`, `setup encrypt_enckey` (privacyIDEA pi-manage,
//! seed 001), `generateserverkeys` and `presetup` (Psono, seed 000), and `migrate`.

use std::path::PathBuf;

use clap::Parser;
use keyward_core::enckey::{EncKey, KeySlot, ProtectCost, is_protected};
use keyward_store::Backend;
use serde_json::json;

use crate::access::Access;
use crate::context::Ctx;
use crate::keys::{ServerKeys, enckey_passphrase_from_env, write_new_file};
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "setup create_enckey",
            "Create the encryption key (refuses to overwrite; mode 0400)",
            create_enckey,
        )
        .mutating_files()
        .example("setup create_enckey")
        .example("setup create_enckey --from-paper enckey-paper.txt")
        .allow(Access::Local),
        command(
            "setup encrypt_enckey",
            "Print FILE's enckey protected by a passphrase (--passphrase-prompt, \
             --passphrase-stdin, or KEYWARD_ENCKEY_PASSPHRASE(_FILE))",
            encrypt_enckey,
        )
        .mutating_files()
        .new_secret("passphrase")
        .example("setup encrypt_enckey keyward-data/enckey -o enckey.protected --passphrase-prompt")
        .example("setup encrypt_enckey keyward-data/enckey -o enckey.protected")
        .allow(Access::Local),
        command(
            "setup verify_enckey",
            "Load the enckey (unlocking it if protected) and print its key ids",
            verify_enckey,
        )
        .example("setup verify_enckey")
        .allow(Access::Local),
        command(
            "generateserverkeys",
            "Print fresh server keys as a config snippet",
            generateserverkeys,
        )
        .example("generateserverkeys")
        .allow(Access::Local),
        command(
            "presetup",
            "Check the database connection and privileges and create the schema",
            presetup,
        )
        .mutating_files()
        .example("presetup")
        .allow(Access::Local),
        command(
            "migrate",
            "Apply pending database schema migrations",
            migrate,
        )
        .mutating_files()
        .example("migrate")
        .allow(Access::Local),
    ]
}

#[derive(Parser)]
struct CreateEnckeyArgs {
    /// Use this key (base64 of exactly 96 bytes) instead of a random one; not recommended.
    #[arg(long = "enckey_b64", alias = "enckey-b64")]
    enckey_b64: Option<String>,
    /// Restore the key from a paper backup of `setup dump_enckey` (every line's checksum is
    /// checked; a bad line is named).
    #[arg(
        long = "from-paper",
        alias = "from_paper",
        value_name = "FILE",
        conflicts_with = "enckey_b64"
    )]
    from_paper: Option<PathBuf>,
}

async fn create_enckey(ctx: Ctx, a: CreateEnckeyArgs) -> Result<Output, CommandError> {
    let path = ctx.settings().enckey_path();
    if path.exists() {
        return Err(CommandError::Conflict(format!(
            "enckey {} already exists; refusing to overwrite it",
            path.display()
        )));
    }
    let key = match (&a.enckey_b64, &a.from_paper) {
        (Some(b64), _) => EncKey::from_base64(b64).map_err(CommandError::invalid)?,
        (None, Some(paper)) => crate::paper_key::key_from_paper(paper)?,
        (None, None) => EncKey::generate().map_err(|e| CommandError::Internal(e.to_string()))?,
    };
    write_new_file(&path, &key.to_bytes(), 0o400)?;
    let shown = path.display().to_string();
    Ok(Output::new(
        format!("Encryption key written to {shown}"),
        json!({ "path": shown }),
    )
    .with_audit(format!("created {shown}")))
}

#[derive(Parser)]
struct EncryptEnckeyArgs {
    /// The (unprotected) enckey file.
    file: PathBuf,
    /// Write the protected key to this new file (mode 0400) instead of printing it.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The passphrase (better: --passphrase-prompt or --passphrase-stdin; without any,
    /// KEYWARD_ENCKEY_PASSPHRASE or KEYWARD_ENCKEY_PASSPHRASE_FILE).
    #[arg(long)]
    passphrase: Option<String>,
}

async fn encrypt_enckey(_ctx: Ctx, a: EncryptEnckeyArgs) -> Result<Output, CommandError> {
    let contents = std::fs::read(&a.file)
        .map_err(|e| CommandError::NotFound(format!("cannot read {}: {e}", a.file.display())))?;
    if is_protected(&contents) {
        return Err(CommandError::Invalid(format!(
            "{} is already passphrase-protected",
            a.file.display()
        )));
    }
    let key = EncKey::from_file_contents(&contents, None)
        .map_err(|e| CommandError::Invalid(format!("{e} ({})", a.file.display())))?;
    let passphrase = match a.passphrase {
        Some(p) => p,
        None => enckey_passphrase_from_env()?.ok_or_else(|| {
            CommandError::invalid_field(
                "passphrase",
                "none given: use --passphrase-prompt or --passphrase-stdin, or set \
                 KEYWARD_ENCKEY_PASSPHRASE or KEYWARD_ENCKEY_PASSPHRASE_FILE",
            )
        })?,
    };
    let cost = ProtectCost::default();
    let protected = tokio::task::spawn_blocking(move || key.protect(&passphrase, &cost))
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?
        .map_err(CommandError::invalid)?;
    match a.output {
        Some(out) => {
            write_new_file(&out, protected.as_bytes(), 0o400)?;
            let shown = out.display().to_string();
            Ok(Output::new(
                format!("Protected encryption key written to {shown}"),
                json!({ "path": shown }),
            ))
        }
        None => Ok(Output::new(
            protected.clone(),
            json!({ "protected_enckey": protected.trim_end() }),
        )),
    }
}

#[derive(Parser)]
struct NoArgs {}

async fn verify_enckey(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let key = ctx.shared.enckey().await?;
    let ids: Vec<String> = [
        KeySlot::TokenSecrets,
        KeySlot::ConfigSecrets,
        KeySlot::Values,
    ]
    .into_iter()
    .map(|slot| keyward_core::aead::key_id(key.slot(slot)))
    .collect();
    let path = ctx.settings().enckey_path().display().to_string();
    Ok(Output::new(
        format!("Encryption key {path} OK (key ids {})", ids.join(" ")),
        json!({ "path": path, "key_ids": ids }),
    ))
}

async fn generateserverkeys(_ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let keys = ServerKeys::generate()?;
    let text = keys.to_toml();
    Ok(Output::new(text.clone(), json!({ "toml": text })))
}

async fn presetup(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let store = ctx.store();
    store.ping().await?;
    let mut lines = Vec::new();
    match store.backend() {
        Backend::Sqlite => lines.push(format!(
            "SQLite database ready at {}",
            ctx.settings().database_url()
        )),
        Backend::Postgres => {
            let privileges = store.privileges().await?;
            let (db_create, schema_create) =
                (privileges.create_on_database, privileges.create_on_schema);
            lines.push("PostgreSQL connection OK".to_string());
            lines.push(format!(
                "CREATE on database: {}",
                if db_create { "yes" } else { "no" }
            ));
            lines.push(format!(
                "CREATE on schema: {}",
                if schema_create { "yes" } else { "no" }
            ));
            if !schema_create {
                return Err(CommandError::Forbidden(
                    "the database user lacks CREATE on its schema: grant it, then run presetup again".into(),
                ));
            }
        }
    }
    let version = store.schema_version().await?;
    lines.push(format!("Schema version {version} (up to date)"));
    Ok(Output::new(
        lines.join("\n"),
        json!({ "backend": store.backend().name(), "schema_version": version }),
    ))
}

async fn migrate(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let applied = ctx.store().migrate().await?;
    let version = ctx.store().schema_version().await?;
    let text = if applied.is_empty() {
        format!("No migrations to apply (schema version {version})")
    } else {
        format!(
            "Applied migrations {:?} (schema version {version})",
            applied
        )
    };
    Ok(Output::new(
        text,
        json!({ "applied": applied, "schema_version": version }),
    ))
}

crate::no_targets!(CreateEnckeyArgs, EncryptEnckeyArgs, NoArgs);
