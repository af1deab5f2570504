//! Real peers for the OTP delivery tests, on 127.0.0.1 only: an SMTP server (Python `aiosmtpd`,
//! which writes every message it receives into a directory) and a tiny HTTP SMS gateway (a
//! thread that records each request and answers with a status the test sets).
//!
//! Without aiosmtpd the mail tests print a loud SKIPPED line — unless `KEYWARD_REQUIRE_SMTP=1`
//! (set by `.ci/run`), where they fail instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::test_pki::TestPki;

/// The SMTP server: aiosmtpd's controller with a handler that stores each message (prefixed by
/// an `X-Rcpt:` line naming the envelope recipients); with a second argument `USER:PASS` it
/// requires that login (AUTH over plain SMTP, as a test peer may allow). With `SINK_TLS`
/// `starttls` it requires STARTTLS, with `tls` it speaks TLS from the first byte (implicit TLS),
/// either with the certificate `SINK_CERT` and key `SINK_KEY`; the controller's own readiness
/// probe then checks that certificate's chain against `SINK_CA`.
const SMTP_SINK_PY: &str = r#"
import os, pathlib, socket, ssl, sys, warnings
warnings.simplefilter("ignore")
import logging
logging.getLogger("mail.log").setLevel(logging.ERROR)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

out = pathlib.Path(sys.argv[1])
creds = sys.argv[2].encode() if len(sys.argv) > 2 else None

class Sink:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Sink.n += 1
        tmp = out / f"{Sink.n}.tmp"
        rcpt = ",".join(envelope.rcpt_tos).encode()
        tmp.write_bytes(b"X-Rcpt: " + rcpt + b"\r\n" + envelope.original_content)
        tmp.rename(out / f"{Sink.n}.eml")
        return "250 OK"

def check(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=creds is not None and auth_data.login + b":" + auth_data.password == creds)

s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
kw = dict(authenticator=check, auth_required=True, auth_require_tls=False) if creds else {}

class ImplicitTlsController(Controller):
    # The stock probe wraps its socket in the server's context; probe as a verifying client.
    def _trigger_server(self):
        client = ssl.create_default_context(cafile=os.environ["SINK_CA"])
        client.check_hostname = False  # a test may serve a certificate for another name
        with socket.create_connection((self.hostname, self.port), 1.0) as raw:
            with client.wrap_socket(raw, server_hostname=self.hostname) as s:
                s.recv(1024)

mode = os.environ.get("SINK_TLS", "")
controller = Controller
if mode:
    # Handshakes the tests expect to fail would log a traceback each.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(os.environ["SINK_CERT"], os.environ["SINK_KEY"])
    if mode == "starttls":
        kw.update(tls_context=tls, require_starttls=True)
    else:
        kw.update(ssl_context=tls)
        controller = ImplicitTlsController
c = controller(Sink(), hostname="127.0.0.1", port=port, server_hostname="localhost", **kw)
c.start()
print(port, flush=True)
sys.stdin.read()
c.stop()
"#;

/// Whether the SMTP peer can run; says so loudly when it cannot.
pub fn smtp_or_skip(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var("KEYWARD_REQUIRE_SMTP").as_deref() == Ok("1") {
        panic!("{test}: aiosmtpd is not installed but KEYWARD_REQUIRE_SMTP=1");
    }
    eprintln!("SKIPPED {test}: python3 -m pip install aiosmtpd to run the mail tests");
    false
}

/// A running SMTP server; stopped on drop.
pub struct SmtpSink {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl SmtpSink {
    /// Starts the server writing into `dir`; `login` (`USER:PASS`) makes AUTH required.
    pub fn start(dir: &Path, login: Option<&str>) -> SmtpSink {
        Self::launch(dir, login, None)
    }

    /// Starts the server with `pki`'s certificate: `security` is `starttls` (required) or `tls`
    /// (implicit TLS), as keyward's `smtp_security` names them.
    pub fn start_tls(dir: &Path, security: &str, pki: &TestPki) -> SmtpSink {
        Self::launch(dir, None, Some((security, pki)))
    }

    fn launch(dir: &Path, login: Option<&str>, tls: Option<(&str, &TestPki)>) -> SmtpSink {
        std::fs::create_dir_all(dir).unwrap();
        let script = dir.join("smtp_sink.py");
        std::fs::write(&script, SMTP_SINK_PY).unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg(dir);
        if let Some(l) = login {
            cmd.arg(l);
        }
        if let Some((security, pki)) = tls {
            cmd.env("SINK_TLS", security)
                .env("SINK_CERT", &pki.cert)
                .env("SINK_KEY", &pki.key)
                .env("SINK_CA", &pki.ca);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the SMTP sink prints its port");
        SmtpSink {
            child,
            dir: dir.to_path_buf(),
            port,
        }
    }

    /// The `n`th message received (1-based), waiting up to 15 s for it.
    pub fn message(&self, n: usize) -> String {
        let path = self.dir.join(format!("{n}.eml"));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(text) = std::fs::read_to_string(&path) {
                return text;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no message {n} arrived at the SMTP sink");
    }

    /// How many messages arrived.
    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
            })
            .count()
    }

    /// The `KEYWARD_*` settings pointing at this server (plain SMTP).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KEYWARD_SMTP_HOST", "127.0.0.1".into()),
            ("KEYWARD_SMTP_PORT", self.port.to_string()),
            ("KEYWARD_SMTP_SECURITY", "none".into()),
            ("KEYWARD_SMTP_FROM", "keyward@example.org".into()),
            ("KEYWARD_SMTP_TIMEOUT_SECS", "5".into()),
        ]
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The OTP in a mail or an SMS text: the first run of `len` digits after `marker`.
pub fn otp_after(text: &str, marker: &str, len: usize) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in {text}"));
    let otp: String = text[at + marker.len()..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(otp.len(), len, "{text}");
    otp
}

/// An HTTP SMS gateway on 127.0.0.1: records each request (head and body) and answers with
/// the status in `status`.
pub struct SmsGateway {
    pub port: u16,
    pub status: Arc<AtomicU16>,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl SmsGateway {
    pub fn start() -> SmsGateway {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(AtomicU16::new(200));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (st, rq) = (status.clone(), requests.clone());
        // Serves until the test process ends (a detached thread blocked in accept).
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then Content-Length bytes of body.
                let request = loop {
                    let Ok(n) = conn.read(&mut chunk) else {
                        break None;
                    };
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break Some(text);
                        }
                    }
                };
                if let Some(r) = request {
                    rq.lock().unwrap().push(r);
                }
                let code = st.load(Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        SmsGateway {
            port,
            status,
            requests,
        }
    }

    pub fn last_request(&self) -> String {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}
