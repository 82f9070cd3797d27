//! How much the tool says, the same on every command: `-q` leaves out
//! progress and confirmation lines (what a command was asked to show, every
//! warning and every error still print); `-v` adds every build step's output
//! and every push status line. `--json` documents are built in `json.rs`.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Quiet = 0,
    Normal = 1,
    Verbose = 2,
}

/// Set once by `main` from the command line, before any thread starts, and
/// only read afterwards: every part of the tool prints at the same level.
static LEVEL: AtomicU8 = AtomicU8::new(Level::Normal as u8);

pub(crate) fn set(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Level::Quiet,
        2 => Level::Verbose,
        _ => Level::Normal,
    }
}

/// Whether progress and confirmation lines are left out (`-q`).
pub(crate) fn quiet() -> bool {
    level() == Level::Quiet
}

/// Whether every build step and push status line is shown (`-v`).
pub(crate) fn verbose() -> bool {
    level() == Level::Verbose
}

/// A progress or confirmation line on stdout, left out with `-q`.
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::output::quiet() {
            println!($($arg)*);
        }
    };
}
pub(crate) use say;
