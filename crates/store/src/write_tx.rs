//! An audited write transaction: [`WriteTx`] holds one database transaction in which a command
//! makes all its changes, and [`WriteTx::commit_audited`] appends the command's audit row in that
//! same transaction before committing — so a change and its audit entry are durable together or
//! not at all (a crash between them can no longer leave one without the other).
//!
//! Every write the commands make is written once, as a function over a connection that is
//! already in a transaction (in the table modules); [`write_ops!`] declares it both as a `Store`
//! method (its own transaction, committed at once) and as a `WriteTx` method (the caller's
//! transaction).

use keyward_proto::{ApiKeyId, SessionId, UserId, Username};
use sqlx::{Any, AnyConnection, Transaction};

use crate::api_keys::NewApiKey;
use crate::audit::{AuditAppend, SharedSigner};
use crate::tokens::{NewToken, TokenField};
use crate::users::{NewUser, User};
use crate::writer::HeadLog;
use crate::writer::batch_tx::BatchTx;
use crate::{Store, StoreError};

/// Attempts of an audit append that loses the (chain, seq) race to another writer of the same
/// chain (PostgreSQL: the group-commit writer, or another process, appended meanwhile).
const APPEND_ATTEMPTS: usize = 8;

/// A write transaction whose changes commit together with one audit row. Dropping it without
/// committing rolls everything back.
pub struct WriteTx {
    pub(crate) tx: Transaction<'static, Any>,
    heads: HeadLog,
    backend: crate::Backend,
}

impl Store {
    /// Begins an audited write transaction (on SQLite it takes the write lock at once, like
    /// [`Store::write_tx`]).
    pub async fn begin_change(&self) -> Result<WriteTx, StoreError> {
        Ok(WriteTx {
            tx: self.write_tx().await?,
            heads: self.audit_heads.clone(),
            backend: self.backend,
        })
    }
}

impl WriteTx {
    /// The engine this transaction runs on.
    pub fn backend(&self) -> crate::Backend {
        self.backend
    }

    /// Appends the audit row `a` to its chain inside this transaction, then commits the
    /// changes and the row together. The chain head is read from the database within the
    /// transaction; when a concurrent append took the same place (a unique violation on
    /// (chain, seq)), the append alone is rolled back to its savepoint and tried again on the
    /// new head. After the commit the chain's new head is noted for the signed head records.
    pub async fn commit_audited(mut self, a: AuditAppend) -> Result<(), StoreError> {
        let mut attempt = 0;
        let head = loop {
            attempt += 1;
            self.tx.exec("SAVEPOINT kw_audit", &[]).await?;
            match crate::audit::append_in(&mut self.tx, &a).await {
                Ok(head) => {
                    self.tx.exec("RELEASE SAVEPOINT kw_audit", &[]).await?;
                    break head;
                }
                Err(e) => {
                    self.tx.exec("ROLLBACK TO SAVEPOINT kw_audit", &[]).await?;
                    self.tx.exec("RELEASE SAVEPOINT kw_audit", &[]).await?;
                    if e.is_unique_violation() && attempt < APPEND_ATTEMPTS {
                        continue;
                    }
                    return Err(e);
                }
            }
        };
        self.tx.commit().await?;
        self.heads.note_head(&a.chain, head, a.signer.clone());
        Ok(())
    }

    /// Commits without an audit row: only for one step of a chunked change whose audit row
    /// commits with its last step (audit rotation, challenge cleanup).
    pub async fn commit_unaudited(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// The transaction's connection, for the table modules' writes.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Inserts one token and its realms; a taken serial is a conflict.
    pub async fn create_token(&mut self, new: &NewToken) -> Result<u64, StoreError> {
        crate::token_writes::create_tokens(&mut self.tx, std::slice::from_ref(new)).await
    }
}

/// Declares each write as a `Store` method (own transaction) and a `WriteTx` method.
macro_rules! write_ops {
    ($(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty = $path:path;
    )*) => {
        impl Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                    let mut tx = self.write_tx().await?;
                    let out = $path(&mut tx, $($arg),*).await?;
                    tx.commit().await?;
                    Ok(out)
                }
            )*
        }

        impl WriteTx {
            $(
                $(#[$doc])*
                pub async fn $name(&mut self, $($arg: $ty),*) -> Result<$ret, StoreError> {
                    let conn: &mut AnyConnection = &mut self.tx;
                    $path(conn, $($arg),*).await
                }
            )*
        }
    };
}

write_ops! {
    /// Inserts a user. The very first user of the installation becomes superuser (Deis rule):
    /// decided inside the same write transaction, so two concurrent first users cannot both win.
    fn create_user(new: &NewUser<'_>) -> User = crate::users::create_user;
    /// Deletes a user (sessions and API keys with it; its tokens lose their owner). Returns
    /// whether it existed.
    fn delete_user(username: &Username) -> bool = crate::users::delete_user;
    /// Sets the active flag; ending sessions when disabling. Returns whether the user exists.
    fn set_user_active(username: &Username, active: bool, now: i64) -> bool
        = crate::users::set_user_active;
    /// Marks a user's email as verified; false when no such user.
    fn set_email_verified(username: &Username, now: i64) -> bool = crate::users::set_email_verified;
    /// Replaces a user's roles (refused when no active superuser would remain).
    fn set_roles(user_id: &UserId, roles: &keyward_core::user::Roles, now: i64) -> ()
        = crate::users::set_roles;
    /// Disables exactly the given users and ends their sessions.
    fn disable_users(ids: &[UserId], now: i64) -> u64 = crate::users::disable_users;

    /// Writes every editable column of a user record (by its UUID); whether it exists.
    fn update_user_record(user: &User, now: i64) -> bool = crate::user_edit::update_user_record;

    /// Sets (or, with `add`, adds to) a user's used quota; `None` when no such user.
    fn set_quota_usage(user_id: &str, size: i64, files: i64, add: bool, now_ms: i64)
        -> Option<crate::quota::QuotaUsage> = crate::quota::set_quota_usage;

    /// Sets a password hash and ends the user's sessions but `keep`; how many ended.
    fn set_password(user_id: &UserId, hash: &str, keep: Option<&SessionId>, now: i64) -> u64
        = crate::user_edit::set_password;

    fn create_api_key(new: &NewApiKey<'_>) -> () = crate::api_keys::create_api_key;
    /// Revokes one key; false when no unrevoked key has that id.
    fn revoke_api_key(id: &ApiKeyId, now: i64) -> bool = crate::api_keys::revoke_api_key;
    /// Revokes every key made for the account `user_id`, or named after `username` without an
    /// account; returns how many.
    fn revoke_user_api_keys(user_id: &UserId, username: &Username, now: i64) -> u64
        = crate::api_keys::revoke_user_api_keys;

    fn delete_session(id: &SessionId) -> bool = crate::sessions::delete_session;
    /// Deletes expired sessions; returns how many.
    fn delete_expired_sessions(now: i64) -> u64 = crate::sessions::delete_expired_sessions;
    fn delete_user_sessions(user_id: &UserId) -> u64 = crate::sessions::delete_user_sessions;

    fn config_set(key: &str, value: &str, now: i64) -> () = crate::runtime_config::config_set;
    fn config_unset(key: &str) -> bool = crate::runtime_config::config_unset;

    /// Inserts a policy (or, with `replace`, overwrites the one of its name); a taken name
    /// without `replace` is a conflict.
    fn put_policy(policy: &keyward_core::policy::Policy, replace: bool, now: i64) -> ()
        = crate::policies::put_policy;
    /// Sets a policy's active flag; false when no such policy.
    fn set_policy_active(name: &str, active: bool, now: i64) -> bool
        = crate::policies::set_policy_active;
    /// Deletes a policy; false when no such policy.
    fn delete_policy(name: &str) -> bool = crate::policies::delete_policy;
    /// Deletes every policy (`config import --cleanup`); returns how many.
    fn delete_all_policies() -> u64 = crate::policies::delete_all_policies;

    /// Deletes up to `chunk` challenges created before `cutoff`; returns how many went.
    fn delete_challenges_chunk(cutoff: i64, chunk: i64) -> u64
        = crate::challenges::delete_challenges_chunk;
    /// Deletes the oldest rows of `chain` (at most `chunk`, none above `upto_seq`) and moves
    /// the chain's checkpoint (signed with `signer`) to the last deleted row, so the oldest kept
    /// row still verifies. Returns how many rows went (0 when none are left to delete).
    fn delete_audit_chunk(chain: &str, upto_seq: i64, chunk: i64, now: i64, signer: &SharedSigner)
        -> u64 = crate::audit::delete_audit_chunk;

    /// Inserts tokens and their realms: all or nothing. A serial taken in the database or
    /// repeated in `tokens` is a conflict naming it.
    fn create_tokens(tokens: &[NewToken]) -> u64 = crate::token_writes::create_tokens;
    /// Applies column updates to one token; false when no such token.
    fn update_token(id: &str, fields: &[TokenField], now: i64) -> bool
        = crate::token_writes::update_token;
    /// Applies the same column updates to several tokens (all or nothing).
    fn update_tokens(ids: &[String], fields: &[TokenField], now: i64) -> u64
        = crate::token_writes::update_tokens;
    /// Applies per-token column updates (`(id, fields)`, fields may differ between tokens):
    /// every token gets its update or none does.
    fn update_tokens_each(updates: &[(&str, &[TokenField])], now: i64) -> u64
        = crate::token_writes::update_tokens_each;
    /// Replaces a token's realms.
    fn set_token_realms(id: &str, realms: &[String]) -> () = crate::token_writes::set_token_realms;
    /// Deletes tokens by id (their challenges and realms go with them).
    fn delete_tokens(ids: &[String]) -> u64 = crate::token_writes::delete_tokens;
    /// Sets the counter to `counter` if it is not already beyond it (resync); false when the
    /// token moved on meanwhile.
    fn resync_counter(id: &str, counter: i64, time_shift: i64, now: i64) -> bool
        = crate::token_writes::resync_counter;

    /// Inserts a resolver; a taken name is a conflict.
    fn create_resolver(r: &crate::realms::ResolverRow) -> () = crate::realms::create_resolver;
    /// Deletes a resolver unless a realm lists it (its shadow users become internal).
    fn delete_resolver(name: &str) -> crate::realms::ResolverDelete
        = crate::realms::delete_resolver;
    /// Inserts a realm (a default one takes the default from the others).
    fn create_realm(r: &crate::realms::RealmRow) -> () = crate::realms::create_realm;
    fn delete_realm(name: &str) -> bool = crate::realms::delete_realm;
    /// Inserts or replaces a resolver (loaddata).
    fn put_resolver(r: &crate::realms::ResolverRow) -> () = crate::realms::put_resolver;
    /// Inserts or replaces a realm (loaddata).
    fn put_realm(r: &crate::realms::RealmRow) -> () = crate::realms::put_realm;
    /// Moves the default realm (`None`: none); false when no such realm.
    fn set_default_realm(name: Option<&str>) -> bool = crate::realms::set_default_realm;
    /// Records which resolver a local user was synchronised from.
    fn set_user_source(user_id: &UserId, resolver: &str, external_id: &str, now: i64) -> ()
        = crate::realms::set_user_source;
    /// Sets a user's email; whether the user exists.
    fn set_user_email(user_id: &UserId, email: &str, now: i64) -> bool
        = crate::realms::set_user_email;
}
