//! What ECS Exec needs of a service and its tasks: the service's
//! `enableExecuteCommand`, and a running task whose container has the
//! ExecuteCommandAgent running.

use anyhow::Result;
use aws_sdk_ecs::types::DesiredStatus;

use super::Ecs;

/// A running task of a service, as ECS Exec sees it.
#[derive(Debug, Clone)]
pub(crate) struct RunningTask {
    pub(crate) arn: String,
    pub(crate) task_definition: String,
    /// Each container's name and its ExecuteCommandAgent's status (`None`: no agent).
    pub(crate) containers: Vec<(String, Option<String>)>,
}

impl RunningTask {
    pub(crate) fn id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or(&self.arn)
    }
}

impl Ecs {
    /// Whether the service has ECS Exec enabled.
    pub(crate) async fn exec_enabled(&self, service: &str) -> Result<bool> {
        Ok(self.described(service).await?.enable_execute_command())
    }

    /// The service's running tasks.
    pub(crate) async fn running_tasks(&self, service: &str) -> Result<Vec<RunningTask>> {
        let tasks = self.tasks_of(service, DesiredStatus::Running, None).await?;
        Ok(tasks
            .iter()
            .filter(|t| t.last_status() == Some("RUNNING"))
            .map(|t| RunningTask {
                arn: t.task_arn().unwrap_or_default().to_string(),
                task_definition: t.task_definition_arn().unwrap_or_default().to_string(),
                containers: t
                    .containers()
                    .iter()
                    .map(|c| {
                        let agent = c
                            .managed_agents()
                            .iter()
                            .find(|a| a.name().map(|n| n.as_str()) == Some("ExecuteCommandAgent"))
                            .and_then(|a| a.last_status())
                            .map(str::to_string);
                        (c.name().unwrap_or_default().to_string(), agent)
                    })
                    .collect(),
            })
            .collect())
    }
}
