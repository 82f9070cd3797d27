//! What a plan will do, worked out once from the plan and the rendered
//! templates: printed before a release runs and by every `--dry-run`
//! (`Display`), and as one JSON document by `--dry-run --json`
//! (docs/json.md).

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::identity::ImageRef;
use crate::plan::{Plan, Step};
use crate::project::Service;
use crate::render::{registry_host, Rendered};
use crate::report::{say, Reporter};
use crate::workspace::{plural, Workspace};

/// A plan as a user reads it. Field by field, it is the `--json` document.
#[derive(Serialize)]
pub(crate) struct Preview {
    /// The command whose plan this is: `release`, `build`, `push`, `deploy`.
    #[serde(skip)]
    command: &'static str,
    dry_run: bool,
    env: String,
    commit: String,
    #[serde(skip)]
    short_commit: String,
    dirty: bool,
    region: String,
    cluster: String,
    registry: String,
    protected: bool,
    services: Vec<String>,
    /// Each service's image for this commit (tagged with the commit that last changed it).
    images: BTreeMap<String, String>,
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

impl Preview {
    pub(crate) fn new(
        command: &'static str,
        workspace: &Workspace,
        plan: &Plan,
        rendered: &[(&Service, Rendered)],
    ) -> Result<Preview> {
        let environment = &workspace.environment;
        let registry = registry_host(environment);
        // The plan as the executor runs it.
        let plan = &crate::executor::link_images(plan, workspace, rendered.iter().map(|(s, r)| (&s.name, r)));
        let mut stages = Vec::new();
        for stage in plan.stages()? {
            let mut steps = Vec::new();
            for i in stage {
                let node = &plan.nodes[i];
                steps.push(PlannedStep {
                    step: node.step.to_string(),
                    verb: node.step.verb(),
                    service: node.step.service().map(str::to_string),
                    after: node.deps.iter().map(|&d| plan.nodes[d].step.to_string()).collect(),
                    detail: step_detail(workspace, &node.step, &registry, rendered)?,
                });
            }
            stages.push(steps);
        }
        Ok(Preview {
            command,
            dry_run: true,
            env: environment.name.clone(),
            commit: workspace.revision.sha.clone(),
            short_commit: workspace.revision.short_sha.clone(),
            dirty: workspace.revision.dirty,
            region: environment.region.clone(),
            cluster: environment.cluster.clone(),
            protected: environment.protected,
            services: rendered.iter().map(|(s, _)| s.name.clone()).collect(),
            images: rendered
                .iter()
                .map(|(s, _)| (s.name.clone(), ImageRef::of(&registry, s, &workspace.revision).to_string()))
                .collect(),
            stages,
            registry,
        })
    }

    /// What `--dry-run` prints: the plan (as JSON with `--json`), and that
    /// nothing changed.
    pub(crate) fn print_dry_run(&self, out: &Reporter, json: bool) {
        if json {
            crate::json::print(out, self.command, self);
        } else {
            out.text(self);
            say!(out, "dry run: nothing was changed");
        }
    }
}

impl fmt::Display for Preview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.services.len();
        writeln!(
            f,
            "{} plan: env {}, commit {}{}, {n} service{}: {}",
            self.command,
            self.env,
            self.short_commit,
            if self.dirty { " (dirty tree)" } else { "" },
            plural(n),
            self.services.join(", ")
        )?;
        writeln!(
            f,
            "region {}, cluster {}, registry {}{}",
            self.region,
            self.cluster,
            self.registry,
            if self.protected { ", protected" } else { "" }
        )?;
        let width = self.stages.iter().flatten().map(|s| s.step.len()).max().unwrap_or(0);
        for (number, stage) in self.stages.iter().enumerate() {
            let parallel =
                if stage.len() > 1 { format!(" ({} in parallel)", stage.len()) } else { String::new() };
            writeln!(f, "stage {}{parallel}", number + 1)?;
            for step in stage {
                writeln!(f, "  {:width$}  {}", step.step, step.detail)?;
            }
        }
        Ok(())
    }
}

fn step_detail(
    workspace: &Workspace,
    step: &Step,
    registry: &str,
    rendered: &[(&Service, Rendered)],
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
                ImageRef::of(registry, service, &workspace.revision)
            )
        }
        Step::RegistryAuth => format!("token for {registry}"),
        Step::EnsureRepository(name) => {
            let (service, _) = find(name)?;
            format!("repository {} in {}", service.repository, environment.region)
        }
        Step::Push(name) => {
            let (service, _) = find(name)?;
            format!("{}, unless the registry has it", ImageRef::of(registry, service, &workspace.revision))
        }
        Step::Locate(name) => {
            let (service, _) = find(name)?;
            format!("{} must be in the registry", ImageRef::of(registry, service, &workspace.revision))
        }
        Step::Register(name) => {
            let (_, outputs) = find(name)?;
            let family = outputs
                .task_definition
                .as_ref()
                .map(|definition| definition.family())
                .context("a service that is registered has a task definition")?;
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
        Step::BeforeDeploy(name) => {
            let (service, _) = find(name)?;
            let argv = service.before_deploy.as_deref().unwrap_or_default();
            format!(
                "run `{}` as a one-off task of the registered revision; a failure deploys nothing",
                argv.join(" ")
            )
        }
        Step::RunTask(_) => {
            "a one-off task of the service's task definition, followed until it stops".to_string()
        }
    })
}
