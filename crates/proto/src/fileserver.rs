//! Wire types of the fileserver clusters and shards (Psono's `fscluster*`/`fsshard*`, issue 11):
//! what the commands answer in JSON and the REST routes carry, the member configuration that
//! `fsclustershowconfig` prints as TOML, and the signed announcement of `POST /fileserver/alive/`.
//! Times are epoch seconds unless named `*_ms`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What an announcement's signature covers: this prefix, then the `announcement` text as sent.
pub const ANNOUNCEMENT_SIGNED_PREFIX: &str = "keyward fileserver announcement v1\n";
/// What the server's signature of an accepted announcement covers: this prefix, then
/// `cluster_id`, `member_id` and `timestamp_ms`, each followed by a newline.
pub const ACCEPTED_SIGNED_PREFIX: &str = "keyward fileserver accepted v1\n";

/// A link between a cluster and a shard: the cluster's members may serve the shard with at most
/// this permission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FsLink {
    pub id: String,
    pub cluster_id: String,
    pub shard_id: String,
    /// `rw`, `r` or `w`.
    pub permission: String,
    pub created_at: i64,
}

/// One shard a member serves, with the permissions it announced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FsAnnouncedShard {
    pub shard_id: String,
    pub read: bool,
    pub write: bool,
}

/// A live cluster member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FsMember {
    pub member_id: String,
    pub url: String,
    /// When it last announced itself.
    pub seen_at: i64,
    /// When it is forgotten unless it announces itself again.
    pub expires_at: i64,
    pub shards: Vec<FsAnnouncedShard>,
}

/// A cluster (never its private key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FsCluster {
    pub id: String,
    pub title: String,
    /// Largest file its members accept, in bytes (0: no limit).
    pub file_size_limit: i64,
    /// The Ed25519 public key (base64) that verifies its members' announcements.
    pub public_key: String,
    pub created_at: i64,
    pub links: Vec<FsLink>,
    /// Its live members (only with `fsclusterlist --members`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<FsMember>>,
}

/// `fsclusterlist`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsClusterList {
    pub clusters: Vec<FsCluster>,
}

/// A shard with the clusters linked to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FsShard {
    pub id: String,
    pub title: String,
    pub description: String,
    pub created_at: i64,
    pub links: Vec<FsLink>,
}

/// `fsshardlist`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsShardList {
    pub shards: Vec<FsShard>,
}

/// A live member serving a shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FsShardMember {
    pub cluster_id: String,
    pub member_id: String,
    pub url: String,
    pub read: bool,
    pub write: bool,
    pub expires_at: i64,
}

/// A shard as users see it: can it be read or written now, and by which members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FsShardAvailability {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Some live member serves it for reading.
    pub read: bool,
    /// Some live member serves it for writing.
    pub write: bool,
    pub members: Vec<FsShardMember>,
}

/// `GET /api/v1/fileserver/shards`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsShardAvailabilityList {
    pub shards: Vec<FsShardAvailability>,
}

/// `POST /api/v1/fileserver/clusters` (`fsclustercreate`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsClusterCreate {
    pub title: String,
    /// Bytes; 0 or absent: no limit.
    #[serde(default)]
    pub file_size_limit: Option<i64>,
    /// Create with this UUID; creating it again with the same id changes nothing.
    #[serde(default)]
    pub fix_cluster_id: Option<String>,
}

/// `POST /api/v1/fileserver/shards` (`fsshardcreate`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsShardCreate {
    pub title: String,
    #[serde(default)]
    pub description: String,
}

/// `POST /api/v1/fileserver/links` (`fsshardlink`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsLinkCreate {
    pub cluster_id: String,
    pub shard_id: String,
    /// `rw`, `r` or `w`.
    pub permission: String,
}

/// `?force=true` on deleting a linked cluster or shard removes its links too.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FsDeleteQuery {
    #[serde(default)]
    pub force: Option<bool>,
}

/// A created object's id (`fsclustercreate`, `fsshardcreate`, `fsshardlink`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsCreated {
    pub id: String,
    /// Whether it was created now (false: `--fix-cluster-id` named an existing cluster).
    pub created: bool,
}

/// `fsclustershowconfig`: the member configuration as TOML text.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsClusterConfig {
    pub cluster_id: String,
    /// The TOML a member reads (`keyward fileserver announce --config FILE`); it holds the
    /// cluster's private key.
    pub config: String,
}

/// A shard in the member configuration (unknown keys are refused: a `member_id` added below a
/// `[[shards]]` table would otherwise land in it unnoticed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsConfigShard {
    pub shard_id: String,
    #[serde(default)]
    pub title: String,
    pub read: bool,
    pub write: bool,
}

/// The member configuration (TOML) that `fsclustershowconfig` prints, plus the member's own
/// `member_id` and `member_url`, which the operator adds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsMemberConfig {
    pub server_url: String,
    /// The server's Ed25519 public key (base64): it signs the answers to announcements.
    pub server_public_key: String,
    pub cluster_id: String,
    /// The cluster's Ed25519 private key seed (base64): it signs announcements.
    pub cluster_private_key: String,
    #[serde(default)]
    pub file_size_limit: i64,
    #[serde(default)]
    pub member_id: Option<String>,
    #[serde(default)]
    pub member_url: Option<String>,
    #[serde(default)]
    pub shards: Vec<FsConfigShard>,
}

/// What a member announces (sent as JSON text inside [`FsAliveRequest::announcement`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FsAnnouncement {
    pub cluster_id: String,
    /// The member's own id (1–128 of `A-Za-z0-9._-`).
    pub member_id: String,
    /// Where users reach the member (http or https).
    pub url: String,
    /// The member's clock, epoch milliseconds: must be within the server's freshness window and
    /// newer than the member's last accepted announcement.
    pub timestamp_ms: i64,
    pub shards: Vec<FsAnnouncedShard>,
}

/// `POST /fileserver/alive/`: an [`FsAnnouncement`] as JSON text, and the cluster key's Ed25519
/// signature (base64) over [`ANNOUNCEMENT_SIGNED_PREFIX`] followed by that text.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsAliveRequest {
    pub cluster_id: String,
    /// The announcement as JSON text, exactly as signed.
    pub announcement: String,
    pub signature: String,
}

/// The answer to an accepted announcement, signed by the server (see
/// [`ACCEPTED_SIGNED_PREFIX`]).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FsAliveAccepted {
    pub cluster_id: String,
    pub member_id: String,
    pub timestamp_ms: i64,
    /// The member is listed until then unless it announces itself again.
    pub expires_at: i64,
    pub ttl_secs: u64,
    pub file_size_limit: i64,
    pub shards: Vec<FsAnnouncedShard>,
    /// The server's signature (base64).
    pub signature: String,
}

/// Permission words of a link: `rw`, `r`, `w` as (read, write).
pub fn permission_flags(word: &str) -> Option<(bool, bool)> {
    match word {
        "rw" => Some((true, true)),
        "r" => Some((true, false)),
        "w" => Some((false, true)),
        _ => None,
    }
}

/// The word of (read, write).
pub fn permission_word(read: bool, write: bool) -> &'static str {
    match (read, write) {
        (true, true) => "rw",
        (true, false) => "r",
        (false, true) => "w",
        (false, false) => "-",
    }
}

/// The text the server signs for an accepted announcement.
pub fn accepted_signed_text(cluster_id: &str, member_id: &str, timestamp_ms: i64) -> String {
    format!("{ACCEPTED_SIGNED_PREFIX}{cluster_id}\n{member_id}\n{timestamp_ms}\n")
}
