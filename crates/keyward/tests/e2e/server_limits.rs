//! Resource limits of the real server (issue 7, items 6 and 7): bounded password/PIN hashing
//! answers 503 with `Retry-After` past its slots and queue instead of growing without bound;
//! slow or idle clients are cut by the header and body timeouts, connections beyond the limit
//! are closed at once, and the open-file limit is raised at start.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::{Backend, TestEnv, fixture};
use crate::oath::{self, RFC_KEY_HEX};
use crate::server_client::{Http, Served};

/// Peak resident memory of a process in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `host:port` of a server URL.
fn authority(server: &impl Served) -> String {
    server
        .base_url()
        .split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_string()
}

/// Fires `n` requests at once (each on its own connection); returns (status, Retry-After, body).
fn flood(url: &str, n: usize, body: &Value) -> Vec<(u16, Option<String>, String)> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (url, body, barrier) = (url.to_string(), body.clone(), barrier.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(120))
                    .build()
                    .unwrap();
                barrier.wait();
                let r = client.post(url).json(&body).send().unwrap();
                let retry = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                (r.status().as_u16(), retry, r.text().unwrap())
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Slow hashes (64 MiB, 2 passes) for what is created through `manage` with this helper.
fn manage_slow_hash(env: &TestEnv, args: &[&str]) {
    let out = env
        .manage(args)
        .env("KEYWARD_ARGON2_MEMORY_KIB", "65536")
        .env("KEYWARD_ARGON2_ITERATIONS", "2")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

both_backends!(
    item6_hashing_beyond_slots_and_queue_answers_503_with_retry_after,
    "password_hash_concurrency = 1\npassword_hash_queue = 1\npassword_hash_queue_ms = 100",
    |env: &TestEnv| {
        manage_slow_hash(env, &["createuser", "alice", "pw-alice-1", "a@example.com"]);
        manage_slow_hash(env, &["createuser", "bob", "pw-bob-123", "b@example.com"]);
        for (serial, pin) in [("H1", "1111"), ("H2", "2222")] {
            manage_slow_hash(
                env,
                &[
                    "token",
                    "init",
                    "--serial",
                    serial,
                    "--otpkey",
                    RFC_KEY_HEX,
                    "--user",
                    "alice",
                    "--pin",
                    pin,
                ],
            );
        }
        let server = env.serve();
        let pid = server.child.id();
        let before = peak_rss_kib(pid);

        // 30 unauthenticated validations at once, each needing up to four 64 MiB hashes.
        let answers = flood(
            &format!("{}/validate/check", server.url),
            30,
            &json!({ "user": "alice", "pass": "9999123456" }),
        );
        let mut busy = 0;
        for (status, retry, text) in &answers {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["jsonrpc"], "2.0", "{text}");
            match status {
                200 => assert_eq!(v["result"]["authentication"], "REJECT", "{text}"),
                503 => {
                    busy += 1;
                    assert_eq!(retry.as_deref(), Some("1"), "{text}");
                    assert_eq!(v["result"]["status"], false, "{text}");
                    assert_eq!(v["result"]["error"]["code"], -1, "{text}");
                    assert!(!text.contains("9999"), "{text}");
                }
                other => panic!("unexpected {other}: {text}"),
            }
        }
        assert!(
            busy > 0,
            "no request was refused as overloaded: {answers:?}"
        );

        // Logins go through the same slots: 503 with Retry-After and the JSON error body.
        let logins = flood(
            &format!("{}/auth/login", server.url),
            20,
            &json!({ "username": "bob", "password": "pw-bob-123" }),
        );
        let mut busy_logins = 0;
        for (status, retry, text) in &logins {
            match status {
                200 => {}
                503 => {
                    busy_logins += 1;
                    assert_eq!(retry.as_deref(), Some("1"), "{text}");
                    let v: Value = serde_json::from_str(text).unwrap();
                    assert_eq!(v["status"], 503, "{text}");
                    assert!(!text.contains("pw-bob"), "{text}");
                }
                // The login throttle counts attempts in flight (issue 7, item 9): more than
                // its limit of concurrent logins of one user from one address get 429.
                429 => assert!(retry.is_some(), "{text}"),
                other => panic!("unexpected {other}: {text}"),
            }
        }
        assert!(busy_logins > 0, "no login was refused as overloaded");

        // One slot: at most one 64 MiB evaluation at a time (unbounded, 30 × 4 would overlap).
        let grown_mib = peak_rss_kib(pid).saturating_sub(before) / 1024;
        assert!(
            grown_mib < 64 + 96,
            "peak RSS grew by {grown_mib} MiB under the flood"
        );

        // Refusals wrote no audit rows (a flood must not become an audit-row flood).
        assert_eq!(
            env.query_i64("SELECT COUNT(*) FROM audit_log WHERE details LIKE '%busy%'"),
            0
        );

        // Not overloaded, the answers are the right ones.
        let http = Http::new(&server);
        let check = |pass: String| {
            let r = http.post(
                "/validate/check",
                &json!({ "user": "alice", "pass": pass }),
                None,
            );
            assert_eq!(r.status, 200, "{}", r.text);
            r.json()["result"]["value"].as_bool().unwrap()
        };
        // The flood's wrong PINs counted against both tokens: unlock them.
        env.exec("UPDATE tokens SET fail_count = 0");
        assert!(check(format!("2222{}", oath::hotp(RFC_KEY_HEX, 0, 6))));
        assert!(
            !check(format!("2222{}", oath::hotp(RFC_KEY_HEX, 0, 6))),
            "replay"
        );
        assert!(
            !check(format!("3333{}", oath::hotp(RFC_KEY_HEX, 1, 6))),
            "wrong PIN"
        );
        assert!(check(format!("1111{}", oath::hotp(RFC_KEY_HEX, 1, 6))));
        assert_eq!(http.login("bob", "pw-bob-123").status, 200);
    }
);

/// Reads until the server closes the connection (or `limit` passes); returns what it sent and
/// how long it took, or `None` when it kept the connection open.
fn wait_for_close(stream: &mut TcpStream, limit: Duration) -> Option<(String, Duration)> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some((String::from_utf8_lossy(&got).into(), started.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some((String::from_utf8_lossy(&got).into(), started.elapsed())),
        }
    }
    None
}

#[test]
fn item7_half_sent_requests_are_cut_after_the_header_and_body_timeouts() {
    let env = TestEnv::with_config(
        Backend::Sqlite,
        "header_read_timeout_secs = 1\nbody_read_timeout_secs = 2",
    );
    let server = env.serve_in_process();
    let addr = authority(&server);

    // Headers never finished.
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let (_, took) = wait_for_close(&mut half, Duration::from_secs(10))
        .expect("a half-sent request head must be cut");
    assert!(took < Duration::from_secs(4), "cut after {took:?}");

    // Nothing sent at all.
    let mut silent = TcpStream::connect(&addr).unwrap();
    let (_, took) = wait_for_close(&mut silent, Duration::from_secs(10))
        .expect("a silent connection must be cut");
    assert!(took < Duration::from_secs(4), "cut after {took:?}");

    // A body that stops halfway: answered (4xx) or closed within the body deadline.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(
        b"POST /validate/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"user\": ",
    )
    .unwrap();
    let (answer, took) =
        wait_for_close(&mut slow, Duration::from_secs(15)).expect("a stalled body must be cut");
    assert!(took < Duration::from_secs(6), "cut after {took:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer}"
    );

    // A complete request on a fresh connection is still served.
    assert_eq!(Http::new(&server).get("/healthz", None).status, 200);
}

#[test]
fn item7_tls_handshake_is_cut_after_the_header_timeout() {
    let env = TestEnv::with_config(
        Backend::Sqlite,
        &format!(
            "header_read_timeout_secs = 1\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
            fixture("tls/cert.pem").display(),
            fixture("tls/key.pem").display()
        ),
    );
    let server = env.serve_in_process();
    let mut silent = TcpStream::connect(authority(&server)).unwrap();
    let (_, took) = wait_for_close(&mut silent, Duration::from_secs(10))
        .expect("a connection that never starts TLS must be cut");
    assert!(took < Duration::from_secs(4), "cut after {took:?}");
    assert_eq!(Http::new(&server).get("/healthz", None).status, 200);
}

#[test]
fn item7_open_file_limit_is_raised_to_the_hard_limit() {
    let env = TestEnv::new(Backend::Sqlite);
    // Started with a low soft limit, as service managers often do.
    let server = env.serve_via(&["prlimit", "--nofile=256:"], &[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers.len(), 2, "{line}");
    assert_eq!(numbers[0], numbers[1], "soft limit not raised: {line}");
    assert_ne!(numbers[0], "256", "{line}");
}

#[test]
fn item7_connections_over_the_limit_are_closed_and_healthz_recovers() {
    let env = TestEnv::with_config(Backend::Sqlite, "header_read_timeout_secs = 60");
    // 128 descriptors in all, soft and hard: max_connections (1024) must shrink to fit.
    let server = env.serve_via(&["prlimit", "--nofile=128:128"], &[]);
    let addr = authority(&server);
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
        held.push(s);
    }
    std::thread::sleep(Duration::from_secs(2));
    let mut open = 0;
    for s in &mut held {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            _ => {}
        }
    }
    assert!(
        (1..=64).contains(&open),
        "{open} of 300 slow connections still open (limit 128 - 64 reserved)"
    );
    drop(held);
    let http = Http::new(&server);
    let started = Instant::now();
    loop {
        let ok = http
            .client
            .get(http.url("/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .map(|r| r.status().as_u16() == 200)
            .unwrap_or(false);
        if ok {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "/healthz did not recover"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
