//! keyward domain logic: users and roles, the secret-handling crypto (AEAD under the enckey,
//! password hashing and imported crypt formats), OTP math, the policy model and Duo request signing. Nothing here does network or
//! database IO, so every rule can be unit-tested in isolation.

pub mod aead;
pub mod duo;
pub mod enckey;
pub mod otp;
pub mod password;
pub mod policy;
pub mod random;
pub mod user;
pub mod username;
