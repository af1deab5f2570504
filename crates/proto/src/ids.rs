//! Newtypes for the identifiers that cross crate boundaries (store ↔ commands ↔ wire types):
//! a token's serial, an API key's id, a session's id, a user's id and a username. Each is a `String` inside,
//! serialised as the plain string (`serde(transparent)`), and reads as a `&str` (`Deref`,
//! `AsRef`, `Display`), so it costs nothing at the edges; what it buys is that a serial cannot be
//! passed where a key id is expected. They check nothing: validation stays where it is today
//! (`keyward_core` for usernames, the commands for serials).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        /// Shown as the plain string (`"OATH0001"`), so messages that quote an id read the same
        /// as when it was a `String`.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok($name(s.to_string()))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(value.to_string())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self == &other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }
    };
}

string_id!(
    /// A token's serial number (`OATH0001A2B3`, `TOTP…`, or whatever an import brought).
    Serial
);

string_id!(
    /// An API key's public id (the middle part of `kw_<id>_<secret>`).
    ApiKeyId
);

string_id!(
    /// A login session's id (SFTPGo's `connection_id`); never the bearer token.
    SessionId
);

string_id!(
    /// A user's login name, as stored (already normalised by `keyward_core::user`).
    Username
);

string_id!(
    /// A user's internal id (a UUID; the integer `num` is the SFTPGo-style id users see).
    UserId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let s = Serial::new("OATH0001");
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!("OATH0001")
        );
        let back: Serial = serde_json::from_str("\"OATH0001\"").unwrap();
        assert_eq!(back, s);
        assert_eq!(s, "OATH0001");
        assert_eq!(s.to_string(), "OATH0001");
        assert_eq!(&*s, "OATH0001");
        assert_eq!(format!("{s:?}"), "\"OATH0001\"");
        let id: ApiKeyId = "k1".parse().unwrap();
        assert_eq!(String::from(id), "k1");
    }
}
