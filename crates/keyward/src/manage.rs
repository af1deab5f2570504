//! `keyward manage`: runs one registry command, locally on the database or — with `--remote URL`
//! — through the server's management endpoint, printing the same text either way. Errors are one
//! line on stderr and a non-zero exit code. `--remote` shares `keyward api`'s HTTP client (TLS
//! options, connection failures in plain words).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use keyward_commands::{Ctx, Registry, Settings, Shared};

use crate::http_client::{self, TlsArgs};

#[derive(Args)]
#[command(trailing_var_arg = true)]
pub struct ManageArgs {
    /// Send the command to a running server (its management endpoint); key from KEYWARD_ACCESS_KEY.
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
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
        Some(url) => run_remote(&url, &args.tls, &words).await,
        None => run_local(settings, &words).await,
    }
}

/// Header the server adds to its 403 when the management endpoint is disabled (mirrors
/// `keyward_server`'s constant; the body stays Psono's `{"detail": "Invalid access key"}`).
const MANAGEMENT_OFF_HEADER: &str = "keyward-management-endpoint";

fn finish(text: &str, code: i32) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn fail(message: &str, code: i32) -> ExitCode {
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
            Ok(_) => fail("unknown command (see `keyward manage help`)", 2),
            Err(e) => fail(&e.to_string(), 2),
        };
    }
    let shared = match Shared::open(settings, "local".to_string()).await {
        Ok(s) => Arc::new(s),
        Err(e) => return fail(&e.to_string(), e.exit_code()),
    };
    let ctx = Ctx::console(shared.clone());
    let result = registry.run(&ctx, words).await;
    shared.store.close().await;
    match result {
        Ok(out) => finish(&out.text, 0),
        Err(e) => fail(&e.to_string(), e.exit_code()),
    }
}

async fn run_remote(url: &str, tls: &TlsArgs, words: &[String]) -> ExitCode {
    let Ok(key) = std::env::var("KEYWARD_ACCESS_KEY") else {
        return fail(
            "--remote needs the management access key in KEYWARD_ACCESS_KEY",
            2,
        );
    };
    if let Err(e) = http_client::parse_base_url(url, "--remote") {
        return fail(&e, 2);
    }
    let endpoint = format!("{}/server/management-command/", url.trim_end_matches('/'));
    let (name, rest) = match words.split_first() {
        Some((n, r)) => (n.clone(), r.to_vec()),
        None => return fail("no command given", 2),
    };
    let body = serde_json::json!({ "command_name": name, "command_args": rest });
    let client = match http_client::build(tls) {
        Ok(c) => c,
        Err(e) => return fail(&e, 2),
    };
    let resp = match client
        .post(&endpoint)
        .header("Authorization", format!("Token {key}"))
        .json(&body)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return fail(&http_client::explain(&e, &endpoint), 1),
    };
    let status = resp.status();
    if resp.headers().contains_key(MANAGEMENT_OFF_HEADER) {
        return fail(
            &format!(
                "the management endpoint is off on {url} (the server has no management_command_access_key)"
            ),
            1,
        );
    }
    let value: serde_json::Value = match resp.json().await {
        Ok(v) => v,
        Err(_) => {
            return fail(
                &format!("{endpoint} answered {status} without a JSON body"),
                1,
            );
        }
    };
    if !status.is_success() {
        let detail = value
            .get("detail")
            .and_then(|d| d.as_str())
            .map(String::from)
            .or_else(|| value.get("non_field_errors").map(|v| v.to_string()))
            .unwrap_or_else(|| value.to_string());
        return fail(&format!("{endpoint} answered {status}: {detail}"), 1);
    }
    let output = value
        .get("output")
        .and_then(|o| o.as_str())
        .unwrap_or_default();
    let code = value.get("exit_code").and_then(|c| c.as_i64()).unwrap_or(0) as i32;
    if code == 0 {
        finish(output, 0)
    } else {
        fail(output.trim_end(), code)
    }
}
