//! `keyward api`: a client of the REST API `/api/v1`, a subcommand per call, with the flags of
//! SFTPGo's `sftpgo_api_cli.py` (seed 004) so its command lines run with `keyward api` in their
//! place. Flags are checked before anything is sent (exit 2 naming the flag); HTTP errors exit
//! 1 with the server's message on stderr; answers print as JSON with sorted keys.

mod auth;
mod flags;
mod output;
mod tokens;
mod user;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

use crate::http_client::{self, TlsArgs};
use auth::Credentials;

#[derive(Args)]
#[command(
    about = "Call the REST API /api/v1 of a running server (SFTPGo's sftpgo_api_cli.py commands)",
    after_help = "Example:\n  keyward api -b https://auth.example.com -u admin get-users --limit 10 --order DESC"
)]
pub struct ApiArgs {
    /// Print each request and response on stderr (passwords, tokens and the Authorization
    /// header masked).
    #[arg(short = 'd', long, global = true)]
    debug: bool,
    /// Base URL of the server.
    #[arg(
        short = 'b',
        long,
        default_value = "http://127.0.0.1:8080",
        value_name = "URL",
        global = true
    )]
    base_url: String,
    /// basic (an admin account, -u/-p) or bearer (a session token or admin API key in -p or
    /// KEYWARD_API_TOKEN). Default: bearer when KEYWARD_API_TOKEN is set, basic with -u.
    #[arg(short = 'a', long, value_parser = ["basic", "bearer"], global = true)]
    auth_type: Option<String>,
    /// User for HTTP Basic authentication.
    #[arg(short = 'u', long, value_name = "USER", global = true)]
    auth_user: Option<String>,
    /// Password (basic) or token (bearer); prompted for without echo on a terminal when left out.
    #[arg(short = 'p', long, value_name = "SECRET", global = true)]
    auth_password: Option<String>,
    /// Colour the JSON (default: only on a terminal, and not with NO_COLOR).
    #[arg(short = 'c', long, global = true, conflicts_with = "no_color")]
    color: bool,
    /// Never colour the JSON.
    #[arg(short = 't', long, global = true)]
    no_color: bool,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(subcommand)]
    command: ApiCommand,
}

#[derive(Subcommand)]
enum ApiCommand {
    /// Add a user (POST /api/v1/user); prints the new user.
    #[command(
        after_help = "Example:\n  keyward api add-user test_username --password \"test_pwd\" --home-dir=/tmp/test_home_dir --permissions list download --subdirs-permissions \"/dir1::list,download\" --allowed-ip 192.168.1.1/32"
    )]
    AddUser(Box<user::UserFlags>),
    /// Replace a user's settings (PUT /api/v1/user/ID); every flag not given takes its default.
    #[command(
        after_help = "Example:\n  keyward api update-user 9576 test_username --max-sessions 3 --permissions \"*\" --status 1 --disconnect"
    )]
    UpdateUser {
        /// The user's integer id (or name).
        id: String,
        #[command(flatten)]
        user: Box<user::UserFlags>,
        /// 1: also end the user's sessions.
        #[arg(long, num_args = 0..=1, default_value = "0", default_missing_value = "1",
              value_parser = clap::value_parser!(u8).range(0..=1))]
        disconnect: u8,
    },
    /// Show one user (GET /api/v1/user/ID).
    #[command(after_help = "Example:\n  keyward api get-user-by-id 9576")]
    GetUserById {
        /// The user's integer id (or name).
        id: String,
    },
    /// List users, paged (GET /api/v1/user).
    #[command(
        after_help = "Example:\n  keyward api get-users --limit 1 --offset 0 --username test_username --order DESC"
    )]
    GetUsers {
        /// Users per page, 1 to 500.
        #[arg(short = 'L', long, default_value_t = 100,
              value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// Users to skip.
        #[arg(short = 'O', long, default_value_t = 0)]
        offset: u64,
        /// Only the user of exactly this name.
        #[arg(short = 'U', long, default_value = "")]
        username: String,
        /// By username: ASC or DESC.
        #[arg(short = 'S', long, default_value = "ASC", value_parser = ["ASC", "DESC"], ignore_case = true)]
        order: String,
    },
    /// Delete a user (DELETE /api/v1/user/ID).
    #[command(after_help = "Example:\n  keyward api delete-user 9576")]
    DeleteUser {
        /// The user's integer id (or name).
        id: String,
    },
    /// Active sessions (GET /api/v1/connection).
    #[command(after_help = "Example:\n  keyward api get-connections")]
    GetConnections,
    /// End one session (DELETE /api/v1/connection/ID).
    #[command(after_help = "Example:\n  keyward api close-connection f82cfec6a391ad67…")]
    CloseConnection {
        /// The connection id from get-connections.
        connection_id: String,
    },
    /// The server's version (GET /api/v1/version).
    #[command(after_help = "Example:\n  keyward api get-version")]
    GetVersion,
    /// Whether the server reaches its database (GET /api/v1/providerstatus).
    #[command(after_help = "Example:\n  keyward api get-provider-status")]
    GetProviderStatus,
    /// OTP tokens (/api/v1/token): list, show, init, enable, disable, reset, assign, unassign,
    /// resync, set, remove.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// API keys (/api/v1/apikey): list, show, create, revoke.
    #[command(subcommand)]
    Apikey(tokens::ApiKeyCommand),
    /// Quota scans running on the server (GET /api/v1/quota_scan).
    #[command(after_help = "Example:\n  keyward api get-quota-scans")]
    GetQuotaScans,
    /// Scan a user's home_dir in the background (POST /api/v1/quota_scan); the user flags of
    /// add-user are accepted, only the username is used.
    #[command(after_help = "Example:\n  keyward api start-quota-scan test_username")]
    StartQuotaScan(Box<user::UserFlags>),
    /// Set or add to a user's used quota (PUT /api/v1/quota_update).
    #[command(
        after_help = "Example:\n  keyward api update-quota-usage test_username --used-quota-size 1024 --used-quota-files 3"
    )]
    UpdateQuotaUsage(tokens::QuotaUpdateFlags),
    /// Have the server write a dump inside its backups_path (GET /api/v1/dumpdata).
    #[command(after_help = "Example:\n  keyward api dumpdata backup.json --indent 1")]
    Dumpdata {
        /// File name inside the server's backups_path.
        output_file: String,
        /// Spaces of indentation (0: one line).
        #[arg(short = 'I', long, default_value_t = 0,
              value_parser = clap::value_parser!(u8).range(0..=8))]
        indent: u8,
    },
    /// Have the server load a dump, all or nothing (GET /api/v1/loaddata; with --upload, POST
    /// this machine's file as the body).
    #[command(
        after_help = "Example:\n  keyward api loaddata /app/data/backups/backup.json --scan-quota 2 --mode 0"
    )]
    Loaddata {
        /// The dump file: a path inside the server's backups_path (or, with --upload, a local file).
        input_file: String,
        /// 0: no quota scan, 1: scan loaded users, 2: only users with quota limits.
        #[arg(short = 'Q', long, default_value_t = 0,
              value_parser = clap::value_parser!(u8).range(0..=2))]
        scan_quota: u8,
        /// 0: add and update, 1: add new only, 2: update and end changed users' sessions.
        #[arg(short = 'M', long, default_value_t = 0,
              value_parser = clap::value_parser!(u8).range(0..=2))]
        mode: u8,
        /// Send the local file as the request body instead of naming a server file.
        #[arg(long)]
        upload: bool,
    },
    /// Convert a Unix, Pure-FTPd or ProFTPD user store into a loaddata file (runs locally, no
    /// request is sent).
    #[command(
        after_help = "Examples:\n  keyward api convert-users \"\" unix-passwd unix_users.json --min-uid 500 --force-uid 1000 --force-gid 1000\n  keyward api convert-users pureftpd.passwd pure-ftpd pure_users.json --usernames user1 user2\n  keyward api convert-users proftpd.passwd proftpd pro_users.json"
    )]
    ConvertUsers(Box<keyward_commands::dump::ConvertArgs>),
}

/// One request to send.
struct Call {
    method: Method,
    /// Path segments after the base URL, e.g. `["api", "v1", "user", "9576"]`.
    path: Vec<String>,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
}

fn call(method: Method, path: &[&str]) -> Call {
    Call {
        method,
        path: path.iter().map(|s| s.to_string()).collect(),
        query: Vec::new(),
        body: None,
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn failure(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

/// The password of add-user/update-user: argv, `--password-stdin`, or (add-user, on a terminal)
/// a prompt twice; update-user without one keeps the current password.
fn resolve_password(flags: &user::UserFlags, creating: bool) -> Result<Option<String>, String> {
    if flags.password_stdin {
        return auth::read_stdin_line().map(Some);
    }
    if let Some(p) = &flags.password {
        return Ok(Some(p.clone()));
    }
    if creating && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return auth::prompt_new_password(&format!("Password for {}", flags.username))
            .map(Some)
            .map_err(|e| format!("--password: {e}"));
    }
    Ok(None)
}

fn user_body(flags: &user::UserFlags, creating: bool) -> Result<Value, String> {
    let password = resolve_password(flags, creating)?;
    let input = flags.to_input(password)?;
    user::check(&input, creating)?;
    serde_json::to_value(&input).map_err(|e| format!("internal: {e}"))
}

/// Turns the subcommand into a request; errors are usage errors (exit 2, nothing sent).
fn plan(command: ApiCommand) -> Result<Call, String> {
    Ok(match command {
        ApiCommand::AddUser(flags) => Call {
            body: Some(user_body(&flags, true)?),
            ..call(Method::POST, &["api", "v1", "user"])
        },
        ApiCommand::UpdateUser {
            id,
            user,
            disconnect,
        } => Call {
            body: Some(user_body(&user, false)?),
            query: if disconnect == 1 {
                vec![("disconnect", "1".to_string())]
            } else {
                Vec::new()
            },
            ..call(Method::PUT, &["api", "v1", "user", &id])
        },
        ApiCommand::GetUserById { id } => call(Method::GET, &["api", "v1", "user", &id]),
        ApiCommand::GetUsers {
            limit,
            offset,
            username,
            order,
        } => {
            let mut query = vec![
                ("limit", limit.to_string()),
                ("offset", offset.to_string()),
                ("order", order.to_ascii_uppercase()),
            ];
            if !username.is_empty() {
                query.push(("username", username));
            }
            Call {
                query,
                ..call(Method::GET, &["api", "v1", "user"])
            }
        }
        ApiCommand::DeleteUser { id } => call(Method::DELETE, &["api", "v1", "user", &id]),
        ApiCommand::GetConnections => call(Method::GET, &["api", "v1", "connection"]),
        ApiCommand::CloseConnection { connection_id } => {
            call(Method::DELETE, &["api", "v1", "connection", &connection_id])
        }
        ApiCommand::GetVersion => call(Method::GET, &["api", "v1", "version"]),
        ApiCommand::GetProviderStatus => call(Method::GET, &["api", "v1", "providerstatus"]),
        ApiCommand::Token(t) => tokens::plan_token(t)?,
        ApiCommand::Apikey(k) => tokens::plan_apikey(k)?,
        ApiCommand::GetQuotaScans => call(Method::GET, &["api", "v1", "quota_scan"]),
        ApiCommand::StartQuotaScan(flags) => tokens::plan_start_scan(&flags)?,
        ApiCommand::UpdateQuotaUsage(f) => tokens::plan_quota_update(f)?,
        ApiCommand::Dumpdata {
            output_file,
            indent,
        } => Call {
            query: vec![("output_file", output_file), ("indent", indent.to_string())],
            ..call(Method::GET, &["api", "v1", "dumpdata"])
        },
        ApiCommand::Loaddata {
            input_file,
            scan_quota,
            mode,
            upload,
        } => {
            let mut query = vec![
                ("scan_quota", scan_quota.to_string()),
                ("mode", mode.to_string()),
            ];
            if upload {
                let text = keyward_commands::dump::read_bounded(std::path::Path::new(&input_file))
                    .map_err(|e| e.to_string())?;
                let body: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("{input_file}: not JSON: {e}"))?;
                Call {
                    query,
                    body: Some(body),
                    ..call(Method::POST, &["api", "v1", "loaddata"])
                }
            } else {
                query.insert(0, ("input_file", input_file));
                Call {
                    query,
                    ..call(Method::GET, &["api", "v1", "loaddata"])
                }
            }
        }
        ApiCommand::ConvertUsers(_) => return Err("convert-users runs locally".into()),
    })
}

/// `keyward api convert-users`: the same conversion as `keyward manage convert-users`, here.
fn convert_locally(a: &keyward_commands::dump::ConvertArgs, color: bool) -> ExitCode {
    match keyward_commands::dump::convert(a) {
        Ok(out) => {
            println!("{}", output::render(&out.json, color));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(u8::try_from(e.kind().exit_code()).unwrap_or(1))
        }
    }
}

fn url_of(base: &reqwest::Url, c: &Call) -> Result<reqwest::Url, String> {
    let mut url = base.clone();
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|_| "--base-url cannot take a path".to_string())?;
        segments.pop_if_empty();
        for s in &c.path {
            segments.push(s);
        }
    }
    if !c.query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(c.query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    Ok(url)
}

pub async fn run(args: ApiArgs) -> ExitCode {
    let base = match http_client::parse_base_url(&args.base_url, "--base-url") {
        Ok(u) => u,
        Err(e) => return usage(&e),
    };
    if let ApiCommand::ConvertUsers(a) = &args.command {
        return convert_locally(a, output::use_color(args.color, args.no_color));
    }
    let call = match plan(args.command) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let url = match url_of(&base, &call) {
        Ok(u) => u,
        Err(e) => return usage(&e),
    };
    let creds = match Credentials::resolve(
        args.auth_type.as_deref(),
        args.auth_user.as_deref(),
        args.auth_password.as_deref(),
    ) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let client = match http_client::build(&args.tls) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let color = output::use_color(args.color, args.no_color);
    let mut req = client.request(call.method.clone(), url.clone());
    let authorization = creds.header();
    if let Some(a) = &authorization {
        req = req.header(reqwest::header::AUTHORIZATION, a);
    }
    if let Some(b) = &call.body {
        req = req.json(b);
    }
    if args.debug {
        eprintln!("> {} {url}", call.method);
        if let Some(a) = &authorization {
            eprintln!("> Authorization: {}", output::masked_authorization(a));
        }
        if let Some(b) = &call.body {
            eprintln!("> {}", output::render(&output::masked(b), false));
        }
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return failure(&http_client::explain(&e, url.as_str())),
    };
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let text = match resp.text().await {
        Ok(t) => t,
        Err(e) => return failure(&http_client::explain(&e, url.as_str())),
    };
    let json: Option<Value> = if is_json {
        serde_json::from_str(&text).ok()
    } else {
        None
    };
    if args.debug {
        eprintln!("< {status}");
        match &json {
            Some(v) => eprintln!("< {}", output::render(&output::masked(v), false)),
            None if !text.is_empty() => eprintln!("< ({} bytes, not JSON)", text.len()),
            None => {}
        }
    }
    if !status.is_success() {
        return failure(&http_error(status, json.as_ref(), &text));
    }
    match json {
        Some(v) => println!("{}", output::render(&v, color)),
        None => println!("{text}"),
    }
    ExitCode::SUCCESS
}

/// The server's message for a failed call, in words.
fn http_error(status: reqwest::StatusCode, json: Option<&Value>, text: &str) -> String {
    let detail = json
        .and_then(|v| {
            v.get("error")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .or_else(|| v.get("message").and_then(Value::as_str))
                .or_else(|| v.get("detail").and_then(Value::as_str))
                .map(String::from)
        })
        .unwrap_or_else(|| {
            text.chars()
                .take(200)
                .collect::<String>()
                .trim()
                .to_string()
        });
    let code = status.as_u16();
    let what = match code {
        401 => {
            "not authenticated: the server did not accept the credentials (-u/-p, -a bearer with KEYWARD_API_TOKEN)"
        }
        403 => "forbidden: these credentials may not do this",
        404 => "not found",
        _ => "",
    };
    let reason = status.canonical_reason().unwrap_or("");
    match (what.is_empty(), detail.is_empty()) {
        (true, true) => format!("the server answered {code} {reason}"),
        (true, false) => format!("{detail} (HTTP {code} {reason})"),
        (false, true) => format!("{what} (HTTP {code} {reason})"),
        (false, false) => format!("{what}: {detail} (HTTP {code} {reason})"),
    }
}
