//! The report that `pre-push`, `ci check` and `doctor` print: one line per
//! check, its details below it, and for anything wrong the fix, in the style
//! of a flight-rules manual ("when you see this, do that").

use std::fmt::Write as _;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::report::Reporter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    /// Worth knowing, but nothing fails because of it.
    Warn,
    Fail,
    /// Could not be checked, because something it needs failed or was not asked for.
    Skip,
}

/// One finding; with `--json` the fields as they are named here.
#[derive(Debug, Serialize)]
pub(crate) struct Finding {
    pub(crate) status: Status,
    pub(crate) check: &'static str,
    pub(crate) summary: String,
    pub(crate) details: Vec<String>,
    pub(crate) fix: Option<String>,
}

impl Finding {
    pub(crate) fn ok(check: &'static str, summary: impl Into<String>) -> Finding {
        Finding { status: Status::Ok, check, summary: summary.into(), details: Vec::new(), fix: None }
    }

    pub(crate) fn warn(check: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            status: Status::Warn,
            check,
            summary: summary.into(),
            details: Vec::new(),
            fix: Some(fix.into()),
        }
    }

    pub(crate) fn fail(check: &'static str, summary: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            status: Status::Fail,
            check,
            summary: summary.into(),
            details: Vec::new(),
            fix: Some(fix.into()),
        }
    }

    pub(crate) fn skip(check: &'static str, summary: impl Into<String>) -> Finding {
        Finding { status: Status::Skip, check, summary: summary.into(), details: Vec::new(), fix: None }
    }

    /// A failure made of several problems: "N problems", each one a detail.
    pub(crate) fn problems(check: &'static str, problems: Vec<String>, fix: impl Into<String>) -> Finding {
        let n = problems.len();
        Finding::fail(check, format!("{n} problem{}", crate::workspace::plural(n)), fix)
            .with_details(problems)
    }

    pub(crate) fn with_details(mut self, details: Vec<String>) -> Finding {
        self.details = details;
        self
    }

    /// The finding as printed: a status column, the check, what was found;
    /// then the details and the fix, indented under it.
    pub(crate) fn render(&self) -> String {
        let status = match self.status {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        let mut out = format!("{status:<5} {:<17} {}\n", self.check, self.summary);
        for detail in &self.details {
            let _ = writeln!(out, "{:23}{detail}", "");
        }
        if let Some(fix) = &self.fix {
            let _ = writeln!(out, "{:23}fix: {fix}", "");
        }
        out
    }
}

/// Prints one finding as soon as it is known, so a slow check shows what
/// came before it, and records it for the step summary in CI. With `-q` only
/// warnings and failures are printed.
pub(crate) fn print(out: &Reporter, finding: &Finding) {
    let routine = matches!(finding.status, Status::Ok | Status::Skip);
    if !(routine && out.quiet()) {
        out.text(finding.render());
    }
    out.record(finding.check, &finding.summary);
}

/// The verdict over all findings: an error listing the failed checks, with
/// each one's located details kept so CI can annotate their lines.
pub(crate) fn verdict(what: &str, findings: &[Finding]) -> Result<usize> {
    let failed: Vec<&Finding> = findings.iter().filter(|f| f.status == Status::Fail).collect();
    if failed.is_empty() {
        return Ok(findings.len());
    }
    let mut message = format!("{what}: {} of {} checks failed:", failed.len(), findings.len());
    for finding in failed {
        let _ = write!(message, "\n  {}: {}", finding.check, finding.summary);
        for detail in &finding.details {
            let _ = write!(message, "\n  {detail}");
        }
    }
    bail!(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_prints_its_details_and_fix_under_it() {
        let finding = Finding::fail("docker", "cannot reach the Docker Engine", "start it")
            .with_details(vec!["at unix:///nowhere".into()]);
        assert_eq!(
            finding.render(),
            "FAIL  docker            cannot reach the Docker Engine\n\
             \x20                      at unix:///nowhere\n\
             \x20                      fix: start it\n"
        );
    }

    #[test]
    fn the_verdict_fails_on_any_failed_check_and_keeps_located_details() {
        let findings = [
            Finding::ok("git", "clean"),
            Finding::warn("docker", "old", "upgrade"),
            Finding::fail("templates", "1 problem", "fix it")
                .with_details(vec!["templates/a.j2:2: bad".into()]),
        ];
        let error = verdict("pre-push", &findings).unwrap_err().to_string();
        assert_eq!(error, "pre-push: 1 of 3 checks failed:\n  templates: 1 problem\n  templates/a.j2:2: bad");
        assert_eq!(verdict("pre-push", &findings[..2]).unwrap(), 2);
    }
}
