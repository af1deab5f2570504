//! `loaddata`: applies a dump file (keyward's or SFTPGo's, see `records`) in ONE transaction
//! that also holds its audit row — any refused record leaves the database exactly as it was
//! (SFTPGo stops at the first failure and keeps what it restored; keyward does not). Mode 0 adds
//! new users, tokens and API keys and updates existing ones, 1 only adds, 2 is 0 and also ends
//! the sessions of every updated user. Plain-text passwords are hashed (Argon2id, behind the
//! hashing limit) before the transaction opens; stored hashes are kept as they are and upgraded
//! at the user's first login. Callers below superuser act only on principals below their own
//! rank (each record is checked) and cannot load API keys.

use std::collections::{HashMap, HashSet};

use clap::Parser;
use keyward_core::aead;
use keyward_core::user::{Role, Roles, username_key};
use keyward_proto::dump::DumpToken;
use keyward_proto::{StatusMessage, UserId};
use keyward_store::StoreError;
use keyward_store::api_keys::ApiKey;
use keyward_store::dump::{ApiKeyRow, UserExtras};
use keyward_store::tokens::Token;
use keyward_store::users::{NewUser, User};
use serde::Serialize;

use super::files;
use super::records::{Parsed, Password, UserRecord, parse};
use super::token_fields::with_shared_token_fields;
use crate::access::{Target, Targets, check_targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::progress::Progress;
use crate::tokens::token_ad;
use crate::user_object::{Profile, apply_input};

#[derive(Parser)]
pub(crate) struct LoadArgs {
    /// The dump file (local runs: any path; REST and remote: a file inside backups_path).
    file: Option<String>,
    /// 0: add new and update existing, 1: add new only, 2: as 0 and end updated users' sessions.
    #[arg(long, default_value_t = 0)]
    mode: u8,
    /// 0: no quota scan, 1: scan every loaded user, 2: only users with quota limits.
    #[arg(long = "scan-quota", default_value_t = 0)]
    scan_quota: u8,
    /// The dump itself as JSON text instead of FILE (what `POST /api/v1/loaddata` sends).
    #[arg(long = "dump-json", hide = true)]
    dump_json: Option<String>,
    /// No progress output (local runs show a bar on a terminal, plain lines otherwise).
    #[arg(short, long)]
    quiet: bool,
}

impl Targets for LoadArgs {
    fn targets(&self) -> Vec<Target> {
        let name = self.file.as_deref().unwrap_or("request body");
        vec![Target::Object(name.chars().take(200).collect())]
    }
}

/// What a load did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadSummary {
    /// `keyward` or `SFTPGo`: whose dump the file was.
    pub source: String,
    pub users_added: u64,
    pub users_updated: u64,
    pub users_skipped: u64,
    pub tokens_added: u64,
    pub tokens_updated: u64,
    pub tokens_skipped: u64,
    pub api_keys_added: u64,
    pub api_keys_updated: u64,
    pub api_keys_skipped: u64,
    pub policies_added: u64,
    pub policies_updated: u64,
    pub policies_skipped: u64,
    pub sessions_ended: u64,
    /// Quota scans run (local) or started (server) for loaded users (`--scan-quota`).
    pub quota_scans: usize,
    /// Sections of the file that were read but not loaded (`3 folders`).
    pub ignored: Vec<String>,
    pub resolvers_loaded: usize,
    pub realms_loaded: usize,
}

impl LoadSummary {
    fn text(&self) -> String {
        let mut s = format!(
            "{} dump: users {} added, {} updated, {} skipped; tokens {} added, {} updated, {} skipped; \
             API keys {} added, {} updated, {} skipped; policies {} added, {} updated, {} skipped; \
             {} sessions ended",
            self.source,
            self.users_added,
            self.users_updated,
            self.users_skipped,
            self.tokens_added,
            self.tokens_updated,
            self.tokens_skipped,
            self.api_keys_added,
            self.api_keys_updated,
            self.api_keys_skipped,
            self.policies_added,
            self.policies_updated,
            self.policies_skipped,
            self.sessions_ended
        );
        if self.resolvers_loaded + self.realms_loaded > 0 {
            s.push_str(&format!(
                "; resolvers {} and realms {} loaded",
                self.resolvers_loaded, self.realms_loaded
            ));
        }
        if !self.ignored.is_empty() {
            s.push_str(&format!("; ignored: {}", self.ignored.join(", ")));
        }
        s
    }
}

pub(crate) async fn loaddata(ctx: Ctx, a: LoadArgs) -> Result<Output, CommandError> {
    if a.mode > 2 {
        return Err(CommandError::Invalid(format!(
            "mode: must be 0 (add and update), 1 (add only) or 2 (update and end sessions), not {}",
            a.mode
        )));
    }
    if a.scan_quota > 2 {
        return Err(CommandError::Invalid(format!(
            "scan_quota: must be 0, 1 or 2, not {}",
            a.scan_quota
        )));
    }
    let text = match (&a.dump_json, &a.file) {
        (Some(text), None) => text.clone(),
        (None, Some(name)) => files::read_bounded(&files::resolve(&ctx, name, false)?)?,
        _ => {
            return Err(CommandError::Invalid(
                "give either FILE or the dump as the request body".into(),
            ));
        }
    };
    let min_len = ctx.settings().password_min_length as usize;
    let parsed = parse(&text, min_len)?;
    drop(text);
    authorize(&ctx, &parsed).await?;
    // Progress only where the operator watches: at the console.
    let quiet = a.quiet || !ctx.principal.is_local();
    let (mut summary, loaded) = apply(&ctx, parsed, a.mode, quiet).await?;
    if a.scan_quota > 0 {
        summary.quota_scans = crate::quota::scan_loaded_users(&ctx, loaded, a.scan_quota).await;
    }
    let text = format!("Data restored: {}", summary.text());
    let mut json = serde_json::to_value(StatusMessage::ok("Data restored")).unwrap_or_default();
    if let (Some(map), Ok(serde_json::Value::Object(counts))) =
        (json.as_object_mut(), serde_json::to_value(&summary))
    {
        map.extend(counts);
    }
    Ok(Output::new(text, json).with_audit(format!("mode {}; {}", a.mode, summary.text())))
}

/// The target rule, record by record, for callers below superuser.
async fn authorize(ctx: &Ctx, parsed: &Parsed) -> Result<(), CommandError> {
    if ctx.principal.is_superuser() {
        return Ok(());
    }
    if !parsed.api_keys.is_empty() {
        return Err(CommandError::Forbidden(
            "loaddata: only a superuser loads API keys".into(),
        ));
    }
    if !parsed.policies.is_empty() {
        return Err(CommandError::Forbidden(
            "loaddata: only a superuser loads policies".into(),
        ));
    }
    let mut targets = Vec::new();
    for u in &parsed.users {
        targets.push(Target::User(u.username.clone()));
        for r in u.input.roles.iter().flatten() {
            if let Ok(role) = r.parse::<Role>() {
                targets.push(Target::Role(role));
            }
        }
    }
    for (_, t) in &parsed.tokens {
        targets.push(Target::Token(t.serial.clone()));
        if !t.user.is_empty() {
            targets.push(Target::User(t.user.clone()));
        }
    }
    check_targets(ctx, &targets).await
}

/// The stored hash a record asks for (plain text hashed now, outside the transaction).
async fn record_hash(ctx: &Ctx, rec: &UserRecord) -> Result<Option<String>, CommandError> {
    Ok(match &rec.password {
        Password::Empty => None,
        Password::Hash(h) => Some(h.clone()),
        Password::Plain(p) => Some(
            ctx.shared
                .hashing
                .hash(p, ctx.settings().argon2_params())
                .await?,
        ),
    })
}

fn named(label: &str, e: CommandError) -> CommandError {
    match e {
        CommandError::Invalid(m) => CommandError::Invalid(format!("{label}: {m}")),
        CommandError::Conflict(m) => CommandError::Conflict(format!("{label}: {m}")),
        CommandError::NotFound(m) => CommandError::NotFound(format!("{label}: {m}")),
        other => other,
    }
}

fn store_err(label: &str, e: StoreError) -> CommandError {
    named(label, e.into())
}

/// Applies the records; the summary and the users added or updated.
async fn apply(
    ctx: &Ctx,
    parsed: Parsed,
    mode: u8,
    quiet: bool,
) -> Result<(LoadSummary, Vec<User>), CommandError> {
    let now = ctx.now();
    let mut summary = LoadSummary {
        source: parsed.kind.to_string(),
        ignored: parsed.ignored.clone(),
        ..Default::default()
    };
    // What the file names, read before the write transaction opens (no connection is held
    // meanwhile), in one consistent read of just those rows.
    let mut user_keys: Vec<String> = parsed
        .users
        .iter()
        .map(|r| username_key(&r.username))
        .chain(parsed.tokens.iter().map(|(_, t)| username_key(&t.user)))
        .chain(parsed.api_keys.iter().map(|(_, k)| username_key(&k.owner)))
        .filter(|k| !k.is_empty())
        .collect();
    user_keys.sort_unstable();
    user_keys.dedup();
    let serials: Vec<String> = parsed
        .tokens
        .iter()
        .map(|(_, t)| t.serial.clone())
        .collect();
    let key_ids: Vec<String> = parsed.api_keys.iter().map(|(_, k)| k.id.clone()).collect();
    let found = ctx
        .store()
        .dump_lookup(&user_keys, &serials, &key_ids)
        .await?;
    let mut users_now: HashMap<String, User> = found
        .users
        .into_iter()
        .map(|u| (username_key(&u.username), u))
        .collect();
    // Owners of tokens and keys: loaded by this file, or already in the database.
    let mut owners: HashMap<String, UserId> = users_now
        .iter()
        .map(|(k, u)| (k.clone(), u.id.clone()))
        .collect();
    let mut tokens_now: HashMap<String, Token> = found
        .tokens
        .into_iter()
        .map(|t| (t.serial.to_string(), t))
        .collect();
    let keys_now: HashSet<String> = found.api_key_ids.into_iter().collect();
    let sections =
        crate::realms::dump_sections::check_sections(ctx, parsed.realms, parsed.resolvers).await?;
    let policies_now: HashSet<String> = ctx
        .store()
        .list_policies()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let mut prepared = Vec::with_capacity(parsed.users.len());
    for rec in parsed.users {
        let existing = users_now.remove(&username_key(&rec.username));
        let hash = record_hash(ctx, &rec).await?;
        prepared.push((rec, existing, hash));
    }
    let mut tokens = Vec::with_capacity(parsed.tokens.len());
    for (label, t) in parsed.tokens {
        check_sealed(ctx, &label, &t).await?;
        let existing = tokens_now.remove(&t.serial);
        tokens.push((label, t, existing));
    }
    let keys: Vec<_> = parsed
        .api_keys
        .into_iter()
        .map(|(label, k)| {
            let exists = keys_now.contains(&k.id);
            (label, k, exists)
        })
        .collect();
    let mut loaded = Vec::new();
    let total = (prepared.len() + tokens.len() + keys.len()) as u64;
    let mut progress = Progress::start("loaddata", "records", total, quiet);
    let mut tx = ctx.begin_change().await?;
    for (rec, existing, hash) in prepared {
        progress.add(1);
        let label = rec.label.clone();
        let user = match existing {
            Some(_) if mode == 1 => {
                summary.users_skipped += 1;
                continue;
            }
            Some(mut user) => {
                apply_record(ctx, &mut user, &rec)
                    .await
                    .map_err(|e| named(&label, e))?;
                tx.update_user_record(&user, now)
                    .await
                    .map_err(|e| store_err(&label, e))?;
                if let Some(h) = hash.filter(|h| *h != user.password_hash) {
                    summary.sessions_ended += tx
                        .set_password(&user.id, &h, None, now)
                        .await
                        .map_err(|e| store_err(&label, e))?;
                }
                if mode == 2 {
                    summary.sessions_ended += tx
                        .delete_user_sessions(&user.id)
                        .await
                        .map_err(|e| store_err(&label, e))?;
                }
                summary.users_updated += 1;
                user
            }
            None => {
                let mut user = tx
                    .create_user(&NewUser {
                        username: &rec.username,
                        password_hash: "",
                        email: "",
                        now,
                        may_be_first: true,
                    })
                    .await
                    .map_err(|e| store_err(&label, e))?;
                // Exactly the roles the file gives (none for SFTPGo users): a load never makes
                // a superuser the file did not name. Set before the record is written, so the
                // first account of an empty installation is not counted as a superuser lost.
                user.roles = Roles::new(Vec::new());
                apply_record(ctx, &mut user, &rec)
                    .await
                    .map_err(|e| named(&label, e))?;
                let extras = UserExtras {
                    password_hash: hash.as_deref().unwrap_or_default(),
                    roles: &user.roles,
                    num: rec.num,
                    last_login: rec.last_login,
                };
                tx.restore_user_extras(&user.id, &extras)
                    .await
                    .map_err(|e| store_err(&label, e))?;
                tx.update_user_record(&user, now)
                    .await
                    .map_err(|e| store_err(&label, e))?;
                summary.users_added += 1;
                user
            }
        };
        owners.insert(username_key(&user.username), user.id.clone());
        loaded.push(user);
    }
    for (label, t, existing) in tokens {
        progress.add(1);
        if existing.is_some() && mode == 1 {
            summary.tokens_skipped += 1;
            continue;
        }
        let owner_id = owner_of(&owners, &label, &t.user)?.map(String::from);
        if let Some(old) = &existing {
            tx.delete_tokens(std::slice::from_ref(&old.id))
                .await
                .map_err(|e| store_err(&label, e))?;
        }
        tx.insert_token_row(&token_row(&t, owner_id))
            .await
            .map_err(|e| store_err(&label, e))?;
        if existing.is_some() {
            summary.tokens_updated += 1;
        } else {
            summary.tokens_added += 1;
        }
    }
    for (label, k, exists) in keys {
        progress.add(1);
        if exists && mode == 1 {
            summary.api_keys_skipped += 1;
            continue;
        }
        let owner_id = match k.owner.as_str() {
            "" => None,
            owner => owner_of(&owners, &label, owner)?,
        };
        let row = ApiKeyRow {
            key: ApiKey {
                id: k.id.clone().into(),
                role: k.role.clone(),
                username: k.username.clone().into(),
                realm: k.realm.clone(),
                description: k.description.clone(),
                created_at: k.created_at,
                expires_at: k.expires_at,
                revoked_at: k.revoked_at,
                owner_id,
            },
            key_hash: k.key_hash.to_ascii_lowercase(),
            owner_name: None,
        };
        tx.upsert_api_key_row(&row)
            .await
            .map_err(|e| store_err(&label, e))?;
        if exists {
            summary.api_keys_updated += 1;
        } else {
            summary.api_keys_added += 1;
        }
    }
    (summary.resolvers_loaded, summary.realms_loaded) =
        crate::realms::dump_sections::load_sections(ctx, &mut tx, &sections, &owners, mode == 1)
            .await?;
    for (label, p) in &parsed.policies {
        let exists = policies_now.contains(&p.name);
        if exists && mode == 1 {
            summary.policies_skipped += 1;
            continue;
        }
        tx.put_policy(p, exists, now)
            .await
            .map_err(|e| store_err(label, e))?;
        if exists {
            summary.policies_updated += 1;
        } else {
            summary.policies_added += 1;
        }
    }
    ctx.commit_change(tx, &format!("mode {mode}; {}", summary.text()))
        .await?;
    ctx.shared.policies.invalidate();
    progress.finish();
    Ok((summary, loaded))
}

/// Applies a record's fields (and the quota usage it reports) to a user record.
async fn apply_record(ctx: &Ctx, user: &mut User, rec: &UserRecord) -> Result<(), CommandError> {
    apply_input(ctx, user, &rec.input).await?;
    let (size, files, updated) = rec.used_quota;
    if size.is_some() || files.is_some() || updated.is_some() {
        let mut p = Profile::of(user);
        p.used_quota_size = size.unwrap_or(p.used_quota_size);
        p.used_quota_files = files.unwrap_or(p.used_quota_files);
        p.last_quota_update = updated.unwrap_or(p.last_quota_update);
        user.resource_profile = serde_json::to_value(&p)
            .map_err(|e| CommandError::Internal(format!("cannot store the user profile: {e}")))?;
    }
    Ok(())
}

/// The id of a token's or key's owner: loaded by this file, or already in the database.
fn owner_of(
    owners: &HashMap<String, UserId>,
    label: &str,
    name: &str,
) -> Result<Option<UserId>, CommandError> {
    if name.is_empty() {
        return Ok(None);
    }
    owners
        .get(&username_key(name))
        .cloned()
        .map(Some)
        .ok_or_else(|| {
            CommandError::NotFound(format!(
                "{label}: owner \"{name}\" is neither in the file nor a user"
            ))
        })
}

/// Refuses a token whose sealed seed does not open with this installation's enckey (a dump
/// from an installation with another key): loading it would leave a token that never validates.
async fn check_sealed(ctx: &Ctx, label: &str, t: &DumpToken) -> Result<(), CommandError> {
    if t.seed_sealed.is_empty() {
        return Ok(());
    }
    let key = ctx.shared.enckey().await?;
    aead::open(key, &t.seed_sealed, &token_ad(&t.id, "seed"))
        .map(|_| ())
        .map_err(|_| {
            CommandError::Invalid(format!(
                "{label}: its seed does not open with this installation's enckey (install the \
                 enckey of the dump's source first)"
            ))
        })
}

fn token_row(t: &DumpToken, owner_id: Option<String>) -> Token {
    with_shared_token_fields!(
        t,
        Token {
            serial: t.serial.clone().into(),
            owner_id: owner_id,
            owner_name: None,
        }
    )
}
