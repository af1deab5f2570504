//! The command registry: every operator command is declared once here with its name (one or more
//! words, e.g. `createuser`, `api createtoken`), typed clap arguments and an async handler. The
//! transports — `keyward manage` locally, `POST /server/management-command/`, the REST API — hand
//! it words and get an [`Output`] back, so they cannot drift apart.

use std::future::Future;
use std::pin::Pin;

use serde_json::json;

use crate::context::Ctx;
use crate::output::{CommandError, Format, Output};

type BoxFuture = Pin<Box<dyn Future<Output = Result<Output, CommandError>> + Send>>;
type Runner = Box<dyn Fn(Ctx, Input) -> BoxFuture + Send + Sync>;

/// What a transport hands a command: command-line words (`keyward manage`, the management
/// endpoint), or named parameters (LinOTP-style `/admin/*` and `/validate/*` requests, whose
/// query, form or JSON fields arrive as one map of names to text values or lists of them).
pub enum Input {
    Words(Vec<String>),
    Params(serde_json::Map<String, serde_json::Value>),
}

/// One registered command.
pub struct CommandSpec {
    /// Space-separated words, e.g. `setup create_enckey`.
    pub name: &'static str,
    pub about: &'static str,
    /// Whether the command changes state (then every run is audited, success or not).
    pub mutates: bool,
    /// Index of the positional argument naming the audited target (e.g. the username).
    pub target_arg: Option<usize>,
    /// Names of the parameters naming the audited target, first present wins (named input).
    pub target_param: Option<&'static [&'static str]>,
    /// Renders this command's usage text.
    pub usage: fn() -> String,
    run: Runner,
}

/// Declares a command from a clap-derived argument struct and an async handler.
pub fn command<A, F, Fut>(name: &'static str, about: &'static str, handler: F) -> CommandSpec
where
    A: clap::Parser + Send + 'static,
    F: Fn(Ctx, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Output, CommandError>> + Send + 'static,
{
    let run: Runner = Box::new(move |ctx, input| match input {
        Input::Words(args) => {
            let words = std::iter::once(name.to_string()).chain(args);
            match A::try_parse_from(words) {
                Ok(parsed) => Box::pin(handler(ctx, parsed)),
                Err(e) => {
                    let err = usage_error(name, &e);
                    Box::pin(async move { err })
                }
            }
        }
        Input::Params(_) => Box::pin(async move {
            Err(CommandError::Usage(format!(
                "{name}: this command takes command-line arguments, not named parameters"
            )))
        }),
    });
    CommandSpec {
        name,
        about,
        mutates: false,
        target_arg: None,
        target_param: None,
        usage: || A::command().render_help().to_string(),
        run,
    }
}

/// Declares a command whose arguments also arrive as named parameters (the LinOTP API): `A`
/// parses from words with clap and from a parameter map with serde, and the one handler serves
/// both, so `keyward manage token init …` and `POST /admin/init` are the same code.
pub fn param_command<A, F, Fut>(name: &'static str, about: &'static str, handler: F) -> CommandSpec
where
    A: clap::Parser + serde::de::DeserializeOwned + Send + 'static,
    F: Fn(Ctx, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Output, CommandError>> + Send + 'static,
{
    let handler = std::sync::Arc::new(handler);
    let words_handler = handler.clone();
    let mut spec = command(name, about, move |ctx, a: A| words_handler(ctx, a));
    let words_run = spec.run;
    spec.run = Box::new(move |ctx, input| match input {
        Input::Words(w) => words_run(ctx, Input::Words(w)),
        Input::Params(map) => match crate::params::from_map::<A>(map) {
            Ok(parsed) => Box::pin(handler(ctx, parsed)),
            Err(e) => Box::pin(async move { Err(e) }),
        },
    });
    spec
}

impl CommandSpec {
    /// Marks the command as changing state; `target_arg` names the audited target.
    pub fn mutating(mut self, target_arg: Option<usize>) -> Self {
        self.mutates = true;
        self.target_arg = target_arg;
        self
    }

    /// For named-parameter input: which parameters name the audited target.
    pub fn target_params(mut self, names: &'static [&'static str]) -> Self {
        self.target_param = Some(names);
        self
    }
}

/// Turns a clap error into either help text (success) or a one-line usage error.
fn usage_error(name: &str, e: &clap::Error) -> Result<Output, CommandError> {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Ok(Output::new(
            e.render().to_string(),
            json!({ "help": e.render().to_string() }),
        )),
        _ => {
            // clap's message spans lines (e.g. the list of missing arguments); keep it on one.
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("tip:")
                        && !l.starts_with("For more information")
                })
                .collect::<Vec<_>>()
                .join(" ")
                .trim_start_matches("error: ")
                .to_string();
            Err(CommandError::Usage(format!(
                "{name}: {first} (see `keyward manage help {name}`)"
            )))
        }
    }
}

/// All commands, looked up by their words.
pub struct Registry {
    commands: Vec<CommandSpec>,
}

impl Registry {
    pub fn new(commands: Vec<CommandSpec>) -> Self {
        Registry { commands }
    }

    /// The full set of keyward's operator commands.
    pub fn standard() -> Self {
        let mut all = Vec::new();
        all.extend(crate::users::commands());
        all.extend(crate::runtime_config::commands());
        all.extend(crate::setup::commands());
        all.extend(crate::sessions::commands());
        all.extend(crate::api_keys::commands());
        all.extend(crate::audit::commands());
        all.extend(crate::tokens::commands());
        all.extend(crate::challenges::commands());
        Registry::new(all)
    }

    pub fn iter(&self) -> impl Iterator<Item = &CommandSpec> {
        self.commands.iter()
    }

    /// Finds the command with the longest name matching the leading words; returns it and the
    /// remaining words (its arguments).
    pub fn resolve<'a>(&self, words: &'a [String]) -> Option<(&CommandSpec, &'a [String])> {
        self.commands
            .iter()
            .filter_map(|c| {
                let parts: Vec<&str> = c.name.split(' ').collect();
                let matches =
                    parts.len() <= words.len() && parts.iter().zip(words).all(|(p, w)| p == w);
                matches.then(|| (c, words.get(parts.len()..).unwrap_or_default(), parts.len()))
            })
            .max_by_key(|(_, _, n)| *n)
            .map(|(c, rest, _)| (c, rest))
    }

    /// The text of `keyward manage help [COMMAND…]`.
    pub fn help(&self, words: &[String]) -> Result<Output, CommandError> {
        if !words.is_empty() {
            let (spec, _) = self.resolve(words).ok_or_else(|| unknown(words))?;
            let text = (spec.usage)();
            return Ok(Output::new(
                text.clone(),
                json!({ "command": spec.name, "help": text }),
            ));
        }
        let width = self
            .commands
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        let mut text = String::from("Commands (run locally, or remotely with --remote URL):\n");
        for c in &self.commands {
            text.push_str(&format!("  {:width$}  {}\n", c.name, c.about));
        }
        let list: Vec<_> = self
            .commands
            .iter()
            .map(|c| json!({ "name": c.name, "about": c.about }))
            .collect();
        Ok(Output::new(text, json!({ "commands": list })))
    }

    /// `help [COMMAND…]` (with `--json` anywhere) without a context: needs no database.
    pub fn run_help(&self, words: &[String]) -> Result<Output, CommandError> {
        let (format, words) = split_format(words);
        let rest = match words.split_first() {
            Some((first, rest)) if first == "help" => rest,
            _ => &words[..],
        };
        self.help(rest).map(|o| render(o, format))
    }

    /// Runs the command the words name. `--json` anywhere among the arguments selects JSON
    /// rendering (the returned text is then the pretty JSON). Changing commands are audited.
    pub async fn run(&self, ctx: &Ctx, words: &[String]) -> Result<Output, CommandError> {
        let (format, words) = split_format(words);
        if words.first().map(String::as_str) == Some("help") {
            return self
                .help(words.get(1..).unwrap_or_default())
                .map(|o| render(o, format));
        }
        let (spec, args) = self.resolve(&words).ok_or_else(|| unknown(&words))?;
        let target = spec
            .target_arg
            .and_then(|i| positional(args, i))
            .unwrap_or_default();
        self.execute(ctx, spec, Input::Words(args.to_vec()), target)
            .await
            .map(|o| render(o, format))
    }

    /// Runs a command by its exact name with named parameters (the LinOTP transports). The
    /// result is the command's JSON; changing commands are audited as with words.
    pub async fn run_params(
        &self,
        ctx: &Ctx,
        name: &str,
        params: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Output, CommandError> {
        let spec = self
            .commands
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| unknown(&[name.to_string()]))?;
        let target = spec
            .target_param
            .unwrap_or_default()
            .iter()
            .find_map(|p| match params.get(*p) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        self.execute(ctx, spec, Input::Params(params), target).await
    }

    async fn execute(
        &self,
        ctx: &Ctx,
        spec: &CommandSpec,
        input: Input,
        target: String,
    ) -> Result<Output, CommandError> {
        let result = (spec.run)(ctx.clone(), input).await;
        if spec.mutates {
            let (ok, details) = match &result {
                Ok(out) => (true, out.audit_details.clone().unwrap_or_default()),
                Err(e) => (false, e.to_string()),
            };
            let target: String = target.chars().take(200).collect();
            if let Err(e) = ctx.audit(spec.name, &target, ok, &details).await {
                tracing::error!(command = spec.name, error = %e, "could not write the audit entry");
                if result.is_ok() {
                    return Err(CommandError::Internal(format!(
                        "command done, but audit entry failed: {e}"
                    )));
                }
            }
        }
        result
    }

    /// The spec of a command by its exact name.
    pub fn spec(&self, name: &str) -> Option<&CommandSpec> {
        self.commands.iter().find(|c| c.name == name)
    }

    /// Whether `words` name a known command (for allow-list checks before running).
    pub fn command_name(&self, words: &[String]) -> Option<&'static str> {
        let (_, words) = split_format(words);
        if words.first().map(String::as_str) == Some("help") {
            return Some("help");
        }
        self.resolve(&words).map(|(c, _)| c.name)
    }
}

fn unknown(words: &[String]) -> CommandError {
    CommandError::Usage(format!(
        "unknown command {:?} (see `keyward manage help`)",
        words.join(" ")
    ))
}

/// Separates the global `--json` flag from the words.
fn split_format(words: &[String]) -> (Format, Vec<String>) {
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

fn render(mut out: Output, format: Format) -> Output {
    if format == Format::Json {
        let shown = match &out.detail {
            Some(detail) => json!({ "value": out.json, "detail": detail }),
            None => out.json.clone(),
        };
        out.text = serde_json::to_string_pretty(&shown).unwrap_or_default() + "\n";
    }
    out
}

/// The i-th argument that is not an option (a rough cut, enough to name an audit target).
fn positional(args: &[String], i: usize) -> Option<String> {
    args.iter().filter(|a| !a.starts_with('-')).nth(i).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn every_command_name_is_unique_and_documented() {
        let reg = Registry::standard();
        let mut names: Vec<_> = reg.iter().map(|c| c.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate command names");
        assert!(reg.iter().all(|c| !c.about.is_empty()));
    }

    #[test]
    fn resolve_prefers_the_longest_name() {
        let reg = Registry::standard();
        let w = words("config set registration_enabled false");
        let (spec, rest) = reg.resolve(&w).unwrap_or_else(|| unreachable!());
        assert_eq!(spec.name, "config set");
        assert_eq!(rest, &w[2..]);
        assert!(reg.resolve(&words("nosuchcommand")).is_none());
    }

    #[test]
    fn json_flag_is_global() {
        let (f, rest) = split_format(&words("listusers --json"));
        assert_eq!(f, Format::Json);
        assert_eq!(rest, words("listusers"));
        let (f, rest) = split_format(&words("x -- --json"));
        assert_eq!(f, Format::Text);
        assert_eq!(rest, words("x -- --json"));
    }
}
