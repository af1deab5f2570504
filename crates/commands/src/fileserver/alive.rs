//! Member announcements (`POST /fileserver/alive/`, issue 11 §2) and what they make visible.
//! An announcement is accepted when, in this order: its cluster exists, the cluster key's
//! signature over the exact announcement text verifies, the text is a well-formed announcement
//! for that cluster, its timestamp lies within `fileserver_announce_window_secs` of the server's
//! clock, every shard it names is linked to the cluster with at least the permissions asked,
//! and its timestamp is newer than the member's last accepted one (kept in the database, so a
//! replay is refused on every node). The member is then listed for
//! `fileserver_member_ttl_secs`. A new member, or a changed URL or shard set, commits with an
//! audit row; a plain refresh does not (it would fill the log every few seconds). The caller
//! (the HTTP route) audits refusals, bounded per address.

use keyward_proto::{
    FsAliveAccepted, FsAliveRequest, FsAnnouncedShard, FsAnnouncement, FsMember,
    FsShardAvailability, FsShardMember,
};
use keyward_store::fileserver::{Announcement, Recorded};

use super::keys;
use crate::context::Ctx;
use crate::output::CommandError;

/// Largest announcement text accepted, in bytes.
const MAX_ANNOUNCEMENT_BYTES: usize = 64 * 1024;
/// Most shards one announcement may name.
const MAX_SHARDS: usize = 1000;

/// A refused announcement: the audit target (cluster and, once known, member), the reason in
/// a few fixed words (for the audit row: refusals are counted per reason), and the answer.
#[derive(Debug)]
pub struct Rejected {
    pub target: String,
    pub reason: &'static str,
    pub error: CommandError,
}

/// Checks a URL a member gives (or a server URL for its configuration): http or https, a host,
/// at most 2048 characters, no spaces or control characters.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must be an http:// or https:// URL")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || host.contains('@') {
        return Err("must name a host (no user info)".into());
    }
    if url.len() > 2048 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must be at most 2048 characters without spaces".into());
    }
    Ok(())
}

pub fn check_member_id(id: &str) -> Result<(), String> {
    let ok = (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err("member_id must be 1 to 128 of A-Z a-z 0-9 . _ -".into())
    }
}

/// The announced shards, checked for form: ids, no repeats, something to serve, a bound.
fn check_shards(shards: &[FsAnnouncedShard]) -> Result<Vec<(String, bool, bool)>, String> {
    if shards.len() > MAX_SHARDS {
        return Err(format!("at most {MAX_SHARDS} shards per announcement"));
    }
    let mut out: Vec<(String, bool, bool)> = Vec::with_capacity(shards.len());
    for s in shards {
        let id = super::parse_uuid(&s.shard_id).map_err(|e| format!("shard_id: {e}"))?;
        if !s.read && !s.write {
            return Err(format!("shard {id}: announce read, write or both"));
        }
        if out.iter().any(|(o, _, _)| *o == id) {
            return Err(format!("shard {id} is announced twice"));
        }
        out.push((id, s.read, s.write));
    }
    Ok(out)
}

/// Verifies and records an announcement; the server-signed acceptance on success.
pub async fn accept(ctx: &Ctx, req: &FsAliveRequest) -> Result<FsAliveAccepted, Rejected> {
    let shown: String = req.cluster_id.chars().take(64).collect();
    let reject = |target: &str, reason: &'static str, error: CommandError| Rejected {
        target: target.to_string(),
        reason,
        error,
    };
    let cluster_id = super::parse_uuid(&req.cluster_id).map_err(|e| {
        reject(
            &shown,
            "malformed",
            CommandError::invalid_field("cluster_id", e),
        )
    })?;
    if req.announcement.len() > MAX_ANNOUNCEMENT_BYTES {
        return Err(reject(
            &cluster_id,
            "malformed",
            CommandError::invalid_field("announcement", "longer than 64 KiB"),
        ));
    }
    let cluster = ctx
        .store()
        .fileserver_cluster(&cluster_id)
        .await
        .map_err(|e| reject(&cluster_id, "store error", e.into()))?
        .ok_or_else(|| {
            reject(
                &cluster_id,
                "unknown cluster",
                super::cluster_not_found(&cluster_id),
            )
        })?;
    if !keys::announcement_signed_by(&cluster.public_key, &req.announcement, &req.signature) {
        return Err(reject(
            &cluster_id,
            "bad signature",
            CommandError::Forbidden(
                "the announcement's signature does not verify with the cluster's key".into(),
            ),
        ));
    }
    let a: FsAnnouncement = serde_json::from_str(&req.announcement).map_err(|e| {
        reject(
            &cluster_id,
            "malformed",
            CommandError::invalid_field("announcement", format!("not an announcement: {e}")),
        )
    })?;
    let invalid = |field: &str, e: String| {
        reject(
            &cluster_id,
            "malformed",
            CommandError::invalid_field(field, e),
        )
    };
    if super::parse_uuid(&a.cluster_id).ok().as_deref() != Some(cluster_id.as_str()) {
        return Err(invalid("cluster_id", "differs from the signed one".into()));
    }
    check_member_id(&a.member_id).map_err(|e| invalid("member_id", e))?;
    let target = format!("{cluster_id}/{}", a.member_id);
    check_url(&a.url)
        .map_err(|e| reject(&target, "malformed", CommandError::invalid_field("url", e)))?;
    let shards = check_shards(&a.shards).map_err(|e| {
        reject(
            &target,
            "malformed",
            CommandError::invalid_field("shards", e),
        )
    })?;
    let settings = ctx.settings();
    let now_ms = ctx.shared.clock.now_ms();
    let window_ms = i64::try_from(settings.fileserver_announce_window_secs)
        .unwrap_or(i64::MAX / 2_000)
        .saturating_mul(1000);
    let skew_ms = a.timestamp_ms.saturating_sub(now_ms);
    if skew_ms.unsigned_abs() > window_ms.unsigned_abs() {
        return Err(reject(
            &target,
            "stale timestamp",
            CommandError::Forbidden(format!(
                "stale announcement: its timestamp is {} s from the server's clock (at most {} s \
                 allowed)",
                skew_ms / 1000,
                settings.fileserver_announce_window_secs
            )),
        ));
    }
    let links = ctx
        .store()
        .fileserver_cluster_links(&cluster_id)
        .await
        .map_err(|e| reject(&target, "store error", e.into()))?;
    for (shard, read, write) in &shards {
        let Some(link) = links.iter().find(|l| l.shard_id == *shard) else {
            return Err(reject(
                &target,
                "unlinked shard",
                CommandError::Forbidden(format!(
                    "shard {shard} is not linked to cluster {cluster_id}"
                )),
            ));
        };
        if (*read && !link.can_read) || (*write && !link.can_write) {
            return Err(reject(
                &target,
                "permission above the link",
                CommandError::Forbidden(format!(
                    "shard {shard}: announced {} but the link grants only {}",
                    keyward_proto::permission_word(*read, *write),
                    keyward_proto::permission_word(link.can_read, link.can_write)
                )),
            ));
        }
    }
    let ttl = settings.fileserver_member_ttl_secs.max(1);
    let now = ctx.now();
    let expires_at = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX / 2));
    let recorded = record(
        ctx,
        (&cluster_id, &target),
        &a,
        &shards,
        (now, expires_at),
        now_ms.saturating_sub(window_ms),
    )
    .await
    .map_err(|e| reject(&target, "store error", e))?;
    if recorded == Recorded::Replayed {
        return Err(reject(
            &target,
            "replayed",
            CommandError::Conflict(
                "replayed announcement: its timestamp is not newer than the member's last \
                 accepted one"
                    .into(),
            ),
        ));
    }
    let server_key = &ctx
        .shared
        .server_keys()
        .await
        .map_err(|e| reject(&target, "server keys", e))?
        .audit_signing_key;
    Ok(FsAliveAccepted {
        signature: keys::sign_accepted(server_key, &cluster_id, &a.member_id, a.timestamp_ms),
        cluster_id,
        member_id: a.member_id,
        timestamp_ms: a.timestamp_ms,
        expires_at,
        ttl_secs: ttl,
        file_size_limit: cluster.file_size_limit,
        shards: a.shards,
    })
}

/// Writes the announcement (forgetting long-expired members first); a change commits with its
/// audit row.
async fn record(
    ctx: &Ctx,
    (cluster_id, target): (&str, &str),
    a: &FsAnnouncement,
    shards: &[(String, bool, bool)],
    (now, expires_at): (i64, i64),
    replay_floor_ms: i64,
) -> Result<Recorded, CommandError> {
    let mut tx = ctx.begin_change().await?;
    tx.prune_fileserver_members(now, replay_floor_ms).await?;
    let recorded = tx
        .record_fileserver_announcement(&Announcement {
            cluster_id,
            member_id: &a.member_id,
            url: &a.url,
            ts_ms: a.timestamp_ms,
            now,
            expires_at,
            shards,
        })
        .await?;
    match recorded {
        Recorded::Replayed => {}
        Recorded::Refreshed => tx.commit_unaudited().await?,
        Recorded::Changed => {
            let served = shards
                .iter()
                .map(|(s, r, w)| format!("{s}:{}", keyward_proto::permission_word(*r, *w)))
                .collect::<Vec<_>>()
                .join(" ");
            let details = format!("url {} shards {served}", a.url);
            ctx.commit_audit_as(tx, "fileserver alive", target, &details)
                .await?;
        }
    }
    Ok(recorded)
}

/// The live members, each with its cluster id.
pub async fn live_members(ctx: &Ctx) -> Result<Vec<(String, FsMember)>, CommandError> {
    let now = ctx.now();
    let members = ctx.store().fileserver_live_members(now).await?;
    let served = ctx.store().fileserver_live_member_shards(now).await?;
    Ok(members
        .into_iter()
        .map(|m| {
            let shards = served
                .iter()
                .filter(|s| s.cluster_id == m.cluster_id && s.member_id == m.member_id)
                .map(|s| FsAnnouncedShard {
                    shard_id: s.shard_id.clone(),
                    read: s.can_read,
                    write: s.can_write,
                })
                .collect();
            let member = FsMember {
                member_id: m.member_id,
                url: m.url,
                seen_at: m.seen_at,
                expires_at: m.expires_at,
                shards,
            };
            (m.cluster_id, member)
        })
        .collect())
}

/// Every shard with its live members and whether it can be read and written now.
pub async fn availability(ctx: &Ctx) -> Result<Vec<FsShardAvailability>, CommandError> {
    let shards = ctx.store().fileserver_shards().await?;
    let members = live_members(ctx).await?;
    Ok(shards
        .into_iter()
        .map(|s| {
            let serving: Vec<FsShardMember> = members
                .iter()
                .flat_map(|(cluster, m)| {
                    m.shards
                        .iter()
                        .filter(|x| x.shard_id == s.id)
                        .map(|x| FsShardMember {
                            cluster_id: cluster.clone(),
                            member_id: m.member_id.clone(),
                            url: m.url.clone(),
                            read: x.read,
                            write: x.write,
                            expires_at: m.expires_at,
                        })
                })
                .collect();
            FsShardAvailability {
                read: serving.iter().any(|m| m.read),
                write: serving.iter().any(|m| m.write),
                members: serving,
                id: s.id,
                title: s.title,
                description: s.description,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_urls_and_ids_are_checked() {
        assert!(check_url("https://fs1.example.com:8443/base").is_ok());
        assert!(check_url("http://127.0.0.1:9000").is_ok());
        assert!(check_url("ftp://fs1").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("https://user@fs1").is_err());
        assert!(check_url("https://fs1/a b").is_err());
        assert!(check_member_id("fs-1.eu_west").is_ok());
        assert!(check_member_id("").is_err());
        assert!(check_member_id("a/b").is_err());
    }

    #[test]
    fn announced_shards_are_checked() {
        let s = |id: &str, read, write| FsAnnouncedShard {
            shard_id: id.into(),
            read,
            write,
        };
        let id = "a8a1176c-bad8-4b84-b45e-1084b3a48e7d";
        assert!(check_shards(&[s(id, true, false)]).is_ok());
        assert!(check_shards(&[s(id, false, false)]).is_err());
        assert!(check_shards(&[s(id, true, true), s(id, true, false)]).is_err());
        assert!(check_shards(&[s("nope", true, true)]).is_err());
    }
}
