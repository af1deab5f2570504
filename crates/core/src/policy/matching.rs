//! Which policies apply, and what they decide. A [`PolicySet`] holds the active policies in
//! evaluation order (priority, then name); a [`Subject`] says who a request is about (user,
//! realms, resolver, client address). Value actions (`otppin`, `lockout`, enrollment defaults)
//! take the value of the first applicable policy naming them, so the lowest priority number
//! wins and equal priorities are decided by name — deterministic, never an error at request
//! time. The admin scope restricts: when admin policies apply to the acting operator, only the
//! token actions they name are allowed, on the targets they admit; when none apply, the roles
//! alone decide.

use std::net::IpAddr;

use super::{ActionValue, ClientNet, Policy, Scope};

/// Who a request is about. Names are compared case-insensitively (policies store them
/// lowercased).
#[derive(Clone, Debug, Default)]
pub struct Subject {
    /// The user's name without realm.
    pub user: Option<String>,
    /// The user's realm or the token's realms.
    pub realms: Vec<String>,
    pub resolver: Option<String>,
    pub client: Option<IpAddr>,
}

impl Subject {
    pub fn new(
        user: Option<&str>,
        realms: &[String],
        resolver: Option<&str>,
        client: Option<IpAddr>,
    ) -> Subject {
        Subject {
            user: user.map(str::to_lowercase),
            realms: realms.iter().map(|r| r.to_lowercase()).collect(),
            resolver: resolver.map(str::to_lowercase),
            client,
        }
    }
}

/// Whether a condition list admits `value` (an empty list admits anything, a missing value
/// only an empty list).
fn admits(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l == v))
}

/// Whether the client conditions admit `client`: not in an excluded network, and in one of the
/// listed networks when any is listed.
fn admits_client(clients: &[ClientNet], client: Option<IpAddr>) -> bool {
    if clients.is_empty() {
        return true;
    }
    let Some(ip) = client else {
        return false;
    };
    if clients.iter().any(|c| c.excluded && c.net.contains(&ip)) {
        return false;
    }
    let mut listed = clients.iter().filter(|c| !c.excluded).peekable();
    listed.peek().is_none() || listed.any(|c| c.net.contains(&ip))
}

impl Policy {
    /// Whether the user, realm and resolver conditions admit `s` (not the client).
    fn admits_subject(&self, s: &Subject) -> bool {
        admits(&self.users, s.user.as_deref())
            && (self.realms.is_empty() || s.realms.iter().any(|r| self.realms.contains(r)))
            && admits(&self.resolvers, s.resolver.as_deref())
    }

    /// Whether this policy applies to a request about `s`.
    pub fn applies_to(&self, s: &Subject) -> bool {
        self.admits_subject(s) && admits_client(&self.clients, s.client)
    }

    /// Admin scope: whether it restricts this operator (by account and client address).
    fn restricts_operator(&self, operator: &str, client: Option<IpAddr>) -> bool {
        admits(&self.admin_users, Some(&operator.to_lowercase()))
            && admits_client(&self.clients, client)
    }
}

/// What the admin policies say about an operator's token action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminDecision {
    /// No admin policy restricts this operator: the roles decide.
    Unrestricted,
    /// Allowed by this policy.
    Allowed(String),
    /// Policies restrict the operator and none allows this action on these targets.
    Denied,
}

/// The active policies, in evaluation order.
#[derive(Clone, Debug, Default)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// Keeps the active policies of `all`, ordered by priority, then name.
    pub fn new(all: Vec<Policy>) -> PolicySet {
        let mut policies: Vec<Policy> = all.into_iter().filter(|p| p.active).collect();
        policies.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
        PolicySet { policies }
    }

    /// Whether no active policy of `scope` exists (the cheap common case).
    pub fn scope_is_empty(&self, scope: Scope) -> bool {
        !self.policies.iter().any(|p| p.scope == scope)
    }

    fn in_scope(&self, scope: Scope) -> impl Iterator<Item = &Policy> {
        self.policies.iter().filter(move |p| p.scope == scope)
    }

    /// The value of `action` from the first applicable policy naming it, and that policy.
    pub fn value(
        &self,
        scope: Scope,
        action: &str,
        s: &Subject,
    ) -> Option<(&ActionValue, &Policy)> {
        self.in_scope(scope)
            .filter(|p| p.applies_to(s))
            .find_map(|p| p.actions.get(action).map(|v| (v, p)))
    }

    /// The text value of `action` (None for a flag or when no policy names it).
    pub fn text(&self, scope: Scope, action: &str, s: &Subject) -> Option<&str> {
        match self.value(scope, action, s) {
            Some((ActionValue::Value(v), _)) => Some(v.as_str()),
            _ => None,
        }
    }

    /// Whether an applicable policy turns the flag `action` on.
    pub fn flag(&self, scope: Scope, action: &str, s: &Subject) -> bool {
        self.value(scope, action, s).is_some()
    }

    /// User scope (self-service): may the user `s` do `action`? As in privacyIDEA, a user no
    /// user policy applies to may do everything; once some apply, one of them must name it.
    pub fn user_may(&self, action: &str, s: &Subject) -> bool {
        let mut applying = self
            .in_scope(Scope::User)
            .filter(|p| p.applies_to(s))
            .peekable();
        applying.peek().is_none() || applying.any(|p| p.actions.contains(action))
    }

    /// Admin scope: may `operator` (from `client`) run the token action `action` on `targets`
    /// (the tokens' or users' subjects)? Policies naming the operator (or naming no operator)
    /// restrict it; then some such policy must name the action and admit every target — and,
    /// for a command without targets, have no user, realm or resolver condition.
    pub fn admin_decision(
        &self,
        operator: &str,
        client: Option<IpAddr>,
        action: &str,
        targets: &[Subject],
    ) -> AdminDecision {
        let mut restricting = self
            .in_scope(Scope::Admin)
            .filter(|p| p.restricts_operator(operator, client))
            .peekable();
        if restricting.peek().is_none() {
            return AdminDecision::Unrestricted;
        }
        let unconditioned =
            |p: &Policy| p.users.is_empty() && p.realms.is_empty() && p.resolvers.is_empty();
        restricting
            .filter(|p| p.actions.contains(action))
            .find(|p| {
                if targets.is_empty() {
                    unconditioned(p)
                } else {
                    targets.iter().all(|t| p.admits_subject(t))
                }
            })
            .map(|p| AdminDecision::Allowed(p.name.clone()))
            .unwrap_or(AdminDecision::Denied)
    }
}

#[cfg(test)]
mod tests {
    use super::super::PolicyDraft;
    use super::*;

    fn policy(name: &str, scope: &str, action: &str, f: impl Fn(&mut PolicyDraft)) -> Policy {
        let mut d = PolicyDraft {
            name: name.into(),
            scope: scope.into(),
            action: action.into(),
            active: true,
            priority: 1,
            ..Default::default()
        };
        f(&mut d);
        Policy::from_draft(&d).unwrap()
    }

    fn who(user: &str, realm: &str, client: &str) -> Subject {
        Subject::new(
            Some(user),
            &[realm.to_string()],
            Some("internal"),
            client.parse().ok(),
        )
    }

    #[test]
    fn conditions_select_the_subjects() {
        let p = policy("p", "authentication", "passthru", |d| {
            d.realms = vec!["north".into()];
            d.clients = vec!["10.0.0.0/8".into(), "!10.6.6.6".into()];
        });
        let set = PolicySet::new(vec![p]);
        let s = Scope::Authentication;
        assert!(set.flag(s, "passthru", &who("Alice", "NORTH", "10.1.1.1")));
        assert!(!set.flag(s, "passthru", &who("alice", "south", "10.1.1.1")));
        assert!(!set.flag(s, "passthru", &who("alice", "north", "192.168.1.1")));
        assert!(!set.flag(s, "passthru", &who("alice", "north", "10.6.6.6")));
        assert!(!set.flag(s, "passthru", &who("alice", "north", "")));
    }

    #[test]
    fn the_lowest_priority_wins_then_the_name_and_inactive_policies_count_not() {
        let a = policy("b-first", "authentication", "otppin=none", |d| {
            d.priority = 1
        });
        let b = policy("a-second", "authentication", "otppin=userstore", |d| {
            d.priority = 2
        });
        let c = policy("a-off", "authentication", "otppin=tokenpin", |d| {
            d.priority = 0;
            d.active = false;
        });
        let set = PolicySet::new(vec![b.clone(), a, c]);
        let s = who("bob", "x", "127.0.0.1");
        assert_eq!(set.text(Scope::Authentication, "otppin", &s), Some("none"));
        let tie = policy("a-tie", "authentication", "otppin=tokenpin", |d| {
            d.priority = 1
        });
        let set = PolicySet::new(vec![tie, b]);
        assert_eq!(
            set.text(Scope::Authentication, "otppin", &s),
            Some("tokenpin")
        );
        assert!(set.scope_is_empty(Scope::Admin));
    }

    #[test]
    fn admin_policies_restrict_only_the_operators_they_name() {
        let north = policy("helpdesk-north", "admin", "enable, disable", |d| {
            d.realms = vec!["north".into()];
            d.admin_users = vec!["carol".into()];
        });
        let set = PolicySet::new(vec![north]);
        let token_north = Subject::new(None, &["north".into()], None, None);
        let token_south = Subject::new(None, &["south".into()], None, None);
        assert_eq!(
            set.admin_decision("Carol", None, "disable", std::slice::from_ref(&token_north)),
            AdminDecision::Allowed("helpdesk-north".into())
        );
        assert_eq!(
            set.admin_decision("carol", None, "disable", std::slice::from_ref(&token_south)),
            AdminDecision::Denied
        );
        assert_eq!(
            set.admin_decision("carol", None, "remove", std::slice::from_ref(&token_north)),
            AdminDecision::Denied
        );
        // Without targets a realm-bound policy does not allow the action.
        assert_eq!(
            set.admin_decision("carol", None, "enable", &[]),
            AdminDecision::Denied
        );
        assert_eq!(
            set.admin_decision("dave", None, "remove", &[token_south]),
            AdminDecision::Unrestricted
        );
    }

    #[test]
    fn user_policies_restrict_only_the_users_they_apply_to() {
        let set = PolicySet::new(vec![
            policy("north-self", "user", "password", |d| {
                d.realms = vec!["north".into()]
            }),
            policy("south-none", "user", "password", |d| {
                d.realms = vec!["south".into()];
                d.active = false;
            }),
            policy("east-other", "user", "password", |d| {
                d.realms = vec!["east".into()];
                d.clients = vec!["10.0.0.0/8".into()];
            }),
        ]);
        assert!(set.user_may("password", &who("ann", "north", "192.0.2.1")));
        // No user policy applies (the south one is inactive): everything is allowed.
        assert!(set.user_may("password", &who("bob", "south", "192.0.2.1")));
        // East's policy applies only from 10/8; from there it names `password`.
        assert!(set.user_may("password", &who("cid", "east", "10.1.2.3")));
        let restrictive = PolicySet::new(vec![policy("west", "user", "password", |d| {
            d.realms = vec!["west".into()]
        })]);
        assert!(!restrictive.user_may("enrollHOTP", &who("dee", "west", "192.0.2.1")));
        assert!(restrictive.user_may("password", &who("dee", "west", "192.0.2.1")));
    }
}
