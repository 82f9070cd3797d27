//! Running under CI: plain output, errors as GitHub Actions annotations, and
//! a Markdown summary appended to `$GITHUB_STEP_SUMMARY`.
//!
//! Every command goes through here when it fails, so an error that names a
//! file and line (`templates/web.env.j2:2: ...`) shows up on that line of a
//! pull request, whichever command produced it.

use crate::report::{Reporter, SummaryRow};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

/// Whether this process runs in CI: `CI=true` (or `1`), as GitHub Actions,
/// GitLab and most others set it.
pub(crate) fn active() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// A place in a file that an error names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Location<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u32,
    pub(crate) column: Option<u32>,
    pub(crate) message: &'a str,
}

/// Reads `path:line: message` or `path:line:col: message` off the start of
/// a line, the form every located error of the tool (and of rustc's short
/// messages) takes. The path must look like one: no spaces, not a URL.
pub(crate) fn locate(line: &str) -> Option<Location<'_>> {
    let line = line.trim_start();
    let (head, message) = line.split_once(": ")?;
    let mut parts = head.split(':');
    let file = parts.next()?;
    let number = parts.next()?.parse().ok()?;
    let column = match parts.next() {
        Some(c) => Some(c.parse().ok()?),
        None => None,
    };
    if parts.next().is_some() || file.is_empty() || file.contains(char::is_whitespace) {
        return None;
    }
    Some(Location { file, line: number, column, message })
}

/// The `::error` workflow commands for a failure: one per line that names a
/// file and line (shown on that line of the diff), and one carrying the
/// whole message (shown on the run's page).
pub(crate) fn annotations(title: &str, message: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in message.lines() {
        if let Some(at) = locate(line) {
            let column = at.column.map(|c| format!(",col={c}")).unwrap_or_default();
            out.push(format!(
                "::error file={},line={}{column},title={}::{}",
                escape_property(at.file),
                at.line,
                escape_property(title),
                escape_data(at.message)
            ));
        }
    }
    out.push(format!("::error title={}::{}", escape_property(title), escape_data(message)));
    out
}

/// Prints the annotations for a failure when running in CI.
pub(crate) fn annotate(out: &Reporter, title: &str, message: &str) {
    if active() {
        for line in annotations(title, message) {
            out.show(line);
        }
    }
}

/// Workflow command data: `%`, CR and LF are escaped, so a multi-line
/// message stays one annotation.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Workflow command properties also escape `:` and `,`, their separators.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Appends the run's summary to `$GITHUB_STEP_SUMMARY`, when it is set: a
/// heading with the outcome and time, the steps (as the reporter recorded
/// them), and the error if any.
pub(crate) fn write_summary(
    title: &str,
    elapsed: Duration,
    error: Option<&str>,
    rows: &[SummaryRow],
) -> anyhow::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    let text = summary_markdown(title, elapsed, error, rows);
    append(Path::new(&path), &text)
}

fn summary_markdown(title: &str, elapsed: Duration, error: Option<&str>, rows: &[SummaryRow]) -> String {
    let verdict = if error.is_some() { "failed" } else { "passed" };
    let mut text = format!("### `{title}`: {verdict} in {:.1}s\n\n", elapsed.as_secs_f64());
    if !rows.is_empty() {
        text += "| step | result |\n|---|---|\n";
        for row in rows {
            let _ = writeln!(text, "| {} | {} |", cell(&row.step), cell(&row.result));
        }
        text += "\n";
    }
    if let Some(error) = error {
        let _ = write!(text, "```text\nerror: {error}\n```\n\n");
    }
    text
}

/// A Markdown table cell: one line, and no `|` that would end it early.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open the step summary {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("write the step summary {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_read_from_tool_and_compiler_messages() {
        assert_eq!(
            locate("  templates/web.env.j2:2: undefined value"),
            Some(Location {
                file: "templates/web.env.j2",
                line: 2,
                column: None,
                message: "undefined value"
            })
        );
        assert_eq!(
            locate("src/main.rs:4:9: error: unused variable"),
            Some(Location {
                file: "src/main.rs",
                line: 4,
                column: Some(9),
                message: "error: unused variable"
            })
        );
        assert_eq!(locate("cannot start, nothing was changed:"), None);
        assert_eq!(locate("http://host:80: refused"), None);
        assert_eq!(locate("process variable X is not set: export it"), None);
    }

    #[test]
    fn annotations_escape_what_would_break_them() {
        let lines = annotations(
            "cargo xtask dev-env",
            "2 template problems found:\n  templates/a,b.j2:3: 100% wrong\n  other",
        );
        assert_eq!(
            lines,
            [
                "::error file=templates/a%2Cb.j2,line=3,title=cargo xtask dev-env::100%25 wrong",
                "::error title=cargo xtask dev-env::2 template problems found:%0A  templates/a,b.j2:3: 100%25 \
                 wrong%0A  other",
            ]
        );
    }

    #[test]
    fn the_summary_lists_steps_and_the_error() {
        let rows = [SummaryRow { step: "build api".into(), result: "built a|b".into() }];
        let text = summary_markdown("cargo xtask ci build", Duration::from_millis(1500), Some("boom"), &rows);
        assert_eq!(
            text,
            "### `cargo xtask ci build`: failed in 1.5s\n\n| step | result |\n|---|---|\n\
             | build api | built a\\|b |\n\n```text\nerror: boom\n```\n\n"
        );
    }
}
