//! Recognising the scheme of a stored hash from its prefix (`$id$` of the Modular Crypt
//! Format, or the bare 13-character shape of DES crypt), without validating the rest.

use super::{crate_backed::ShaVariant, descrypt, md5crypt::Flavor, pbkdf2_mcf::Pbkdf2Kind};

/// The scheme a stored hash string claims to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scheme {
    /// `$argon2id$`
    Argon2id,
    /// `$argon2i$`
    Argon2i,
    /// `$argon2d$`
    Argon2d,
    /// `$y$`
    Yescrypt,
    /// `$6$` / `$5$`
    ShaCrypt(ShaVariant),
    /// `$1$` / `$apr1$`
    Md5Crypt(Flavor),
    /// `$2a$`, `$2b$`, `$2y$`
    Bcrypt,
    /// `$7$`
    Scrypt,
    /// `$pbkdf2-sha1$`, `$pbkdf2-sha256$`, `$pbkdf2-sha512$`, `$pbkdf2-b64salt-sha256$` (SFTPGo)
    Pbkdf2(Pbkdf2Kind),
    /// 13 characters of `[./0-9A-Za-z]`
    DesCrypt,
    /// A recognisable scheme this module does not verify (the string names it, e.g.
    /// `gost-yescrypt` or `$sha1$`).
    Unsupported(String),
    /// Not a password hash at all.
    Malformed,
}

impl Scheme {
    /// Classifies `stored` by its prefix alone.
    pub(super) fn detect(stored: &str) -> Scheme {
        let Some(rest) = stored.strip_prefix('$') else {
            return if descrypt::looks_like(stored) {
                Scheme::DesCrypt
            } else if stored.len() == 20 && stored.starts_with('_') {
                Scheme::Unsupported("bsdi-descrypt".to_string())
            } else {
                Scheme::Malformed
            };
        };
        // The identifier ends at the next `$` (or, for Solaris' `$md5,rounds=N$`, at a comma).
        let id = rest.split(['$', ',']).next().unwrap_or_default();
        match id {
            "argon2id" => Scheme::Argon2id,
            "argon2i" => Scheme::Argon2i,
            "argon2d" => Scheme::Argon2d,
            "y" => Scheme::Yescrypt,
            "gy" => Scheme::Unsupported("gost-yescrypt".to_string()),
            "6" => Scheme::ShaCrypt(ShaVariant::Sha512),
            "5" => Scheme::ShaCrypt(ShaVariant::Sha256),
            "1" => Scheme::Md5Crypt(Flavor::Md5Crypt),
            "apr1" => Scheme::Md5Crypt(Flavor::Apr1),
            "2a" | "2b" | "2y" => Scheme::Bcrypt,
            "7" => Scheme::Scrypt,
            "pbkdf2-sha1" | "pbkdf2-sha256" | "pbkdf2-sha512" | "pbkdf2-b64salt-sha256" => {
                Pbkdf2Kind::from_id(id).map_or(Scheme::Malformed, Scheme::Pbkdf2)
            }
            // Some other MCF identifier (`$2x$`, `$sha1$`, `$md5$`, `$3$`, ...).
            _ if Self::is_mcf_id(id) => Scheme::Unsupported(format!("${id}$")),
            _ => Scheme::Malformed,
        }
    }

    /// MCF identifiers are short runs of `[a-z0-9-]`.
    fn is_mcf_id(id: &str) -> bool {
        (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    }

    /// The public scheme name (see [`super::scheme_name`]).
    pub(super) fn name(&self) -> &'static str {
        match self {
            Scheme::Argon2id => "argon2id",
            Scheme::Argon2i => "argon2i",
            Scheme::Argon2d => "argon2d",
            Scheme::Yescrypt => "yescrypt",
            Scheme::ShaCrypt(ShaVariant::Sha512) => "sha512crypt",
            Scheme::ShaCrypt(ShaVariant::Sha256) => "sha256crypt",
            Scheme::Md5Crypt(Flavor::Md5Crypt) => "md5crypt",
            Scheme::Md5Crypt(Flavor::Apr1) => "apr1",
            Scheme::Bcrypt => "bcrypt",
            Scheme::Scrypt => "scrypt",
            Scheme::DesCrypt => "descrypt",
            Scheme::Pbkdf2(kind) => kind.name(),
            Scheme::Unsupported(_) | Scheme::Malformed => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let cases = [
            ("$argon2id$v=19$m=1", "argon2id"),
            ("$argon2i$v=19$", "argon2i"),
            ("$argon2d$", "argon2d"),
            ("$y$j9T$a$b", "yescrypt"),
            ("$gy$j9T$a$b", "unknown"),
            ("$6$salt$hash", "sha512crypt"),
            ("$6$rounds=5000$salt$hash", "sha512crypt"),
            ("$5$salt$hash", "sha256crypt"),
            ("$1$salt$hash", "md5crypt"),
            ("$apr1$salt$hash", "apr1"),
            ("$2a$05$x", "bcrypt"),
            ("$2b$05$x", "bcrypt"),
            ("$2y$05$x", "bcrypt"),
            ("$2x$05$x", "unknown"),
            ("$7$CU..../....", "scrypt"),
            ("$pbkdf2-sha1$1$s$k", "pbkdf2-sha1"),
            ("$pbkdf2-sha256$1$s$k", "pbkdf2-sha256"),
            ("$pbkdf2-sha512$1$s$k", "pbkdf2-sha512"),
            ("$pbkdf2-b64salt-sha256$1$s$k", "pbkdf2-b64salt-sha256"),
            ("$pbkdf2-md5$1$s$k", "unknown"),
            ("YAvYIDlgIr4vs", "descrypt"),
            ("YAvYIDlgIr4v", "unknown"),
            ("", "unknown"),
            ("$", "unknown"),
            ("!$6$salt$hash", "unknown"),
            ("*", "unknown"),
        ];
        for (stored, name) in cases {
            assert_eq!(Scheme::detect(stored).name(), name, "{stored}");
        }
    }

    #[test]
    fn unsupported_versus_malformed() {
        assert_eq!(
            Scheme::detect("$gy$j9T$a$b"),
            Scheme::Unsupported("gost-yescrypt".to_string())
        );
        assert_eq!(
            Scheme::detect("$sha1$40000$salt$hash"),
            Scheme::Unsupported("$sha1$".to_string())
        );
        assert_eq!(
            Scheme::detect("_J9..CCCCXBrJUJV154M"),
            Scheme::Unsupported("bsdi-descrypt".to_string())
        );
        assert_eq!(Scheme::detect("$$"), Scheme::Malformed);
        assert_eq!(Scheme::detect("$Ü$x"), Scheme::Malformed);
        assert_eq!(Scheme::detect("plain text"), Scheme::Malformed);
    }
}
