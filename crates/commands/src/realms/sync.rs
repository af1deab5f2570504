//! `syncldap`'s plan: compare an LDAP resolver's users with the local shadow users linked to it
//! and say what to change — create missing users, update changed emails, disable users that are
//! gone or disabled in the directory (which ends their sessions), enable users active again.
//! The plan is computed without writing; applying it is one transaction (all or nothing).

use std::collections::HashMap;

use keyward_proto::{UserId, Username};
use keyward_store::users::{NewUser, User};
use keyward_store::write_tx::WriteTx;

use super::definition::SHADOW_PASSWORD_HASH;
use super::directory::DirectoryUser;
use crate::access::roles_rank;
use crate::context::Ctx;
use crate::output::CommandError;

/// One planned change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Create {
        login: String,
        email: String,
        external_id: String,
    },
    UpdateEmail {
        id: UserId,
        login: String,
        from: String,
        to: String,
    },
    Disable {
        id: UserId,
        login: String,
        reason: &'static str,
    },
    Enable {
        login: String,
    },
    /// Left alone, with why.
    Skip {
        login: String,
        reason: String,
    },
}

impl Change {
    /// One line of the plan.
    pub fn describe(&self, resolver: &str) -> String {
        match self {
            Change::Create { login, email, .. } => {
                format!("create {login} ({email}) from {resolver}")
            }
            Change::UpdateEmail {
                login, from, to, ..
            } => {
                format!("update email of {login}: {from} -> {to}")
            }
            Change::Disable { login, reason, .. } => format!("disable {login} ({reason})"),
            Change::Enable { login } => format!("enable {login} (active in {resolver})"),
            Change::Skip { login, reason } => format!("skip {login}: {reason}"),
        }
    }

    pub fn is_change(&self) -> bool {
        !matches!(self, Change::Skip { .. })
    }
}

/// The changes that bring the shadow users of `resolver` in line with `directory`. Users the
/// acting principal may not act on (rank not below its own) are skipped, not changed.
pub async fn plan(
    ctx: &Ctx,
    resolver: &str,
    directory: &[DirectoryUser],
) -> Result<Vec<Change>, CommandError> {
    let shadows = ctx.store().users_of_resolver(resolver).await?;
    let mut by_login: HashMap<String, &User> = shadows
        .iter()
        .map(|u| (u.username.as_str().to_lowercase(), u))
        .collect();
    let may_act = |u: &User| match ctx.principal.rank() {
        _ if ctx.principal.is_superuser() => true,
        Some(rank) => roles_rank(&u.roles) < rank,
        None => false,
    };
    let mut plan = Vec::new();
    for d in directory {
        let key = d.login.to_lowercase();
        match by_login.remove(&key) {
            Some(u) if !may_act(u) => plan.push(Change::Skip {
                login: d.login.clone(),
                reason: "its role is not below yours".into(),
            }),
            Some(u) => {
                if d.disabled && u.active {
                    plan.push(Change::Disable {
                        id: u.id.clone(),
                        login: u.username.to_string(),
                        reason: "disabled in the directory",
                    });
                } else if !d.disabled && !u.active {
                    plan.push(Change::Enable {
                        login: u.username.to_string(),
                    });
                }
                if !d.email.is_empty() && d.email != u.email {
                    plan.push(Change::UpdateEmail {
                        id: u.id.clone(),
                        login: u.username.to_string(),
                        from: u.email.clone(),
                        to: d.email.clone(),
                    });
                }
            }
            None if d.disabled => {}
            None => {
                if ctx
                    .store()
                    .find_user(&Username::from(d.login.as_str()))
                    .await?
                    .is_some()
                {
                    plan.push(Change::Skip {
                        login: d.login.clone(),
                        reason: "a local user of that name exists (not from this resolver)".into(),
                    });
                } else {
                    plan.push(Change::Create {
                        login: d.login.clone(),
                        email: d.email.clone(),
                        external_id: d.external_id.clone(),
                    });
                }
            }
        }
    }
    let mut gone: Vec<&User> = by_login.into_values().filter(|u| u.active).collect();
    gone.sort_by(|a, b| a.username.as_str().cmp(b.username.as_str()));
    for u in gone {
        plan.push(if may_act(u) {
            Change::Disable {
                id: u.id.clone(),
                login: u.username.to_string(),
                reason: "gone from the directory",
            }
        } else {
            Change::Skip {
                login: u.username.to_string(),
                reason: "gone from the directory, but its role is not below yours".into(),
            }
        });
    }
    Ok(plan)
}

/// The local row of a directory user's shadow user, as both `syncldap` and adoption
/// ([`super::adopt`]) create it: no usable password (the resolver checks it), never the first
/// account (so never superuser by being first).
pub(super) fn new_shadow_user<'a>(login: &'a str, email: &'a str, now: i64) -> NewUser<'a> {
    NewUser {
        username: login,
        password_hash: SHADOW_PASSWORD_HASH,
        email,
        now,
        may_be_first: false,
    }
}

/// Applies a plan in `tx` (the caller commits it with its audit row).
pub async fn apply(
    ctx: &Ctx,
    tx: &mut WriteTx,
    resolver: &str,
    plan: &[Change],
) -> Result<(), CommandError> {
    let now = ctx.now();
    let mut disable = Vec::new();
    for change in plan {
        match change {
            Change::Create {
                login,
                email,
                external_id,
            } => {
                let user = tx.create_user(&new_shadow_user(login, email, now)).await?;
                tx.set_user_source(&user.id, resolver, external_id, now)
                    .await?;
            }
            Change::UpdateEmail { id, to, .. } => {
                tx.set_user_email(id, to, now).await?;
            }
            Change::Disable { id, .. } => disable.push(id.clone()),
            Change::Enable { login } => {
                tx.set_user_active(&Username::from(login.as_str()), true, now)
                    .await?;
            }
            Change::Skip { .. } => {}
        }
    }
    if !disable.is_empty() {
        tx.disable_users(&disable, now).await?;
    }
    Ok(())
}
