//! LinOTP's own admin client, `linotpadm.py` (LinOTPAdminClientCLI 2.10 from PyPI, converted to
//! Python 3 by `.ci/linotp-admin-client.sh`, cached under `target/linotp-admin-client`), against
//! the real server: it calls `/admin/getsession`, answers the Basic challenge, then sends the
//! `admin_session` cookie with the `session` parameter on every call. Every token command of
//! the client runs, and keyward's database is checked after each. Without PyPI the client cannot
//! be fetched: the test says SKIPPED (and fails under `CI=true`, where `.ci/run` installs it).
//!
//! Beside it, the session guard with a plain HTTP client: the challenge, Digest refused
//! clearly, the cookie without or with a wrong `session`, a forged or outdated cookie.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::both_backends;
use crate::harness::TestEnv;
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_validate::{key_for, user};

const ADMIN: &str = "opadmin";
const PASSWORD: &str = "pw-12345";

/// The prepared client's directory, or `None` (said loudly) when PyPI cannot be reached.
fn client_dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = Command::new("bash")
            .arg(root.join(".ci/linotp-admin-client.sh"))
            .output()
            .expect("bash runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {
                let rel = String::from_utf8_lossy(&out.stdout).trim().to_string();
                Some(root.join(rel))
            }
            Some(3) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!(
                    "SKIPPED linotp_admin_client: LinOTPAdminClientCLI could not be fetched from \
                     PyPI ({})",
                    stderr.trim()
                );
                None
            }
            _ => panic!("preparing LinOTP's admin client failed: {stderr}"),
        }
    })
    .as_ref()
}

/// One run of `linotpadm.py` (HTTP Basic as `opadmin`) in `cwd`: (success, stdout + stderr).
fn linotpadm(client: &Path, url: &str, cwd: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("python3")
        .arg("-W")
        .arg("ignore")
        .arg(client.join("src/bin/linotpadm.py"))
        .arg(format!("--url={url}"))
        .arg(format!("--admin={ADMIN}"))
        .arg(format!("--password={PASSWORD}"))
        .arg("--authtype=Basic")
        .args(args)
        .env(
            "PYTHONPATH",
            format!(
                "{}:{}",
                client.join("src").display(),
                client.join("site").display()
            ),
        )
        .current_dir(cwd)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `linotpadm.py` that must succeed and print `'status': True`: its output.
fn ok(client: &Path, url: &str, cwd: &Path, args: &[&str]) -> String {
    let (success, text) = linotpadm(client, url, cwd, args);
    assert!(success, "linotpadm.py {args:?}:\n{text}");
    assert!(
        !text.contains("Traceback"),
        "linotpadm.py {args:?}:\n{text}"
    );
    text
}

/// A token's row: (owner name or "", active, description, max_fail, sync_window, counter).
fn token(env: &TestEnv, serial: &str) -> Option<Vec<String>> {
    env.query_strings(&format!(
        "SELECT COALESCE(u.username, ''), CAST(t.active AS TEXT), t.description, \
         CAST(t.max_fail AS TEXT), CAST(t.sync_window AS TEXT), CAST(t.counter AS TEXT) \
         FROM tokens t LEFT JOIN users u ON u.id = t.owner_id WHERE t.serial = '{serial}'"
    ))
    .into_iter()
    .next()
}

fn setup(env: &TestEnv) {
    user(env, "root"); // the first account: superuser
    user(env, ADMIN);
    env.console_ok(&["promoteuser", ADMIN, "admin"]);
    user(env, "alice");
    user(env, "bob");
}

both_backends!(every_token_command_of_linotpadm, |env: &TestEnv| {
    let Some(client) = client_dir() else { return };
    setup(env);
    let server = env.serve_in_process();
    let url = server.url().to_string();
    let cwd = tempfile::tempdir().unwrap();
    let cwd = cwd.path();
    // Each run of the client: one Basic-authenticated getsession, then cookie requests.
    let runs = std::cell::Cell::new(0);
    let ok = |client: &Path, url: &str, cwd: &Path, args: &[&str]| {
        runs.set(runs.get() + 1);
        ok(client, url, cwd, args)
    };
    let run = |args: &[&str]| {
        let text = ok(client, &url, cwd, args);
        assert!(
            text.contains("'status': True"),
            "linotpadm.py {args:?}:\n{text}"
        );
        text
    };

    // The client's default, Digest, finds only the Basic challenge: it stops at the 401.
    let (success, text) = linotpadm(
        client,
        &url,
        cwd,
        &["--authtype=Digest", "--command=listtoken"],
    );
    assert!(!success && text.contains("401"), "{text}");

    // inittoken (`--type=HMAC` is LinOTP's name for HOTP)
    run(&[
        "--command=inittoken",
        "--user=alice",
        "--serial=LADM0001",
        &format!("--otpkey={RFC_KEY_HEX}"),
        "--pin=1234",
        "--description=by linotpadm",
        "--type=HMAC",
    ]);
    assert_eq!(
        token(env, "LADM0001").unwrap()[..3],
        ["alice", "1", "by linotpadm"]
    );

    // listtoken: the client's table of LinOtp.* fields
    let listed = ok(client, &url, cwd, &["--command=listtoken"]);
    let row = listed
        .lines()
        .find(|l| l.contains("LADM0001"))
        .unwrap_or_else(|| panic!("no LADM0001 row in:\n{listed}"));
    assert!(
        row.contains("alice") && row.contains("by linotpadm"),
        "{row}"
    );

    // set: the client sends LinOTP's lower-case names
    let out = run(&[
        "--command=set",
        "--serial=LADM0001",
        "--pin=4321",
        "--maxfailcount=7",
        "-w500",
    ]);
    assert!(out.contains("set MaxFailCount"), "{out}");
    assert_eq!(token(env, "LADM0001").unwrap()[3..5], ["7", "500"]);

    // disabletoken / enabletoken
    run(&["--command=disabletoken", "--serial=LADM0001"]);
    assert_eq!(token(env, "LADM0001").unwrap()[1], "0");
    run(&["--command=enabletoken", "--serial=LADM0001"]);
    assert_eq!(token(env, "LADM0001").unwrap()[1], "1");

    // resynctoken: two consecutive OTPs (counters 5 and 6, from oathtool)
    let (otp1, otp2) = (oath::hotp(RFC_KEY_HEX, 5, 6), oath::hotp(RFC_KEY_HEX, 6, 6));
    let out = run(&[
        "--command=resynctoken",
        "--serial=LADM0001",
        &format!("--otp1={otp1}"),
        &format!("--otp2={otp2}"),
    ]);
    assert!(out.contains("'value': True"), "{out}");
    assert_eq!(token(env, "LADM0001").unwrap()[5], "7");

    // unassigntoken / assigntoken
    run(&["--command=unassigntoken", "--serial=LADM0001"]);
    assert_eq!(token(env, "LADM0001").unwrap()[0], "");
    run(&["--command=assigntoken", "--serial=LADM0001", "--user=bob"]);
    assert_eq!(token(env, "LADM0001").unwrap()[0], "bob");

    // After all that, the token works for its new owner at counter 7 (unassigning cleared
    // the PIN, as in LinOTP).
    let http = crate::server_client::Http::new(&server);
    let v = crate::server_validate::check(
        &http,
        serde_json::json!({"user": "bob", "pass": oath::hotp(RFC_KEY_HEX, 7, 6)}),
    );
    assert_eq!(v["result"]["value"], true, "{v}");

    // listuser: the internal user store
    let users = ok(client, &url, cwd, &["--command=listuser"]);
    for name in ["alice", "bob", ADMIN] {
        assert!(users.contains(name), "{name} missing in:\n{users}");
    }

    // importtoken: the client's Safeword-style file, one /admin/init per token
    let file = cwd.join("safeword.xml");
    std::fs::write(
        &file,
        format!(
            "<Tokens>\n<Token serial=\"SAFE0001\">\n<Seed>{RFC_KEY_HEX}</Seed>\n</Token>\n\
             <Token serial=\"SAFE0002\">\n<Seed>3132333435363738393031323334353637383931</Seed>\n\
             </Token>\n</Tokens>\n"
        ),
    )
    .unwrap();
    let out = ok(
        client,
        &url,
        cwd,
        &[
            "--command=importtoken",
            &format!("--file={}", file.display()),
        ],
    );
    assert!(out.contains("2 tokens imported"), "{out}");
    for serial in ["SAFE0001", "SAFE0002"] {
        assert_eq!(token(env, serial).unwrap()[..3], ["", "1", "Safeword"]);
    }

    // loadtokens: the client uploads ./plain-value-pskc.xml (here LinOTP's own Feitian fixture)
    std::fs::copy(
        crate::harness::fixture("linotp/pskc_tokens.xml"),
        cwd.join("plain-value-pskc.xml"),
    )
    .unwrap();
    let out = run(&["--command=loadtokens"]);
    assert!(out.contains("'imported': 6"), "{out}");
    assert_eq!(
        env.query_i64(
            "SELECT COUNT(*) FROM tokens WHERE serial IN ('1000133508267', '1000133508255', \
             '2600124809778', '2600124809787', '2600135004012', '2600135004013')"
        ),
        6
    );

    // removetoken
    run(&["--command=removetoken", "--serial=LADM0001"]);
    assert!(token(env, "LADM0001").is_none());

    // The password was checked once per run (getsession); every other request of a run was
    // authenticated by its cookie and `session` (importtoken made two).
    let metrics = reqwest::blocking::get(format!("{url}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    for (method, n) in [("password", runs.get()), ("admin_session", runs.get() + 1)] {
        let line = format!("keyward_auth_total{{method=\"{method}\",outcome=\"success\"}} {n}\n");
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    assert!(!metrics.contains("method=\"admin_session\",outcome=\"failure\""));

    // Every change ran as the admin account.
    let actors = env.query_strings(
        "SELECT DISTINCT actor FROM audit_log WHERE action LIKE 'token %' AND success = 1",
    );
    assert_eq!(actors, [[format!("user:{ADMIN}")]]);
});

// A plain HTTP client (no cookie store): what the session guard answers.
both_backends!(admin_session_guard, |env: &TestEnv| {
    setup(env);
    user(env, "viewer");
    env.console_ok(&["promoteuser", "viewer", "auditor"]);
    let key = key_for(env, ADMIN);
    let server = env.serve_in_process();
    let http = reqwest::blocking::Client::new();
    let url = |p: &str| format!("{}{p}", server.url());
    let code = |v: &Value| v["result"]["error"]["code"].as_i64();

    // No credentials: 401 with the Basic challenge and LinOTP's envelope.
    let r = http.get(url("/admin/show")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"keyward\"");
    let v: Value = r.json().unwrap();
    assert_eq!(
        (v["result"]["status"].clone(), code(&v)),
        (false.into(), Some(-311))
    );
    let r = http.get(url("/admin/getsession")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"keyward\"");

    // Digest is refused and says what to use instead.
    let r = http
        .get(url("/admin/show"))
        .header(
            "Authorization",
            "Digest username=\"opadmin\", realm=\"keyward\"",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().unwrap();
    let msg = v["result"]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("Digest") && msg.contains("--authtype=Basic"),
        "{msg}"
    );

    // A wrong Basic password: 401, no cookie.
    let r = http
        .get(url("/admin/getsession"))
        .basic_auth(ADMIN, Some("wrong-password"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());

    // getsession with Basic: the cookie.
    let r = http
        .get(url("/admin/getsession"))
        .basic_auth(ADMIN, Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let v: Value = r.json().unwrap();
    assert_eq!(v["result"]["value"], true, "{v}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=600"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let value = set_cookie
        .split(';')
        .next()
        .and_then(|c| c.strip_prefix("admin_session="))
        .unwrap()
        .to_string();
    let cookie = format!("admin_session={value}");

    // An admin key gets `true` and no cookie (it keeps using its key).
    let r = http
        .get(url("/admin/getsession"))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none());

    // A token to try to remove.
    let r = http
        .post(url("/admin/init"))
        .bearer_auth(&key)
        .form(&[
            ("serial", "GUARD001"),
            ("otpkey", RFC_KEY_HEX),
            ("user", "alice"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["result"]["status"], true);

    // The cookie without `session`, or with a wrong one: refused (403, -311), nothing changed.
    let wrong = format!("{}x", &value[..value.len() - 1]);
    for form in [
        vec![("serial", "GUARD001")],
        vec![("serial", "GUARD001"), ("session", wrong.as_str())],
    ] {
        let r = http
            .post(url("/admin/remove"))
            .header("Cookie", &cookie)
            .form(&form)
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "{form:?}");
        assert!(r.headers().get("www-authenticate").is_none());
        let v: Value = r.json().unwrap();
        assert_eq!(code(&v), Some(-311), "{v}");
        assert!(
            v["result"]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("session"),
            "{v}"
        );
    }
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM tokens WHERE serial = 'GUARD001'"),
        1
    );

    // With the matching `session` it works, as the account.
    let r = http
        .post(url("/admin/remove"))
        .header("Cookie", &cookie)
        .form(&[("serial", "GUARD001"), ("session", value.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["result"]["value"], 1);
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM tokens WHERE serial = 'GUARD001'"),
        0
    );
    assert_eq!(
        env.query_strings(
            "SELECT actor FROM audit_log WHERE action = 'token remove' AND success = 1"
        ),
        [[format!("user:{ADMIN}")]]
    );

    // A forged cookie (its session repeated) is not a session: 401 with the challenge.
    let forged = format!("admin_session={wrong}");
    let r = http
        .get(url("/admin/show"))
        .header("Cookie", &forged)
        .query(&[("session", wrong.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"keyward\"");

    // Roles still apply: an auditor's cookie reads but cannot enrol.
    let r = http
        .get(url("/admin/getsession"))
        .basic_auth("viewer", Some(PASSWORD))
        .send()
        .unwrap();
    let viewer = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let viewer_value = viewer
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("admin_session=")
        .unwrap();
    let send = |endpoint: &str| {
        http.post(url(endpoint))
            .header("Cookie", format!("admin_session={viewer_value}"))
            .form(&[
                ("serial", "VIEW0001"),
                ("genkey", "1"),
                ("session", viewer_value),
            ])
            .send()
            .unwrap()
    };
    assert_eq!(send("/admin/show").status(), 200);
    let r = send("/admin/init");
    assert_eq!(r.status(), 403);
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM tokens WHERE serial = 'VIEW0001'"),
        0
    );

    // A new password ends the cookie at once.
    env.console_ok(&["resetpassword", ADMIN, "--password", "pw-67890-new"]);
    let r = http
        .get(url("/admin/show"))
        .header("Cookie", &cookie)
        .query(&[("session", value.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
});

/// An `admin_session` value computed outside keyward (Python's hmac) from the documented format
/// `USERID.EXPIRES.NONCE.MAC` with the server's `secret_key` and the account's password hash.
fn forge_cookie(env: &TestEnv, username: &str, expires: i64) -> String {
    let keys = std::fs::read_to_string(env.data_dir().join("server-keys.toml")).unwrap();
    let secret = keys
        .lines()
        .find_map(|l| l.strip_prefix("secret_key = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let row = &env.query_strings(&format!(
        "SELECT id, password_hash FROM users WHERE username = '{username}'"
    ))[0];
    let script = r#"
import base64, hashlib, hmac, struct, sys
secret, uid, expires, nonce, pwhash = sys.argv[1:]
m = hmac.new(bytes.fromhex(secret), digestmod=hashlib.sha256)
for part in [b"keyward linotp admin_session v1", uid.encode(), expires.encode(), nonce.encode(), pwhash.encode()]:
    m.update(struct.pack(">Q", len(part)) + part)
print(f"{uid}.{expires}.{nonce}." + base64.urlsafe_b64encode(m.digest()).decode().rstrip("="))
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &secret,
            &row[0],
            &expires.to_string(),
            "bm9uY2U",
            &row[1],
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

// The cookie's lifetime: a genuine value is accepted only until it expires, and one claiming a
// longer life than keyward gives is refused too.
both_backends!(admin_session_expires, |env: &TestEnv| {
    setup(env);
    let server = env.serve_in_process();
    let http = reqwest::blocking::Client::new();
    let show = |value: &str| {
        http.get(format!("{}/admin/show", server.url()))
            .header("Cookie", format!("admin_session={value}"))
            .query(&[("session", value)])
            .send()
            .unwrap()
            .status()
    };
    let now = crate::oath::now();
    assert_eq!(show(&forge_cookie(env, ADMIN, now + 300)), 200);
    assert_eq!(show(&forge_cookie(env, ADMIN, now - 1)), 401);
    assert_eq!(show(&forge_cookie(env, ADMIN, now + 3600)), 401);
    // A regular account (no role) gets nothing from a genuine cookie either.
    assert_eq!(show(&forge_cookie(env, "alice", now + 300)), 401);
});
