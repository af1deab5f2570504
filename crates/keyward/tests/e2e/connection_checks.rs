//! `testduoconnection` against a Duo stand-in on 127.0.0.1 that checks every request's signature
//! itself (HMAC-SHA1 of Duo's canonical request, compared with the Basic credentials), and
//! `testsaml` with IdP metadata written by the test around a certificate made by `openssl`.
//! Both run the real binary: the exit code is part of what is tested.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, KeyInit, Mac};

use crate::harness::{Backend, TestEnv};

const IKEY: &str = "DIWJ8X6AEYOR5OMC6TQ1";
const SKEY: &str = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep";
const HOST: &str = "api-xxxxxxxx.duosecurity.com";

/// Duo's canonical request, written here independently of keyward's implementation.
fn canonical(date: &str, method: &str, path: &str, query: &str) -> String {
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort();
    format!("{date}\n{method}\n{HOST}\n{path}\n{}", pairs.join("&"))
}

/// A one-thread HTTP/1.1 server answering like Duo's Auth API; records the paths it saw.
fn duo_stand_in() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("").to_string();
            let (mut date, mut auth, mut length) = (String::new(), String::new(), 0usize);
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "date" => date = value.trim().to_string(),
                    "authorization" => auth = value.trim().to_string(),
                    "content-length" => length = value.trim().parse().unwrap(),
                    _ => {}
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let (path, query) = match target.split_once('?') {
                Some((p, q)) => (p.to_string(), q.to_string()),
                None if method == "POST" => (target.clone(), String::from_utf8(body).unwrap()),
                None => (target.clone(), String::new()),
            };
            log.lock().unwrap().push(path.clone());
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SKEY.as_bytes()).unwrap();
            mac.update(canonical(&date, &method, &path, &query).as_bytes());
            let sig = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
            let expected = format!(
                "Basic {}",
                data_encoding::BASE64.encode(format!("{IKEY}:{sig}").as_bytes())
            );
            let (status, body) = if auth != expected {
                (401, r#"{"stat": "FAIL", "code": 40103, "message": "Invalid signature in request credentials"}"#.to_string())
            } else {
                match path.as_str() {
                    "/auth/v2/check" => (200, r#"{"stat": "OK", "response": {"time": 1357020061}}"#.into()),
                    "/auth/v2/preauth" if query == "username=something" => (
                        200,
                        r#"{"stat": "OK", "response": {"result": "auth", "status_msg": "Account is active", "devices": [{"device": "DP1", "capabilities": ["push"]}]}}"#.into(),
                    ),
                    "/auth/v2/preauth" => (
                        200,
                        r#"{"stat": "OK", "response": {"result": "enroll", "status_msg": "Enroll an authentication device to proceed"}}"#.into(),
                    ),
                    "/auth/v2/auth" if query == "device=auto&factor=push&username=something" => (
                        200,
                        r#"{"stat": "OK", "response": {"result": "allow", "status": "allow", "status_msg": "Success. Logging you in..."}}"#.into(),
                    ),
                    _ => (400, r#"{"stat": "FAIL", "code": 40002, "message": "Invalid request parameters"}"#.into()),
                }
            };
            let reason = if status == 200 { "OK" } else { "Error" };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

/// What a failed run printed: the report goes to stderr after "error: ".
fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn testduoconnection_signs_as_duo_checks_and_fails_with_a_wrong_key() {
    let env = TestEnv::new(Backend::Sqlite);
    let (url, seen) = duo_stand_in();
    let out = env.manage_ok(&["testduoconnection", IKEY, SKEY, HOST, "--base-url", &url]);
    assert!(out.contains("check: OK keys accepted"), "{out}");
    // With a user: preauth and a push for "something" (the part before '@').
    let out = env.manage_ok(&[
        "testduoconnection",
        IKEY,
        SKEY,
        HOST,
        "something@example.com",
        "--base-url",
        &url,
    ]);
    assert!(
        out.contains("preauth: OK user \"something\" may authenticate"),
        "{out}"
    );
    assert!(out.contains("push: OK result \"allow\""), "{out}");
    // A user Duo does not know: named, exit 1.
    let out = env
        .manage(&[
            "testduoconnection",
            IKEY,
            SKEY,
            HOST,
            "nobody",
            "--base-url",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = all_output(&out);
    assert!(
        text.contains("preauth: FAILED user \"nobody\": result \"enroll\""),
        "{text}"
    );
    // A wrong secret key: the stand-in refuses the signature, exit 1, the key never printed.
    let wrong = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Eq";
    let out = env
        .manage(&["testduoconnection", IKEY, wrong, HOST, "--base-url", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = all_output(&out);
    assert!(
        text.contains(
            "check: FAILED HTTP 401, Invalid signature in request credentials (code 40103)"
        ),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");
    // Nothing listens there: a clear reason, exit 1.
    let (code, _) = {
        let out = env
            .manage(&[
                "testduoconnection",
                IKEY,
                SKEY,
                HOST,
                "--base-url",
                "http://127.0.0.1:9",
            ])
            .output()
            .unwrap();
        let text = all_output(&out);
        assert!(text.contains("cannot connect"), "{text}");
        (out.status.code(), text)
    };
    assert_eq!(code, Some(1));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "/auth/v2/check",
            "/auth/v2/check",
            "/auth/v2/preauth",
            "/auth/v2/auth",
            "/auth/v2/check",
            "/auth/v2/preauth",
            "/auth/v2/check"
        ]
    );
}

/// IdP metadata around a fresh self-signed certificate (`openssl req -x509`, valid 20 days).
fn write_metadata(dir: &std::path::Path, entity_id: &str) -> std::path::PathBuf {
    let cert = dir.join("idp.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(dir.join("idp.key"))
        .arg("-out")
        .arg(&cert)
        .args(["-days", "20", "-subj", "/CN=idp.example.test"])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let pem = std::fs::read_to_string(&cert).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let xml = format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    );
    let path = dir.join("idp-metadata.xml");
    std::fs::write(&path, xml).unwrap();
    path
}

#[test]
fn testsaml_reports_the_configured_idp_and_fails_on_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let md = write_metadata(dir.path(), "https://idp.example.test/saml");
    let config = format!(
        "saml_idp_metadata = {:?}\nsaml_idp_entity_id = \"https://idp.example.test/saml\"\n",
        md.display().to_string()
    );
    let env = TestEnv::with_config(Backend::Sqlite, &config);
    let out = env.manage_ok(&["testsaml"]);
    assert!(
        out.contains("entity id: OK https://idp.example.test/saml"),
        "{out}"
    );
    assert!(
        out.contains("sso endpoint: OK https://idp.example.test/sso (HTTP-Redirect)"),
        "{out}"
    );
    assert!(
        out.contains("signing certificate 1: OK CN=idp.example.test"),
        "{out}"
    );
    assert!(out.contains("WARNING expires within 30 days"), "{out}");

    // The same metadata from a URL (a one-shot HTTP server on 127.0.0.1).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/idp/metadata", listener.local_addr().unwrap());
    let body = std::fs::read_to_string(&md).unwrap();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/samlmetadata+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let env = TestEnv::with_config(Backend::Sqlite, &format!("saml_idp_metadata = {url:?}\n"));
    let out = env.manage_ok(&["testsaml"]);
    assert!(out.contains(&format!("metadata: OK {url}")), "{out}");
    assert!(out.contains("signing certificate 1: OK"), "{out}");

    let other = format!(
        "saml_idp_metadata = {:?}\nsaml_idp_entity_id = \"https://other.example.test\"\n",
        md.display().to_string()
    );
    let env = TestEnv::with_config(Backend::Sqlite, &other);
    let out = env.manage(&["testsaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = all_output(&out);
    assert!(text.contains("entity id: FAILED"), "{text}");

    let env = TestEnv::new(Backend::Sqlite);
    let (code, err) = env.manage_err(&["testsaml"]);
    assert_ne!(code, 0);
    assert!(err.contains("saml_idp_metadata"), "{err}");
}
