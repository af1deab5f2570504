//! What a resolver is made of: its kind and settings, checked once when it is created (or
//! loaded from a dump), stored as JSON without the bind password, which is sealed under the
//! enckey (config-secrets slot) and bound to the resolver's name.

use std::time::Duration;

use keyward_core::aead;
use keyward_core::enckey::KeySlot;
use keyward_store::realms::ResolverRow;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::context::Ctx;
use crate::output::CommandError;

/// The built-in resolver of keyward's own users (no row in the `resolvers` table).
pub const INTERNAL: &str = "internal";

/// The stored password hash of a shadow user: no hash matches it, so only its resolver's check
/// (an LDAP bind, the passwd file) lets it in.
pub const SHADOW_PASSWORD_HASH: &str = "!resolver";

/// A resolver's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Internal,
    PasswdFile,
    Ldap,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind, CommandError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "internal" => Ok(Kind::Internal),
            "passwdfile" | "passwdidresolver" => Ok(Kind::PasswdFile),
            "ldap" | "ldapresolver" => Ok(Kind::Ldap),
            other => Err(CommandError::Invalid(format!(
                "unknown resolver type \"{}\" (known: passwdfile, ldap)",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Internal => "internal",
            Kind::PasswdFile => "passwdfile",
            Kind::Ldap => "ldap",
        }
    }
}

/// The settings of an LDAP resolver (field names also accept privacyIDEA's upper-case keys in a
/// JSON file). Times in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSettings {
    #[serde(alias = "LDAPURI")]
    pub uri: String,
    #[serde(alias = "START_TLS")]
    pub starttls: bool,
    /// Skip certificate verification (tests against self-signed servers only).
    pub no_tls_verify: bool,
    /// A PEM file (on the host keyward runs on) with the CA certificates that sign the
    /// directory's certificate: with it, these are the only CAs trusted for this resolver (not
    /// the system roots); empty: the system roots. Host names are verified either way.
    #[serde(alias = "CACERTIFICATE", alias = "TLS_CA_FILE")]
    pub tls_ca_file: String,
    #[serde(alias = "BINDDN")]
    pub bind_dn: String,
    #[serde(alias = "LDAPBASE")]
    pub base_dn: String,
    #[serde(alias = "LOGINNAMEATTRIBUTE")]
    pub login_attribute: String,
    #[serde(alias = "LDAPSEARCHFILTER")]
    pub search_filter: String,
    pub email_attribute: String,
    pub phone_attribute: String,
    pub name_attribute: String,
    /// Users matching this filter count as disabled (e.g. AD's
    /// `(userAccountControl:1.2.840.113556.1.4.803:=2)`); empty: none.
    pub disabled_filter: String,
    #[serde(alias = "TIMEOUT")]
    pub timeout_secs: u64,
    pub op_timeout_secs: u64,
    #[serde(alias = "SIZELIMIT")]
    pub size_limit: u32,
}

impl Default for LdapSettings {
    fn default() -> Self {
        LdapSettings {
            uri: String::new(),
            starttls: false,
            no_tls_verify: false,
            tls_ca_file: String::new(),
            bind_dn: String::new(),
            base_dn: String::new(),
            login_attribute: "uid".into(),
            search_filter: "(objectClass=*)".into(),
            email_attribute: "mail".into(),
            phone_attribute: "telephoneNumber".into(),
            name_attribute: "cn".into(),
            disabled_filter: String::new(),
            timeout_secs: 5,
            op_timeout_secs: 10,
            size_limit: 10_000,
        }
    }
}

impl LdapSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.clamp(1, 120))
    }

    pub fn op_timeout(&self) -> Duration {
        Duration::from_secs(self.op_timeout_secs.clamp(1, 600))
    }

    /// Refuses settings that cannot work.
    pub fn check(&self) -> Result<(), CommandError> {
        let bad = |m: &str| Err(CommandError::Invalid(m.to_string()));
        let uri = self.uri.to_ascii_lowercase();
        if !(uri.starts_with("ldap://") || uri.starts_with("ldaps://")) {
            return bad("uri: give ldap://HOST[:PORT] or ldaps://HOST[:PORT]");
        }
        if self.starttls && uri.starts_with("ldaps://") {
            return bad("starttls: not with ldaps:// (the connection is TLS already)");
        }
        if self.base_dn.trim().is_empty() {
            return bad("base_dn: required");
        }
        if !valid_attribute(&self.login_attribute) {
            return bad("login_attribute: not an attribute name");
        }
        for (name, a) in [
            ("email_attribute", &self.email_attribute),
            ("phone_attribute", &self.phone_attribute),
            ("name_attribute", &self.name_attribute),
        ] {
            if !a.is_empty() && !valid_attribute(a) {
                return Err(CommandError::Invalid(format!(
                    "{name}: not an attribute name"
                )));
            }
        }
        for (name, f) in [
            ("search_filter", &self.search_filter),
            ("disabled_filter", &self.disabled_filter),
        ] {
            let parenthesised = f.starts_with('(') && f.ends_with(')');
            if !f.is_empty() && !parenthesised {
                return Err(CommandError::Invalid(format!(
                    "{name}: an LDAP filter in parentheses, e.g. (objectClass=person)"
                )));
            }
        }
        if self.size_limit == 0 {
            return bad("size_limit: at least 1");
        }
        if !self.tls_ca_file.is_empty() {
            if self.no_tls_verify {
                return bad(
                    "tls_ca_file: not with no_tls_verify (a CA file is for verifying the server)",
                );
            }
            if !std::path::Path::new(&self.tls_ca_file).is_absolute() {
                // Every keyward process reads it, each from its own working directory.
                return bad("tls_ca_file: give an absolute path");
            }
            crate::tls_trust::read_ca_file(&self.tls_ca_file)
                .map_err(|e| CommandError::Invalid(format!("tls_ca_file: {e}")))?;
        }
        Ok(())
    }
}

fn valid_attribute(a: &str) -> bool {
    !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';')
}

/// The settings of a passwd-file resolver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswdSettings {
    #[serde(alias = "fileName", alias = "filename")]
    pub file: String,
}

/// A resolver, ready to use.
#[derive(Clone, Debug)]
pub enum Resolver {
    Internal,
    PasswdFile {
        name: String,
        settings: PasswdSettings,
    },
    Ldap {
        name: String,
        settings: Box<LdapSettings>,
        /// The opened bind password ("" for an anonymous search bind).
        bind_password: Zeroizing<String>,
    },
}

impl Resolver {
    pub fn name(&self) -> &str {
        match self {
            Resolver::Internal => INTERNAL,
            Resolver::PasswdFile { name, .. } | Resolver::Ldap { name, .. } => name,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Resolver::Internal => Kind::Internal,
            Resolver::PasswdFile { .. } => Kind::PasswdFile,
            Resolver::Ldap { .. } => Kind::Ldap,
        }
    }
}

/// Associated data binding a sealed bind password to its resolver.
fn bind_password_ad(name: &str) -> Vec<u8> {
    format!("resolver:{}:bind_password", name.to_lowercase()).into_bytes()
}

/// Seals a bind password ("" stays "").
pub async fn seal_bind_password(
    ctx: &Ctx,
    name: &str,
    password: &str,
) -> Result<String, CommandError> {
    if password.is_empty() {
        return Ok(String::new());
    }
    let key = ctx.shared.enckey().await?;
    aead::seal(
        key,
        KeySlot::ConfigSecrets,
        password.as_bytes(),
        &bind_password_ad(name),
    )
    .map_err(|e| CommandError::Internal(format!("cannot encrypt the bind password: {e}")))
}

/// Opens a stored resolver row into a usable resolver.
pub async fn open_resolver(ctx: &Ctx, row: &ResolverRow) -> Result<Resolver, CommandError> {
    let config = serde_json::Value::Object(row.config.clone());
    let corrupt =
        |e: serde_json::Error| CommandError::Internal(format!("resolver {}: {e}", row.name));
    match Kind::parse(&row.kind)? {
        Kind::Internal => Ok(Resolver::Internal),
        Kind::PasswdFile => Ok(Resolver::PasswdFile {
            name: row.name.clone(),
            settings: serde_json::from_value(config).map_err(corrupt)?,
        }),
        Kind::Ldap => {
            let bind_password = if row.bind_password_sealed.is_empty() {
                Zeroizing::new(String::new())
            } else {
                let key = ctx.shared.enckey().await?;
                let raw = aead::open(key, &row.bind_password_sealed, &bind_password_ad(&row.name))
                    .map_err(|e| {
                        CommandError::Internal(format!(
                            "cannot decrypt the bind password of resolver {}: {e}",
                            row.name
                        ))
                    })?;
                Zeroizing::new(String::from_utf8(raw).map_err(|_| {
                    CommandError::Internal(format!(
                        "resolver {}: the bind password is not UTF-8",
                        row.name
                    ))
                })?)
            };
            Ok(Resolver::Ldap {
                name: row.name.clone(),
                settings: Box::new(serde_json::from_value(config).map_err(corrupt)?),
                bind_password,
            })
        }
    }
}

/// A resolver by name (`internal` is built in).
pub async fn load_resolver(ctx: &Ctx, name: &str) -> Result<Resolver, CommandError> {
    if name.eq_ignore_ascii_case(INTERNAL) {
        return Ok(Resolver::Internal);
    }
    let row = ctx.store().get_resolver(name).await?.ok_or_else(|| {
        CommandError::NotFound(format!(
            "resolver \"{}\" is not configured",
            name.chars().take(64).collect::<String>()
        ))
    })?;
    open_resolver(ctx, &row).await
}

/// Checks a resolver or realm name: letters, digits, `-`, `_`, `.`; at most 64.
pub fn check_name(what: &str, name: &str) -> Result<String, CommandError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(CommandError::Invalid(format!(
            "{what} name: 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(name.to_ascii_lowercase())
}
