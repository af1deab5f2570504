//! Fileserver clusters and shards (Psono's `fscluster*`/`fsshard*` commands, seed 000, issue 11).
//! A cluster has an Ed25519 key pair; its members hold the private key and announce themselves
//! (`POST /fileserver/alive/`, see [`alive`]) with the shards they serve, within the permissions
//! of the cluster's links. This module declares the commands and holds the cluster ones;
//! [`shards`] holds the shard and link ones, [`keys`] the cryptography and member configuration.

pub mod alive;
pub mod keys;
mod shards;

use clap::Parser;
use keyward_proto::{FsCluster, FsClusterConfig, FsClusterList, FsConfigShard, FsCreated};
use keyward_store::fileserver::{Cluster, LinksOf};
use serde_json::json;

use crate::access::{ADMINS, Access, Target, Targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::timefmt::rfc3339;

pub fn commands() -> Vec<CommandSpec> {
    let mut all = vec![
        command(
            "fsclustercreate",
            "Create a fileserver cluster and its key pair (idempotent with --fix-cluster-id)",
            cluster_create,
        )
        .mutating()
        .example("fsclustercreate \"Default Cluster\"")
        .example("fsclustercreate \"Big files\" --file-size-limit 1073741824 --fix-cluster-id 1713b68b-df64-41c5-822c-6eb8c877037c")
        .allow(Access::Roles(ADMINS)),
        command(
            "fsclusterdelete",
            "Delete a fileserver cluster (--force also removes its links to shards)",
            cluster_delete,
        )
        .mutating()
        .example("fsclusterdelete 1713b68b-df64-41c5-822c-6eb8c877037c")
        .example("fsclusterdelete 1713b68b-df64-41c5-822c-6eb8c877037c --force")
        .allow(Access::Roles(ADMINS)),
        command(
            "fsclusterlist",
            "List the fileserver clusters (--members: with their live members)",
            cluster_list,
        )
        .example("fsclusterlist")
        .example("fsclusterlist --members --output json")
        .lists()
        .allow(Access::Roles(ADMINS)),
        command(
            "fsclustershowconfig",
            "Print the TOML a cluster member needs, including the cluster's private key (audited)",
            cluster_show_config,
        )
        .mutating_files()
        .example("fsclustershowconfig 1713b68b-df64-41c5-822c-6eb8c877037c")
        .example("fsclustershowconfig 1713b68b-df64-41c5-822c-6eb8c877037c --server-url https://auth.example.com")
        .allow(Access::Roles(ADMINS)),
    ];
    all.extend(shards::commands());
    all
}

/// The canonical form of a UUID argument (lowercase, hyphenated), or why it is not one.
pub(crate) fn parse_uuid(s: &str) -> Result<String, String> {
    uuid::Uuid::parse_str(s.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| "not a UUID (e.g. 1713b68b-df64-41c5-822c-6eb8c877037c)".to_string())
}

/// A UUID argument, checked in the handler (so that the registry's parsing, which the access
/// checks share, accepts any text): `field: not a UUID` otherwise, never echoing the value.
pub(crate) fn uuid_arg(field: &str, s: &str) -> Result<String, CommandError> {
    parse_uuid(s).map_err(|e| CommandError::invalid_field(field, e))
}

/// A title: 1–256 characters, no control characters.
pub(crate) fn parse_title(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 256 || t.chars().any(char::is_control) {
        return Err("must be 1 to 256 characters without control characters".into());
    }
    Ok(t.to_string())
}

fn parse_size_limit(s: &str) -> Result<i64, String> {
    s.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| "must be a number of bytes, 0 or more (0: no limit)".into())
}

pub(crate) fn cluster_not_found(id: &str) -> CommandError {
    CommandError::NotFound(format!("no fileserver cluster with id {id}"))
}

#[derive(Parser)]
struct ClusterCreateArgs {
    /// The cluster's title.
    #[arg(value_parser = parse_title)]
    title: String,
    /// Largest file the members accept, in bytes (0: no limit).
    #[arg(long, value_parser = parse_size_limit, default_value = "0")]
    file_size_limit: i64,
    /// Create the cluster with this UUID; if it exists already, nothing changes.
    #[arg(long, value_parser = parse_uuid)]
    fix_cluster_id: Option<String>,
}

#[derive(Parser)]
struct ClusterIdArgs {
    /// The cluster id (see `fsclusterlist`).
    cluster_id: String,
    /// Delete it even when shards are linked to it (the links go with it).
    #[arg(long)]
    force: bool,
}

#[derive(Parser)]
struct ClusterListArgs {
    /// Also list each cluster's live members.
    #[arg(long)]
    members: bool,
}

#[derive(Parser)]
struct ShowConfigArgs {
    /// The cluster id (see `fsclusterlist`).
    cluster_id: String,
    /// The URL members reach this server at; default: the `public_url` setting, else the
    /// listen address.
    #[arg(long)]
    server_url: Option<String>,
}

impl Targets for ClusterCreateArgs {
    fn targets(&self) -> Vec<Target> {
        vec![Target::Object(
            self.fix_cluster_id.clone().unwrap_or(self.title.clone()),
        )]
    }
}
crate::target_field!(ClusterIdArgs => Object(cluster_id), ShowConfigArgs => Object(cluster_id));
crate::no_targets!(ClusterListArgs);

async fn cluster_create(ctx: Ctx, a: ClusterCreateArgs) -> Result<Output, CommandError> {
    let id = a
        .fix_cluster_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string());
    let mut tx = ctx.begin_change().await?;
    if let Some(existing) = tx.fileserver_cluster(&id).await? {
        let out = Output::new(
            format!(
                "Cluster {id} \"{}\" already exists; nothing changed",
                existing.title
            ),
            json!(FsCreated { id, created: false }),
        )
        .with_audit("exists already, unchanged");
        return ctx.commit_output(tx, out).await;
    }
    let (public_key, private_key_sealed) = keys::new_cluster_keys(&ctx, &id).await?;
    tx.create_fileserver_cluster(&Cluster {
        id: id.clone(),
        title: a.title.clone(),
        file_size_limit: a.file_size_limit,
        public_key,
        private_key_sealed,
        created_at: ctx.now(),
    })
    .await?;
    let out = Output::new(
        format!("Created cluster {id} \"{}\"", a.title),
        json!(FsCreated {
            id: id.clone(),
            created: true
        }),
    )
    .with_audit(format!(
        "cluster {id} file_size_limit {}",
        a.file_size_limit
    ));
    ctx.commit_output(tx, out).await
}

async fn cluster_delete(ctx: Ctx, mut a: ClusterIdArgs) -> Result<Output, CommandError> {
    a.cluster_id = uuid_arg("cluster_id", &a.cluster_id)?;
    let mut tx = ctx.begin_change().await?;
    if tx.fileserver_cluster(&a.cluster_id).await?.is_none() {
        return Err(cluster_not_found(&a.cluster_id));
    }
    let links = tx
        .fileserver_links_of(LinksOf::Cluster, &a.cluster_id)
        .await?;
    if !links.is_empty() && !a.force {
        return Err(CommandError::Conflict(format!(
            "cluster {} is linked to {} shard(s); unlink them or delete it with --force",
            a.cluster_id,
            links.len()
        )));
    }
    tx.delete_fileserver_cluster(&a.cluster_id).await?;
    let text = match links.len() {
        0 => format!("Deleted cluster {}", a.cluster_id),
        n => format!("Deleted cluster {} and its {n} link(s)", a.cluster_id),
    };
    let out = Output::new(
        text,
        json!({ "id": a.cluster_id, "deleted_links": links.len() }),
    )
    .with_audit(format!("links removed: {}", links.len()));
    ctx.commit_output(tx, out).await
}

/// Every cluster as listed (links, and members when asked).
async fn cluster_infos(ctx: &Ctx, with_members: bool) -> Result<Vec<FsCluster>, CommandError> {
    let store = ctx.store();
    let clusters = store.fileserver_clusters().await?;
    let links = store.fileserver_links().await?;
    let members = if with_members {
        Some(alive::live_members(ctx).await?)
    } else {
        None
    };
    Ok(clusters
        .into_iter()
        .map(|c| FsCluster {
            links: links
                .iter()
                .filter(|l| l.cluster_id == c.id)
                .map(shards::link_info)
                .collect(),
            members: members.as_ref().map(|all| {
                all.iter()
                    .filter(|(cluster, _)| *cluster == c.id)
                    .map(|(_, m)| m.clone())
                    .collect()
            }),
            id: c.id,
            title: c.title,
            file_size_limit: c.file_size_limit,
            public_key: c.public_key,
            created_at: c.created_at,
        })
        .collect())
}

async fn cluster_list(ctx: Ctx, a: ClusterListArgs) -> Result<Output, CommandError> {
    let clusters = cluster_infos(&ctx, a.members).await?;
    let mut header = vec!["ID", "TITLE", "FILE SIZE LIMIT", "LINKS"];
    if a.members {
        header.extend(["MEMBER", "URL", "SHARDS", "EXPIRES"]);
    }
    let mut rows = Vec::new();
    for c in &clusters {
        let base = vec![
            c.id.clone(),
            c.title.clone(),
            c.file_size_limit.to_string(),
            c.links.len().to_string(),
        ];
        match c.members.as_deref() {
            None => rows.push(base),
            Some([]) => rows.push([base, vec!["-".into(); 4]].concat()),
            Some(members) => {
                for m in members {
                    let shards = m
                        .shards
                        .iter()
                        .map(|s| {
                            format!(
                                "{}:{}",
                                s.shard_id,
                                keyward_proto::permission_word(s.read, s.write)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                    rows.push(
                        [
                            base.clone(),
                            vec![
                                m.member_id.clone(),
                                m.url.clone(),
                                shards,
                                rfc3339(m.expires_at),
                            ],
                        ]
                        .concat(),
                    );
                }
            }
        }
    }
    let table = crate::table::Table::new(&header, rows);
    Ok(Output::new(table.render(None), json!(FsClusterList { clusters })).with_table(table))
}

/// The URL members reach this server at.
fn server_url(ctx: &Ctx, given: Option<String>) -> String {
    let settings = ctx.settings();
    given
        .or_else(|| settings.public_url.clone())
        .unwrap_or_else(|| {
            let scheme = if settings.tls_cert_file.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", settings.listen)
        })
        .trim_end_matches('/')
        .to_string()
}

async fn cluster_show_config(ctx: Ctx, mut a: ShowConfigArgs) -> Result<Output, CommandError> {
    a.cluster_id = uuid_arg("cluster_id", &a.cluster_id)?;
    let cluster = ctx
        .store()
        .fileserver_cluster(&a.cluster_id)
        .await?
        .ok_or_else(|| cluster_not_found(&a.cluster_id))?;
    let shards = ctx.store().fileserver_shards().await?;
    let config_shards = ctx
        .store()
        .fileserver_cluster_links(&a.cluster_id)
        .await?
        .into_iter()
        .map(|l| FsConfigShard {
            title: shards
                .iter()
                .find(|s| s.id == l.shard_id)
                .map(|s| s.title.clone())
                .unwrap_or_default(),
            shard_id: l.shard_id,
            read: l.can_read,
            write: l.can_write,
        })
        .collect();
    let url = server_url(&ctx, a.server_url);
    alive::check_url(&url).map_err(|e| CommandError::invalid_field("server_url", e))?;
    let config = keys::member_config(&ctx, &cluster, &url, config_shards).await?;
    let text = keys::member_config_toml(&config, &cluster.title)?;
    let value = json!(FsClusterConfig {
        cluster_id: cluster.id.clone(),
        config: text.clone(),
    });
    Ok(Output::new(text, value).with_audit("member configuration shown (holds the cluster key)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID_1: &str = "1713b68b-df64-41c5-822c-6eb8c877037c";

    #[test]
    fn ids_titles_and_limits_are_checked() {
        assert_eq!(
            parse_uuid(&ID_1.to_uppercase()).as_deref(),
            Ok(ID_1),
            "UUIDs are read in any case and kept lowercase"
        );
        assert!(parse_uuid("1713b68b").is_err());
        assert!(parse_title("  ").is_err());
        assert!(parse_title("a\u{7}b").is_err());
        assert_eq!(
            parse_title(" Default Cluster ").as_deref(),
            Ok("Default Cluster")
        );
        assert!(parse_size_limit("-1").is_err());
        assert_eq!(parse_size_limit("1024"), Ok(1024));
    }
}
