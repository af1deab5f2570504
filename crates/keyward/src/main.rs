//! The `keyward` binary: clap wiring for `serve`, `manage` (local or `--remote`), `api` (the REST
//! client), `bench`, `completions` and `manpages`. All work happens in the library crates; this
//! file only parses arguments, loads settings and prints. Help, completions and man pages never
//! load settings or open the data directory.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api;
mod bench;
mod docs;
mod fileserver;
mod http_client;
mod manage;
mod secrets;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Self-hosted authentication server: users, OTP tokens, sessions, API keys"
)]
struct Cli {
    /// Configuration file (TOML); also KEYWARD_CONFIG. Every key can be overridden by KEYWARD_<KEY>.
    #[arg(long, global = true, env = "KEYWARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve,
    /// Run an operator command locally on the database, or remotely with --remote.
    Manage(manage::ManageArgs),
    /// Call the REST API of a running server (SFTPGo's API client commands).
    Api(api::ApiArgs),
    /// Play a fileserver cluster member: `fileserver announce --config MEMBER.toml` (the TOML
    /// printed by `manage fsclustershowconfig`; --config names it here, not keyward's config).
    Fileserver(fileserver::FileserverArgs),
    /// Measure performance on a throwaway installation (`bench show`, `bench validate`).
    Bench(bench::BenchArgs),
    /// Print a shell completion script (e.g. `source <(keyward completions bash)`).
    Completions {
        /// The shell: bash, zsh, fish, powershell or elvish.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages for keyward and every command into DIR (e.g. `keyward.1`,
    /// `keyward-manage-token-init.1`).
    Manpages {
        /// The directory (created if missing).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    restrict_new_files();
    let cli = Cli::parse();
    // The REST client needs no configuration, database or data directory.
    let cli = match cli.command {
        Command::Api(args) => return run_client(args),
        Command::Fileserver(args) => return run_fileserver(cli.config.as_deref(), args),
        command => Cli { command, ..cli },
    };
    match &cli.command {
        Command::Completions { shell } => return docs::completions(*shell),
        Command::Manpages { dir } => return docs::manpages(dir),
        Command::Serve
        | Command::Manage(_)
        | Command::Bench(_)
        | Command::Api(_)
        | Command::Fileserver(_) => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keyward: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command {
        Command::Serve => {
            let settings =
                match keyward_commands::Settings::load(cli.config.as_deref(), std::env::vars()) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("keyward: {e}");
                        return ExitCode::from(1);
                    }
                };
            if let Err(e) = init_logging(&settings.log_level, &settings.log_format) {
                eprintln!("keyward: {e}");
                return ExitCode::from(1);
            }
            match runtime.block_on(keyward_server::run(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("keyward: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Manage(args) => runtime.block_on(manage::run(cli.config.as_deref(), args)),
        Command::Bench(args) => runtime.block_on(bench::run(args)),
        Command::Api(_)
        | Command::Fileserver(_)
        | Command::Completions { .. }
        | Command::Manpages { .. } => ExitCode::SUCCESS,
    }
}

/// `keyward api`: a small single-threaded runtime is enough for one request.
fn run_client(args: api::ApiArgs) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(api::run(args)),
        Err(e) => {
            eprintln!("keyward: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// `keyward fileserver`: like the REST client, one small runtime and no keyward configuration.
fn run_fileserver(
    member_config: Option<&std::path::Path>,
    args: fileserver::FileserverArgs,
) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fileserver::run(member_config, args)),
        Err(e) => {
            eprintln!("keyward: cannot start the async runtime: {e}");
            ExitCode::from(1)
        }
    }
}

/// Every file this process creates (the SQLite database with its `-wal` and `-shm`, keys, dumps)
/// is readable by its owner only, whichever library creates it: umask 077 before anything runs.
fn restrict_new_files() {
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's file-creation mask; it has no memory effects and
    // runs before any other thread exists.
    unsafe {
        libc::umask(0o077);
    }
}

/// Logs to stderr with the level filter, as text lines or (`log_format = "json"`) one JSON
/// object a line with the spans (request id, command, actor) as fields.
fn init_logging(filter: &str, format: &str) -> Result<(), String> {
    // Settings::load has checked the filter; tracing's own parser has the last word.
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("invalid log_level {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // Colours only for a terminal, and never with NO_COLOR set: logs written to files or
        // journals stay plain text.
        "text" => builder
            .with_ansi(
                std::io::IsTerminal::is_terminal(&std::io::stderr())
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            )
            .try_init(),
        "json" => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
        other => {
            return Err(format!(
                "log_format must be \"text\" or \"json\", not {other:?}"
            ));
        }
    };
    Ok(())
}
