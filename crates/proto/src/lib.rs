//! keyward's wire types: what the server sends and receives over HTTP and what its clients
//! (`keyward manage --remote`, `keyward api`) read. Depends on nothing of keyward's, so a client
//! can use it without the server, the store or the commands.

pub mod dump;
pub mod error;
pub mod fileserver;
pub mod ids;
pub mod policy;
pub mod quota;
pub mod rest;
pub mod token;
pub mod user;
pub mod user_check;
pub mod user_flags;

pub use error::ErrorKind;
pub use fileserver::*;
pub use ids::{ApiKeyId, Serial, SessionId, UserId, Username};
pub use quota::*;
pub use rest::*;
pub use token::*;
pub use user::*;
