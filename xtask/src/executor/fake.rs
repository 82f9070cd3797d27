//! A scripted backend for the executor's tests: one in-memory world holding
//! the engine's images, the registry, ECS's task definitions and services,
//! and a log of every call that changed something. Deployments move on at
//! each look at the service, as ECS's do, and end the way the test scripts
//! them: healthy, failed, or replaced by ECS's circuit breaker. A task
//! definition is answered the way today's ECS answers one (DESIGN.md, "What
//! real ECS answers"), not as it was sent, so a skip decision made here is
//! made against what real ECS says.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{bail, Result};
use bollard::auth::DockerCredentials;
use serde_json::{json, Value};

use crate::backend::{Backend, EcsApi, EngineApi, LogsApi, RegistryApi};
use crate::docker::build::{BuildRequest, Built};
use crate::docker::{PushError, RegistryFailure};
use crate::ecs::tasks::Stopped;
use crate::ecs::ServiceState;
use crate::logs::{Line, Source};

mod world;
use world::deployment;
pub(crate) use world::{Rollout, World, ACCOUNT_ARN};

/// A handle on the world; every part of the backend holds one.
#[derive(Clone, Default)]
pub(crate) struct Fake(pub(crate) Arc<Mutex<World>>);

impl Fake {
    pub(crate) fn new(world: World) -> Fake {
        Fake(Arc::new(Mutex::new(world)))
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.0.lock().expect("no test thread panicked holding the world")
    }
}

impl Backend for Fake {
    type Engine = Fake;
    type Registry = Fake;
    type Ecs = Fake;
    type Logs = Fake;

    async fn logs(&self, _region: &str) -> Fake {
        self.clone()
    }
}

impl EngineApi for Fake {
    async fn has_image(&self, reference: &str) -> Result<bool> {
        Ok(self.world().engine_images.contains(reference))
    }

    async fn registry_has(
        &self,
        reference: &str,
        _: &DockerCredentials,
    ) -> Result<Option<String>, PushError> {
        Ok(self.world().registry.get(reference).cloned())
    }

    async fn push(
        &self,
        repository: &str,
        tag: &str,
        credentials: &DockerCredentials,
        mut progress: impl FnMut(&str, bool),
    ) -> Result<String, PushError> {
        let reference = format!("{repository}:{tag}");
        let slow = self.world().slow_pushes.iter().any(|r| repository.ends_with(&format!("/{r}")));
        if slow {
            for layer in 0..5 {
                // The world is not held across the pause: other steps go on meanwhile.
                tokio::time::sleep(std::time::Duration::from_millis(60)).await;
                self.world().layers.push(format!("{reference} layer {layer}"));
            }
        }
        let mut world = self.world();
        let refused = credentials.password.as_deref().is_some_and(|p| p.ends_with("-expired"));
        if refused {
            let message = "denied: Your authorization token has expired. Reauthenticate and try again.";
            return Err(PushError { kind: RegistryFailure::TokenExpired, message: message.into() });
        }
        if !world.engine_images.contains(&reference) {
            let message = format!("An image does not exist locally with the tag: {repository}");
            return Err(PushError { kind: RegistryFailure::Permanent, message });
        }
        progress("Pushed", false);
        let digest = format!("sha256:{:064x}", world.registry.len() + 1);
        world.registry.insert(reference.clone(), digest.clone());
        world.calls.push(format!("push {reference}"));
        Ok(digest)
    }

    async fn build(&self, request: BuildRequest<'_>, mut progress: impl FnMut(&str)) -> Result<Built> {
        let mut world = self.world();
        let service =
            request.context.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        world.calls.push(format!("build {service}"));
        if world.failing_builds.contains(&service) {
            bail!("RUN make: exit code 2");
        }
        progress("Step 1/1 : FROM scratch");
        world.engine_images.insert(request.tag.to_string());
        Ok(Built { fell_back: None })
    }
}

impl RegistryApi for Fake {
    async fn credentials(&self) -> Result<DockerCredentials> {
        let world = self.world();
        let expired = if world.expired_tokens > world.token_number { "-expired" } else { "" };
        let password = format!("token-{}{expired}", world.token_number);
        Ok(DockerCredentials { username: Some("AWS".into()), password: Some(password), ..Default::default() })
    }

    async fn renew(&self, _stale: &DockerCredentials) -> Result<DockerCredentials> {
        {
            let mut world = self.world();
            world.token_number += 1;
            world.calls.push("renew".into());
        }
        self.credentials().await
    }

    async fn ensure_repository(&self, name: &str, _immutable_tags: bool) -> Result<bool> {
        Ok(self.world().repositories.insert(name.to_string()))
    }
}

impl EcsApi for Fake {
    fn in_cluster(&self, _cluster: &str) -> Fake {
        self.clone()
    }

    fn cluster(&self) -> &str {
        "main"
    }

    async fn task_definition(&self, name: &str) -> Result<Option<Value>> {
        let world = self.world();
        let short = crate::taskdef::short_name(name);
        let (family, number) = match short.rsplit_once(':') {
            Some((family, n)) => (family, n.parse::<usize>().ok()),
            None => (short, None),
        };
        let Some(revisions) = world.task_definitions.get(family) else { return Ok(None) };
        Ok(match number {
            Some(n) => revisions.get(n - 1).cloned(),
            None => revisions.last().cloned(),
        })
    }

    async fn register(&self, family: &str, json: &Value) -> Result<String> {
        let mut world = self.world();
        let revisions = world.task_definitions.entry(family.to_string()).or_default();
        let number = revisions.len() + 1;
        let arn = format!("{ACCOUNT_ARN}:task-definition/{family}:{number}");
        let mut registered = json.clone();
        registered["taskDefinitionArn"] = json!(arn);
        registered["revision"] = json!(number);
        registered["status"] = json!("ACTIVE");
        // What ECS fills in and sends back although nobody asked for it.
        registered["enableFaultInjection"] = json!(false);
        for container in registered["containerDefinitions"].as_array_mut().into_iter().flatten() {
            for (field, default) in
                [("cpu", json!(0)), ("essential", json!(true)), ("mountPoints", json!([]))]
            {
                if container.get(field).is_none() {
                    container[field] = default;
                }
            }
        }
        revisions.push(registered);
        world.calls.push(format!("register {family}:{number}"));
        Ok(arn)
    }

    async fn service(&self, name: &str) -> Result<ServiceState> {
        let mut world = self.world();
        if !world.services.contains_key(name) {
            bail!("ECS service {name} does not exist in cluster main");
        }
        world.advance(name);
        Ok(world.state(name))
    }

    async fn update(&self, name: &str, task_definition: &str, _force: bool) -> Result<ServiceState> {
        let mut world = self.world();
        world.deployment_number += 1;
        let id = format!("ecs-svc/{}", world.deployment_number);
        let revision = crate::taskdef::short_name(task_definition).to_string();
        world.calls.push(format!("update {name} {revision}"));
        let service = world.services.get_mut(name).expect("a service of the world");
        for d in &mut service.deployments {
            d.status = "ACTIVE".into();
        }
        service.deployments.insert(0, deployment(&id, "PRIMARY", task_definition, "IN_PROGRESS", 0));
        service.task_definition = task_definition.to_string();
        Ok(world.state(name))
    }

    async fn tags(&self, service_arn: &str) -> Result<BTreeMap<String, String>> {
        let world = self.world();
        Ok(world.services.values().find(|s| s.arn == service_arn).map(|s| s.tags.clone()).unwrap_or_default())
    }

    async fn tag(&self, service_arn: &str, tags: &[(&str, &str)]) -> Result<()> {
        let mut world = self.world();
        let service = world.services.values_mut().find(|s| s.arn == service_arn).expect("a service's ARN");
        service.tags.extend(tags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Ok(())
    }

    async fn untag(&self, service_arn: &str, keys: &[String]) -> Result<()> {
        let mut world = self.world();
        let service = world.services.values_mut().find(|s| s.arn == service_arn).expect("a service's ARN");
        service.tags.retain(|k, _| !keys.contains(k));
        Ok(())
    }

    async fn stopped_reasons(&self, service: &str) -> Result<Vec<String>> {
        let world = self.world();
        let failed = world.services[service].deployments.iter().any(|d| d.failed_tasks > 0);
        Ok(match failed {
            true => vec!["task 0f3c9a1e: Essential container in task exited".to_string()],
            false => Vec::new(),
        })
    }

    async fn run_task(
        &self,
        service: &str,
        task_definition: &str,
        _: &str,
        command: &[String],
    ) -> Result<String> {
        let mut world = self.world();
        let revision = crate::taskdef::short_name(task_definition);
        world.calls.push(format!("run-task {service} {revision} {}", command.join(" ")));
        Ok(format!("{ACCOUNT_ARN}:task/main/0f3c9a1e{}", world.calls.len()))
    }

    async fn task(&self, _task: &str, _container: &str) -> Result<(String, Option<Stopped>)> {
        let mut world = self.world();
        let exit_code = if world.task_exit_codes.is_empty() { 0 } else { world.task_exit_codes.remove(0) };
        let stopped = Stopped {
            exit_code: Some(exit_code),
            stopped_reason: "Essential container in task exited".into(),
            container_reason: None,
        };
        Ok(("STOPPED".to_string(), Some(stopped)))
    }
}

impl LogsApi for Fake {
    async fn lines(&self, _source: &Source, _since: i64, _task: Option<&str>) -> Result<Vec<Line>> {
        Ok(Vec::new())
    }
}
