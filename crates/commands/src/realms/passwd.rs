//! The passwd-file resolver: a read-only file in `/etc/passwd` format
//! (`name:hash:uid:gid:gecos:home:shell`). The hash field, when it holds a hash, is checked with
//! keyward-core's verifiers (crypt family, argon2, bcrypt…); `x`, `*`, `!…` or empty means no
//! password here, so such users cannot log in through this resolver. GECOS is
//! `full name,room,work phone,home phone,other` (`other` is read as the email when it has `@`).

use std::io::Read;

use super::definition::PasswdSettings;
use crate::output::CommandError;

/// Largest passwd file read (a bound on memory and time).
const MAX_FILE_BYTES: u64 = 16 << 20;

/// One user of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswdUser {
    pub login: String,
    pub uid: String,
    /// The hash field, `None` when it holds no usable hash.
    pub hash: Option<String>,
    pub name: String,
    pub phone: String,
    pub email: String,
}

/// Reads and parses the file (blocking IO off the runtime's threads).
pub async fn read_users(settings: &PasswdSettings) -> Result<Vec<PasswdUser>, CommandError> {
    let path = settings.file.clone();
    tokio::task::spawn_blocking(move || read_file(&path))
        .await
        .map_err(|e| CommandError::Internal(format!("passwd file reader: {e}")))?
}

fn read_file(path: &str) -> Result<Vec<PasswdUser>, CommandError> {
    let fail = |e: std::io::Error| CommandError::Unavailable(format!("cannot read {path}: {e}"));
    let file = std::fs::File::open(path).map_err(fail)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(fail)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(CommandError::Invalid(format!(
            "{path} is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(parse(&text))
}

/// Parses passwd lines; comments, blank and malformed lines are skipped.
pub fn parse(text: &str) -> Vec<PasswdUser> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 || f[0].is_empty() {
                return None;
            }
            let hash = match f[1] {
                "" | "x" | "*" => None,
                h if h.starts_with('!') => None,
                h => Some(h.to_string()),
            };
            let gecos: Vec<&str> = f[4].split(',').collect();
            let field = |i: usize| {
                gecos
                    .get(i)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            };
            let other = field(4);
            Some(PasswdUser {
                login: f[0].to_string(),
                uid: f[2].to_string(),
                hash,
                name: field(0),
                phone: field(2),
                email: if other.contains('@') {
                    other
                } else {
                    String::new()
                },
            })
        })
        .collect()
}

/// Whether a name matches a pattern with `*` wildcards (case-insensitively).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    // Iterative matching with backtracking to the last star.
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_lines() {
        let users = parse(
            "# comment\nroot:x:0:0:root:/root:/bin/bash\n\
             dave:$6$salt$hash:1001:1001:Dave Doe,12,555-1234,,dave@example.org:/home/dave:/bin/sh\n\
             broken line\n",
        );
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].hash, None);
        assert_eq!(users[1].login, "dave");
        assert_eq!(users[1].hash.as_deref(), Some("$6$salt$hash"));
        assert_eq!(users[1].name, "Dave Doe");
        assert_eq!(users[1].phone, "555-1234");
        assert_eq!(users[1].email, "dave@example.org");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "alice"));
        assert!(wildcard_match("a*e", "Alice"));
        assert!(wildcard_match("*li*", "alice"));
        assert!(!wildcard_match("b*", "alice"));
        assert!(!wildcard_match("alic", "alice"));
    }
}
