//! Key material on disk: the enckey file (created 0400, optionally passphrase-protected) and the
//! server keys (`secret_key`, `audit_signing_key`), which come from the config or, when unset,
//! from `data_dir/server-keys.toml`, generated on first use.

use std::io::Write;
use std::path::Path;

use data_encoding::{BASE64, HEXLOWER};
use ed25519_dalek::SigningKey;
use keyward_core::enckey::{EncKey, is_protected};
use serde::Deserialize;

use crate::output::CommandError;
use crate::settings::Settings;

/// The server's own secrets.
#[derive(Clone)]
pub struct ServerKeys {
    pub secret_key: Vec<u8>,
    pub audit_signing_key: SigningKey,
}

impl ServerKeys {
    /// Fresh random keys.
    pub fn generate() -> Result<Self, CommandError> {
        let secret =
            keyward_core::random::vec(32).map_err(|e| CommandError::Internal(e.to_string()))?;
        let seed = keyward_core::random::bytes::<32>()
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        Ok(ServerKeys {
            secret_key: secret,
            audit_signing_key: SigningKey::from_bytes(&seed),
        })
    }

    /// The TOML snippet `generateserverkeys` prints and `server-keys.toml` holds.
    pub fn to_toml(&self) -> String {
        format!(
            "# keyward server keys: paste into the config file and keep them secret.\n\
             secret_key = \"{}\"\n\
             audit_signing_key = \"{}\"\n\
             # audit verification (public) key: {}\n",
            HEXLOWER.encode(&self.secret_key),
            BASE64.encode(self.audit_signing_key.as_bytes()),
            BASE64.encode(self.audit_signing_key.verifying_key().as_bytes()),
        )
    }

    fn parse(secret_hex: &str, signing_b64: &str, origin: &str) -> Result<Self, CommandError> {
        let bad = |what: &str| CommandError::Invalid(format!("{what} in {origin} is malformed"));
        let secret = HEXLOWER
            .decode(secret_hex.trim().to_ascii_lowercase().as_bytes())
            .map_err(|_| bad("secret_key"))?;
        if secret.len() < 16 {
            return Err(bad("secret_key"));
        }
        let seed = BASE64
            .decode(signing_b64.trim().as_bytes())
            .map_err(|_| bad("audit_signing_key"))?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| bad("audit_signing_key"))?;
        Ok(ServerKeys {
            secret_key: secret,
            audit_signing_key: SigningKey::from_bytes(&seed),
        })
    }

    /// Keys from the config, else from (or newly into) `server-keys.toml`.
    pub fn load_or_create(settings: &Settings) -> Result<Self, CommandError> {
        if let (Some(secret), Some(signing)) = (&settings.secret_key, &settings.audit_signing_key) {
            return Self::parse(secret, signing, "the configuration");
        }
        let path = settings.server_keys_path();
        if path.exists() {
            #[derive(Deserialize)]
            struct File {
                secret_key: String,
                audit_signing_key: String,
            }
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| CommandError::Unavailable(format!("cannot read {origin}: {e}")))?;
            let file: File = toml::from_str(&text)
                .map_err(|_| CommandError::Invalid(format!("{origin} is malformed")))?;
            return Self::parse(&file.secret_key, &file.audit_signing_key, &origin);
        }
        let keys = Self::generate()?;
        write_new_file(&path, keys.to_toml().as_bytes(), 0o600)?;
        eprintln!("keyward: generated server keys in {}", path.display());
        Ok(keys)
    }
}

/// Creates `path` exclusively with `mode` (never overwrites), creating its directory 0700.
pub fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), CommandError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        ensure_private_dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    let mut f = opts.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => CommandError::Conflict(format!(
            "{} already exists; refusing to overwrite it",
            path.display()
        )),
        _ => CommandError::Unavailable(format!("cannot create {}: {e}", path.display())),
    })?;
    f.write_all(contents)
        .and_then(|_| f.sync_all())
        .map_err(|e| CommandError::Unavailable(format!("cannot write {}: {e}", path.display())))?;
    // The umask may have narrowed the mode at creation; set it exactly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
            CommandError::Unavailable(format!("cannot set mode of {}: {e}", path.display()))
        })?;
    }
    Ok(())
}

/// Creates a directory (and parents) readable only by its owner, if missing.
pub fn ensure_private_dir(dir: &Path) -> Result<bool, CommandError> {
    if dir.exists() {
        return Ok(false);
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        CommandError::Unavailable(format!("cannot create directory {}: {e}", dir.display()))
    })?;
    Ok(true)
}

/// Where the passphrase of a protected enckey comes from (never the command line).
pub fn enckey_passphrase_from_env() -> Result<Option<String>, CommandError> {
    if let Ok(p) = std::env::var("KEYWARD_ENCKEY_PASSPHRASE") {
        return Ok(Some(p));
    }
    if let Ok(path) = std::env::var("KEYWARD_ENCKEY_PASSPHRASE_FILE") {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            CommandError::Unavailable(format!(
                "cannot read KEYWARD_ENCKEY_PASSPHRASE_FILE {path}: {e}"
            ))
        })?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(None)
}

/// Reads the enckey file, unlocking it with the environment's passphrase when protected.
pub fn read_enckey(path: &Path) -> Result<EncKey, CommandError> {
    let contents = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CommandError::NotFound(format!(
            "enckey {} not found: create it with `keyward manage setup create_enckey`",
            path.display()
        )),
        _ => CommandError::Unavailable(format!("cannot read enckey {}: {e}", path.display())),
    })?;
    let passphrase = if is_protected(&contents) {
        enckey_passphrase_from_env()?
    } else {
        None
    };
    EncKey::from_file_contents(&contents, passphrase.as_deref())
        .map_err(|e| CommandError::Invalid(format!("{} ({})", e, path.display())))
}

/// The enckey for running: read it, or generate it when it is the default one in data_dir and
/// does not exist yet (first start of an embedded installation).
pub fn load_or_create_enckey(settings: &Settings) -> Result<EncKey, CommandError> {
    let path = settings.enckey_path();
    if !path.exists() && settings.enckey_file.is_none() {
        let key = EncKey::generate().map_err(|e| CommandError::Internal(e.to_string()))?;
        write_new_file(&path, &key.to_bytes(), 0o400)?;
        eprintln!("keyward: generated encryption key {}", path.display());
        return Ok(key);
    }
    read_enckey(&path)
}
