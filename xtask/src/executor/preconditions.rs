//! Everything a plan needs, checked before its first change and reported
//! together: what the plan's steps use (the engine, a registry session, ECS
//! services and their clusters), the AWS session's account, the registry
//! answering, and the images of the registry that task definitions run.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use super::{one_off, preflight, Executor, Options, Parts, RollbackTo};
use crate::backend::Real;
use crate::docker::Engine;
use crate::ecr::Ecr;
use crate::ecs::Ecs;
use crate::identity::ImageRef;
use crate::plan::{Plan, Step};
use crate::project::Service;
use crate::render::{registry_host, Rendered};
use crate::report::Reporter;
use crate::workspace::Workspace;

/// What a run needs, checked before anything changes; read off the plan's
/// steps, so a command cannot forget one.
pub(crate) struct Needs {
    /// The Docker Engine (to build, push, or look in the registry through it).
    pub(crate) engine: bool,
    /// A registry session (ECR token).
    pub(crate) registry: bool,
    /// ECS services that will be deployed, which must exist, each with its cluster.
    pub(crate) ecs_services: Vec<(String, String)>,
}

impl Needs {
    pub(crate) fn of(plan: &Plan, workspace: &Workspace) -> Needs {
        let registry = registry_host(&workspace.environment);
        let service = |name: &str| workspace.project.service(name);
        let needs_registry = plan.nodes.iter().any(|node| match &node.step {
            Step::RegistryAuth | Step::EnsureRepository(_) | Step::Push(_) | Step::Locate(_) => true,
            // A build FROM an image of the environment's registry needs its token too.
            Step::Build(name) => service(name).is_some_and(|s| pulls_from(workspace, s, &registry)),
            _ => false,
        });
        let ecs_services = plan
            .nodes
            .iter()
            .filter_map(|node| match &node.step {
                // A one-off task runs the way the service runs its own.
                Step::Deploy(name) | Step::RunTask(name) => service(name),
                _ => None,
            })
            .map(|s| (s.cluster(&workspace.environment).to_string(), s.ecs_service.clone()))
            .collect();
        let engine = needs_registry
            || plan.nodes.iter().any(|node| matches!(node.step, Step::Prebuild(_) | Step::Build(_)));
        Needs { engine, registry: needs_registry, ecs_services }
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
        workspace: &'w Workspace,
        rendered: Vec<(&Service, Rendered)>,
        options: Options,
        needs: Needs,
        rollback: Option<RollbackTo>,
        one_off: Option<one_off::OneOff>,
        out: &'w Reporter,
    ) -> Result<Executor<'w>> {
        let environment = &workspace.environment;
        let registry = registry_host(environment);
        let engine = match needs.engine {
            true => Some(Engine::connect().await),
            false => None,
        };
        let ecr = if needs.registry {
            let ecr = Ecr::connect(&environment.region, &registry).await;
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
        let uses_aws = needs.registry || !needs.ecs_services.is_empty();
        let mut session_usable = !matches!(ecr, Some(Err(_)));
        if uses_aws && session_usable {
            let account = crate::aws::account(&environment.region).await;
            if let Err(e) = account.and_then(|account| crate::aws::check_account(environment, &account)) {
                problems.push(format!("{e:#}"));
                session_usable = false;
            }
        }
        let mut running = BTreeMap::new();
        let ecs = if needs.ecs_services.is_empty() {
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
                let probe = rendered
                    .first()
                    .map(|(s, _)| ImageRef::of(&registry, s, &workspace.revision).to_string());
                if let Some(reference) = probe {
                    if let Err(problem) =
                        preflight::probe_registry(engine, ecr, &registry, &reference, environment).await
                    {
                        problems.push(problem);
                    }
                }
                preflight::locate_foreign_images(engine, ecr, &registry, workspace, &rendered, &mut problems)
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
        Ok(Executor::assemble(workspace, rendered, options, parts, rollback, one_off, out))
    }
}
