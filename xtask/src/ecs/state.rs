//! A service as a release reads it: its revision, task counts, deployments
//! and events, taken from what ECS describes.

/// What a release needs to know about a service.
#[derive(Debug, Clone)]
pub(crate) struct ServiceState {
    pub(crate) arn: String,
    pub(crate) task_definition: String,
    pub(crate) desired: i32,
    pub(crate) running: i32,
    pub(crate) deployments: Vec<DeploymentState>,
    /// Newest first, as ECS returns them.
    pub(crate) events: Vec<Event>,
}

#[derive(Debug, Clone)]
pub(crate) struct DeploymentState {
    pub(crate) id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub(crate) status: String,
    pub(crate) task_definition: String,
    /// IN_PROGRESS, COMPLETED or FAILED; absent for deployment controllers that have none.
    pub(crate) rollout_state: Option<String>,
    pub(crate) rollout_reason: Option<String>,
    pub(crate) desired: i32,
    pub(crate) running: i32,
    pub(crate) failed_tasks: i32,
}

#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) message: String,
}

impl ServiceState {
    pub(crate) fn primary(&self) -> Option<&DeploymentState> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }
}

/// The parts of a described (or just updated) service a release reads.
pub(super) fn state_of(service: &aws_sdk_ecs::types::Service) -> ServiceState {
    let deployments = service
        .deployments()
        .iter()
        .map(|d| DeploymentState {
            id: d.id().unwrap_or_default().to_string(),
            status: d.status().unwrap_or_default().to_string(),
            task_definition: d.task_definition().unwrap_or_default().to_string(),
            rollout_state: d.rollout_state().map(|s| s.as_str().to_string()),
            rollout_reason: d.rollout_state_reason().map(str::to_string),
            desired: d.desired_count(),
            running: d.running_count(),
            failed_tasks: d.failed_tasks(),
        })
        .collect();
    ServiceState {
        arn: service.service_arn().unwrap_or_default().to_string(),
        task_definition: service.task_definition().unwrap_or_default().to_string(),
        desired: service.desired_count(),
        running: service.running_count(),
        deployments,
        events: service
            .events()
            .iter()
            .map(|e| Event {
                id: e.id().unwrap_or_default().to_string(),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect(),
    }
}
