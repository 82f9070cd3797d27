//! One module per user-facing command, each with one entry point, `run`.

pub(crate) mod build;
pub(crate) mod ci;
pub(crate) mod completions;
pub(crate) mod deploy;
pub(crate) mod dev_env;
pub(crate) mod diff;
pub(crate) mod docs;
pub(crate) mod doctor;
pub(crate) mod exec;
pub(crate) mod history;
pub(crate) mod hooks;
pub(crate) mod logs;
pub(crate) mod pre_push;
pub(crate) mod push;
pub(crate) mod release;
pub(crate) mod render;
pub(crate) mod rollback;
pub(crate) mod run;
pub(crate) mod status;
pub(crate) mod test;
pub(crate) mod up;

use anyhow::Result;

use crate::executor::one_off::OneOff;
use crate::executor::{self, Needs, Summary};
use crate::flags::{DeployFlags, DryRun, RunFlags};
use crate::plan::{self, Plan};
use crate::preview::Preview;
use crate::program::Program;
use crate::rollout::WaitOptions;

use crate::project::Service;
use crate::render::{Rendered, Scope, Secrets};
use crate::report::{say, Reporter};
pub(crate) use crate::workspace::{plural, runtime, Workspace};

impl Workspace {
    /// Builds (with `push`, also pushes) the images of the chosen services and
    /// of the services they are built after.
    pub(crate) fn images(
        &self,
        names: &[String],
        run: &RunFlags,
        push: bool,
        preview: &DryRun,
        out: &Reporter,
    ) -> Result<()> {
        let chosen = self.project.select(names)?;
        let services = plan::with_build_dependencies(&self.project, &chosen);
        let plan = if push { plan::push(&services) } else { plan::build(&services) };
        plan.stages()?;
        if preview.dry_run {
            let rendered = self.render(&services, Scope::Images, Secrets::Redact)?;
            let command = if push { "push" } else { "build" };
            Preview::new(command, &Program::resolve(&plan, self, &rendered)?)?
                .print_dry_run(out, preview.json);
            return Ok(());
        }
        let rendered = self.render(&services, Scope::Images, Secrets::Reveal)?;
        let options = executor::Options {
            jobs: run.jobs,
            force: run.force,
            force_deploy: false,
            wait: WaitOptions { timeout: std::time::Duration::ZERO, poll: std::time::Duration::ZERO },
        };
        self.execute(&plan, rendered, options, out)?;
        Ok(())
    }

    /// Runs a plan once every precondition its steps have holds.
    pub(crate) fn execute(
        &self,
        plan: &Plan,
        rendered: Vec<(&Service, Rendered)>,
        options: executor::Options,
        out: &Reporter,
    ) -> Result<Summary> {
        self.run_program(&Program::resolve(plan, self, &rendered)?, options, None, out)
    }

    /// Runs a rollback's program (deploy and wait).
    pub(crate) fn roll_back(
        &self,
        program: &Program<'_>,
        options: executor::Options,
        out: &Reporter,
    ) -> Result<Summary> {
        self.run_program(program, options, None, out)
    }

    /// Runs a one-off task's plan (`cargo xtask run`).
    pub(crate) fn run_one_off(
        &self,
        plan: &Plan,
        rendered: Vec<(&Service, Rendered)>,
        options: executor::Options,
        task: OneOff,
        out: &Reporter,
    ) -> Result<Summary> {
        self.run_program(&Program::resolve(plan, self, &rendered)?, options, Some(task), out)
    }

    /// Runs a program once every precondition its steps have holds.
    fn run_program(
        &self,
        program: &Program<'_>,
        options: executor::Options,
        one_off: Option<OneOff>,
        out: &Reporter,
    ) -> Result<Summary> {
        let needs = Needs::of(program);
        runtime()?.block_on(async {
            let executor = executor::Executor::prepare(program, options, needs, one_off, out).await?;
            executor.run().await
        })
    }

    /// The last line of a release or deploy in which every step found its
    /// work done already.
    pub(crate) fn report_nothing_to_do(&self, summary: &Summary, services: &[&Service], out: &Reporter) {
        if summary.changed != 0 {
            return;
        }
        // Each image is tagged with the commit that last changed it, so each is named with its own.
        let at = |list: &[&&Service]| -> String {
            let each: Vec<String> = list
                .iter()
                .map(|s| format!("{} at {}", s.name, self.revision.image(&s.name).image_tag))
                .collect();
            each.join(", ")
        };
        let (deployed, built): (Vec<&&Service>, Vec<&&Service>) =
            services.iter().partition(|s| s.task_definition_template.is_some());
        let mut parts = Vec::new();
        if !deployed.is_empty() {
            let n = deployed.len();
            parts.push(format!(
                "{n} service{} deployed as this commit wants {} ({})",
                plural(n),
                if n == 1 { "it" } else { "them" },
                at(&deployed)
            ));
        }
        if !built.is_empty() {
            let n = built.len();
            parts.push(format!("{n} built only ({})", at(&built)));
        }
        say!(out, "nothing to do: {}", parts.join("; "));
    }
}

impl DeployFlags {
    pub(crate) fn wait_options(&self) -> WaitOptions {
        WaitOptions { timeout: self.timeout, poll: self.poll_interval }
    }
}
