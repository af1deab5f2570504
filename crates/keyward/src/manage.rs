//! `keyward manage`: runs one registry command, locally on the database or — with `--remote URL`
//! — through the server's management endpoint, printing the same text either way. Errors are one
//! line on stderr and a non-zero exit code.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use keyward_commands::{Ctx, ErrorKind, Registry, Settings, Shared};

#[derive(Args)]
#[command(trailing_var_arg = true)]
pub struct ManageArgs {
    /// Send the command to a running server (its management endpoint); key from KEYWARD_ACCESS_KEY.
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
    /// The command and its arguments (`help` lists commands; `--json` for JSON output).
    #[arg(allow_hyphen_values = true, value_name = "COMMAND")]
    words: Vec<String>,
}

pub async fn run(settings: Settings, args: ManageArgs) -> ExitCode {
    let words = if args.words.is_empty() {
        vec!["help".to_string()]
    } else {
        args.words
    };
    match args.remote {
        Some(url) => run_remote(&url, &words).await,
        None => run_local(settings, &words).await,
    }
}

fn finish(text: &str, code: i32) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// One error line on stderr; the exit code is the kind's ([`ErrorKind::exit_code`]).
fn fail(message: &str, kind: ErrorKind) -> ExitCode {
    fail_with(message, kind.exit_code())
}

/// One error line on stderr and an exit code the server chose (from the kind, on its side).
fn fail_with(message: &str, code: i32) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

async fn run_local(settings: Settings, words: &[String]) -> ExitCode {
    let registry = Registry::standard();
    // Usage errors and help need no database.
    if registry.command_name(words).is_none() || words.first().map(String::as_str) == Some("help") {
        // An unknown command's message names its first word only: the rest may be a password.
        return match registry.run_help(words) {
            Ok(out) if words.first().map(String::as_str) == Some("help") => finish(&out.text, 0),
            Ok(_) => fail(
                "unknown command (see `keyward manage help`)",
                ErrorKind::Usage,
            ),
            Err(e) => fail(&e.to_string(), ErrorKind::Usage),
        };
    }
    let shared = match Shared::open(settings, "local".to_string()).await {
        Ok(s) => Arc::new(s),
        Err(e) => return fail(&e.to_string(), e.kind()),
    };
    let ctx = Ctx::console(shared.clone());
    let result = registry.run(&ctx, words).await;
    shared.store.close().await;
    match result {
        Ok(out) => finish(&out.text, 0),
        Err(e) => fail(&e.to_string(), e.kind()),
    }
}

async fn run_remote(url: &str, words: &[String]) -> ExitCode {
    let Ok(key) = std::env::var("KEYWARD_ACCESS_KEY") else {
        return fail(
            "--remote needs the management access key in KEYWARD_ACCESS_KEY",
            ErrorKind::Usage,
        );
    };
    let endpoint = format!("{}/server/management-command/", url.trim_end_matches('/'));
    let (name, rest) = match words.split_first() {
        Some((n, r)) => (n.clone(), r.to_vec()),
        None => return fail("no command given", ErrorKind::Usage),
    };
    let body = serde_json::json!({ "command_name": name, "command_args": rest });
    let client = reqwest::Client::new();
    let resp = match client
        .post(&endpoint)
        .header("Authorization", format!("Token {key}"))
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return fail(
                &format!("cannot reach {endpoint}: {e}"),
                ErrorKind::Unavailable,
            );
        }
    };
    let status = resp.status();
    let value: serde_json::Value = match resp.json().await {
        Ok(v) => v,
        Err(_) => {
            return fail(
                &format!("{endpoint} answered {status} without a JSON body"),
                ErrorKind::Internal,
            );
        }
    };
    if !status.is_success() {
        // The endpoint refused the request (key, allow-list, unknown command, size).
        let detail = value
            .get("detail")
            .and_then(|d| d.as_str())
            .map(String::from)
            .or_else(|| value.get("non_field_errors").map(|v| v.to_string()))
            .unwrap_or_else(|| value.to_string());
        return fail(
            &format!("{endpoint} answered {status}: {detail}"),
            ErrorKind::Forbidden,
        );
    }
    let output = value
        .get("output")
        .and_then(|o| o.as_str())
        .unwrap_or_default();
    let code = value.get("exit_code").and_then(|c| c.as_i64()).unwrap_or(0) as i32;
    if code == 0 {
        finish(output, 0)
    } else {
        fail_with(output.trim_end(), code)
    }
}
