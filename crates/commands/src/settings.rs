//! The TOML configuration file. Every key is declared once below — type, default and doc — and
//! the macro derives the struct, its defaults, and the `KEYWARD_<KEY>` environment overrides
//! (environment wins over the file). Unknown keys in the file are an error, to catch typos, and
//! so is a value that parses but cannot work (a log filter, an address, a CIDR): every such
//! error names the key, and for the file its line.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Problems reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("invalid config file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("invalid config file {path}, line {line}: {key}: {reason}")]
    Value {
        path: String,
        line: usize,
        key: String,
        reason: String,
    },
    #[error("invalid setting {key}: {reason}")]
    Setting { key: String, reason: String },
    #[error("invalid value for environment variable {var}: {reason}")]
    Env { var: String, reason: String },
}

/// How a setting's type is read from an environment variable.
trait EnvValue: Sized {
    fn parse_env(s: &str) -> Result<Self, String>;
}

impl EnvValue for String {
    fn parse_env(s: &str) -> Result<Self, String> {
        Ok(s.to_string())
    }
}

impl EnvValue for Option<String> {
    fn parse_env(s: &str) -> Result<Self, String> {
        Ok(if s.is_empty() {
            None
        } else {
            Some(s.to_string())
        })
    }
}

impl EnvValue for u64 {
    fn parse_env(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a non-negative integer"))
    }
}

impl EnvValue for u32 {
    fn parse_env(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a non-negative integer"))
    }
}

impl EnvValue for bool {
    fn parse_env(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(format!("{s:?} is not a boolean")),
        }
    }
}

impl EnvValue for Vec<String> {
    fn parse_env(s: &str) -> Result<Self, String> {
        Ok(s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect())
    }
}

macro_rules! settings {
    ($( $(#[doc = $doc:literal])+ $name:ident : $ty:ty = $default:expr ;)*) => {
        /// The whole configuration (see the field docs, or `keyward manage config keys`).
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Settings {
            $( $(#[doc = $doc])+ pub $name: $ty, )*
            /// The file these settings were read from (not a setting: set by `load`).
            #[serde(skip)]
            pub config_file: Option<PathBuf>,
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings { $( $name: $default, )* config_file: None }
            }
        }

        impl Settings {
            /// Every key with its documentation, in declaration order.
            pub const KEYS: &'static [(&'static str, &'static str)] =
                &[ $( (stringify!($name), concat!($($doc),+)) ),* ];

            fn apply_env_value(&mut self, key: &str, value: &str) -> Result<(), String> {
                match key {
                    $( stringify!($name) => { self.$name = EnvValue::parse_env(value)?; Ok(()) } )*
                    _ => Ok(()),
                }
            }
        }
    };
}

settings! {
    /// Directory for the embedded database, the enckey and the server keys.
    data_dir: String = "./keyward-data".into();
    /// `sqlite:PATH` or `postgres://user@host/db`; default: SQLite file `keyward.db` in data_dir.
    database_url: Option<String> = None;
    /// Maximum pooled database connections.
    db_max_connections: u32 = 8;
    /// Path of the encryption key file; default: `enckey` in data_dir.
    enckey_file: Option<String> = None;
    /// Address the HTTP server listens on.
    listen: String = "127.0.0.1:8080".into();
    /// PEM certificate chain for TLS (with tls_key_file); plain HTTP when unset.
    tls_cert_file: Option<String> = None;
    /// PEM private key for TLS.
    tls_key_file: Option<String> = None;
    /// Lifetime of login sessions in seconds.
    session_ttl: u64 = 43_200;
    /// Shared key for POST /server/management-command/; the endpoint is off when unset.
    management_command_access_key: Option<String> = None;
    /// Commands allowed over the management endpoint (empty: all).
    management_commands: Vec<String> = Vec::new();
    /// The realm name of keyward's internal users while no realm is defined (`config realm
    /// create`): `user@REALM` names a user only with this realm (any other suffix is an unknown
    /// realm, never silently dropped). Once realms exist, they decide.
    default_realm: String = "keyward".into();
    /// URL (ldap:// or ldaps://) of the LDAP gateway `testldapgateway` checks, with the
    /// settings of the LDAP resolver it picks.
    ldap_gateway_url: Option<String> = None;
    /// Server secret (hex); generated into data_dir/server-keys.toml when unset.
    secret_key: Option<String> = None;
    /// Ed25519 seed (base64) signing audit entries; generated like secret_key when unset.
    audit_signing_key: Option<String> = None;
    /// Name of this node's audit chain; default: the host name.
    node_id: Option<String> = None;
    /// Argon2id memory cost in KiB for new password hashes.
    argon2_memory_kib: u32 = 19_456;
    /// Argon2id iterations for new password hashes.
    argon2_iterations: u32 = 2;
    /// Argon2id parallelism for new password hashes.
    argon2_parallelism: u32 = 1;
    /// Password/PIN hash evaluations allowed at once (0: one per CPU); each takes
    /// argon2_memory_kib, so this bounds their memory.
    password_hash_concurrency: u32 = 0;
    /// Requests that may wait for a free hashing slot; beyond them the server answers 503.
    password_hash_queue: u32 = 32;
    /// Longest wait in that queue in milliseconds, then 503 with Retry-After.
    password_hash_queue_ms: u64 = 2_000;
    /// Largest accepted HTTP request body in bytes.
    max_body_bytes: u64 = 1_048_576;
    /// Reverse proxies (CIDRs) whose `X-Forwarded-For` / `Forwarded` headers name the client
    /// address (right-most untrusted hop); empty: the TCP peer is the client.
    trusted_proxies: Vec<String> = Vec::new();
    /// Seconds a client gets to send a request's headers (and the TLS handshake); also how
    /// long an idle keep-alive connection is kept. Slower connections are closed.
    header_read_timeout_secs: u64 = 10;
    /// Seconds a client gets to send a whole request body, counted from its headers.
    body_read_timeout_secs: u64 = 30;
    /// Most client connections served at once; further ones are accepted and closed at once.
    /// Lowered to fit the open-file limit when that is smaller.
    max_connections: u32 = 1024;
    /// Log filter (tracing syntax), e.g. `info` or `keyward=debug`.
    log_level: String = "info".into();
    /// Log line format: `text` (readable) or `json` (one JSON object a line, for log shippers).
    log_format: String = "text".into();
    /// Shortest accepted new password, in characters (every way a password is set).
    password_min_length: u32 = 8;
    /// Directory where `dumpdata` / `loaddata` run by the REST API or the management endpoint
    /// write and read dump files (names given there must stay inside it); default:
    /// `backups` in data_dir. Local `keyward manage` runs take any path.
    backups_path: Option<String> = None;
    /// SMTP server for mail (`sendtestmail`, e-mail tokens); mail is off when unset.
    smtp_host: Option<String> = None;
    /// SMTP port; 0: the security's usual port (25 none, 587 starttls, 465 tls).
    smtp_port: u32 = 0;
    /// SMTP transport security: `none`, `starttls` (required, not opportunistic) or `tls`.
    smtp_security: String = "starttls".into();
    /// PEM file of the CA certificates trusted for the SMTP server's certificate (STARTTLS and
    /// tls), instead of the built-in webpki roots; unset: those roots. The host name is checked
    /// either way.
    smtp_tls_ca_file: Option<String> = None;
    /// SMTP user name; no authentication when unset.
    smtp_user: Option<String> = None;
    /// SMTP password sealed with the enckey (the output of `setup seal_smtp_password`).
    smtp_password_sealed: Option<String> = None;
    /// SMTP password in plain text, for the environment only (`KEYWARD_SMTP_PASSWORD`);
    /// refused in the config file, which takes `smtp_password_sealed`.
    smtp_password: Option<String> = None;
    /// Sender address of keyward's mail.
    smtp_from: String = "keyward@localhost".into();
    /// Seconds for connecting to the SMTP server and for each SMTP command.
    smtp_timeout_secs: u64 = 10;
    /// SMS gateway URL (may contain `{phone}` and `{otp}`, URL-encoded); SMS is off when unset.
    sms_gateway_url: Option<String> = None;
    /// SMS gateway HTTP method: `GET` or `POST`.
    sms_gateway_method: String = "POST".into();
    /// SMS gateway request body for POST, with `{phone}` and `{otp}` (escaped for the content type).
    sms_gateway_body: String = "phone={phone}&text={otp}".into();
    /// Content-Type of the SMS gateway request body.
    sms_gateway_content_type: String = "application/x-www-form-urlencoded".into();
    /// HTTP status the SMS gateway answers on success.
    sms_gateway_success_status: u32 = 200;
    /// Seconds for the whole SMS gateway request.
    sms_gateway_timeout_secs: u64 = 10;
    /// Seconds an OTP sent by e-mail or SMS can be used.
    otp_delivery_validity_secs: u64 = 300;
    /// Most OTPs sent for one e-mail/SMS token within `otp_delivery_window_secs`.
    otp_delivery_max_sends: u32 = 5;
    /// The window of `otp_delivery_max_sends`, in seconds.
    otp_delivery_window_secs: u64 = 900;
    /// The URL clients and fileserver cluster members reach this server at (printed by
    /// `fsclustershowconfig`); default: built from `listen` (https with tls_cert_file).
    public_url: Option<String> = None;
    /// Seconds a fileserver cluster member stays listed after its last accepted announcement.
    fileserver_member_ttl_secs: u64 = 120;
    /// Largest difference in seconds between an announcement's timestamp and the server's
    /// clock; older (or later) announcements are refused as stale.
    fileserver_announce_window_secs: u64 = 60;
    /// The SAML identity provider's metadata, a file path or an http(s) URL (`testsaml`).
    saml_idp_metadata: Option<String> = None;
    /// The IdP entity id `testsaml` expects in that metadata (any when unset).
    saml_idp_entity_id: Option<String> = None;
}

impl Settings {
    /// Reads `path` (when given) and applies `KEYWARD_*` variables from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let mut settings = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| SettingsError::Read {
                    path: p.display().to_string(),
                    reason: e.to_string(),
                })?;
                let parsed: Settings =
                    toml::from_str(&text).map_err(|e| toml_error(p, &text, &e))?;
                if parsed.smtp_password.is_some() {
                    return Err(SettingsError::Value {
                        path: p.display().to_string(),
                        line: key_line(&text, "smtp_password").unwrap_or(0),
                        key: "smtp_password".into(),
                        reason: "a plain password does not belong in the file: put the output \
                                 of `setup seal_smtp_password` in smtp_password_sealed, or set \
                                 KEYWARD_SMTP_PASSWORD"
                            .into(),
                    });
                }
                if let Err((key, reason)) = parsed.check() {
                    return Err(match key_line(&text, key) {
                        Some(line) => SettingsError::Value {
                            path: p.display().to_string(),
                            line,
                            key: key.to_string(),
                            reason,
                        },
                        None => SettingsError::Setting {
                            key: key.to_string(),
                            reason,
                        },
                    });
                }
                parsed
            }
            None => Settings::default(),
        };
        for (var, value) in env {
            let Some(key) = var.strip_prefix("KEYWARD_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            settings
                .apply_env_value(&key, &value)
                .map_err(|reason| SettingsError::Env {
                    var: var.clone(),
                    reason,
                })?;
            if let Err((bad, reason)) = settings.check()
                && bad == key
            {
                return Err(SettingsError::Env { var, reason });
            }
        }
        settings
            .check()
            .map_err(|(key, reason)| SettingsError::Setting {
                key: key.to_string(),
                reason,
            })?;
        settings.config_file = path.map(Path::to_path_buf);
        Ok(settings)
    }

    /// Checks the values that parse but could not work; names the first bad key.
    fn check(&self) -> Result<(), (&'static str, String)> {
        check_log_filter(&self.log_level).map_err(|r| ("log_level", r))?;
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err((
                "log_format",
                format!("must be \"text\" or \"json\", not {:?}", self.log_format),
            ));
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err()
            && !self
                .listen
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        {
            return Err(("listen", "expected HOST:PORT, e.g. 127.0.0.1:8080".into()));
        }
        keyward_core::user::parse_networks(&self.trusted_proxies)
            .map_err(|e| ("trusted_proxies", e.to_string()))?;
        for (key, value) in [
            ("argon2_memory_kib", self.argon2_memory_kib),
            ("argon2_iterations", self.argon2_iterations),
            ("argon2_parallelism", self.argon2_parallelism),
            ("db_max_connections", self.db_max_connections),
        ] {
            if value == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if !matches!(self.smtp_security.as_str(), "none" | "starttls" | "tls") {
            return Err((
                "smtp_security",
                "must be \"none\", \"starttls\" or \"tls\"".into(),
            ));
        }
        if let Some(path) = self.smtp_tls_ca_file.as_deref().filter(|p| !p.is_empty()) {
            crate::tls_trust::read_ca_file(path).map_err(|e| ("smtp_tls_ca_file", e))?;
        }
        if self.smtp_port > 65_535 {
            return Err(("smtp_port", "must be a port number (0-65535)".into()));
        }
        if !matches!(self.sms_gateway_method.as_str(), "GET" | "POST") {
            return Err(("sms_gateway_method", "must be \"GET\" or \"POST\"".into()));
        }
        if !(100..=599).contains(&self.sms_gateway_success_status) {
            return Err((
                "sms_gateway_success_status",
                "must be an HTTP status (100-599)".into(),
            ));
        }
        for (key, value) in [
            ("smtp_timeout_secs", self.smtp_timeout_secs),
            ("sms_gateway_timeout_secs", self.sms_gateway_timeout_secs),
            (
                "otp_delivery_validity_secs",
                self.otp_delivery_validity_secs,
            ),
            ("otp_delivery_window_secs", self.otp_delivery_window_secs),
        ] {
            if !(1..=86_400).contains(&value) {
                return Err((key, "must be between 1 and 86400 seconds".into()));
            }
        }
        if !(1..=1024).contains(&self.password_min_length) {
            return Err(("password_min_length", "must be between 1 and 1024".into()));
        }
        Ok(())
    }

    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.data_dir)
    }

    /// The database URL in force (explicit, or the embedded default).
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir().join("keyward.db").display()),
        }
    }

    /// Whether the database is the embedded default inside data_dir.
    pub fn uses_default_database(&self) -> bool {
        self.database_url.is_none()
    }

    /// The directory of dump files named by remote callers (see `backups_path`).
    pub fn backups_dir(&self) -> PathBuf {
        match &self.backups_path {
            Some(p) => PathBuf::from(p),
            None => self.data_dir().join("backups"),
        }
    }

    pub fn enckey_path(&self) -> PathBuf {
        match &self.enckey_file {
            Some(p) => PathBuf::from(p),
            None => self.data_dir().join("enckey"),
        }
    }

    pub fn server_keys_path(&self) -> PathBuf {
        self.data_dir().join("server-keys.toml")
    }

    pub fn argon2_params(&self) -> keyward_core::password::Argon2Params {
        keyward_core::password::Argon2Params {
            m_cost_kib: self.argon2_memory_kib,
            t_cost: self.argon2_iterations,
            p_cost: self.argon2_parallelism,
        }
    }
}

/// A TOML error with its line and key, without echoing the line (it may hold a secret).
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> SettingsError {
    let path = path.display().to_string();
    let Some(span) = e.span() else {
        return SettingsError::Parse {
            path,
            reason: e.message().to_string(),
        };
    };
    let start = span.start.min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && !k.starts_with('#'));
    match key {
        Some(key) => SettingsError::Value {
            path,
            line,
            key,
            reason: e.message().to_string(),
        },
        None => SettingsError::Parse {
            path,
            reason: format!("line {line}: {}", e.message()),
        },
    }
}

/// The line where `key` is set in a TOML text (top-level `key = …`).
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// Checks a tracing filter (`info`, `keyward=debug,sqlx=warn`): every directive is a level, or
/// `TARGET=LEVEL`. tracing would read a misspelt level as a target name and log nothing.
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |s: &str| LEVELS.contains(&s.trim().to_ascii_lowercase().as_str());
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some((target, level)) if !target.trim().is_empty() => level,
            Some(_) => "",
            None => directive,
        };
        if !is_level(level) {
            return Err(format!(
                "{directive:?} is not a log filter directive: use a level ({}) or TARGET=LEVEL",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_use_the_embedded_database() {
        let s = Settings::load(None, env(&[])).unwrap();
        assert_eq!(s.database_url(), "sqlite://./keyward-data/keyward.db");
        assert_eq!(s.listen, "127.0.0.1:8080");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, "listen = \"0.0.0.0:1\"\nsession_ttl = 60\n").unwrap();
        let s = Settings::load(
            Some(&path),
            env(&[
                ("KEYWARD_SESSION_TTL", "120"),
                ("KEYWARD_MANAGEMENT_COMMANDS", "a, b"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen, "0.0.0.0:1");
        assert_eq!(s.session_ttl, 120);
        assert_eq!(s.management_commands, vec!["a", "b"]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        assert!(matches!(
            Settings::load(Some(&path), env(&[])),
            Err(SettingsError::Value { line: 1, ref key, .. }) if key == "lisen"
        ));
        assert!(matches!(
            Settings::load(None, env(&[("KEYWARD_SESSION_TTL", "soon")])),
            Err(SettingsError::Env { .. })
        ));
    }

    #[test]
    fn bad_values_name_their_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlog_level = \"loud\"\n").unwrap();
        let e = Settings::load(Some(&path), env(&[]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 2: log_level"), "{e}");
        std::fs::write(&path, "\nsession_ttl = \"soon\"\n").unwrap();
        let e = Settings::load(Some(&path), env(&[]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 2: session_ttl"), "{e}");
        let e = Settings::load(None, env(&[("KEYWARD_LOG_LEVEL", "verbose")]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("KEYWARD_LOG_LEVEL"), "{e}");
        for ok in ["info", "keyward=debug,sqlx=warn", "WARN", ""] {
            assert!(check_log_filter(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn every_key_is_documented() {
        assert!(Settings::KEYS.iter().all(|(_, doc)| !doc.trim().is_empty()));
    }
}
