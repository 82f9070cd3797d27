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
use std::fs;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Serde, Value};
use minijinja::{AutoEscape, Environment as Jinja, State, UndefinedBehavior};
use serde::Serialize;

use crate::git::Revision;
use crate::project::{Environment, Project, Service};
use crate::secrets::{looks_secret, REDACTED};
use crate::taskdef::TaskDef;

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

#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub(crate) struct EnvVar {
    pub(crate) name: String,
    pub(crate) value: String,
}

/// One service's rendered outputs. Either may be absent when the service has no such template.
pub(crate) struct Rendered {
    pub(crate) build_args: BTreeMap<String, String>,
    pub(crate) env_file: Option<String>,
    pub(crate) task_definition: Option<TaskDef>,
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
            .map(|s| (s.name.clone(), ImageRef::of(&registry, s, revision).to_string()))
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
            let task_definition = match task_definition.map(TaskDef::parse).transpose() {
                Ok(parsed) => parsed,
                Err(problem) => {
                    let name = service.task_definition_template.as_deref().unwrap_or_default();
                    return Err(vec![format!("templates/{name}: {problem}")]);
                }
            };
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

/// Renders every given service for one environment, collecting every
/// problem. `revision` gives the images the tags of this environment
/// (`identity::for_environment`).
pub(crate) fn render_all<'s>(
    project: &Project,
    environment: &Environment,
    revision: &Revision,
    services: &[&'s Service],
    scope: Scope,
    secrets: Secrets,
) -> Report<'s> {
    let mut renderer = Renderer::new(project, environment, revision, secrets);
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

mod checks;
mod context;
mod errors;
mod templates;
mod variables;

pub(crate) use crate::image_ref::registry_host;
use crate::image_ref::ImageRef;
use checks::check_task_definition;
use context::{BaseContext, EnvironmentView, ServiceView, TemplateContext};
pub(crate) use errors::RenderErrors;
use errors::{collect_strings, describe, invalid_json, located};
use templates::{hyphen_hint, reads_variable, render_template};
pub(crate) use variables::parse_env_file;
use variables::process_variable;

#[cfg(test)]
mod tests;
