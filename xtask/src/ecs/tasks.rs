//! One-off tasks: a task of a service's task definition, started with the
//! service's own network configuration and capacity (launch type or
//! capacity providers) and a command of its own, then followed until it
//! stops.

use anyhow::{bail, Context as _, Result};
use aws_sdk_ecs::types::{ContainerOverride, TaskOverride};

use super::Ecs;
use crate::aws::aws_error;

/// How a one-off task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stopped {
    /// The container's exit code; `None` when it never ran.
    pub(crate) exit_code: Option<i32>,
    /// Why ECS stopped the task (`Essential container in task exited`, or
    /// `CannotPullContainerError: ...`).
    pub(crate) stopped_reason: String,
    /// Why the container stopped, when ECS says (`ResourceInitializationError: ...`).
    pub(crate) container_reason: Option<String>,
}

impl Ecs {
    /// Starts one task of `task_definition` the way `service` runs its own,
    /// with `command` (when given) in place of `container`'s; answers the
    /// task's ARN.
    pub(crate) async fn run_task(
        &self,
        service: &str,
        task_definition: &str,
        container: &str,
        command: &[String],
    ) -> Result<String> {
        let settings = self.described(service).await?;
        let mut overrides = ContainerOverride::builder().name(container);
        if !command.is_empty() {
            overrides = overrides.set_command(Some(command.to_vec()));
        }
        let mut request = self
            .client
            .run_task()
            .cluster(&self.cluster)
            .task_definition(task_definition)
            .started_by("cargo-xtask")
            .overrides(TaskOverride::builder().container_overrides(overrides.build()).build())
            .set_network_configuration(settings.network_configuration().cloned());
        // A service on capacity providers runs its tasks there; else on its launch type.
        if settings.capacity_provider_strategy().is_empty() {
            request = request.set_launch_type(settings.launch_type().cloned());
        } else {
            request =
                request.set_capacity_provider_strategy(Some(settings.capacity_provider_strategy().to_vec()));
        }
        let started = request
            .send()
            .await
            .map_err(|e| aws_error(e, &format!("start a task of {task_definition}"), &self.endpoint))?;
        if let Some(failure) = started.failures().first() {
            bail!(
                "ECS did not start a task of {task_definition}: {} {}",
                failure.reason().unwrap_or("(no reason given)"),
                failure.detail().unwrap_or_default()
            );
        }
        started
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .map(str::to_string)
            .with_context(|| format!("ECS answered the start of a task of {task_definition} without a task"))
    }

    /// The task's `lastStatus`, and how it ended once it is `STOPPED`.
    pub(crate) async fn task(&self, task: &str, container: &str) -> Result<(String, Option<Stopped>)> {
        let described = self
            .client
            .describe_tasks()
            .cluster(&self.cluster)
            .tasks(task)
            .send()
            .await
            .map_err(|e| aws_error(e, &format!("describe task {task}"), &self.endpoint))?;
        let found = described.tasks().first().with_context(|| format!("ECS does not know task {task}"))?;
        let status = found.last_status().unwrap_or_default().to_string();
        if status != "STOPPED" {
            return Ok((status, None));
        }
        let ran = found.containers().iter().find(|c| c.name() == Some(container));
        Ok((
            status,
            Some(Stopped {
                exit_code: ran.and_then(|c| c.exit_code()),
                stopped_reason: found.stopped_reason().unwrap_or_default().to_string(),
                container_reason: ran.and_then(|c| c.reason()).map(str::to_string),
            }),
        ))
    }
}
