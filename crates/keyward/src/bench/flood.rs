//! `keyward bench flood`: the unauthenticated-validation flood of issue 7 (item 6) as a
//! repeatable measurement. It starts a real `keyward serve` (this binary, as a child process, on
//! a throwaway SQLite installation with the default Argon2 cost), enrolls one user with two PIN
//! tokens, and then for `--seconds` keeps `--concurrency` clients sending `/validate/check` with
//! a wrong PIN — the most expensive unauthenticated request there is (every PIN hash of the user
//! is evaluated, twice). Meanwhile it samples the server's resident memory from `/proc` and the
//! latency of `/healthz` on fresh connections, and prints the figures.
//!
//! With `--url` it targets a running server instead (`--user` names a user with PIN tokens;
//! `--pid` enables the memory figures).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde_json::json;

use crate::bench::Report;

#[derive(Args)]
pub struct FloodArgs {
    /// Concurrent clients sending `/validate/check`.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// How long to keep the flood going, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Target this running server instead of starting one.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The target server's process id (memory figures need it).
    #[arg(long)]
    pid: Option<u32>,
    /// The user to validate (with `--url`; must own PIN tokens).
    #[arg(long, default_value = "flood")]
    user: String,
    /// Flood `POST /auth/login` with the user's right password instead (one password hash per
    /// request; answered 401 "second factor required", so the login throttle stays out of it).
    #[arg(long)]
    login: bool,
    /// Print a JSON summary on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
}

impl FloodArgs {
    pub fn json(&self) -> bool {
        self.json
    }
}

/// A server this benchmark started; killed on drop.
struct Started {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `keyward` (this executable) with `config`, and no `KEYWARD_*` from the environment.
fn keyward(config: &std::path::Path) -> anyhow::Result<Command> {
    let mut cmd = Command::new(std::env::current_exe().context("cannot find this executable")?);
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("KEYWARD_CONFIG", config);
    Ok(cmd)
}

fn manage(config: &std::path::Path, args: &[&str]) -> anyhow::Result<()> {
    let out = keyward(config)?
        .arg("manage")
        .args(args)
        .output()
        .context("cannot run keyward manage")?;
    if !out.status.success() {
        bail!(
            "keyward manage {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Sets up a throwaway installation (default settings, SQLite) and starts `keyward serve`.
fn start_server() -> anyhow::Result<(Started, String)> {
    let dir = tempfile::Builder::new()
        .prefix("keyward-flood-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let config = dir.path().join("keyward.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\nlog_level = \"warn\"\n",
            dir.path().join("data").display()
        ),
    )?;
    eprintln!("flood: enrolling user flood with two PIN tokens (default Argon2 cost)");
    manage(
        &config,
        &[
            "createuser",
            "flood",
            "flood-pass-1",
            "flood@example.invalid",
        ],
    )?;
    for (serial, pin) in [("FLOOD1", "1111"), ("FLOOD2", "2222")] {
        let key = keyward_core::random::hex(20)?;
        manage(
            &config,
            &[
                "token", "init", "--serial", serial, "--otpkey", &key, "--user", "flood", "--pin",
                pin,
            ],
        )?;
    }
    let mut child = keyward(&config)?
        .arg("serve")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start keyward serve")?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow!("no stderr from keyward serve"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(url) = line.split("listening on ").nth(1) {
                let _ = tx.send(url.trim().to_string());
                sent = true;
            }
        }
    });
    let started = Started { child, _dir: dir };
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| anyhow!("keyward serve did not start"))?;
    Ok((started, url))
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let last = sorted.len() - 1;
    let i = ((last as f64) * p).round() as usize;
    sorted.get(i.min(last)).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

#[derive(Default)]
struct Counts {
    reject: AtomicU64,
    refused_401: AtomicU64,
    accept: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
    failed: AtomicU64,
    busy_with_retry_after: AtomicU64,
}

pub async fn flood(a: FloodArgs) -> anyhow::Result<Report> {
    if a.concurrency == 0 || a.seconds == 0 {
        bail!("--concurrency and --seconds must be at least 1");
    }
    let (started, url, pid) = match &a.url {
        Some(url) => (None, url.trim_end_matches('/').to_string(), a.pid),
        None => {
            let (s, url) = tokio::task::spawn_blocking(start_server).await??;
            let pid = s.child.id();
            (Some(s), url, Some(pid))
        }
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = pid.and_then(memory_kib);
    let (path, body, what) = if a.login {
        (
            "/auth/login",
            json!({ "username": a.user, "password": "flood-pass-1" }),
            "password-only /auth/login",
        )
    } else {
        (
            "/validate/check",
            json!({ "user": a.user, "pass": "9999123456" }),
            "wrong-PIN /validate/check",
        )
    };
    eprintln!(
        "flood: {} clients × {} s of {what} against {url}",
        a.concurrency, a.seconds
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .timeout(Duration::from_secs(60))
        .build()?;
    let counts = Arc::new(Counts::default());
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..a.concurrency {
        let (client, counts, target, body) = (
            client.clone(),
            counts.clone(),
            format!("{url}{path}"),
            body.clone(),
        );
        workers.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let sent = client.post(&target).json(&body).send().await;
                let counter = match sent {
                    Ok(r) if r.status().as_u16() == 503 => {
                        if r.headers().contains_key("retry-after") {
                            counts.busy_with_retry_after.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = r.bytes().await;
                        &counts.busy
                    }
                    Ok(r) if r.status().as_u16() == 401 => {
                        let _ = r.bytes().await;
                        &counts.refused_401
                    }
                    Ok(r) if r.status().is_success() => match r.text().await {
                        Ok(t) if t.contains("\"ACCEPT\"") => &counts.accept,
                        Ok(t) if t.contains("\"REJECT\"") => &counts.reject,
                        _ => &counts.other,
                    },
                    Ok(_) => &counts.other,
                    Err(_) => &counts.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                latencies.push(t.elapsed());
            }
            latencies
        });
    }

    // /healthz on a fresh connection every 100 ms, and memory every 20 ms, during the flood.
    let probe_client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()?;
    let probe_url = format!("{url}/healthz");
    let probes = tokio::spawn(async move {
        let mut times = Vec::new();
        let mut failures = 0u64;
        while Instant::now() < deadline {
            let t = Instant::now();
            match probe_client.get(&probe_url).send().await {
                Ok(r) if r.status().is_success() => times.push(t.elapsed()),
                _ => failures += 1,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (times, failures)
    });
    let sampler = tokio::spawn(async move {
        let mut peak_rss = 0u64;
        while Instant::now() < deadline {
            if let Some((rss, _)) = pid.and_then(memory_kib) {
                peak_rss = peak_rss.max(rss);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        peak_rss
    });

    let mut latencies = Vec::new();
    while let Some(done) = workers.join_next().await {
        latencies.extend(done?);
    }
    let (mut health, health_failures) = probes.await?;
    let peak_rss_sampled = sampler.await?;
    let end = pid.and_then(memory_kib);
    drop(started);

    latencies.sort();
    health.sort();
    let total = latencies.len() as u64;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let hwm_mib = end.map(|(_, hwm)| hwm / 1024);
    let mut text = String::new();
    text.push_str(&format!(
        "{what} flood: {} clients, {} s, {} requests ({:.0}/s)\n",
        a.concurrency,
        a.seconds,
        total,
        total as f64 / a.seconds as f64
    ));
    text.push_str(&format!(
        "  answers: {} REJECT, {} ACCEPT, {} 401, 503 busy {} (with Retry-After {}), other {}, failed {}\n",
        get(&counts.reject),
        get(&counts.accept),
        get(&counts.refused_401),
        get(&counts.busy),
        get(&counts.busy_with_retry_after),
        get(&counts.other),
        get(&counts.failed)
    ));
    text.push_str(&format!(
        "  request latency ms: p50 {} p99 {} max {}\n",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default())
    ));
    text.push_str(&format!(
        "  /healthz (fresh connection every 100 ms): {} ok, {} failed; ms p50 {} p99 {} max {}\n",
        health.len(),
        health_failures,
        ms(percentile(&health, 0.5)),
        ms(percentile(&health, 0.99)),
        ms(health.last().copied().unwrap_or_default())
    ));
    match (baseline, end) {
        (Some((rss0, _)), Some((_, hwm))) => text.push_str(&format!(
            "  server memory: {} MiB before, peak RSS sampled {} MiB, VmHWM {} MiB\n",
            rss0 / 1024,
            peak_rss_sampled / 1024,
            hwm / 1024
        )),
        _ => text.push_str("  server memory: not measured (no --pid)\n"),
    }
    let json = json!({
        "endpoint": path,
        "concurrency": a.concurrency,
        "seconds": a.seconds,
        "requests": total,
        "reject": get(&counts.reject),
        "accept": get(&counts.accept),
        "refused_401": get(&counts.refused_401),
        "busy_503": get(&counts.busy),
        "busy_503_with_retry_after": get(&counts.busy_with_retry_after),
        "other": get(&counts.other),
        "failed": get(&counts.failed),
        "latency_ms": {
            "p50": ms(percentile(&latencies, 0.5)),
            "p99": ms(percentile(&latencies, 0.99)),
        },
        "healthz_ms": {
            "ok": health.len(),
            "failed": health_failures,
            "p50": ms(percentile(&health, 0.5)),
            "p99": ms(percentile(&health, 0.99)),
            "max": ms(health.last().copied().unwrap_or_default()),
        },
        "rss_before_kib": baseline.map(|(rss, _)| rss),
        "peak_rss_sampled_kib": peak_rss_sampled,
        "vm_hwm_mib": hwm_mib,
    });
    Ok(Report { text, json })
}
