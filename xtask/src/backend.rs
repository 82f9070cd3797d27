//! What the executor asks of the outside world, as traits: the engine
//! (build, push, look in the registry), the registry session (ECR token,
//! repositories), ECS (task definitions, services, one-off tasks, the
//! release records on a service) and CloudWatch Logs.
//!
//! The tool runs on [`Real`], the clients of `docker`, `ecr`, `ecs` and
//! `logs`; the executor's own decisions (what to skip, when to roll back, what
//! to record) are tested on a scripted backend in `executor/fake.rs`, in
//! milliseconds, while the integration tests cover the real clients.

use std::collections::BTreeMap;
use std::future::Future;

use anyhow::Result;
use bollard::auth::DockerCredentials;
use serde_json::Value;

use crate::docker::build::{BuildRequest, Built};
use crate::docker::{Engine, PushError};
use crate::ecr::Ecr;
use crate::ecs::tasks::Stopped;
use crate::ecs::{Ecs, ServiceState};
use crate::logs::{Line, Logs, Source};

/// The parts a run talks to, each of a type the backend picks.
pub(crate) trait Backend {
    type Engine: EngineApi;
    type Registry: RegistryApi;
    type Ecs: EcsApi;
    type Logs: LogsApi;

    /// A CloudWatch Logs client for a region.
    fn logs(&self, region: &str) -> impl Future<Output = Self::Logs>;
}

/// The Docker Engine, as the image steps use it.
pub(crate) trait EngineApi {
    fn has_image(&self, reference: &str) -> impl Future<Output = Result<bool>>;
    /// The digest of `reference` in its registry, `None` when it is not there.
    fn registry_has(
        &self,
        reference: &str,
        credentials: &DockerCredentials,
    ) -> impl Future<Output = Result<Option<String>, PushError>>;
    /// Pushes `repository:tag`; answers the digest the registry stored.
    fn push(
        &self,
        repository: &str,
        tag: &str,
        credentials: &DockerCredentials,
        progress: impl FnMut(&str, bool),
    ) -> impl Future<Output = Result<String, PushError>>;
    fn build(
        &self,
        request: BuildRequest<'_>,
        progress: impl FnMut(&str),
    ) -> impl Future<Output = Result<Built>>;
}

/// The registry session: its token, renewed on request, and repositories.
pub(crate) trait RegistryApi {
    fn credentials(&self) -> impl Future<Output = Result<DockerCredentials>>;
    /// A new token after the registry refused `stale`.
    fn renew(&self, stale: &DockerCredentials) -> impl Future<Output = Result<DockerCredentials>>;
    /// Creates the repository when it is missing; answers whether it did.
    fn ensure_repository(&self, name: &str, immutable_tags: bool) -> impl Future<Output = Result<bool>>;
}

/// ECS, in one cluster.
pub(crate) trait EcsApi: Sized {
    /// The same session, in another cluster.
    fn in_cluster(&self, cluster: &str) -> Self;
    fn cluster(&self) -> &str;
    /// A task definition (family, `family:revision` or ARN) as ECS returns
    /// it, its tags included; `None` when there is none.
    fn task_definition(&self, name: &str) -> impl Future<Output = Result<Option<Value>>>;
    /// Registers a definition; answers its ARN.
    fn register(&self, family: &str, json: &Value) -> impl Future<Output = Result<String>>;
    fn service(&self, name: &str) -> impl Future<Output = Result<ServiceState>>;
    /// Points a service at a task definition; answers the service as ECS
    /// answered the update.
    fn update(
        &self,
        service: &str,
        task_definition: &str,
        force: bool,
    ) -> impl Future<Output = Result<ServiceState>>;
    fn tags(&self, service_arn: &str) -> impl Future<Output = Result<BTreeMap<String, String>>>;
    fn tag(&self, service_arn: &str, tags: &[(&str, &str)]) -> impl Future<Output = Result<()>>;
    fn untag(&self, service_arn: &str, keys: &[String]) -> impl Future<Output = Result<()>>;
    /// Why the service's recently stopped tasks stopped, one line per task.
    fn stopped_reasons(&self, service: &str) -> impl Future<Output = Result<Vec<String>>>;
    /// Starts a one-off task the way `service` runs its own; answers its ARN.
    fn run_task(
        &self,
        service: &str,
        task_definition: &str,
        container: &str,
        command: &[String],
    ) -> impl Future<Output = Result<String>>;
    /// A task's last status, and how it ended once it stopped.
    fn task(&self, task: &str, container: &str) -> impl Future<Output = Result<(String, Option<Stopped>)>>;
}

/// CloudWatch Logs in one region.
pub(crate) trait LogsApi {
    fn lines(
        &self,
        source: &Source,
        since: i64,
        task: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Line>>>;
}

/// The real clients.
pub(crate) struct Real;

impl Backend for Real {
    type Engine = Engine;
    type Registry = Ecr;
    type Ecs = Ecs;
    type Logs = Logs;

    async fn logs(&self, region: &str) -> Logs {
        Logs::connect(region).await
    }
}

impl EngineApi for Engine {
    async fn has_image(&self, reference: &str) -> Result<bool> {
        Engine::has_image(self, reference).await
    }

    async fn registry_has(
        &self,
        reference: &str,
        credentials: &DockerCredentials,
    ) -> Result<Option<String>, PushError> {
        Engine::registry_has(self, reference, credentials).await
    }

    async fn push(
        &self,
        repository: &str,
        tag: &str,
        credentials: &DockerCredentials,
        progress: impl FnMut(&str, bool),
    ) -> Result<String, PushError> {
        Engine::push(self, repository, tag, credentials, progress).await
    }

    async fn build(&self, request: BuildRequest<'_>, progress: impl FnMut(&str)) -> Result<Built> {
        Engine::build(self, request, progress).await
    }
}

impl RegistryApi for Ecr {
    async fn credentials(&self) -> Result<DockerCredentials> {
        Ecr::credentials(self).await
    }

    async fn renew(&self, stale: &DockerCredentials) -> Result<DockerCredentials> {
        Ecr::renew(self, stale).await
    }

    async fn ensure_repository(&self, name: &str, immutable_tags: bool) -> Result<bool> {
        Ecr::ensure_repository(self, name, immutable_tags).await
    }
}

impl EcsApi for Ecs {
    fn in_cluster(&self, cluster: &str) -> Ecs {
        Ecs::in_cluster(self, cluster)
    }

    fn cluster(&self) -> &str {
        &self.cluster
    }

    async fn task_definition(&self, name: &str) -> Result<Option<Value>> {
        Ecs::task_definition(self, name).await
    }

    async fn register(&self, family: &str, json: &Value) -> Result<String> {
        Ecs::register(self, family, json).await
    }

    async fn service(&self, name: &str) -> Result<ServiceState> {
        Ecs::service(self, name).await
    }

    async fn update(&self, service: &str, task_definition: &str, force: bool) -> Result<ServiceState> {
        Ecs::update(self, service, task_definition, force).await
    }

    async fn tags(&self, service_arn: &str) -> Result<BTreeMap<String, String>> {
        Ecs::tags(self, service_arn).await
    }

    async fn tag(&self, service_arn: &str, tags: &[(&str, &str)]) -> Result<()> {
        Ecs::tag(self, service_arn, tags).await
    }

    async fn untag(&self, service_arn: &str, keys: &[String]) -> Result<()> {
        Ecs::untag(self, service_arn, keys).await
    }

    async fn stopped_reasons(&self, service: &str) -> Result<Vec<String>> {
        Ecs::stopped_reasons(self, service).await
    }

    async fn run_task(
        &self,
        service: &str,
        task_definition: &str,
        container: &str,
        command: &[String],
    ) -> Result<String> {
        Ecs::run_task(self, service, task_definition, container, command).await
    }

    async fn task(&self, task: &str, container: &str) -> Result<(String, Option<Stopped>)> {
        Ecs::task(self, task, container).await
    }
}

impl LogsApi for Logs {
    async fn lines(&self, source: &Source, since: i64, task: Option<&str>) -> Result<Vec<Line>> {
        Logs::lines(self, source, since, task).await
    }
}
