//! `cargo xtask run`: a one-off task of a service (a migration, a seed, a
//! look at the data), started the way the service runs its own tasks,
//! followed until it stops, its output printed, its exit code returned.

use anyhow::{bail, Result};

use crate::executor::one_off::OneOff;
use crate::executor::Options;
use crate::flags::RunTaskFlags;
use crate::plan;
use crate::preview::Preview;
use crate::program::Program;
use crate::render::{Scope, Secrets};
use crate::report::Reporter;
use crate::tasks::Workspace;

pub(crate) fn run(flags: RunTaskFlags, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let service = workspace.project.select(std::slice::from_ref(&flags.service))?[0];
    if service.task_definition_template.is_none() {
        bail!(
            "{} is built but never deployed (it has no task definition template), so it has no task to run",
            service.name
        );
    }
    let plan = plan::one_off(service, flags.current);
    if flags.preview.dry_run {
        let rendered = workspace.render(&[service], Scope::Release, Secrets::Redact)?;
        Preview::new("run", &Program::resolve(&plan, &workspace, &rendered)?)?
            .print_dry_run(out, flags.preview.json);
        return Ok(());
    }
    workspace.require_consent(&flags.confirm)?;
    // With --current nothing is rendered: the task runs the revision ECS has.
    let rendered = match flags.current {
        true => Vec::new(),
        false => workspace.render(&[service], Scope::Release, Secrets::Reveal)?,
    };
    let options = Options {
        jobs: 4,
        force: false,
        force_deploy: false,
        wait: crate::rollout::WaitOptions { timeout: flags.timeout, poll: flags.poll_interval },
    };
    let task = OneOff { command: flags.command, container: flags.container };
    workspace.run_one_off(&plan, rendered, options, task, out)?;
    Ok(())
}
