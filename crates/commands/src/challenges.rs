//! `config challenge cleanup [--age MINUTES] [--chunksize N] [--dryrun]` (pi-manage, seed 001):
//! deletes challenge-response state older than the age, in chunks so a large table does not
//! hold one long write lock; prints how many went (or would go).

use clap::Parser;
use serde_json::json;

use crate::access::{ADMINS, Access};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "config challenge cleanup",
            "Delete challenges older than --age MINUTES (default 1440)",
            cleanup,
        )
        .mutating()
        .example("config challenge cleanup --age 60 --dryrun")
        .allow(Access::Roles(ADMINS)),
    ]
}

#[derive(Parser)]
struct CleanupArgs {
    /// Delete challenges created more than this many minutes ago.
    #[arg(long, default_value_t = 1440, value_parser = clap::value_parser!(i64).range(0..=52_560_000))]
    age: i64,
    /// Rows deleted per transaction.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    chunksize: i64,
    /// Only count what would be deleted.
    #[arg(long)]
    dryrun: bool,
}

async fn cleanup(ctx: Ctx, a: CleanupArgs) -> Result<Output, CommandError> {
    let cutoff = ctx.now() - a.age * 60;
    if a.dryrun {
        let n = ctx.store().count_challenges_before(cutoff).await?;
        let out = Output::new(
            format!(
                "Would delete {n} challenge(s) older than {} minutes (dry run)",
                a.age
            ),
            json!({ "deleted": 0, "would_delete": n, "dryrun": true }),
        )
        .with_audit(format!("dry run: {n} older than {} min", a.age));
        return ctx.commit_output(ctx.begin_change().await?, out).await;
    }
    // One transaction per chunk; the audit row commits with the last one (the chunk that
    // finds fewer than a full chunk left).
    let mut total: u64 = 0;
    loop {
        let mut tx = ctx.begin_change().await?;
        let n = tx.delete_challenges_chunk(cutoff, a.chunksize).await?;
        total += n;
        if n < u64::try_from(a.chunksize).unwrap_or(u64::MAX) {
            let out = Output::new(
                format!("Deleted {total} challenge(s) older than {} minutes", a.age),
                json!({ "deleted": total, "dryrun": false }),
            )
            .with_audit(format!("deleted {total} older than {} min", a.age));
            return ctx.commit_output(tx, out).await;
        }
        tx.commit_unaudited().await?;
    }
}

crate::no_targets!(CleanupArgs);
