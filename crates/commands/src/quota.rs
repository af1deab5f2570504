//! Quota commands (SFTPGo's quota scans, seed 004): `start-quota-scan USERNAME` walks the
//! user's `home_dir` and records `used_quota_size` / `used_quota_files` — in the foreground at
//! the console, in a background task when a server runs it (the answer is "Scan started");
//! `get-quota-scans` lists this process's running scans; `update-quota-usage` sets or adds usage.
//! Every recorded usage commits with its audit row.

use std::path::PathBuf;

use clap::Parser;
use keyward_proto::{QuotaScanList, Username};
use keyward_store::users::User;
use serde_json::json;

use crate::access::{ADMINS, Access, TOKEN_READERS};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::quota_scan::{ScanSlot, Usage, scan_dir};
use crate::registry::{CommandSpec, command};
use crate::user_object::Profile;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "start-quota-scan",
            "Count the files and bytes in a user's home_dir and record them as used quota",
            start_quota_scan,
        )
        .mutating()
        .example("start-quota-scan test_username")
        .allow(Access::Roles(ADMINS)),
        command(
            "get-quota-scans",
            "List the quota scans running in this process (username, start time in ms)",
            get_quota_scans,
        )
        .example("get-quota-scans")
        .lists()
        .allow(Access::Roles(TOKEN_READERS)),
        command(
            "update-quota-usage",
            "Set (--mode reset) or add to (--mode add) a user's used quota",
            update_quota_usage,
        )
        .mutating()
        .example("update-quota-usage test_username --used-quota-size 1024 --used-quota-files 3")
        .example("update-quota-usage test_username --used-quota-files -1 --mode add")
        .allow(Access::Roles(ADMINS)),
    ]
}

#[derive(Parser)]
struct ScanArgs {
    /// The user whose home_dir is scanned.
    username: String,
}

crate::target_field!(ScanArgs => User(username), UsageArgs => User(username));
crate::no_targets!(NoArgs);

#[derive(Parser)]
struct NoArgs {}

fn no_such_user(name: &str) -> CommandError {
    let shown: String = name.chars().take(150).collect();
    CommandError::NotFound(format!("user \"{shown}\" does not exist"))
}

/// The directory a scan of `user` walks: its `home_dir`, on the local filesystem.
fn home_dir_of(user: &User) -> Result<PathBuf, CommandError> {
    let p = Profile::of(user);
    if p.filesystem.provider != 0 {
        return Err(CommandError::Invalid(format!(
            "filesystem.provider: user \"{}\" is not on the local filesystem; only local home \
             directories can be scanned",
            user.username
        )));
    }
    if p.home_dir.trim().is_empty() {
        return Err(CommandError::Invalid(format!(
            "home_dir: user \"{}\" has no home directory",
            user.username
        )));
    }
    let dir = PathBuf::from(&p.home_dir);
    if !dir.is_dir() {
        return Err(CommandError::Invalid(format!(
            "home_dir: {} is not a directory",
            dir.display()
        )));
    }
    Ok(dir)
}

async fn walk(dir: PathBuf) -> Result<Usage, CommandError> {
    let shown = dir.display().to_string();
    tokio::task::spawn_blocking(move || scan_dir(&dir))
        .await
        .map_err(|e| CommandError::Internal(format!("quota scan task failed: {e}")))?
        .map_err(|e| CommandError::Invalid(format!("home_dir: cannot scan {shown}: {e}")))
}

fn usage_text(username: &str, u: &Usage) -> String {
    format!(
        "used quota of user \"{username}\": {} files, {} bytes",
        u.files, u.size
    )
}

async fn start_quota_scan(ctx: Ctx, a: ScanArgs) -> Result<Output, CommandError> {
    let user = ctx
        .store()
        .find_user(&Username::from(a.username.as_str()))
        .await?
        .ok_or_else(|| no_such_user(&a.username))?;
    let dir = home_dir_of(&user)?;
    let slot = ScanSlot::acquire(&ctx.shared, &user.username)?;
    if ctx.is_local() {
        let usage = walk(dir).await?;
        let mut tx = ctx.begin_change().await?;
        tx.set_quota_usage(&user.id, usage.size, usage.files, false, now_ms(&ctx))
            .await?
            .ok_or_else(|| no_such_user(&user.username))?;
        drop(slot);
        let text = format!("Scan done: {}", usage_text(&user.username, &usage));
        let out = Output::new(
            text.clone(),
            json!({
                "username": user.username,
                "used_quota_size": usage.size,
                "used_quota_files": usage.files,
            }),
        )
        .with_audit(text);
        return ctx.commit_output(tx, out).await;
    }
    // The start is audited now; the result commits with its own row when the walk ends.
    let tx = ctx.begin_change().await?;
    ctx.commit_change(tx, "scan started in the background")
        .await?;
    let task_ctx = Ctx {
        draft: None,
        ..ctx.clone()
    };
    tokio::spawn(background_scan(task_ctx, user, dir, slot));
    Ok(Output::new(
        "Scan started",
        json!({"status": 201, "message": "Scan started", "error": ""}),
    ))
}

fn now_ms(ctx: &Ctx) -> i64 {
    ctx.shared.clock.now_ms()
}

/// Scans the loaded `users` after `loaddata --scan-quota` (SFTPGo's `scan_quota`: 1 every user,
/// 2 only users with a quota limit) whose home directory exists: one after the other in local
/// runs, in the background on a server (at most [`crate::quota_scan::MAX_CONCURRENT_SCANS`] at
/// once; users beyond that, or already being scanned, are left out). Returns how many scans
/// ran or started.
pub(crate) async fn scan_loaded_users(ctx: &Ctx, users: Vec<User>, scan_quota: u8) -> usize {
    let mut started = 0;
    for user in users {
        let p = Profile::of(&user);
        if scan_quota == 2 && p.quota_size == 0 && p.quota_files == 0 {
            continue;
        }
        let Ok(dir) = home_dir_of(&user) else {
            continue;
        };
        let Ok(slot) = ScanSlot::acquire(&ctx.shared, &user.username) else {
            continue;
        };
        let task_ctx = Ctx {
            draft: None,
            ..ctx.clone()
        };
        if ctx.is_local() {
            background_scan(task_ctx, user, dir, slot).await;
        } else {
            tokio::spawn(background_scan(task_ctx, user, dir, slot));
        }
        started += 1;
    }
    started
}

/// Walks, records the usage with its audit row, and ends the scan's registration.
async fn background_scan(ctx: Ctx, user: User, dir: PathBuf, slot: ScanSlot) {
    let result = async {
        let usage = walk(dir).await?;
        let mut tx = ctx.begin_change().await?;
        tx.set_quota_usage(&user.id, usage.size, usage.files, false, now_ms(&ctx))
            .await?
            .ok_or_else(|| no_such_user(&user.username))?;
        ctx.commit_audit_as(
            tx,
            "quota scan",
            &user.username,
            &usage_text(&user.username, &usage),
        )
        .await
    }
    .await;
    drop(slot);
    if let Err(e) = result {
        tracing::warn!(user = %user.username, error = %e, "quota scan failed");
        if let Err(audit) = ctx
            .audit("quota scan", &user.username, false, &e.to_string())
            .await
        {
            tracing::error!(error = %audit, "could not audit the failed quota scan");
        }
    }
}

async fn get_quota_scans(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let scans = ctx.shared.quota_scans.list();
    let rows: Vec<Vec<String>> = scans
        .iter()
        .map(|s| {
            vec![
                s.username.clone(),
                crate::timefmt::rfc3339(s.start_time / 1000),
            ]
        })
        .collect();
    let table = crate::table::Table::new(&["USERNAME", "STARTED"], rows);
    let json = serde_json::to_value(QuotaScanList { scans })
        .map_err(|e| CommandError::Internal(e.to_string()))?;
    Ok(Output::new(table.render(None), json).with_table(table))
}

#[derive(Parser)]
struct UsageArgs {
    /// The user whose usage changes.
    username: String,
    /// Bytes used (with --mode add: bytes to add; negative subtracts).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    used_quota_size: i64,
    /// Files used (with --mode add: files to add; negative subtracts).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    used_quota_files: i64,
    /// reset: the numbers replace the usage; add: they are added to it.
    #[arg(long, default_value = "reset", value_parser = ["reset", "add"])]
    mode: String,
}

async fn update_quota_usage(ctx: Ctx, a: UsageArgs) -> Result<Output, CommandError> {
    let add = a.mode == "add";
    if !add {
        for (field, v) in [
            ("used_quota_size", a.used_quota_size),
            ("used_quota_files", a.used_quota_files),
        ] {
            if v < 0 {
                return Err(CommandError::Invalid(format!(
                    "{field}: must be 0 or more with mode reset"
                )));
            }
        }
    }
    let user = ctx
        .store()
        .find_user(&Username::from(a.username.as_str()))
        .await?
        .ok_or_else(|| no_such_user(&a.username))?;
    if ctx.shared.quota_scans.is_running(&user.username) {
        return Err(CommandError::Conflict(format!(
            "a quota scan of user \"{}\" is running; update its usage when it is done",
            user.username
        )));
    }
    let mut tx = ctx.begin_change().await?;
    let usage = tx
        .set_quota_usage(
            &user.id,
            a.used_quota_size,
            a.used_quota_files,
            add,
            now_ms(&ctx),
        )
        .await?
        .ok_or_else(|| no_such_user(&user.username))?;
    let text = format!(
        "Quota updated ({}): {}",
        a.mode,
        usage_text(
            &user.username,
            &Usage {
                size: usage.used_quota_size,
                files: usage.used_quota_files,
            }
        )
    );
    let out = Output::new(
        text.clone(),
        json!({
            "username": user.username,
            "used_quota_size": usage.used_quota_size,
            "used_quota_files": usage.used_quota_files,
        }),
    )
    .with_audit(text);
    ctx.commit_output(tx, out).await
}
