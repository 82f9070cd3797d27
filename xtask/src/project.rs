//! The project model: where the root is, the environments under `env/` and the
//! services under `services/`, loaded once and typed.
//!
//! Every error names the file it comes from and, where the TOML parser knows
//! it, the line and the key, so a user can jump straight to the mistake.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use toml::Spanned;

/// What Fargate runs unless a service says otherwise.
pub(crate) const DEFAULT_PLATFORM: &str = "linux/amd64";

pub(crate) struct Project {
    pub(crate) root: PathBuf,
    /// Sorted by name, so every listing and plan is stable.
    pub(crate) services: Vec<Service>,
}

/// One `env/<name>.toml`.
#[derive(Debug)]
pub(crate) struct Environment {
    pub(crate) name: String,
    pub(crate) region: String,
    pub(crate) account_id: String,
    pub(crate) cluster: String,
    /// Where images go instead of the account's ECR endpoint (a local registry in tests).
    pub(crate) registry_override: Option<String>,
    /// Releases to a protected environment need explicit confirmation.
    pub(crate) protected: bool,
    /// Non-secret values the templates read as `values.<key>`.
    pub(crate) values: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentFile {
    region: String,
    account_id: Spanned<String>,
    cluster: String,
    registry: Option<String>,
    #[serde(default)]
    protected: bool,
    #[serde(default)]
    values: toml::Table,
}

/// One folder under `services/`, with the conventions filled in.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) name: String,
    /// The service folder, relative to the project root.
    pub(crate) dir: PathBuf,
    /// The image repository name (in ECR, `<registry>/<repository>`).
    pub(crate) repository: String,
    /// The build context, relative to the project root.
    pub(crate) context: PathBuf,
    /// The Dockerfile, relative to the project root.
    pub(crate) dockerfile: PathBuf,
    pub(crate) platform: String,
    /// Services whose images must be built before this one (its `FROM` images).
    pub(crate) after: Vec<String>,
    /// Build arguments; values are templates rendered like any other.
    pub(crate) build_args: BTreeMap<String, String>,
    /// A host command run in the service folder before the image build.
    pub(crate) prebuild: Option<Vec<String>>,
    /// A command run as a one-off task of the new task definition before the
    /// service is deployed (database migrations); a failure deploys nothing.
    pub(crate) before_deploy: Option<Vec<String>>,
    /// Env-file template name under `templates/`.
    pub(crate) env_template: Option<String>,
    /// ECS task-definition template name under `templates/`; a service
    /// without one is built and pushed but never deployed on its own.
    pub(crate) task_definition_template: Option<String>,
    pub(crate) ecs_service: String,
    /// The ECS cluster the service runs in, when not the environment's.
    pub(crate) cluster: Option<String>,
    /// Create the ECR repository with immutable tags.
    pub(crate) immutable_tags: bool,
    /// Paths outside the build context that the image is made from (a lock
    /// file, a shared library), relative to the project root.
    pub(crate) inputs: Vec<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    repository: Option<String>,
    context: Option<String>,
    dockerfile: Option<String>,
    platform: Option<Spanned<String>>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    #[serde(default)]
    build_args: BTreeMap<String, String>,
    prebuild: Option<Vec<String>>,
    before_deploy: Option<Vec<String>>,
    env_template: Option<Spanned<String>>,
    task_definition_template: Option<Spanned<String>>,
    ecs_service: Option<String>,
    cluster: Option<String>,
    #[serde(default)]
    immutable_tags: bool,
    #[serde(default)]
    inputs: Vec<Spanned<String>>,
}

impl Service {
    /// The ECS cluster the service runs in: its own `cluster`, else the environment's.
    pub(crate) fn cluster<'a>(&'a self, environment: &'a Environment) -> &'a str {
        self.cluster.as_deref().unwrap_or(&environment.cluster)
    }
}

impl Project {
    /// Finds the project root from the current directory and loads every service.
    pub(crate) fn discover() -> Result<Project> {
        let cwd = std::env::current_dir().context("read the current directory")?;
        let root = find_root(&cwd)?;
        Project::load(root)
    }

    pub(crate) fn load(root: PathBuf) -> Result<Project> {
        let services = load_services(&root)?;
        Ok(Project { root, services })
    }

    pub(crate) fn templates_dir(&self) -> PathBuf {
        self.root.join("templates")
    }

    /// Loads `env/<name>.toml`; an unknown name lists the environments there are.
    pub(crate) fn environment(&self, name: &str) -> Result<Environment> {
        let rel = PathBuf::from("env").join(format!("{name}.toml"));
        let path = self.root.join(&rel);
        if !path.is_file() {
            let known = self.environment_names()?;
            bail!(
                "unknown environment `{name}`: there is no {}; environments here: {}",
                rel.display(),
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            );
        }
        let source = read(&self.root, &rel)?;
        let file: EnvironmentFile = parse_toml(&rel, &source)?;
        let account_id = file.account_id.get_ref();
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!(
                "{}:{}: `account_id` must be the 12-digit AWS account id, not {account_id:?}",
                rel.display(),
                line_of(&source, file.account_id.span().start)
            );
        }
        Ok(Environment {
            name: name.to_string(),
            region: file.region,
            account_id: file.account_id.into_inner(),
            cluster: file.cluster,
            registry_override: file.registry,
            protected: file.protected,
            values: file.values,
        })
    }

    pub(crate) fn environment_names(&self) -> Result<Vec<String>> {
        let dir = self.root.join("env");
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                    names.push(stem.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// The services named on the command line, in project order, or all of
    /// them when none is named. An unknown name lists the services there are.
    pub(crate) fn select(&self, names: &[String]) -> Result<Vec<&Service>> {
        for name in names {
            if self.service(name).is_none() {
                bail!(
                    "unknown service `{name}`: there is no services/{name}/; services here: {}",
                    self.service_names().join(", ")
                );
            }
        }
        Ok(self.services.iter().filter(|s| names.is_empty() || names.contains(&s.name)).collect())
    }

    pub(crate) fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// What a service's image is made of, as paths relative to the project
    /// root: its folder, its build context, its declared `inputs`, and the
    /// same for every service it is built from. What build arguments read
    /// from the environment is not a path: it goes into the tag's digest
    /// (identity.rs). `None` when a path leaves the project, or a build
    /// argument does not render, so its images cannot be told.
    pub(crate) fn image_inputs(&self, service: &Service) -> Option<Vec<PathBuf>> {
        let mut inputs = Vec::new();
        let mut seen = Vec::new();
        self.collect_image_inputs(service, &mut inputs, &mut seen)?;
        inputs.sort();
        inputs.dedup();
        Some(inputs)
    }

    fn collect_image_inputs<'a>(
        &'a self,
        service: &'a Service,
        inputs: &mut Vec<PathBuf>,
        seen: &mut Vec<&'a str>,
    ) -> Option<()> {
        // A cycle between services is reported by the plan; here it only must not loop.
        if seen.contains(&service.name.as_str()) {
            return Some(());
        }
        seen.push(&service.name);
        for path in [&service.dir, &service.context, &service.dockerfile].into_iter().chain(&service.inputs) {
            // A context of "../.." is the whole project, the empty path; one outside it cannot be tracked.
            inputs.push(within_root(path)?);
        }
        let mut upstream: Vec<&str> = service.after.iter().map(String::as_str).collect();
        let mut upstream_read = Vec::new();
        for template in service.build_args.values() {
            upstream_read.extend(images_read_by(template)?);
        }
        upstream.extend(upstream_read.iter().map(String::as_str));
        for name in upstream {
            self.collect_image_inputs(self.service(name)?, inputs, seen)?;
        }
        Some(())
    }

    fn service_names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.name.as_str()).collect()
    }
}

/// The nearest directory at or above `start` that has both `env/` and `services/`.
fn find_root(start: &Path) -> Result<PathBuf> {
    for dir in start.ancestors() {
        if dir.join("env").is_dir() && dir.join("services").is_dir() {
            return Ok(dir.to_path_buf());
        }
    }
    bail!(
        "no project found: neither {} nor any parent directory has both `env/` and `services/`; \
         run cargo xtask from inside the project",
        start.display()
    )
}

fn read(root: &Path, rel: &Path) -> Result<String> {
    fs::read_to_string(root.join(rel)).with_context(|| format!("read {}", rel.display()))
}

/// Deserializes TOML, turning the parser's error into `file:line: message`
/// with serde's "field" said as TOML's "key".
fn parse_toml<T: for<'de> Deserialize<'de>>(rel: &Path, source: &str) -> Result<T> {
    toml::from_str(source).map_err(|err| {
        let line = err.span().map(|span| line_of(source, span.start)).unwrap_or(1);
        let message = err.message().trim().replace("unknown field", "unknown key");
        anyhow::anyhow!("{}:{line}: {message}", rel.display())
    })
}

/// The 1-based line number of a byte offset.
pub(crate) fn line_of(source: &str, offset: usize) -> usize {
    let offset = offset.min(source.len());
    source.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

mod services;

use services::{images_read_by, load_services, within_root};

#[cfg(test)]
mod tests;
