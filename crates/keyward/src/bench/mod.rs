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
//! * `bench backup` (in `backup`) times `backup create` and `backup restore` of many users
//!   and tokens, and reports the archive size and peak memory.
//!
//! * `bench flood` (in `flood`) floods a real server process with unauthenticated
//!   wrong-PIN validations and reports its memory and `/healthz` latency.
//!
//! Both run on SQLite in a temporary directory by default; with `--database-url postgres://…`
//! they create a database `kw_bench_<random>` on that server and drop it afterwards. See
//! BENCHMARKS.md for how to read the numbers.

//!
//! Layout: this module holds the arguments, the report and the throwaway database; `show`,
//! `validate` and `flood` each hold one benchmark.

mod backup;
mod flood;
mod show;
mod validate;

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

use show::show;
use validate::validate;

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
    Flood(flood::FloodArgs),
    /// `backup create` and `backup restore` of many users and tokens: times, archive size.
    Backup(backup::BackupArgs),
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
            (flood::flood(a).await, json)
        }
        Which::Backup(a) => {
            let json = a.json;
            (backup::backup(a).await, json)
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
                let created = admin.create_database(&name).await;
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
                let r = admin.drop_database(&pg.name).await;
                admin.close().await;
                r.map_err(anyhow::Error::from)
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

#[cfg(test)]
mod tests {
    use super::show::bench_token;
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
