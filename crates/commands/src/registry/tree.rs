//! The `keyward manage` command tree, generated from the registry: one clap command per
//! registry command (its arguments, description, examples, secret flags and access), grouped by
//! the words of its name (`token`, `config`, `config challenge`, …). It renders every help page —
//! of `manage`, of a group, of a command — and feeds shell completions and man pages. Nothing here
//! opens a database or touches a file: help works anywhere.
//!
//! [`Registry::preflight`] decides, before anything runs, whether words ask for help, name a
//! command, or are a mistake (then "did you mean", naming only the mistyped command words).

use clap::{Arg, ArgAction, Command};
use serde_json::json;

use super::Registry;
use super::declare::{CommandSpec, SecretArg};
use super::words::{render, split_format};
use crate::output::{CommandError, Format, Output};

/// Descriptions of the groups (the leading words shared by several commands).
const GROUPS: &[(&str, &str)] = &[
    (
        "token",
        "OTP tokens: enrol, assign, list, resync (LinOTP's /admin/* operations)",
    ),
    (
        "config",
        "Runtime settings stored in the database (registration, API keys, challenges)",
    ),
    ("config challenge", "Challenge-response transactions"),
    ("setup", "The encryption key that seals OTP seeds"),
    ("audit", "The signed, hash-chained audit log"),
    ("api", "API keys for the HTTP APIs"),
];

/// The one line shown for `manage` itself.
const MANAGE_ABOUT: &str =
    "Run an operator command locally on the database, or remotely with --remote";

/// Why a word names no command, for the did-you-mean search.
const SIMILARITY: f64 = 0.8;

impl CommandSpec {
    /// The last word of the command's name (its clap subcommand name).
    pub fn leaf_word(&self) -> &'static str {
        self.name.rsplit(' ').next().unwrap_or(self.name)
    }

    /// The flag stem of a secret argument: its long name, or its id in kebab case (`pin`,
    /// `pskc-password`, `password`), used as `--<stem>-stdin` and `--<stem>-prompt`.
    pub fn secret_stem(&self, secret: &SecretArg) -> String {
        (self.clap)()
            .get_arguments()
            .find(|a| a.get_id() == secret.id)
            .and_then(|a| a.get_long().map(String::from))
            .unwrap_or_else(|| secret.id.replace('_', "-"))
    }

    /// The command's own clap command as the CLI shows it: arguments, description, the secret
    /// flags the CLI adds, `--json` (and `--output` for list commands), examples and who may run
    /// it. Used for help, completions and man pages, never for parsing.
    pub fn cli_command(&self) -> Command {
        let mut cmd = (self.clap)()
            .name(self.leaf_word())
            .about(self.about)
            .long_about(None::<&str>)
            .version(None::<&str>);
        for secret in &self.secrets {
            let stem = self.secret_stem(secret);
            let what = stem.replace('-', " ");
            cmd = cmd
                .arg(
                    Arg::new(format!("{stem}-stdin"))
                        .long(format!("{stem}-stdin"))
                        .action(ArgAction::SetTrue)
                        .help(format!("Read the {what} from standard input (one line)")),
                )
                .arg(
                    Arg::new(format!("{stem}-prompt"))
                        .long(format!("{stem}-prompt"))
                        .action(ArgAction::SetTrue)
                        .help(format!(
                            "Prompt for the {what} on the terminal, without echo"
                        )),
                );
        }
        cmd = cmd.arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print the result as JSON"),
        );
        if self.lists {
            cmd = cmd.arg(
                Arg::new("output")
                    .long("output")
                    .value_name("FORMAT")
                    .value_parser(["table", "json", "csv"])
                    .help("Output format (table: fitted to the terminal)"),
            );
        }
        cmd.after_help(self.after_help())
    }

    fn after_help(&self) -> String {
        let mut text = String::from("Examples:\n");
        for e in &self.examples {
            text.push_str(&format!("  keyward manage {e}\n"));
        }
        for secret in &self.secrets {
            let stem = self.secret_stem(secret);
            let required = (self.clap)()
                .get_arguments()
                .any(|a| a.get_id() == secret.id && a.is_positional() && a.is_required_set());
            let left_out = if required {
                "; left out on a terminal, it is asked for"
            } else {
                ""
            };
            let twice = if secret.new { " (twice)" } else { "" };
            text.push_str(&format!(
                "\nSecret {}: --{stem}-stdin reads it from standard input, --{stem}-prompt asks \
                 for it without echo{twice}{left_out}; never printed.\n",
                stem.to_uppercase()
            ));
        }
        text.push_str(&format!("\nWho may run it: {}", self.access.describe()));
        text
    }
}

/// One node of the name tree: a group of commands, a command, or both.
#[derive(Default)]
struct Node<'a> {
    spec: Option<&'a CommandSpec>,
    children: Vec<(&'static str, Node<'a>)>,
}

impl<'a> Node<'a> {
    fn insert(&mut self, words: &[&'static str], spec: &'a CommandSpec) {
        match words.split_first() {
            None => self.spec = Some(spec),
            Some((first, rest)) => {
                let i = match self.children.iter().position(|(w, _)| w == first) {
                    Some(i) => i,
                    None => {
                        self.children.push((first, Node::default()));
                        self.children.len() - 1
                    }
                };
                self.children[i].1.insert(rest, spec);
            }
        }
    }

    fn child(&self, word: &str) -> Option<&Node<'a>> {
        self.children
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, n)| n)
    }

    fn to_command(&self, path: &str) -> Command {
        let word = path.rsplit(' ').next().unwrap_or(path).to_string();
        let mut cmd = match self.spec {
            Some(spec) => spec.cli_command(),
            None => Command::new(word)
                .about(group_about(path))
                .subcommand_required(true)
                .disable_help_subcommand(true)
                .after_help(format!(
                    "Run `keyward manage {path} COMMAND --help` for one command's help."
                )),
        };
        for (w, child) in &self.children {
            cmd = cmd.subcommand(child.to_command(&format!("{path} {w}")));
        }
        cmd
    }
}

fn group_about(path: &str) -> String {
    GROUPS
        .iter()
        .find(|(g, _)| *g == path)
        .map(|(_, about)| about.to_string())
        .unwrap_or_else(|| format!("Commands under `{path}`"))
}

/// What [`Registry::preflight`] found the words to be.
pub enum Preflight<'a> {
    /// A help page (of `manage`, a group or a command), rendered as asked (`--json`).
    Help(Output),
    /// A command to run, with all the words (the format flags included).
    Run(&'a CommandSpec),
}

/// Whether the arguments ask for help (`-h`/`--help` before any `--`).
fn asks_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-h" || a == "--help")
}

impl Registry {
    fn node_tree(&self) -> Node<'_> {
        let mut root = Node::default();
        for spec in &self.commands {
            let words: Vec<&'static str> = spec.name.split(' ').collect();
            root.insert(&words, spec);
        }
        root
    }

    /// The `manage` command with every registry command below it, grouped by name. Its usage
    /// lines read `keyward manage …`; the binary adds its own options (`--remote`, …).
    pub fn clap_tree(&self) -> Command {
        let root = self.node_tree();
        // The page of `manage` lists every command by its full name, not just the first words.
        let width = self
            .commands
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        let mut list = String::new();
        for c in &self.commands {
            list.push_str(&format!("  {:width$}  {}\n", c.name, c.about));
        }
        let template = format!(
            "{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\nCommands (run locally, or \
             remotely with --remote URL):\n{}\nOptions:\n{{options}}{{after-help}}",
            list
        );
        let mut cmd = Command::new("manage")
            .bin_name("keyward manage")
            .about(MANAGE_ABOUT)
            .help_template(template)
            .disable_help_subcommand(true)
            .after_help(
                "Run `keyward manage COMMAND --help` (or `keyward manage help COMMAND`) for one \
                 command's help; `--json` works on every command.",
            );
        for (w, child) in &root.children {
            cmd = cmd.subcommand(child.to_command(w));
        }
        cmd
    }

    /// The help page of the command or group the words name (`[]`: all of `manage`).
    fn help_page(&self, words: &[String]) -> Option<(String, serde_json::Value)> {
        let mut tree = self.clap_tree();
        tree.build();
        if words.is_empty() {
            let list: Vec<_> = self
                .commands
                .iter()
                .map(|c| json!({ "name": c.name, "about": c.about, "access": c.access.describe() }))
                .collect();
            let text = tree.render_help().to_string();
            return Some((text.clone(), json!({ "commands": list, "help": text })));
        }
        let mut cmd = &mut tree;
        for w in words {
            cmd = cmd.find_subcommand_mut(w)?;
        }
        let text = cmd.render_help().to_string();
        let path = words.join(" ");
        let value = match self.spec(&path) {
            Some(spec) => {
                json!({ "command": spec.name, "help": text, "access": spec.access.describe() })
            }
            None => {
                let names: Vec<&str> = self
                    .commands
                    .iter()
                    .filter(|c| c.name.starts_with(&format!("{path} ")))
                    .map(|c| c.name)
                    .collect();
                json!({ "group": path, "help": text, "commands": names })
            }
        };
        Some((text, value))
    }

    /// The text of `keyward manage help [COMMAND…]`: the command list, a group's commands, or
    /// one command's help (arguments, examples, who may run it).
    pub fn help(&self, words: &[String]) -> Result<Output, CommandError> {
        let path: Vec<String> = match self.resolve(words) {
            Some((spec, _)) => spec.name.split(' ').map(String::from).collect(),
            None => words.to_vec(),
        };
        let (text, value) = self.help_page(&path).ok_or_else(|| self.unknown(words))?;
        Ok(Output::new(text, value))
    }

    /// Decides what the words are before anything runs (no database, no network): a request
    /// for help (`help …`, `--help` on a command or group, a group alone), a command to run,
    /// or an unknown command (a usage error with suggestions). `keyward manage` and every
    /// transport of words go through this.
    pub fn preflight(&self, words: &[String]) -> Result<Preflight<'_>, CommandError> {
        let (format, words) = split_format(words);
        let help = |w: &[String]| self.help(w).map(|o| Preflight::Help(render(o, format)));
        match words.first().map(String::as_str) {
            None => return help(&[]),
            Some("help" | "--help" | "-h") => return help(&words[1..]),
            _ => {}
        }
        if let Some((spec, args)) = self.resolve(&words) {
            if asks_help(args) {
                return help(&words[..words.len() - args.len()]);
            }
            return Ok(Preflight::Run(spec));
        }
        // A group: its help (exit 0 when asked for, a usage error listing it when not).
        let (path, asked) = match words.last().map(String::as_str) {
            Some("--help" | "-h" | "help") => (&words[..words.len() - 1], true),
            _ => (&words[..], false),
        };
        let root = self.node_tree();
        let is_group = !path.is_empty()
            && path
                .iter()
                .try_fold(&root, |node, w| node.child(w))
                .is_some_and(|n| n.spec.is_none());
        if is_group {
            if asked {
                return help(path);
            }
            let (text, _) = self.help_page(path).unwrap_or_default();
            return Err(CommandError::Usage(format!(
                "`{}` needs a command:\n\n{}",
                path.join(" "),
                text.trim_end()
            )));
        }
        Err(self.unknown(&words))
    }

    /// "Unknown command", naming only the command words typed (never what follows them: a
    /// mistyped `createuser` still carries a password), with the closest command names.
    pub fn unknown(&self, words: &[String]) -> CommandError {
        let root = self.node_tree();
        let mut node = &root;
        let mut known = Vec::new();
        for w in words {
            match node.child(w) {
                Some(n) if !n.children.is_empty() && n.spec.is_none() => {
                    known.push(w.as_str());
                    node = n;
                }
                _ => break,
            }
        }
        let Some(typed) = words.get(known.len()) else {
            return super::words::unknown(words);
        };
        if typed.starts_with('-') || typed.is_empty() {
            return super::words::unknown(words);
        }
        let prefix = |w: &str| {
            let mut all = known.clone();
            all.push(w);
            all.join(" ")
        };
        let mut close: Vec<(f64, String)> = node
            .children
            .iter()
            .map(|(w, _)| (strsim::jaro_winkler(typed, w), prefix(w)))
            .filter(|(score, _)| *score >= SIMILARITY)
            .collect();
        // The same word in another group (`init` for `token init`).
        for c in &self.commands {
            if c.leaf_word() == typed && !close.iter().any(|(_, n)| n == c.name) {
                close.push((1.0, c.name.to_string()));
            }
        }
        close.sort_by(|a, b| b.0.total_cmp(&a.0));
        let shown: String = prefix(typed).chars().take(80).collect();
        let hint = match close.first() {
            Some((_, name)) => format!(" (did you mean \"{name}\"?)"),
            None => String::new(),
        };
        CommandError::Usage(format!(
            "unknown command {shown:?}{hint}; see `keyward manage help`"
        ))
    }

    /// The output format asked for on a list command (`--output table|json|csv`), and the
    /// arguments without that option. Commands that print no table keep `--output` as theirs.
    pub(super) fn output_format(
        spec: &CommandSpec,
        args: &[String],
        format: Format,
    ) -> Result<(Format, Vec<String>), CommandError> {
        if !spec.lists {
            return Ok((format, args.to_vec()));
        }
        let mut format = format;
        let mut rest = Vec::with_capacity(args.len());
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--" {
                rest.push(a.clone());
                rest.extend(it.by_ref().cloned());
                break;
            }
            let value = if a == "--output" {
                it.next().map(String::as_str)
            } else if let Some(v) = a.strip_prefix("--output=") {
                Some(v)
            } else {
                rest.push(a.clone());
                continue;
            };
            format = match value {
                Some("table") => Format::Text,
                Some("json") => Format::Json,
                Some("csv") => Format::Csv,
                _ => {
                    return Err(CommandError::Usage(format!(
                        "{}: --output takes table, json or csv",
                        spec.name
                    )));
                }
            };
        }
        Ok((format, rest))
    }
}
