//! The rollback decision on the scripted backend: a deployment that fails,
//! one ECS rolls back itself, and a rollback that fails too.

use super::*;

/// api released once (demo-api:1, healthy), then its task definition
/// changed and released again with the rollouts scripted: the second
/// release's result and lines, and the world after it.
fn second_release_rolling_out(rollouts: &[(&str, Rollout)]) -> (anyhow::Result<Summary>, Vec<String>, Fake) {
    let dir = project(&[("api", "")]);
    let fake = Fake::new(World::with_services(&["api"]));
    release(dir.path(), &fake).unwrap();
    change_memory(dir.path(), "api", 1024);
    for (revision, rollout) in rollouts {
        fake.world().rollouts.insert(revision.to_string(), *rollout);
    }
    fake.world().calls.clear();
    let (result, lines) = release_saying(dir.path(), &fake);
    (result, lines, fake)
}

#[test]
fn a_deployment_that_fails_is_rolled_back_to_the_last_good_release() {
    let (result, lines, fake) = second_release_rolling_out(&[("demo-api:2", Rollout::Fails)]);
    let error = result.unwrap_err();
    assert_eq!(exit_code(&error), Some(crate::exit::ROLLED_BACK), "{error:#}");
    let failed =
        lines.iter().find(|l| l.starts_with("stderr: wait api")).expect("a line for the failed wait");
    assert_eq!(
        failed,
        "stderr: wait api           FAILED: demo-api:2 did not come up healthy: tasks failed to start; stopped tasks: \
         task 0f3c9a1e: Essential container in task exited; rolled back to demo-api:1, which is running"
    );
    let message = format!("{error:#}");
    assert!(message.contains("wait api failed"), "{message}");
    let world = fake.world();
    assert_eq!(world.calls, ["register demo-api:2", "update api demo-api:2", "update api demo-api:1"]);
    assert_eq!(world.running("api"), "demo-api:1");
    assert_eq!(world.history("api"), ["demo-api:1 good", "demo-api:2 failed", "demo-api:1 rollback"]);
}

#[test]
fn when_ecs_rolls_a_deployment_back_itself_the_tool_records_it_and_does_not_roll_back_again() {
    let (result, _, fake) = second_release_rolling_out(&[("demo-api:2", Rollout::FailsAndEcsRollsBack)]);
    let error = result.unwrap_err();
    assert_eq!(exit_code(&error), Some(crate::exit::ECS_ROLLED_BACK), "{error:#}");
    let world = fake.world();
    assert_eq!(world.calls, ["register demo-api:2", "update api demo-api:2"]);
    assert_eq!(world.running("api"), "demo-api:1");
    assert_eq!(world.history("api"), ["demo-api:1 good", "demo-api:2 failed"]);
}

#[test]
fn a_rollback_that_fails_too_is_not_rolled_back_in_turn() {
    let (result, lines, fake) =
        second_release_rolling_out(&[("demo-api:2", Rollout::Fails), ("demo-api:1", Rollout::Fails)]);
    let error = result.unwrap_err();
    assert_eq!(exit_code(&error), Some(crate::exit::ROLLED_BACK));
    assert!(
        lines.contains(
            &"stderr: wait api           FAILED: demo-api:2 did not come up healthy: tasks failed to start; stopped \
              tasks: task 0f3c9a1e: Essential container in task exited; rolled back to demo-api:1, which is not \
              healthy either: tasks failed to start"
                .to_string()
        ),
        "{lines:#?}"
    );
    let message = format!("{error:#}");
    assert!(message.starts_with("wait api failed; the other steps finished."), "{message}");
    let world = fake.world();
    assert_eq!(world.calls, ["register demo-api:2", "update api demo-api:2", "update api demo-api:1"]);
    assert_eq!(world.history("api"), ["demo-api:1 good", "demo-api:2 failed"]);
}
