//! Red-team findings against issue 7's authorization model: cases where a changing command's
//! handler resolves a principal that its `Targets` did not name (so the target rule checked
//! nothing, or something else), run in-process through the registry exactly as the transports
//! run them: named parameters (`/admin/*`) and command-line words (`keyward manage`, the
//! management endpoint). Each test names the bypass it proves closed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keyward_commands::access::Principal;
use keyward_commands::{CommandError, Ctx, Registry, Settings, Shared};
use keyward_core::user::{Role, Roles};
use keyward_store::{OpenOptions, Store};
use serde_json::{Map, Value, json};

const KEY: &str = "3132333435363738393031323334353637383930";

struct Env {
    _dir: tempfile::TempDir,
    shared: Arc<Shared>,
    store: Store,
    registry: Registry,
}

fn words(line: &[&str]) -> Vec<String> {
    line.iter().map(|w| w.to_string()).collect()
}

/// root (the first user: superuser) owns token ROOT1, alice (a plain user) owns ALICE1 and
/// ALICE2, hd is helpdesk.
async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let store = Store::open(&url, &OpenOptions::default()).await.unwrap();
    let settings = Settings {
        data_dir: dir.path().join("data").display().to_string(),
        ..Settings::default()
    };
    let shared = Arc::new(Shared::with_store(store.clone(), settings, "t".into()));
    let registry = Registry::standard();
    let console = Ctx::console(shared.clone());
    let setup: [&[&str]; 9] = [
        &["createuser", "root", "rootpassword1", "root@example.com"],
        &["createuser", "alice", "alicepassword1", "alice@example.com"],
        &["createuser", "hd", "hdpassword1", "hd@example.com"],
        &["promoteuser", "hd", "helpdesk"],
        &[
            "token", "init", "--serial", "ROOT1", "--otpkey", KEY, "--user", "root", "--pin",
            "rootpin",
        ],
        &[
            "token", "init", "--serial", "ALICE1", "--otpkey", KEY, "--user", "alice",
        ],
        &[
            "token", "init", "--serial", "ALICE2", "--otpkey", KEY, "--user", "alice",
        ],
        &["token", "init", "--serial", "FREE1", "--otpkey", KEY],
        &[
            "token", "init", "--type", "totp", "--serial", "ROOTT", "--otpkey", KEY, "--user",
            "root",
        ],
    ];
    for line in setup {
        registry.run(&console, &words(line)).await.unwrap();
    }
    Env {
        _dir: dir,
        shared,
        store,
        registry,
    }
}

impl Env {
    fn as_role(&self, role: Role) -> Ctx {
        self.as_named("hd", role)
    }

    /// An account with `role` acting as `user:NAME` (per-caller limits are keyed by the actor).
    fn as_named(&self, name: &str, role: Role) -> Ctx {
        let mut roles = Roles::default();
        roles.insert(role);
        Ctx::new(self.shared.clone(), format!("user:{name}"), "").with_principal(
            Principal::Account {
                username: name.into(),
                roles,
                session: None,
            },
        )
    }

    async fn params(&self, ctx: &Ctx, command: &str, params: Value) -> Result<Value, CommandError> {
        let map: Map<String, Value> = match params {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        self.registry
            .run_params(ctx, command, map)
            .await
            .map(|o| o.json)
    }

    /// (owner, active, pin hash) of a token.
    async fn token(&self, serial: &str) -> Option<(String, bool, String)> {
        let t = self.store.token_by_serial(serial).await.unwrap()?;
        Some((t.owner_name.unwrap_or_default(), t.active, t.pin_hash))
    }

    async fn root_token_untouched(&self, pin_hash: &str) -> Vec<String> {
        let mut wrong = Vec::new();
        match self.token("ROOT1").await {
            Some((owner, active, pin)) => {
                if owner != "root" {
                    wrong.push(format!("ROOT1 now belongs to {owner:?}"));
                }
                if !active {
                    wrong.push("ROOT1 was disabled".into());
                }
                if pin != pin_hash {
                    wrong.push("ROOT1's PIN changed".into());
                }
            }
            None => wrong.push("ROOT1 was removed".into()),
        }
        for planted in ["lostROOT1", "EVIL1", "EVIL2"] {
            if self.token(planted).await.is_some() {
                wrong.push(format!("a token {planted} exists"));
            }
        }
        wrong
    }
}

fn refused(what: &str, r: Result<Value, CommandError>, failures: &mut Vec<String>) {
    match r {
        Err(CommandError::Forbidden(_)) => {}
        other => failures.push(format!("{what}: not refused: {other:?}")),
    }
}

/// A serial with a space before or after it: the target rule looked up `"ROOT1 "` (no such
/// token, so nothing to check), the handler trimmed it and acted on the superuser's `ROOT1` —
/// the reproduction of issue 7 item 1 again (`losttoken` hands the helpdesk a password for the
/// superuser), through `/admin/*` and through command-line words alike.
#[tokio::test]
async fn redteam_padded_serial_bypasses_the_target_rule() {
    let env = env().await;
    let hd = env.as_role(Role::Helpdesk);
    let pin_before = env.token("ROOT1").await.unwrap().2;
    let mut failures = Vec::new();
    let cases: Vec<(&str, Value)> = vec![
        ("token losttoken", json!({"serial": "ROOT1 "})),
        ("token setpin", json!({"serial": " ROOT1", "userpin": "1"})),
        ("token set", json!({"serial": "ROOT1\t", "pin": "9999"})),
        ("token copypin", json!({"from": "ALICE1", "to": " ROOT1"})),
        ("token copyuser", json!({"from": " ROOT1", "to": "FREE1"})),
        (
            "token setvalidity",
            json!({"tokens[]": ["ALICE1", " ROOT1"], "countAuthMax": "1"}),
        ),
        (
            "token tokenrealm",
            json!({"serial": "ROOT1 ", "realms": "x"}),
        ),
        (
            "token resync",
            json!({"serial": "ROOT1 ", "otp1": "755224", "otp2": "287082"}),
        ),
        ("token reset", json!({"serial": "ROOT1 "})),
        ("token disable", json!({"serial": "ROOT1 "})),
        ("token unassign", json!({"serial": "ROOT1 "})),
        ("token remove", json!({"serial": "ROOT1 "})),
    ];
    for (command, params) in cases {
        let what = format!("{command} {params}");
        refused(&what, env.params(&hd, command, params).await, &mut failures);
    }
    // The same through command-line words (`keyward manage --remote`, the management endpoint
    // with a helpdesk's rights would be the same code).
    for line in [
        &["token", "losttoken", " ROOT1"][..],
        &["token", "disable", "ROOT1 "][..],
        &[
            "token",
            "setvalidity",
            "--tokens",
            " ROOT1",
            "--count-auth-max",
            "1",
        ][..],
    ] {
        let r = env.registry.run(&hd, &words(line)).await.map(|o| o.json);
        refused(&line.join(" "), r, &mut failures);
    }
    failures.extend(env.root_token_untouched(&pin_before).await);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `token init user=root realm=" "`: the target rule asked about `root@ ` (an unknown realm,
/// whose error it swallows, so nothing to check), the handler ignored the blank realm and
/// enrolled a token the helpdesk knows (seed and PIN) for the superuser.
#[tokio::test]
async fn redteam_blank_realm_plants_a_token_for_a_superuser() {
    let env = env().await;
    let hd = env.as_role(Role::Helpdesk);
    let pin_before = env.token("ROOT1").await.unwrap().2;
    let mut failures = Vec::new();
    for realm in [" ", "\t"] {
        let r = env
            .params(
                &hd,
                "token init",
                json!({"serial": "EVIL1", "user": "root", "realm": realm,
                       "otpkey": KEY, "pin": "1234"}),
            )
            .await;
        refused(&format!("init realm {realm:?}"), r, &mut failures);
    }
    let r = env
        .registry
        .run(
            &hd,
            &words(&[
                "token", "init", "--serial", "EVIL2", "--user", "root", "--realm", " ", "--otpkey",
                KEY, "--pin", "1234",
            ]),
        )
        .await
        .map(|o| o.json);
    refused("init --realm ' '", r, &mut failures);
    failures.extend(env.root_token_untouched(&pin_before).await);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `token totp_lookup serial=S otp=N window=31d` tells whether N was the TOTP of S at any step of
/// the last 31 days (~89,000 steps) — an OTP search on one chosen token, e.g. a superuser's. Issue
/// 7 item 12 throttles `getSerialByOtp` per caller; `totp_lookup` was left unlimited (an admin
/// ran hundreds of lookups against the superuser's token without a single refusal).
#[tokio::test]
async fn redteam_totp_lookup_is_an_unthrottled_otp_search() {
    let env = env().await;
    let admin = env.as_named("redteam-totp-admin", Role::Admin);
    let mut throttled = 0;
    for guess in 0..60u32 {
        let r = env
            .params(
                &admin,
                "token totp_lookup",
                json!({"serial": "ROOTT", "otp": format!("{guess:06}"), "window": "31d"}),
            )
            .await;
        match r {
            Ok(_) => {}
            Err(CommandError::Throttled { .. }) => throttled += 1,
            Err(e) => panic!("lookup {guess}: {e:?}"),
        }
    }
    assert!(
        throttled > 0,
        "60 TOTP lookups on a superuser's token by one admin, none throttled"
    );
}
