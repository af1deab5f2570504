//! Progress of long local operations (backup, restore): a bar on a terminal (indicatif), a
//! plain line every few seconds when stderr is not a terminal (logs, CI), nothing with
//! `--quiet`. Progress goes to stderr, so the command's own output on stdout stays clean.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the plain-line form reports.
const LINE_EVERY: Duration = Duration::from_secs(2);

enum Shown {
    Bar(indicatif::ProgressBar),
    Lines { last: Instant },
    Quiet,
}

/// One phase of work counted in `unit`s (rows, bytes) towards a known total.
pub struct Progress {
    shown: Shown,
    label: String,
    unit: &'static str,
    total: u64,
    done: u64,
}

impl Progress {
    /// Starts a phase; `quiet` shows nothing, otherwise a bar on a terminal or plain lines.
    pub fn start(label: &str, unit: &'static str, total: u64, quiet: bool) -> Self {
        let shown = if quiet {
            Shown::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("{label} ({unit})"));
            Shown::Bar(bar)
        } else {
            eprintln!("{label}: 0/{total} {unit}");
            Shown::Lines {
                last: Instant::now(),
            }
        };
        Progress {
            shown,
            label: label.to_string(),
            unit,
            total,
            done: 0,
        }
    }

    /// Counts `n` more units done.
    pub fn add(&mut self, n: u64) {
        self.set(self.done + n);
    }

    /// Sets how many units are done.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        match &mut self.shown {
            Shown::Bar(bar) => bar.set_position(self.done),
            Shown::Lines { last } if last.elapsed() >= LINE_EVERY => {
                *last = Instant::now();
                eprintln!("{}", self.line());
            }
            Shown::Lines { .. } | Shown::Quiet => {}
        }
    }

    fn line(&self) -> String {
        let pct = (self.done * 100).checked_div(self.total).unwrap_or(100);
        format!(
            "{}: {}/{} {} ({pct}%)",
            self.label, self.done, self.total, self.unit
        )
    }

    /// Ends the phase (the bar is cleared; plain lines end with the final count).
    pub fn finish(self) {
        match &self.shown {
            Shown::Bar(bar) => bar.finish_and_clear(),
            Shown::Lines { .. } => eprintln!("{}", self.line()),
            Shown::Quiet => {}
        }
    }
}
