//! Running a plan: every step starts once the steps it depends on are done,
//! at most `jobs` at a time. A failed step stops only what depends on it;
//! everything else finishes, so a rerun continues from there (finished
//! steps skip themselves). A stop signal cancels the steps under way and
//! starts nothing more.
//!
//! The scheduler knows steps only through [`StepRunner`], so its decisions
//! are tested with a scripted runner (below) in milliseconds, while the real
//! runner (`executor::Executor`) is tested against real parts.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{bail, Result};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::progress::Progress;
use crate::exit;
use crate::plan::{Plan, Step};
use crate::report::say;
use crate::workspace::plural;

/// What a step did.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done(String),
    Skipped(String),
}

/// A step's outcome, and its output for the steps that depend on it.
pub(crate) struct Finished<O> {
    pub(crate) outcome: Outcome,
    pub(crate) output: O,
}

/// How a run went, for the command's last line.
#[derive(Debug)]
pub(crate) struct Summary {
    /// Steps that changed something (built, pushed, registered, deployed...).
    pub(crate) changed: usize,
}

/// Carries out one step of a plan.
pub(crate) trait StepRunner {
    /// What a step hands to the steps that depend on it.
    type Output;

    /// Runs node `index` of the plan, `step`, with the outputs of the steps
    /// it depends on, in the order of its dependencies.
    fn run(
        &self,
        index: usize,
        step: &Step,
        inputs: &[Rc<Self::Output>],
    ) -> impl Future<Output = Result<Finished<Self::Output>>>;

    /// What the last line advises when a deployment failed (a rerun would
    /// deploy the same thing again).
    fn after_failed_deployment(&self, _code: u8) -> &'static str {
        AFTER_FAILED_RELEASE
    }
}

/// The advice after a release whose deployment failed and was rolled back.
pub(crate) const AFTER_FAILED_RELEASE: &str = "The failed release is recorded in the service's history; fix the \
     cause, commit and release again, or stay where the rollback left it (`cargo xtask history` shows the releases)";

/// Where a stop comes from: SIGINT or SIGTERM in the tool ([`Signals`]), a
/// timer in the tests. Answers the signal's name and the exit code a shell
/// gives a process it ended (128 + the signal number).
pub(crate) trait Stop {
    fn recv(&mut self) -> impl Future<Output = (&'static str, u8)>;
}

/// SIGINT (Ctrl-C) and SIGTERM (what CI runners and `kill` send), caught
/// while a plan runs so that it stops between steps and says where it stopped.
pub(crate) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn listen() -> Result<Signals> {
        use anyhow::Context as _;
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("listen for Ctrl-C")?,
            term: signal(SignalKind::terminate()).context("listen for SIGTERM")?,
        })
    }
}

impl Stop for Signals {
    async fn recv(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.int.recv() => ("SIGINT", 130),
            _ = self.term.recv() => ("SIGTERM", 143),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Waiting,
    Running,
    Succeeded,
    Failed,
    /// Never started: something it depends on failed.
    Blocked,
}

/// A step under way, answering with its index in the plan.
type RunningStep<'a, O> = Pin<Box<dyn Future<Output = (usize, Result<Finished<O>>)> + 'a>>;

/// Runs every step of the plan; returns an error naming the steps that
/// failed or could not start, or where a stop left the run.
pub(crate) async fn run<R: StepRunner>(
    plan: &Plan,
    runner: &R,
    jobs: usize,
    progress: &Progress<'_>,
    mut stop: impl Stop,
) -> Result<Summary> {
    let started = std::time::Instant::now();
    let mut state = vec![State::Waiting; plan.nodes.len()];
    let mut running: FuturesUnordered<RunningStep<'_, R::Output>> = FuturesUnordered::new();
    // Each finished step's output, handed to the steps that depend on it.
    let mut outputs: Vec<Option<Rc<R::Output>>> = (0..plan.nodes.len()).map(|_| None).collect();
    let (mut changed, mut exit_code) = (0, 0u8);
    loop {
        // Start what is ready, in plan order, up to the bound.
        for i in 0..plan.nodes.len() {
            if running.len() >= jobs.max(1) {
                break;
            }
            if state[i] != State::Waiting {
                continue;
            }
            let deps = &plan.nodes[i].deps;
            if deps.iter().any(|&d| matches!(state[d], State::Failed | State::Blocked)) {
                state[i] = State::Blocked;
                continue;
            }
            if deps.iter().all(|&d| state[d] == State::Succeeded) {
                state[i] = State::Running;
                let step = &plan.nodes[i].step;
                progress.start(step);
                let inputs: Vec<Rc<R::Output>> = deps.iter().filter_map(|&d| outputs[d].clone()).collect();
                running.push(Box::pin(async move { (i, runner.run(i, step, &inputs).await) }));
            }
        }
        if running.is_empty() {
            break;
        }
        // The status line ticks while steps run, so a long build shows its age.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let (i, result) = loop {
            tokio::select! {
                finished = running.next() => break finished.expect("a step is running"),
                _ = tick.tick() => {
                    progress.draw();
                    progress.beat();
                }
                signal = stop.recv() => {
                    // Dropping the running steps cancels them, and no step
                    // after them starts. A registry takes a tag only with all
                    // its layers, so a cancelled push leaves no tag pointing
                    // at a partial image.
                    drop(running);
                    progress.erase();
                    return Err(interrupted(plan, &state, signal));
                }
            }
        };
        let step = &plan.nodes[i].step;
        let name = step.to_string();
        let took = progress.age(step);
        let seconds = |what: String| {
            if took >= Duration::from_secs(1) {
                format!("{what} ({:.1}s)", took.as_secs_f64())
            } else {
                what
            }
        };
        let result = result.map(|finished| {
            outputs[i] = Some(Rc::new(finished.output));
            finished.outcome
        });
        let (what, failed) = match result {
            Ok(Outcome::Done(what)) => {
                state[i] = State::Succeeded;
                if step.changes_something() {
                    changed += 1;
                }
                // Builds, pushes, prebuilds and waits say their time themselves.
                let timed =
                    matches!(step, Step::Prebuild(_) | Step::Build(_) | Step::Push(_) | Step::Wait(_));
                (if timed { what } else { seconds(what) }, false)
            }
            Ok(Outcome::Skipped(why)) => {
                state[i] = State::Succeeded;
                (seconds(format!("skipped: {why}")), false)
            }
            Err(e) => {
                state[i] = State::Failed;
                if let Some(failed) = e.downcast_ref::<exit::Failed>() {
                    exit_code = exit_code.max(failed.code);
                }
                (format!("FAILED: {e:#}"), true)
            }
        };
        progress.out().record(&name, &what);
        progress.finish(step, &format!("{name:<18} {what}"), failed);
    }
    progress.erase();
    // Anything still waiting sits behind a failure.
    for s in state.iter_mut().filter(|s| **s == State::Waiting) {
        *s = State::Blocked;
    }
    let names = |wanted: State| -> Vec<String> {
        plan.nodes
            .iter()
            .zip(&state)
            .filter(|(_, s)| **s == wanted)
            .map(|(n, _)| n.step.to_string())
            .collect()
    };
    let (failed, blocked) = (names(State::Failed), names(State::Blocked));
    if failed.is_empty() {
        say!(progress.out(), "{} steps done in {:.1}s", plan.nodes.len(), started.elapsed().as_secs_f64());
        return Ok(Summary { changed });
    }
    let mut message = format!("{} failed", failed.join(", "));
    if !blocked.is_empty() {
        message += &format!("; not started because of it: {}", blocked.join(", "));
    }
    match exit_code {
        0 => bail!("{message}; the other steps finished, and a rerun continues from where this one stopped"),
        // A rerun would deploy the same bad revision again.
        code => Err(exit::Failed {
            code,
            message: match runner.after_failed_deployment(code) {
                "" => format!("{message}; the other steps finished"),
                advice => format!("{message}; the other steps finished. {advice}"),
            },
        }
        .into()),
    }
}

/// The error an interrupted run ends with: what was done, what was stopped,
/// and what a rerun does.
fn interrupted(plan: &Plan, state: &[State], (signal, code): (&'static str, u8)) -> anyhow::Error {
    let steps = |wanted: State| -> Vec<&Step> {
        plan.nodes.iter().zip(state).filter(|(_, s)| **s == wanted).map(|(n, _)| &n.step).collect()
    };
    let stopped = steps(State::Running);
    let done = steps(State::Succeeded).len();
    let waiting = steps(State::Waiting).len() + steps(State::Blocked).len();
    let list = |steps: &[&Step]| steps.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
    let mut message = format!("interrupted by {signal}: {done} step{} had finished", plural(done));
    if !stopped.is_empty() {
        message += &format!("; stopped: {}", list(&stopped));
    }
    if waiting > 0 {
        message += &format!("; {waiting} not started");
    }
    let rollouts: Vec<&Step> = stopped.iter().copied().filter(|s| matches!(s, Step::Wait(_))).collect();
    if !rollouts.is_empty() {
        message += &format!(
            ". The rollouts of {} go on in ECS without being watched",
            list(&rollouts).replace("wait ", "")
        );
    }
    message += ". No service was pointed at an image that was not fully pushed; run the same command again: \
                it skips what is done and finishes the rest";
    exit::Failed { code, message }.into()
}

#[cfg(test)]
mod tests;
