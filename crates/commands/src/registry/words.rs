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

/// Separates the global `--json` flag from the words.
pub(super) fn split_format(words: &[String]) -> (Format, Vec<String>) {
    let mut format = Format::Text;
    let mut rest = Vec::with_capacity(words.len());
    let mut after_dashes = false;
    for w in words {
        if !after_dashes && w == "--json" {
            format = Format::Json;
        } else {
            after_dashes |= w == "--";
            rest.push(w.clone());
        }
    }
    (format, rest)
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
