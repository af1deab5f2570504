//! Shards and their links to clusters: `fsshardcreate`, `fssharddelete`, `fsshardlist`,
//! `fsshardlink` (prints the link id), `fsshardunlink`, and `fsshardstatus` — the shards with
//! their live members, which every signed-in account may read (`GET /api/v1/fileserver/shards`).

use clap::Parser;
use keyward_proto::{
    FsCreated, FsLink, FsShard, FsShardAvailabilityList, FsShardList, permission_flags,
    permission_word,
};
use keyward_store::fileserver::{Link, LinksOf, Shard};
use serde_json::json;

use super::{cluster_not_found, parse_title, uuid_arg};
use crate::access::{ADMINS, Access, Target, Targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "fsshardcreate",
            "Create a shard with a title (shown to users) and a description",
            shard_create,
        )
        .mutating()
        .example("fsshardcreate \"Some Title\" \"Some description\"")
        .allow(Access::Roles(ADMINS)),
        command(
            "fssharddelete",
            "Delete a shard (--force also removes its links to clusters)",
            shard_delete,
        )
        .mutating()
        .example("fssharddelete a8a1176c-bad8-4b84-b45e-1084b3a48e7d")
        .example("fssharddelete a8a1176c-bad8-4b84-b45e-1084b3a48e7d --force")
        .allow(Access::Roles(ADMINS)),
        command(
            "fsshardlist",
            "List the shards with their links to clusters",
            shard_list,
        )
        .example("fsshardlist")
        .example("fsshardlist --output csv")
        .lists()
        .allow(Access::Roles(ADMINS)),
        command(
            "fsshardlink",
            "Let a cluster's members serve a shard with permission rw, r or w; prints the link id",
            shard_link,
        )
        .mutating()
        .example("fsshardlink 1713b68b-df64-41c5-822c-6eb8c877037c a8a1176c-bad8-4b84-b45e-1084b3a48e7d rw")
        .allow(Access::Roles(ADMINS)),
        command(
            "fsshardunlink",
            "Remove a link between a shard and a cluster by the link's id",
            shard_unlink,
        )
        .mutating()
        .example("fsshardunlink c8916ab1-4a22-4aa6-9549-c0b15f688e7c")
        .allow(Access::Roles(ADMINS)),
        command(
            "fsshardstatus",
            "List the shards with their live members and whether they can be read and written now",
            shard_status,
        )
        .example("fsshardstatus")
        .example("fsshardstatus --output json")
        .lists()
        .allow(Access::Authenticated),
    ]
}

fn parse_description(s: &str) -> Result<String, String> {
    if s.chars().count() > 4096 || s.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must be at most 4096 characters without control characters".into());
    }
    Ok(s.trim().to_string())
}

fn shard_not_found(id: &str) -> CommandError {
    CommandError::NotFound(format!("no fileserver shard with id {id}"))
}

/// A link as the wire types show it.
pub(super) fn link_info(l: &Link) -> FsLink {
    FsLink {
        id: l.id.clone(),
        cluster_id: l.cluster_id.clone(),
        shard_id: l.shard_id.clone(),
        permission: permission_word(l.can_read, l.can_write).to_string(),
        created_at: l.created_at,
    }
}

#[derive(Parser)]
struct ShardCreateArgs {
    /// The title users see when they pick a shard.
    #[arg(value_parser = parse_title)]
    title: String,
    /// A description.
    #[arg(value_parser = parse_description)]
    description: String,
}

#[derive(Parser)]
struct ShardIdArgs {
    /// The shard id (see `fsshardlist`).
    shard_id: String,
    /// Delete it even when clusters are linked to it (the links go with it).
    #[arg(long)]
    force: bool,
}

#[derive(Parser)]
struct LinkArgs {
    /// The cluster id (see `fsclusterlist`).
    cluster_id: String,
    /// The shard id (see `fsshardlist`).
    shard_id: String,
    /// What the cluster's members may do with the shard: rw, r or w.
    permission: String,
}

#[derive(Parser)]
struct UnlinkArgs {
    /// The link id (printed by `fsshardlink`, listed by `fsshardlist`).
    link_id: String,
}

#[derive(Parser)]
struct NoArgs {}

impl Targets for ShardCreateArgs {
    fn targets(&self) -> Vec<Target> {
        vec![Target::Object(self.title.clone())]
    }
}
impl Targets for LinkArgs {
    fn targets(&self) -> Vec<Target> {
        vec![
            Target::Object(self.cluster_id.clone()),
            Target::Object(self.shard_id.clone()),
        ]
    }
}
crate::target_field!(ShardIdArgs => Object(shard_id), UnlinkArgs => Object(link_id));
crate::no_targets!(NoArgs);

async fn shard_create(ctx: Ctx, a: ShardCreateArgs) -> Result<Output, CommandError> {
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let mut tx = ctx.begin_change().await?;
    tx.create_fileserver_shard(&Shard {
        id: id.clone(),
        title: a.title.clone(),
        description: a.description,
        created_at: ctx.now(),
    })
    .await?;
    let out = Output::new(
        format!("Created shard {id} \"{}\"", a.title),
        json!(FsCreated {
            id: id.clone(),
            created: true
        }),
    )
    .with_audit(format!("shard {id}"));
    ctx.commit_output(tx, out).await
}

async fn shard_delete(ctx: Ctx, mut a: ShardIdArgs) -> Result<Output, CommandError> {
    a.shard_id = uuid_arg("shard_id", &a.shard_id)?;
    let mut tx = ctx.begin_change().await?;
    if tx.fileserver_shard(&a.shard_id).await?.is_none() {
        return Err(shard_not_found(&a.shard_id));
    }
    let links = tx.fileserver_links_of(LinksOf::Shard, &a.shard_id).await?;
    if !links.is_empty() && !a.force {
        return Err(CommandError::Conflict(format!(
            "shard {} is linked to {} cluster(s); unlink it or delete it with --force",
            a.shard_id,
            links.len()
        )));
    }
    tx.delete_fileserver_shard(&a.shard_id).await?;
    let text = match links.len() {
        0 => format!("Deleted shard {}", a.shard_id),
        n => format!("Deleted shard {} and its {n} link(s)", a.shard_id),
    };
    let out = Output::new(
        text,
        json!({ "id": a.shard_id, "deleted_links": links.len() }),
    )
    .with_audit(format!("links removed: {}", links.len()));
    ctx.commit_output(tx, out).await
}

async fn shard_list(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let shards = ctx.store().fileserver_shards().await?;
    let links = ctx.store().fileserver_links().await?;
    let infos: Vec<FsShard> = shards
        .into_iter()
        .map(|s| FsShard {
            links: links
                .iter()
                .filter(|l| l.shard_id == s.id)
                .map(link_info)
                .collect(),
            id: s.id,
            title: s.title,
            description: s.description,
            created_at: s.created_at,
        })
        .collect();
    let mut rows = Vec::new();
    for s in &infos {
        let base = vec![s.id.clone(), s.title.clone(), s.description.clone()];
        if s.links.is_empty() {
            rows.push([base.clone(), vec!["-".into(); 3]].concat());
        }
        for l in &s.links {
            rows.push(
                [
                    base.clone(),
                    vec![l.id.clone(), l.cluster_id.clone(), l.permission.clone()],
                ]
                .concat(),
            );
        }
    }
    let table = crate::table::Table::new(
        &[
            "ID",
            "TITLE",
            "DESCRIPTION",
            "LINK",
            "CLUSTER",
            "PERMISSION",
        ],
        rows,
    );
    Ok(Output::new(table.render(None), json!(FsShardList { shards: infos })).with_table(table))
}

async fn shard_link(ctx: Ctx, mut a: LinkArgs) -> Result<Output, CommandError> {
    a.cluster_id = uuid_arg("cluster_id", &a.cluster_id)?;
    a.shard_id = uuid_arg("shard_id", &a.shard_id)?;
    let (can_read, can_write) = permission_flags(&a.permission)
        .ok_or_else(|| CommandError::invalid_field("permission", "must be rw, r or w"))?;
    let mut tx = ctx.begin_change().await?;
    if tx.fileserver_cluster(&a.cluster_id).await?.is_none() {
        return Err(cluster_not_found(&a.cluster_id));
    }
    if tx.fileserver_shard(&a.shard_id).await?.is_none() {
        return Err(shard_not_found(&a.shard_id));
    }
    let existing = tx
        .fileserver_links_of(LinksOf::Cluster, &a.cluster_id)
        .await?;
    if let Some(l) = existing.iter().find(|l| l.shard_id == a.shard_id) {
        return Err(CommandError::Conflict(format!(
            "shard {} is already linked to cluster {} (link {})",
            a.shard_id, a.cluster_id, l.id
        )));
    }
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    tx.create_fileserver_link(&Link {
        id: id.clone(),
        cluster_id: a.cluster_id.clone(),
        shard_id: a.shard_id.clone(),
        can_read,
        can_write,
        created_at: ctx.now(),
    })
    .await?;
    let out = Output::new(
        format!(
            "Created link {id} (cluster {}, shard {}, {})",
            a.cluster_id, a.shard_id, a.permission
        ),
        json!(FsCreated {
            id: id.clone(),
            created: true
        }),
    )
    .with_audit(format!("link {id} permission {}", a.permission));
    ctx.commit_output(tx, out).await
}

async fn shard_unlink(ctx: Ctx, mut a: UnlinkArgs) -> Result<Output, CommandError> {
    a.link_id = uuid_arg("link_id", &a.link_id)?;
    let mut tx = ctx.begin_change().await?;
    let Some(link) = tx.delete_fileserver_link(&a.link_id).await? else {
        return Err(CommandError::NotFound(format!(
            "no fileserver link with id {}",
            a.link_id
        )));
    };
    let out = Output::new(
        format!(
            "Deleted link {} (cluster {}, shard {})",
            link.id, link.cluster_id, link.shard_id
        ),
        json!({ "id": link.id, "cluster_id": link.cluster_id, "shard_id": link.shard_id }),
    )
    .with_audit(format!(
        "cluster {} shard {}",
        link.cluster_id, link.shard_id
    ));
    ctx.commit_output(tx, out).await
}

async fn shard_status(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let shards = super::alive::availability(&ctx).await?;
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let rows = shards
        .iter()
        .map(|s| {
            let members = s
                .members
                .iter()
                .map(|m| {
                    format!(
                        "{} {} ({})",
                        m.member_id,
                        m.url,
                        permission_word(m.read, m.write)
                    )
                })
                .collect::<Vec<_>>();
            vec![
                s.id.clone(),
                s.title.clone(),
                yes_no(s.read),
                yes_no(s.write),
                if members.is_empty() {
                    "-".into()
                } else {
                    members.join(", ")
                },
            ]
        })
        .collect();
    let table = crate::table::Table::new(&["ID", "TITLE", "READ", "WRITE", "LIVE MEMBERS"], rows);
    Ok(Output::new(
        table.render(None),
        json!(FsShardAvailabilityList { shards }),
    )
    .with_table(table))
}
