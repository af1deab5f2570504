//! Declaring a command: its name, one-line description, typed arguments (clap, and serde for
//! named parameters), the principals its arguments name ([`Targets`]), its examples
//! ([`Declared::example`]), its secret arguments ([`Declared::secret`]), who may run it
//! ([`Declared::allow`]) and its handler. A declaration becomes a [`CommandSpec`] only once it has
//! at least one example and names its access: both are checked by the compiler.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use super::words::{parse_words, usage_error};
use crate::access::{Access, Target, Targets, audit_target, check_targets};
use crate::context::Ctx;
use crate::output::{CommandError, Output};
use crate::policies::enforce::check_admin_policy;

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
    /// Example command lines, each the words after `keyward manage` (at least one).
    pub examples: Vec<&'static str>,
    /// Arguments holding a password, PIN or passphrase: the CLI may prompt for them or read
    /// them from stdin (`--<name>-stdin`); they are never echoed.
    pub secrets: Vec<SecretArg>,
    /// Whether the command prints a table (then `--output table|json|csv` applies).
    pub lists: bool,
    /// Parses command-line arguments into the principals the command would act on.
    pub(super) parse_targets: TargetParser,
    pub(super) run: Runner,
}

/// A secret argument of a command (see [`Declared::secret`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretArg {
    /// The clap id of the argument (the field name).
    pub id: &'static str,
    /// Whether it sets a new secret: a prompt then asks twice.
    pub new: bool,
}

impl CommandSpec {
    /// Whether command-line arguments parse for this command (nothing runs).
    pub fn parses(&self, args: &[String]) -> bool {
        super::words::parses((self.clap)(), self.name, args)
    }
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

/// Marks a declaration that has no example yet: it cannot be completed with `allow`.
pub struct Undocumented;
/// Marks a declaration with at least one example.
pub struct Documented;

/// A command being declared: it becomes a [`CommandSpec`] only once it has an example
/// ([`Declared::example`]) and [`Declared::allow`] names who may run it, so no command reaches
/// the registry without help or an access rule (`allow` exists only on `Declared<Documented>`).
pub struct Declared<D = Undocumented> {
    name: &'static str,
    about: &'static str,
    mutates: bool,
    pub(super) files_only: bool,
    clap: fn() -> clap::Command,
    examples: Vec<&'static str>,
    secrets: Vec<SecretArg>,
    lists: bool,
    pub(super) parse_targets: TargetParser,
    pub(super) run: Runner,
    doc: PhantomData<D>,
}

/// Parses, checks the target rule and the admin policies, then runs the handler.
async fn run_parsed<A, F, Fut>(
    ctx: Ctx,
    name: &'static str,
    parsed: A,
    handler: &F,
    enforce: bool,
) -> Ran
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
    if enforce && let Err(e) = check_admin_policy(&ctx, name, &targets).await {
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
                    Box::pin(async move { run_parsed(ctx, name, parsed, &*handler, enforce).await })
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
        examples: Vec::new(),
        secrets: Vec::new(),
        lists: false,
        parse_targets: targets_from_words::<A>,
        run,
        doc: PhantomData,
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
                Box::pin(async move { run_parsed(ctx, name, parsed, &*handler, enforce).await })
            }
            Err(e) => Box::pin(async move { (String::new(), Err(e)) }),
        },
    });
    declared
}

impl<D> Declared<D> {
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

    /// Adds an example: the words after `keyward manage`, e.g. `"createuser alice … a@example.com"`
    /// (shown under "Examples:" in the command's help; the first one is required).
    pub fn example(self, words: &'static str) -> Declared<Documented> {
        let mut examples = self.examples;
        examples.push(words);
        Declared {
            name: self.name,
            about: self.about,
            mutates: self.mutates,
            files_only: self.files_only,
            clap: self.clap,
            examples,
            secrets: self.secrets,
            lists: self.lists,
            parse_targets: self.parse_targets,
            run: self.run,
            doc: PhantomData,
        }
    }

    /// Declares the argument `id` (its clap id, the field name) a password, PIN or passphrase
    /// that is checked against a stored one: `keyward manage` prompts for it without echo when it
    /// is a required positional left out (or with `--<name>-prompt`), or reads it with
    /// `--<name>-stdin`.
    pub fn secret(mut self, id: &'static str) -> Self {
        self.secrets.push(SecretArg { id, new: false });
        self
    }

    /// Like [`Declared::secret`], for an argument that sets a new secret: a prompt asks twice.
    pub fn new_secret(mut self, id: &'static str) -> Self {
        self.secrets.push(SecretArg { id, new: true });
        self
    }

    /// Marks a list command: it prints a table, so `--output table|json|csv` applies.
    pub fn lists(mut self) -> Self {
        self.lists = true;
        self
    }
}

impl Declared<Documented> {
    /// Names who may run the command, completing its declaration.
    pub fn allow(self, access: Access) -> CommandSpec {
        CommandSpec {
            name: self.name,
            about: self.about,
            mutates: self.mutates,
            files_only: self.files_only,
            access,
            clap: self.clap,
            examples: self.examples,
            secrets: self.secrets,
            lists: self.lists,
            parse_targets: self.parse_targets,
            run: self.run,
        }
    }
}
