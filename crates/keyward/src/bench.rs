//! `keyward bench`: reproducible performance measurements on a throwaway installation.
//!
//! * `bench show` fills a fresh database with many token rows (bulk SQL, seeds left empty since
//!   listing never opens them) and times `token show` through the command registry, the code
//!   path of `keyward manage token show` and `/admin/show`; it prints the database's query plan
//!   of the page query as evidence that paging happens in the database.
//! * `bench validate` enrolls HOTP tokens with known seeds, serves the real router in-process on
//!   127.0.0.1 and drives `POST /validate/check` from concurrent keep-alive clients that always
//!   send the correct next OTP, reporting durable validations per second and latency.
//!
//! * `bench flood` (in `bench_flood`) floods a real server process with unauthenticated
//!   wrong-PIN validations and reports its memory and `/healthz` latency.
//!
//! Both run on SQLite in a temporary directory by default; with `--database-url postgres://…`
//! they create a database `kw_bench_<random>` on that server and drop it afterwards. See
//! BENCHMARKS.md for how to read the numbers.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use keyward_commands::{Ctx, Registry, Settings, Shared};
use keyward_core::otp::{HashAlg, hotp};
use keyward_store::users::NewUser;
use keyward_store::{Backend, OpenOptions, Store};
use serde_json::{Map, Value, json};
use sqlx::Row;

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(Subcommand)]
enum Which {
    /// Time `token show` (paged, sorted, filtered) over a large token table.
    Show(ShowArgs),
    /// Throughput and latency of `POST /validate/check` with correct HOTP values.
    Validate(ValidateArgs),
    /// Unauthenticated wrong-PIN validation flood: server memory and `/healthz` latency.
    Flood(crate::bench_flood::FloodArgs),
}

#[derive(Args)]
struct ShowArgs {
    /// Token rows to insert.
    #[arg(long, default_value_t = 100_000)]
    tokens: u64,
    /// Users owning every 10th token.
    #[arg(long, default_value_t = 300)]
    users: u64,
    /// Page to fetch (1-based).
    #[arg(long, default_value_t = 50)]
    page: u64,
    /// Rows per page (keyward caps `pagesize` at 1000).
    #[arg(long, default_value_t = 50)]
    pagesize: u64,
    /// Timed runs per variant (after one untimed warm-up run).
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// The `filter` text of the filtered variant.
    #[arg(long, default_value = "hotp")]
    filter: String,
    /// PostgreSQL server to use (a throwaway database is created and dropped); default SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Print a JSON summary on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ValidateArgs {
    /// Concurrent client workers (each a keep-alive connection).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long to drive load, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Users to enroll, each with one HOTP token without PIN.
    #[arg(long, default_value_t = 2000)]
    users: usize,
    /// PostgreSQL server to use (a throwaway database is created and dropped); default SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Print a JSON summary on stdout (progress goes to stderr).
    #[arg(long)]
    json: bool,
}

pub async fn run(args: BenchArgs) -> ExitCode {
    let (result, json) = match args.which {
        Which::Show(a) => {
            let json = a.json;
            (show(a).await, json)
        }
        Which::Validate(a) => {
            let json = a.json;
            (validate(a).await, json)
        }
        Which::Flood(a) => {
            let json = a.json();
            (crate::bench_flood::flood(a).await, json)
        }
    };
    match result {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.json).unwrap_or_default()
                );
            } else {
                print!("{}", report.text);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keyward bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// A benchmark's result: the human-readable lines and the JSON summary.
pub(crate) struct Report {
    pub(crate) text: String,
    pub(crate) json: Value,
}

/// A throwaway installation: a temporary data directory and, for PostgreSQL, a database of its
/// own on the given server.
struct BenchEnv {
    dir: tempfile::TempDir,
    settings: Settings,
    pg: Option<PgDatabase>,
}

struct PgDatabase {
    admin_url: String,
    name: String,
}

impl BenchEnv {
    async fn create(database_url: Option<&str>) -> anyhow::Result<BenchEnv> {
        let dir = tempfile::Builder::new()
            .prefix("keyward-bench-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let mut settings = Settings {
            data_dir: dir.path().display().to_string(),
            ..Settings::default()
        };
        let pg = match database_url {
            None => None,
            Some(url) => {
                if Backend::from_url(url)? != Backend::Postgres {
                    bail!("--database-url must be a postgres:// URL (SQLite is the default)");
                }
                let name = format!("kw_bench_{}", keyward_core::random::hex(6)?);
                let admin = Store::connect(url, &one_connection()).await?;
                let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(admin.pool())
                    .await;
                admin.close().await;
                created.with_context(|| format!("cannot create database {name}"))?;
                settings.database_url = Some(with_database(url, &name)?);
                Some(PgDatabase {
                    admin_url: url.to_string(),
                    name,
                })
            }
        };
        Ok(BenchEnv { dir, settings, pg })
    }

    fn backend(&self) -> &'static str {
        if self.pg.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// Drops the PostgreSQL database (the temporary directory goes with `self`).
    async fn cleanup(self) {
        if let Some(pg) = &self.pg {
            let dropped = async {
                let admin = Store::connect(&pg.admin_url, &one_connection()).await?;
                let r = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    pg.name
                )))
                .execute(admin.pool())
                .await;
                admin.close().await;
                r.map(|_| ()).map_err(anyhow::Error::from)
            }
            .await;
            if let Err(e) = dropped {
                eprintln!("keyward bench: could not drop database {}: {e:#}", pg.name);
            }
        }
        drop(self.dir);
    }
}

fn one_connection() -> OpenOptions {
    OpenOptions {
        max_connections: 1,
        ..OpenOptions::default()
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let scheme_end = url
        .find("://")
        .ok_or_else(|| anyhow!("malformed database URL"))?
        + 3;
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    Ok(format!("{}/{name}{query}", &base[..authority_end]))
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// The value at quantile `q` (0..=1) of sorted samples (nearest rank).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or_default()
}

fn params(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// bench show

/// The column list and join of `Store::list_tokens` (crates/store/src/tokens.rs), for EXPLAIN.
const LIST_SELECT: &str = "SELECT t.id, t.serial, t.token_type, t.description, t.owner_id, \
    u.username AS owner_name, t.active, t.seed_sealed, t.pin_hash, t.userpin_sealed, t.sopin_sealed, \
    t.otplen, t.hashlib, t.counter, t.time_step, t.time_window, t.time_shift, t.sync_window, \
    t.count_window, t.fail_count, t.max_fail, t.count_auth, t.count_auth_max, t.count_auth_success, \
    t.count_auth_success_max, t.validity_start, t.validity_end, t.last_auth, t.info, t.created_at, \
    t.updated_at FROM tokens t LEFT JOIN users u ON u.id = t.owner_id ";

/// Rows per INSERT statement and per transaction when filling the table.
const ROWS_PER_INSERT: u64 = 1000;
const ROWS_PER_TX: u64 = 20_000;

async fn show(a: ShowArgs) -> anyhow::Result<Report> {
    if a.pagesize == 0 || a.page == 0 || a.runs == 0 {
        bail!("--page, --pagesize and --runs must be at least 1");
    }
    let env = BenchEnv::create(a.database_url.as_deref()).await?;
    let result = show_in(&env, &a).await;
    env.cleanup().await;
    result
}

async fn show_in(env: &BenchEnv, a: &ShowArgs) -> anyhow::Result<Report> {
    let shared = Arc::new(Shared::open(env.settings.clone(), "bench".into()).await?);
    let result = show_measure(env, &shared, a).await;
    shared.store.close().await;
    result
}

/// Token `i`'s type and serial: three types in turn; serials scrambled so that serial order is
/// not insertion order.
fn bench_token(i: u64) -> (&'static str, String) {
    let scrambled = (i.wrapping_mul(2_654_435_761)) & 0xffff_ffff;
    match i % 3 {
        0 => ("hotp", format!("OATH{scrambled:08X}")),
        1 => ("totp", format!("TOTP{scrambled:08X}")),
        _ => ("pw", format!("PW{scrambled:08X}")),
    }
}

async fn populate(store: &Store, tokens: u64, users: u64) -> anyhow::Result<u64> {
    let now = keyward_store::now_secs();
    let mut tx = store.write_tx().await?;
    let mut user_no = 0;
    while user_no < users {
        let end = (user_no + ROWS_PER_INSERT).min(users);
        let rows: Vec<String> = (user_no..end)
            .map(|u| {
                format!(
                    "('bench-user-{u:06}', 'benchuser{u:06}', 'benchuser{u:06}', '', \
                     'benchuser{u:06}@example.invalid', {now}, {now})"
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO users (id, username, username_key, password_hash, email, created_at, \
             updated_at) VALUES {}",
            rows.join(", ")
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
        user_no = end;
    }
    tx.commit().await?;

    let mut owned = 0;
    let mut start = 0;
    while start < tokens {
        let tx_end = (start + ROWS_PER_TX).min(tokens);
        let mut tx = store.write_tx().await?;
        while start < tx_end {
            let end = (start + ROWS_PER_INSERT).min(tx_end);
            let mut rows = Vec::with_capacity((end - start) as usize);
            let mut realms = Vec::new();
            for i in start..end {
                let (kind, serial) = bench_token(i);
                let owner = if users > 0 && i % 10 == 0 {
                    owned += 1;
                    realms.push(format!("('bench-token-{i:08}', 'benchrealm')"));
                    format!("'bench-user-{:06}'", (i / 10) % users)
                } else {
                    "NULL".to_string()
                };
                rows.push(format!(
                    "('bench-token-{i:08}', '{serial}', '{kind}', 'bench token {i}', {owner}, '', \
                     {now}, {now})"
                ));
            }
            let sql = format!(
                "INSERT INTO tokens (id, serial, token_type, description, owner_id, seed_sealed, \
                 created_at, updated_at) VALUES {}",
                rows.join(", ")
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
            if !realms.is_empty() {
                let sql = format!(
                    "INSERT INTO token_realms (token_id, realm) VALUES {}",
                    realms.join(", ")
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *tx)
                    .await?;
            }
            start = end;
        }
        tx.commit().await?;
    }
    Ok(owned)
}

async fn query_plan(store: &Store, sql: &str) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    match store.backend() {
        Backend::Sqlite => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                .fetch_all(store.pool())
                .await?;
            for row in rows {
                lines.push(row.try_get::<String, _>("detail")?);
            }
        }
        Backend::Postgres => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
                .fetch_all(store.pool())
                .await?;
            for row in rows {
                lines.push(row.try_get::<String, _>(0)?);
            }
        }
    }
    Ok(lines)
}

struct Variant {
    label: String,
    params: Map<String, Value>,
}

async fn show_measure(
    env: &BenchEnv,
    shared: &Arc<Shared>,
    a: &ShowArgs,
) -> anyhow::Result<Report> {
    let store = &shared.store;
    eprintln!(
        "keyward bench show: inserting {} tokens and {} users into {} ...",
        a.tokens,
        a.users,
        env.backend()
    );
    let fill_started = Instant::now();
    let owned = populate(store, a.tokens, a.users).await?;
    let fill = fill_started.elapsed();
    let analyzed = store.backend() == Backend::Postgres;
    if analyzed {
        // What autovacuum would have done by the time a real table has this many rows.
        sqlx::raw_sql("ANALYZE").execute(store.pool()).await?;
    }

    let registry = Registry::standard();
    let ctx = Ctx::console(shared.clone());
    let (page, pagesize) = (a.page.to_string(), a.pagesize.to_string());
    let variants = [
        Variant {
            label: format!("page={page} pagesize={pagesize}"),
            params: params(&[("page", &page), ("pagesize", &pagesize)]),
        },
        Variant {
            label: format!("page={page} pagesize={pagesize} sortby=type"),
            params: params(&[("page", &page), ("pagesize", &pagesize), ("sortby", "type")]),
        },
        Variant {
            label: format!(
                "page={page} pagesize={pagesize} filter={} sortby=type",
                a.filter
            ),
            params: params(&[
                ("page", &page),
                ("pagesize", &pagesize),
                ("filter", &a.filter),
                ("sortby", "type"),
            ]),
        },
    ];

    let offset = (a.page - 1) * a.pagesize;
    let mut text = format!(
        "keyward bench show ({backend}): {tokens} tokens ({owned} owned by {users} users), \
         inserted in {fill:.1} s{analyze}\n\
         registry `token show` as run by `keyward manage` and /admin/show; {runs} timed runs \
         per variant after one warm-up run\n",
        backend = env.backend(),
        tokens = a.tokens,
        users = a.users,
        fill = fill.as_secs_f64(),
        analyze = if analyzed { ", then ANALYZE" } else { "" },
        runs = a.runs,
    );
    let mut results = Vec::new();
    for v in &variants {
        let mut times = Vec::with_capacity(a.runs);
        let mut last = None;
        let warm = Instant::now();
        registry
            .run_params(&ctx, "token show", v.params.clone())
            .await?;
        let first = warm.elapsed();
        for _ in 0..a.runs {
            let t = Instant::now();
            let out = registry
                .run_params(&ctx, "token show", v.params.clone())
                .await?;
            times.push(t.elapsed());
            last = Some(out.json);
        }
        times.sort();
        let out = last.unwrap_or(Value::Null);
        let rows = out
            .get("data")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0) as u64;
        let total = out
            .pointer("/resultset/tokens")
            .and_then(Value::as_i64)
            .unwrap_or(-1);
        let expected = u64::try_from(total)
            .unwrap_or(0)
            .saturating_sub(offset)
            .min(a.pagesize);
        let median = quantile(&times, 0.5);
        let max = times.last().copied().unwrap_or_default();
        text.push_str(&format!(
            "  {:<48} median {:>8.2} ms  max {:>8.2} ms  (warm-up {:.2} ms)  rows {rows}{}  total {total}\n",
            v.label,
            ms(median),
            ms(max),
            ms(first),
            if rows == expected { "" } else { " (UNEXPECTED)" },
        ));
        results.push(json!({
            "variant": v.label,
            "params": v.params,
            "median_ms": ms(median),
            "max_ms": ms(max),
            "warmup_ms": ms(first),
            "rows": rows,
            "rows_expected": expected,
            "total": total,
        }));
    }

    let page_sql = format!(
        "{LIST_SELECT}ORDER BY t.serial ASC LIMIT {} OFFSET {offset}",
        a.pagesize
    );
    let sorted_sql = format!(
        "{LIST_SELECT}ORDER BY t.token_type ASC, t.serial ASC LIMIT {} OFFSET {offset}",
        a.pagesize
    );
    // The filtered variant's WHERE as list_tokens builds it, with the pattern inlined.
    let pattern = format!("'%{}%'", a.filter.to_lowercase().replace('\'', "''"));
    let filtered_sql = format!(
        "{LIST_SELECT}WHERE (LOWER(t.serial) LIKE {pattern} OR LOWER(t.token_type) LIKE {pattern} \
         OR LOWER(t.description) LIKE {pattern} OR u.username_key LIKE {pattern}) \
         ORDER BY t.token_type ASC, t.serial ASC LIMIT {} OFFSET {offset}",
        a.pagesize
    );
    let count_sql = "SELECT COUNT(*) FROM tokens t LEFT JOIN users u ON u.id = t.owner_id";
    let explain = if store.backend() == Backend::Sqlite {
        "EXPLAIN QUERY PLAN"
    } else {
        "EXPLAIN"
    };
    let mut plans = Map::new();
    for (name, sql) in [
        ("page", page_sql.as_str()),
        ("page_sorted_by_type", sorted_sql.as_str()),
        ("page_filtered_sorted_by_type", filtered_sql.as_str()),
        ("count", count_sql),
    ] {
        let plan = query_plan(store, sql).await?;
        let shown_sql = sql.replacen(
            LIST_SELECT,
            "SELECT t.…, u.username … FROM tokens t LEFT JOIN users u ON u.id = t.owner_id ",
            1,
        );
        text.push_str(&format!("{explain} {shown_sql}\n"));
        for line in &plan {
            text.push_str(&format!("    {line}\n"));
        }
        plans.insert(name.to_string(), json!({ "sql": sql, "plan": plan }));
    }
    let json = json!({
        "benchmark": "show",
        "backend": env.backend(),
        "tokens": a.tokens,
        "users": a.users,
        "owned_tokens": owned,
        "insert_seconds": fill.as_secs_f64(),
        "analyzed": analyzed,
        "page": a.page,
        "pagesize": a.pagesize,
        "runs": a.runs,
        "results": results,
        "plans": plans,
    });
    Ok(Report { text, json })
}

// ---------------------------------------------------------------------------------------------
// bench validate

/// One enrolled user as a client knows it.
#[derive(Clone)]
struct BenchUser {
    name: String,
    seed: Vec<u8>,
    next_counter: u64,
}

async fn validate(a: ValidateArgs) -> anyhow::Result<Report> {
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

/// The durability settings in force, read back from the database.
async fn durability(store: &Store) -> anyhow::Result<String> {
    let pool = store.pool();
    Ok(match store.backend() {
        Backend::Sqlite => {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(pool)
                .await?;
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(pool)
                .await?;
            let sync = match sync {
                0 => "OFF",
                1 => "NORMAL",
                2 => "FULL",
                3 => "EXTRA",
                _ => "?",
            };
            format!("SQLite journal_mode={mode}, synchronous={sync}")
        }
        Backend::Postgres => {
            let commit: String = sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(pool)
                .await?;
            let fsync: String = sqlx::query_scalar("SHOW fsync").fetch_one(pool).await?;
            format!("PostgreSQL synchronous_commit={commit}, fsync={fsync}")
        }
    })
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
    let counter_sum: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(SUM(counter), 0) AS BIGINT) FROM tokens")
            .fetch_one(shared.store.pool())
            .await?;
    let audit_rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'validate'")
            .fetch_one(shared.store.pool())
            .await?;

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
    let durability = durability(&shared.store).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "kw_x").ok(),
            Some("postgres://postgres@127.0.0.1:5432/kw_x".to_string())
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "kw_x").ok(),
            Some("postgres://u:p@h/kw_x?sslmode=disable".to_string())
        );
        assert_eq!(
            with_database("postgresql://h:5432", "kw_x").ok(),
            Some("postgresql://h:5432/kw_x".to_string())
        );
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&v, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn bench_serials_are_unique() {
        let mut serials: Vec<String> = (0..30_000).map(|i| bench_token(i).1).collect();
        serials.sort();
        serials.dedup();
        assert_eq!(serials.len(), 30_000);
    }
}
