//! The executor: runs a plan's steps through a backend (`crate::backend`:
//! the Docker Engine, the registry, ECS and CloudWatch Logs, or the scripted
//! `fake` in tests). `scheduler` decides when each step runs and hands each
//! step its dependencies' outputs (`handoff`); this module dispatches each
//! step to its body: `images` (prebuild, build), `push`, `service_steps` (locate,
//! register, deploy, wait), `one_off` (before_deploy, `run`).
//! `preconditions` checks everything a plan needs before the first change,
//! with `preflight`'s registry checks; `progress` is the status line.

#[cfg(test)]
mod fake;
mod handoff;
mod images;
pub(crate) mod one_off;
mod preconditions;
mod preflight;
mod progress;
mod push;
pub(crate) mod scheduler;
mod service_steps;

use std::collections::BTreeMap;
use std::rc::Rc;

use anyhow::Result;

use crate::backend::{Backend, EcsApi, Real, RegistryApi};
use crate::plan::Step;
use crate::program::{Action, Program};
use crate::project::Service;
use crate::report::Reporter;
use crate::rollout::WaitOptions;
use crate::workspace::Workspace;
use handoff::{Inputs, StepOutput};
pub(crate) use preconditions::Needs;
use progress::Progress;
use scheduler::Finished;
pub(crate) use scheduler::{Outcome, Summary};
use scheduler::{Signals, StepRunner};

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) jobs: usize,
    pub(crate) force: bool,
    /// Start a new deployment even when the service runs the revision already.
    pub(crate) force_deploy: bool,
    pub(crate) wait: WaitOptions,
}

pub(crate) struct Executor<'w, B: Backend = Real> {
    /// The plan it runs, each step with its facts.
    program: &'w Program<'w>,
    workspace: &'w Workspace,
    options: Options,
    registry: &'w str,
    backend: B,
    /// Present when a step of the plan uses it (a rollback needs none).
    engine: Option<B::Engine>,
    ecr: Option<B::Registry>,
    ecs: Option<B::Ecs>,
    /// The task definition each ECS service ran when the run started, by
    /// cluster and ECS service.
    running: BTreeMap<(String, String), String>,
    /// Digests of the registry's images that task definitions run and this
    /// run does not build, by image reference, found before it started.
    located: BTreeMap<String, String>,
    /// Set for `cargo xtask run`.
    one_off: Option<one_off::OneOff>,
    progress: Progress<'w>,
}

/// What a run found before it started, and the clients its steps use.
pub(crate) struct Parts<B: Backend> {
    pub(crate) backend: B,
    pub(crate) engine: Option<B::Engine>,
    pub(crate) ecr: Option<B::Registry>,
    pub(crate) ecs: Option<B::Ecs>,
    /// The task definition each ECS service runs, by cluster and ECS service.
    pub(crate) running: BTreeMap<(String, String), String>,
    /// Digests of the registry's images that task definitions run and this
    /// run does not build, by image reference.
    pub(crate) located: BTreeMap<String, String>,
}

impl<'w, B: Backend> Executor<'w, B> {
    /// An executor of checked parts (`prepare` checks the real ones).
    pub(crate) fn assemble(
        program: &'w Program<'w>,
        options: Options,
        parts: Parts<B>,
        one_off: Option<one_off::OneOff>,
        out: &'w Reporter,
    ) -> Executor<'w, B> {
        Executor {
            program,
            workspace: program.workspace,
            options,
            registry: &program.registry,
            backend: parts.backend,
            engine: parts.engine,
            ecr: parts.ecr,
            ecs: parts.ecs,
            running: parts.running,
            located: parts.located,
            one_off,
            progress: Progress::new(out),
        }
    }

    /// Runs every step of the plan; returns an error naming the steps that
    /// failed or could not start.
    pub(crate) async fn run(&self) -> Result<Summary> {
        self.run_until(Signals::listen()?).await
    }

    /// Runs the plan until it ends or `stop` says to stop (SIGINT or
    /// SIGTERM in the tool, a timer in tests).
    pub(crate) async fn run_until(&self, stop: impl scheduler::Stop) -> Result<Summary> {
        scheduler::run(&self.program.plan, self, self.options.jobs, &self.progress, stop).await
    }

    /// Runs node `index` of the program: its action, with the outputs of
    /// the steps it depends on.
    async fn step(&self, index: usize, inputs: Inputs<'_>) -> Result<Finished<StepOutput>> {
        let nothing = |outcome| Finished { outcome, output: StepOutput::Nothing };
        let step = &self.program.plan.nodes[index].step;
        match &self.program.actions[index] {
            Action::Prebuild { service, command, image } => self.prebuild(service, command, image).await,
            Action::Build { service, image, build_args } => {
                self.build(service, image, build_args, inputs).await.map(nothing)
            }
            Action::RegistryAuth => {
                self.ecr().credentials().await?;
                Ok(nothing(Outcome::Done(format!("token for {}", self.registry))))
            }
            Action::EnsureRepository { service } => {
                let created =
                    self.ecr().ensure_repository(&service.repository, service.immutable_tags).await?;
                Ok(nothing(if created {
                    Outcome::Done(format!("created repository {}", service.repository))
                } else {
                    Outcome::Skipped(format!("repository {} exists", service.repository))
                }))
            }
            Action::Push { service, image } => self.push(service, image).await,
            Action::Locate { service, image } => self.locate(service, image).await,
            Action::Register { service, definition, .. } => self.register(service, definition, inputs).await,
            Action::BeforeDeploy { service, command } => {
                let outcome = self.one_off(service, step, command, inputs).await?;
                // The deploy after it puts the same task definition in service.
                let output = inputs
                    .task_definition()
                    .map_or(StepOutput::Nothing, |arn| StepOutput::TaskDefinition(arn.to_string()));
                Ok(Finished { outcome, output })
            }
            Action::RunTask { service } => {
                let command = self.one_off.as_ref().map_or(&[][..], |run| &run.command[..]);
                self.one_off(service, step, command, inputs).await.map(nothing)
            }
            Action::Deploy { service, cluster } => self.deploy(service, cluster, inputs).await,
            Action::Wait { service, cluster } => self.wait(service, cluster, inputs).await.map(nothing),
        }
    }

    /// The engine, which `Needs::of` asks for whenever a step of the plan uses it.
    fn engine(&self) -> &B::Engine {
        self.engine.as_ref().expect("the plan's steps asked for the engine")
    }

    /// The registry session, which `Needs::of` asks for whenever a step
    /// of the plan uses it.
    fn ecr(&self) -> &B::Registry {
        self.ecr.as_ref().expect("the plan's steps asked for a registry session")
    }

    /// What a push or a locate hands on: the service's image of this run,
    /// by reference and digest, and the commit it was built from.
    fn in_registry(&self, service: &Service, reference: String, digest: String) -> StepOutput {
        let commit = self.workspace.revision.image(&service.name).commit.clone();
        StepOutput::Image { reference, digest, commit }
    }

    /// The ECS session in a cluster, which `Needs::of` asks for whenever a
    /// step of the plan deploys or runs a task.
    fn ecs(&self, cluster: &str) -> B::Ecs {
        self.ecs.as_ref().expect("the plan's steps asked for an ECS session").in_cluster(cluster)
    }
}

impl<B: Backend> StepRunner for Executor<'_, B> {
    type Output = StepOutput;

    async fn run(
        &self,
        index: usize,
        _step: &Step,
        inputs: &[Rc<StepOutput>],
    ) -> Result<Finished<StepOutput>> {
        self.step(index, Inputs(inputs)).await
    }

    fn after_failed_deployment(&self, code: u8) -> &'static str {
        if self.one_off.is_some() {
            // `run` ends with its command's exit code: there is nothing to advise.
            return "";
        }
        if code == crate::exit::BEFORE_DEPLOY {
            return "Nothing was deployed: fix the command or what it needs, commit and release again";
        }
        match self.program.rollback {
            // A failed rollback is not rolled back in turn, nor recorded as a release.
            Some(_) => {
                "The service stays on the revision it was sent to; `cargo xtask status` shows how it runs, and \
                 `cargo xtask rollback --to` picks another release"
            }
            None => scheduler::AFTER_FAILED_RELEASE,
        }
    }
}

#[cfg(test)]
mod tests;
