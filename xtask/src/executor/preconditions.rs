//! Everything a plan needs, checked before its first change and reported
//! together: what the plan's steps use (the engine, a registry session, ECS
//! services and their clusters), the AWS session's account, the registry
//! answering, and the images of the registry that task definitions run.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use super::{one_off, preflight, Executor, Options, Parts};
use crate::backend::Real;
use crate::docker::Engine;
use crate::ecr::Ecr;
use crate::ecs::Ecs;
use crate::image_ref::ImageRef;
use crate::program::{Action, Program};
use crate::project::Service;
use crate::report::Reporter;
use crate::workspace::Workspace;

/// What a run needs, checked before anything changes; read off the plan's
/// steps, so a command cannot forget one.
pub(crate) struct Needs {
    /// The Docker Engine (to build, push, or look in the registry through it).
    pub(crate) engine: bool,
    /// A registry session (ECR token).
    pub(crate) registry: bool,
    /// An ECS session (to register, deploy, follow or run a task).
    pub(crate) ecs: bool,
    /// ECS services that will be deployed, which must exist, each with its cluster.
    pub(crate) ecs_services: Vec<(String, String)>,
}

impl Needs {
    pub(crate) fn of(program: &Program<'_>) -> Needs {
        let workspace = program.workspace;
        let needs_registry = program.actions.iter().any(|action| match action {
            Action::RegistryAuth
            | Action::EnsureRepository { .. }
            | Action::Push { .. }
            | Action::Locate { .. } => true,
            // A build FROM an image of the environment's registry needs its token too.
            Action::Build { service, .. } => pulls_from(workspace, service, &program.registry),
            _ => false,
        });
        let ecs_services = program
            .actions
            .iter()
            .filter_map(|action| match action {
                // A one-off task runs the way the service runs its own.
                Action::Deploy { service, .. } | Action::RunTask { service } => Some(*service),
                _ => None,
            })
            .map(|s| (s.cluster(&workspace.environment).to_string(), s.ecs_service.clone()))
            .collect();
        let engine = needs_registry
            || program
                .actions
                .iter()
                .any(|action| matches!(action, Action::Prebuild { .. } | Action::Build { .. }));
        let ecs = program.actions.iter().any(|action| {
            matches!(
                action,
                Action::Register { .. }
                    | Action::BeforeDeploy { .. }
                    | Action::RunTask { .. }
                    | Action::Deploy { .. }
                    | Action::Wait { .. }
            )
        });
        Needs { engine, registry: needs_registry, ecs, ecs_services }
    }
}

/// Whether a service's Dockerfile builds FROM an image in `registry`.
fn pulls_from(workspace: &Workspace, service: &Service, registry: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(workspace.project.root.join(&service.dockerfile)) else {
        return false;
    };
    crate::docker::build::base_images(&text)
        .iter()
        .any(|image| crate::docker::build::registry_of(image) == Some(registry))
}

impl<'w> Executor<'w, Real> {
    /// Checks every precondition before the first side effect and reports
    /// all that fail together: the engine, and for a push the AWS session.
    pub(crate) async fn prepare(
        program: &'w Program<'w>,
        options: Options,
        needs: Needs,
        one_off: Option<one_off::OneOff>,
        out: &'w Reporter,
    ) -> Result<Executor<'w>> {
        let workspace = program.workspace;
        let (environment, registry) = (&workspace.environment, &program.registry);
        let engine = match needs.engine {
            true => Some(Engine::connect().await),
            false => None,
        };
        let ecr = if needs.registry {
            let ecr = Ecr::connect(&environment.region, registry).await;
            Some(ecr.credentials().await.map(|_| ecr))
        } else {
            None
        };
        let mut problems = Vec::new();
        if let Some(Err(e)) = &engine {
            problems.push(format!("{e:#}"));
        }
        if let Some(Err(e)) = &ecr {
            problems.push(format!("{e:#}"));
        }
        // A session of another account would change the wrong services, or
        // none: refused before anything else is asked of AWS. An expired
        // session was reported above already; one line says it.
        let uses_aws = needs.registry || needs.ecs;
        let mut session_usable = !matches!(ecr, Some(Err(_)));
        if uses_aws && session_usable {
            let account = crate::aws::account(&environment.region).await;
            if let Err(e) = account.and_then(|account| crate::aws::check_account(environment, &account)) {
                problems.push(format!("{e:#}"));
                session_usable = false;
            }
        }
        let mut running = BTreeMap::new();
        let ecs = if !needs.ecs {
            None
        } else {
            let ecs = Ecs::connect(&environment.region, &environment.cluster).await;
            if session_usable {
                let sessions: Vec<Ecs> =
                    needs.ecs_services.iter().map(|(cluster, _)| ecs.in_cluster(cluster)).collect();
                let found = futures_util::future::join_all(
                    sessions
                        .iter()
                        .zip(&needs.ecs_services)
                        .map(|(session, (_, name))| session.service(name)),
                )
                .await;
                let mut missing = Vec::new();
                for (key, state) in needs.ecs_services.iter().zip(found) {
                    match state {
                        Ok(state) => {
                            running.insert(key.clone(), state.task_definition);
                        }
                        Err(e) => missing.push(format!("{e:#}")),
                    }
                }
                missing.dedup();
                problems.extend(missing);
            }
            Some(ecs)
        };
        let located = match (&engine, &ecr, session_usable) {
            (Some(Ok(engine)), Some(Ok(ecr)), true) => {
                // A registry that is down or refuses the token is found now,
                // not after every image is built.
                let probe =
                    program.services().first().map(|s| ImageRef::of(registry, s, &workspace.revision));
                if let Some(reference) = probe.map(|image| image.to_string()) {
                    if let Err(problem) =
                        preflight::probe_registry(engine, ecr, registry, &reference, environment).await
                    {
                        problems.push(problem);
                    }
                }
                preflight::locate_foreign_images(
                    engine,
                    ecr,
                    registry,
                    workspace,
                    program.rendered,
                    &mut problems,
                )
                .await?
            }
            _ => BTreeMap::new(),
        };
        if !problems.is_empty() {
            bail!("cannot start, nothing was changed:\n  {}", problems.join("\n  "));
        }
        let parts = Parts {
            backend: Real,
            engine: engine.transpose()?,
            ecr: ecr.transpose()?,
            ecs,
            running,
            located,
        };
        Ok(Executor::assemble(program, options, parts, one_off, out))
    }
}
