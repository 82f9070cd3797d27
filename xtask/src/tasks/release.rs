//! `cargo xtask release`: the whole graph for one environment.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::exec::{Needs, Options};
use crate::flags::Release;
use crate::output::say;
use crate::plan::{self, Plan, Step};
use crate::render::{image_reference, registry_host, Rendered, Scope, Secrets};
use crate::tasks::{plural, Workspace};

pub(crate) fn run(flags: Release) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let project = &workspace.project;
    let chosen = project.select(&flags.services.names)?;
    let services = plan::with_build_dependencies(project, &chosen);
    let plan = plan::release(&services, &chosen);
    let stages = plan.stages()?;
    // Rendering every template first means a plan is only shown when the
    // release could actually start.
    let rendered = workspace.render(&services, Scope::Release, Secrets::Redact)?;

    if flags.json {
        crate::json::print("release", &plan_report(&workspace, &plan, &stages, &rendered)?);
        return Ok(());
    }
    // The plan is what a dry run was asked to show; before a release it is progress.
    if flags.dry_run || !crate::output::quiet() {
        print!("{}", describe(&workspace, &plan, &stages, &rendered)?);
    }
    if flags.dry_run {
        say!("dry run: nothing was changed");
        return Ok(());
    }
    workspace.require_clean(flags.allow_dirty)?;
    workspace.require_consent(&flags.confirm)?;
    let clusters: Vec<&str> = chosen
        .iter()
        .filter(|s| s.task_definition_template.is_some())
        .map(|s| s.cluster(&workspace.environment))
        .collect();
    let _locks = crate::lock::acquire(&workspace.environment, &clusters, flags.deploy.wait_for_lock)?;
    let rendered = workspace.render(&services, Scope::Release, Secrets::Reveal)?;
    let options = Options {
        jobs: flags.run.jobs,
        force: flags.run.force,
        verbose: crate::output::verbose(),
        force_deploy: flags.deploy.force_new_deployment,
        wait: flags.deploy.wait_options(),
    };
    let deployed: Vec<(String, String)> = chosen
        .iter()
        .filter(|s| s.task_definition_template.is_some())
        .map(|s| (s.cluster(&workspace.environment).to_string(), s.ecs_service.clone()))
        .collect();
    let summary =
        workspace.execute(&plan, rendered, options, Needs { registry: true, ecs_services: deployed })?;
    workspace.report_nothing_to_do(&summary, &chosen);
    Ok(())
}

/// `release --dry-run --json`: the plan, stage by stage.
#[derive(Serialize)]
struct PlanReport<'a> {
    dry_run: bool,
    env: &'a str,
    commit: &'a str,
    dirty: bool,
    region: &'a str,
    cluster: &'a str,
    registry: String,
    protected: bool,
    services: Vec<&'a str>,
    /// Each service's image for this commit (tagged with the commit that last changed it).
    images: std::collections::BTreeMap<&'a str, String>,
    /// Steps of a stage may run in parallel; a stage starts when the steps it waits for are done.
    stages: Vec<Vec<PlannedStep>>,
}

#[derive(Serialize)]
struct PlannedStep {
    /// As the plain plan names it: `build api`.
    step: String,
    verb: &'static str,
    service: Option<String>,
    /// The steps it waits for.
    after: Vec<String>,
    /// What it will do, as the plain plan says it.
    detail: String,
}

fn plan_report<'a>(
    workspace: &'a Workspace,
    plan: &Plan,
    stages: &[Vec<usize>],
    rendered: &'a [(&crate::project::Service, Rendered)],
) -> Result<PlanReport<'a>> {
    let environment = &workspace.environment;
    let registry = registry_host(environment);
    let mut planned = Vec::new();
    for stage in stages {
        let mut steps = Vec::new();
        for &i in stage {
            let node = &plan.nodes[i];
            steps.push(PlannedStep {
                step: node.step.to_string(),
                verb: node.step.verb(),
                service: node.step.service().map(str::to_string),
                after: node.deps.iter().map(|&d| plan.nodes[d].step.to_string()).collect(),
                detail: step_detail(workspace, &node.step, &registry, rendered)?,
            });
        }
        planned.push(steps);
    }
    Ok(PlanReport {
        dry_run: true,
        env: &environment.name,
        commit: &workspace.revision.sha,
        dirty: workspace.revision.dirty,
        region: &environment.region,
        cluster: &environment.cluster,
        protected: environment.protected,
        services: rendered.iter().map(|(s, _)| s.name.as_str()).collect(),
        images: rendered
            .iter()
            .map(|(s, _)| (s.name.as_str(), image_reference(&registry, s, &workspace.revision)))
            .collect(),
        stages: planned,
        registry,
    })
}

/// The plan as a user reads it: one stage after the other, what each step
/// would do, and which steps may run in parallel.
pub(crate) fn describe(
    workspace: &Workspace,
    plan: &Plan,
    stages: &[Vec<usize>],
    rendered: &[(&crate::project::Service, Rendered)],
) -> Result<String> {
    let environment = &workspace.environment;
    let revision = &workspace.revision;
    let registry = registry_host(environment);
    let service_names: Vec<&str> = rendered.iter().map(|(s, _)| s.name.as_str()).collect();
    let mut out = format!(
        "release plan: env {}, commit {}{}, {} service{}: {}\n",
        environment.name,
        revision.short_sha,
        if revision.dirty { " (dirty tree)" } else { "" },
        service_names.len(),
        plural(service_names.len()),
        service_names.join(", "),
    );
    out += &format!(
        "region {}, cluster {}, registry {registry}{}\n",
        environment.region,
        environment.cluster,
        if environment.protected { ", protected" } else { "" }
    );

    let width = plan.nodes.iter().map(|n| n.step.to_string().len()).max().unwrap_or(0);
    for (number, stage) in stages.iter().enumerate() {
        let parallel =
            if stage.len() > 1 { format!(" ({} in parallel)", stage.len()) } else { String::new() };
        out += &format!("stage {}{parallel}\n", number + 1);
        for &i in stage {
            let step = &plan.nodes[i].step;
            let what = step_detail(workspace, step, &registry, rendered)?;
            out += &format!("  {:width$}  {what}\n", step.to_string());
        }
    }
    Ok(out)
}

fn step_detail(
    workspace: &Workspace,
    step: &Step,
    registry: &str,
    rendered: &[(&crate::project::Service, Rendered)],
) -> Result<String> {
    let environment = &workspace.environment;
    let find = |name: &str| {
        rendered.iter().find(|(s, _)| s.name == name).context("a planned service was not rendered")
    };
    Ok(match step {
        Step::Revision => format!(
            "commit {}{}",
            workspace.revision.sha,
            if workspace.revision.tags.is_empty() {
                String::new()
            } else {
                format!(", tags {}", workspace.revision.tags.join(", "))
            }
        ),
        Step::Render(name) => {
            let (service, outputs) = find(name)?;
            // The env template counts only where the task definition reads it (`service_env`).
            let env_template = service.env_template.as_ref().filter(|_| outputs.env_file.is_some());
            let templates: Vec<String> = [env_template, service.task_definition_template.as_ref()]
                .into_iter()
                .flatten()
                .map(|t| format!("templates/{t}"))
                .collect();
            templates.join(", ")
        }
        Step::Prebuild(name) => {
            let (service, _) = find(name)?;
            let argv = service.prebuild.as_deref().unwrap_or_default();
            format!("run `{}` in {}", argv.join(" "), service.dir.display())
        }
        Step::Build(name) => {
            let (service, outputs) = find(name)?;
            let args: Vec<String> = outputs.build_args.keys().map(|k| format!("--build-arg {k}")).collect();
            format!(
                "{} (context {}) for {}{}{} -> {}",
                service.dockerfile.display(),
                service.context.display(),
                service.platform,
                if args.is_empty() { "" } else { ", " },
                args.join(" "),
                image_reference(registry, service, &workspace.revision)
            )
        }
        Step::RegistryAuth => format!("token for {registry}"),
        Step::EnsureRepository(name) => {
            let (service, _) = find(name)?;
            format!("repository {} in {}", service.repository, environment.region)
        }
        Step::Push(name) => {
            let (service, _) = find(name)?;
            format!("{}, unless the registry has it", image_reference(registry, service, &workspace.revision))
        }
        Step::Locate(name) => {
            let (service, _) = find(name)?;
            format!("{} must be in the registry", image_reference(registry, service, &workspace.revision))
        }
        Step::Register(name) => {
            let (_, outputs) = find(name)?;
            let family = outputs
                .task_definition
                .as_deref()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                .and_then(|json| json.get("family").and_then(|f| f.as_str()).map(str::to_string))
                .unwrap_or_else(|| "?".to_string());
            format!("task definition family {family}, image pinned to its digest, unless unchanged")
        }
        Step::Deploy(name) => {
            let (service, _) = find(name)?;
            format!(
                "ECS service {} in cluster {}, unless it runs the revision already",
                service.ecs_service,
                service.cluster(environment)
            )
        }
        Step::Wait(_) => "until the rollout completes with every task running, else roll back".to_string(),
    })
}
