//! Every line the tool prints goes through one [`Reporter`], which `main`
//! makes from `-q`/`-v` and hands to the command: progress and confirmation
//! lines (`say`, left out with `-q`), what a command was asked to show
//! (`show`, always), warnings and failures (`warn`, on stderr), the
//! executor's live status line (drawn by `executor/progress.rs` through
//! [`Reporter::terminal`]), and the rows of the CI step summary. Nothing
//! about output is process-global, so a test runs a command against a
//! recording reporter and reads what it said.
//!
//! `-v` adds every build step's output and every push status line;
//! `--json` documents are built in `json.rs` and printed with `show`.

use std::fmt::{self, Display};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Quiet,
    Normal,
    Verbose,
}

/// One finished step (or check) of a run, as the CI step summary's table
/// shows it.
pub(crate) struct SummaryRow {
    pub(crate) step: String,
    pub(crate) result: String,
}

pub(crate) struct Reporter {
    level: Level,
    sink: Sink,
    /// The steps finished so far, for the CI step summary; `None` when no
    /// summary is wanted (`GITHUB_STEP_SUMMARY` unset).
    rows: Option<Mutex<Vec<SummaryRow>>>,
}

enum Sink {
    /// stdout and stderr.
    Terminal,
    /// Kept in memory, for tests: every line, stderr's prefixed `stderr: `.
    #[cfg(test)]
    Memory(Mutex<Vec<String>>),
}

impl Reporter {
    pub(crate) fn new(level: Level) -> Reporter {
        let rows = std::env::var_os("GITHUB_STEP_SUMMARY").map(|_| Mutex::new(Vec::new()));
        Reporter { level, sink: Sink::Terminal, rows }
    }

    /// A reporter that keeps every line, and every summary row, for a test to read.
    #[cfg(test)]
    pub(crate) fn recording(level: Level) -> Reporter {
        Reporter { level, sink: Sink::Memory(Mutex::default()), rows: Some(Mutex::default()) }
    }

    /// What a recording reporter was told, line by line.
    #[cfg(test)]
    pub(crate) fn lines(&self) -> Vec<String> {
        match &self.sink {
            Sink::Memory(lines) => lines.lock().unwrap().clone(),
            Sink::Terminal => Vec::new(),
        }
    }

    /// Whether progress and confirmation lines are left out (`-q`).
    pub(crate) fn quiet(&self) -> bool {
        self.level == Level::Quiet
    }

    /// Whether every build step and push status line is shown (`-v`).
    pub(crate) fn verbose(&self) -> bool {
        self.level == Level::Verbose
    }

    /// Whether lines reach a terminal (a recording reporter's never do).
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self.sink, Sink::Terminal)
    }

    /// A progress or confirmation line on stdout, left out with `-q`.
    pub(crate) fn say(&self, line: impl Display) {
        if !self.quiet() {
            self.show(line);
        }
    }

    /// A line the command was asked to show, on stdout, whatever the level.
    pub(crate) fn show(&self, line: impl Display) {
        self.text(format_args!("{line}\n"));
    }

    /// Text as it is (a block that ends its own lines), on stdout.
    pub(crate) fn text(&self, text: impl Display) {
        match &self.sink {
            Sink::Terminal => {
                use std::io::Write;
                // A reader that went away ends the process (SIGPIPE), as for any Unix tool.
                let _ = write!(std::io::stdout().lock(), "{text}");
            }
            #[cfg(test)]
            Sink::Memory(lines) => lines.lock().unwrap().extend(text.to_string().lines().map(str::to_string)),
        }
    }

    /// A warning or a failure, on stderr, whatever the level.
    pub(crate) fn warn(&self, line: impl Display) {
        match &self.sink {
            Sink::Terminal => eprintln!("{line}"),
            #[cfg(test)]
            Sink::Memory(lines) => lines.lock().unwrap().push(format!("stderr: {line}")),
        }
    }

    /// Terminal control text (the live status line), on stderr, only when it
    /// is a terminal; nothing is kept of it.
    pub(crate) fn terminal(&self, text: impl Display) {
        if self.is_terminal() {
            eprint!("{text}");
        }
    }

    /// A finished step (or check), for the CI step summary.
    pub(crate) fn record(&self, step: &str, result: &str) {
        if let Some(rows) = &self.rows {
            rows.lock().unwrap().push(SummaryRow { step: step.to_string(), result: result.to_string() });
        }
    }

    /// The rows recorded so far, handed over once, for the summary.
    pub(crate) fn take_rows(&self) -> Vec<SummaryRow> {
        self.rows.as_ref().map(|rows| std::mem::take(&mut *rows.lock().unwrap())).unwrap_or_default()
    }
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reporter({:?})", self.level)
    }
}

/// A progress or confirmation line, left out with `-q`: `say!(out, "wrote {path}")`.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        $out.say(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// A line the command was asked to show: `show!(out, "{name} runs {revision}")`.
macro_rules! show {
    ($out:expr, $($arg:tt)*) => {
        $out.show(format_args!($($arg)*))
    };
}
pub(crate) use show;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_leaves_out_progress_but_not_what_was_asked_for_nor_warnings() {
        let out = Reporter::recording(Level::Quiet);
        say!(out, "wrote {}", "env/dev.env");
        show!(out, "api runs {}", "demo-api:3");
        out.warn("build web FAILED: exit 2");
        out.terminal("\r\x1b[Kbuild web (3s)");
        assert_eq!(out.lines(), ["api runs demo-api:3", "stderr: build web FAILED: exit 2"]);
        let normal = Reporter::recording(Level::Normal);
        say!(normal, "wrote {}", "env/dev.env");
        normal.text("a\nb\n");
        assert_eq!(normal.lines(), ["wrote env/dev.env", "a", "b"]);
    }
}
