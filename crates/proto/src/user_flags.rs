//! The command-line spellings of the user object's fields, as SFTPGo's REST client has them and
//! `keyward manage update-user` and `keyward api` take them: `/dir1::list,download`
//! (`--subdirs-permissions`), `/dir1::.jpg,.png` (`--allowed-extensions`),
//! `/vdir::/mapped/path` (`--virtual-folders`), `YYYY-MM-DD` dates. Each parser names its flag on
//! error; an empty value (`--allowed-ip ""`) means "none".

use std::collections::BTreeMap;

use crate::user::{ExtensionsFilter, VirtualFolder};
use crate::user_check::{FieldError, check_path, check_permission_list};

fn err(flag: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: flag.to_string(),
        message: message.into(),
    }
}

/// The values of a list flag without the empty ones (`--allowed-ip ""` clears the list).
pub fn list_values(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Splits `PATH::A,B` into the path and its comma-separated items.
fn path_and_items<'a>(flag: &str, value: &'a str) -> Result<(&'a str, Vec<String>), FieldError> {
    let (path, items) = value.split_once("::").ok_or_else(|| {
        err(
            flag,
            format!("{value:?} is not PATH::ITEM,ITEM (e.g. /dir1::list,download)"),
        )
    })?;
    check_path(flag, path)?;
    let items: Vec<String> = items
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(err(flag, format!("{value:?} names no items after ::")));
    }
    Ok((path, items))
}

/// `--subdirs-permissions "/dir1::list,download" "/dir2::*"`: permissions per subdirectory.
pub fn parse_subdirs_permissions(
    values: &[String],
) -> Result<BTreeMap<String, Vec<String>>, FieldError> {
    let flag = "--subdirs-permissions";
    let mut out = BTreeMap::new();
    for v in list_values(values) {
        let (path, perms) = path_and_items(flag, &v)?;
        if path == "/" {
            return Err(err(flag, "use --permissions for the home directory \"/\""));
        }
        check_permission_list(flag, &perms)?;
        out.insert(path.to_string(), perms);
    }
    Ok(out)
}

/// `--allowed-extensions` / `--denied-extensions "/dir1::.jpg,.png"`: (path, extensions) pairs.
pub fn parse_extensions(
    flag: &str,
    values: &[String],
) -> Result<Vec<(String, Vec<String>)>, FieldError> {
    let mut out = Vec::new();
    for v in list_values(values) {
        let (path, exts) = path_and_items(flag, &v)?;
        if let Some(bad) = exts.iter().find(|e| !e.starts_with('.') || e.len() < 2) {
            return Err(err(
                flag,
                format!("{bad:?} is not a file extension (e.g. .jpg)"),
            ));
        }
        out.push((path.to_string(), exts));
    }
    Ok(out)
}

/// Merges allowed and denied extensions into the object's `file_extensions` list (one entry per
/// path, in the order the paths first appear).
pub fn merge_extensions(
    allowed: Vec<(String, Vec<String>)>,
    denied: Vec<(String, Vec<String>)>,
) -> Vec<ExtensionsFilter> {
    let mut out: Vec<ExtensionsFilter> = Vec::new();
    let mut entry = |path: String| -> usize {
        match out.iter().position(|e| e.path == path) {
            Some(i) => i,
            None => {
                out.push(ExtensionsFilter {
                    path,
                    ..Default::default()
                });
                out.len() - 1
            }
        }
    };
    let mut idx = Vec::new();
    for (path, exts) in allowed {
        idx.push((entry(path), exts, true));
    }
    for (path, exts) in denied {
        idx.push((entry(path), exts, false));
    }
    for (i, exts, is_allowed) in idx {
        if let Some(e) = out.get_mut(i) {
            if is_allowed {
                e.allowed_extensions.extend(exts);
            } else {
                e.denied_extensions.extend(exts);
            }
        }
    }
    out
}

/// `--virtual-folders "/vdir1::/tmp/mapped1"`.
pub fn parse_virtual_folders(values: &[String]) -> Result<Vec<VirtualFolder>, FieldError> {
    let flag = "--virtual-folders";
    let mut out = Vec::new();
    for v in list_values(values) {
        let (virtual_path, mapped_path) = v.split_once("::").ok_or_else(|| {
            err(
                flag,
                format!("{v:?} is not VIRTUAL::MAPPED (e.g. /vdir1::/tmp/mapped1)"),
            )
        })?;
        check_path(flag, virtual_path)?;
        check_path(flag, mapped_path)?;
        out.push(VirtualFolder {
            virtual_path: virtual_path.to_string(),
            mapped_path: mapped_path.to_string(),
        });
    }
    Ok(out)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `--expiration-date YYYY-MM-DD` as epoch milliseconds at 00:00 UTC; `""` or `0` is 0 (never).
pub fn parse_date_ms(flag: &str, value: &str) -> Result<i64, FieldError> {
    let v = value.trim();
    if v.is_empty() || v == "0" {
        return Ok(0);
    }
    let bad = || err(flag, format!("{v:?} is not a date YYYY-MM-DD"));
    let parts: Vec<&str> = v.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let num = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|_| s.bytes().all(|b| b.is_ascii_digit()))
    };
    let (Some(y), Some(m), Some(d)) = (num(y), num(m), num(d)) else {
        return Err(bad());
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max = usize::try_from(m - 1)
        .ok()
        .and_then(|i| month_days.get(i))
        .copied()
        .ok_or_else(bad)?;
    if !(1..=max).contains(&d) || y < 1970 {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) * 86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date_ms("f", "1970-01-01"), Ok(0));
        assert_eq!(parse_date_ms("f", "2019-01-01"), Ok(1_546_300_800_000));
        assert_eq!(parse_date_ms("f", "2024-02-29"), Ok(1_709_164_800_000));
        assert_eq!(parse_date_ms("f", ""), Ok(0));
        for bad in [
            "2019-13-01",
            "2019-02-29",
            "19-01-01",
            "2019/01/01",
            "2019-1-1",
            "x",
        ] {
            assert!(parse_date_ms("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seed_spellings() {
        let p = parse_subdirs_permissions(&["/dir1::list,download".into(), "/dir2::*".into()])
            .unwrap_or_default();
        assert_eq!(p.get("/dir2"), Some(&vec!["*".to_string()]));
        assert!(parse_subdirs_permissions(&["/dir1:list".into()]).is_err());
        assert!(parse_subdirs_permissions(&["/dir1::fly".into()]).is_err());
        assert!(parse_subdirs_permissions(&["".into()]).is_ok_and(|m| m.is_empty()));
        let a = parse_extensions("--allowed-extensions", &["/dir1::.jpg,.png".into()])
            .unwrap_or_default();
        let d = parse_extensions(
            "--denied-extensions",
            &["/dir3::.zip".into(), "/dir1::.exe".into()],
        )
        .unwrap_or_default();
        let merged = merge_extensions(a, d);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].denied_extensions, vec![".exe".to_string()]);
        let v = parse_virtual_folders(&["/vdir1::/tmp/mapped1".into()]).unwrap_or_default();
        assert_eq!(v[0].mapped_path, "/tmp/mapped1");
        assert!(parse_virtual_folders(&["/vdir1".into()]).is_err());
    }
}
