//! Unit tests of `deploy.rs`.

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
fn durations_read_like_people_write_them() {
    assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
    assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("2m10s"), Ok(Duration::from_secs(130)));
    assert_eq!(parse_duration("1h0m5s250ms"), Ok(Duration::from_millis(3_605_250)));
    assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
    assert_eq!(
        parse_duration("30m1h"),
        Err("`30m1h`: write the units from hours down, each once, as in 1h30m".to_string())
    );
    assert_eq!(
        parse_duration("5m5m"),
        Err("`5m5m`: write the units from hours down, each once, as in 1h30m".to_string())
    );
    assert_eq!(
        parse_duration("10 minutes"),
        Err("`10 minutes`: unknown unit ` minutes`; use h, m, s or ms".to_string())
    );
    assert_eq!(
        parse_duration("soon"),
        Err("`soon` is not a duration like 90s, 10m, 1h30m or 500ms".to_string())
    );
    assert!(parse_duration("").is_err());
    assert!(parse_duration("-5s").is_err());
    assert_eq!(parse_duration("-5"), Err("`-5` is not a duration like 90s, 10m, 1h30m or 500ms".to_string()));
    assert_eq!(human(Duration::from_secs(600)), "10m");
    assert_eq!(human(Duration::from_millis(1500)), "1.5s");
    // Found by reading for the property tests: a huge number was a panic, not an error.
    assert_eq!(
        parse_duration("99999999999999999999999h"),
        Err("`99999999999999999999999h` is too long a duration".to_string())
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
