//! Mail through the configured SMTP server (`smtp_*` settings): plain, STARTTLS (required, never
//! opportunistic) or implicit TLS over rustls (trusting exactly `smtp_tls_ca_file`'s CAs when it
//! is set, else the webpki roots), optional authentication with a password sealed under the
//! enckey (or given in `KEYWARD_SMTP_PASSWORD`), and a bound on every step. Failures become one
//! clear `unavailable` error naming the server, never the password or the message.

use std::time::Duration;

use keyward_core::aead;
use keyward_core::enckey::KeySlot;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use zeroize::Zeroizing;

use crate::context::Ctx;
use crate::output::CommandError;
use crate::tls_trust;

/// Associated data of the sealed SMTP password (binds the sealed value to this setting).
pub(crate) const PASSWORD_AD: &[u8] = b"setting:smtp_password";

/// A mail ready to be sent.
pub(crate) struct Mail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub body: String,
}

/// Checks the syntax of an e-mail address as the SMTP envelope needs it.
pub(crate) fn check_address(field: &str, address: &str) -> Result<(), CommandError> {
    address
        .parse::<Mailbox>()
        .map(|_| ())
        .map_err(|e| CommandError::Invalid(format!("parameter '{field}': {e}")))
}

/// Sends `mail` through the configured SMTP server, within the configured timeout.
pub(crate) async fn send(ctx: &Ctx, mail: Mail<'_>) -> Result<(), CommandError> {
    let s = ctx.settings();
    let host = s
        .smtp_host
        .as_deref()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            CommandError::Unavailable(
                "mail is not configured: set smtp_host in the config file".into(),
            )
        })?;
    let port = match (s.smtp_port, s.smtp_security.as_str()) {
        (0, "none") => 25,
        (0, "tls") => 465,
        (0, _) => 587,
        (p, _) => u16::try_from(p).unwrap_or(25),
    };
    let server = format!("{host}:{port}");
    let from: Mailbox = s.smtp_from.parse().map_err(|e| {
        CommandError::Unavailable(format!(
            "smtp_from {:?} is not an address: {e}",
            s.smtp_from
        ))
    })?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| CommandError::Invalid(format!("recipient address: {e}")))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body)
        .map_err(|e| CommandError::Internal(format!("cannot build the mail: {e}")))?;
    let tls = || tls_parameters(host, &server, s.smtp_tls_ca_file.as_deref());
    let timeout = Duration::from_secs(s.smtp_timeout_secs.max(1));
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .timeout(Some(timeout))
        .tls(match s.smtp_security.as_str() {
            "none" => Tls::None,
            "tls" => Tls::Wrapper(tls()?),
            _ => Tls::Required(tls()?),
        });
    if let Some(user) = s.smtp_user.as_deref().filter(|u| !u.is_empty()) {
        let password = password(ctx).await?;
        builder = builder.credentials(Credentials::new(user.to_string(), password.to_string()));
    }
    let transport = builder.build();
    // Each SMTP step is bounded by the timeout; the whole exchange by a few of them.
    match tokio::time::timeout(timeout * 4, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(CommandError::Unavailable(format!(
            "cannot send mail through {server}: {}",
            describe(&e)
        ))),
        Err(_) => Err(CommandError::Unavailable(format!(
            "cannot send mail through {server}: no answer within {} s",
            (timeout * 4).as_secs()
        ))),
    }
}

/// The TLS parameters for `host`: the webpki roots, or exactly the CAs of `ca_file`.
fn tls_parameters(
    host: &str,
    server: &str,
    ca_file: Option<&str>,
) -> Result<TlsParameters, CommandError> {
    let setup = |e: String| CommandError::Unavailable(format!("TLS setup for {server}: {e}"));
    let mut builder = TlsParameters::builder(host.to_string());
    if let Some(path) = ca_file.filter(|p| !p.is_empty()) {
        // Read at every send, so a renewed CA file counts without a restart.
        let certs =
            tls_trust::read_ca_file(path).map_err(|e| setup(format!("smtp_tls_ca_file: {e}")))?;
        builder = builder.certificate_store(CertificateStore::None);
        for cert in certs {
            let cert = Certificate::from_der(cert.to_vec()).map_err(|e| setup(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| setup(e.to_string()))
}

/// The SMTP password: the environment's plain one, or the sealed one from the file.
async fn password(ctx: &Ctx) -> Result<Zeroizing<String>, CommandError> {
    let s = ctx.settings();
    if let Some(p) = s.smtp_password.as_deref() {
        return Ok(Zeroizing::new(p.to_string()));
    }
    let Some(sealed) = s.smtp_password_sealed.as_deref() else {
        return Err(CommandError::Unavailable(
            "smtp_user is set but no password: set smtp_password_sealed (see `setup \
             seal_smtp_password`) or KEYWARD_SMTP_PASSWORD"
                .into(),
        ));
    };
    let key = ctx.shared.enckey().await?;
    let plain = aead::open(key, sealed.trim(), PASSWORD_AD)
        .map_err(|e| CommandError::Unavailable(format!("smtp_password_sealed: {e}")))?;
    String::from_utf8(plain)
        .map(Zeroizing::new)
        .map_err(|_| CommandError::Unavailable("smtp_password_sealed is not UTF-8".into()))
}

/// Seals an SMTP password for the `smtp_password_sealed` setting.
pub(crate) async fn seal_password(ctx: &Ctx, password: &str) -> Result<String, CommandError> {
    let key = ctx.shared.enckey().await?;
    aead::seal(
        key,
        KeySlot::ConfigSecrets,
        password.as_bytes(),
        PASSWORD_AD,
    )
    .map_err(|e| CommandError::Internal(format!("cannot encrypt the password: {e}")))
}

/// An SMTP failure in words: the server's answer, or the connection problem.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    use std::error::Error;
    if let Some(problem) = tls_trust::certificate_problem(e) {
        return format!("{problem}; trust the mail server's CA with smtp_tls_ca_file");
    }
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
