//! `keyward fileserver announce`: the member side of a fileserver cluster (issue 11 §2). It reads
//! the TOML that `keyward manage fsclustershowconfig` printed (`--config FILE`, plus the
//! member's own `member_id` and `member_url`, in the file or as flags), signs an announcement of
//! the shards listed there with the cluster key, posts it to `SERVER_URL/fileserver/alive/`, and
//! checks the server's signed answer against `server_public_key`. Once by default, or every
//! `--every SECS` until stopped. It needs no keyward configuration, database or data directory.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use keyward_commands::context::{Clock, SystemClock};
use keyward_commands::fileserver::{alive, keys};
use keyward_proto::{
    FsAliveAccepted, FsAnnouncedShard, FsAnnouncement, FsMemberConfig, StatusMessage,
    permission_word,
};

use crate::http_client::{self, TlsArgs};

#[derive(Args)]
pub struct FileserverArgs {
    #[command(subcommand)]
    command: FileserverCommand,
}

#[derive(Subcommand)]
enum FileserverCommand {
    /// Announce this member and its shards to the server (signed with the cluster key); the
    /// member configuration comes from --config FILE (printed by `manage fsclustershowconfig`).
    Announce(AnnounceArgs),
}

#[derive(Args)]
struct AnnounceArgs {
    /// This member's id (default: `member_id` in the configuration).
    #[arg(long)]
    member_id: Option<String>,
    /// Where users reach this member (default: `member_url` in the configuration).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Announce again every SECS seconds until stopped (default: once).
    #[arg(long, value_name = "SECS")]
    every: Option<u64>,
    #[command(flatten)]
    tls: TlsArgs,
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// Runs `keyward fileserver …` with the member configuration file.
pub async fn run(config: Option<&Path>, args: FileserverArgs) -> ExitCode {
    let FileserverCommand::Announce(a) = args.command;
    let Some(path) = config else {
        return fail(
            "give the member configuration with --config FILE (printed by `keyward manage \
             fsclustershowconfig CLUSTER_ID`)",
            2,
        );
    };
    let member = match read_config(path, &a) {
        Ok(m) => m,
        Err(e) => return fail(&e, 2),
    };
    let client = match http_client::build(&a.tls) {
        Ok(c) => c,
        Err(e) => return fail(&e, 2),
    };
    loop {
        let result = announce_once(&client, &member).await;
        match (&result, a.every) {
            (Ok(text), _) => println!("{text}"),
            (Err(e), Some(_)) => eprintln!("error: {e}"),
            (Err(e), None) => return fail(e, 1),
        }
        match a.every {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs.max(1))).await,
            None => return ExitCode::SUCCESS,
        }
    }
}

/// The configuration with the member's id and URL, checked.
struct Member {
    config: FsMemberConfig,
    member_id: String,
    url: String,
    key: ed25519_dalek::SigningKey,
}

fn read_config(path: &Path, a: &AnnounceArgs) -> Result<Member, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let config: FsMemberConfig = toml::from_str(&text).map_err(|e| {
        format!(
            "{} is not a member configuration: {}",
            path.display(),
            e.message()
        )
    })?;
    let member_id = a
        .member_id
        .clone()
        .or_else(|| config.member_id.clone())
        .ok_or("no member id: add member_id = \"…\" to the configuration or pass --member-id")?;
    alive::check_member_id(&member_id)?;
    let url = a
        .url
        .clone()
        .or_else(|| config.member_url.clone())
        .ok_or("no member URL: add member_url = \"…\" to the configuration or pass --url")?;
    alive::check_url(&url).map_err(|e| format!("member URL {e}"))?;
    http_client::parse_base_url(&config.server_url, "server_url")?;
    keys::verifying_key(&config.server_public_key)
        .map_err(|e| format!("server_public_key: {e}"))?;
    let key = keys::signing_key(&config.cluster_private_key)?;
    Ok(Member {
        config,
        member_id,
        url,
        key,
    })
}

async fn announce_once(client: &reqwest::Client, m: &Member) -> Result<String, String> {
    let shards: Vec<FsAnnouncedShard> = m
        .config
        .shards
        .iter()
        .filter(|s| s.read || s.write)
        .map(|s| FsAnnouncedShard {
            shard_id: s.shard_id.clone(),
            read: s.read,
            write: s.write,
        })
        .collect();
    let announcement = FsAnnouncement {
        cluster_id: m.config.cluster_id.clone(),
        member_id: m.member_id.clone(),
        url: m.url.clone(),
        timestamp_ms: SystemClock.now_ms(),
        shards,
    };
    let body = keys::sign_announcement(&m.key, &announcement);
    let endpoint = format!(
        "{}/fileserver/alive/",
        m.config.server_url.trim_end_matches('/')
    );
    let resp = client
        .post(&endpoint)
        .json(&body)
        .send()
        .await
        .map_err(|e| http_client::explain(&e, &endpoint))?;
    let status = resp.status();
    let text = resp
        .text()
        .await
        .map_err(|e| http_client::explain(&e, &endpoint))?;
    if !status.is_success() {
        let why = serde_json::from_str::<StatusMessage>(&text)
            .map(|m| m.error)
            .unwrap_or(text);
        return Err(format!(
            "the server refused the announcement ({status}): {why}"
        ));
    }
    let accepted: FsAliveAccepted = serde_json::from_str(&text)
        .map_err(|_| format!("{endpoint} answered {status} without an acceptance"))?;
    if !keys::accepted_signed_by(
        &m.config.server_public_key,
        &announcement.cluster_id,
        &announcement.member_id,
        announcement.timestamp_ms,
        &accepted.signature,
    ) {
        return Err(format!(
            "{endpoint} answered, but not with the signature of the server_public_key in the \
             configuration: is server_url the right server?"
        ));
    }
    let served = accepted
        .shards
        .iter()
        .map(|s| format!("{}:{}", s.shard_id, permission_word(s.read, s.write)))
        .collect::<Vec<_>>()
        .join(" ");
    Ok(format!(
        "Announced member {} of cluster {} at {} (shards: {}); listed for {} s",
        accepted.member_id,
        accepted.cluster_id,
        announcement.url,
        if served.is_empty() { "none" } else { &served },
        accepted.ttl_secs
    ))
}
