//! Policies (privacyIDEA's model): a named rule in one scope — admin, authentication,
//! authorization, enrollment, user — carrying actions with values (`otppin=userstore, passthru`)
//! and conditions on who it applies to (realms, users, resolvers, client networks, and for the
//! admin scope the operator accounts), an active flag and a priority. This module holds the
//! model, the vocabulary of known actions and their parsing into a canonical form; which policy
//! applies to whom, and what the applicable set decides, is in [`matching`].

pub mod matching;
pub mod user_actions;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

pub use matching::{AdminDecision, PolicySet, Subject};

/// Why a policy definition is not acceptable (shown to the operator; never holds a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "unknown policy scope \"{0}\" (known: admin, authentication, authorization, enrollment, user)"
    )]
    UnknownScope(String),
    #[error("unknown action \"{action}\" in scope {scope} (known: {known})")]
    UnknownAction {
        scope: &'static str,
        action: String,
        known: String,
    },
    #[error("action \"{action}\": {why}")]
    BadValue { action: String, why: String },
    #[error("a policy needs at least one action")]
    NoAction,
    #[error("policy name must be 1-64 letters, digits, '-', '_' or '.'")]
    BadName,
    #[error("client \"{0}\" is not an address or CIDR network (a leading '!' excludes it)")]
    BadClient(String),
    #[error("{field}: \"{value}\" is not a valid entry")]
    BadEntry { field: &'static str, value: String },
    #[error("priority must be between 0 and 9999")]
    BadPriority,
}

/// The area a policy governs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Admin,
    Authentication,
    Authorization,
    Enrollment,
    User,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Admin,
        Scope::Authentication,
        Scope::Authorization,
        Scope::Enrollment,
        Scope::User,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Authentication => "authentication",
            Scope::Authorization => "authorization",
            Scope::Enrollment => "enrollment",
            Scope::User => "user",
        }
    }

    pub fn parse(text: &str) -> Result<Scope, PolicyError> {
        let t = text.trim().to_ascii_lowercase();
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == t)
            .ok_or_else(|| PolicyError::UnknownScope(text.chars().take(64).collect()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action's value may be.
#[derive(Clone, Copy, Debug)]
pub enum ValueKind {
    /// No value: the action is on when named (`passthru`).
    Flag,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// An integer in this range.
    Int(i64, i64),
}

/// A known action.
#[derive(Clone, Copy, Debug)]
pub struct ActionDef {
    pub scope: Scope,
    pub name: &'static str,
    pub kind: ValueKind,
    pub about: &'static str,
}

const OTP_LENGTHS: &[&str] = &["6", "8"];
const HASHLIBS: &[&str] = &["sha1", "sha256", "sha512"];

/// The token operations an admin-scope policy can grant: each is the name of a changing
/// `token …` command without its `token ` prefix (and `reset2fa`).
pub const ADMIN_TOKEN_ACTIONS: &[&str] = &[
    "assign",
    "copypin",
    "copyuser",
    "disable",
    "enable",
    "init",
    "loadtokens",
    "losttoken",
    "remove",
    "reset",
    "reset2fa",
    "resync",
    "set",
    "setpin",
    "setvalidity",
    "tokenrealm",
    "unassign",
    "unpair",
];

const fn def(scope: Scope, name: &'static str, kind: ValueKind, about: &'static str) -> ActionDef {
    ActionDef {
        scope,
        name,
        kind,
        about,
    }
}

/// Every action keyward knows, besides the admin scope's token operations
/// ([`ADMIN_TOKEN_ACTIONS`], flags).
pub const ACTIONS: &[ActionDef] = &[
    def(
        Scope::Authorization,
        "api_key_required",
        ValueKind::Flag,
        "/validate/* needs a validate API key",
    ),
    def(
        Scope::Authentication,
        "otppin",
        ValueKind::Choice(&["tokenpin", "userstore", "none"]),
        "what the pass starts with: the token PIN, the user's password, or nothing",
    ),
    def(
        Scope::Authentication,
        "passthru",
        ValueKind::Flag,
        "a user without a token authenticates with the password alone",
    ),
    def(
        Scope::Authentication,
        "lockout",
        ValueKind::Int(1, 1000),
        "failed attempts after which a token is locked (at most its own MaxFailCount)",
    ),
    def(
        Scope::Enrollment,
        "otp_length",
        ValueKind::Choice(OTP_LENGTHS),
        "default OTP length of new tokens",
    ),
    def(
        Scope::Enrollment,
        "hashlib",
        ValueKind::Choice(HASHLIBS),
        "default hash algorithm of new tokens",
    ),
    def(
        Scope::Enrollment,
        "hotp_otplen",
        ValueKind::Choice(OTP_LENGTHS),
        "default OTP length of new HOTP tokens",
    ),
    def(
        Scope::Enrollment,
        "totp_otplen",
        ValueKind::Choice(OTP_LENGTHS),
        "default OTP length of new TOTP tokens",
    ),
    def(
        Scope::Enrollment,
        "hotp_hashlib",
        ValueKind::Choice(HASHLIBS),
        "default hash algorithm of new HOTP tokens",
    ),
    def(
        Scope::Enrollment,
        "totp_hashlib",
        ValueKind::Choice(HASHLIBS),
        "default hash algorithm of new TOTP tokens",
    ),
    def(
        Scope::User,
        "password",
        ValueKind::Flag,
        "the user may change its own password (once user policies apply to a user)",
    ),
];

/// The definition of `name` in `scope`.
pub fn action_def(scope: Scope, name: &str) -> Option<ActionDef> {
    if scope == Scope::Admin {
        return ADMIN_TOKEN_ACTIONS
            .iter()
            .find(|a| **a == name)
            .map(|a| def(Scope::Admin, a, ValueKind::Flag, "token operation"));
    }
    let known = ACTIONS
        .iter()
        .find(|d| d.scope == scope && d.name == name)
        .copied();
    if known.is_none() && scope == Scope::User {
        return user_actions::USER_SELF_SERVICE_ACTIONS
            .iter()
            .find(|a| a.eq_ignore_ascii_case(name))
            .map(|a| def(Scope::User, a, ValueKind::Flag, user_actions::ABOUT));
    }
    known
}

/// The action names of a scope, for messages and help.
pub fn known_actions(scope: Scope) -> Vec<&'static str> {
    if scope == Scope::Admin {
        return ADMIN_TOKEN_ACTIONS.to_vec();
    }
    let mut names: Vec<&'static str> = ACTIONS
        .iter()
        .filter(|d| d.scope == scope)
        .map(|d| d.name)
        .collect();
    if scope == Scope::User {
        names.extend_from_slice(user_actions::USER_SELF_SERVICE_ACTIONS);
    }
    names
}

/// An action's value: on (a flag), or a checked word or number in canonical text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionValue {
    Flag,
    Value(String),
}

/// A policy's actions, checked against the scope's vocabulary, in canonical order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actions(BTreeMap<String, ActionValue>);

impl Actions {
    /// Parses privacyIDEA's action text: `name=value` or `name` items separated by commas.
    pub fn parse(scope: Scope, text: &str) -> Result<Actions, PolicyError> {
        let mut out = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (item, None),
            };
            let (name, value) = Self::check(scope, name, value)?;
            out.insert(name, value);
        }
        if out.is_empty() {
            return Err(PolicyError::NoAction);
        }
        Ok(Actions(out))
    }

    fn check(
        scope: Scope,
        name: &str,
        value: Option<&str>,
    ) -> Result<(String, ActionValue), PolicyError> {
        let lower = name.to_ascii_lowercase();
        let Some(d) = action_def(scope, &lower) else {
            return Err(PolicyError::UnknownAction {
                scope: scope.as_str(),
                action: name.chars().take(64).collect(),
                known: known_actions(scope).join(", "),
            });
        };
        let bad = |why: String| PolicyError::BadValue {
            action: d.name.to_string(),
            why,
        };
        let value = match (d.kind, value) {
            (ValueKind::Flag, None) => ActionValue::Flag,
            (ValueKind::Flag, Some(v)) => match v.to_ascii_lowercase().as_str() {
                "" | "1" | "true" | "yes" | "on" => ActionValue::Flag,
                _ => return Err(bad("takes no value (name it to turn it on)".into())),
            },
            (ValueKind::Choice(choices), Some(v)) => {
                let v = v.to_ascii_lowercase();
                if !choices.contains(&v.as_str()) {
                    return Err(bad(format!("must be one of {}", choices.join(", "))));
                }
                ActionValue::Value(v)
            }
            (ValueKind::Int(lo, hi), Some(v)) => match v.parse::<i64>() {
                Ok(n) if (lo..=hi).contains(&n) => ActionValue::Value(n.to_string()),
                _ => return Err(bad(format!("must be a number from {lo} to {hi}"))),
            },
            (ValueKind::Choice(_) | ValueKind::Int(..), None) => {
                return Err(bad(format!("needs a value ({}=…)", d.name)));
            }
        };
        Ok((d.name.to_string(), value))
    }

    pub fn get(&self, name: &str) -> Option<&ActionValue> {
        self.0.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &ActionValue)> {
        self.0.iter()
    }
}

impl fmt::Display for Actions {
    /// The canonical text: `name=value` / `name`, sorted by name, joined with `, `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in &self.0 {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            match value {
                ActionValue::Flag => f.write_str(name)?,
                ActionValue::Value(v) => write!(f, "{name}={v}")?,
            }
        }
        Ok(())
    }
}

/// A client condition: a network, or (with a leading `!`) a network excluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientNet {
    pub net: IpNet,
    pub excluded: bool,
}

impl ClientNet {
    pub fn parse(text: &str) -> Result<ClientNet, PolicyError> {
        let t = text.trim();
        let (excluded, rest) = match t.strip_prefix('!') {
            Some(r) => (true, r.trim()),
            None => (false, t),
        };
        let net = rest
            .parse::<IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| rest.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| PolicyError::BadClient(t.chars().take(64).collect()))?;
        Ok(ClientNet { net, excluded })
    }
}

impl fmt::Display for ClientNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.excluded {
            f.write_str("!")?;
        }
        write!(f, "{}", self.net)
    }
}

/// One policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub scope: Scope,
    pub actions: Actions,
    /// Realms of the user (or, in the admin scope, of the token) it applies to; empty: any.
    pub realms: Vec<String>,
    /// Users it applies to (names without realm); empty: any.
    pub users: Vec<String>,
    /// User resolvers it applies to; empty: any.
    pub resolvers: Vec<String>,
    /// Client networks it applies to; empty: any address.
    pub clients: Vec<ClientNet>,
    /// Admin scope: the operator accounts it restricts; empty: every operator below superuser.
    pub admin_users: Vec<String>,
    pub active: bool,
    /// Lower numbers win when policies disagree (privacyIDEA's rule); 1 by default.
    pub priority: i64,
    pub description: String,
}

/// The parts of a policy as an operator or a file gives them (texts, unchecked).
#[derive(Clone, Debug, Default)]
pub struct PolicyDraft {
    pub name: String,
    pub scope: String,
    pub action: String,
    pub realms: Vec<String>,
    pub users: Vec<String>,
    pub resolvers: Vec<String>,
    pub clients: Vec<String>,
    pub admin_users: Vec<String>,
    pub active: bool,
    pub priority: i64,
    pub description: String,
}

/// Default priority of a new policy.
pub const DEFAULT_PRIORITY: i64 = 1;

/// Whether `name` is an acceptable policy name.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Trims, drops empty entries, lowercases (names compare case-insensitively), sorts and
/// deduplicates a condition list; entries with control characters or commas are refused.
fn clean_list(field: &'static str, items: &[String]) -> Result<Vec<String>, PolicyError> {
    let mut out = Vec::new();
    for item in items.iter().flat_map(|i| i.split(',')) {
        let t = item.trim();
        if t.is_empty() {
            continue;
        }
        if t.len() > 256 || t.chars().any(char::is_control) {
            return Err(PolicyError::BadEntry {
                field,
                value: t.chars().take(64).collect(),
            });
        }
        out.push(t.to_lowercase());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

impl Policy {
    /// Checks a draft and brings it to canonical form (what is stored and exported).
    pub fn from_draft(d: &PolicyDraft) -> Result<Policy, PolicyError> {
        let name = d.name.trim();
        if !valid_name(name) {
            return Err(PolicyError::BadName);
        }
        let scope = Scope::parse(&d.scope)?;
        let actions = Actions::parse(scope, &d.action)?;
        if !(0..=9999).contains(&d.priority) {
            return Err(PolicyError::BadPriority);
        }
        let mut clients = Vec::new();
        for c in d.clients.iter().flat_map(|c| c.split(',')) {
            if !c.trim().is_empty() {
                clients.push(ClientNet::parse(c)?);
            }
        }
        clients.sort_by_key(|c| c.to_string());
        clients.dedup();
        Ok(Policy {
            name: name.to_string(),
            scope,
            actions,
            realms: clean_list("realm", &d.realms)?,
            users: clean_list("user", &d.users)?,
            resolvers: clean_list("resolver", &d.resolvers)?,
            clients,
            admin_users: clean_list("adminuser", &d.admin_users)?,
            active: d.active,
            priority: d.priority,
            description: d.description.chars().take(1000).collect(),
        })
    }

    /// The policy as a draft again (for storing and exporting; `from_draft` of it is itself).
    pub fn to_draft(&self) -> PolicyDraft {
        PolicyDraft {
            name: self.name.clone(),
            scope: self.scope.as_str().to_string(),
            action: self.actions.to_string(),
            realms: self.realms.clone(),
            users: self.users.clone(),
            resolvers: self.resolvers.clone(),
            clients: self.clients.iter().map(ClientNet::to_string).collect(),
            admin_users: self.admin_users.clone(),
            active: self.active,
            priority: self.priority,
            description: self.description.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(scope: &str, action: &str) -> PolicyDraft {
        PolicyDraft {
            name: "p1".into(),
            scope: scope.into(),
            action: action.into(),
            active: true,
            priority: 1,
            ..Default::default()
        }
    }

    #[test]
    fn actions_parse_into_canonical_text() {
        let a = Actions::parse(
            Scope::Authentication,
            " passthru , OTPPIN=UserStore,lockout=3",
        )
        .unwrap();
        assert_eq!(a.to_string(), "lockout=3, otppin=userstore, passthru");
        assert_eq!(
            Actions::parse(Scope::Authentication, &a.to_string()).unwrap(),
            a
        );
        let admin = Actions::parse(Scope::Admin, "enable, disable,reset").unwrap();
        assert_eq!(admin.to_string(), "disable, enable, reset");
    }

    #[test]
    fn unknown_scopes_actions_and_values_are_refused_with_a_reason() {
        assert!(matches!(
            Scope::parse("admins"),
            Err(PolicyError::UnknownScope(_))
        ));
        let e = Actions::parse(Scope::Authorization, "api_key_requird").unwrap_err();
        assert!(e.to_string().contains("api_key_required"), "{e}");
        assert!(Actions::parse(Scope::Authentication, "otppin=sometimes").is_err());
        assert!(Actions::parse(Scope::Authentication, "otppin").is_err());
        assert!(Actions::parse(Scope::Authentication, "lockout=0").is_err());
        assert!(Actions::parse(Scope::Authentication, "passthru=maybe").is_err());
        assert!(Actions::parse(Scope::Enrollment, "otp_length=7").is_err());
        assert!(Actions::parse(Scope::Enrollment, " , ").is_err());
        // An action of another scope is unknown in this one.
        assert!(Actions::parse(Scope::Enrollment, "passthru").is_err());
    }

    #[test]
    fn drafts_become_canonical_policies_and_back() {
        let mut d = draft("Authentication", "passthru");
        d.realms = vec!["North, south".into(), "north".into()];
        d.clients = vec!["10.1.2.3/8".into(), "!10.9.0.1".into()];
        d.users = vec![" Alice ".into()];
        let p = Policy::from_draft(&d).unwrap();
        assert_eq!(p.scope, Scope::Authentication);
        assert_eq!(p.realms, vec!["north", "south"]);
        assert_eq!(p.users, vec!["alice"]);
        let shown: Vec<String> = p.clients.iter().map(|c| c.to_string()).collect();
        assert_eq!(shown, vec!["!10.9.0.1/32", "10.0.0.0/8"]);
        assert_eq!(Policy::from_draft(&p.to_draft()).unwrap(), p);
    }

    #[test]
    fn bad_names_clients_and_priorities_are_refused() {
        let mut d = draft("user", "password");
        d.name = "no spaces".into();
        assert_eq!(Policy::from_draft(&d), Err(PolicyError::BadName));
        let mut d = draft("user", "password");
        d.clients = vec!["10.0.0.0/33".into()];
        assert!(matches!(
            Policy::from_draft(&d),
            Err(PolicyError::BadClient(_))
        ));
        let mut d = draft("user", "password");
        d.priority = -1;
        assert_eq!(Policy::from_draft(&d), Err(PolicyError::BadPriority));
    }
}
