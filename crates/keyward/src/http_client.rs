//! The HTTP client shared by `keyward api` and `keyward manage --remote`: TLS trust (`--cacert`,
//! `SSL_CERT_FILE`, `-i/--insecure` with a loud warning), a timeout, and connection failures
//! explained in plain words (refused, TLS verification, timeout, unknown host) — reqwest's own
//! "builder error" / "error sending request" never reach a user.

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

/// TLS and timeout options of every command that talks to a server.
#[derive(Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// Trust the CA certificate(s) in this PEM file (instead of the built-in roots); also
    /// SSL_CERT_FILE.
    #[arg(long, value_name = "FILE", global = true)]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (test servers only: anyone on the path can
    /// read and change the traffic, credentials included).
    #[arg(short = 'i', long, global = true)]
    pub insecure: bool,
    /// Seconds to wait for the server (connect and answer).
    #[arg(long, value_name = "SECS", default_value_t = 30, global = true)]
    pub timeout: u64,
}

/// The loud warning printed once when `--insecure` is used.
pub const INSECURE_WARNING: &str = "WARNING: --insecure: the server's TLS certificate is NOT verified; \
anyone between you and the server can read and change this traffic, credentials included. \
Use --cacert FILE with the server's CA instead.";

/// Builds the client. Errors are one plain sentence naming the option or file at fault.
pub fn build(tls: &TlsArgs) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(tls.timeout.max(1)))
        .connect_timeout(Duration::from_secs(tls.timeout.clamp(1, 30)))
        .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")));
    if tls.insecure {
        eprintln!("{INSECURE_WARNING}");
        builder = builder.danger_accept_invalid_certs(true);
    } else {
        let from_env = std::env::var_os("SSL_CERT_FILE")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let (file, origin) = match (&tls.cacert, from_env) {
            (Some(f), _) => (Some(f.clone()), "--cacert"),
            (None, Some(f)) => (Some(f), "SSL_CERT_FILE"),
            (None, None) => (None, ""),
        };
        if let Some(file) = file {
            for cert in read_certificates(&file, origin)? {
                builder = builder.add_root_certificate(cert);
            }
            builder = builder.tls_built_in_root_certs(false);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", chain(&e)))
}

fn read_certificates(file: &Path, origin: &str) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(file)
        .map_err(|e| format!("{origin}: cannot read {}: {e}", file.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default();
    if certs.is_empty() {
        return Err(format!(
            "{origin}: {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            file.display()
        ));
    }
    Ok(certs)
}

/// Checks a base URL before any request: http(s) with a host.
pub fn parse_base_url(raw: &str, flag: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| format!("{flag}: {raw:?} is not a URL ({e}); e.g. http://127.0.0.1:8080"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "{flag}: {raw:?} must be an http:// or https:// URL with a host"
        ));
    }
    Ok(url)
}

/// Why a request to `url` failed, in plain words.
pub fn explain(err: &reqwest::Error, url: &str) -> String {
    let host = reqwest::Url::parse(url)
        .ok()
        .map(|u| match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => url.to_string(),
        })
        .unwrap_or_else(|| url.to_string());
    if let Some(tls) = tls_cause(err) {
        return tls;
    }
    if err.is_timeout() {
        return format!("timed out waiting for {host} ({url}); see --timeout");
    }
    if let Some(io) = io_cause(err) {
        use std::io::ErrorKind;
        match io.kind() {
            ErrorKind::ConnectionRefused => {
                return format!(
                    "connection refused by {host}: nothing listens there (is `keyward serve` running, and is the URL right?)"
                );
            }
            ErrorKind::TimedOut => {
                return format!("timed out connecting to {host}; see --timeout");
            }
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                return format!(
                    "{host} closed the connection (an https:// server reached with http://, or a proxy in the way?)"
                );
            }
            _ => {}
        }
    }
    let text = chain(err);
    if text.contains("dns error") || text.contains("failed to lookup address") {
        return format!("cannot resolve the host name of {url}");
    }
    if text.contains("invalid HTTP version") || text.contains("InvalidContentType") {
        return format!(
            "{host} does not speak this protocol: an http:// URL for a TLS server or https:// for a plain one?"
        );
    }
    if err.is_connect() {
        return format!("cannot connect to {host}: {text}");
    }
    format!("request to {url} failed: {text}")
}

/// The first I/O error in the chain.
fn io_cause(err: &reqwest::Error) -> Option<&std::io::Error> {
    let mut source = err.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = e.source();
    }
    None
}

/// A TLS verification failure, explained from rustls's words in the error chain (reqwest wraps
/// them in types that cannot be downcast from here).
fn tls_cause(err: &reqwest::Error) -> Option<String> {
    let text = chain(err);
    let at = text.find("invalid peer certificate")?;
    let detail = &text[at..];
    let why = if detail.contains("UnknownIssuer") {
        UNKNOWN_ISSUER.to_string()
    } else if detail.contains("NotValidForName") {
        NOT_FOR_NAME.to_string()
    } else if detail.contains("Expired") {
        "the server's certificate has expired".to_string()
    } else if detail.contains("CaUsedAsEndEntity") {
        "the server presents a CA certificate as its own; give it a certificate signed by that CA"
            .to_string()
    } else {
        format!("the server's certificate was rejected ({detail})")
    };
    Some(format!("TLS verification failed: {why}"))
}

const UNKNOWN_ISSUER: &str = "the server's certificate is not signed by a CA this client trusts; \
pass --cacert FILE (or SSL_CERT_FILE) with the CA that signed it";
const NOT_FOR_NAME: &str = "the server's certificate is not valid for this host name";

/// An error and its causes, joined with ": " (without reqwest's bare "builder error").
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        source = e.source();
    }
    let kept: Vec<String> = parts
        .into_iter()
        .filter(|p| p != "builder error" && !p.starts_with("error sending request"))
        .collect();
    if kept.is_empty() {
        return "no further detail".to_string();
    }
    kept.join(": ")
}
