//! The user flags of `add-user` / `update-user` (SFTPGo's `sftpgo_api_cli.py` names) and the
//! user object they build for `POST`/`PUT /api/v1/user`.

use std::collections::BTreeMap;

use clap::Args;
use keyward_proto::user_check;
use keyward_proto::{Filesystem, GcsConfig, S3Config, UserFilters, UserInput};

use keyward_proto::user_flags;

use super::flags;

#[derive(Args, Debug, Clone)]
pub struct UserFlags {
    /// The user's name.
    pub username: String,
    /// Password (write-only; never printed). Prefer --password-stdin: argv is visible to others.
    #[arg(short = 'P', long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Home directory.
    #[arg(short = 'H', long, value_name = "DIR")]
    pub home_dir: Option<String>,
    #[arg(long, default_value = "0", value_parser = flags::non_negative, allow_negative_numbers = true)]
    pub uid: i64,
    #[arg(long, default_value = "0", value_parser = flags::non_negative, allow_negative_numbers = true)]
    pub gid: i64,
    /// Maximum concurrent sessions, 0 for unlimited.
    #[arg(short = 'C', long, default_value = "0", value_parser = flags::non_negative, allow_negative_numbers = true)]
    pub max_sessions: i64,
    /// Maximum size in bytes, 0 for unlimited.
    #[arg(short = 'S', long, default_value = "0", value_parser = flags::non_negative, allow_negative_numbers = true)]
    pub quota_size: i64,
    /// Maximum number of files, 0 for unlimited.
    #[arg(short = 'F', long, default_value = "0", value_parser = flags::non_negative, allow_negative_numbers = true)]
    pub quota_files: i64,
    /// Permissions on / (one or more of: *, list, download, upload, overwrite, delete, rename,
    /// create_dirs, create_symlinks, chmod, chown, chtimes).
    #[arg(short = 'G', long, num_args = 1.., value_parser = flags::permission)]
    pub permissions: Vec<String>,
    /// Permissions on subdirectories: "/dir1::list,download" "/dir2::*".
    #[arg(long, num_args = 1.., value_name = "PATH::PERMS", value_parser = flags::subdir_permissions)]
    pub subdirs_permissions: Vec<String>,
    /// Upload bandwidth in KB/s, 0 for unlimited.
    #[arg(short = 'U', long, default_value = "0", value_parser = flags::non_negative, allow_negative_numbers = true)]
    pub upload_bandwidth: i64,
    /// Download bandwidth in KB/s, 0 for unlimited.
    #[arg(short = 'D', long, default_value = "0", value_parser = flags::non_negative, allow_negative_numbers = true)]
    pub download_bandwidth: i64,
    /// 1 enabled, 0 disabled.
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(i64).range(0..=1))]
    pub status: i64,
    /// Last valid day, YYYY-MM-DD (00:00 UTC ends it); "" for none.
    #[arg(short = 'E', long, value_name = "YYYY-MM-DD", default_value = "", value_parser = flags::date_ms)]
    pub expiration_date: i64,
    /// Networks allowed to log in (CIDR); "" for any.
    #[arg(short = 'Y', long, num_args = 1.., value_name = "CIDR", value_parser = flags::cidr)]
    pub allowed_ip: Vec<String>,
    /// Networks denied (CIDR); "" for none.
    #[arg(short = 'N', long, num_args = 1.., value_name = "CIDR", value_parser = flags::cidr)]
    pub denied_ip: Vec<String>,
    /// Login methods this user may not use; "" for none.
    #[arg(short = 'M', long, num_args = 1.., value_name = "METHOD", value_parser = flags::login_method)]
    pub denied_login_methods: Vec<String>,
    /// Allowed file extensions per directory: "/dir1::.jpg,.png".
    #[arg(long, num_args = 1.., value_name = "PATH::EXTS", value_parser = flags::extensions)]
    pub allowed_extensions: Vec<String>,
    /// Denied file extensions per directory: "/dir3::.zip,.rar".
    #[arg(long, num_args = 1.., value_name = "PATH::EXTS", value_parser = flags::extensions)]
    pub denied_extensions: Vec<String>,
    /// Virtual folders: "/vdir1::/tmp/mapped1".
    #[arg(long, num_args = 1.., value_name = "VPATH::MAPPED", value_parser = flags::virtual_folder)]
    pub virtual_folders: Vec<String>,
    /// Storage: local, S3 or GCS.
    #[arg(long = "fs", default_value = "local", value_parser = ["local", "S3", "GCS"], ignore_case = true)]
    pub fs: String,
    #[arg(long, default_value = "")]
    pub s3_bucket: String,
    #[arg(long, default_value = "")]
    pub s3_region: String,
    #[arg(long, default_value = "")]
    pub s3_access_key: String,
    /// Sealed by the server; shown back as "$aes$…".
    #[arg(long, default_value = "")]
    pub s3_access_secret: String,
    #[arg(long, default_value = "")]
    pub s3_endpoint: String,
    #[arg(long, default_value = "")]
    pub s3_storage_class: String,
    #[arg(long, default_value = "")]
    pub s3_key_prefix: String,
    /// Part size in MB, 0 for the default.
    #[arg(long, default_value = "0", value_parser = flags::non_negative, allow_negative_numbers = true)]
    pub s3_upload_part_size: i64,
    /// Parts uploaded in parallel, 0 for the default.
    #[arg(long, default_value = "0", value_parser = flags::non_negative, allow_negative_numbers = true)]
    pub s3_upload_concurrency: i64,
    #[arg(long, default_value = "")]
    pub gcs_bucket: String,
    #[arg(long, default_value = "")]
    pub gcs_key_prefix: String,
    #[arg(long, default_value = "")]
    pub gcs_storage_class: String,
    /// JSON service-account credentials file (sent base64-encoded, sealed by the server).
    #[arg(long, value_name = "FILE")]
    pub gcs_credentials_file: Option<std::path::PathBuf>,
    /// "automatic" (the environment's credentials) or "explicit" (--gcs-credentials-file).
    #[arg(long, default_value = "automatic", value_parser = ["automatic", "explicit"])]
    pub gcs_automatic_credentials: String,
    /// keyward: the user's email address.
    #[arg(long)]
    pub email: Option<String>,
    /// keyward: a free-text description.
    #[arg(long)]
    pub description: Option<String>,
}

impl UserFlags {
    /// The user object in SFTPGo's shape, as its client sends it: every field, so a `PUT`
    /// replaces the user whole. `password` is the resolved password (argv, stdin or prompt).
    pub fn to_input(&self, password: Option<String>) -> Result<UserInput, String> {
        let named = |e: keyward_proto::user_check::FieldError| e.to_string();
        let mut permissions = BTreeMap::new();
        let root = user_flags::list_values(&self.permissions);
        if !root.is_empty() {
            permissions.insert("/".to_string(), root);
        }
        permissions.extend(
            user_flags::parse_subdirs_permissions(&self.subdirs_permissions).map_err(named)?,
        );
        let allowed =
            user_flags::parse_extensions("--allowed-extensions", &self.allowed_extensions)
                .map_err(named)?;
        let denied = user_flags::parse_extensions("--denied-extensions", &self.denied_extensions)
            .map_err(named)?;
        let filters = UserFilters {
            allowed_ip: user_flags::list_values(&self.allowed_ip),
            denied_ip: user_flags::list_values(&self.denied_ip),
            denied_login_methods: user_flags::list_values(&self.denied_login_methods),
            file_extensions: user_flags::merge_extensions(allowed, denied),
        };
        Ok(UserInput {
            id: None,
            username: Some(self.username.clone()),
            password,
            status: Some(self.status),
            expiration_date: Some(self.expiration_date),
            email: self.email.clone(),
            email_verified: None,
            roles: None,
            description: self.description.clone(),
            max_sessions: Some(self.max_sessions),
            filters: Some(filters),
            home_dir: self.home_dir.clone(),
            uid: Some(self.uid),
            gid: Some(self.gid),
            quota_size: Some(self.quota_size),
            quota_files: Some(self.quota_files),
            permissions: Some(permissions),
            upload_bandwidth: Some(self.upload_bandwidth),
            download_bandwidth: Some(self.download_bandwidth),
            filesystem: Some(self.filesystem()?),
            virtual_folders: Some(
                user_flags::parse_virtual_folders(&self.virtual_folders).map_err(named)?,
            ),
        })
    }

    fn filesystem(&self) -> Result<Filesystem, String> {
        let provider = user_check::provider_number(&self.fs).unwrap_or(0);
        let mut fs = Filesystem {
            provider,
            ..Default::default()
        };
        if provider == 1 {
            fs.s3config = S3Config {
                bucket: self.s3_bucket.clone(),
                key_prefix: self.s3_key_prefix.clone(),
                region: self.s3_region.clone(),
                access_key: self.s3_access_key.clone(),
                access_secret: self.s3_access_secret.clone(),
                endpoint: self.s3_endpoint.clone(),
                storage_class: self.s3_storage_class.clone(),
                upload_part_size: self.s3_upload_part_size,
                upload_concurrency: self.s3_upload_concurrency,
            };
        }
        if provider == 2 {
            let automatic = self.gcs_automatic_credentials == "automatic";
            let credentials = match &self.gcs_credentials_file {
                Some(file) => {
                    let bytes = std::fs::read(file).map_err(|e| {
                        format!(
                            "--gcs-credentials-file: cannot read {}: {e}",
                            file.display()
                        )
                    })?;
                    data_encoding::BASE64.encode(&bytes)
                }
                None => String::new(),
            };
            fs.gcsconfig = GcsConfig {
                bucket: self.gcs_bucket.clone(),
                key_prefix: self.gcs_key_prefix.clone(),
                credentials,
                automatic_credentials: i64::from(automatic),
                storage_class: self.gcs_storage_class.clone(),
            };
        }
        Ok(fs)
    }
}

/// The flag that sets a field of the user object (for naming it in a validation error).
pub fn flag_of_field(field: &str) -> String {
    let flag = match field {
        "username" => return "USERNAME".to_string(),
        "permissions" | "permissions./" => "permissions",
        f if f.starts_with("permissions.") => "subdirs-permissions",
        f if f.starts_with("filters.file_extensions") => "allowed-extensions/--denied-extensions",
        f if f.starts_with("virtual_folders") => "virtual-folders",
        "filesystem.provider" => "fs",
        "filesystem.gcsconfig.credentials" => "gcs-credentials-file",
        f => {
            let tail = if let Some(t) = f.strip_prefix("filters.") {
                t.to_string()
            } else if let Some(t) = f.strip_prefix("filesystem.s3config.") {
                format!("s3_{t}")
            } else if let Some(t) = f.strip_prefix("filesystem.gcsconfig.") {
                format!("gcs_{t}")
            } else {
                f.to_string()
            };
            return format!("--{}", tail.replace('_', "-"));
        }
    };
    format!("--{flag}")
}

/// Validates the object with the rules the server applies, naming the flag at fault.
pub fn check(input: &UserInput, creating: bool) -> Result<(), String> {
    user_check::validate_user_input(input, creating)
        .map_err(|e| format!("{}: {}", flag_of_field(&e.field), e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_name_their_flags() {
        assert_eq!(flag_of_field("filters.allowed_ip"), "--allowed-ip");
        assert_eq!(flag_of_field("filesystem.s3config.bucket"), "--s3-bucket");
        assert_eq!(
            flag_of_field("filesystem.gcsconfig.key_prefix"),
            "--gcs-key-prefix"
        );
        assert_eq!(flag_of_field("permissions./dir1"), "--subdirs-permissions");
        assert_eq!(flag_of_field("permissions./"), "--permissions");
        assert_eq!(flag_of_field("quota_size"), "--quota-size");
        assert_eq!(flag_of_field("filesystem.provider"), "--fs");
    }
}
