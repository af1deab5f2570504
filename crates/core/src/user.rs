//! Users and roles: the rules every transport shares — what a valid username and email look like,
//! which roles exist and what each may do, and the access restrictions of the rich user record
//! (SFTPGo-style: expiry, allowed/denied networks, denied login methods, session limit).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Validation failures of user input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserInputError {
    #[error("username must not be empty")]
    EmptyUsername,
    #[error("username is longer than 150 characters")]
    UsernameTooLong,
    #[error("username must not contain whitespace or control characters")]
    UsernameBadChars,
    #[error("username must not contain invisible or text-direction characters")]
    UsernameInvisibleChars,
    #[error("invalid email address: {0}")]
    BadEmail(String),
    #[error("password must not be empty")]
    EmptyPassword,
    #[error("password is too short: at least {0} characters (setting password_min_length)")]
    PasswordTooShort(usize),
    #[error("unknown role {0:?} (roles: superuser, admin, helpdesk, auditor)")]
    UnknownRole(String),
    #[error("invalid IP network {0:?} (expected CIDR such as 192.0.2.0/24)")]
    BadNetwork(String),
    #[error("unknown login method {0:?} (methods: password, otp, api-key, radius)")]
    UnknownLoginMethod(String),
}

/// An operator role. `superuser` may do everything; `admin` administers users and tokens;
/// `helpdesk` may only operate tokens; `auditor` may only read (audit, lists).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Superuser,
    Admin,
    Helpdesk,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Superuser, Role::Admin, Role::Helpdesk, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superuser => "superuser",
            Role::Admin => "admin",
            Role::Helpdesk => "helpdesk",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UserInputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UserInputError::UnknownRole(s.to_string()))
    }
}

/// A set of roles, stored as a sorted comma-separated list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles(Vec<Role>);

impl Roles {
    pub fn new(mut roles: Vec<Role>) -> Self {
        roles.sort();
        roles.dedup();
        Roles(roles)
    }
    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }
    pub fn insert(&mut self, role: Role) -> bool {
        if self.contains(role) {
            return false;
        }
        self.0.push(role);
        self.0.sort();
        true
    }
    pub fn remove(&mut self, role: Role) -> bool {
        let before = self.0.len();
        self.0.retain(|r| *r != role);
        before != self.0.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Database form: `admin,superuser` (empty string for none).
    pub fn to_db(&self) -> String {
        self.0
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
    /// Parses the database form; unknown names are dropped rather than failing reads.
    pub fn from_db(s: &str) -> Self {
        Roles::new(s.split(',').filter_map(|r| r.parse().ok()).collect())
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("-")
        } else {
            f.write_str(&self.to_db())
        }
    }
}

/// Ways a user can authenticate; any of them can be denied per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginMethod {
    Password,
    Otp,
    ApiKey,
    Radius,
}

impl LoginMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMethod::Password => "password",
            LoginMethod::Otp => "otp",
            LoginMethod::ApiKey => "api-key",
            LoginMethod::Radius => "radius",
        }
    }
}

impl FromStr for LoginMethod {
    type Err = UserInputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "password" => Ok(LoginMethod::Password),
            "otp" => Ok(LoginMethod::Otp),
            "api-key" | "apikey" => Ok(LoginMethod::ApiKey),
            "radius" => Ok(LoginMethod::Radius),
            other => Err(UserInputError::UnknownLoginMethod(other.to_string())),
        }
    }
}

/// Checks a username: non-empty, at most 150 chars, no whitespace, control, invisible or
/// text-direction characters (judged on its NFKC form, which is what gets stored).
pub fn validate_username(username: &str) -> Result<(), UserInputError> {
    normalize_username(username).map(|_| ())
}

/// The NFKC form of a valid username (what is stored); an error for an invalid one.
pub fn normalize_username(username: &str) -> Result<String, UserInputError> {
    let name = crate::username::nfkc(username);
    if name.is_empty() {
        return Err(UserInputError::EmptyUsername);
    }
    if name.chars().count() > 150 {
        return Err(UserInputError::UsernameTooLong);
    }
    if name.chars().any(crate::username::is_invisible_or_bidi) {
        return Err(UserInputError::UsernameInvisibleChars);
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UserInputError::UsernameBadChars);
    }
    Ok(name)
}

/// The case-folded NFKC form used for uniqueness and look-up (so `ａｌｉｃｅ` finds `alice`).
pub fn username_key(username: &str) -> String {
    crate::username::nfkc(username).to_lowercase()
}

/// The confusable skeleton of a username (unique in the database: look-alikes are refused).
pub fn username_skeleton(username: &str) -> String {
    crate::username::skeleton(&username_key(username))
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain of sane labels.
pub fn validate_email(email: &str) -> Result<(), UserInputError> {
    let bad = || UserInputError::BadEmail(email.to_string());
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(bad());
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) {
        return Err(bad());
    }
    Ok(())
}

/// Rejects an empty password (the only universal rule; policies may add more later).
/// Checks a new password: not empty, and at least `min_chars` characters (Unicode scalar
/// values; the `password_min_length` setting). Every way a password is set calls this.
pub fn validate_password(password: &str, min_chars: usize) -> Result<(), UserInputError> {
    if password.is_empty() {
        return Err(UserInputError::EmptyPassword);
    }
    if password.chars().count() < min_chars {
        return Err(UserInputError::PasswordTooShort(min_chars));
    }
    Ok(())
}

/// Parses a list of CIDR networks; a bare address means a single host.
pub fn parse_networks(items: &[String]) -> Result<Vec<IpNet>, UserInputError> {
    items
        .iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| UserInputError::BadNetwork(s.to_string()))
        })
        .collect()
}

/// Why a user may not authenticate right now (said in the audit log, never to the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessDenial {
    Disabled,
    Expired,
    AddressNotAllowed,
    AddressDenied,
    MethodDenied,
}

impl AccessDenial {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessDenial::Disabled => "user disabled",
            AccessDenial::Expired => "user expired",
            AccessDenial::AddressNotAllowed => "client address not in allowed networks",
            AccessDenial::AddressDenied => "client address in denied networks",
            AccessDenial::MethodDenied => "login method denied for user",
        }
    }
}

/// The access-relevant part of a user record.
#[derive(Debug, Clone, Default)]
pub struct AccessRules<'a> {
    pub active: bool,
    pub expires_at: Option<i64>,
    pub allowed_networks: &'a [String],
    pub denied_networks: &'a [String],
    pub denied_login_methods: &'a [String],
}

/// Decides whether a user may authenticate with `method` from `client` at time `now`.
/// Unparseable stored networks deny (fail closed).
pub fn check_access(
    rules: &AccessRules<'_>,
    now: i64,
    client: Option<IpAddr>,
    method: LoginMethod,
) -> Result<(), AccessDenial> {
    if !rules.active {
        return Err(AccessDenial::Disabled);
    }
    if rules.expires_at.is_some_and(|exp| exp <= now) {
        return Err(AccessDenial::Expired);
    }
    if rules
        .denied_login_methods
        .iter()
        .any(|m| m == method.as_str())
    {
        return Err(AccessDenial::MethodDenied);
    }
    if !rules.allowed_networks.is_empty() {
        let nets =
            parse_networks(rules.allowed_networks).map_err(|_| AccessDenial::AddressNotAllowed)?;
        match client {
            Some(ip) if nets.iter().any(|n| n.contains(&ip)) => {}
            _ => return Err(AccessDenial::AddressNotAllowed),
        }
    }
    if !rules.denied_networks.is_empty() {
        let nets =
            parse_networks(rules.denied_networks).map_err(|_| AccessDenial::AddressDenied)?;
        if client.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))) {
            return Err(AccessDenial::AddressDenied);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_case_insensitively_and_reject_unknown() {
        assert_eq!("SuperUser".parse::<Role>().unwrap(), Role::Superuser);
        assert_eq!(
            "root".parse::<Role>().unwrap_err(),
            UserInputError::UnknownRole("root".into())
        );
    }

    #[test]
    fn roles_round_trip_through_db_form() {
        let mut r = Roles::default();
        assert!(r.insert(Role::Auditor));
        assert!(r.insert(Role::Superuser));
        assert!(!r.insert(Role::Auditor));
        assert_eq!(r.to_db(), "superuser,auditor");
        assert_eq!(Roles::from_db(&r.to_db()), r);
        assert!(r.remove(Role::Superuser));
        assert_eq!(r.to_db(), "auditor");
    }

    #[test]
    fn email_validation() {
        for ok in [
            "email@something.com",
            "a.b+c@x.example.org",
            "u@xn--bcher-kva.de",
        ] {
            assert!(validate_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "a@b",
            "@x.com",
            "a@@x.com",
            "a@x..com",
            "a b@x.com",
            "a@-x.com",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn username_validation() {
        assert!(validate_username("username@example.com").is_ok());
        assert_eq!(validate_username(""), Err(UserInputError::EmptyUsername));
        assert_eq!(
            validate_username("a b"),
            Err(UserInputError::UsernameBadChars)
        );
    }

    #[test]
    fn item17_usernames_are_normalised_and_invisible_characters_refused() {
        assert_eq!(normalize_username("ａｌｉｃｅ").unwrap(), "alice");
        assert_eq!(username_key("ＡＬＩＣＥ"), "alice");
        assert_eq!(
            validate_username("ali\u{200B}ce"),
            Err(UserInputError::UsernameInvisibleChars)
        );
        assert_eq!(
            validate_username("alice\u{202E}gpj.exe"),
            Err(UserInputError::UsernameInvisibleChars)
        );
        assert_eq!(username_skeleton("\u{430}lice"), username_skeleton("Alice"));
    }

    #[test]
    fn access_rules() {
        let allowed = vec!["10.0.0.0/8".to_string()];
        let denied = vec!["10.1.0.0/16".to_string()];
        let methods = vec!["password".to_string()];
        let mut rules = AccessRules {
            active: true,
            ..Default::default()
        };
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(check_access(&rules, 100, ip("1.2.3.4"), LoginMethod::Password).is_ok());
        rules.expires_at = Some(100);
        assert_eq!(
            check_access(&rules, 100, None, LoginMethod::Password),
            Err(AccessDenial::Expired)
        );
        rules.expires_at = None;
        rules.allowed_networks = &allowed;
        rules.denied_networks = &denied;
        assert!(check_access(&rules, 0, ip("10.2.0.1"), LoginMethod::Password).is_ok());
        assert_eq!(
            check_access(&rules, 0, ip("10.1.0.1"), LoginMethod::Password),
            Err(AccessDenial::AddressDenied)
        );
        assert_eq!(
            check_access(&rules, 0, ip("11.0.0.1"), LoginMethod::Password),
            Err(AccessDenial::AddressNotAllowed)
        );
        rules.denied_login_methods = &methods;
        assert_eq!(
            check_access(&rules, 0, ip("10.2.0.1"), LoginMethod::Password),
            Err(AccessDenial::MethodDenied)
        );
        assert!(check_access(&rules, 0, ip("10.2.0.1"), LoginMethod::Otp).is_ok());
        rules.active = false;
        assert_eq!(
            check_access(&rules, 0, None, LoginMethod::Otp),
            Err(AccessDenial::Disabled)
        );
    }
}
