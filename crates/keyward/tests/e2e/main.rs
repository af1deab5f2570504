//! End-to-end tests: one test binary (one link) driving the real `keyward` binary against real
//! databases — a temporary SQLite file and a throwaway PostgreSQL database per test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The tests drive a real process: they compare its answers with the real wall clock.
#![allow(clippy::disallowed_methods)]

mod api_client;
mod api_client_errors;
mod api_client_tokens;
mod cli_help;
mod connection_checks;
mod delivery;
#[allow(dead_code)]
mod delivery_peers;
mod delivery_tls;
mod dump_import;
mod dump_load;
mod fileserver;
mod hardening_audit;
mod hardening_small;
mod hardening_tx;
#[allow(dead_code)]
mod harness;
mod ldap_peer;
mod linotp_admin_client;
mod login_challenge;
mod manage_backup;
mod manage_setup;
mod manage_tokens;
mod manage_user_flags;
mod manage_users;
mod oath;
mod policies;
mod policies_user;
mod readme_tour;
mod realms_adopt;
mod realms_ldap;
mod realms_ldap_tls;
mod server_admin;
mod server_api_keys;
mod server_audit;
mod server_authorization;
mod server_client;
mod server_import;
mod server_limits;
mod server_management;
mod server_ocra;
mod server_quota;
mod server_sessions;
mod server_status;
mod server_throttles;
mod server_tokens_rest;
mod server_tracing;
mod server_users_rest;
mod server_validate;
mod sftpgo_api_cli;
mod test_pki;
