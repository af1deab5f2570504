//! The whole command tree of the binary — `serve`, `manage` with every registry command, `bench`
//! — for shell completions (clap_complete) and man pages (clap_mangen). Generated from the clap
//! definitions and the registry; it opens no database and loads no settings.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use keyward_commands::Registry;

/// `keyward` with `manage` replaced by the registry's command tree (plus manage's own options).
pub fn cli_tree() -> clap::Command {
    let registry = Registry::standard();
    crate::Cli::command().mut_subcommand("manage", |old| {
        let mut manage = registry.clap_tree();
        // Manage's own options come before the command words (everything after the first word
        // is the command's), so they are not propagated to the commands: a command may use the
        // same short name (`config import -i FILE` beside `manage -i`, insecure).
        for arg in old.get_arguments().filter(|a| !a.is_positional()) {
            manage = manage.arg(arg.clone().global(false));
        }
        manage
    })
}

/// `keyward completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut tree = cli_tree();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut tree, "keyward", &mut out);
    let _ = out.flush();
    ExitCode::SUCCESS
}

/// `keyward manpages DIR`: one page per command (`keyward-manage-token-init.1`, …).
pub fn manpages(dir: &Path) -> ExitCode {
    let mut tree = cli_tree();
    tree.build();
    let mut written = 0usize;
    let result = std::fs::create_dir_all(dir)
        .and_then(|()| write_pages(&tree, "keyward", dir, &mut written));
    match result {
        Ok(()) => {
            println!("wrote {written} man pages to {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write man pages to {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}

fn write_pages(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut usize,
) -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone().name(name.to_string())).render(&mut page)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page)?;
    // Man pages are for everyone to read (the process umask keeps new files private).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))?;
    }
    *written += 1;
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
