//! The user scope's self-service actions besides `password`: privacyIDEA's names for what a
//! signed-in user may do with its own tokens and account. keyward has no such self-service (a
//! user changes only its password), so these grant nothing here; they are accepted so that
//! privacyIDEA policy files import as they are, and a user policy naming only them still applies
//! to its users — and so withholds `password` from them.

/// privacyIDEA's user-scope actions keyward accepts but offers nothing for, as privacyIDEA
/// spells them (matched without regard to case).
pub const USER_SELF_SERVICE_ACTIONS: &[&str] = &[
    "assign",
    "auditlog",
    "delete",
    "disable",
    "enable",
    "enrollEMAIL",
    "enrollHOTP",
    "enrollOCRA2",
    "enrollSMS",
    "enrollTOTP",
    "reset",
    "resync",
    "setdescription",
    "setpin",
    "unassign",
    "updateuser",
];

/// What `policy list` and errors say of them.
pub const ABOUT: &str = "privacyIDEA self-service action; keyward offers no such self-service, \
                         so it only makes the policy apply (withholding `password`)";

#[cfg(test)]
mod tests {
    use super::super::{Actions, Scope};

    #[test]
    fn privacyideas_user_actions_parse_in_their_own_spelling() {
        let a = Actions::parse(Scope::User, "enrollhotp, ENROLLtotp, Password").unwrap();
        let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["enrollHOTP", "enrollTOTP", "password"]);
        assert!(Actions::parse(Scope::User, "enrollFOO").is_err());
        // They belong to the user scope only.
        assert!(Actions::parse(Scope::Admin, "enrollHOTP").is_err());
    }
}
