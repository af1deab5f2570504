//! Issue 7, items 1 and 2: the role rule as a matrix generated from the registry — every command
//! × every kind of principal × every target rank — on SQLite and PostgreSQL. For each command the
//! test fills its arguments from its own clap definition (target-naming arguments get the target
//! principal's username, token serial, session id or API key id) and compares the registry's
//! decision with the rule: the command's declared access, and for changing commands a target
//! ranked strictly below the caller (superusers act on anyone). A command whose `Targets` forgot
//! an argument shows up as an admin allowed to act on a superuser.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keyward_commands::access::{Principal, role_rank};
use keyward_commands::{Ctx, Registry, Settings, Shared};
use keyward_core::user::{Role, Roles};
use keyward_store::api_keys::NewApiKey;
use keyward_store::sessions::NewSession;
use keyward_store::tokens::NewToken;
use keyward_store::users::NewUser;
use keyward_store::{OpenOptions, Store};

/// The target ranks: a plain user (0) up to superuser (4).
const RANKS: [u8; 5] = [0, 1, 2, 3, 4];

fn role_of_rank(rank: u8) -> Option<Role> {
    Role::ALL.into_iter().find(|r| role_rank(*r) == rank)
}

fn roles(rank: u8) -> Roles {
    let mut r = Roles::default();
    if let Some(role) = role_of_rank(rank) {
        r.insert(role);
    }
    r
}

/// The principals a target of `rank` is reached by.
struct TargetOf {
    username: String,
    serial: String,
    session: String,
    api_key: String,
}

async fn seed(store: &Store) -> Vec<TargetOf> {
    // A superuser to spare: the matrix never leaves the installation without one.
    store
        .create_user(&NewUser {
            username: "root",
            password_hash: "x",
            email: "root@example.com",
            now: 1,
            may_be_first: true,
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    for rank in RANKS {
        let username = format!("target{rank}");
        let user = store
            .create_user(&NewUser {
                username: &username,
                password_hash: "x",
                email: "t@example.com",
                now: 1,
                may_be_first: true,
            })
            .await
            .unwrap();
        store.set_roles(&user.id, &roles(rank), 1).await.unwrap();
        let serial = format!("SER{rank}");
        store
            .create_token(&NewToken {
                id: format!("tok{rank}"),
                serial: serial.clone().into(),
                token_type: "hmac".into(),
                description: String::new(),
                owner_id: Some(user.id.to_string()),
                seed_sealed: String::new(),
                pin_hash: String::new(),
                otplen: 6,
                hashlib: "sha1".into(),
                counter: 0,
                time_step: 30,
                time_window: 180,
                time_shift: 0,
                info: Default::default(),
                realms: Vec::new(),
                now: 1,
            })
            .await
            .unwrap();
        let session = store
            .create_session(&NewSession {
                user_id: &user.id,
                token: &format!("session-token-{rank}"),
                protocol: "http",
                remote_addr: "",
                user_agent: "",
                now: 1,
                expires_at: i64::MAX / 2,
            })
            .await
            .unwrap();
        let api_key = format!("key{rank}");
        store
            .create_api_key(&NewApiKey {
                id: &api_key,
                secret: &format!("kw_key{rank}_secret"),
                role: "validate",
                username: &username,
                realm: "",
                description: "",
                now: 1,
                expires_at: i64::MAX / 2,
                owner_id: Some(&user.id),
            })
            .await
            .unwrap();
        out.push(TargetOf {
            username,
            serial,
            session,
            api_key,
        });
    }
    out
}

/// Arguments for `command` aimed at `target`: target-naming arguments get the target, other
/// required ones a value that parses. Returns the words and whether a target was named.
fn words_for(command: &str, clap: &clap::Command, target: &TargetOf) -> (Vec<String>, bool) {
    let mut words: Vec<String> = command.split(' ').map(String::from).collect();
    let mut named = false;
    let mut positionals = Vec::new();
    for arg in clap.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        let value = match id {
            "username" | "user" => Some(target.username.clone()),
            "serial" | "from" | "to" | "tokens" => Some(target.serial.clone()),
            "id" if command.starts_with("api") => Some(target.api_key.clone()),
            "id" => Some(target.session.clone()),
            _ => None,
        };
        let value = match value {
            Some(v) => {
                named = true;
                v
            }
            None if arg.is_required_set() => match id {
                "role" if command.starts_with("api") => "validate".into(),
                "role" => "auditor".into(),
                "key" => "registration_enabled".into(),
                "value" => "true".into(),
                "file" | "enckey_file" => "/nonexistent".into(),
                _ => "1".into(),
            },
            None => continue,
        };
        if arg.is_positional() {
            positionals.push((arg.get_index().unwrap_or(0), value));
        } else if let Some(long) = arg.get_long() {
            words.push(format!("--{long}={value}"));
        } else if let Some(short) = arg.get_short() {
            words.push(format!("-{short}"));
            words.push(value);
        }
    }
    positionals.sort();
    words.extend(positionals.into_iter().map(|(_, v)| v));
    (words, named)
}

fn principals() -> Vec<(String, Principal)> {
    let mut all = vec![
        ("console".to_string(), Principal::Console),
        ("management key".to_string(), Principal::ManagementKey),
        ("anonymous".to_string(), Principal::Anonymous),
    ];
    for rank in RANKS {
        all.push((
            format!("account of rank {rank}"),
            Principal::Account {
                username: format!("actor{rank}").into(),
                roles: roles(rank),
                session: None,
            },
        ));
    }
    all
}

/// The rule, written independently of the registry's code.
fn expected(
    spec: &keyward_commands::registry::CommandSpec,
    principal: &Principal,
    target_rank: Option<u8>,
    role_arg: bool,
) -> bool {
    if !spec.access.allows(principal) {
        return false;
    }
    if !spec.mutates || principal.is_superuser() {
        return true;
    }
    let own = principal.rank().unwrap_or(0);
    let mut ranks: Vec<u8> = target_rank.into_iter().collect();
    if role_arg {
        ranks.push(role_rank(Role::Auditor));
    }
    ranks.iter().all(|r| *r < own)
}

async fn run_matrix(store: Store) {
    let targets = seed(&store).await;
    let shared = Arc::new(Shared::with_store(
        store,
        Settings::default(),
        "matrix".into(),
    ));
    let registry = Registry::standard();
    let mut checked = 0;
    let mut failures = Vec::new();
    for spec in registry.iter() {
        let mut clap = (spec.clap)();
        clap.build(); // assigns the positional indexes
        let role_arg = clap.get_arguments().any(|a| a.get_id() == "role")
            && matches!(spec.name, "promoteuser" | "demoteuser");
        for (rank, target) in RANKS.iter().zip(&targets) {
            let (words, named) = words_for(spec.name, &clap, target);
            for (who, principal) in principals() {
                let ctx = Ctx::new(shared.clone(), "matrix", "").with_principal(principal.clone());
                let decision = registry.authorize(&ctx, &words).await;
                if let Err(keyward_commands::CommandError::Usage(m)) = &decision {
                    panic!("{}: the generated arguments do not parse: {m}", spec.name);
                }
                let allowed = decision.is_ok();
                let want = expected(spec, &principal, named.then_some(*rank), role_arg);
                checked += 1;
                if allowed != want {
                    failures.push(format!(
                        "{} by {who} on a rank-{rank} target: registry {} but the rule says {}",
                        spec.name,
                        if allowed { "allows" } else { "refuses" },
                        if want { "allow" } else { "refuse" },
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 1000, "only {checked} cases");
}

#[tokio::test]
async fn item1_item2_role_matrix_from_the_registry_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let store = Store::open(&url, &OpenOptions::default()).await.unwrap();
    run_matrix(store).await;
}

#[tokio::test]
async fn item1_item2_role_matrix_from_the_registry_postgres() {
    if !keyward_testdb::postgres_or_skip("authorization matrix") {
        return;
    }
    let db = keyward_testdb::PgDatabase::create("kw_matrix")
        .await
        .unwrap();
    let store = Store::open(db.url(), &OpenOptions::default())
        .await
        .unwrap();
    run_matrix(store.clone()).await;
    store.close().await;
    db.drop_now().await.unwrap();
}
