//! `cargo xtask release`: the whole graph for one environment.

use anyhow::Result;

use crate::executor::Options;
use crate::flags::Release;
use crate::plan;
use crate::preview::Preview;
use crate::program::Program;
use crate::render::{Scope, Secrets};
use crate::report::Reporter;
use crate::tasks::Workspace;

pub(crate) fn run(flags: Release, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let project = &workspace.project;
    let chosen = project.select(&flags.services.names)?;
    let services = plan::with_build_dependencies(project, &chosen);
    let plan = plan::release(&services, &chosen);
    // Rendering every template first means a plan is only shown when the
    // release could actually start.
    let rendered = workspace.render(&services, Scope::Release, Secrets::Redact)?;
    let preview = Preview::new("release", &Program::resolve(&plan, &workspace, &rendered)?)?;
    if flags.preview.dry_run {
        preview.print_dry_run(out, flags.preview.json);
        return Ok(());
    }
    // Before a release the plan is progress, which -q leaves out.
    if !out.quiet() {
        out.text(&preview);
    }
    workspace.require_clean(flags.allow_dirty)?;
    workspace.require_consent(&flags.confirm)?;
    let clusters: Vec<&str> = chosen
        .iter()
        .filter(|s| s.task_definition_template.is_some())
        .map(|s| s.cluster(&workspace.environment))
        .collect();
    let _locks = crate::lock::acquire(out, &workspace.environment, &clusters, flags.deploy.wait_for_lock)?;
    let rendered = workspace.render(&services, Scope::Release, Secrets::Reveal)?;
    let options = Options {
        jobs: flags.run.jobs,
        force: flags.run.force,
        force_deploy: flags.deploy.force_new_deployment,
        wait: flags.deploy.wait_options(),
    };
    let summary = workspace.execute(&plan, rendered, options, out)?;
    workspace.report_nothing_to_do(&summary, &chosen, out);
    Ok(())
}
