//! One module per user-facing command, each with one entry point, `run`.

pub(crate) mod dev_env;
pub(crate) mod release;
pub(crate) mod render;

use anyhow::Result;

use crate::git::{Git, Revision};
use crate::project::{Environment, Project, Service};
use crate::render::{RenderErrors, Rendered, Renderer, Scope, Secrets};

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
        let revision = git.revision()?;
        Ok(Workspace { project, environment, git, revision })
    }

    /// Renders every given service, or reports every problem of every
    /// template at once (including all missing process variables).
    pub(crate) fn render<'s>(
        &self,
        services: &[&'s Service],
        scope: Scope,
        secrets: Secrets,
    ) -> Result<Vec<(&'s Service, Rendered)>> {
        let mut renderer = Renderer::new(&self.project, &self.environment, &self.revision, secrets);
        let mut problems = Vec::new();
        let mut rendered = Vec::with_capacity(services.len());
        for &service in services {
            match renderer.render_service(service, scope) {
                Ok(outputs) => rendered.push((service, outputs)),
                Err(mut service_problems) => problems.append(&mut service_problems),
            }
        }
        renderer.finish(&mut problems);
        if problems.is_empty() {
            Ok(rendered)
        } else {
            Err(RenderErrors(problems).into())
        }
    }
}
