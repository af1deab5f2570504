//! `audit verify`: proves the audit log untouched. Each chain must link from its (signed)
//! rotation checkpoint or the genesis, without gaps, every row's hash and signature must hold,
//! and every chain must reach the heads the verifier knows independently of the table: the
//! signed head records the writer keeps in `data_dir/audit-heads/` and any head passed with
//! `--expect-head CHAIN:SEQ:HASH` (e.g. one printed by an earlier verify with `--json`). A cut
//! tail, a deleted chain, a forged checkpoint or a rewritten head is reported by name.
//!
//! A node only has the head records of the chains it writes itself: with several nodes on one
//! PostgreSQL database, run verify on each node or pass the others' heads with `--expect-head`.

use std::collections::{BTreeSet, HashMap};

use clap::Parser;
use ed25519_dalek::VerifyingKey;
use keyward_store::audit::{AuditRecord, GENESIS_HASH, entry_hash};
use keyward_store::audit_heads::{checkpoint_message, head_message, read_heads};
use serde_json::json;

use crate::audit_sign;
use crate::context::Ctx;
use crate::output::{CommandError, Output};

const PAGE: i64 = 1000;

/// A head a chain must reach, and who says so.
#[derive(Clone, Debug)]
pub struct ExpectedHead {
    chain: String,
    seq: i64,
    hash: String,
    source: String,
}

/// Parses `CHAIN:SEQ:HASH` (the chain name may itself contain `:`).
fn parse_expected_head(s: &str) -> Result<ExpectedHead, String> {
    let bad = || format!("expected CHAIN:SEQ:HASH (as `audit verify --json` prints), not {s:?}");
    let mut parts = s.rsplitn(3, ':');
    let (hash, seq, chain) = (
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
    );
    let seq: i64 = seq.parse().map_err(|_| bad())?;
    let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    if chain.is_empty() || seq < 1 || !hex {
        return Err(bad());
    }
    Ok(ExpectedHead {
        chain: chain.to_string(),
        seq,
        hash: hash.to_ascii_lowercase(),
        source: format!("--expect-head {chain}:{seq}"),
    })
}

#[derive(Parser)]
pub struct VerifyArgs {
    /// A head the chain must reach, from an earlier `audit verify --json` or another node
    /// (CHAIN:SEQ:HASH); may be given several times.
    #[arg(long = "expect-head", value_parser = parse_expected_head)]
    expect_head: Vec<ExpectedHead>,
}

/// Why verification failed, naming the first bad entry.
fn broken(msg: String) -> CommandError {
    CommandError::Invalid(format!("Audit log BROKEN: {msg}"))
}

fn describe(r: &AuditRecord) -> String {
    format!("entry id {} (chain {}, seq {})", r.id, r.chain, r.seq)
}

/// The signed head records in the data directory, each checked against the audit key.
fn head_records(ctx: &Ctx, key: &VerifyingKey) -> Result<Vec<ExpectedHead>, CommandError> {
    let dir = ctx.settings().data_dir().join("audit-heads");
    let found = read_heads(&dir).map_err(|e| {
        CommandError::Internal(format!(
            "cannot read the audit heads in {}: {e}",
            dir.display()
        ))
    })?;
    let mut heads = Vec::new();
    for (path, record) in found {
        let head = record.map_err(|e| {
            broken(format!(
                "the head record {} is unreadable ({e})",
                path.display()
            ))
        })?;
        let message = head_message(&head.chain, head.seq, &head.hash);
        if !audit_sign::verify(key, &message, &head.signature) {
            return Err(broken(format!(
                "the head record {} of chain {} has an invalid signature",
                path.display(),
                head.chain
            )));
        }
        heads.push(ExpectedHead {
            source: format!("its head record {}", path.display()),
            chain: head.chain,
            seq: head.seq,
            hash: head.hash,
        });
    }
    Ok(heads)
}

/// What walking one chain found: where it starts, where it ends, the hashes at expected seqs.
struct Walk {
    start: (i64, String),
    end: i64,
    end_hash: String,
    entries: u64,
}

/// Walks one chain from its checkpoint, checking links, hashes and signatures; compares the
/// rows at the expected seqs as it passes them.
async fn walk_chain(
    ctx: &Ctx,
    key: &VerifyingKey,
    chain: &str,
    expected: &[&ExpectedHead],
) -> Result<Walk, CommandError> {
    let start = match ctx.store().audit_checkpoint(chain).await? {
        Some(cp) => {
            let message = checkpoint_message(chain, cp.seq, &cp.hash);
            if !audit_sign::verify(key, &message, &cp.signature) {
                return Err(broken(format!(
                    "the checkpoint of chain {chain} (seq {}) has a missing or invalid \
                     signature: entries were deleted outside `audit rotate`",
                    cp.seq
                )));
            }
            (cp.seq, cp.hash)
        }
        None => (0, GENESIS_HASH.to_string()),
    };
    let at: HashMap<i64, Vec<&ExpectedHead>> = expected.iter().fold(HashMap::new(), |mut m, e| {
        m.entry(e.seq).or_default().push(*e);
        m
    });
    let (mut seq, mut hash) = start.clone();
    let mut entries = 0;
    loop {
        let page = ctx.store().audit_chain_page(chain, seq, PAGE).await?;
        let done = (page.len() as i64) < PAGE;
        for r in &page {
            if r.seq != seq + 1 {
                return Err(broken(format!(
                    "chain {chain} is missing seq {}..{} (before entry id {}, seq {})",
                    seq + 1,
                    r.seq - 1,
                    r.id,
                    r.seq
                )));
            }
            if r.prev_hash != hash {
                return Err(broken(format!(
                    "{} does not link to its predecessor (deleted, inserted or reordered entry)",
                    describe(r)
                )));
            }
            if entry_hash(&r.prev_hash, &r.chain, r.seq, r.ts_ms, &r.event) != r.hash {
                return Err(broken(format!(
                    "{} was altered (its contents do not match its hash)",
                    describe(r)
                )));
            }
            if !audit_sign::verify(key, &r.hash, &r.signature) {
                return Err(broken(format!(
                    "{} has a missing or invalid signature",
                    describe(r)
                )));
            }
            for e in at.get(&r.seq).into_iter().flatten() {
                if e.hash != r.hash {
                    return Err(broken(format!(
                        "{} is not the entry {} names (the chain was rewritten from there)",
                        describe(r),
                        e.source
                    )));
                }
            }
            seq = r.seq;
            hash = r.hash.clone();
            entries += 1;
        }
        if done {
            break;
        }
    }
    Ok(Walk {
        start,
        end: seq,
        end_hash: hash,
        entries,
    })
}

/// Checks that a walked chain reaches every head expected of it.
fn check_heads(
    chain: &str,
    walk: &Walk,
    in_table: bool,
    expected: &[&ExpectedHead],
) -> Result<(), CommandError> {
    for e in expected {
        let (start_seq, start_hash) = &walk.start;
        if e.seq < *start_seq {
            // Rotated away; the signed checkpoint vouches for what went.
            continue;
        }
        if e.seq == *start_seq && e.hash != *start_hash {
            return Err(broken(format!(
                "the checkpoint of chain {chain} (seq {start_seq}) is not the entry {} names",
                e.source
            )));
        }
        if e.seq > walk.end {
            return Err(broken(if in_table {
                format!(
                    "chain {chain} is missing its tail: it ends at seq {} but {} says seq {} \
                     was written (entries {}..{} deleted)",
                    walk.end,
                    e.source,
                    e.seq,
                    walk.end + 1,
                    e.seq
                )
            } else {
                format!(
                    "chain {chain} is missing: {} says it reached seq {}, but the log has no \
                     entry and no checkpoint of it",
                    e.source, e.seq
                )
            }));
        }
    }
    Ok(())
}

pub async fn verify(ctx: Ctx, a: VerifyArgs) -> Result<Output, CommandError> {
    let key = ctx
        .shared
        .server_keys()
        .await?
        .audit_signing_key
        .verifying_key();
    let mut expected = head_records(&ctx, &key)?;
    expected.extend(a.expect_head);
    let in_table: BTreeSet<String> = ctx.store().audit_chains().await?.into_iter().collect();
    let chains: BTreeSet<String> = in_table
        .iter()
        .cloned()
        .chain(expected.iter().map(|e| e.chain.clone()))
        .collect();
    let mut entries: u64 = 0;
    let mut heads = Vec::new();
    for chain in &chains {
        let mine: Vec<&ExpectedHead> = expected.iter().filter(|e| &e.chain == chain).collect();
        let walk = walk_chain(&ctx, &key, chain, &mine).await?;
        check_heads(chain, &walk, in_table.contains(chain), &mine)?;
        entries += walk.entries;
        if walk.end > 0 {
            heads.push(format!("{chain}:{}:{}", walk.end, walk.end_hash));
        }
    }
    let chains: Vec<String> = chains.into_iter().collect();
    Ok(Output::new(
        format!("Audit log OK: {entries} entries in {} chains", chains.len()),
        json!({ "ok": true, "entries": entries, "chains": chains, "heads": heads }),
    ))
}

crate::no_targets!(VerifyArgs);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item14_expected_heads_parse() {
        let h = "a".repeat(64);
        let e = parse_expected_head(&format!("node:a:12:{h}")).unwrap();
        assert_eq!((e.chain.as_str(), e.seq), ("node:a", 12));
        assert!(parse_expected_head(&format!("local:0:{h}")).is_err());
        assert!(parse_expected_head("local:3:abc").is_err());
        assert!(parse_expected_head(&format!(":3:{h}")).is_err());
    }
}
