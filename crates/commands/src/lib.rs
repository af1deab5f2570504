//! keyward's command registry. Each operator command is implemented once, in the module of its
//! family, and reached through [`registry::Registry`] by every transport.

pub mod access;
pub mod api_keys;
pub mod audit;
pub mod audit_list;
pub mod audit_sign;
pub mod audit_verify;
pub mod backup;
pub mod catalog;
pub mod challenges;
pub mod change;
pub mod context;
pub mod csv;
pub mod delivery;
pub mod dump;
pub mod fileserver;
pub mod hashing;
pub mod keys;
pub mod login;
pub mod output;
pub mod paper_key;
pub mod params;
pub mod policies;
pub mod progress;
pub mod quota;
pub mod quota_scan;
pub mod realms;
pub mod registry;
pub mod runtime_config;
pub mod sessions;
pub mod settings;
pub mod setup;
mod table;
pub mod timefmt;
pub mod tokens;
pub mod user_edit;
pub mod user_flags;
pub mod user_object;
pub mod users;
pub mod validate;

pub use context::{Ctx, Shared};
pub use output::{CommandError, ErrorKind, Format, Output};
pub use registry::Registry;
pub use settings::Settings;
