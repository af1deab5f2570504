//! Value parsers for `keyward api` flags: each checks one value with the rules the server
//! applies (`keyward_proto::user_check`, `keyward_proto::user_flags`) before any request is
//! sent, so a wrong value exits 2 with clap's message naming the flag ("invalid value 'x' for
//! '--allowed-ip <CIDR>...': …").

use keyward_proto::user_check::{LOGIN_METHODS, PERMISSIONS, check_cidr};
use keyward_proto::user_flags;

/// A count or size that cannot be negative (quota, sessions, bandwidth, uid, gid).
pub fn non_negative(raw: &str) -> Result<i64, String> {
    let n: i64 = raw
        .trim()
        .parse()
        .map_err(|_| "not a whole number".to_string())?;
    if n < 0 {
        return Err("must be 0 or more".to_string());
    }
    Ok(n)
}

/// A permission name, or `""` (none).
pub fn permission(raw: &str) -> Result<String, String> {
    if raw.is_empty() || PERMISSIONS.contains(&raw) {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "unknown permission (one of: {})",
            PERMISSIONS.join(", ")
        ))
    }
}

/// A network in CIDR notation (`192.168.1.0/24`, `2001:db8::/32`), or `""` (clears the list).
pub fn cidr(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    check_cidr("", raw)
        .map(|()| raw.to_string())
        .map_err(|_| "not a network in CIDR notation, e.g. 192.168.1.0/24".to_string())
}

/// `YYYY-MM-DD` (the day starts at 00:00 UTC), or `""` (no expiration). Returns epoch ms, 0 for none.
pub fn date_ms(raw: &str) -> Result<i64, String> {
    user_flags::parse_date_ms("", raw).map_err(|e| e.message)
}

/// `--subdirs-permissions "/dir1::list,download"`, or `""`.
pub fn subdir_permissions(raw: &str) -> Result<String, String> {
    user_flags::parse_subdirs_permissions(&[raw.to_string()])
        .map(|_| raw.to_string())
        .map_err(|e| e.message)
}

/// `--allowed-extensions` / `--denied-extensions "/dir1::.jpg,.png"`, or `""`.
pub fn extensions(raw: &str) -> Result<String, String> {
    user_flags::parse_extensions("", &[raw.to_string()])
        .map(|_| raw.to_string())
        .map_err(|e| e.message)
}

/// `--virtual-folders "/vdir1::/tmp/mapped1"`, or `""`.
pub fn virtual_folder(raw: &str) -> Result<String, String> {
    user_flags::parse_virtual_folders(&[raw.to_string()])
        .map(|_| raw.to_string())
        .map_err(|e| e.message)
}

/// A login method name, or `""` (none denied).
pub fn login_method(raw: &str) -> Result<String, String> {
    if raw.is_empty() || LOGIN_METHODS.contains(&raw) {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "unknown login method (one of: {})",
            LOGIN_METHODS.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert_eq!(non_negative("3"), Ok(3));
        assert!(non_negative("-1").is_err());
        assert!(permission("list").is_ok() && permission("fly").is_err());
        assert!(cidr("192.168.1.1/32").is_ok() && cidr("").is_ok());
        assert!(cidr("192.168.1.300/32").is_err() && cidr("10.0.0.1").is_err());
        assert_eq!(date_ms("2019-01-01"), Ok(1_546_300_800_000));
        assert_eq!(date_ms(""), Ok(0));
        assert!(date_ms("01/01/2019").is_err() && date_ms("2019-13-01").is_err());
        assert!(subdir_permissions("/dir1::list,download").is_ok());
        for bad in [
            "/dir1:list",
            "dir1::list",
            "/dir1::",
            "/dir1::fly",
            "/::list",
        ] {
            assert!(subdir_permissions(bad).is_err(), "{bad}");
        }
        assert!(extensions("/dir1::.jpg,.png").is_ok() && extensions("/d::jpg").is_err());
        assert!(virtual_folder("/vdir1::/tmp/mapped1").is_ok());
        assert!(virtual_folder("/vdir1:/tmp").is_err());
    }
}
