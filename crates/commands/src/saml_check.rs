//! `testsaml` (seed 000): checks the configured SAML identity provider. Loads the IdP metadata
//! named by the setting `saml_idp_metadata` (a file, or an http(s) URL fetched with a 10 s
//! timeout and a 1 MiB limit), then checks the entity id (against `saml_idp_entity_id` when
//! set), a single sign-on endpoint (HTTP-Redirect or HTTP-POST binding, http(s) location) and
//! the signing certificates (X.509, valid now; one expiring within 30 days is a warning).
//! Each step prints its result; any failure gives exit 1.

use std::time::Duration;

use clap::Parser;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::access::{ADMINS, Access};
use crate::check_report::CheckReport;
use crate::context::Ctx;
use crate::http_fetch;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};

const MD_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SSO_BINDINGS: &[&str] = &[
    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
    "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
];
const MAX_METADATA_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// A signing certificate ending sooner than this is reported as a warning.
const EXPIRY_WARNING_SECS: i64 = 30 * 86_400;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "testsaml",
            "Test the SAML IdP configuration: metadata, entity id, SSO endpoint, certificates",
            testsaml,
        )
        .example("testsaml")
        .allow(Access::Roles(ADMINS)),
    ]
}

#[derive(Parser)]
struct SamlArgs {}

crate::no_targets!(SamlArgs);

async fn load_metadata(source: &str) -> Result<String, String> {
    let bytes = if source.starts_with("https://") || source.starts_with("http://") {
        let http = http_fetch::client(FETCH_TIMEOUT, FETCH_TIMEOUT)?;
        let resp = http
            .get(source)
            .send()
            .await
            .map_err(|e| http_fetch::describe(&e))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        http_fetch::read_capped(resp, MAX_METADATA_BYTES).await?
    } else {
        let meta = tokio::fs::metadata(source)
            .await
            .map_err(|e| format!("cannot read {source}: {e}"))?;
        if meta.len() > MAX_METADATA_BYTES as u64 {
            return Err(format!("larger than {MAX_METADATA_BYTES} bytes"));
        }
        tokio::fs::read(source)
            .await
            .map_err(|e| format!("cannot read {source}: {e}"))?
    };
    if bytes.len() > MAX_METADATA_BYTES {
        return Err(format!("larger than {MAX_METADATA_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// The checks on parsed metadata; `now` in Unix seconds.
fn check_metadata(report: &mut CheckReport, text: &str, expected_entity: Option<&str>, now: i64) {
    let doc = match roxmltree::Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            report.step("parse", false, format!("not well-formed XML: {e}"));
            return;
        }
    };
    let entities: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name((MD_NS, "EntityDescriptor")))
        .collect();
    let entity = match expected_entity {
        Some(want) => entities
            .iter()
            .find(|n| n.attribute("entityID") == Some(want))
            .or(entities.first()),
        None => entities.first(),
    };
    let Some(entity) = entity else {
        report.step("parse", false, "no md:EntityDescriptor in the metadata");
        return;
    };
    report.step(
        "parse",
        true,
        format!("{} entity descriptor(s)", entities.len()),
    );
    let id = entity.attribute("entityID").unwrap_or("");
    match expected_entity {
        _ if id.is_empty() => report.step("entity id", false, "the entityID is empty"),
        Some(want) if want != id => report.step(
            "entity id",
            false,
            format!("{id:?} is not the configured {want:?}"),
        ),
        _ => report.step("entity id", true, id),
    }
    let Some(idp) = entity
        .children()
        .find(|n| n.has_tag_name((MD_NS, "IDPSSODescriptor")))
    else {
        report.step(
            "sso endpoint",
            false,
            "no md:IDPSSODescriptor (not an IdP?)",
        );
        return;
    };
    let sso: Vec<(&str, &str)> = idp
        .children()
        .filter(|n| n.has_tag_name((MD_NS, "SingleSignOnService")))
        .map(|n| {
            (
                n.attribute("Binding").unwrap_or(""),
                n.attribute("Location").unwrap_or(""),
            )
        })
        .collect();
    match sso.iter().find(|(binding, location)| {
        SSO_BINDINGS.contains(binding)
            && (location.starts_with("https://") || location.starts_with("http://"))
    }) {
        Some((binding, location)) => {
            let short = binding.rsplit(':').next().unwrap_or(binding);
            report.step("sso endpoint", true, format!("{location} ({short})"));
            if location.starts_with("http://") {
                report.warn("sso endpoint", "the endpoint is not HTTPS");
            }
        }
        None => report.step(
            "sso endpoint",
            false,
            format!(
                "no SingleSignOnService with an HTTP-Redirect or HTTP-POST binding and an http(s) \
                 location ({} found)",
                sso.len()
            ),
        ),
    }
    let certs: Vec<String> = idp
        .children()
        .filter(|n| n.has_tag_name((MD_NS, "KeyDescriptor")))
        .filter(|n| matches!(n.attribute("use"), None | Some("signing")))
        .flat_map(|n| n.descendants())
        .filter(|n| n.has_tag_name((DS_NS, "X509Certificate")))
        .map(|n| n.text().unwrap_or("").split_whitespace().collect())
        .collect();
    if certs.is_empty() {
        report.step("signing certificate", false, "no signing X509Certificate");
        return;
    }
    let mut valid = 0;
    for (i, b64) in certs.iter().enumerate() {
        let name = format!("signing certificate {}", i + 1);
        let Ok(der) = data_encoding::BASE64.decode(b64.as_bytes()) else {
            report.step(&name, false, "not valid base64");
            continue;
        };
        let cert = match X509Certificate::from_der(&der) {
            Ok((_, cert)) => cert,
            Err(_) => {
                report.step(&name, false, "not a DER X.509 certificate");
                continue;
            }
        };
        let not_before = cert.validity().not_before.timestamp();
        let not_after = cert.validity().not_after.timestamp();
        let span = format!(
            "{}, valid {} to {}",
            cert.subject(),
            crate::timefmt::rfc3339(not_before),
            crate::timefmt::rfc3339(not_after)
        );
        if now < not_before {
            report.step(&name, false, format!("not yet valid: {span}"));
        } else if now > not_after {
            report.step(&name, false, format!("expired: {span}"));
        } else {
            valid += 1;
            report.step(&name, true, span);
            if not_after - now < EXPIRY_WARNING_SECS {
                report.warn(&name, "expires within 30 days");
            }
        }
    }
    if valid == 0 {
        report.failed = true;
    }
}

async fn testsaml(ctx: Ctx, _a: SamlArgs) -> Result<Output, CommandError> {
    let settings = ctx.settings();
    let Some(source) = settings
        .saml_idp_metadata
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    else {
        return Err(CommandError::Invalid(
            "SAML is not configured: set saml_idp_metadata (a file or URL) in the config file"
                .into(),
        ));
    };
    let expected = settings.saml_idp_entity_id.clone();
    let mut report = CheckReport::default();
    match load_metadata(source.trim()).await {
        Ok(text) => {
            report.step("metadata", true, format!("{source} ({} bytes)", text.len()));
            check_metadata(&mut report, &text, expected.as_deref(), ctx.now());
        }
        Err(e) => report.step("metadata", false, format!("{source}: {e}")),
    }
    Ok(report.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed P-256 certificate for `CN=idp.example.test`, valid from 1795926015
    /// (2026-11-29T04:20:15Z) to 1827462015 (2027-11-29T04:20:15Z); made with `openssl req -x509`.
    const CERT: &str = "MIIBjDCCATGgAwIBAgIUW+FLICa3X3KF/mV/HN9GwV4r38swCgYIKoZIzj0EAwIwGzEZMBcGA1UEAwwQaWRwLmV4YW1wbGUudGVzdDAeFw0yNjExMjkwNDIwMTVaFw0yNzExMjkwNDIwMTVaMBsxGTAXBgNVBAMMEGlkcC5leGFtcGxlLnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQ2eSvJJKRmkiTAz4zxmYWDWJikLCiIgfVq5tBfYbXH/p5+9PRhMhKvs0Fo0C8tnXxKlCLtDTgxjRhQu1t3xK2Jo1MwUTAdBgNVHQ4EFgQUbc3rLKkU6GouWxrhv0zc+PMzt3cwHwYDVR0jBBgwFoAUbc3rLKkU6GouWxrhv0zc+PMzt3cwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAnM87mpdCYILmOPq4h1idrbcJyH3OmP2Ne4kHOeFGjDoCIQCA39qVAo8FIEx4uX2EjBEoMVLbccZaA/MxSXmFHX0fFg==";
    const NOT_BEFORE: i64 = 1_795_926_015;
    const NOT_AFTER: i64 = 1_827_462_015;

    fn metadata() -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="{MD_NS}" xmlns:ds="{DS_NS}" entityID="https://idp.example.test/saml">
              <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
                <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>
                  <ds:X509Certificate>
                  {}
                  {}
                  </ds:X509Certificate>
                </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
                <md:SingleSignOnService Binding="{}" Location="https://idp.example.test/sso"/>
              </md:IDPSSODescriptor>
            </md:EntityDescriptor>"#,
            &CERT[..200],
            &CERT[200..],
            SSO_BINDINGS[1]
        )
    }

    #[test]
    fn certificate_dates_decide() {
        let at = |now: i64| {
            let mut r = CheckReport::default();
            check_metadata(
                &mut r,
                &metadata(),
                Some("https://idp.example.test/saml"),
                now,
            );
            (r.failed, r.lines.join("\n"))
        };
        let (failed, text) = at(NOT_BEFORE + 100);
        assert!(!failed, "{text}");
        assert!(
            text.contains("signing certificate 1: OK CN=idp.example.test"),
            "{text}"
        );
        assert!(
            text.contains("(HTTP-POST)") && !text.contains("WARNING"),
            "{text}"
        );
        let (failed, text) = at(NOT_AFTER - 86_400);
        assert!(
            !failed && text.contains("WARNING expires within 30 days"),
            "{text}"
        );
        let (failed, text) = at(NOT_AFTER + 1);
        assert!(failed && text.contains("FAILED expired"), "{text}");
        let (failed, text) = at(NOT_BEFORE - 1);
        assert!(failed && text.contains("not yet valid"), "{text}");
    }

    fn run(xml: &str, expected: Option<&str>) -> CheckReport {
        let mut r = CheckReport::default();
        check_metadata(&mut r, xml, expected, 1_700_000_000);
        r
    }

    #[test]
    fn structural_failures_are_named() {
        assert!(
            run("<not xml", None)
                .lines
                .join("\n")
                .contains("not well-formed")
        );
        let no_idp = format!(r#"<EntityDescriptor xmlns="{MD_NS}" entityID="https://idp"/>"#);
        let r = run(&no_idp, None);
        assert!(r.failed && r.lines.join("\n").contains("IDPSSODescriptor"));
        let r = run(&no_idp, Some("https://other"));
        assert!(r.lines.join("\n").contains("is not the configured"));
        let no_cert = format!(
            r#"<EntityDescriptor xmlns="{MD_NS}" entityID="https://idp"><IDPSSODescriptor>
            <SingleSignOnService Binding="{}" Location="https://idp/sso"/>
            </IDPSSODescriptor></EntityDescriptor>"#,
            SSO_BINDINGS[0]
        );
        let r = run(&no_cert, None);
        let text = r.lines.join("\n");
        assert!(
            text.contains("sso endpoint: OK https://idp/sso (HTTP-Redirect)"),
            "{text}"
        );
        assert!(
            r.failed && text.contains("no signing X509Certificate"),
            "{text}"
        );
    }
}
