//! The command registry: every operator command is declared once here with its name (one or more
//! words, e.g. `createuser`, `api createtoken`), typed clap arguments, who may run it
//! ([`Access`]), whom it acts on ([`Targets`] of its arguments) and an async handler. The
//! transports — `keyward manage` locally, `POST /server/management-command/`, `/admin/*`, the
//! REST API — hand it words or named parameters and get an [`Output`] back; [`Registry`] checks
//! the access and the target rule for all of them before a handler runs, and audits every run of
//! a changing command with the target taken from the parsed arguments.

//!
//! Layout: [`declare`] holds the declaration machinery, [`words`] the command-line parsing, and
//! this module the registry that resolves, checks, runs and audits; the catalogue of every
//! command is `crate::catalog`.

mod declare;
mod words;

use std::sync::Arc;

use serde_json::json;
use tracing::Instrument;

pub use declare::{CommandSpec, Declared, Input, command, param_command};
use words::{render, split_format, unknown};

use crate::access::{Access, check_targets};
use crate::change::AuditDraft;
use crate::context::Ctx;
use crate::output::{CommandError, Output};

/// All commands, looked up by their words.
pub struct Registry {
    commands: Vec<CommandSpec>,
}

impl Registry {
    pub fn new(commands: Vec<CommandSpec>) -> Self {
        Registry { commands }
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
                Err(e) => tracing::info!(error = e.kind().as_str(), "command failed"),
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

#[cfg(test)]
mod tests {
    use super::words::{parse_words, usage_error};
    use super::*;
    use crate::output::Format;

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
