//! `cargo xtask deploy`: register, deploy and wait, for images pushed before.

use anyhow::{bail, Result};

use crate::executor::Options;
use crate::flags::Deploy;
use crate::plan;
use crate::preview::Preview;
use crate::program::Program;
use crate::render::{Scope, Secrets};
use crate::report::Reporter;
use crate::tasks::Workspace;

pub(crate) fn run(flags: Deploy, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let chosen = workspace.project.select(&flags.services.names)?;
    let services: Vec<_> = chosen.into_iter().filter(|s| s.task_definition_template.is_some()).collect();
    if services.is_empty() {
        bail!(
            "none of the selected services has a task definition template (templates/<service>.task.json.j2), \
             so there is nothing to deploy"
        );
    }
    let plan = plan::deploy(&services);
    plan.stages()?;
    if flags.preview.dry_run {
        let rendered = workspace.render(&services, Scope::Release, Secrets::Redact)?;
        Preview::new("deploy", &Program::resolve(&plan, &workspace, &rendered)?)?
            .print_dry_run(out, flags.preview.json);
        return Ok(());
    }
    workspace.require_clean(flags.allow_dirty)?;
    workspace.require_consent(&flags.confirm)?;
    let clusters: Vec<&str> = services.iter().map(|s| s.cluster(&workspace.environment)).collect();
    let _locks = crate::lock::acquire(out, &workspace.environment, &clusters, flags.deploy.wait_for_lock)?;
    let rendered = workspace.render(&services, Scope::Release, Secrets::Reveal)?;
    let options = Options {
        jobs: flags.jobs,
        force: false,
        force_deploy: flags.deploy.force_new_deployment,
        wait: flags.deploy.wait_options(),
    };
    let summary = workspace.execute(&plan, rendered, options, out)?;
    workspace.report_nothing_to_do(&summary, &services, out);
    Ok(())
}
