//! Secret arguments (passwords, PINs, passphrases) of registry commands, filled in by the CLI
//! before a command runs locally or is sent with `--remote`: read from standard input with
//! `--<name>-stdin`, prompted for without echo with `--<name>-prompt` — or when a required one is
//! left out and stdin is a terminal (twice for a new secret). Given on the command line they
//! still work (the seeds do that). No secret is ever printed: errors name the argument only.

use std::io::{IsTerminal, Read};

use clap::Arg;
use keyward_commands::registry::{CommandSpec, SecretArg};

/// Most bytes read from standard input for one secret.
const STDIN_LIMIT: u64 = 64 * 1024;

/// A stand-in value, to learn whether a left-out positional secret is what is missing.
const PLACEHOLDER: &str = "placeholder-secret";

/// Fills the secrets of `spec` into `args` (the words after the command's name) and removes
/// the `--<name>-stdin` and `--<name>-prompt` flags. Errors are usage errors (exit code 2).
pub fn fill(spec: &CommandSpec, mut args: Vec<String>) -> Result<Vec<String>, String> {
    let cmd = (spec.clap)();
    let mut stdin_taken = false;
    for secret in &spec.secrets {
        let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == secret.id) else {
            continue;
        };
        let stem = spec.secret_stem(secret);
        let from_stdin = take_flag(&mut args, &format!("--{stem}-stdin"));
        let from_prompt = take_flag(&mut args, &format!("--{stem}-prompt"));
        let label = stem.replace('-', " ");
        let name = spec.name;
        if from_stdin && from_prompt {
            return Err(format!(
                "{name}: use --{stem}-stdin or --{stem}-prompt, not both"
            ));
        }
        let checked = strip_globals(spec, &args);
        let given = if arg.is_positional() {
            spec.parses(&checked)
        } else {
            option_given(&args, arg)
        };
        let value = if from_stdin {
            if stdin_taken {
                return Err(format!(
                    "{name}: only one secret can be read from standard input"
                ));
            }
            stdin_taken = true;
            Some(read_stdin(&stem)?)
        } else if from_prompt {
            Some(prompt(&label, secret)?)
        } else if arg.is_positional()
            && !given
            && spec.parses(&insert_positional(
                spec,
                &cmd,
                &checked,
                arg,
                PLACEHOLDER.into(),
            ))
        {
            if !std::io::stdin().is_terminal() {
                return Err(format!(
                    "{name}: the {label} is missing: give it, pipe it in with --{stem}-stdin, \
                     or run on a terminal to be prompted"
                ));
            }
            Some(prompt(&label, secret)?)
        } else {
            None
        };
        let Some(value) = value else { continue };
        if given {
            return Err(format!(
                "{name}: the {label} is given twice (on the command line and with --{stem}-…)"
            ));
        }
        if arg.is_positional() {
            args = insert_positional(spec, &cmd, &args, arg, value);
        } else {
            args.push(format!("--{stem}={value}"));
        }
    }
    Ok(args)
}

/// Removes every `flag` before `--`; whether there was one.
fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let before = args.len();
    let mut i = 0;
    args.retain(|a| {
        i += 1;
        !(i <= end && a == flag)
    });
    args.len() != before
}

/// The arguments without the words every command takes (`--json`, `--output FORMAT` on list
/// commands, the terminal width), as the command's own parser sees them.
fn strip_globals(spec: &CommandSpec, args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            out.push(a.clone());
            out.extend(it.by_ref().cloned());
            break;
        }
        if a == "--json" || a.starts_with(keyward_commands::registry::TERMINAL_WIDTH_FLAG) {
            continue;
        }
        if spec.lists && a.starts_with("--output=") {
            continue;
        }
        if spec.lists && a == "--output" {
            it.next();
            continue;
        }
        out.push(a.clone());
    }
    out
}

/// Whether an option secret (`--pin`) is among the arguments.
fn option_given(args: &[String], arg: &Arg) -> bool {
    let Some(long) = arg.get_long() else {
        return false;
    };
    let long = format!("--{long}");
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| *a == long || a.starts_with(&format!("{long}=")))
}

/// `args` with `value` inserted where the positional `arg` goes: after as many positional
/// words as there are positionals before it (options and their values skipped).
fn insert_positional(
    spec: &CommandSpec,
    cmd: &clap::Command,
    args: &[String],
    arg: &Arg,
    value: String,
) -> Vec<String> {
    let index = cmd
        .get_positionals()
        .position(|p| p.get_id() == arg.get_id())
        .unwrap_or(0);
    let mut seen = 0;
    let mut i = 0;
    let mut after_dashes = false;
    while i < args.len() && seen < index {
        let w = args[i].as_str();
        if !after_dashes && w == "--" {
            after_dashes = true;
            i += 1;
            continue;
        }
        if !after_dashes && let Some(takes_value) = option_arity(spec, cmd, w) {
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        seen += 1;
        i += 1;
    }
    let mut out = args.to_vec();
    out.insert(i.min(out.len()), value);
    out
}

/// For a word naming an option of the command: whether it takes the next word as its value.
fn option_arity(spec: &CommandSpec, cmd: &clap::Command, word: &str) -> Option<bool> {
    if word == "--json" || word.starts_with(keyward_commands::registry::TERMINAL_WIDTH_FLAG) {
        return Some(false);
    }
    if spec.lists && word == "--output" {
        return Some(true);
    }
    let found = if let Some(long) = word.strip_prefix("--") {
        if long.contains('=') {
            return Some(false);
        }
        cmd.get_arguments().find(|a| {
            a.get_long() == Some(long) || a.get_all_aliases().is_some_and(|v| v.contains(&long))
        })
    } else {
        let mut chars = word.strip_prefix('-')?.chars();
        let (Some(short), None) = (chars.next(), chars.next()) else {
            return None;
        };
        cmd.get_arguments().find(|a| a.get_short() == Some(short))
    }?;
    let takes = found.get_action().takes_values()
        && found.get_num_args().is_none_or(|n| n.min_values() > 0);
    Some(takes)
}

/// One line from standard input (without its line ending), for `--<stem>-stdin`.
fn read_stdin(stem: &str) -> Result<String, String> {
    let mut text = String::new();
    std::io::stdin()
        .take(STDIN_LIMIT)
        .read_to_string(&mut text)
        .map_err(|e| format!("--{stem}-stdin: cannot read standard input: {e}"))?;
    let line = text.lines().next().unwrap_or_default().to_string();
    if line.is_empty() {
        return Err(format!("--{stem}-stdin: standard input is empty"));
    }
    Ok(line)
}

/// Prompts on the terminal without echo; a new secret is asked for twice.
fn prompt(label: &str, secret: &SecretArg) -> Result<String, String> {
    let ask = |text: String| {
        rpassword::prompt_password(text).map_err(|e| format!("cannot prompt for the {label}: {e}"))
    };
    let first = ask(format!("{}: ", capitalise(label)))?;
    if secret.new {
        let again = ask(format!("Retype {label}: "))?;
        if again != first {
            return Err(format!("the two {label}s do not match"));
        }
    }
    Ok(first)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
