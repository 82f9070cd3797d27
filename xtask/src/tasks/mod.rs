//! One module per user-facing command, each with one entry point, `run`.

pub(crate) mod build;
pub(crate) mod ci;
pub(crate) mod completions;
pub(crate) mod deploy;
pub(crate) mod dev_env;
pub(crate) mod diff;
pub(crate) mod docs;
pub(crate) mod doctor;
pub(crate) mod history;
pub(crate) mod hooks;
pub(crate) mod pre_push;
pub(crate) mod push;
pub(crate) mod release;
pub(crate) mod render;
pub(crate) mod rollback;
pub(crate) mod status;
pub(crate) mod test;

use crate::output::say;
use anyhow::{bail, Context, Result};

use crate::deploy::WaitOptions;
use crate::exec::{self, Needs, Summary};
use crate::flags::{Confirm, DeployFlags, RunFlags};
use crate::plan::{self, Plan};

use crate::git::{Git, Revision};
use crate::project::{Environment, Project, Service};
use crate::render::{render_all, RenderErrors, Rendered, Scope, Secrets};

/// What every environment-bound command starts from: the project, one
/// environment and the git revision, each loaded once.
pub(crate) struct Workspace {
    pub(crate) project: Project,
    pub(crate) environment: Environment,
    pub(crate) git: Git,
    pub(crate) revision: Revision,
}

impl Workspace {
    pub(crate) fn load(environment: &str) -> Result<Workspace> {
        let project = Project::discover()?;
        let environment = project.environment(environment)?;
        let git = Git::open(&project.root)?;
        let revision = crate::identity::for_environment(&project, &environment, &git.revision(&project)?);
        Ok(Workspace { project, environment, git, revision })
    }

    /// Builds (with `push`, also pushes) the images of the chosen services and
    /// of the services they are built after.
    pub(crate) fn images(&self, names: &[String], run: &RunFlags, push: bool) -> Result<()> {
        let chosen = self.project.select(names)?;
        let services = plan::with_build_dependencies(&self.project, &chosen);
        let plan = if push { plan::push(&services) } else { plan::build(&services) };
        plan.stages()?;
        let rendered = self.render(&services, Scope::Images, Secrets::Reveal)?;
        let options = exec::Options {
            jobs: run.jobs,
            force: run.force,
            verbose: crate::output::verbose(),
            force_deploy: false,
            wait: WaitOptions { timeout: std::time::Duration::ZERO, poll: std::time::Duration::ZERO },
        };
        // A build FROM an image of the environment's registry needs its token too.
        let registry = crate::render::registry_host(&self.environment);
        let pulls = services.iter().any(|s| self.pulls_from(s, &registry));
        self.execute(&plan, rendered, options, Needs { registry: push || pulls, ecs_services: Vec::new() })?;
        Ok(())
    }

    /// Whether a service's Dockerfile builds FROM an image in `registry`.
    fn pulls_from(&self, service: &Service, registry: &str) -> bool {
        let Ok(text) = std::fs::read_to_string(self.project.root.join(&service.dockerfile)) else {
            return false;
        };
        crate::docker::build::base_images(&text)
            .iter()
            .any(|image| crate::docker::build::registry_of(image) == Some(registry))
    }

    /// Runs a plan once every precondition holds.
    pub(crate) fn execute(
        &self,
        plan: &Plan,
        rendered: Vec<(&Service, Rendered)>,
        options: exec::Options,
        needs: Needs,
    ) -> Result<Summary> {
        runtime()?.block_on(async {
            let executor = exec::Executor::prepare(self, rendered, options, needs).await?;
            executor.run(plan).await
        })
    }

    /// The last line of a release or deploy in which every step found its
    /// work done already.
    pub(crate) fn report_nothing_to_do(&self, summary: &Summary, services: &[&Service]) {
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
        say!("nothing to do: {}", parts.join("; "));
    }

    /// Refuses to publish a dirty tree unless asked to.
    pub(crate) fn require_clean(&self, allow_dirty: bool) -> Result<()> {
        if !self.revision.dirty || allow_dirty {
            return Ok(());
        }
        // Only the images whose inputs changed would get the `-dirty` tag.
        let dirty: Vec<String> = self
            .revision
            .images
            .iter()
            .filter(|(_, image)| image.dirty)
            .map(|(name, image)| format!("{name} ({})", image.image_tag))
            .collect();
        if dirty.is_empty() {
            bail!(
                "the working tree has uncommitted changes (to no image's inputs: templates, settings or other \
                 files), which would be released without a commit that explains them; commit or stash them, or \
                 pass --allow-dirty"
            );
        }
        bail!(
            "the working tree has uncommitted changes that reach the image{} of {}, tagged with no commit that \
             explains them; commit or stash them, or pass --allow-dirty",
            plural(dirty.len()),
            dirty.join(", ")
        );
    }

    /// A protected environment changes only with `--yes` or in CI.
    pub(crate) fn require_consent(&self, confirm: &Confirm) -> Result<()> {
        if self.environment.protected && !confirm.yes && !crate::ci::active() {
            bail!(
                "env {} is protected (`protected = true` in env/{}.toml): pass --yes to go ahead; in CI, CI=true \
                 counts as yes",
                self.environment.name,
                self.environment.name
            );
        }
        Ok(())
    }

    /// Renders every given service, or reports every problem of every
    /// template at once (including all missing process variables).
    pub(crate) fn render<'s>(
        &self,
        services: &[&'s Service],
        scope: Scope,
        secrets: Secrets,
    ) -> Result<Vec<(&'s Service, Rendered)>> {
        let mut report =
            render_all(&self.project, &self.environment, &self.revision, services, scope, secrets);
        report.problems.append(&mut report.missing_problems);
        if report.problems.is_empty() {
            Ok(report.rendered)
        } else {
            Err(RenderErrors(report.problems).into())
        }
    }
}

/// The async runtime for the commands that talk to the engine and AWS; the
/// rest of the tool stays synchronous.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the async runtime")
}

impl DeployFlags {
    pub(crate) fn wait_options(&self) -> WaitOptions {
        WaitOptions { timeout: self.timeout, poll: self.poll_interval }
    }
}

/// The plural ending for `n` things.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
