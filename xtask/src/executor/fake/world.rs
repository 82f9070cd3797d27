//! The fake backend's world: what the engine, the registry and ECS hold,
//! and how ECS moves a deployment on between two looks at the service.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::ecs::{DeploymentState, Event, ServiceState};

pub(crate) const ACCOUNT_ARN: &str = "arn:aws:ecs:eu-west-1:123456789012";

/// How the deployments of a revision end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rollout {
    Healthy,
    /// Its tasks stop; the deployment fails and the service stays on it.
    Fails,
    /// Its tasks stop, and ECS's circuit breaker puts the service back on
    /// the revision before.
    FailsAndEcsRollsBack,
}

#[derive(Default)]
pub(crate) struct World {
    pub(crate) engine_images: BTreeSet<String>,
    /// Digests by image reference.
    pub(crate) registry: BTreeMap<String, String>,
    pub(crate) repositories: BTreeSet<String>,
    /// Revisions by family, oldest first.
    pub(crate) task_definitions: BTreeMap<String, Vec<Value>>,
    pub(crate) services: BTreeMap<String, FakeService>,
    /// How each revision (`family:N`) rolls out; healthy unless scripted.
    pub(crate) rollouts: BTreeMap<String, Rollout>,
    /// Exit codes of one-off tasks, in the order they start; 0 once used up.
    pub(crate) task_exit_codes: Vec<i32>,
    /// Builds of these services fail.
    pub(crate) failing_builds: BTreeSet<String>,
    /// Builds of these services take a while (50 ms), so others finish first.
    pub(crate) slow_builds: BTreeSet<String>,
    /// Pushes of these repositories upload five layers of 60 ms each; the
    /// registry takes the tag only once every layer is in, as registries do.
    pub(crate) slow_pushes: BTreeSet<String>,
    /// Layers uploaded, as `repository:tag layer N`.
    pub(crate) layers: Vec<String>,
    /// The registry refuses this many tokens as expired before taking one.
    pub(crate) expired_tokens: usize,
    pub(super) token_number: usize,
    pub(super) deployment_number: usize,
    /// Every call that changed something, in order: `build api`, `push
    /// <reference>`, `register api`, `update api api:2`, `run-task api`, `renew`.
    pub(crate) calls: Vec<String>,
}

pub(crate) struct FakeService {
    pub(crate) arn: String,
    pub(crate) task_definition: String,
    pub(crate) deployments: Vec<DeploymentState>,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) events: Vec<Event>,
}

impl World {
    /// ECS services as infrastructure code leaves them: running a bootstrap
    /// revision this tool never registered.
    pub(crate) fn with_services(names: &[&str]) -> World {
        let mut world = World::default();
        for name in names {
            let bootstrap = format!("{ACCOUNT_ARN}:task-definition/bootstrap-{name}:1");
            world.services.insert(
                name.to_string(),
                FakeService {
                    arn: format!("{ACCOUNT_ARN}:service/main/{name}"),
                    deployments: vec![deployment("ecs-svc/0", "PRIMARY", &bootstrap, "COMPLETED", 1)],
                    task_definition: bootstrap,
                    tags: BTreeMap::new(),
                    events: Vec::new(),
                },
            );
        }
        world
    }

    /// The revision (`family:N`) a service runs.
    pub(crate) fn running(&self, service: &str) -> String {
        crate::taskdef::short_name(&self.services[service].task_definition).to_string()
    }

    /// The release history entries recorded on a service, oldest first.
    pub(crate) fn history(&self, service: &str) -> Vec<String> {
        crate::history::read(&self.services[service].tags)
            .iter()
            .map(|e| format!("{} {}", e.revision, e.outcome.as_str()))
            .collect()
    }

    pub(super) fn state(&self, name: &str) -> ServiceState {
        let service = &self.services[name];
        let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
        ServiceState {
            arn: service.arn.clone(),
            task_definition: service.task_definition.clone(),
            desired: 1,
            running: primary.map_or(0, |p| p.running),
            deployments: service.deployments.clone(),
            events: service.events.iter().rev().cloned().collect(),
        }
    }

    /// One step of every rollout under way, as ECS makes between two looks.
    pub(super) fn advance(&mut self, name: &str) {
        let service = self.services.get_mut(name).expect("a service of the world");
        let Some(at) =
            service.deployments.iter().position(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS"))
        else {
            return;
        };
        let revision = crate::taskdef::short_name(&service.deployments[at].task_definition).to_string();
        let rollout = self.rollouts.get(&revision).copied().unwrap_or(Rollout::Healthy);
        let ours = &mut service.deployments[at];
        if rollout == Rollout::Healthy {
            ours.rollout_state = Some("COMPLETED".into());
            ours.running = ours.desired;
            let id = ours.id.clone();
            service.deployments.retain(|d| d.id == id);
            service
                .events
                .push(Event { id: format!("event-{id}"), message: format!("({name}) reached steady state") });
            return;
        }
        ours.rollout_state = Some("FAILED".into());
        ours.rollout_reason = Some("tasks failed to start".into());
        ours.failed_tasks = 1;
        if rollout == Rollout::FailsAndEcsRollsBack {
            let before =
                service.deployments.iter().find(|d| d.status == "ACTIVE").map(|d| d.task_definition.clone());
            if let Some(before) = before {
                self.deployment_number += 1;
                let id = format!("ecs-svc/{}", self.deployment_number);
                for d in &mut service.deployments {
                    d.status = "ACTIVE".into();
                }
                service.deployments.insert(0, deployment(&id, "PRIMARY", &before, "COMPLETED", 1));
                service.task_definition = before;
            }
        }
    }
}

pub(super) fn deployment(
    id: &str,
    status: &str,
    task_definition: &str,
    rollout: &str,
    running: i32,
) -> DeploymentState {
    DeploymentState {
        id: id.to_string(),
        status: status.to_string(),
        task_definition: task_definition.to_string(),
        rollout_state: Some(rollout.to_string()),
        rollout_reason: None,
        desired: 1,
        running,
        failed_tasks: 0,
    }
}
