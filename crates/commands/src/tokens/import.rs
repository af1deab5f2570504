//! `token loadtokens` (LinOTP `/admin/loadtokens`): imports a token file — OATH CSV or PSKC
//! (RFC 6030; plain, pre-shared key or password protected) — parsed by
//! [`keyward_core::otp::import`].
//!
//! All or nothing: every token is parsed, checked and its seed sealed first, then all rows are
//! written in one transaction ([`keyward_store::Store::create_tokens`]); a taken serial fails the
//! whole import and is named — unless `pskc_checkserial` asks to skip tokens that exist. Over
//! HTTP the file arrives as the text parameter `file` (a multipart upload, or JSON/form text);
//! `keyward manage` can read it with `--file-path` (local runs only). Neither the output, the
//! audit row nor an error carries a seed, the PSKC password or the pre-shared key.

use std::path::PathBuf;

use clap::Parser;
use keyward_core::otp::TokenType;
use keyward_core::otp::import::{
    ImportError, ImportedToken, MAX_IMPORT_BYTES, oath_csv, pskc, pskc::Decryption,
};
use keyward_store::StoreError;
use keyward_store::tokens::NewToken;
use serde::Deserialize;
use serde_json::{Map, json};
use zeroize::Zeroizing;

use super::seal_token_secret;
use crate::access::{ADMINS, Access};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::params::{boolean, given};
use crate::registry::{CommandSpec, param_command};

/// LinOTP's answer to a missing file or type.
const EMPTY: &str = "Error loading tokens. File or Type empty!";
/// TOTP window of imported tokens, as `token init` sets by default (seconds).
const TIME_WINDOW: i64 = 180;
/// Description of imported tokens.
const DESCRIPTION: &str = "imported";

pub fn commands() -> Vec<CommandSpec> {
    vec![
        param_command(
            "token loadtokens",
            "Import a token file (OATH CSV, PSKC)",
            loadtokens,
        )
        .mutating()
        .example("token loadtokens --file-path tokens.csv --type oathcsv")
.example("token loadtokens --file-path tokens.xml --type pskc --pskc-type password --pskc-password 'PSKC passphrase'")
.secret("pskc_password")
.allow(Access::Roles(ADMINS)),
    ]
}

#[derive(Parser, Deserialize, Default)]
#[serde(default)]
pub struct LoadTokensArgs {
    /// The token file's content (LinOTP's `file`); see --file-path to read a file.
    #[arg(long)]
    file: Option<String>,
    /// Read the token file from PATH (local runs only).
    #[arg(long = "file-path", value_name = "PATH")]
    #[serde(skip)]
    file_path: Option<PathBuf>,
    /// oathcsv or pskc.
    #[arg(long = "type")]
    #[serde(rename = "type")]
    file_type: Option<String>,
    /// PSKC protection: plain, key (pre-shared key) or password.
    #[arg(long = "pskc-type", alias = "pskc_type")]
    pskc_type: Option<String>,
    /// PSKC password (pskc_type password).
    #[arg(long = "pskc-password", alias = "pskc_password")]
    pskc_password: Option<String>,
    /// PSKC pre-shared AES key as hex (pskc_type key).
    #[arg(long = "pskc-preshared", alias = "pskc_preshared")]
    pskc_preshared: Option<String>,
    /// 1: skip tokens whose serial exists instead of failing the import.
    #[arg(long = "pskc-checkserial", alias = "pskc_checkserial", num_args = 0..=1, default_missing_value = "1")]
    pskc_checkserial: Option<String>,
    /// Comma-separated realms to put the tokens in.
    #[arg(long)]
    realm: Option<String>,
    /// Comma-separated realms to put the tokens in (as `token init`).
    #[arg(long)]
    tokenrealm: Option<String>,
    /// LinOTP's name for the realm of uploaded tokens (same as --realm).
    #[arg(long)]
    targetrealm: Option<String>,
}

/// The file formats `loadtokens` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileType {
    OathCsv,
    Pskc,
}

impl FileType {
    fn name(self) -> &'static str {
        match self {
            FileType::OathCsv => "oathcsv",
            FileType::Pskc => "pskc",
        }
    }
}

impl From<ImportError> for CommandError {
    fn from(e: ImportError) -> Self {
        CommandError::Invalid(e.to_string())
    }
}

/// The file's text: the `file` parameter, or (locally) the file at `--file-path`.
fn file_text(ctx: &Ctx, a: &LoadTokensArgs) -> Result<Option<String>, CommandError> {
    let Some(path) = &a.file_path else {
        return Ok(a.file.clone().filter(|f| !f.trim().is_empty()));
    };
    if !ctx.is_local() {
        return Err(CommandError::Invalid(
            "--file-path reads a local file and works only in local runs; send the file's \
             content as 'file'"
                .into(),
        ));
    }
    if a.file.as_deref().is_some_and(|f| !f.trim().is_empty()) {
        return Err(CommandError::Invalid(
            "give either --file or --file-path, not both".into(),
        ));
    }
    let cannot =
        |e: std::io::Error| CommandError::Invalid(format!("cannot read {}: {e}", path.display()));
    let size = std::fs::metadata(path).map_err(cannot)?.len();
    if size > MAX_IMPORT_BYTES as u64 {
        return Err(ImportError::TooLarge {
            size: usize::try_from(size).unwrap_or(usize::MAX),
        }
        .into());
    }
    let bytes = std::fs::read(path).map_err(cannot)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| CommandError::Invalid(format!("{} is not UTF-8 text", path.display())))?;
    Ok(Some(text).filter(|t| !t.trim().is_empty()))
}

/// The PSKC unlocking secret from `pskc_type`, `pskc_password` and `pskc_preshared`. Without
/// `pskc_type`, a given password or key selects its kind.
fn decryption(a: &LoadTokensArgs) -> Result<Decryption, CommandError> {
    let kind = match given(&a.pskc_type).map(str::to_ascii_lowercase) {
        Some(k) => k,
        None if a.pskc_password.as_deref().is_some_and(|p| !p.is_empty()) => "password".into(),
        None if given(&a.pskc_preshared).is_some() => "key".into(),
        None => "plain".into(),
    };
    match kind.as_str() {
        "plain" => Ok(Decryption::None),
        "password" => match a.pskc_password.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => Ok(Decryption::Password(p.to_string())),
            None => Err(CommandError::Invalid(
                "Missing parameter: 'pskc_password'".into(),
            )),
        },
        "key" => {
            let hex = given(&a.pskc_preshared).ok_or_else(|| {
                CommandError::Invalid("Missing parameter: 'pskc_preshared'".into())
            })?;
            let key = Zeroizing::new(
                data_encoding::HEXLOWER_PERMISSIVE
                    .decode(hex.as_bytes())
                    .ok()
                    .filter(|k| matches!(k.len(), 16 | 24 | 32))
                    .ok_or_else(|| {
                        CommandError::Invalid(
                            "parameter 'pskc_preshared' must be an AES key of 16, 24 or 32 \
                             bytes in hex"
                                .into(),
                        )
                    })?,
            );
            Ok(Decryption::PreSharedKey(key.to_vec()))
        }
        _ => Err(CommandError::Invalid(
            "parameter 'pskc_type' must be plain, key or password".into(),
        )),
    }
}

/// The union of the comma-separated realm lists, lowercased.
fn realms(a: &LoadTokensArgs) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in [given(&a.realm), given(&a.tokenrealm), given(&a.targetrealm)]
        .into_iter()
        .flatten()
    {
        for r in list.split(',').map(|r| r.trim().to_lowercase()) {
            if !r.is_empty() && !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

/// Parses (and for PSKC decrypts, which may run PBKDF2) off the async runtime.
async fn parse(
    kind: FileType,
    text: String,
    decryption: Decryption,
) -> Result<Vec<ImportedToken>, CommandError> {
    tokio::task::spawn_blocking(move || match kind {
        FileType::OathCsv => oath_csv::parse(&text),
        FileType::Pskc => pskc::parse(&text, decryption),
    })
    .await
    .map_err(|e| CommandError::Internal(format!("the import task failed: {e}")))?
    .map_err(CommandError::from)
}

async fn loadtokens(ctx: Ctx, a: LoadTokensArgs) -> Result<Output, CommandError> {
    let text = file_text(&ctx, &a)?;
    let (Some(text), Some(type_name)) = (text, given(&a.file_type)) else {
        return Err(CommandError::Invalid(EMPTY.into()));
    };
    let kind = match type_name.to_ascii_lowercase().as_str() {
        "oathcsv" => FileType::OathCsv,
        "pskc" => FileType::Pskc,
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(CommandError::Invalid(format!(
                "Unknown file type {shown:?} (oathcsv or pskc)"
            )));
        }
    };
    let decryption = match kind {
        FileType::Pskc => decryption(&a)?,
        FileType::OathCsv => Decryption::None,
    };
    let skip_existing = match given(&a.pskc_checkserial) {
        Some(v) => boolean("pskc_checkserial", v)?,
        None => false,
    };
    let realms = realms(&a);
    let parsed = parse(kind, text, decryption).await?;
    // ocra2 rows: only suites keyward can verify (as `token init` checks them).
    for t in parsed.iter().filter(|t| t.token_type == TokenType::Ocra2) {
        let suite = t.info.iter().find(|(k, _)| k == super::ocra2::SUITE_INFO);
        super::ocra2::enrolment_suite(suite.map(|(_, v)| v.as_str()), None).map_err(|e| {
            let shown: String = t.serial.chars().take(64).collect();
            CommandError::Invalid(format!("token {shown}: {e}; nothing was imported"))
        })?;
    }

    let serials: Vec<String> = parsed.iter().map(|t| t.serial.clone()).collect();
    let existing = ctx.store().existing_token_serials(&serials).await?;
    let (tokens, skipped): (Vec<ImportedToken>, Vec<ImportedToken>) = parsed
        .into_iter()
        .partition(|t| !existing.contains(&t.serial));
    if !skip_existing && let Some(taken) = skipped.first() {
        return Err(conflict(&taken.serial));
    }
    let skipped: Vec<String> = skipped.iter().map(|t| t.serial.clone()).collect();

    let now = ctx.now();
    let mut rows = Vec::with_capacity(tokens.len());
    for t in &tokens {
        let id = uuid::Uuid::new_v4().to_string();
        let seed_sealed = seal_token_secret(&ctx, &id, "seed", &t.key).await?;
        rows.push(NewToken {
            id,
            serial: t.serial.clone().into(),
            token_type: t.token_type.as_str().to_string(),
            description: DESCRIPTION.into(),
            owner_id: None,
            seed_sealed,
            pin_hash: String::new(),
            otplen: i64::from(t.otplen),
            hashlib: t.hashlib.as_str().to_string(),
            counter: i64::try_from(t.counter).unwrap_or(i64::MAX),
            time_step: i64::from(t.time_step),
            time_window: TIME_WINDOW,
            time_shift: t.time_shift,
            info: t
                .info
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<Map<_, _>>(),
            realms: realms.clone(),
            now,
        });
    }
    // The tokens and the import's audit row commit together (or neither does).
    let mut tx = ctx.begin_change().await?;
    let imported = if rows.is_empty() {
        0
    } else {
        tx.create_tokens(&rows).await.map_err(|e| match e {
            StoreError::Conflict(what) => {
                CommandError::Conflict(format!("{what} already exists; nothing was imported"))
            }
            other => other.into(),
        })?
    };
    let imported_serials: Vec<&str> = tokens.iter().map(|t| t.serial.as_str()).collect();
    let count = |kind: TokenType| tokens.iter().filter(|t| t.token_type == kind).count();
    let mut text = format!(
        "Imported {imported} tokens ({} hotp, {} totp) from the {} file",
        count(TokenType::Hotp),
        count(TokenType::Totp),
        kind.name()
    );
    if count(TokenType::Ocra2) > 0 {
        text = text.replacen(
            " totp)",
            &format!(" totp, {} ocra2)", count(TokenType::Ocra2)),
            1,
        );
    }
    if !skipped.is_empty() {
        text.push_str(&format!(
            "; skipped {} whose serial exists: {}",
            skipped.len(),
            skipped.join(", ")
        ));
    }
    if !realms.is_empty() {
        text.push_str(&format!("; realms: {}", realms.join(", ")));
    }
    text.push('\n');
    let mut audit = format!("imported {imported} tokens from a {} file", kind.name());
    if !skipped.is_empty() {
        audit.push_str(&format!(", skipped {} existing", skipped.len()));
    }
    let out = Output::new(text, json!({ "imported": imported }))
        .with_detail(json!({
            "type": kind.name(),
            "serials": imported_serials,
            "skipped": skipped,
            "realms": realms,
        }))
        .with_audit(audit);
    ctx.commit_output(tx, out).await
}

fn conflict(serial: &str) -> CommandError {
    let shown: String = serial.chars().take(64).collect();
    CommandError::Conflict(format!(
        "token with serial \"{shown}\" already exists; nothing was imported \
         (pskc_checkserial=1 skips existing tokens)"
    ))
}

// Imported tokens have no owner yet.
crate::no_targets!(LoadTokensArgs);

#[cfg(test)]
mod tests {
    use super::*;

    fn args(map: serde_json::Value) -> LoadTokensArgs {
        match map {
            serde_json::Value::Object(m) => {
                crate::params::from_map(m).unwrap_or_else(|e| unreachable!("{e}"))
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn linotp_parameters_parse() {
        let a = args(json!({
            "file": "x".repeat(100_000), "type": "pskc", "pskc_type": "key",
            "pskc_preshared": "12345678901234567890123456789012", "pskc_checkserial": true,
            "tokenrealm": "Sales, hq", "realm": "hq",
        }));
        assert_eq!(a.file.as_deref().map(str::len), Some(100_000));
        assert_eq!(a.file_type.as_deref(), Some("pskc"));
        assert_eq!(a.pskc_checkserial.as_deref(), Some("1"));
        assert_eq!(realms(&a), vec!["hq".to_string(), "sales".to_string()]);
        assert!(matches!(decryption(&a), Ok(Decryption::PreSharedKey(ref k)) if k.len() == 16));
        // A file path cannot come from the network.
        let a = args(json!({"file_path": "/etc/shadow"}));
        assert!(a.file_path.is_none());
    }

    #[test]
    fn the_protection_follows_the_parameters() {
        let d = |v| decryption(&args(v)).map_err(|e| e.to_string());
        assert!(matches!(d(json!({})), Ok(Decryption::None)));
        assert!(matches!(
            d(json!({"pskc_password": "pw"})),
            Ok(Decryption::Password(_))
        ));
        assert!(matches!(
            d(json!({"pskc_type": "password"})),
            Err(e) if e.contains("pskc_password")
        ));
        let bad = d(json!({"pskc_type": "key", "pskc_preshared": "zz-not-hex-secret"}));
        assert!(matches!(&bad, Err(e) if e.contains("16, 24 or 32") && !e.contains("secret")));
        assert!(d(json!({"pskc_type": "aladdin"})).is_err());
    }
}
