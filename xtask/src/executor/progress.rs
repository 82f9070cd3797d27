//! The one status line at the bottom of a terminal, and the lines printed
//! above it as steps finish.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::plan::Step;
use crate::report::Reporter;

/// One status line at the bottom of a terminal, redrawn in place, saying
/// what each running step is doing. Off when stderr is not a terminal or in
/// CI, where output stays plain lines; there, a step still running prints a
/// heartbeat line every `heartbeat`, so a long build is never silent.
pub(crate) struct Progress<'r> {
    out: &'r Reporter,
    live: bool,
    /// `-q`: no status line, heartbeat or line per finished step; failures still print.
    quiet: bool,
    heartbeat: Duration,
    steps: std::sync::Mutex<BTreeMap<String, Running>>,
}

/// A step under way, as the status line and the heartbeat show it.
struct Running {
    since: Instant,
    status: String,
    last_beat: Instant,
}

/// How often a step still running says so in plain output:
/// `XTASK_HEARTBEAT` (a duration), else every 30 s.
fn heartbeat() -> Duration {
    crate::duration::from_env("XTASK_HEARTBEAT").filter(|d| !d.is_zero()).unwrap_or(Duration::from_secs(30))
}

/// `2m10s`, `45s`: how long a step has run.
fn elapsed(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds}s")
    }
}

/// What a step is doing while it runs, from its verb.
fn doing(step: &str) -> &'static str {
    match step.split(' ').next().unwrap_or_default() {
        "prebuild" => "running its prebuild",
        "build" => "building",
        "push" => "pushing",
        "locate" => "looking for the image",
        "register" => "registering",
        "deploy" => "deploying",
        "wait" => "waiting for the rollout",
        _ => "running",
    }
}

impl<'r> Progress<'r> {
    pub(crate) fn new(out: &'r Reporter) -> Progress<'r> {
        use std::io::IsTerminal;
        Progress {
            out,
            live: out.is_terminal()
                && std::io::stderr().is_terminal()
                && !crate::ci::active()
                && !out.quiet(),
            quiet: out.quiet(),
            heartbeat: heartbeat(),
            steps: Default::default(),
        }
    }

    pub(crate) fn start(&self, step: &Step) {
        let now = Instant::now();
        self.steps
            .lock()
            .unwrap()
            .insert(step.to_string(), Running { since: now, status: String::new(), last_beat: now });
    }

    /// How long a running step has run.
    pub(crate) fn age(&self, step: &Step) -> Duration {
        self.steps.lock().unwrap().get(&step.to_string()).map_or(Duration::ZERO, |r| r.since.elapsed())
    }

    pub(crate) fn update(&self, step: &str, status: &str) {
        if let Some(entry) = self.steps.lock().unwrap().get_mut(step) {
            entry.status = status.to_string();
        }
    }

    /// In plain output, a line for each step that has run a heartbeat
    /// longer since it last said anything: `build web  still building (2m10s)`.
    pub(crate) fn beat(&self) {
        if self.live || self.quiet {
            return;
        }
        let mut steps = self.steps.lock().unwrap();
        for (step, running) in steps.iter_mut() {
            if running.last_beat.elapsed() >= self.heartbeat {
                running.last_beat = Instant::now();
                let status =
                    if running.status.is_empty() { String::new() } else { format!(": {}", running.status) };
                let line = format!(
                    "{step:<18} still {}{status} ({})",
                    doing(step),
                    elapsed(running.since.elapsed())
                );
                self.out.say(line);
            }
        }
    }

    /// Prints a finished step's line above the status line.
    pub(crate) fn finish(&self, step: &Step, line: &str, failed: bool) {
        self.steps.lock().unwrap().remove(&step.to_string());
        self.erase();
        if failed {
            self.out.warn(line);
        } else {
            self.out.say(line);
        }
        self.draw();
    }

    /// Prints a line above the status line.
    pub(crate) fn line(&self, line: &str) {
        self.erase();
        self.out.show(line);
        self.draw();
    }

    /// The reporter the lines go to.
    pub(crate) fn out(&self) -> &'r Reporter {
        self.out
    }

    pub(crate) fn erase(&self) {
        if self.live {
            self.out.terminal("\r\x1b[K");
        }
    }

    pub(crate) fn draw(&self) {
        if !self.live {
            return;
        }
        let steps = self.steps.lock().unwrap();
        let parts: Vec<String> = steps
            .iter()
            .map(|(step, running)| {
                let status: String = running.status.chars().take(40).collect();
                let status = if status.is_empty() { String::new() } else { format!(": {status}") };
                format!("{step}{status} ({}s)", running.since.elapsed().as_secs())
            })
            .collect();
        // A line wider than the terminal wraps, and `\r` would then redraw
        // only its tail, leaving the rest behind as garbage lines.
        let width = terminal_width().unwrap_or(80);
        let line: String = parts.join(" | ").chars().take(width.saturating_sub(1)).collect();
        self.out.terminal(format_args!("\r\x1b[K{line}"));
    }
}

/// The width of the terminal stderr is on, from the terminal itself (the
/// shell's `COLUMNS` is not exported to programs, and is stale after a resize).
fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct passed, and
    // fails without writing when stderr is not a terminal.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let answered = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
    (answered == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}
