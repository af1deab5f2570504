//! Command-line words: parsing them into a command's arguments (leniently for values that
//! start with `-`), usage errors that never echo what was typed, the global `--json` flag and
//! its rendering.

use serde_json::json;

use crate::output::{CommandError, Format, Output};

/// Parses command-line words as `A`: as clap would, and if that fails, once more with positional
/// values allowed to start with `-` (a password such as `-x9!` is a value, not an unknown option:
/// refusing it would echo it in the error). Options are still recognised by their names.
pub(super) fn parse_words<A: clap::Parser>(
    name: &'static str,
    args: Vec<String>,
) -> Result<A, clap::Error> {
    let words = || std::iter::once(name.to_string()).chain(args.iter().cloned());
    let first = match A::try_parse_from(words()) {
        Ok(parsed) => return Ok(parsed),
        Err(e) => e,
    };
    if matches!(
        first.kind(),
        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
    ) {
        return Err(first);
    }
    let lenient = A::command().mut_args(|arg| {
        if arg.is_positional() {
            arg.allow_hyphen_values(true)
        } else {
            arg
        }
    });
    match lenient.try_get_matches_from(words()) {
        Ok(mut matches) => A::from_arg_matches_mut(&mut matches).map_err(|_| first),
        Err(_) => Err(first),
    }
}

/// Whether `args` parse as the arguments of `cmd`, leniently as [`parse_words`] does (the CLI
/// asks this to tell a left-out secret from other mistakes; no value is kept).
pub(super) fn parses(cmd: clap::Command, name: &'static str, args: &[String]) -> bool {
    let words = || std::iter::once(name.to_string()).chain(args.iter().cloned());
    if cmd.clone().try_get_matches_from(words()).is_ok() {
        return true;
    }
    cmd.mut_args(|arg| {
        if arg.is_positional() {
            arg.allow_hyphen_values(true)
        } else {
            arg
        }
    })
    .try_get_matches_from(words())
    .is_ok()
}

/// Turns a clap error into either help text (success) or a one-line usage error. The message is
/// built from the error's kind and the names of the arguments involved, never from clap's
/// rendering: that quotes what was typed, and what was typed may be a password.
pub(super) fn usage_error(name: &str, e: &clap::Error) -> Result<Output, CommandError> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind: ContextKind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    let arg = context(ContextKind::InvalidArg).unwrap_or_else(|| "an argument".into());
    let message = match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            return Ok(Output::new(
                e.render().to_string(),
                json!({ "help": e.render().to_string() }),
            ));
        }
        ErrorKind::MissingRequiredArgument => {
            format!("the following required arguments were not provided: {arg}")
        }
        ErrorKind::UnknownArgument => match context(ContextKind::SuggestedArg) {
            Some(s) => format!("unexpected argument (did you mean {s}?)"),
            None => "unexpected argument".to_string(),
        },
        ErrorKind::ValueValidation => {
            // Our own validators say what is wrong without echoing secrets (they check names,
            // numbers and choices, never passwords).
            let why = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "invalid value".into());
            format!("invalid value for {arg}: {why}")
        }
        ErrorKind::InvalidValue => match context(ContextKind::ValidValue) {
            Some(valid) => format!("invalid value for {arg} (possible values: {valid})"),
            None => format!("invalid value for {arg}"),
        },
        ErrorKind::ArgumentConflict => {
            format!("{arg} cannot be used with one of the other arguments")
        }
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            format!("wrong number of values for {arg}")
        }
        ErrorKind::NoEquals => format!("{arg} needs a value with `=`"),
        ErrorKind::MissingSubcommand | ErrorKind::InvalidSubcommand => {
            "missing or unknown sub-command".to_string()
        }
        _ => "the arguments do not fit this command".to_string(),
    };
    Err(CommandError::Usage(format!(
        "{name}: {message} (see `keyward manage help {name}`)"
    )))
}

/// "Unknown command", naming only the first word: the rest may be arguments, and arguments may
/// be secrets (a mistyped `createuser` still carries a password).
pub(super) fn unknown(words: &[String]) -> CommandError {
    let first: String = words
        .first()
        .map(|w| w.chars().take(40).collect())
        .unwrap_or_default();
    let shown = if first.starts_with('-') || first.is_empty() {
        String::new()
    } else {
        format!(" {first:?}")
    };
    CommandError::Usage(format!(
        "unknown command{shown} (see `keyward manage help`)"
    ))
}

/// The word a CLI adds to tell the registry the width of its terminal (tables are fitted to
/// it); not for people, so not in any help page.
pub const TERMINAL_WIDTH_FLAG: &str = "--terminal-width=";

/// How the caller wants the result: text, JSON or CSV, and the terminal width for tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Style {
    pub format: Format,
    pub width: Option<u16>,
}

/// Separates the global `--json` flag and the CLI's `--terminal-width=N` from the words.
pub(super) fn split_style(words: &[String]) -> (Style, Vec<String>) {
    let mut style = Style {
        format: Format::Text,
        width: None,
    };
    let mut rest = Vec::with_capacity(words.len());
    let mut after_dashes = false;
    for w in words {
        if after_dashes {
            rest.push(w.clone());
        } else if w == "--json" {
            style.format = Format::Json;
        } else if let Some(n) = w.strip_prefix(TERMINAL_WIDTH_FLAG) {
            style.width = n.parse().ok().filter(|n| *n >= 20);
        } else {
            after_dashes = w == "--";
            rest.push(w.clone());
        }
    }
    (style, rest)
}

/// Separates the global `--json` flag (and the terminal width) from the words.
pub(super) fn split_format(words: &[String]) -> (Format, Vec<String>) {
    let (style, rest) = split_style(words);
    (style.format, rest)
}

/// Renders a result as asked: the JSON value (pretty), CSV of its table, or its text with the
/// table fitted to the terminal width.
pub(super) fn render_styled(mut out: Output, style: Style) -> Result<Output, CommandError> {
    match (style.format, &out.table) {
        (Format::Json, _) => return Ok(render(out, Format::Json)),
        (Format::Csv, Some(table)) => out.text = table.csv(),
        (Format::Csv, None) => {
            return Err(CommandError::Usage(
                "this result has no table to write as CSV".to_string(),
            ));
        }
        (Format::Text, Some(table)) => {
            if let Some(width) = style.width {
                let plain = table.render(None);
                if let Some(footer) = out.text.strip_prefix(&plain) {
                    out.text = table.render(Some(width)) + footer;
                }
            }
        }
        (Format::Text, None) => {}
    }
    Ok(out)
}

pub(super) fn render(mut out: Output, format: Format) -> Output {
    if format == Format::Json {
        let shown = match &out.detail {
            Some(detail) => json!({ "value": out.json, "detail": detail }),
            None => out.json.clone(),
        };
        out.text = serde_json::to_string_pretty(&shown).unwrap_or_default() + "\n";
    }
    out
}
