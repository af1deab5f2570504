//! `keyward manage`: runs one registry command, locally on the database or — with `--remote URL`
//! — through the server's management endpoint, printing the same text either way. Help, group
//! help and "did you mean" come from the registry's command tree before anything is opened;
//! secrets left out are prompted for or read from stdin (`secrets`). Errors are one line on
//! stderr and a non-zero exit code, and so is a command that ran but failed (`Output::failed`).
//! `--remote` shares `keyward api`'s HTTP client (TLS options, connection failures in words).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use keyward_commands::registry::{Preflight, TERMINAL_WIDTH_FLAG};
use keyward_commands::{Ctx, Registry, Settings, Shared};

use keyward_proto::MANAGEMENT_OFF_HEADER;

use crate::http_client::{self, TlsArgs};

#[derive(Args)]
#[command(
    trailing_var_arg = true,
    disable_help_flag = true,
    after_help = "Run `keyward manage help` for the list of commands."
)]
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

pub async fn run(config: Option<&Path>, args: ManageArgs) -> ExitCode {
    let registry = Registry::standard();
    // Help, groups and mistakes need neither the database nor the network.
    let spec = match registry.preflight(&args.words) {
        Ok(Preflight::Help(out)) => return finish(&out.text, 0),
        Ok(Preflight::Run(spec)) => spec,
        Err(e) => return fail(&e.to_string(), e.exit_code()),
    };
    let mut words = args.words;
    let name_len = spec.name.split(' ').count();
    let start = words
        .windows(name_len)
        .position(|w| w.join(" ") == spec.name)
        .unwrap_or(0);
    let rest = words.split_off((start + name_len).min(words.len()));
    match crate::secrets::fill(spec, rest) {
        Ok(rest) => words.extend(rest),
        Err(e) => return fail(&e, 2),
    }
    if spec.lists
        && let Some(width) = terminal_width()
    {
        words.insert(0, format!("{TERMINAL_WIDTH_FLAG}{width}"));
    }
    match args.remote {
        Some(url) => run_remote(&url, &args.tls, &words).await,
        None => run_local(&registry, config, &words).await,
    }
}

/// The width of the terminal on stdout, if it is one (`COLUMNS` wins).
fn terminal_width() -> Option<u16> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(n);
    }
    #[cfg(unix)]
    {
        let mut size = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass; nothing else.
        let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
        if ok && size.ws_col > 0 {
            return Some(size.ws_col);
        }
    }
    None
}

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

async fn run_local(registry: &Registry, config: Option<&Path>, words: &[String]) -> ExitCode {
    let settings = match Settings::load(config, std::env::vars()) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string(), 1),
    };
    let shared = match Shared::open(settings, "local".to_string()).await {
        Ok(s) => Arc::new(s),
        Err(e) => return fail(&e.to_string(), e.exit_code()),
    };
    let ctx = Ctx::console(shared.clone());
    let result = registry.run(&ctx, words).await;
    shared.store.close().await;
    match result {
        Ok(out) if out.failed => fail(out.text.trim_end(), 1),
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
