//! The flags of `add-user` and `update-user`: every field of the user object, spelled as SFTPGo's
//! REST client spells them (seed 004), plus `--from-json` (a user object, the REST body). They
//! become one [`UserInput`] holding only what was given: `--from-json` first, flags over it. A
//! flag that sets part of a field (`--allowed-ip` of `filters`, `--s3-bucket` of `filesystem`)
//! starts from the field's current value, so nothing else in it changes.

use clap::Args;
use keyward_proto::user_check::provider_number;
use keyward_proto::user_flags::{
    list_values, merge_extensions, parse_date_ms, parse_extensions, parse_subdirs_permissions,
    parse_virtual_folders,
};
use keyward_proto::{User as UserObject, UserInput};

use crate::output::CommandError;
use crate::user_object::invalid;

/// Every field of the user object as a flag.
#[derive(Args, Debug, Default, Clone)]
pub struct UserFlags {
    /// A user object (JSON, as `POST /api/v1/user` takes it); flags given beside it win.
    #[arg(long, value_name = "JSON")]
    pub from_json: Option<String>,
    /// New password (ends the user's other sessions).
    #[arg(long)]
    pub password: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    /// Whether the email is verified: true or false.
    #[arg(long, value_name = "BOOL")]
    pub email_verified: Option<bool>,
    /// 1 enabled, 0 disabled.
    #[arg(long, value_name = "0|1")]
    pub status: Option<i64>,
    /// Expiry date YYYY-MM-DD (00:00 UTC); "" or 0: never.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub expiration_date: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
    /// Maximum concurrent sessions; 0: unlimited.
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<i64>,
    /// Roles (superuser, admin, helpdesk, auditor); "" for none.
    #[arg(long, num_args = 1.., value_name = "ROLE")]
    pub roles: Option<Vec<String>>,
    /// Networks allowed to log in (CIDR); "" for any.
    #[arg(long, num_args = 1.., value_name = "CIDR")]
    pub allowed_ip: Option<Vec<String>>,
    /// Networks refused (CIDR); "" for none.
    #[arg(long, num_args = 1.., value_name = "CIDR")]
    pub denied_ip: Option<Vec<String>>,
    /// Login methods refused: password, otp, api-key, radius, publickey, keyboard-interactive.
    #[arg(long, num_args = 1.., value_name = "METHOD")]
    pub denied_login_methods: Option<Vec<String>>,
    /// Allowed extensions per directory: "/dir1::.jpg,.png".
    #[arg(long, num_args = 1.., value_name = "PATH::EXT,…")]
    pub allowed_extensions: Option<Vec<String>>,
    /// Denied extensions per directory: "/dir3::.zip,.rar".
    #[arg(long, num_args = 1.., value_name = "PATH::EXT,…")]
    pub denied_extensions: Option<Vec<String>>,
    #[arg(long, value_name = "PATH")]
    pub home_dir: Option<String>,
    #[arg(long)]
    pub uid: Option<i64>,
    #[arg(long)]
    pub gid: Option<i64>,
    /// Maximum size in bytes; 0: unlimited.
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
    pub quota_size: Option<i64>,
    /// Maximum number of files; 0: unlimited.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub quota_files: Option<i64>,
    /// Permissions of the home directory "/" (list, download, upload, overwrite, delete, rename,
    /// create_dirs, create_symlinks, chmod, chown, chtimes, or *).
    #[arg(long, num_args = 1.., value_name = "PERM")]
    pub permissions: Option<Vec<String>>,
    /// Permissions of subdirectories: "/dir1::list,download" (replaces all subdirectories').
    #[arg(long, num_args = 1.., value_name = "PATH::PERM,…")]
    pub subdirs_permissions: Option<Vec<String>>,
    /// Upload limit in KB/s; 0: unlimited.
    #[arg(long, value_name = "KBPS", allow_negative_numbers = true)]
    pub upload_bandwidth: Option<i64>,
    /// Download limit in KB/s; 0: unlimited.
    #[arg(long, value_name = "KBPS", allow_negative_numbers = true)]
    pub download_bandwidth: Option<i64>,
    /// Virtual folders: "/vdir1::/tmp/mapped1" (replaces all); "" for none.
    #[arg(long, num_args = 1.., value_name = "VPATH::MAPPED")]
    pub virtual_folders: Option<Vec<String>>,
    /// Filesystem provider: local, S3 or GCS.
    #[arg(long = "fs", value_name = "local|S3|GCS")]
    pub fs: Option<String>,
    #[arg(long)]
    pub s3_bucket: Option<String>,
    #[arg(long)]
    pub s3_region: Option<String>,
    #[arg(long)]
    pub s3_access_key: Option<String>,
    /// Sealed with the server's encryption key; shown as $aes$….
    #[arg(long)]
    pub s3_access_secret: Option<String>,
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    #[arg(long)]
    pub s3_storage_class: Option<String>,
    #[arg(long)]
    pub s3_key_prefix: Option<String>,
    /// Multipart part size in MB (5–5000; 0: default).
    #[arg(long, value_name = "MB")]
    pub s3_upload_part_size: Option<i64>,
    #[arg(long, value_name = "N")]
    pub s3_upload_concurrency: Option<i64>,
    #[arg(long)]
    pub gcs_bucket: Option<String>,
    #[arg(long)]
    pub gcs_key_prefix: Option<String>,
    #[arg(long)]
    pub gcs_storage_class: Option<String>,
    /// Service account JSON, base64 (sealed like the S3 secret).
    #[arg(long)]
    pub gcs_credentials: Option<String>,
    /// 1: use the environment's credentials.
    #[arg(long, value_name = "0|1")]
    pub gcs_automatic_credentials: Option<i64>,
}

impl UserFlags {
    /// The roles the flags and the JSON would set (for the target rule), without validating.
    pub fn roles_named(&self) -> Vec<String> {
        let from_json = self
            .from_json
            .as_deref()
            .and_then(|j| serde_json::from_str::<UserInput>(j).ok())
            .and_then(|i| i.roles)
            .unwrap_or_default();
        from_json
            .into_iter()
            .chain(self.roles.clone().unwrap_or_default())
            .collect()
    }

    /// The fields given, as a partial object; `current` is the user as it is (the default
    /// object when creating).
    pub fn to_input(&self, current: &UserObject) -> Result<UserInput, CommandError> {
        let mut i: UserInput = match self.from_json.as_deref() {
            Some(j) => serde_json::from_str(j)
                .map_err(|e| CommandError::invalid_field("--from-json", e))?,
            None => UserInput::default(),
        };
        set(&mut i.password, &self.password);
        set(&mut i.email, &self.email);
        set(&mut i.email_verified, &self.email_verified);
        set(&mut i.status, &self.status);
        set(&mut i.description, &self.description);
        set(&mut i.max_sessions, &self.max_sessions);
        set(&mut i.home_dir, &self.home_dir);
        set(&mut i.uid, &self.uid);
        set(&mut i.gid, &self.gid);
        set(&mut i.quota_size, &self.quota_size);
        set(&mut i.quota_files, &self.quota_files);
        set(&mut i.upload_bandwidth, &self.upload_bandwidth);
        set(&mut i.download_bandwidth, &self.download_bandwidth);
        if let Some(d) = &self.expiration_date {
            i.expiration_date = Some(parse_date_ms("--expiration-date", d).map_err(invalid)?);
        }
        if let Some(r) = &self.roles {
            i.roles = Some(list_values(r));
        }
        self.filters_into(&mut i, current)?;
        self.permissions_into(&mut i, current)?;
        if let Some(v) = &self.virtual_folders {
            i.virtual_folders = Some(parse_virtual_folders(v).map_err(invalid)?);
        }
        self.filesystem_into(&mut i, current)?;
        Ok(i)
    }

    fn filters_into(&self, i: &mut UserInput, current: &UserObject) -> Result<(), CommandError> {
        let touched = self.allowed_ip.is_some()
            || self.denied_ip.is_some()
            || self.denied_login_methods.is_some()
            || self.allowed_extensions.is_some()
            || self.denied_extensions.is_some();
        if !touched {
            return Ok(());
        }
        let f = i.filters.get_or_insert_with(|| current.filters.clone());
        if let Some(v) = &self.allowed_ip {
            f.allowed_ip = list_values(v);
        }
        if let Some(v) = &self.denied_ip {
            f.denied_ip = list_values(v);
        }
        if let Some(v) = &self.denied_login_methods {
            f.denied_login_methods = list_values(v);
        }
        if self.allowed_extensions.is_some() || self.denied_extensions.is_some() {
            // What is not given stays: allowed from the current entries when only denied is.
            let keep = |allowed: bool| -> Vec<(String, Vec<String>)> {
                f.file_extensions
                    .iter()
                    .map(|e| {
                        let list = if allowed {
                            &e.allowed_extensions
                        } else {
                            &e.denied_extensions
                        };
                        (e.path.clone(), list.clone())
                    })
                    .filter(|(_, l)| !l.is_empty())
                    .collect()
            };
            let allowed = match &self.allowed_extensions {
                Some(v) => parse_extensions("--allowed-extensions", v).map_err(invalid)?,
                None => keep(true),
            };
            let denied = match &self.denied_extensions {
                Some(v) => parse_extensions("--denied-extensions", v).map_err(invalid)?,
                None => keep(false),
            };
            f.file_extensions = merge_extensions(allowed, denied);
        }
        Ok(())
    }

    fn permissions_into(
        &self,
        i: &mut UserInput,
        current: &UserObject,
    ) -> Result<(), CommandError> {
        if self.permissions.is_none() && self.subdirs_permissions.is_none() {
            return Ok(());
        }
        let map = i
            .permissions
            .get_or_insert_with(|| current.permissions.clone());
        if let Some(p) = &self.permissions {
            map.insert("/".to_string(), list_values(p));
        }
        if let Some(s) = &self.subdirs_permissions {
            map.retain(|k, _| k == "/");
            map.extend(parse_subdirs_permissions(s).map_err(invalid)?);
        }
        Ok(())
    }

    fn filesystem_into(&self, i: &mut UserInput, current: &UserObject) -> Result<(), CommandError> {
        let s3_given = [
            &self.s3_bucket,
            &self.s3_region,
            &self.s3_access_key,
            &self.s3_access_secret,
            &self.s3_endpoint,
            &self.s3_storage_class,
            &self.s3_key_prefix,
        ]
        .iter()
        .any(|v| v.is_some())
            || self.s3_upload_part_size.is_some()
            || self.s3_upload_concurrency.is_some();
        let gcs_given = [
            &self.gcs_bucket,
            &self.gcs_key_prefix,
            &self.gcs_storage_class,
            &self.gcs_credentials,
        ]
        .iter()
        .any(|v| v.is_some())
            || self.gcs_automatic_credentials.is_some();
        if self.fs.is_none() && !s3_given && !gcs_given {
            return Ok(());
        }
        let fs = i
            .filesystem
            .get_or_insert_with(|| current.filesystem.clone());
        if let Some(name) = &self.fs {
            fs.provider = provider_number(name).ok_or_else(|| {
                CommandError::invalid_field(
                    "--fs",
                    format!("unknown filesystem {name:?} (local, S3 or GCS)"),
                )
            })?;
        }
        let s3 = &mut fs.s3config;
        for (slot, given) in [
            (&mut s3.bucket, &self.s3_bucket),
            (&mut s3.region, &self.s3_region),
            (&mut s3.access_key, &self.s3_access_key),
            (&mut s3.access_secret, &self.s3_access_secret),
            (&mut s3.endpoint, &self.s3_endpoint),
            (&mut s3.storage_class, &self.s3_storage_class),
            (&mut s3.key_prefix, &self.s3_key_prefix),
        ] {
            set_value(slot, given);
        }
        set_value(&mut s3.upload_part_size, &self.s3_upload_part_size);
        set_value(&mut s3.upload_concurrency, &self.s3_upload_concurrency);
        let gcs = &mut fs.gcsconfig;
        for (slot, given) in [
            (&mut gcs.bucket, &self.gcs_bucket),
            (&mut gcs.key_prefix, &self.gcs_key_prefix),
            (&mut gcs.storage_class, &self.gcs_storage_class),
            (&mut gcs.credentials, &self.gcs_credentials),
        ] {
            set_value(slot, given);
        }
        set_value(
            &mut gcs.automatic_credentials,
            &self.gcs_automatic_credentials,
        );
        Ok(())
    }
}

fn set<T: Clone>(slot: &mut Option<T>, given: &Option<T>) {
    if let Some(v) = given {
        *slot = Some(v.clone());
    }
}

fn set_value<T: Clone>(slot: &mut T, given: &Option<T>) {
    if let Some(v) = given {
        *slot = v.clone();
    }
}
