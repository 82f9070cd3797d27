//! Template rendering: one minijinja environment in strict mode, so that a
//! missing value is an error naming the template and line, never an empty
//! string in a production env file.
//!
//! Templates see:
//! - `environment`: name, region, account_id, cluster, registry;
//! - `values`: the `[values]` table of `env/<name>.toml`;
//! - `service`: name, repository, platform, os, arch, ecs_service, cluster, and
//!   commit and image_tag: the commit its image is built from, and its tag;
//! - `target`: `"compose"` when an env file is rendered for docker compose,
//!   `"ecs"` when it feeds a task definition, so a template can keep a
//!   local-only secret out of ECS;
//! - `git`: sha, short_sha, dirty, tags, image_tag;
//! - `image` (this service's image reference) and `images.<service>`;
//! - in task definitions, `service_env`: the service's env file as a list of
//!   `{name, value}`, so one template feeds both compose and ECS;
//! - `env("NAME")`: a process variable, required unless `default=` is given;
//! - `secret("NAME")`: the same, redacted whenever output is shown.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Serde, Value};
use minijinja::{AutoEscape, Environment as Jinja, ErrorKind, State, UndefinedBehavior};
use serde::Serialize;

use crate::git::Revision;
use crate::project::{Environment, Project, Service};

/// What `render` and `--dry-run` print in place of a secret value.
pub(crate) const REDACTED: &str = "<redacted>";

/// Whether secret values are rendered (files on disk) or redacted (anything shown).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrets {
    Reveal,
    Redact,
}

/// Which of a service's templates a command needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Env files only, for local docker compose.
    EnvFiles,
    /// Build arguments only, for building and pushing images.
    Images,
    /// What a release sends: task definitions and build arguments. An env
    /// template is rendered (for ECS) only when a task definition reads it
    /// through `service_env`, so CI needs none of the process variables that
    /// only the compose env files read.
    Release,
    /// Every template, for showing and checking them all.
    All,
}

/// A process variable a template needs and the process does not have.
struct Missing {
    /// Templates that asked for it, sorted.
    templates: BTreeSet<String>,
}

#[derive(Default)]
struct Shared {
    missing: BTreeMap<String, Missing>,
    /// Values read through `secret(...)` or from secret-looking variables, by
    /// variable, as they were rendered (redacted or not), so that a task
    /// definition carrying one is caught whatever it is called there.
    secret_values: BTreeMap<String, String>,
}

/// Shorter values are too likely to appear by chance to be searched for.
const SHORTEST_SEARCHED_SECRET: usize = 6;

pub(crate) struct Renderer<'p> {
    project: &'p Project,
    secrets: Secrets,
    jinja: Jinja<'static>,
    shared: Arc<Mutex<Shared>>,
    context: BaseContext,
}

#[derive(Serialize, Clone)]
struct BaseContext {
    environment: EnvironmentView,
    values: toml::Table,
    git: Revision,
    images: BTreeMap<String, String>,
}

#[derive(Serialize, Clone)]
struct EnvironmentView {
    name: String,
    region: String,
    account_id: String,
    cluster: String,
    registry: String,
}

#[derive(Serialize)]
struct ServiceView<'a> {
    name: &'a str,
    repository: &'a str,
    platform: &'a str,
    os: &'a str,
    arch: &'a str,
    ecs_service: &'a str,
    /// The ECS cluster it runs in (its own `cluster`, else the environment's).
    cluster: &'a str,
    /// The commit the service's image is built from.
    commit: &'a str,
    image_tag: &'a str,
}

#[derive(Serialize)]
struct TemplateContext<'a> {
    #[serde(flatten)]
    base: &'a BaseContext,
    service: ServiceView<'a>,
    image: &'a str,
    target: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_env: Option<Vec<EnvVar>>,
}

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct EnvVar {
    pub(crate) name: String,
    pub(crate) value: String,
}

/// One service's rendered outputs. Either may be absent when the service has no such template.
pub(crate) struct Rendered {
    pub(crate) build_args: BTreeMap<String, String>,
    pub(crate) env_file: Option<String>,
    pub(crate) task_definition: Option<String>,
}

/// Every problem found while rendering a set of templates, reported together
/// so a user fixes them in one pass.
#[derive(Debug)]
pub(crate) struct RenderErrors(pub(crate) Vec<String>);

impl std::fmt::Display for RenderErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.len();
        writeln!(f, "{n} template problem{} found, nothing was written:", if n == 1 { "" } else { "s" })?;
        for (i, problem) in self.0.iter().enumerate() {
            write!(f, "  {problem}")?;
            if i + 1 < n {
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for RenderErrors {}

/// The registry host images of an environment are pushed to.
pub(crate) fn registry_host(environment: &Environment) -> String {
    environment
        .registry_override
        .clone()
        .unwrap_or_else(|| format!("{}.dkr.ecr.{}.amazonaws.com", environment.account_id, environment.region))
}

/// The tagged image reference of a service for a revision: tagged with the
/// commit its image is built from.
pub(crate) fn image_reference(registry: &str, service: &Service, revision: &Revision) -> String {
    format!("{registry}/{}:{}", service.repository, revision.image(&service.name).image_tag)
}

impl<'p> Renderer<'p> {
    pub(crate) fn new(
        project: &'p Project,
        environment: &Environment,
        revision: &Revision,
        secrets: Secrets,
    ) -> Renderer<'p> {
        let registry = registry_host(environment);
        let images = project
            .services
            .iter()
            .map(|s| (s.name.clone(), image_reference(&registry, s, revision)))
            .collect();
        let context = BaseContext {
            environment: EnvironmentView {
                name: environment.name.clone(),
                region: environment.region.clone(),
                account_id: environment.account_id.clone(),
                cluster: environment.cluster.clone(),
                registry,
            },
            values: environment.values.clone(),
            git: revision.clone(),
            images,
        };

        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut jinja = Jinja::new();
        jinja.set_undefined_behavior(UndefinedBehavior::Strict);
        // Debug info keeps the variable name in undefined-value errors in release builds too.
        jinja.set_debug(true);
        // Env files are line-oriented: block tags must not leave blank lines
        // behind, and the last line keeps its newline.
        jinja.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        for (name, secret) in [("env", false), ("secret", true)] {
            let shared = Arc::clone(&shared);
            jinja.add_function(name, move |state: &State, var: String, kwargs: Kwargs| {
                process_variable(&shared, state, &var, &kwargs, secret, secrets)
            });
        }
        // minijinja escapes `*.json.j2` output as JSON by default, which quotes
        // every value; templates say `| tojson` where they mean it, and the
        // rendered JSON is validated instead.
        jinja.set_auto_escape_callback(|_| AutoEscape::None);
        Renderer { project, secrets, jinja, shared, context }
    }

    /// Renders one service's env file and task definition.
    ///
    /// Template errors come back in `Err`; a missing process variable does not
    /// stop rendering (it renders as empty) but is remembered, so that
    /// [`Renderer::finish`] reports every missing variable at once.
    pub(crate) fn render_service(
        &mut self,
        service: &Service,
        scope: Scope,
    ) -> Result<Rendered, Vec<String>> {
        let mut problems = Vec::new();
        let image = self.context.images[&service.name].clone();
        let image_revision = self.context.git.image(&service.name).clone();
        let (os, arch) = service.platform.split_once('/').unwrap_or(("linux", "amd64"));
        let view = |target, service_env| TemplateContext {
            base: &self.context,
            service: ServiceView {
                name: &service.name,
                repository: &service.repository,
                platform: &service.platform,
                os,
                arch,
                ecs_service: &service.ecs_service,
                cluster: service.cluster.as_deref().unwrap_or(&self.context.environment.cluster),
                commit: &image_revision.commit,
                image_tag: &image_revision.image_tag,
            },
            image: &image,
            target,
            service_env,
        };

        let env_file = match &service.env_template {
            Some(name) if matches!(scope, Scope::EnvFiles | Scope::All) => {
                match render_template(&mut self.jinja, self.project, name, &view("compose", None)) {
                    Ok(text) => {
                        problems.extend(crate::envfile::problems(&text, &format!("templates/{name}"), true));
                        Some(text)
                    }
                    Err(problem) => {
                        problems.push(problem);
                        None
                    }
                }
            }
            _ => None,
        };

        let mut ecs_env_file = None;
        let task_definition = match &service.task_definition_template {
            Some(name) if matches!(scope, Scope::Release | Scope::All) => {
                // The env file as ECS gets it: rendered again with target "ecs",
                // and only when the task definition reads it.
                let reads_env = match reads_variable(&mut self.jinja, self.project, name, "service_env") {
                    Ok(reads) => reads,
                    Err(problem) => {
                        problems.push(problem);
                        false
                    }
                };
                let service_env = match &service.env_template {
                    Some(env_name) if reads_env => {
                        match render_template(&mut self.jinja, self.project, env_name, &view("ecs", None)) {
                            Ok(text) => {
                                // Under `All` the compose rendering was checked in full above.
                                if scope == Scope::Release {
                                    let origin = format!("templates/{env_name}");
                                    problems.extend(crate::envfile::problems(&text, &origin, false));
                                }
                                let variables = parse_env_file(&text);
                                ecs_env_file = Some(text);
                                variables
                            }
                            Err(problem) => {
                                // Under `All` the same template failed above and was reported.
                                if scope == Scope::Release {
                                    problems.push(problem);
                                }
                                Vec::new()
                            }
                        }
                    }
                    _ => Vec::new(),
                };
                match render_template(&mut self.jinja, self.project, name, &view("ecs", Some(service_env))) {
                    Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(json) => {
                            let registry = &self.context.environment.registry;
                            let mut found = check_task_definition(name, &json, service, registry);
                            let shared = self.shared.lock().unwrap();
                            let mut strings = Vec::new();
                            collect_strings(&json, &mut strings);
                            for (variable, value) in &shared.secret_values {
                                // Searched in the decoded strings: templates escape as they like.
                                if strings.iter().any(|s| s.contains(value.as_str())) {
                                    found.push(format!(
                                        "templates/{name}: the value of {variable}, a secret, is written into the \
                                         task definition; reference it under `secrets` instead, with `valueFrom` \
                                         an SSM parameter or Secrets Manager ARN"
                                    ));
                                }
                            }
                            drop(shared);
                            if found.is_empty() {
                                Some(text)
                            } else {
                                problems.extend(found);
                                None
                            }
                        }
                        Err(e) => {
                            problems.push(invalid_json(name, &text, &e));
                            None
                        }
                    },
                    Err(problem) => {
                        problems.push(problem);
                        None
                    }
                }
            }
            _ => None,
        };

        let mut build_args = BTreeMap::new();
        let wanted_args = if scope == Scope::EnvFiles { &BTreeMap::new() } else { &service.build_args };
        for (key, source) in wanted_args {
            let origin = format!("{}: build_args.{key}", service.dir.join("service.toml").display());
            match self.render_str(&origin, source) {
                Ok(value) => {
                    build_args.insert(key.clone(), value);
                }
                Err(problem) => problems.push(problem),
            }
        }

        if problems.is_empty() {
            let mut env_file = if scope == Scope::Release { ecs_env_file } else { env_file };
            let mut task_definition = task_definition;
            // What is shown never repeats a credential, whatever it is called.
            if self.secrets == Secrets::Redact {
                for text in [&mut env_file, &mut task_definition].into_iter().flatten() {
                    *text = crate::secrets::redact(text);
                }
            }
            Ok(Rendered { build_args, env_file, task_definition })
        } else {
            Err(problems)
        }
    }

    /// Renders one template string, for build arguments.
    fn render_str(&mut self, origin: &str, source: &str) -> Result<String, String> {
        let value = Value::from(Serde(&self.context));
        self.jinja
            .render_str(source, value)
            .map_err(|e| format!("{origin}: {}{}", describe(&e), hyphen_hint(source)))
    }

    /// The process variables templates asked for and the process lacks, sorted.
    pub(crate) fn missing_variables(&self) -> Vec<String> {
        self.shared.lock().unwrap().missing.keys().cloned().collect()
    }

    /// Turns the process variables that were missing into problems, one per
    /// variable, naming the templates that need it.
    pub(crate) fn finish(&self, problems: &mut Vec<String>) {
        let shared = self.shared.lock().unwrap();
        for (name, missing) in &shared.missing {
            let templates: Vec<_> = missing.templates.iter().map(|t| format!("templates/{t}")).collect();
            problems.push(format!(
                "process variable {name} is not set (required by {}); export it, or give the template \
                 a default: env(\"{name}\", default=\"...\")",
                templates.join(", ")
            ));
        }
    }
}

/// What rendering some services gave: the outputs of those that rendered,
/// every template problem, and the process variables that were missing
/// (reported apart, since only some callers require them).
pub(crate) struct Report<'s> {
    pub(crate) rendered: Vec<(&'s Service, Rendered)>,
    pub(crate) problems: Vec<String>,
    pub(crate) missing: Vec<String>,
    /// The missing variables as problems, naming the templates that need each.
    pub(crate) missing_problems: Vec<String>,
}

/// Renders every given service for one environment, collecting every problem.
pub(crate) fn render_all<'s>(
    project: &Project,
    environment: &Environment,
    revision: &Revision,
    services: &[&'s Service],
    scope: Scope,
    secrets: Secrets,
) -> Report<'s> {
    // The tags this environment gives the images, whatever revision came in.
    let revision = crate::identity::for_environment(project, environment, revision);
    let mut renderer = Renderer::new(project, environment, &revision, secrets);
    let mut problems = Vec::new();
    let mut rendered = Vec::with_capacity(services.len());
    for &service in services {
        match renderer.render_service(service, scope) {
            Ok(outputs) => rendered.push((service, outputs)),
            Err(mut service_problems) => problems.append(&mut service_problems),
        }
    }
    let mut missing_problems = Vec::new();
    renderer.finish(&mut missing_problems);
    Report { rendered, problems, missing: renderer.missing_variables(), missing_problems }
}

/// Whether a template reads a top-level variable (minijinja's own analysis
/// of the parsed template, so `{% if %}` branches count too).
fn reads_variable(
    jinja: &mut Jinja<'static>,
    project: &Project,
    name: &str,
    variable: &str,
) -> Result<bool, String> {
    let template = load_template(jinja, project, name)?;
    Ok(template.undeclared_variables(false).contains(variable))
}

/// A template of `templates/`, read and parsed the first time it is asked for.
fn load_template<'j>(
    jinja: &'j mut Jinja<'static>,
    project: &Project,
    name: &str,
) -> Result<minijinja::Template<'j, 'j>, String> {
    if jinja.get_template(name).is_err() {
        let path = project.templates_dir().join(name);
        let source = fs::read_to_string(&path)
            .with_context(|| format!("read templates/{name}"))
            .map_err(|e| format!("{e:#}"))?;
        jinja.add_template_owned(name.to_string(), source).map_err(|e| located(&e))?;
    }
    jinja.get_template(name).map_err(|e| located(&e))
}

fn render_template<C: Serialize>(
    jinja: &mut Jinja<'static>,
    project: &Project,
    name: &str,
    context: &C,
) -> Result<String, String> {
    let template = load_template(jinja, project, name)?;
    template
        .render(Value::from(Serde(context)))
        .map_err(|e| format!("{}{}", located(&e), hyphen_hint(template.source())))
}

/// `images.web-base` reads to minijinja as `images.web` minus `base`: when a
/// template that failed has such a name, the error says how to write it.
fn hyphen_hint(source: &str) -> String {
    let mut rest = source;
    while let Some(at) = rest.find("images.") {
        let after = &rest[at + "images.".len()..];
        let name: String =
            after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
        let name = name.trim_end_matches('-');
        if name.contains('-') {
            return format!(
                "; minijinja reads `images.{name}` as a subtraction: write `images['{name}']` for a service \
                 whose name has a `-`"
            );
        }
        rest = after;
    }
    String::new()
}

fn process_variable(
    shared: &Mutex<Shared>,
    state: &State,
    var: &str,
    kwargs: &Kwargs,
    secret: bool,
    secrets: Secrets,
) -> Result<Value, minijinja::Error> {
    let default: Option<String> = kwargs.get("default")?;
    kwargs.assert_all_used()?;
    let value = match (std::env::var(var), default) {
        (Ok(value), _) => value,
        (Err(_), Some(default)) => default,
        (Err(_), None) => {
            let mut shared = shared.lock().unwrap();
            let entry = shared
                .missing
                .entry(var.to_string())
                .or_insert_with(|| Missing { templates: BTreeSet::new() });
            entry.templates.insert(state.name().to_string());
            String::new()
        }
    };
    let secretish = secret || looks_secret(var);
    let rendered = if secrets == Secrets::Redact && secretish && !value.is_empty() {
        REDACTED.to_string()
    } else {
        value
    };
    if secretish && rendered.len() >= SHORTEST_SEARCHED_SECRET {
        shared.lock().unwrap().secret_values.insert(var.to_string(), rendered.clone());
    }
    Ok(Value::from(rendered))
}

/// Whether a variable's name says it holds a credential, so that it is
/// redacted even when a template forgot to use `secret(...)`.
pub(crate) fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.contains("SECRET")
        || upper.contains("PASSWORD")
        || upper.contains("TOKEN")
        || upper.contains("CONNECTION_STRING")
        || upper.ends_with("_KEY")
        || upper.ends_with("KEY_ID")
        || upper == "DSN"
        || upper.ends_with("_DSN")
}

/// `KEY=VALUE` lines of an env file; blank lines and `#` comments are skipped.
pub(crate) fn parse_env_file(text: &str) -> Vec<EnvVar> {
    text.lines()
        .filter_map(crate::envfile::variable)
        .map(|(name, value)| EnvVar { name: name.to_string(), value: value.to_string() })
        .collect()
}

/// What a task definition must not do, whatever the template says: depart
/// from what RegisterTaskDefinition takes, put a credential where anyone who
/// can describe it reads it, hide what runs behind `latest`, or ask for a
/// CPU the image was not built for. Each problem names the field's path.
fn check_task_definition(
    template: &str,
    json: &serde_json::Value,
    service: &Service,
    registry: &str,
) -> Vec<String> {
    let at = format!("templates/{template}");
    let mut problems: Vec<String> =
        crate::taskdef::check_schema(json).into_iter().map(|problem| format!("{at}: {problem}")).collect();
    let containers =
        json.get("containerDefinitions").and_then(|c| c.as_array()).map(Vec::as_slice).unwrap_or(&[]);
    for container in containers {
        let name = container.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        let field = format!("containerDefinitions[{name}]");
        let variables =
            container.get("environment").and_then(|e| e.as_array()).map(Vec::as_slice).unwrap_or(&[]);
        for entry in variables {
            let Some(variable) = entry.get("name").and_then(|n| n.as_str()) else { continue };
            let value = entry.get("value").and_then(|v| v.as_str()).unwrap_or_default();
            let what = if looks_secret(variable) {
                "a secret-looking name".to_string()
            } else if let Some(shape) = crate::secrets::shape(value) {
                format!("the value looks like {shape}")
            } else {
                continue;
            };
            problems.push(format!(
                "{at}: {field}.environment[{variable}]: {what} in `environment`, where anyone who can describe \
                 the task definition reads it; move it under `secrets`, with `valueFrom` an SSM parameter (name or \
                 ARN) or a Secrets Manager ARN"
            ));
        }
        let secrets = container.get("secrets").and_then(|e| e.as_array()).map(Vec::as_slice).unwrap_or(&[]);
        for secret in secrets {
            let variable = secret.get("name").and_then(|n| n.as_str()).unwrap_or("?");
            let Some(reference) = secret.get("valueFrom").and_then(|v| v.as_str()) else { continue };
            if !is_secret_reference(reference) {
                problems.push(format!(
                    "{at}: {field}.secrets[{variable}].valueFrom is neither an SSM parameter or Secrets Manager \
                     ARN nor an SSM parameter name (letters, digits, `_.-/`); write the reference there, never \
                     the value"
                ));
            }
        }
        if let Some(image) = container.get("image").and_then(|i| i.as_str()) {
            if let Some(problem) = unpinned_image(image, registry) {
                problems.push(format!("{at}: {field}.image: {problem}"));
            }
        }
    }
    let wanted = if service.platform == "linux/arm64" { "ARM64" } else { "X86_64" };
    if let Some(arch) = json.pointer("/runtimePlatform/cpuArchitecture").and_then(|a| a.as_str()) {
        if arch != wanted {
            problems.push(format!(
                "{at}: runtimePlatform.cpuArchitecture is {arch}, but {} builds its image for {}; make them agree \
                 (`platform` in {})",
                service.name,
                service.platform,
                service.dir.join("service.toml").display()
            ));
        }
    }
    problems
}

/// Why an image reference does not say what runs, if it does not: the
/// project's own images are tagged with their commit by `{{ image }}`; any
/// other image (a sidecar such as the X-Ray daemon or Envoy) needs a version
/// tag or a digest.
fn unpinned_image(image: &str, registry: &str) -> Option<String> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    let tag = last.split_once(':').map(|(_, tag)| tag);
    if tag.is_some_and(|tag| tag != "latest") {
        return None;
    }
    let what = if tag.is_some() { "is tagged `latest`" } else { "has no tag" };
    Some(if image.starts_with(&format!("{registry}/")) {
        format!("`{image}` {what}, which does not say what runs; use `{{{{ image }}}}` (or `{{{{ images.<service> }}}}`), tagged with the commit")
    } else {
        format!("`{image}` {what}, which does not say what runs; pin a version tag or a digest (`{}:<version>` or `{}@sha256:<digest>`)", image.trim_end_matches(":latest"), image.trim_end_matches(":latest"))
    })
}

/// An ECS secret reference: an SSM parameter or Secrets Manager ARN, or the
/// name of an SSM parameter in the task's own region (both valid in ECS).
pub(crate) fn is_secret_reference(reference: &str) -> bool {
    if let Some(rest) = reference.strip_prefix("arn:") {
        let service = rest.split(':').nth(1).unwrap_or("");
        return matches!(service, "ssm" | "secretsmanager") && rest.split(':').count() >= 5;
    }
    !reference.is_empty()
        && reference.len() <= 2048
        && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
}

/// Every string in a JSON document, keys and values.
fn collect_strings<'j>(json: &'j serde_json::Value, out: &mut Vec<&'j str>) {
    match json {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                out.push(key);
                collect_strings(value, out);
            }
        }
        _ => {}
    }
}

/// Names the template and quotes the rendered line the JSON parser stopped at,
/// which is where a value broke out of its quotes or a comma went missing.
fn invalid_json(template: &str, text: &str, e: &serde_json::Error) -> String {
    let message = e.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    let line = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("").trim();
    format!(
        "templates/{template}: rendered text is not valid JSON ({message}) at rendered line {} column {}: {line}",
        e.line(),
        e.column()
    )
}

/// `templates/<name>:<line>: <what>`, the way every template error is shown.
fn located(e: &minijinja::Error) -> String {
    let name = e.name().unwrap_or("<template>");
    match e.line() {
        Some(line) => format!("templates/{name}:{line}: {}", describe(e)),
        None => format!("templates/{name}: {}", describe(e)),
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut text = String::new();
    match e.kind() {
        ErrorKind::UndefinedError => {
            text.push_str("undefined value");
            if let Some(detail) = e.detail() {
                let _ = write!(text, ": {detail}");
            }
        }
        ErrorKind::SyntaxError => {
            text.push_str("syntax error");
            if let Some(detail) = e.detail() {
                let _ = write!(text, ": {detail}");
            }
        }
        _ => {
            let _ = write!(text, "{}", e.kind());
            if let Some(detail) = e.detail() {
                let _ = write!(text, ": {detail}");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests;
