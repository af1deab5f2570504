//! Validation of a [`UserInput`], in one place for the server (which validates again whatever a
//! client sent) and the clients (which name the wrong flag before sending). Every error names the
//! field it is about, in the object's own spelling (`filters.allowed_ip`, `permissions./dir1`).
//! Sizes are bounded so a request cannot make the server store or scan without limit.

use std::fmt;
use std::net::IpAddr;

use crate::user::{Filesystem, UserFilters, UserInput, VirtualFolder};

/// SFTPGo's permissions (`*` is all of them).
pub const PERMISSIONS: &[&str] = &[
    "*",
    "list",
    "download",
    "upload",
    "overwrite",
    "delete",
    "rename",
    "create_dirs",
    "create_symlinks",
    "chmod",
    "chown",
    "chtimes",
];

/// Login methods that can be denied: keyward's own, and SFTPGo's names.
pub const LOGIN_METHODS: &[&str] = &[
    "password",
    "otp",
    "api-key",
    "radius",
    "publickey",
    "keyboard-interactive",
];

/// keyward's roles.
pub const ROLES: &[&str] = &["superuser", "admin", "helpdesk", "auditor"];

/// Filesystem providers: 0 local, 1 S3, 2 GCS.
pub const PROVIDERS: &[(i64, &str)] = &[(0, "local"), (1, "S3"), (2, "GCS")];

/// Longest path or text field accepted.
pub const MAX_TEXT: usize = 1024;
/// Most entries of any list or map in the object.
pub const MAX_ITEMS: usize = 100;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 4096;
/// The prefix of a secret sealed by the server.
pub const SEALED_PREFIX: &str = "$aes$";

/// A field that is not valid, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field, e.g. `filters.allowed_ip` or `quota_size`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// The provider number of `local`, `S3` or `GCS` (case-insensitive), or of its number.
pub fn provider_number(name: &str) -> Option<i64> {
    PROVIDERS
        .iter()
        .find(|(n, p)| p.eq_ignore_ascii_case(name.trim()) || n.to_string() == name.trim())
        .map(|(n, _)| *n)
}

/// Checks a CIDR network (`192.0.2.0/24`, `2001:db8::/32`): an address, `/`, a prefix length
/// that fits the address family.
pub fn check_cidr(field: &str, value: &str) -> Result<(), FieldError> {
    let bad = || {
        err(
            field,
            format!("{value:?} is not a CIDR network (e.g. 192.168.1.0/24)"),
        )
    };
    let (addr, len) = value.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) || len.len() > 3 {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(bad());
    }
    Ok(())
}

/// Checks an absolute, clean path: starts with `/`, no empty, `.` or `..` segments, no control
/// characters, at most [`MAX_TEXT`] bytes. `/` itself passes.
pub fn check_path(field: &str, value: &str) -> Result<(), FieldError> {
    if !value.starts_with('/') {
        return Err(err(
            field,
            format!("{value:?} is not an absolute path (it must start with /)"),
        ));
    }
    if value.len() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err(err(field, "path is too long or has control characters"));
    }
    if value != "/"
        && value
            .split('/')
            .skip(1)
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(err(
            field,
            format!("{value:?} is not a clean path (no //, ., .. or trailing /)"),
        ));
    }
    Ok(())
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.len() > max {
        return Err(err(field, format!("longer than {max} bytes")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(err(field, "has control characters"));
    }
    Ok(())
}

fn check_count(field: &str, n: usize) -> Result<(), FieldError> {
    if n > MAX_ITEMS {
        return Err(err(field, format!("more than {MAX_ITEMS} entries")));
    }
    Ok(())
}

fn non_negative(field: &str, v: Option<i64>) -> Result<(), FieldError> {
    match v {
        Some(n) if n < 0 => Err(err(field, format!("must not be negative (got {n})"))),
        _ => Ok(()),
    }
}

/// Checks a permission list of one directory.
pub fn check_permission_list(field: &str, perms: &[String]) -> Result<(), FieldError> {
    if perms.is_empty() {
        return Err(err(field, "no permissions given"));
    }
    check_count(field, perms.len())?;
    for p in perms {
        if !PERMISSIONS.contains(&p.as_str()) {
            return Err(err(
                field,
                format!(
                    "unknown permission {p:?} (permissions: {})",
                    PERMISSIONS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Checks every field given in `input`. `creating`: the username and password are required.
pub fn validate_user_input(input: &UserInput, creating: bool) -> Result<(), FieldError> {
    match input.username.as_deref() {
        Some(u) if u.trim().is_empty() => return Err(err("username", "must not be empty")),
        Some(u) => check_text("username", u, 150)?,
        None if creating => return Err(err("username", "required")),
        None => {}
    }
    match input.password.as_deref() {
        Some("") => return Err(err("password", "must not be empty")),
        Some(p) => check_text("password", p, MAX_TEXT)?,
        None if creating => return Err(err("password", "required")),
        None => {}
    }
    if let Some(s) = input.status
        && s != 0
        && s != 1
    {
        return Err(err(
            "status",
            format!("must be 1 (enabled) or 0 (disabled), not {s}"),
        ));
    }
    non_negative("expiration_date", input.expiration_date)?;
    non_negative("max_sessions", input.max_sessions)?;
    non_negative("uid", input.uid)?;
    non_negative("gid", input.gid)?;
    non_negative("quota_size", input.quota_size)?;
    non_negative("quota_files", input.quota_files)?;
    non_negative("upload_bandwidth", input.upload_bandwidth)?;
    non_negative("download_bandwidth", input.download_bandwidth)?;
    for (field, v) in [("uid", input.uid), ("gid", input.gid)] {
        if v.is_some_and(|n| n > i64::from(u32::MAX)) {
            return Err(err(field, "larger than 4294967295"));
        }
    }
    if let Some(email) = &input.email {
        check_text("email", email, 254)?;
    }
    if let Some(d) = &input.description {
        check_text("description", d, MAX_DESCRIPTION)?;
    }
    if let Some(roles) = &input.roles {
        check_count("roles", roles.len())?;
        if let Some(r) = roles
            .iter()
            .find(|r| !ROLES.contains(&r.trim().to_ascii_lowercase().as_str()))
        {
            return Err(err(
                "roles",
                format!("unknown role {r:?} (roles: {})", ROLES.join(", ")),
            ));
        }
    }
    if let Some(home) = input.home_dir.as_deref()
        && !home.is_empty()
    {
        check_path("home_dir", home)?;
    }
    if let Some(perms) = &input.permissions {
        check_count("permissions", perms.len())?;
        if !perms.is_empty() && !perms.contains_key("/") {
            return Err(err(
                "permissions",
                "the permissions of the home directory \"/\" are required",
            ));
        }
        for (dir, list) in perms {
            let field = format!("permissions.{dir}");
            check_path(&field, dir)?;
            check_permission_list(&field, list)?;
        }
    }
    if let Some(f) = &input.filters {
        check_filters(f)?;
    }
    if let Some(fs) = &input.filesystem {
        check_filesystem(fs)?;
    }
    if let Some(v) = &input.virtual_folders {
        check_virtual_folders(v)?;
    }
    Ok(())
}

fn check_filters(f: &UserFilters) -> Result<(), FieldError> {
    for (field, list) in [
        ("filters.allowed_ip", &f.allowed_ip),
        ("filters.denied_ip", &f.denied_ip),
    ] {
        check_count(field, list.len())?;
        for net in list {
            check_cidr(field, net)?;
        }
    }
    check_count("filters.denied_login_methods", f.denied_login_methods.len())?;
    for m in &f.denied_login_methods {
        if !LOGIN_METHODS.contains(&m.as_str()) {
            return Err(err(
                "filters.denied_login_methods",
                format!(
                    "unknown login method {m:?} (methods: {})",
                    LOGIN_METHODS.join(", ")
                ),
            ));
        }
    }
    check_count("filters.file_extensions", f.file_extensions.len())?;
    for e in &f.file_extensions {
        let field = "filters.file_extensions";
        check_path(&format!("{field}.path"), &e.path)?;
        if e.allowed_extensions.is_empty() && e.denied_extensions.is_empty() {
            return Err(err(
                field,
                format!("{:?} has neither allowed nor denied extensions", e.path),
            ));
        }
        for ext in e.allowed_extensions.iter().chain(&e.denied_extensions) {
            if !ext.starts_with('.') || ext.len() < 2 || ext.contains('/') {
                return Err(err(
                    field,
                    format!("{ext:?} is not a file extension (e.g. .jpg)"),
                ));
            }
            check_text(field, ext, 64)?;
        }
        check_count(
            field,
            e.allowed_extensions.len() + e.denied_extensions.len(),
        )?;
    }
    Ok(())
}

fn check_filesystem(fs: &Filesystem) -> Result<(), FieldError> {
    match fs.provider {
        0 => {}
        1 => {
            let s3 = &fs.s3config;
            if s3.bucket.trim().is_empty() {
                return Err(err("filesystem.s3config.bucket", "required for S3"));
            }
            if s3.region.trim().is_empty() {
                return Err(err("filesystem.s3config.region", "required for S3"));
            }
            for (field, v) in [
                ("filesystem.s3config.bucket", &s3.bucket),
                ("filesystem.s3config.region", &s3.region),
                ("filesystem.s3config.access_key", &s3.access_key),
                ("filesystem.s3config.access_secret", &s3.access_secret),
                ("filesystem.s3config.endpoint", &s3.endpoint),
                ("filesystem.s3config.storage_class", &s3.storage_class),
            ] {
                check_text(field, v, MAX_TEXT)?;
            }
            check_prefix("filesystem.s3config.key_prefix", &s3.key_prefix)?;
            if s3.upload_part_size != 0 && !(5..=5000).contains(&s3.upload_part_size) {
                return Err(err(
                    "filesystem.s3config.upload_part_size",
                    "must be 0 (default) or 5 to 5000 (MB)",
                ));
            }
            if !(0..=64).contains(&s3.upload_concurrency) {
                return Err(err(
                    "filesystem.s3config.upload_concurrency",
                    "must be 0 (default) to 64",
                ));
            }
        }
        2 => {
            let gcs = &fs.gcsconfig;
            if gcs.bucket.trim().is_empty() {
                return Err(err("filesystem.gcsconfig.bucket", "required for GCS"));
            }
            check_text("filesystem.gcsconfig.bucket", &gcs.bucket, MAX_TEXT)?;
            check_text(
                "filesystem.gcsconfig.storage_class",
                &gcs.storage_class,
                MAX_TEXT,
            )?;
            check_text("filesystem.gcsconfig.credentials", &gcs.credentials, 16384)?;
            check_prefix("filesystem.gcsconfig.key_prefix", &gcs.key_prefix)?;
            if gcs.automatic_credentials != 0 && gcs.automatic_credentials != 1 {
                return Err(err(
                    "filesystem.gcsconfig.automatic_credentials",
                    "must be 0 or 1",
                ));
            }
            if gcs.automatic_credentials == 0 && gcs.credentials.is_empty() {
                return Err(err(
                    "filesystem.gcsconfig.credentials",
                    "required unless automatic_credentials is 1",
                ));
            }
        }
        other => {
            return Err(err(
                "filesystem.provider",
                format!("unknown provider {other} (0 local, 1 S3, 2 GCS)"),
            ));
        }
    }
    Ok(())
}

/// A key prefix is empty or a relative path ending with `/` (`vfolder/`), as SFTPGo has it.
fn check_prefix(field: &str, prefix: &str) -> Result<(), FieldError> {
    if prefix.is_empty() {
        return Ok(());
    }
    check_text(field, prefix, MAX_TEXT)?;
    if prefix.starts_with('/') || !prefix.ends_with('/') {
        return Err(err(
            field,
            format!("{prefix:?} must not start with / and must end with / (e.g. vfolder/)"),
        ));
    }
    Ok(())
}

fn check_virtual_folders(list: &[VirtualFolder]) -> Result<(), FieldError> {
    check_count("virtual_folders", list.len())?;
    for (i, v) in list.iter().enumerate() {
        check_path("virtual_folders.virtual_path", &v.virtual_path)?;
        if v.virtual_path == "/" {
            return Err(err(
                "virtual_folders.virtual_path",
                "\"/\" is the home directory, not a virtual folder",
            ));
        }
        check_path("virtual_folders.mapped_path", &v.mapped_path)?;
        if list[..i].iter().any(|o| o.virtual_path == v.virtual_path) {
            return Err(err(
                "virtual_folders.virtual_path",
                format!("{:?} is given twice", v.virtual_path),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn field_of(input: &UserInput) -> String {
        match validate_user_input(input, false) {
            Err(e) => e.field,
            Ok(()) => "ok".into(),
        }
    }

    #[test]
    fn cidrs() {
        assert!(check_cidr("f", "192.168.1.1/32").is_ok());
        assert!(check_cidr("f", "2001:db8::/32").is_ok());
        for bad in [
            "192.168.1.1",
            "192.168.1.0/33",
            "x/8",
            "10.0.0.0/",
            "::/129",
            "1.2.3.4/+8",
        ] {
            assert!(check_cidr("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        assert!(check_path("p", "/").is_ok());
        assert!(check_path("p", "/dir1/sub").is_ok());
        for bad in ["dir", "/a/../b", "/a//b", "/a/", "", "/a/./b"] {
            assert!(check_path("p", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut i = UserInput {
            quota_size: Some(-1),
            ..Default::default()
        };
        assert_eq!(field_of(&i), "quota_size");
        i.quota_size = None;
        i.permissions = Some(BTreeMap::from([("/".into(), vec!["fly".into()])]));
        assert_eq!(field_of(&i), "permissions./");
        i.permissions = None;
        i.filters = Some(UserFilters {
            denied_ip: vec!["300.1.1.1/8".into()],
            ..Default::default()
        });
        assert_eq!(field_of(&i), "filters.denied_ip");
        i.filters = None;
        i.filesystem = Some(Filesystem {
            provider: 7,
            ..Default::default()
        });
        assert_eq!(field_of(&i), "filesystem.provider");
        i.filesystem = None;
        i.status = Some(2);
        assert_eq!(field_of(&i), "status");
        i.status = None;
        assert_eq!(field_of(&i), "ok");
        assert_eq!(
            validate_user_input(&i, true).map_err(|e| e.field),
            Err("username".to_string())
        );
    }

    #[test]
    fn providers_by_name() {
        assert_eq!(provider_number("s3"), Some(1));
        assert_eq!(provider_number("local"), Some(0));
        assert_eq!(provider_number("GCS"), Some(2));
        assert_eq!(provider_number("ftp"), None);
    }
}
