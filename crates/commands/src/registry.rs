//! The command registry: every operator command is declared once here with its name (one or more
//! words, e.g. `createuser`, `api createtoken`), typed clap arguments, who may run it
//! ([`Access`]), whom it acts on ([`Targets`] of its arguments) and an async handler. The
//! transports — `keyward manage` locally, `POST /server/management-command/`, `/admin/*`, the
//! REST API — hand it words or named parameters and get an [`Output`] back; [`Registry`] checks
//! the access and the target rule for all of them before a handler runs, and audits every run of
//! a changing command with the target taken from the parsed arguments.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::json;
use tracing::Instrument;

use crate::access::{Access, Target, Targets, audit_target, check_targets};
use crate::change::AuditDraft;
use crate::context::Ctx;
use crate::output::{CommandError, Format, Output};

/// What a run yields: the audit target (from the parsed arguments; empty when they did not
/// parse) and the command's result.
type Ran = (String, Result<Output, CommandError>);
type BoxFuture = Pin<Box<dyn Future<Output = Ran> + Send>>;
/// Runs a command on its input; the flag says whether the target rule applies (it does for
/// changing commands: reading a record is not acting on its principal).
type Runner = Box<dyn Fn(Ctx, Input, bool) -> BoxFuture + Send + Sync>;

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
    /// Whether it changes files (or the schema) only, no rows: its audit row is then written
    /// apart, after the run. Every other changing command commits its row with its change.
    pub files_only: bool,
    /// Who may run it.
    pub access: Access,
    /// The command's clap definition (its arguments, for help and for tests).
    pub clap: fn() -> clap::Command,
    /// Parses command-line arguments into the principals the command would act on.
    parse_targets: TargetParser,
    run: Runner,
}

type TargetParser = fn(&'static str, Vec<String>) -> Result<Vec<Target>, CommandError>;

/// Parses words as `A` and names its targets (no handler runs).
fn targets_from_words<A: clap::Parser + Targets>(
    name: &'static str,
    args: Vec<String>,
) -> Result<Vec<Target>, CommandError> {
    match parse_words::<A>(name, args) {
        Ok(parsed) => Ok(parsed.targets()),
        Err(e) => usage_error(name, &e).map(|_| Vec::new()),
    }
}

/// Parses command-line words as `A`: as clap would, and if that fails, once more with positional
/// values allowed to start with `-` (a password such as `-x9!` is a value, not an unknown option:
/// refusing it would echo it in the error). Options are still recognised by their names.
fn parse_words<A: clap::Parser>(name: &'static str, args: Vec<String>) -> Result<A, clap::Error> {
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

/// A command being declared: it becomes a [`CommandSpec`] only once [`Declared::allow`] names
/// who may run it, so no command reaches the registry without an access rule.
pub struct Declared {
    name: &'static str,
    about: &'static str,
    mutates: bool,
    files_only: bool,
    clap: fn() -> clap::Command,
    parse_targets: TargetParser,
    run: Runner,
}

/// Parses, checks the target rule, then runs the handler.
async fn run_parsed<A, F, Fut>(ctx: Ctx, parsed: A, handler: &F, enforce: bool) -> Ran
where
    A: Targets,
    F: Fn(Ctx, A) -> Fut,
    Fut: Future<Output = Result<Output, CommandError>>,
{
    let targets: Vec<Target> = parsed.targets();
    let shown = audit_target(&targets);
    if let Some(draft) = &ctx.draft {
        draft.set_target(&shown);
    }
    if enforce && let Err(e) = check_targets(&ctx, &targets).await {
        return (shown, Err(e));
    }
    (shown, handler(ctx, parsed).await)
}

/// Declares a command from a clap-derived argument struct and an async handler.
pub fn command<A, F, Fut>(name: &'static str, about: &'static str, handler: F) -> Declared
where
    A: clap::Parser + Targets + Send + 'static,
    F: Fn(Ctx, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Output, CommandError>> + Send + 'static,
{
    let handler = Arc::new(handler);
    let run: Runner = Box::new(move |ctx, input, enforce| {
        let handler = handler.clone();
        match input {
            Input::Words(args) => match parse_words::<A>(name, args) {
                Ok(parsed) => {
                    Box::pin(async move { run_parsed(ctx, parsed, &*handler, enforce).await })
                }
                Err(e) => {
                    let err = usage_error(name, &e);
                    Box::pin(async move { (String::new(), err) })
                }
            },
            Input::Params(_) => Box::pin(async move {
                (
                    String::new(),
                    Err(CommandError::Usage(format!(
                        "{name}: this command takes command-line arguments, not named parameters"
                    ))),
                )
            }),
        }
    });
    Declared {
        name,
        about,
        mutates: false,
        files_only: false,
        clap: A::command,
        parse_targets: targets_from_words::<A>,
        run,
    }
}

/// Declares a command whose arguments also arrive as named parameters (the LinOTP API): `A`
/// parses from words with clap and from a parameter map with serde, and the one handler serves
/// both, so `keyward manage token init …` and `POST /admin/init` are the same code.
pub fn param_command<A, F, Fut>(name: &'static str, about: &'static str, handler: F) -> Declared
where
    A: clap::Parser + serde::de::DeserializeOwned + Targets + Send + 'static,
    F: Fn(Ctx, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Output, CommandError>> + Send + 'static,
{
    let handler = Arc::new(handler);
    let words_handler = handler.clone();
    let mut declared = command(name, about, move |ctx, a: A| words_handler(ctx, a));
    let words_run = declared.run;
    declared.run = Box::new(move |ctx, input, enforce| match input {
        Input::Words(w) => words_run(ctx, Input::Words(w), enforce),
        Input::Params(map) => match crate::params::from_map::<A>(map) {
            Ok(parsed) => {
                let handler = handler.clone();
                Box::pin(async move { run_parsed(ctx, parsed, &*handler, enforce).await })
            }
            Err(e) => Box::pin(async move { (String::new(), Err(e)) }),
        },
    });
    declared
}

impl Declared {
    /// Marks the command as changing state: every run is audited.
    pub fn mutating(mut self) -> Self {
        self.mutates = true;
        self
    }

    /// Marks the command as changing files (or the schema) only, no database rows: it is
    /// audited after its run, apart (there is no row change to commit the audit row with).
    pub fn mutating_files(mut self) -> Self {
        self.mutates = true;
        self.files_only = true;
        self
    }

    /// Names who may run the command, completing its declaration.
    pub fn allow(self, access: Access) -> CommandSpec {
        CommandSpec {
            name: self.name,
            about: self.about,
            mutates: self.mutates,
            files_only: self.files_only,
            access,
            clap: self.clap,
            parse_targets: self.parse_targets,
            run: self.run,
        }
    }
}

/// Turns a clap error into either help text (success) or a one-line usage error. The message is
/// built from the error's kind and the names of the arguments involved, never from clap's
/// rendering: that quotes what was typed, and what was typed may be a password.
fn usage_error(name: &str, e: &clap::Error) -> Result<Output, CommandError> {
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
        all.extend(crate::audit_list::commands());
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
            let access = spec.access.describe();
            let usage = (spec.clap)().name(spec.name).render_help().to_string();
            let text = format!("{}\nWho may run it: {access}\n", usage.trim_end());
            return Ok(Output::new(
                text.clone(),
                json!({ "command": spec.name, "help": text, "access": access }),
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
            .map(|c| json!({ "name": c.name, "about": c.about, "access": c.access.describe() }))
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
        self.traced(ctx, spec, Input::Words(args.to_vec()))
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
        self.traced(ctx, spec, Input::Params(params)).await
    }

    /// What the registry would decide for these words, without running the command: access
    /// for the principal, then (for changing commands) the target rule on the parsed
    /// arguments. The authorization tests drive every command through this.
    pub async fn authorize(&self, ctx: &Ctx, words: &[String]) -> Result<(), CommandError> {
        let (spec, args) = self.resolve(words).ok_or_else(|| unknown(words))?;
        if !spec.access.allows(&ctx.principal) {
            return Err(access_denied(spec, ctx));
        }
        let targets = (spec.parse_targets)(spec.name, args.to_vec())?;
        if spec.mutates {
            check_targets(ctx, &targets).await?;
        }
        Ok(())
    }

    /// [`Registry::execute`] inside the command's span, ending with one log line (the error's
    /// kind only: messages stay in the answer and the audit row).
    async fn traced(
        &self,
        ctx: &Ctx,
        spec: &CommandSpec,
        input: Input,
    ) -> Result<Output, CommandError> {
        async {
            let result = self.execute(ctx, spec, input).await;
            match &result {
                Ok(_) => tracing::info!("command done"),
                Err(e) => tracing::info!(error = e.kind(), "command failed"),
            }
            result
        }
        .instrument(command_span(spec, ctx))
        .await
    }

    /// Checks who may run the command, runs it (the target rule is checked on its parsed
    /// arguments) and audits it: every run of a changing command, and every refused one. A
    /// changing command's success commits its audit row with its change (see `change`); only a
    /// command that changes files alone is audited apart. Failures change nothing and are
    /// audited apart.
    async fn execute(
        &self,
        ctx: &Ctx,
        spec: &CommandSpec,
        input: Input,
    ) -> Result<Output, CommandError> {
        let mut ctx = ctx.clone();
        let draft = spec.mutates.then(|| Arc::new(AuditDraft::new(spec.name)));
        ctx.draft = draft.clone();
        let (target, mut result) = if spec.access.allows(&ctx.principal) {
            (spec.run)(ctx.clone(), input, spec.mutates).await
        } else {
            (String::new(), Err(access_denied(spec, &ctx)))
        };
        let written = draft.as_ref().is_some_and(|d| d.written());
        if result.is_ok() && spec.mutates && !written && !spec.files_only {
            tracing::error!(command = spec.name, "changed without its audit row");
            result = Err(CommandError::Internal(format!(
                "{}: changed without its audit row",
                spec.name
            )));
        }
        let refused = matches!(result, Err(CommandError::Forbidden(_)));
        if (spec.mutates || refused) && !written {
            let (ok, details) = match &result {
                Ok(out) => (true, out.audit_details.clone().unwrap_or_default()),
                Err(e) => (false, e.to_string()),
            };
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

/// The tracing span of one command run: its name and actor (over HTTP it sits inside the
/// request's span, which carries the request id). Never its arguments: they may be secrets.
fn command_span(spec: &CommandSpec, ctx: &Ctx) -> tracing::Span {
    tracing::info_span!("command", command = spec.name, actor = %ctx.actor)
}

/// Why a principal may not run a command.
fn access_denied(spec: &CommandSpec, ctx: &Ctx) -> CommandError {
    use crate::access::Principal;
    let why = match (&ctx.principal, spec.access) {
        (Principal::Anonymous, _) => "authentication required".to_string(),
        (_, Access::Local) => "runs only with `keyward manage` on the server itself".to_string(),
        (_, access) => format!("needs one of the roles: {}", access.describe()),
    };
    CommandError::Forbidden(format!("{}: not allowed, {why}", spec.name))
}

/// "Unknown command", naming only the first word: the rest may be arguments, and arguments may
/// be secrets (a mistyped `createuser` still carries a password).
fn unknown(words: &[String]) -> CommandError {
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

    #[derive(clap::Parser, Debug)]
    struct Create {
        username: String,
        password: String,
        email: String,
        #[arg(long)]
        show_password: bool,
    }

    #[derive(clap::Parser, Debug)]
    struct Assign {
        serial: Option<String>,
        user: Option<String>,
        #[arg(long)]
        pin: Option<String>,
    }

    #[test]
    fn item16_positional_values_may_start_with_a_dash() {
        let a: Create = parse_words(
            "createuser",
            words("bob -x9!secret b@example.com --show-password"),
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(a.password, "-x9!secret");
        assert!(a.show_password);
        let a: Assign = parse_words("token assign", words("--pin 1234 S1 alice"))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(
            (a.serial.as_deref(), a.user.as_deref(), a.pin.as_deref()),
            (Some("S1"), Some("alice"), Some("1234"))
        );
    }

    #[test]
    fn item16_usage_errors_never_echo_what_was_typed() {
        for typed in [
            "bob s3cretpw",
            "bob s3cretpw b@example.com extra-s3cretpw",
            "bob s3cretpw b@example.com --s3cretpw",
        ] {
            let e = match parse_words::<Create>("createuser", words(typed)) {
                Err(e) => e,
                Ok(_) => unreachable!("{typed} parsed"),
            };
            let Err(CommandError::Usage(m)) = usage_error("createuser", &e) else {
                unreachable!("not a usage error")
            };
            assert!(!m.contains("s3cretpw"), "{m}");
            assert!(m.starts_with("createuser: "), "{m}");
        }
        let CommandError::Usage(m) = unknown(&words("createusr bob s3cretpw b@example.com")) else {
            unreachable!()
        };
        assert!(!m.contains("s3cretpw") && m.contains("createusr"), "{m}");
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
