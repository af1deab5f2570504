//! Declaring a command: its name, typed arguments (clap, and serde for named parameters), the
//! principals its arguments name ([`Targets`]), who may run it ([`Declared::allow`]) and its
//! handler. A declaration becomes a [`CommandSpec`] only once it names its access.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::words::{parse_words, usage_error};
use crate::access::{Access, Target, Targets, audit_target, check_targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};

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
    pub(super) parse_targets: TargetParser,
    pub(super) run: Runner,
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

/// A command being declared: it becomes a [`CommandSpec`] only once [`Declared::allow`] names
/// who may run it, so no command reaches the registry without an access rule.
pub struct Declared {
    name: &'static str,
    about: &'static str,
    mutates: bool,
    pub(super) files_only: bool,
    clap: fn() -> clap::Command,
    pub(super) parse_targets: TargetParser,
    pub(super) run: Runner,
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
