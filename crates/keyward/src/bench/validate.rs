//! `bench validate`: HOTP tokens with known seeds, the real router in-process, and concurrent
//! keep-alive clients sending the correct next OTP; durable validations per second and latency.

use super::*;

/// One enrolled user as a client knows it.
#[derive(Clone)]
struct BenchUser {
    name: String,
    seed: Vec<u8>,
    next_counter: u64,
}

pub(super) async fn validate(a: ValidateArgs) -> anyhow::Result<Report> {
    if a.concurrency == 0 || a.seconds == 0 {
        bail!("--concurrency and --seconds must be at least 1");
    }
    if a.users < a.concurrency {
        bail!("--users must be at least --concurrency (every worker owns its own users)");
    }
    let mut env = BenchEnv::create(a.database_url.as_deref()).await?;
    // User creation cost is not under test.
    env.settings.argon2_memory_kib = 1024;
    env.settings.argon2_iterations = 1;
    let result = validate_in(&env, &a).await;
    env.cleanup().await;
    result
}

async fn validate_in(env: &BenchEnv, a: &ValidateArgs) -> anyhow::Result<Report> {
    let shared = Arc::new(Shared::open(env.settings.clone(), "bench".into()).await?);
    let result = validate_measure(env, &shared, a).await;
    shared.store.close().await;
    result
}

/// Creates `n` users `benchNNNNN`, each with one HOTP token (no PIN, random 20-byte seed)
/// enrolled through the registry's `token init`, by a few concurrent tasks.
async fn enroll(
    shared: &Arc<Shared>,
    registry: &Arc<Registry>,
    n: usize,
) -> anyhow::Result<Vec<BenchUser>> {
    let hash =
        keyward_core::password::hash_password("bench-password", &shared.settings.argon2_params())
            .map_err(|e| anyhow!("cannot hash the bench password: {e}"))?;
    let tasks = 4;
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let (shared, registry, hash) = (shared.clone(), registry.clone(), hash.clone());
        set.spawn(async move {
            let ctx = Ctx::console(shared.clone());
            let mut mine = Vec::new();
            for i in (t..n).step_by(tasks) {
                let name = format!("bench{i:05}");
                shared
                    .store
                    .create_user(&NewUser {
                        username: &name,
                        password_hash: &hash,
                        email: &format!("{name}@example.invalid"),
                        now: keyward_store::now_secs(),
                        may_be_first: true,
                    })
                    .await?;
                let seed = keyward_core::random::vec(20)?;
                let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
                let serial = format!("BENCH{i:05}");
                registry
                    .run_params(
                        &ctx,
                        "token init",
                        params(&[
                            ("type", "hotp"),
                            ("otpkey", &hex),
                            ("user", &name),
                            ("serial", &serial),
                        ]),
                    )
                    .await?;
                mine.push((
                    i,
                    BenchUser {
                        name,
                        seed,
                        next_counter: 0,
                    },
                ));
            }
            anyhow::Ok(mine)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = set.join_next().await {
        all.extend(done??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, u)| u).collect())
}

#[derive(Default)]
struct WorkerResult {
    accepted: u64,
    rejected: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Vec<Duration>,
}

async fn worker(
    client: reqwest::Client,
    url: String,
    mut users: Vec<BenchUser>,
    deadline: Instant,
) -> WorkerResult {
    let mut r = WorkerResult::default();
    let mut k = 0usize;
    let n = users.len();
    while Instant::now() < deadline {
        let Some(u) = users.get_mut(k % n) else {
            break;
        };
        k = k.wrapping_add(1);
        let pass = hotp(&u.seed, u.next_counter, 6, HashAlg::Sha1);
        let body = json!({ "user": u.name, "pass": pass });
        let started = Instant::now();
        let answer = async {
            let resp = client.post(&url).json(&body).send().await?;
            let status = resp.status();
            let value: Value = resp.json().await?;
            anyhow::Ok((status, value))
        }
        .await;
        let took = started.elapsed();
        match answer {
            Ok((status, value)) if status.is_success() => {
                r.latencies.push(took);
                if value.pointer("/result/value") == Some(&Value::Bool(true)) {
                    r.accepted += 1;
                    u.next_counter += 1;
                } else {
                    r.rejected += 1;
                    // The counter did not move; the same value is tried again next round.
                }
            }
            Ok((status, value)) => {
                r.errors += 1;
                r.first_error
                    .get_or_insert_with(|| format!("HTTP {status}: {value}"));
            }
            Err(e) => {
                r.errors += 1;
                r.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    r
}

async fn validate_measure(
    env: &BenchEnv,
    shared: &Arc<Shared>,
    a: &ValidateArgs,
) -> anyhow::Result<Report> {
    shared.enckey().await?;
    shared.server_keys().await?;
    let registry = Arc::new(Registry::standard());
    eprintln!(
        "keyward bench validate: enrolling {} users with one HOTP token each on {} ...",
        a.users,
        env.backend()
    );
    let enroll_started = Instant::now();
    let users = enroll(shared, &registry, a.users).await?;
    let enroll_time = enroll_started.elapsed();

    let state = keyward_server::AppState::new(shared.clone(), registry.clone());
    let app = keyward_server::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    let url = format!("http://{addr}/validate/check");
    let mut slices: Vec<Vec<BenchUser>> = vec![Vec::new(); a.concurrency];
    for (i, u) in users.into_iter().enumerate() {
        if let Some(slice) = slices.get_mut(i % a.concurrency) {
            slice.push(u);
        }
    }
    eprintln!(
        "keyward bench validate: {} workers for {} s against {url} ...",
        a.concurrency, a.seconds
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.seconds);
    let mut set = tokio::task::JoinSet::new();
    for slice in slices {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()?;
        set.spawn(worker(client, url.clone(), slice, deadline));
    }
    let mut total = WorkerResult::default();
    while let Some(done) = set.join_next().await {
        let r = done?;
        total.accepted += r.accepted;
        total.rejected += r.rejected;
        total.errors += r.errors;
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
        total.latencies.extend(r.latencies);
    }
    let elapsed = started.elapsed();
    let _ = stop.send(());
    server.await??;

    // Cross-checks in the database: every accepted OTP moved one counter and wrote one audit row.
    let counter_sum = shared.store.token_counter_sum().await?;
    let audit_rows = shared.store.count_audit_action("validate").await?;

    let mut lat = std::mem::take(&mut total.latencies);
    lat.sort();
    let answered = total.accepted + total.rejected;
    let secs = elapsed.as_secs_f64();
    let rate = answered as f64 / secs;
    let accepted_rate = total.accepted as f64 / secs;
    let (p50, p90, p99) = (
        quantile(&lat, 0.50),
        quantile(&lat, 0.90),
        quantile(&lat, 0.99),
    );
    let max = lat.last().copied().unwrap_or_default();
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let durability = shared.store.durability().await?;
    let mut text = format!(
        "keyward bench validate ({backend}): {users} users, one HOTP token each (enrolled in {enroll:.1} s)\n\
         server: keyward_server::router in-process on {addr}; {durability}; request logging off\n\
         runtime: one multi-threaded tokio runtime with {workers} worker threads shared by the \
         server and {conc} client workers (reqwest, keep-alive), same process\n\
         load: {conc} workers x {secs:.1} s, POST /validate/check {{user, pass}} with the correct \
         next HOTP, round-robin over each worker's own users\n\
         answered {answered}: accepted {acc}, rejected {rej}, errors {err}\n\
         throughput: {rate:.0} validations/s ({accepted_rate:.0} accepted/s)\n\
         latency ms: p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}  max {max:.2}\n\
         database check: sum of token counters {counter_sum} (accepted {acc}), \
         validate audit rows {audit_rows}\n",
        backend = env.backend(),
        users = a.users,
        enroll = enroll_time.as_secs_f64(),
        conc = a.concurrency,
        acc = total.accepted,
        rej = total.rejected,
        err = total.errors,
        p50 = ms(p50),
        p90 = ms(p90),
        p99 = ms(p99),
        max = ms(max),
    );
    if let Some(e) = &total.first_error {
        text.push_str(&format!("first error: {e}\n"));
    }
    let json = json!({
        "benchmark": "validate",
        "backend": env.backend(),
        "durability": durability,
        "users": a.users,
        "enroll_seconds": enroll_time.as_secs_f64(),
        "concurrency": a.concurrency,
        "runtime_worker_threads": workers,
        "in_process": true,
        "seconds": secs,
        "answered": answered,
        "accepted": total.accepted,
        "rejected": total.rejected,
        "errors": total.errors,
        "first_error": total.first_error,
        "validations_per_second": rate,
        "accepted_per_second": accepted_rate,
        "latency_ms": {
            "p50": ms(p50),
            "p90": ms(p90),
            "p99": ms(p99),
            "max": ms(max),
        },
        "token_counter_sum": counter_sum,
        "validate_audit_rows": audit_rows,
    });
    Ok(Report { text, json })
}
