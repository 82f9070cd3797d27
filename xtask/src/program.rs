//! A plan resolved once against the workspace and the rendered templates:
//! each step with every fact needed to print it and to run it (the
//! service, its image, its task definition, its cluster). The printed plan
//! is `Display` of these steps, and the executor runs the same values, so
//! what `--dry-run` says and what a run does cannot drift apart.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use anyhow::{Context as _, Result};

use crate::image_ref::{registry_host, ImageRef};
use crate::plan::{Plan, Step};
use crate::project::Service;
use crate::render::Rendered;
use crate::taskdef::{short_name, TaskDef};
use crate::workspace::Workspace;

/// A plan and, node by node, what each step does.
pub(crate) struct Program<'a> {
    pub(crate) workspace: &'a Workspace,
    /// The graph, with each register step after the pushes of the images
    /// its task definition runs.
    pub(crate) plan: Plan,
    /// One per node of `plan`, in the same order.
    pub(crate) actions: Vec<Action<'a>>,
    /// The registry the environment's images go to.
    pub(crate) registry: String,
    /// The services of the command, and what their templates rendered.
    pub(crate) rendered: &'a [(&'a Service, Rendered)],
    /// Set when the program rolls a service back instead of releasing it.
    pub(crate) rollback: Option<RollbackTo>,
}

/// A rollback the run carries out: the service goes back from the revision
/// it runs, `from`, to `revision`, a task definition ECS has already, whose
/// image was built from `commit`.
pub(crate) struct RollbackTo {
    pub(crate) service: String,
    pub(crate) from: String,
    pub(crate) revision: String,
    pub(crate) commit: String,
    /// Whether the target's images were found in their registry (not with `--force`).
    pub(crate) images_checked: bool,
}

/// One step with its facts.
pub(crate) enum Action<'a> {
    Prebuild {
        service: &'a Service,
        command: &'a [String],
        image: ImageRef,
    },
    Build {
        service: &'a Service,
        image: ImageRef,
        build_args: &'a BTreeMap<String, String>,
    },
    RegistryAuth,
    EnsureRepository {
        service: &'a Service,
    },
    Push {
        service: &'a Service,
        image: ImageRef,
    },
    Locate {
        service: &'a Service,
        image: ImageRef,
    },
    Register {
        service: &'a Service,
        definition: &'a TaskDef,
        /// The templates it was rendered from: the env template only where
        /// the task definition reads it (`service_env`).
        templates: Vec<String>,
    },
    BeforeDeploy {
        service: &'a Service,
        command: &'a [String],
    },
    RunTask {
        service: &'a Service,
    },
    Deploy {
        service: &'a Service,
        cluster: &'a str,
    },
    Wait {
        service: &'a Service,
        cluster: &'a str,
    },
}

impl<'a> Program<'a> {
    /// Resolves every step's service, image and task definition; a step
    /// naming a service the project or the rendering lacks is an error here,
    /// before anything runs.
    pub(crate) fn resolve(
        plan: &Plan,
        workspace: &'a Workspace,
        rendered: &'a [(&'a Service, Rendered)],
    ) -> Result<Program<'a>> {
        let registry = registry_host(&workspace.environment);
        let plan = link_images(plan, workspace, &registry, rendered);
        let environment = &workspace.environment;
        let service = |name: &str| -> Result<&'a Service> {
            workspace.project.service(name).with_context(|| format!("{name}: no such service in the project"))
        };
        let outputs = |name: &str| -> Result<&'a Rendered> {
            rendered
                .iter()
                .find(|(s, _)| s.name == name)
                .map(|(_, r)| r)
                .with_context(|| format!("{name}: its templates were not rendered for this command"))
        };
        let image = |service: &Service| ImageRef::of(&registry, service, &workspace.revision);
        let mut actions = Vec::with_capacity(plan.nodes.len());
        for node in &plan.nodes {
            actions.push(match &node.step {
                Step::Prebuild(name) => {
                    let service = service(name)?;
                    let command = service.prebuild.as_deref().unwrap_or_default();
                    Action::Prebuild { service, command, image: image(service) }
                }
                Step::Build(name) => {
                    let service = service(name)?;
                    Action::Build { service, image: image(service), build_args: &outputs(name)?.build_args }
                }
                Step::RegistryAuth => Action::RegistryAuth,
                Step::EnsureRepository(name) => Action::EnsureRepository { service: service(name)? },
                Step::Push(name) => {
                    let service = service(name)?;
                    Action::Push { service, image: image(service) }
                }
                Step::Locate(name) => {
                    let service = service(name)?;
                    Action::Locate { service, image: image(service) }
                }
                Step::Register(name) => {
                    let (service, rendered) = (service(name)?, outputs(name)?);
                    let definition = rendered
                        .task_definition
                        .as_ref()
                        .with_context(|| format!("{name} has no task definition template"))?;
                    let env_template = service.env_template.as_ref().filter(|_| rendered.env_file.is_some());
                    let templates = [env_template, service.task_definition_template.as_ref()]
                        .into_iter()
                        .flatten()
                        .map(|t| format!("templates/{t}"))
                        .collect();
                    Action::Register { service, definition, templates }
                }
                Step::BeforeDeploy(name) => {
                    let service = service(name)?;
                    Action::BeforeDeploy {
                        service,
                        command: service.before_deploy.as_deref().unwrap_or_default(),
                    }
                }
                Step::RunTask(name) => Action::RunTask { service: service(name)? },
                Step::Deploy(name) => {
                    let service = service(name)?;
                    Action::Deploy { service, cluster: service.cluster(environment) }
                }
                Step::Wait(name) => {
                    let service = service(name)?;
                    Action::Wait { service, cluster: service.cluster(environment) }
                }
            });
        }
        Ok(Program { workspace, plan, actions, registry, rendered, rollback: None })
    }

    /// A rollback's program (deploy and wait): nothing is rendered, the
    /// service goes back to a revision ECS has.
    pub(crate) fn rollback(plan: &Plan, workspace: &'a Workspace, to: RollbackTo) -> Result<Program<'a>> {
        let mut program = Program::resolve(plan, workspace, &[])?;
        program.rollback = Some(to);
        Ok(program)
    }

    /// The services of the command, in project order.
    pub(crate) fn services(&self) -> Vec<&'a Service> {
        if self.rendered.is_empty() {
            // A rollback renders nothing: its services are those its steps name.
            let mut services: Vec<&'a Service> = Vec::new();
            for action in &self.actions {
                if let Action::Deploy { service, .. } = action {
                    services.push(service);
                }
            }
            return services;
        }
        self.rendered.iter().map(|(s, _)| *s).collect()
    }

    /// The rollback the program carries out on `service`, if any.
    pub(crate) fn rollback_of(&self, service: &Service) -> Option<&RollbackTo> {
        self.rollback.as_ref().filter(|to| to.service == service.name)
    }

    /// What a step does, as the printed plan says it.
    pub(crate) fn detail(&self, index: usize) -> Detail<'_> {
        Detail { program: self, action: &self.actions[index] }
    }
}

/// A step's action as the printed plan says it.
pub(crate) struct Detail<'p> {
    program: &'p Program<'p>,
    action: &'p Action<'p>,
}

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let environment = &self.program.workspace.environment;
        match self.action {
            Action::Prebuild { service, command, .. } => {
                write!(f, "run `{}` in {}", command.join(" "), service.dir.display())
            }
            Action::Build { service, image, build_args } => {
                let args: Vec<String> = build_args.keys().map(|k| format!("--build-arg {k}")).collect();
                write!(
                    f,
                    "{} (context {}) for {}{}{} -> {image}",
                    service.dockerfile.display(),
                    service.context.display(),
                    service.platform,
                    if args.is_empty() { "" } else { ", " },
                    args.join(" "),
                )
            }
            Action::RegistryAuth => write!(f, "token for {}", self.program.registry),
            Action::EnsureRepository { service } => {
                write!(f, "repository {} in {}", service.repository, environment.region)
            }
            Action::Push { image, .. } => write!(f, "{image}, unless the registry has it"),
            Action::Locate { image, .. } => write!(f, "{image} must be in the registry"),
            Action::Register { definition, templates, .. } => write!(
                f,
                "task definition family {} (from {}), image pinned to its digest, unless unchanged",
                definition.family(),
                templates.join(", ")
            ),
            Action::Deploy { service, cluster } => match self.program.rollback_of(service) {
                Some(to) => write!(
                    f,
                    "ECS service {} in cluster {cluster}: {} -> {} (image commit {}), {}",
                    service.ecs_service,
                    short_name(&to.from),
                    short_name(&to.revision),
                    if to.commit.is_empty() {
                        "unknown".to_string()
                    } else {
                        to.commit.chars().take(12).collect()
                    },
                    if to.images_checked {
                        "whose images are in their registry"
                    } else {
                        "its images not looked for (--force)"
                    }
                ),
                None => write!(
                    f,
                    "ECS service {} in cluster {cluster}, unless it runs the revision already",
                    service.ecs_service
                ),
            },
            // A rollback that fails is not rolled back in turn.
            Action::Wait { service, .. } => f.write_str(match self.program.rollback_of(service) {
                Some(_) => "until the rollout completes with every task running; record it in the history",
                None => "until the rollout completes with every task running, else roll back",
            }),
            Action::BeforeDeploy { command, .. } => write!(
                f,
                "run `{}` as a one-off task of the registered revision; a failure deploys nothing",
                command.join(" ")
            ),
            Action::RunTask { .. } => {
                f.write_str("a one-off task of the service's task definition, followed until it stops")
            }
        }
    }
}

/// The plan with each register step after the pushes (or locates) of the
/// other services of the run whose images its task definition runs, so that
/// their digests reach it along the graph, whichever finishes first.
fn link_images(
    plan: &Plan,
    workspace: &Workspace,
    registry: &str,
    rendered: &[(&Service, Rendered)],
) -> Plan {
    let mut linked = plan.clone();
    let by_image: HashMap<String, &str> = workspace
        .project
        .services
        .iter()
        .map(|s| (ImageRef::of(registry, s, &workspace.revision).to_string(), s.name.as_str()))
        .collect();
    for (service, outputs) in rendered {
        let (Some(register), Some(definition)) =
            (plan.index(&Step::Register(service.name.clone())), &outputs.task_definition)
        else {
            continue;
        };
        for image in crate::taskdef::images_of(definition.json()) {
            let Some(&other) = by_image.get(image).filter(|&&other| other != service.name) else { continue };
            for ready in [Step::Push(other.to_string()), Step::Locate(other.to_string())] {
                if let Some(at) = plan.index(&ready) {
                    linked.depend(register, at);
                }
            }
        }
    }
    linked
}
