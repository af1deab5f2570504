//! A throwaway OpenLDAP `slapd` per test on 127.0.0.1 (a free port, its own directory), with
//! `dc=example,dc=org`, the service account `cn=admin,dc=example,dc=org` (password `adminpw`)
//! and three people under `ou=people`: alice (`alice-secret`), bob (`bob-secret`) and carol
//! (`carol-secret`). Stopped when dropped. When slapd is not installed the test prints SKIPPED,
//! unless `KEYWARD_REQUIRE_SLAPD=1` (set by `.ci/run`), where it fails. `start_with_tls` adds
//! the certificate of a [`TestPki`]: StartTLS on the ldap:// port and an ldaps:// listener.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::TestEnv;
use crate::test_pki::TestPki;

pub const BASE_DN: &str = "ou=people,dc=example,dc=org";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PW: &str = "adminpw";

pub struct Slapd {
    child: Child,
    pub port: u16,
    /// The ldaps:// port (0 without TLS).
    pub tls_port: u16,
    dir: tempfile::TempDir,
}

fn slapd_binary() -> Option<PathBuf> {
    ["/usr/sbin/slapd", "/usr/local/sbin/slapd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A free port on 127.0.0.1 (closed again at once; slapd binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const LDIF: &str = "dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example Org
dc: example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: alice
cn: Alice Example
sn: Example
mail: alice@example.org
userPassword: alice-secret

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: bob
cn: Bob Example
sn: Example
mail: bob@example.org
userPassword: bob-secret

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
cn: Carol Example
sn: Example
mail: carol@example.org
userPassword: carol-secret
";

impl Slapd {
    /// Starts slapd, or `None` (after a loud SKIPPED line) when it is not installed.
    pub fn start(test: &str) -> Option<Slapd> {
        Self::launch(test, None)
    }

    /// Starts slapd with `pki`'s server certificate: StartTLS on [`Slapd::uri`] and ldaps:// on
    /// [`Slapd::tls_uri`].
    pub fn start_with_tls(test: &str, pki: &TestPki) -> Option<Slapd> {
        Self::launch(test, Some(pki))
    }

    fn launch(test: &str, pki: Option<&TestPki>) -> Option<Slapd> {
        let Some(bin) = slapd_binary() else {
            if std::env::var("KEYWARD_REQUIRE_SLAPD").as_deref() == Ok("1") {
                panic!("{test}: slapd is not installed but KEYWARD_REQUIRE_SLAPD=1");
            }
            eprintln!("SKIPPED {test}: slapd is not installed (apt-get install slapd ldap-utils)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("db")).unwrap();
        // TLS directives are global: they go before the database section.
        let tls = pki.map_or_else(String::new, |p| {
            format!(
                "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
                p.ca.display(),
                p.cert.display(),
                p.key.display()
            )
        });
        let conf = format!(
            "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
{tls}pidfile {d}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
loglevel none
database mdb
maxsize 10485760
suffix \"dc=example,dc=org\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PW}
directory {d}/db
index objectClass,uid eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        std::fs::write(d.join("data.ldif"), LDIF).unwrap();
        // Loaded offline, before the server starts: no client round trips.
        let added = Command::new("slapadd")
            .args(["-f", &d.join("slapd.conf").display().to_string()])
            .args(["-l", &d.join("data.ldif").display().to_string()])
            .output()
            .unwrap();
        assert!(
            added.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&added.stderr)
        );
        let port = free_port();
        let tls_port = match pki {
            None => 0,
            Some(_) => std::iter::repeat_with(free_port)
                .find(|p| *p != port)
                .unwrap(),
        };
        let mut listeners = format!("ldap://127.0.0.1:{port}/");
        if tls_port != 0 {
            listeners.push_str(&format!(" ldaps://127.0.0.1:{tls_port}/"));
        }
        let log = std::fs::File::create(d.join("slapd.log")).unwrap();
        let child = Command::new(bin)
            .args(["-f", &d.join("slapd.conf").display().to_string()])
            .args(["-h", &listeners])
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let slapd = Slapd {
            child,
            port,
            tls_port,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for p in [port, tls_port].into_iter().filter(|p| *p != 0) {
            while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "slapd did not start on {p}: {}",
                    std::fs::read_to_string(slapd.dir.path().join("slapd.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Some(slapd)
    }

    pub fn uri(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The ldaps:// listener (with [`Slapd::start_with_tls`]).
    pub fn tls_uri(&self) -> String {
        assert_ne!(self.tls_port, 0, "slapd was started without TLS");
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    /// Runs `ldapmodify` (as the service account) with `ldif`.
    pub fn modify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new("ldapmodify")
            .args(["-x", "-H", &self.uri(), "-D", ADMIN_DN, "-w", ADMIN_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ldapmodify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates the LDAP resolver `name` on `uri` with the test directory's settings and `extra`.
pub fn create_resolver(env: &TestEnv, name: &str, uri: &str, extra: &[&str]) {
    let mut args = vec![
        "config",
        "resolver",
        "create",
        name,
        "ldap",
        "--uri",
        uri,
        "--base-dn",
        BASE_DN,
        "--bind-dn",
        ADMIN_DN,
        "--bind-password",
        ADMIN_PW,
        "--search-filter",
        "(objectClass=inetOrgPerson)",
    ];
    args.extend_from_slice(extra);
    env.console_ok(&args);
}
