//! Who may run a command, and on whom. Every command declares an [`Access`] (which principals may
//! run it) and its argument struct implements [`Targets`] (which principals it acts on); the
//! registry enforces both before the handler runs, for every transport. The rule on targets: an
//! operator acts on another principal only when that principal's highest role is strictly below
//! its own (superuser > admin > helpdesk > auditor > user); a superuser acts on anyone.

use keyward_core::user::{Role, Roles};
use keyward_proto::{ApiKeyId, SessionId, UserId, Username};

use crate::context::Ctx;
use crate::output::CommandError;

/// Rank of a principal without any role (a plain user).
pub const USER_RANK: u8 = 0;

/// The rank of a role: higher may act on lower.
pub fn role_rank(role: Role) -> u8 {
    match role {
        Role::Superuser => 4,
        Role::Admin => 3,
        Role::Helpdesk => 2,
        Role::Auditor => 1,
    }
}

/// The rank of a principal holding `roles`: its highest role's.
pub fn roles_rank(roles: &Roles) -> u8 {
    roles.iter().map(role_rank).max().unwrap_or(USER_RANK)
}

/// The name of a rank, for messages.
pub fn rank_name(rank: u8) -> &'static str {
    Role::ALL
        .into_iter()
        .find(|r| role_rank(*r) == rank)
        .map(Role::as_str)
        .unwrap_or("user")
}

/// Who is running a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// `keyward manage` on this machine: it holds the database and the key files, so it may do
    /// everything, including options that read or write local files.
    Console,
    /// The management endpoint with the configured access key (Psono's `manage.py` over HTTP):
    /// superuser power within the `management_commands` allow-list, but never local files.
    ManagementKey,
    /// An authenticated account: a login session or an `admin` API key.
    Account {
        username: Username,
        roles: Roles,
        /// The login session the request came with (for `logout`).
        session: Option<SessionId>,
    },
    /// Nobody authenticated (validation, login, self-registration).
    Anonymous,
}

impl Principal {
    /// Superuser-level principals act on anyone.
    pub fn is_superuser(&self) -> bool {
        match self {
            Principal::Console | Principal::ManagementKey => true,
            Principal::Account { roles, .. } => roles.contains(Role::Superuser),
            Principal::Anonymous => false,
        }
    }

    /// Whether the principal runs on this machine (may name local files).
    pub fn is_local(&self) -> bool {
        matches!(self, Principal::Console)
    }

    /// The principal's rank; `None` for anonymous callers.
    pub fn rank(&self) -> Option<u8> {
        match self {
            Principal::Console | Principal::ManagementKey => Some(role_rank(Role::Superuser)),
            Principal::Account { roles, .. } => Some(roles_rank(roles)),
            Principal::Anonymous => None,
        }
    }
}

/// Which principals may run a command (superuser-level principals always may, except where the
/// command needs this machine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only `keyward manage` on this machine (installation, key files).
    Local,
    /// Superusers (the console and the management key included).
    Superuser,
    /// Accounts holding one of these roles, and superusers.
    Roles(&'static [Role]),
    /// Any authenticated principal (e.g. `logout`).
    Authenticated,
}

/// Roles of the commands that change tokens (helpdesk: token operations only).
pub const TOKEN_OPERATORS: &[Role] = &[Role::Admin, Role::Helpdesk];
/// Roles of the commands that read tokens and users.
pub const TOKEN_READERS: &[Role] = &[Role::Admin, Role::Helpdesk, Role::Auditor];
/// Roles of administrators.
pub const ADMINS: &[Role] = &[Role::Admin];
/// Roles that read the audit log and configuration.
pub const AUDIT_READERS: &[Role] = &[Role::Admin, Role::Auditor];

impl Access {
    /// Whether `principal` may run a command declared with this access.
    pub fn allows(self, principal: &Principal) -> bool {
        match self {
            Access::Local => principal.is_local(),
            Access::Superuser => principal.is_superuser(),
            Access::Roles(roles) => {
                principal.is_superuser()
                    || matches!(principal, Principal::Account { roles: held, .. }
                        if roles.iter().any(|r| held.contains(*r)))
            }
            Access::Authenticated => principal.rank().is_some(),
        }
    }

    /// Who may run it, in words (help text, error messages, the README's table).
    pub fn describe(self) -> String {
        match self {
            Access::Local => "local console only".into(),
            Access::Superuser => "superuser".into(),
            Access::Roles(roles) => std::iter::once("superuser")
                .chain(roles.iter().map(|r| r.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            Access::Authenticated => "any signed-in account".into(),
        }
    }
}

/// A principal a command acts on, named by one of its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A user account by name (`user@realm` accepted).
    User(String),
    /// A user account by its integer id or, failing that, by name (the REST `{id}`; see
    /// `user_edit::find_user_ref`).
    UserRef(String),
    /// A token by serial: acts on its owner.
    Token(String),
    /// A login session by id: acts on its user.
    Session(String),
    /// An API key by id: acts on the key (an admin key ranks as admin) and its owner.
    ApiKey(String),
    /// A role being granted or revoked: only roles below the operator's own.
    Role(Role),
    /// Something that is no principal (a runtime config key): named in the audit row only.
    Object(String),
}

impl Target {
    /// The text of the audit row's target (never a secret: names, serials and ids only).
    pub fn audit_text(&self) -> String {
        match self {
            Target::User(u) => u.clone(),
            Target::UserRef(r) => r.clone(),
            Target::Token(s) => s.clone(),
            Target::Session(id) => id.clone(),
            Target::ApiKey(id) => id.clone(),
            Target::Role(r) => r.as_str().to_string(),
            Target::Object(name) => name.clone(),
        }
    }
}

/// Implemented by every command's argument struct: the principals the command acts on, from the
/// parsed arguments. It has no default, so a new command cannot forget to say.
pub trait Targets {
    fn targets(&self) -> Vec<Target>;
}

/// Argument structs of commands that act on nobody in particular.
#[macro_export]
macro_rules! no_targets {
    ($($t:ty),+ $(,)?) => {
        $(impl $crate::access::Targets for $t {
            fn targets(&self) -> Vec<$crate::access::Target> {
                Vec::new()
            }
        })+
    };
}

/// Argument structs whose one target is one (required) field, e.g.
/// `target_field!(UsernameArg => User(username));`.
#[macro_export]
macro_rules! target_field {
    ($($t:ty => $variant:ident($field:ident)),+ $(,)?) => {
        $(impl $crate::access::Targets for $t {
            fn targets(&self) -> Vec<$crate::access::Target> {
                vec![$crate::access::Target::$variant(self.$field.clone())]
            }
        })+
    };
}

/// Builds a target list from optional names (the LinOTP parameters are mostly optional). Names
/// and serials are trimmed as the handlers read them (`params::given`, `params::required`): the
/// rule must look at the principal the handler will act on, not at a padded spelling of it that
/// matches nothing.
pub fn targets_of(items: impl IntoIterator<Item = Option<Target>>) -> Vec<Target> {
    items
        .into_iter()
        .flatten()
        .map(|t| match t {
            Target::User(s) => Target::User(s.trim().to_string()),
            Target::Token(s) => Target::Token(s.trim().to_string()),
            other => other,
        })
        .filter(|t| !matches!(t, Target::User(s) | Target::Token(s) if s.is_empty()))
        .collect()
}

/// The audit text of a target list: the targets joined with commas, at most 200 characters.
pub fn audit_target(targets: &[Target]) -> String {
    let text = targets
        .iter()
        .filter(|t| !matches!(t, Target::Role(_)))
        .map(Target::audit_text)
        .collect::<Vec<_>>()
        .join(",");
    text.chars().take(200).collect()
}

fn denied(what: &str, rank: u8, own: u8) -> CommandError {
    CommandError::Forbidden(format!(
        "not allowed: {what} ranks as {} and your highest role is {}; \
         you may act only on principals below your own role",
        rank_name(rank),
        rank_name(own)
    ))
}

/// Checks the target rule for every target. Targets that do not exist pass here (the command
/// itself answers "not found" or creates them).
pub async fn check_targets(ctx: &Ctx, targets: &[Target]) -> Result<(), CommandError> {
    let principal = &ctx.principal;
    if principal.is_superuser() {
        return Ok(());
    }
    let Some(own) = principal.rank() else {
        return Err(CommandError::Forbidden("authentication required".into()));
    };
    for target in targets {
        let (what, rank) = match target {
            Target::Role(role) => ("the role", Some(role_rank(*role))),
            Target::User(name) => ("the user", user_rank(ctx, name).await?),
            Target::UserRef(r) => (
                "the user",
                crate::user_edit::find_user_ref(ctx, r)
                    .await?
                    .map(|u| roles_rank(&u.roles)),
            ),
            Target::Token(serial) => ("the token's owner", token_owner_rank(ctx, serial).await?),
            Target::Session(id) => ("the session's user", session_rank(ctx, id).await?),
            Target::ApiKey(id) => ("the API key", api_key_rank(ctx, id).await?),
            Target::Object(_) => continue,
        };
        if let Some(rank) = rank
            && rank >= own
        {
            return Err(denied(what, rank, own));
        }
    }
    Ok(())
}

/// The rank of a user by name; `None` when no such user exists.
async fn user_rank(ctx: &Ctx, name: &str) -> Result<Option<u8>, CommandError> {
    // An unknown realm is the command's own error to report.
    Ok(crate::tokens::find_owner(ctx, name)
        .await
        .ok()
        .flatten()
        .map(|u| roles_rank(&u.roles)))
}

async fn user_id_rank(ctx: &Ctx, id: &UserId) -> Result<Option<u8>, CommandError> {
    Ok(ctx
        .store()
        .get_user_by_id(id)
        .await?
        .map(|u| roles_rank(&u.roles)))
}

/// A token acts on its owner; an unowned token ranks as a plain user. The serial is looked up as
/// given and trimmed (the handlers trim it), and the higher rank counts: a spelling that finds
/// no token must not hide the token the handler will find.
async fn token_owner_rank(ctx: &Ctx, serial: &str) -> Result<Option<u8>, CommandError> {
    let mut rank = None;
    for spelling in [serial, serial.trim()] {
        let Some(token) = ctx.store().token_by_serial(spelling).await? else {
            continue;
        };
        let r = match token.owner_id.as_deref() {
            Some(owner) => user_id_rank(ctx, &UserId::from(owner))
                .await?
                .unwrap_or(USER_RANK),
            None => USER_RANK,
        };
        rank = rank.max(Some(r));
    }
    Ok(rank)
}

async fn session_rank(ctx: &Ctx, id: &str) -> Result<Option<u8>, CommandError> {
    match ctx.store().session_user_id(&SessionId::from(id)).await? {
        Some(user_id) => Ok(Some(
            user_id_rank(ctx, &user_id).await?.unwrap_or(USER_RANK),
        )),
        None => Ok(None),
    }
}

/// An admin key ranks as admin (it acts with that role), and at least as its owner.
async fn api_key_rank(ctx: &Ctx, id: &str) -> Result<Option<u8>, CommandError> {
    let Some(key) = ctx.store().get_api_key(&ApiKeyId::from(id)).await? else {
        return Ok(None);
    };
    let key_rank = if key.role == "admin" {
        role_rank(Role::Admin)
    } else {
        USER_RANK
    };
    let owner_rank = match &key.owner_id {
        Some(owner) => user_id_rank(ctx, owner).await?.unwrap_or(USER_RANK),
        None => USER_RANK,
    };
    Ok(Some(key_rank.max(owner_rank)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(roles: &[Role]) -> Principal {
        let mut r = Roles::default();
        for role in roles {
            r.insert(*role);
        }
        Principal::Account {
            username: "t".into(),
            roles: r,
            session: None,
        }
    }

    #[test]
    fn ranks_order_the_roles() {
        assert!(role_rank(Role::Superuser) > role_rank(Role::Admin));
        assert!(role_rank(Role::Admin) > role_rank(Role::Helpdesk));
        assert!(role_rank(Role::Helpdesk) > role_rank(Role::Auditor));
        assert!(role_rank(Role::Auditor) > USER_RANK);
        assert_eq!(account(&[Role::Auditor, Role::Admin]).rank(), Some(3));
        assert_eq!(account(&[]).rank(), Some(USER_RANK));
        assert_eq!(Principal::Anonymous.rank(), None);
        assert_eq!(rank_name(2), "helpdesk");
        assert_eq!(rank_name(0), "user");
    }

    #[test]
    fn access_rules() {
        let helpdesk = account(&[Role::Helpdesk]);
        assert!(Access::Roles(TOKEN_OPERATORS).allows(&helpdesk));
        assert!(!Access::Roles(ADMINS).allows(&helpdesk));
        assert!(Access::Roles(ADMINS).allows(&account(&[Role::Superuser])));
        assert!(Access::Roles(ADMINS).allows(&Principal::ManagementKey));
        assert!(!Access::Local.allows(&Principal::ManagementKey));
        assert!(Access::Local.allows(&Principal::Console));
        assert!(!Access::Superuser.allows(&account(&[Role::Admin])));
        assert!(Access::Authenticated.allows(&account(&[])));
        assert!(!Access::Authenticated.allows(&Principal::Anonymous));
        assert!(!Access::Roles(TOKEN_READERS).allows(&Principal::Anonymous));
    }

    #[test]
    fn audit_text_never_names_roles_and_is_bounded() {
        let t = vec![
            Target::User("alice".into()),
            Target::Role(Role::Admin),
            Target::Token("S1".into()),
        ];
        assert_eq!(audit_target(&t), "alice,S1");
        let long = vec![Target::User("x".repeat(300))];
        assert_eq!(audit_target(&long).len(), 200);
    }
}
