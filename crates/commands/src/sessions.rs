//! Session commands (Psono, Deis, SFTPGo): `cleartoken` deletes expired login sessions,
//! `reissuetoken USERNAME` revokes every session and API key of a user (their old token then gets
//! 401), `connections` lists live sessions in SFTPGo's shape, `closeconnection ID` ends one.

use clap::Parser;
use keyward_proto::{Connection, ConnectionList, SessionId};
use keyward_store::sessions::Session;
use serde_json::json;

use crate::access::{ADMINS, AUDIT_READERS, Access, Principal};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};
use crate::timefmt::rfc3339;
use crate::users::load_user;

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command("cleartoken", "Delete expired login sessions", cleartoken)
            .mutating()
            .example("cleartoken")
            .allow(Access::Roles(ADMINS)),
        command(
            "reissuetoken",
            "Revoke every session and API key of a user (they must log in again)",
            reissuetoken,
        )
        .mutating()
        .example("reissuetoken alice")
        .allow(Access::Roles(ADMINS)),
        command(
            "connections",
            "List active sessions (connections)",
            connections,
        )
        .example("connections")
        .example("connections --output json")
        .lists()
        .allow(Access::Roles(AUDIT_READERS)),
        command(
            "closeconnection",
            "End one session by its connection id",
            closeconnection,
        )
        .mutating()
        .example("closeconnection 7d0f0c55-8a3e-4b7e-9d43-1f2a9b6c0e11")
        .allow(Access::Roles(ADMINS)),
        command("logout", "End the caller's own login session", logout)
            .mutating()
            .example("logout")
            .allow(Access::Authenticated),
    ]
}

crate::no_targets!(NoArgs);

crate::target_field!(UsernameArg => User(username));

crate::target_field!(IdArg => Session(id));

/// `logout`: ends the session the caller signed in with (its own; no target to check).
async fn logout(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let Principal::Account {
        username,
        session: Some(session),
        ..
    } = &ctx.principal
    else {
        return Err(CommandError::Invalid(
            "logout ends the login session a request was signed in with; this caller has none"
                .into(),
        ));
    };
    let mut tx = ctx.begin_change().await?;
    if !tx.delete_session(session).await? {
        return Err(CommandError::NotFound(
            "the session has already ended".into(),
        ));
    }
    let out = Output::new(
        "Logged out",
        json!({ "username": username, "logged_out": true }),
    )
    .with_audit(format!("session {session}"));
    ctx.commit_output(tx, out).await
}

#[derive(Parser)]
struct NoArgs {}

async fn cleartoken(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    let n = tx.delete_expired_sessions(ctx.now()).await?;
    let out = Output::new(format!("Cleared token: {n}"), json!({ "cleared": n }))
        .with_audit(format!("{n} expired sessions deleted"));
    ctx.commit_output(tx, out).await
}

#[derive(Parser)]
struct UsernameArg {
    username: String,
}

async fn reissuetoken(ctx: Ctx, a: UsernameArg) -> Result<Output, CommandError> {
    let user = load_user(&ctx, &a.username).await?;
    // Sessions and keys go together, with the audit row, or not at all.
    let mut tx = ctx.begin_change().await?;
    let sessions = tx.delete_user_sessions(&user.id).await?;
    let keys = tx
        .revoke_user_api_keys(&user.id, &user.username, ctx.now())
        .await?;
    let out = Output::new(
        format!(
            "Re-issued token for user \"{}\": revoked {sessions} sessions and {keys} API keys",
            user.username
        ),
        json!({ "username": user.username, "sessions_revoked": sessions, "api_keys_revoked": keys }),
    )
    .with_audit(format!(
        "revoked {sessions} sessions and {keys} API keys"
    ));
    ctx.commit_output(tx, out).await
}

const PAGE: i64 = 500;

/// Every live session, oldest first (paged through the store).
pub async fn live_sessions(ctx: &Ctx) -> Result<Vec<Session>, CommandError> {
    let now = ctx.now();
    let mut all: Vec<Session> = Vec::new();
    loop {
        let after = all.last().map(|s| (s.created_at, s.id.as_str()));
        let page = ctx.store().list_sessions_page(now, after, PAGE).await?;
        let done = (page.len() as i64) < PAGE;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// One session in SFTPGo's `get-connections` shape (times in ms).
pub fn connection(s: &Session) -> Connection {
    Connection {
        connection_id: s.id.clone(),
        username: s.username.clone(),
        protocol: s.protocol.clone(),
        remote_address: s.remote_addr.clone(),
        client_version: s.user_agent.clone(),
        connection_time: s.created_at.saturating_mul(1000),
        last_activity: s.last_activity.saturating_mul(1000),
        expires_at: s.expires_at,
        active_transfers: Vec::new(),
        ssh_command: String::new(),
    }
}

async fn connections(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let sessions = live_sessions(&ctx).await?;
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.username.to_string(),
                s.protocol.clone(),
                dash(&s.remote_addr),
                dash(&s.user_agent),
                rfc3339(s.created_at),
                rfc3339(s.last_activity),
            ]
        })
        .collect();
    let table = crate::table::Table::new(
        &[
            "ID",
            "USERNAME",
            "PROTOCOL",
            "REMOTE ADDRESS",
            "USER AGENT",
            "CONNECTED AT",
            "LAST ACTIVITY",
        ],
        rows,
    );
    let list = ConnectionList {
        connections: sessions.iter().map(connection).collect(),
    };
    Ok(Output::new(table.render(None), json!(list)).with_table(table))
}

#[derive(Parser)]
struct IdArg {
    /// The connection id (see `connections`).
    id: String,
}

async fn closeconnection(ctx: Ctx, a: IdArg) -> Result<Output, CommandError> {
    let mut tx = ctx.begin_change().await?;
    if !tx.delete_session(&SessionId::from(a.id.as_str())).await? {
        return Err(CommandError::NotFound(format!(
            "connection \"{}\" does not exist",
            a.id
        )));
    }
    let out = Output::new(
        format!("Closed connection \"{}\"", a.id),
        json!({ "connection_id": a.id, "closed": true }),
    );
    ctx.commit_output(tx, out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_has_sftpgo_s_json_shape() {
        let s = Session {
            id: "c1".into(),
            user_id: "u1".into(),
            username: "alice".into(),
            protocol: "http".into(),
            remote_addr: "127.0.0.1".into(),
            user_agent: "curl".into(),
            created_at: 2,
            last_activity: 3,
            expires_at: 4,
        };
        assert_eq!(
            json!(ConnectionList {
                connections: vec![connection(&s)]
            }),
            json!({ "connections": [{
                "connection_id": "c1", "username": "alice", "protocol": "http",
                "remote_address": "127.0.0.1", "client_version": "curl",
                "connection_time": 2000, "last_activity": 3000, "expires_at": 4,
                "active_transfers": [], "ssh_command": "",
            }]})
        );
    }
}
