//! Issue 7, item 16: secrets never reach the audit log or an error message. Every command of the
//! registry runs with a marker in each of its secret arguments (passwords, PINs, keys, OTPs) —
//! arguments filled from the command's own clap definition, so a new command is covered without
//! editing this test — and then the whole audit log and every error are searched for the marker.
//! A mistyped command name with a password after it is run too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use keyward_commands::{Ctx, Registry, Settings, Shared};
use keyward_store::{OpenOptions, Store};

const MARKER: &str = "Zq7SECRET7731";

/// Argument names that hold secrets.
fn is_secret(id: &str) -> bool {
    [
        "password",
        "pin",
        "userpin",
        "sopin",
        "otpkey",
        "pass",
        "otp",
        "otp1",
        "otp2",
        "pskc_password",
        "pskc_preshared",
        "enckey_b64",
        "secret",
        "current_password",
        "new_password",
        "s3_access_secret",
        "gcs_credentials",
    ]
    .contains(&id)
}

/// A plausible value for a non-secret argument.
fn plain_value(id: &str) -> &'static str {
    match id {
        "username" | "user" | "to" | "from" => "alice",
        "serial" | "tokens" => "S1",
        "role" => "auditor",
        "key" => "registration_enabled",
        "value" => "true",
        "email" => "alice@example.com",
        "file" | "file_path" => "/nonexistent/keyward-test",
        _ => "1",
    }
}

/// Words for `command` with every secret argument set to a marker variant. The variants are
/// plain, and leading with a dash (a password like `-x` must not be taken for an option).
fn words_for(command: &str, clap: &clap::Command, dash: bool) -> Option<Vec<String>> {
    let mut words: Vec<String> = command.split(' ').map(String::from).collect();
    let mut positionals = Vec::new();
    let mut any_secret = false;
    for arg in clap.get_arguments() {
        let id = arg.get_id().as_str();
        if matches!(id, "help" | "version") {
            continue;
        }
        let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
        let value = if is_secret(id) && takes_value {
            any_secret = true;
            if dash {
                format!("-{MARKER}")
            } else {
                MARKER.to_string()
            }
        } else if arg.is_required_set() || (arg.is_positional() && takes_value) {
            plain_value(id).to_string()
        } else {
            continue;
        };
        if arg.is_positional() {
            positionals.push((arg.get_index().unwrap_or(0), value));
        } else if let Some(long) = arg.get_long() {
            words.push(format!("--{long}={value}"));
        }
    }
    positionals.sort();
    words.extend(positionals.into_iter().map(|(_, v)| v));
    any_secret.then_some(words)
}

#[tokio::test]
async fn item16_no_command_puts_a_secret_in_the_audit_log_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let store = Store::open(&url, &OpenOptions::default()).await.unwrap();
    let settings = Settings {
        data_dir: dir.path().join("data").display().to_string(),
        ..Settings::default()
    };
    let shared = Arc::new(Shared::with_store(store.clone(), settings, "t".into()));
    let registry = Registry::standard();
    let ctx = Ctx::console(shared.clone());
    let setup = [
        "createuser root rootpassword1 root@example.com",
        "createuser alice alicepassword1 alice@example.com",
        "token init --type hotp --serial S1 --otpkey 3132333435363738393031323334353637383930",
    ];
    for line in setup {
        let words: Vec<String> = line.split(' ').map(String::from).collect();
        registry.run(&ctx, &words).await.unwrap();
    }
    let mut runs = 0;
    let mut leaks = Vec::new();
    for spec in registry.iter() {
        let mut clap = (spec.clap)();
        clap.build(); // assigns the positional indexes
        for dash in [false, true] {
            let Some(words) = words_for(spec.name, &clap, dash) else {
                continue;
            };
            runs += 1;
            if let Err(e) = registry.run(&ctx, &words).await
                && e.to_string().contains(MARKER)
            {
                leaks.push(format!("{}: error {e}", spec.name));
            }
        }
    }
    for typo in [
        format!("createusr bob {MARKER} bob@example.com"),
        format!("token asign --pin {MARKER} S1 alice"),
    ] {
        let words: Vec<String> = typo.split(' ').map(String::from).collect();
        let e = registry.run(&ctx, &words).await.unwrap_err();
        assert!(!e.to_string().contains(MARKER), "{e}");
    }
    assert!(runs >= 10, "only {runs} commands take secrets?");
    let rows = store.list_audit(i64::MIN, None, 100_000).await.unwrap();
    for audited in ["createuser", "token assign", "token setpin", "token init"] {
        assert!(
            rows.iter().any(|r| r.event.action == audited),
            "no audit row for {audited}"
        );
    }
    for r in &rows {
        let e = &r.event;
        let text = format!(
            "{} {} {} {} {}",
            e.actor, e.action, e.target, e.client, e.details
        );
        if text.contains(MARKER) {
            leaks.push(format!("audit row: {text}"));
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}
