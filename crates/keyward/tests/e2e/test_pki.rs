//! A throwaway private PKI made by the `openssl` command for the TLS peer tests: a CA, a server
//! certificate it signs for `IP:127.0.0.1` and `DNS:localhost` (with its key), and a second,
//! unrelated CA that signs nothing (the "wrong CA"); [`TestPki::misnamed`] has a server
//! certificate of the same CA for another name only. EC P-256 keys, valid for two days.
//! openssl is a required test peer (`.ci/run` installs it): without it the tests fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

pub struct TestPki {
    dir: Rc<tempfile::TempDir>,
    /// The CA that signed the server certificate.
    pub ca: PathBuf,
    /// A CA that did not.
    pub other_ca: PathBuf,
    /// The server certificate (PEM) and its private key.
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Runs `openssl` in `dir` with `args` (split at whitespace).
fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl is a required test peer (apt-get install openssl): {e}")
        });
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

/// A self-signed CA certificate `NAME.pem` with its key `NAME.key`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 -new {EC_KEY} -days 2 -subj /CN=keyward-test-{name} -keyout {name}.key \
             -out {name}.pem -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
}

impl TestPki {
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_ca(d, "ca");
        make_ca(d, "other-ca");
        issue(d, "server", "IP:127.0.0.1,DNS:localhost");
        issue(d, "misnamed", "DNS:other.invalid");
        TestPki {
            ca: d.join("ca.pem"),
            other_ca: d.join("other-ca.pem"),
            cert: d.join("server.pem"),
            key: d.join("server.key"),
            dir: Rc::new(dir),
        }
    }

    /// The same CAs, with a server certificate (signed by `ca`) for `DNS:other.invalid` only.
    pub fn misnamed(&self) -> TestPki {
        TestPki {
            ca: self.ca.clone(),
            other_ca: self.other_ca.clone(),
            cert: self.dir.path().join("misnamed.pem"),
            key: self.dir.path().join("misnamed.key"),
            dir: self.dir.clone(),
        }
    }
}

/// A server certificate `NAME.pem` (key `NAME.key`) for `san`, signed by `ca`.
fn issue(dir: &Path, name: &str, san: &str) {
    openssl(
        dir,
        &format!("req -new {EC_KEY} -subj /CN={name} -keyout {name}.key -out {name}.csr"),
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName={san}\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &format!(
            "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
             -extfile {name}.ext -out {name}.pem"
        ),
    );
}

/// A path as the `&str` a command line takes.
pub fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}
