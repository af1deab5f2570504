//! The report of a connection test (`testduoconnection`, `testsaml`): one line per step
//! (`NAME: OK detail`, `NAME: FAILED detail`, `NAME: WARNING detail`) and the same steps as
//! JSON; the test fails when any step failed.

use serde_json::{Value, json};

use crate::output::Output;

/// The steps so far.
#[derive(Default)]
pub(crate) struct CheckReport {
    pub(crate) lines: Vec<String>,
    steps: Vec<Value>,
    pub(crate) failed: bool,
}

impl CheckReport {
    /// A report whose text starts with `heading` (not a step).
    pub(crate) fn headed(heading: String) -> CheckReport {
        CheckReport {
            lines: vec![heading],
            ..Default::default()
        }
    }

    pub(crate) fn step(&mut self, name: &str, ok: bool, detail: impl Into<String>) {
        let detail = detail.into();
        let mark = if ok { "OK" } else { "FAILED" };
        self.lines.push(format!("{name}: {mark} {detail}"));
        self.steps
            .push(json!({ "step": name, "ok": ok, "detail": detail }));
        self.failed |= !ok;
    }

    /// A step that passed with a caveat.
    pub(crate) fn warn(&mut self, name: &str, detail: impl Into<String>) {
        let detail = detail.into();
        self.lines.push(format!("{name}: WARNING {detail}"));
        self.steps
            .push(json!({ "step": name, "ok": true, "warning": true, "detail": detail }));
    }

    /// The output: a failure when a step failed.
    pub(crate) fn finish(self) -> Output {
        let ok = !self.failed;
        let out = Output::new(
            self.lines.join("\n"),
            json!({ "ok": ok, "steps": self.steps }),
        );
        if ok { out } else { out.as_failure() }
    }
}
