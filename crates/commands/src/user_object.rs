//! The stored user record as the REST user object (`keyward_proto::User`, SFTPGo's shape) and
//! back: which columns hold which field (the SFTPGo resource fields live in the
//! `resource_profile` JSON column), times in milliseconds on the wire and seconds in the store,
//! and the filesystem secrets, sealed with the enckey's config-secrets key and shown as
//! `$aes$<hex>` — a value that opens only for this user's record.

use std::collections::BTreeMap;

use keyward_core::aead;
use keyward_core::enckey::KeySlot;
use keyward_core::user::{Role, Roles, username_key};
use keyward_proto::user_check::{FieldError, SEALED_PREFIX};
use keyward_proto::{ExtensionsFilter, Filesystem, User as UserObject, UserInput, VirtualFolder};
use keyward_store::users::User;
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::output::CommandError;

/// The SFTPGo resource fields, as kept in the `resource_profile` column. Keys it does not know
/// are kept as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub home_dir: String,
    pub uid: i64,
    pub gid: i64,
    pub quota_size: i64,
    pub quota_files: i64,
    pub used_quota_size: i64,
    pub used_quota_files: i64,
    /// Epoch milliseconds.
    pub last_quota_update: i64,
    pub permissions: BTreeMap<String, Vec<String>>,
    pub upload_bandwidth: i64,
    pub download_bandwidth: i64,
    /// With its secrets in the sealed `$aes$…` form.
    pub filesystem: Filesystem,
    pub virtual_folders: Vec<VirtualFolder>,
    pub file_extensions: Vec<ExtensionsFilter>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Profile {
    pub fn of(user: &User) -> Profile {
        serde_json::from_value(user.resource_profile.clone()).unwrap_or_default()
    }
}

fn secs_to_ms(t: Option<i64>) -> i64 {
    t.map(|s| s.saturating_mul(1000)).unwrap_or(0)
}

/// The REST object of a stored user (secrets only in their sealed form).
pub fn to_object(user: &User) -> UserObject {
    let p = Profile::of(user);
    UserObject {
        id: user.num,
        username: user.username.to_string(),
        status: i64::from(user.active),
        expiration_date: secs_to_ms(user.expires_at),
        email: user.email.clone(),
        email_verified: user.email_verified,
        roles: user.roles.iter().map(|r| r.as_str().to_string()).collect(),
        description: user.description.clone(),
        max_sessions: user.max_sessions,
        filters: keyward_proto::UserFilters {
            allowed_ip: user.allowed_networks.clone(),
            denied_ip: user.denied_networks.clone(),
            denied_login_methods: user.denied_login_methods.clone(),
            file_extensions: p.file_extensions,
        },
        last_login: secs_to_ms(user.last_login),
        last_quota_update: p.last_quota_update,
        home_dir: p.home_dir,
        uid: p.uid,
        gid: p.gid,
        quota_size: p.quota_size,
        quota_files: p.quota_files,
        used_quota_size: p.used_quota_size,
        used_quota_files: p.used_quota_files,
        permissions: p.permissions,
        upload_bandwidth: p.upload_bandwidth,
        download_bandwidth: p.download_bandwidth,
        filesystem: p.filesystem,
        virtual_folders: p.virtual_folders,
    }
}

/// The object as JSON (for command output).
pub fn object_json(user: &User) -> serde_json::Value {
    serde_json::to_value(to_object(user)).unwrap_or_default()
}

pub(crate) fn invalid(e: FieldError) -> CommandError {
    CommandError::from(e)
}

/// Associated data of a sealed filesystem secret: the user (by name key: names never change)
/// and the field.
fn secret_ad(username: &str, field: &str) -> Vec<u8> {
    format!("user:{}:{field}", username_key(username)).into_bytes()
}

/// The stored form of a filesystem secret given on input: empty stays empty; the sealed form is
/// kept if it opens for this user and field (a client sending the object back unchanged); any
/// other value is sealed now.
async fn seal_secret(
    ctx: &Ctx,
    username: &str,
    field: &str,
    given: &str,
) -> Result<String, CommandError> {
    if given.is_empty() {
        return Ok(String::new());
    }
    let key = ctx.shared.enckey().await?;
    let ad = secret_ad(username, field);
    if let Some(hex) = given.strip_prefix(SEALED_PREFIX) {
        let opens = data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .is_some_and(|sealed| aead::open(key, &sealed, &ad).is_ok());
        if !opens {
            return Err(CommandError::invalid_field(
                field,
                format!(
                    "a sealed value ({SEALED_PREFIX}…) that this server did not seal for this \
                     user; send the secret in clear to replace it"
                ),
            ));
        }
        return Ok(given.to_string());
    }
    let sealed = aead::seal(key, KeySlot::ConfigSecrets, given.as_bytes(), &ad)
        .map_err(|e| CommandError::Internal(format!("cannot encrypt {field}: {e}")))?;
    Ok(format!(
        "{SEALED_PREFIX}{}",
        data_encoding::HEXLOWER.encode(sealed.as_bytes())
    ))
}

/// The names of the fields `input` changes (for the audit row: names, never values).
pub fn changed_fields(input: &UserInput) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut note = |given: bool, name: &'static str| {
        if given {
            out.push(name);
        }
    };
    note(input.password.is_some(), "password");
    note(input.status.is_some(), "status");
    note(input.expiration_date.is_some(), "expiration_date");
    note(input.email.is_some(), "email");
    note(input.email_verified.is_some(), "email_verified");
    note(input.roles.is_some(), "roles");
    note(input.description.is_some(), "description");
    note(input.max_sessions.is_some(), "max_sessions");
    note(input.filters.is_some(), "filters");
    note(input.home_dir.is_some(), "home_dir");
    note(input.uid.is_some(), "uid");
    note(input.gid.is_some(), "gid");
    note(input.quota_size.is_some(), "quota_size");
    note(input.quota_files.is_some(), "quota_files");
    note(input.permissions.is_some(), "permissions");
    note(input.upload_bandwidth.is_some(), "upload_bandwidth");
    note(input.download_bandwidth.is_some(), "download_bandwidth");
    note(input.filesystem.is_some(), "filesystem");
    note(input.virtual_folders.is_some(), "virtual_folders");
    out
}

/// Applies the given fields of a validated `input` to the record (the password is the caller's
/// to hash and store). Filesystem secrets are sealed; a provider drops the other providers'
/// settings.
pub async fn apply_input(
    ctx: &Ctx,
    user: &mut User,
    input: &UserInput,
) -> Result<(), CommandError> {
    let mut p = Profile::of(user);
    if let Some(s) = input.status {
        user.active = s == 1;
    }
    if let Some(ms) = input.expiration_date {
        user.expires_at = (ms > 0).then_some(ms / 1000);
    }
    if let Some(email) = &input.email {
        let email = email.trim();
        if !email.is_empty() {
            keyward_core::user::validate_email(email)
                .map_err(|e| CommandError::invalid_field("email", e))?;
        }
        if email != user.email {
            user.email_verified = false;
        }
        user.email = email.to_string();
    }
    if let Some(v) = input.email_verified {
        user.email_verified = v;
    }
    if let Some(roles) = &input.roles {
        let parsed: Result<Vec<Role>, _> = roles.iter().map(|r| r.parse()).collect();
        user.roles = Roles::new(parsed.map_err(|e| CommandError::invalid_field("roles", e))?);
    }
    if let Some(d) = &input.description {
        user.description = d.clone();
    }
    if let Some(n) = input.max_sessions {
        user.max_sessions = n;
    }
    if let Some(f) = &input.filters {
        user.allowed_networks = f.allowed_ip.clone();
        user.denied_networks = f.denied_ip.clone();
        user.denied_login_methods = f.denied_login_methods.clone();
        p.file_extensions = f.file_extensions.clone();
    }
    let numbers = [
        (&mut p.uid, input.uid),
        (&mut p.gid, input.gid),
        (&mut p.quota_size, input.quota_size),
        (&mut p.quota_files, input.quota_files),
        (&mut p.upload_bandwidth, input.upload_bandwidth),
        (&mut p.download_bandwidth, input.download_bandwidth),
    ];
    for (slot, given) in numbers {
        if let Some(v) = given {
            *slot = v;
        }
    }
    if let Some(h) = &input.home_dir {
        p.home_dir = h.clone();
    }
    if let Some(perms) = &input.permissions {
        p.permissions = perms.clone();
    }
    if let Some(v) = &input.virtual_folders {
        p.virtual_folders = v.clone();
    }
    if let Some(fs) = &input.filesystem {
        let mut fs = fs.clone();
        match fs.provider {
            0 => {
                fs.s3config = Default::default();
                fs.gcsconfig = Default::default();
            }
            1 => fs.gcsconfig = Default::default(),
            _ => fs.s3config = Default::default(),
        }
        let name = user.username.clone();
        fs.s3config.access_secret = seal_secret(
            ctx,
            &name,
            "filesystem.s3config.access_secret",
            &fs.s3config.access_secret,
        )
        .await?;
        fs.gcsconfig.credentials = seal_secret(
            ctx,
            &name,
            "filesystem.gcsconfig.credentials",
            &fs.gcsconfig.credentials,
        )
        .await?;
        p.filesystem = fs;
    }
    user.resource_profile = serde_json::to_value(&p)
        .map_err(|e| CommandError::Internal(format!("cannot store the user profile: {e}")))?;
    Ok(())
}
