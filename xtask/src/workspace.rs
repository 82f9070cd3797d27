//! What every environment-bound command starts from: the project, one
//! environment and the git revision, each loaded once; and the small helpers
//! every layer shares. Below the commands (`tasks`) and the executor, so
//! neither imports the other through it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::flags::Confirm;
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

/// The plural ending for `n` things.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The program's path: itself when it names a path, else the first match in PATH.
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable =
        |path: &Path| path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let path = PathBuf::from(program);
        return executable(&path).then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|folder| folder.join(program)).find(|p| executable(p))
}
