//! Unit tests of `rollout.rs`.

use super::*;
use crate::ecs::DeploymentState;
use std::collections::BTreeMap;

fn deployment(id: &str, status: &str, revision: u32, rollout: Option<&str>, running: i32) -> DeploymentState {
    DeploymentState {
        id: id.into(),
        status: status.into(),
        task_definition: format!("arn:aws:ecs:eu-west-1:1:task-definition/shop-api:{revision}"),
        rollout_state: rollout.map(str::to_string),
        rollout_reason: rollout
            .filter(|r| *r == "FAILED")
            .map(|_| "ECS deployment circuit breaker: tasks failed to start.".to_string()),
        desired: 2,
        running,
        failed_tasks: 0,
    }
}

fn service(deployments: Vec<DeploymentState>) -> ServiceState {
    ServiceState {
        arn: "arn".into(),
        task_definition: deployments[0].task_definition.clone(),
        desired: 2,
        running: 0,
        deployments,
        events: Vec::new(),
    }
}

#[test]
fn a_deployment_is_stable_once_its_rollout_completed_with_every_task_running() {
    let rolling = service(vec![
        deployment("new", "PRIMARY", 7, Some("IN_PROGRESS"), 1),
        deployment("old", "ACTIVE", 6, Some("COMPLETED"), 2),
    ]);
    assert!(
        matches!(judge(&rolling, "new"), Verdict::Rolling(p) if p == "rollout in progress, 1/2 tasks running")
    );
    let done = service(vec![deployment("new", "PRIMARY", 7, Some("COMPLETED"), 2)]);
    assert!(matches!(judge(&done, "new"), Verdict::Stable));
    // Completed but a task short is not stable yet.
    let short = service(vec![deployment("new", "PRIMARY", 7, Some("COMPLETED"), 1)]);
    assert!(matches!(judge(&short, "new"), Verdict::Rolling(_)));
}

#[test]
fn a_circuit_breaker_rollback_is_told_from_a_failure_left_in_place() {
    let rolled_back = service(vec![
        deployment("rollback", "PRIMARY", 6, Some("IN_PROGRESS"), 0),
        deployment("new", "ACTIVE", 7, Some("FAILED"), 0),
    ]);
    assert!(
        matches!(judge(&rolled_back, "new"), Verdict::ReplacedByEcs(why) if why.ends_with("back to shop-api:6"))
    );
    let failed = service(vec![deployment("new", "PRIMARY", 7, Some("FAILED"), 0)]);
    assert!(matches!(judge(&failed, "new"), Verdict::Failed(why) if why.contains("circuit breaker")));
    let gone = service(vec![deployment("other", "PRIMARY", 6, Some("COMPLETED"), 2)]);
    assert!(
        matches!(judge(&gone, "new"), Verdict::ReplacedByEcs(why) if why.contains("now runs shop-api:6"))
    );
}

#[test]
fn rollback_goes_to_the_last_good_release_not_revision_minus_one() {
    let arn = |r: u32| format!("arn:aws:ecs:eu-west-1:1:task-definition/shop-api:{r}");
    let tags = BTreeMap::from([
        (ecs::LAST_GOOD_TAG.to_string(), arn(5)),
        (ecs::PREVIOUS_GOOD_TAG.to_string(), arn(3)),
    ]);
    // 7 failed while 6 (never healthy) was running: back to 5.
    assert_eq!(rollback_target(&tags, &arn(7), Some(&arn(6))), Some(arn(5)));
    // 5 itself failed on a forced redeploy: back to the one before it.
    assert_eq!(rollback_target(&tags, &arn(5), Some(&arn(5))), Some(arn(3)));
    // Nothing recorded yet: what ran before.
    assert_eq!(rollback_target(&BTreeMap::new(), &arn(2), Some(&arn(1))), Some(arn(1)));
    assert_eq!(rollback_target(&BTreeMap::new(), &arn(1), Some(&arn(1))), None);
}
