//! The scheduler against a scripted runner: every decision it makes
//! (order, the bound on parallel steps, skips, blocking after a failure,
//! exit codes, a stop in the middle of any kind of step) in milliseconds.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::*;

/// What a scripted step does: wait, then answer.
#[derive(Clone)]
enum Script {
    Done(u64),
    Skipped(u64),
    Fails(u64),
    /// A rollout that failed and was rolled back (exit code 3).
    RolledBack(u64),
    /// A push of `layers` layers, each taking `ms`, that tags the image only
    /// once every layer is in, as a registry does.
    Push {
        layers: usize,
        ms: u64,
    },
}

#[derive(Default)]
struct Registry {
    layers: Vec<String>,
    tags: Vec<String>,
}

struct Scripted {
    scripts: BTreeMap<String, Script>,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    order: Mutex<Vec<String>>,
    /// The outputs each step was given, by step.
    inputs: Mutex<BTreeMap<String, Vec<String>>>,
    registry: Mutex<Registry>,
}

impl Scripted {
    fn new(scripts: &[(&str, Script)]) -> Scripted {
        Scripted {
            scripts: scripts.iter().map(|(name, s)| (name.to_string(), s.clone())).collect(),
            running: AtomicUsize::new(0),
            most_at_once: AtomicUsize::new(0),
            order: Mutex::new(Vec::new()),
            inputs: Mutex::default(),
            registry: Mutex::default(),
        }
    }

    fn started(&self) -> Vec<String> {
        self.order.lock().unwrap().clone()
    }
}

/// Counts a step as running for as long as it lives, cancelled or not.
struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StepRunner for Scripted {
    /// Each step hands on its name, so a test sees what reached whom.
    type Output = String;

    async fn run(&self, _index: usize, step: &Step, inputs: &[Rc<String>]) -> Result<Finished<String>> {
        let name = step.to_string();
        self.order.lock().unwrap().push(name.clone());
        let given = inputs.iter().map(|i| i.to_string()).collect();
        self.inputs.lock().unwrap().insert(name.clone(), given);
        let outcome = self.act(&name).await?;
        Ok(Finished { outcome, output: name })
    }
}

impl Scripted {
    async fn act(&self, name: &str) -> Result<Outcome> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        let _running = Running(&self.running);
        let name = name.to_string();
        let pause = |ms: u64| tokio::time::sleep(Duration::from_millis(ms));
        match self.scripts.get(&name).cloned().unwrap_or(Script::Done(1)) {
            Script::Done(ms) => {
                pause(ms).await;
                Ok(Outcome::Done(format!("did {name}")))
            }
            Script::Skipped(ms) => {
                pause(ms).await;
                Ok(Outcome::Skipped(format!("{name} was done")))
            }
            Script::Fails(ms) => {
                pause(ms).await;
                bail!("{name} broke")
            }
            Script::RolledBack(ms) => {
                pause(ms).await;
                Err(crate::exit::Failed {
                    code: crate::exit::ROLLED_BACK,
                    message: format!("{name}: rolled back"),
                }
                .into())
            }
            Script::Push { layers, ms } => {
                for layer in 0..layers {
                    pause(ms).await;
                    self.registry.lock().unwrap().layers.push(format!("{name} layer {layer}"));
                }
                self.registry.lock().unwrap().tags.push(name.clone());
                Ok(Outcome::Done(format!("pushed {name}")))
            }
        }
    }
}

/// A stop that never comes, or one after a pause.
struct After(Option<Duration>, &'static str, u8);

impl Stop for After {
    async fn recv(&mut self) -> (&'static str, u8) {
        match self.0 {
            Some(pause) => tokio::time::sleep(pause).await,
            None => std::future::pending().await,
        }
        (self.1, self.2)
    }
}

const NEVER: After = After(None, "", 0);

/// Two services: api and web, each built, pushed, registered, deployed and waited for.
fn release() -> Plan {
    let (api, web) =
        (crate::plan::tests::service("api", &[], true), crate::plan::tests::service("web", &[], true));
    crate::plan::release(&[&api, &web], &[&api, &web])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
}

fn run_plan(plan: &Plan, runner: &Scripted, jobs: usize, stop: After) -> Result<Summary> {
    let out = crate::report::Reporter::recording(crate::report::Level::Normal);
    runtime().block_on(run(plan, runner, jobs, &Progress::new(&out), stop))
}

#[test]
fn every_step_runs_after_what_it_needs_and_no_more_than_jobs_at_once() {
    let plan = release();
    let runner = Scripted::new(&[("build api", Script::Done(20)), ("build web", Script::Done(20))]);
    let summary = run_plan(&plan, &runner, 2, NEVER).unwrap();
    let order = runner.started();
    assert_eq!(order.len(), plan.nodes.len(), "every step ran once");
    for node in &plan.nodes {
        let at = order.iter().position(|s| *s == node.step.to_string()).unwrap();
        for &dep in &node.deps {
            let before = order.iter().position(|s| *s == plan.nodes[dep].step.to_string()).unwrap();
            assert!(before < at, "{} started before {}", node.step, plan.nodes[dep].step);
        }
    }
    assert_eq!(runner.most_at_once.load(Ordering::SeqCst), 2, "two builds side by side, never three steps");
    // Registry-auth changes nothing; the rest did.
    let changing = plan.nodes.iter().filter(|n| n.step.changes_something()).count();
    assert_eq!(summary.changed, changing);
}

#[test]
fn one_job_runs_steps_one_at_a_time() {
    let plan = release();
    let runner = Scripted::new(&[]);
    run_plan(&plan, &runner, 1, NEVER).unwrap();
    assert_eq!(runner.most_at_once.load(Ordering::SeqCst), 1);
}

#[test]
fn skipped_steps_count_as_done_and_change_nothing() {
    let plan = release();
    let scripts: Vec<(String, Script)> =
        plan.nodes.iter().map(|n| (n.step.to_string(), Script::Skipped(1))).collect();
    let scripts: Vec<(&str, Script)> = scripts.iter().map(|(n, s)| (n.as_str(), s.clone())).collect();
    let runner = Scripted::new(&scripts);
    let summary = run_plan(&plan, &runner, 4, NEVER).unwrap();
    assert_eq!(summary.changed, 0);
    assert_eq!(runner.started().len(), plan.nodes.len(), "a skip does not block what follows");
}

#[test]
fn a_failure_blocks_only_what_depends_on_it() {
    let plan = release();
    let runner = Scripted::new(&[("build api", Script::Fails(5))]);
    let error = run_plan(&plan, &runner, 4, NEVER).unwrap_err();
    assert_eq!(
        format!("{error:#}"),
        "build api failed; not started because of it: push api, register api, deploy api, wait api; the other \
         steps finished, and a rerun continues from where this one stopped"
    );
    let started = runner.started();
    assert!(started.contains(&"wait web".to_string()), "web went all the way: {started:?}");
    assert!(!started.iter().any(|s| s.starts_with("push api")), "{started:?}");
    assert!(error.downcast_ref::<crate::exit::Failed>().is_none(), "an ordinary failure exits with 1");
}

#[test]
fn a_rolled_back_rollout_gives_its_exit_code_and_says_it_is_recorded() {
    let plan = release();
    let runner = Scripted::new(&[("wait web", Script::RolledBack(5)), ("build api", Script::Fails(1))]);
    let error = run_plan(&plan, &runner, 4, NEVER).unwrap_err();
    let failed = error.downcast_ref::<crate::exit::Failed>().expect("a deployment failure");
    assert_eq!(failed.code, crate::exit::ROLLED_BACK);
    assert!(failed.message.starts_with("build api, wait web failed; not started because of it: push api"));
    assert!(
        failed.message.contains("The failed release is recorded in the service's history"),
        "{}",
        failed.message
    );
}

/// A stop while each kind of step runs: that step is cancelled, nothing
/// starts after it, and the message says what finished and what did not.
#[test]
fn a_stop_cancels_the_running_step_of_every_kind_and_starts_nothing_more() {
    let plan = release();
    for node in &plan.nodes {
        let name = node.step.to_string();
        let runner = Scripted::new(&[(name.as_str(), Script::Done(10_000))]);
        let error =
            run_plan(&plan, &runner, 1, After(Some(Duration::from_millis(30)), "SIGINT", 130)).unwrap_err();
        let failed = error.downcast_ref::<crate::exit::Failed>().expect("an interruption");
        assert_eq!(failed.code, 130);
        let stopped = format!("; stopped: {name}");
        let after =
            failed.message.split(&stopped).nth(1).unwrap_or_else(|| panic!("{name}: {}", failed.message));
        assert!(after.starts_with([';', '.']), "{name} alone was stopped: {}", failed.message);
        assert_eq!(runner.running.load(Ordering::SeqCst), 0, "{name} was not cancelled");
        assert_eq!(runner.started().last(), Some(&name), "nothing started after {name}");
        if matches!(node.step, Step::Wait(_)) {
            assert!(failed.message.contains("go on in ECS without being watched"), "{}", failed.message);
        }
    }
}

#[test]
fn a_push_stopped_mid_upload_leaves_no_tag() {
    let plan = release();
    let runner = Scripted::new(&[
        ("push api", Script::Push { layers: 5, ms: 20 }),
        ("push web", Script::Push { layers: 1, ms: 1 }),
    ]);
    let error =
        run_plan(&plan, &runner, 4, After(Some(Duration::from_millis(50)), "SIGTERM", 143)).unwrap_err();
    let failed = error.downcast_ref::<crate::exit::Failed>().unwrap();
    assert_eq!(failed.code, 143);
    assert!(failed.message.starts_with("interrupted by SIGTERM: "), "{}", failed.message);
    assert!(failed.message.contains("push api"), "{}", failed.message);
    let registry = runner.registry.lock().unwrap();
    assert!(registry.layers.iter().any(|l| l.starts_with("push api")), "the upload had begun");
    assert_eq!(registry.tags, ["push web"], "only the finished push is tagged");
    assert!(!runner.started().iter().any(|s| s == "register api"), "nothing ran on the partial image");
}

#[test]
fn each_step_gets_the_outputs_of_the_steps_it_depends_on_and_no_others() {
    let runner = Scripted::new(&[]);
    run_plan(&release(), &runner, 4, NEVER).unwrap();
    let inputs = runner.inputs.lock().unwrap();
    assert_eq!(inputs["build api"], Vec::<String>::new());
    assert_eq!(inputs["ensure-repo api"], ["registry-auth"]);
    assert_eq!(inputs["push api"], ["build api", "ensure-repo api"]);
    assert_eq!(inputs["register api"], ["push api"]);
    assert_eq!(inputs["deploy web"], ["register web"]);
    assert_eq!(inputs["wait web"], ["deploy web"]);
}
