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

/// A path relative to the project root with `.` and `..` resolved, or
/// `None` when it leaves the project.
fn within_root(path: &Path) -> Option<PathBuf> {
    let mut resolved = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::Normal(part) => resolved.push(part),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !resolved.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(resolved)
}

/// The services whose images a build-argument template reads, in either
/// form (`images.base`, `images['web-base']`, `images.get(...)` with a
/// literal), found by rendering it once with an `images` that records what
/// is asked of it; anything else the template reads renders as nothing
/// (its value is part of the tag's digest, see identity.rs). `None` when
/// the template does not render even so: the caller then cannot tell
/// which images it is made from.
fn images_read_by(template: &str) -> Option<Vec<String>> {
    use minijinja::value::{Object, Rest, Value};

    #[derive(Debug, Default)]
    struct ImagesAsked(Mutex<Vec<String>>);

    impl Object for ImagesAsked {
        fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
            let name = key.as_str()?;
            self.0.lock().unwrap().push(name.to_string());
            Some(Value::from(format!("image-of-{name}")))
        }
    }

    let asked = Arc::new(ImagesAsked::default());
    let mut jinja = minijinja::Environment::new();
    jinja.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    for function in ["env", "secret"] {
        jinja.add_function(function, |_: Rest<Value>| String::new());
    }
    let images = Value::from_dyn_object(asked.clone());
    jinja.render_str(template, minijinja::context! { images => images }).ok()?;
    let mut names = asked.0.lock().unwrap().clone();
    names.sort();
    names.dedup();
    Some(names)
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

fn load_services(root: &Path) -> Result<Vec<Service>> {
    let services_dir = root.join("services");
    let mut names = Vec::new();
    let entries = fs::read_dir(&services_dir).with_context(|| format!("read {}", services_dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();

    let mut services = Vec::with_capacity(names.len());
    let mut spans = Vec::with_capacity(names.len());
    for name in &names {
        let (service, after_spans) = load_service(root, name)?;
        services.push(service);
        spans.push(after_spans);
    }

    // References between services are checked once all are known.
    for (service, after) in services.iter().zip(&spans) {
        for (dep, line) in after {
            if !names.contains(dep) {
                bail!(
                    "{}:{line}: `after` names unknown service `{dep}`; services here: {}",
                    service.dir.join("service.toml").display(),
                    names.join(", ")
                );
            }
        }
    }
    Ok(services)
}

/// Loads one service; also returns its `after` entries with their lines for
/// the cross-service check.
fn load_service(root: &Path, name: &str) -> Result<(Service, Vec<(String, usize)>)> {
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
        bail!(
            "services/{name}: a service name may only use lower-case letters, digits, `-` and `_` \
             (it becomes an image repository name); rename the folder"
        );
    }
    let dir = PathBuf::from("services").join(name);
    let config_rel = dir.join("service.toml");
    let (file, source) = if root.join(&config_rel).is_file() {
        let source = read(root, &config_rel)?;
        (parse_toml::<ServiceFile>(&config_rel, &source)?, source)
    } else {
        (ServiceFile::default(), String::new())
    };
    let at = |offset: usize| format!("{}:{}", config_rel.display(), line_of(&source, offset));

    let context = match file.context.as_deref() {
        None | Some(".") => dir.clone(),
        Some(relative) => dir.join(relative),
    };
    let dockerfile = context.join(file.dockerfile.as_deref().unwrap_or("Dockerfile"));
    if !root.join(&dockerfile).is_file() {
        bail!(
            "{}: no Dockerfile at {}; add one, or set `dockerfile` (relative to the build context) \
             in {}",
            dir.display(),
            dockerfile.display(),
            config_rel.display()
        );
    }

    let platform = match file.platform {
        Some(p) => {
            let value = p.get_ref();
            if !matches!(value.as_str(), "linux/amd64" | "linux/arm64") {
                bail!(
                    "{}: `platform` is {value:?}; Fargate runs \"linux/amd64\" or \"linux/arm64\"",
                    at(p.span().start)
                );
            }
            p.into_inner()
        }
        None => DEFAULT_PLATFORM.to_string(),
    };

    let template = |key: &str, given: Option<Spanned<String>>, conventional: String| {
        match given {
            Some(t) => {
                if !root.join("templates").join(t.get_ref()).is_file() {
                    bail!(
                        "{}: `{key}` names templates/{}, which does not exist",
                        at(t.span().start),
                        t.get_ref()
                    );
                }
                Ok(Some(t.into_inner()))
            }
            // By convention a template named after the service is picked up.
            None => Ok(root.join("templates").join(&conventional).is_file().then_some(conventional)),
        }
    };
    let env_template = template("env_template", file.env_template, format!("{name}.env.j2"))?;
    let task_definition_template =
        template("task_definition_template", file.task_definition_template, format!("{name}.task.json.j2"))?;

    let mut after = Vec::new();
    let mut after_spans = Vec::new();
    for dep in file.after {
        after_spans.push((dep.get_ref().clone(), line_of(&source, dep.span().start)));
        after.push(dep.into_inner());
    }

    let mut inputs = Vec::new();
    for input in file.inputs {
        let path = PathBuf::from(input.get_ref());
        let escapes = path.components().any(|c| !matches!(c, std::path::Component::Normal(_)));
        if escapes || !root.join(&path).exists() {
            bail!(
                "{}: `inputs` names {:?}, which is not a file or folder of the project; give paths \
                 relative to the project root, such as \"Cargo.lock\" or \"libs/common\"",
                at(input.span().start),
                input.get_ref()
            );
        }
        inputs.push(path);
    }

    if let Some(argv) = &file.prebuild {
        if argv.is_empty() {
            bail!("{}: `prebuild` is empty; give the command and its arguments", config_rel.display());
        }
    }

    let service = Service {
        name: name.to_string(),
        repository: file.repository.unwrap_or_else(|| name.to_string()),
        context,
        dockerfile,
        platform,
        after,
        build_args: file.build_args,
        prebuild: file.prebuild,
        env_template,
        task_definition_template,
        ecs_service: file.ecs_service.unwrap_or_else(|| name.to_string()),
        cluster: file.cluster,
        immutable_tags: file.immutable_tags,
        inputs,
        dir,
    };
    Ok((service, after_spans))
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

#[cfg(test)]
mod tests;
