//! The command registry: every operator command is declared once here with its name (one or more
//! words, e.g. `createuser`, `api createtoken`), typed clap arguments, who may run it
//! ([`Access`]), whom it acts on ([`Targets`] of its arguments) and an async handler. The
//! transports — `keyward manage` locally, `POST /server/management-command/`, `/admin/*`, the
//! REST API — hand it words or named parameters and get an [`Output`] back; [`Registry`] checks
//! the access and the target rule for all of them before a handler runs, and audits every run of
//! a changing command with the target taken from the parsed arguments.

//!
//! Layout: [`declare`] holds the declaration machinery, [`words`] the command-line parsing,
//! [`tree`] the generated clap command tree (help pages, "did you mean"), and this module the
//! registry that resolves, checks, runs and audits; the catalogue of every command is
//! `crate::catalog`.

mod declare;
mod tree;
mod words;

use std::sync::Arc;

use tracing::Instrument;

pub use declare::{
    CommandSpec, Declared, Documented, Input, SecretArg, Undocumented, command, param_command,
};
pub use tree::Preflight;
pub use words::TERMINAL_WIDTH_FLAG;
use words::split_style;

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

    /// Runs the command the words name. `--json` anywhere among the arguments selects JSON
    /// rendering (the returned text is then the pretty JSON), `--output table|json|csv` does on
    /// list commands; `help`, `--help` and a group alone answer their help page. Changing
    /// commands are audited.
    pub async fn run(&self, ctx: &Ctx, words: &[String]) -> Result<Output, CommandError> {
        let spec = match self.preflight(words)? {
            Preflight::Help(out) => return Ok(out),
            Preflight::Run(spec) => spec,
        };
        let (style, words) = split_style(words);
        let args = words
            .get(spec.name.split(' ').count()..)
            .unwrap_or_default();
        let (format, args) = Self::output_format(spec, args, style.format)?;
        let style = words::Style { format, ..style };
        let out = self.traced(ctx, spec, Input::Words(args)).await?;
        words::render_styled(out, style)
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
            .ok_or_else(|| self.unknown(&[name.to_string()]))?;
        self.traced(ctx, spec, Input::Params(params)).await
    }

    /// What the registry would decide for these words, without running the command: access
    /// for the principal, then (for changing commands) the target rule on the parsed
    /// arguments. The authorization tests drive every command through this.
    pub async fn authorize(&self, ctx: &Ctx, words: &[String]) -> Result<(), CommandError> {
        let (spec, args) = self.resolve(words).ok_or_else(|| self.unknown(words))?;
        if !spec.access.allows(&ctx.principal) {
            return Err(access_denied(spec, ctx));
        }
        let targets = (spec.parse_targets)(spec.name, args.to_vec())?;
        if spec.mutates {
            check_targets(ctx, &targets).await?;
            crate::policies::enforce::check_admin_policy(ctx, spec.name, &targets).await?;
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
        let (_, words) = split_style(words);
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
    use super::words::{parse_words, split_format, unknown, usage_error};
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
        assert!(reg.iter().all(|c| !c.examples.is_empty()));
    }

    #[test]
    fn every_example_parses_and_names_its_command() {
        let reg = Registry::standard();
        for spec in reg.iter() {
            for example in &spec.examples {
                let w = shell_words(example);
                let (found, args) = reg
                    .resolve(&w)
                    .unwrap_or_else(|| unreachable!("example {example:?} names no command"));
                assert_eq!(found.name, spec.name, "example {example:?}");
                let (_, args) = split_style(args);
                let (_, args) = Registry::output_format(spec, &args, Format::Text)
                    .unwrap_or_else(|e| unreachable!("{example:?}: {e}"));
                assert!(spec.parses(&args), "example {example:?} does not parse");
            }
        }
    }

    /// Every argument whose name says password, PIN or passphrase is declared secret (so the
    /// CLI can prompt for it and read it from stdin), and every declared secret exists.
    #[test]
    fn every_secret_argument_is_declared() {
        let reg = Registry::standard();
        for spec in reg.iter() {
            let cmd = (spec.clap)();
            for secret in &spec.secrets {
                assert!(
                    cmd.get_arguments().any(|a| a.get_id() == secret.id),
                    "{}: no argument {}",
                    spec.name,
                    secret.id
                );
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str().to_ascii_lowercase();
                let secret_like = id.contains("password")
                    || id.contains("passphrase")
                    || id == "pin"
                    || id.ends_with("pin");
                if secret_like && arg.get_action().takes_values() {
                    assert!(
                        spec.secrets.iter().any(|s| s.id == arg.get_id()),
                        "{}: argument {id} is a secret but not declared with .secret/.new_secret",
                        spec.name
                    );
                }
            }
        }
    }

    /// Splits an example like a shell would for the simple quoting examples use.
    fn shell_words(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quote: Option<char> = None;
        let mut any = false;
        for ch in s.chars() {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => cur.push(c),
                (None, '\'' | '"') => {
                    quote = Some(ch);
                    any = true;
                }
                (None, c) if c.is_whitespace() => {
                    if any || !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                (None, c) => cur.push(c),
            }
        }
        if any || !cur.is_empty() {
            out.push(cur);
        }
        out
    }

    #[test]
    fn typos_get_suggestions_without_echo() {
        let reg = Registry::standard();
        let CommandError::Usage(m) = reg.unknown(&words("createusr bob s3cretpw b@example.com"))
        else {
            unreachable!()
        };
        assert!(m.contains("did you mean \"createuser\""), "{m}");
        assert!(!m.contains("s3cretpw") && !m.contains("bob"), "{m}");
        let CommandError::Usage(m) = reg.unknown(&words("token initt --pin 9876")) else {
            unreachable!()
        };
        assert!(m.contains("\"token init\""), "{m}");
        assert!(!m.contains("9876"), "{m}");
    }

    #[test]
    fn groups_have_help_and_commands_have_examples() {
        let reg = Registry::standard();
        for group in [
            "token",
            "config",
            "config challenge",
            "setup",
            "audit",
            "api",
        ] {
            let w = words(group);
            let Ok(Preflight::Help(out)) = reg.preflight(&[w.clone(), words("--help")].concat())
            else {
                unreachable!("{group} --help")
            };
            assert!(
                out.text.contains(&format!("keyward manage {group}")),
                "{}",
                out.text
            );
            assert!(reg.preflight(&w).is_err(), "{group} alone is a usage error");
        }
        let Ok(Preflight::Help(out)) = reg.preflight(&words("createuser --help")) else {
            unreachable!()
        };
        assert!(
            out.text.contains("Usage: keyward manage createuser"),
            "{}",
            out.text
        );
        assert!(out.text.contains("Examples:"), "{}", out.text);
        assert!(out.text.contains("--password-stdin"), "{}", out.text);
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
