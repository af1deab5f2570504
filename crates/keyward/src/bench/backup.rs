//! `bench backup`: fills a throwaway installation with many users and tokens (bulk SQL), then
//! times `backup create` and `backup restore` into a second, empty installation through the
//! command registry — the code path of `keyward manage backup …` — and reports the archive
//! size, the row counts found after the restore and the process's memory high-water mark
//! (rows are streamed, so it should not grow with the table sizes).

use super::*;

#[derive(Args)]
pub(super) struct BackupArgs {
    /// Users to insert.
    #[arg(long, default_value_t = 1_000_000)]
    users: u64,
    /// Tokens to insert (every tenth owned by a user).
    #[arg(long, default_value_t = 100_000)]
    tokens: u64,
    /// PostgreSQL server for the source (a throwaway database is created and dropped).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// PostgreSQL server for the restore target; default SQLite.
    #[arg(long, value_name = "URL")]
    target_database_url: Option<String>,
    /// Print a JSON summary on stdout (progress goes to stderr).
    #[arg(long)]
    pub(super) json: bool,
}

/// This process's peak resident memory (`VmHWM`), in MiB.
fn peak_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib / 1024)
}

async fn run_command(shared: &Arc<Shared>, words: &[&str]) -> anyhow::Result<String> {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let out = Registry::standard()
        .run(&Ctx::console(shared.clone()), &words)
        .await
        .map_err(|e| anyhow!("{}: {e}", words.join(" ")))?;
    Ok(out.text)
}

pub(super) async fn backup(a: BackupArgs) -> anyhow::Result<Report> {
    let source = BenchEnv::create(a.database_url.as_deref()).await?;
    let target = match BenchEnv::create(a.target_database_url.as_deref()).await {
        Ok(t) => t,
        Err(e) => {
            source.cleanup().await;
            return Err(e);
        }
    };
    let result = measure(&source, &target, &a).await;
    source.cleanup().await;
    target.cleanup().await;
    result
}

async fn measure(source: &BenchEnv, target: &BenchEnv, a: &BackupArgs) -> anyhow::Result<Report> {
    let src = Arc::new(Shared::open(source.settings.clone(), "bench".into()).await?);
    eprintln!("filling: {} users, {} tokens", a.users, a.tokens);
    let fill_start = Instant::now();
    show::populate(&src.store, a.tokens, a.users).await?;
    let fill = fill_start.elapsed();
    let peak_before = peak_mib();

    let archive_dir = source.dir.path().join("bench-backups");
    let dir = archive_dir.display().to_string();
    let started = Instant::now();
    let text = run_command(&src, &["backup", "create", "-q", "-d", &dir]).await?;
    let create = started.elapsed();
    src.store.close().await;
    let archive = text
        .lines()
        .find_map(|l| l.strip_prefix("Backup written to "))
        .ok_or_else(|| anyhow!("backup create did not name its archive"))?
        .to_string();
    let size = std::fs::metadata(&archive)?.len();
    let peak_after_create = peak_mib();

    let dst = Arc::new(Shared::open(target.settings.clone(), "bench".into()).await?);
    let started = Instant::now();
    run_command(&dst, &["backup", "restore", "-q", &archive]).await?;
    let restore = started.elapsed();
    let users = dst.store.count_users().await?;
    dst.store.close().await;
    if u64::try_from(users).unwrap_or(0) != a.users {
        bail!("the restored database has {users} users, not {}", a.users);
    }
    let peak_after_restore = peak_mib();

    let mib = size as f64 / (1024.0 * 1024.0);
    let text = format!(
        "bench backup: {} users, {} tokens ({} → {})\n\
         \x20 fill (bulk SQL, not measured): {:.1} s\n\
         \x20 backup create: {:.1} s, archive {mib:.1} MiB\n\
         \x20 backup restore: {:.1} s ({users} users found after it)\n\
         \x20 peak memory (VmHWM): {} MiB after filling, {} MiB after create, {} MiB after restore\n",
        a.users,
        a.tokens,
        source.backend(),
        target.backend(),
        fill.as_secs_f64(),
        create.as_secs_f64(),
        restore.as_secs_f64(),
        peak_before.unwrap_or(0),
        peak_after_create.unwrap_or(0),
        peak_after_restore.unwrap_or(0),
    );
    Ok(Report {
        text,
        json: json!({
            "users": a.users,
            "tokens": a.tokens,
            "source": source.backend(),
            "target": target.backend(),
            "fill_secs": fill.as_secs_f64(),
            "create_secs": create.as_secs_f64(),
            "restore_secs": restore.as_secs_f64(),
            "archive_bytes": size,
            "peak_mib_after_fill": peak_before,
            "peak_mib_after_create": peak_after_create,
            "peak_mib_after_restore": peak_after_restore,
        }),
    })
}
