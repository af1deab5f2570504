//! Traceable requests (issue 12, item 8): every answer carries `X-Request-Id` (the client's when
//! it is safe, else a fresh one), and with `log_format = "json"` each log line is one JSON object
//! whose spans name the request id and, for registry commands, the command and its actor.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both_backends;
use crate::harness::TestEnv;
use crate::server_validate::{admin_key, user};

/// `keyward serve` with JSON logs: its URL, the process, and the log lines as they come.
fn serve_logging(env: &TestEnv) -> (String, std::process::Child, Arc<Mutex<Vec<String>>>) {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("keyward"));
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env("KEYWARD_CONFIG", &env.config_path)
        .env("KEYWARD_LISTEN", "127.0.0.1:0")
        .env("KEYWARD_LOG_FORMAT", "json")
        .env("KEYWARD_LOG_LEVEL", "info")
        .current_dir(env.dir.path())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("listening on ").nth(1) {
                let _ = tx.send(url.trim().to_string());
            }
            sink.lock().unwrap().push(line);
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    (url, child, lines)
}

/// Waits for a log line matching `want`.
fn log_line(lines: &Arc<Mutex<Vec<String>>>, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| want(v));
        if let Some(v) = found {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "no such log line in {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn span_names(v: &Value) -> Vec<String> {
    v["spans"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

both_backends!(
    item8_requests_carry_an_id_into_headers_and_json_logs,
    |env: &TestEnv| {
        user(env, "root");
        let key = admin_key(env);
        let (url, mut child, lines) = serve_logging(env);
        let http = reqwest::blocking::Client::new();
        // A safe client id is kept; an unsafe one is replaced.
        let r = http
            .get(format!("{url}/healthz"))
            .header("X-Request-Id", "trace-abc.123")
            .send()
            .unwrap();
        assert_eq!(r.headers()["x-request-id"], "trace-abc.123");
        let r = http
            .get(format!("{url}/healthz"))
            .header("X-Request-Id", "<script>")
            .send()
            .unwrap();
        let fresh = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(fresh.len(), 32, "{fresh}");
        // A registry command over HTTP logs inside its request's span.
        let r = http
            .post(format!("{url}/admin/init"))
            .bearer_auth(&key)
            .header("X-Request-Id", "init-req-7")
            .json(&json!({"serial": "T1", "otpkey": crate::oath::RFC_KEY_HEX, "pin": "4321"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let line = log_line(&lines, |v| {
            v["span"]["request_id"] == "init-req-7" && v["fields"]["message"] == "request"
        });
        assert_eq!(line["fields"]["status"], 200, "{line}");
        // The command's line sits in the command's span inside the request's.
        let line = log_line(&lines, |v| v["fields"]["message"] == "command done");
        assert_eq!(span_names(&line), ["request", "command"], "{line}");
        assert_eq!(line["spans"][0]["request_id"], "init-req-7", "{line}");
        assert_eq!(line["span"]["command"], "token init", "{line}");
        assert!(
            line["span"]["actor"]
                .as_str()
                .unwrap()
                .starts_with("apikey:"),
            "{line}"
        );
        let _ = child.kill();
        let _ = child.wait();
        let all = lines.lock().unwrap().join("\n");
        assert!(!all.contains("4321"), "the PIN reached the log");
    }
);
