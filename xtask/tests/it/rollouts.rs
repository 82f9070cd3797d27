//! Rollouts that fail, time out, are throttled or rolled back by ECS, and
//! services in clusters of their own.

use serde_json::json;

use crate::ecs_project::*;
use crate::proxy::{Fault, Proxy};
use crate::servers::{create_ecs, ecs, logs, servers, Moto};

#[test]
fn a_rollout_that_never_completes_times_out_and_is_rolled_back() {
    // On this server, services never get a task running.
    let moto = Moto::start(&[("MOTO_ECS_SERVICE_RUNNING", "0")]);
    let template = with_logs();
    let p = project_with(&[("app", template.as_str())], servers().registry_port);
    p.create_ecs(moto.port, &["app"]);
    let app = p.family("app");
    // What a failing task of the new revision wrote where the awslogs driver puts it.
    let group = format!("/ecs/{}/app", p.prefix);
    logs(moto.port, "CreateLogGroup", json!({ "logGroupName": group }));
    logs(
        moto.port,
        "CreateLogStream",
        json!({ "logGroupName": group, "logStreamName": "app/app/aaaaaaaa1111" }),
    );
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    logs(
        moto.port,
        "PutLogEvents",
        json!({ "logGroupName": group, "logStreamName": "app/app/aaaaaaaa1111",
                "logEvents": [{ "timestamp": now, "message": "database connection refused" }] }),
    );
    let run = p
        .xtask(
            &["release", "--env", "dev", "--service", "app", "--timeout", "1s", "--poll-interval", "100ms"],
            moto.port,
        )
        .exit(3);
    assert!(
        run.stderr.contains(&format!(
            "{app}:2 did not come up healthy: not stable after 1s: rollout in progress, 0/1 tasks running"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&format!("rolled back to {app}:1")), "{}", run.stderr);
    // The last lines the new tasks wrote come with the reasons.
    assert!(
        run.stderr.contains(&format!(
            "; the last log lines of {app}:2:\n  aaaaaaaa app | database connection refused\n"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(p.running_revision(moto.port, "app"), 1);
    // A rerun would deploy the same bad revision: the advice says what to do instead.
    assert!(
        run.stderr.ends_with(
            "; the other steps finished. The failed release is recorded in the service's history; fix the cause, \
             commit and release again, or stay where the rollback left it (`cargo xtask history` shows the \
             releases)\n"
        ),
        "{}",
        run.stderr
    );
    let history = p.xtask(&["history", "--env", "dev", "--service", "app"], moto.port).success().stdout;
    let last = history.lines().nth(1).unwrap_or_default();
    assert!(
        last.starts_with("  #1 ") && last.contains(&format!("{app}:2")) && last.ends_with(" failed"),
        "{history}"
    );
    // A rollback that does not come up healthy either exits with 3, and is
    // not rolled back in turn: the service stays where it was sent.
    let rollback = p
        .xtask(
            &["rollback", "--env", "dev", "--service", "app", "--to", "2", "--force", "--timeout", "1s"],
            moto.port,
        )
        .exit(3);
    assert!(
        rollback.stdout.starts_with(&format!("rolling app back: {app}:1 -> {app}:2\n")),
        "{}",
        rollback.stdout
    );
    assert!(
        rollback.stderr.contains(&format!(
            "wait app           FAILED: the rollback of app to {app}:2 did not come up healthy: not stable after 1s"
        )),
        "{}",
        rollback.stderr
    );
    assert!(
        rollback.stderr.ends_with(
            "; the other steps finished. The service stays on the revision it was sent to; `cargo xtask status` \
             shows how it runs, and `cargo xtask rollback --to` picks another release\n"
        ),
        "{}",
        rollback.stderr
    );
    assert_eq!(p.running_revision(moto.port, "app"), 2);
}

#[test]
fn ecs_rejections_throttling_and_a_circuit_breaker_rollback_each_get_their_answer() {
    let s = servers();
    let p = project();
    p.create_ecs(s.moto_port, &["app"]);
    let app = p.family("app");
    let proxy = Proxy::start(s.moto_port);
    let fast = ["--service", "app", "--poll-interval", "100ms", "--timeout", "30s"];

    // Throttled twice: the SDK's backoff absorbs it. Then ECS refuses the
    // definition: the message carries ECS's reason, and nothing is deployed.
    proxy.inject("DescribeServices", 2, Fault::aws_error("ThrottlingException", "Rate exceeded"));
    proxy.inject(
        "RegisterTaskDefinition",
        1,
        Fault::aws_error("ClientException", "Container.image repository should not be null or empty."),
    );
    let refused = p.xtask(&[&["release", "--env", "dev"][..], &fast].concat(), proxy.port).failure();
    assert!(
        refused.stderr.contains(&format!(
            "ECS refused task definition {app}: Container.image repository should not be null or empty.; fix the \
             template and rerun"
        )),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("not started because of it: deploy app, wait app"), "{}", refused.stderr);
    assert_eq!(proxy.injected(), 3);
    assert_eq!(p.running_revision(s.moto_port, "app"), 1);

    // ECS rolls the deployment back on its own: from the third look at the
    // service on (after the precondition check and the look before the
    // update; the update answers with the service itself), ECS answers with
    // its rollback deployment.
    let service = p.service(s.moto_port, "app");
    let rolled_back = serde_json::json!({
        "services": [{
            "serviceArn": service["serviceArn"],
            "serviceName": "app",
            "status": "ACTIVE",
            "taskDefinition": format!("{app}:1"),
            "desiredCount": 1,
            "runningCount": 1,
            "deployments": [{
                "id": "ecs-svc/circuit-breaker-rollback",
                "status": "PRIMARY",
                "taskDefinition": format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{app}:1"),
                "desiredCount": 1,
                "runningCount": 1,
                "rolloutState": "IN_PROGRESS"
            }],
            "events": [{
                "id": "event-1",
                "createdAt": 1.7e9,
                "message": "(service app) rolling back to deployment ecs-svc/1 (deployment circuit breaker: tasks failed to start)."
            }]
        }],
        "failures": []
    });
    proxy.inject_after(
        "DescribeServices",
        2,
        100,
        Fault::Respond { status: "200 OK", body: rolled_back.to_string() },
    );
    let run = p.xtask(&[&["release", "--env", "dev"][..], &fast].concat(), proxy.port).exit(4);
    assert!(
        run.stdout.contains("event: (service app) rolling back to deployment ecs-svc/1"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains(&format!("the deployment of {app}:2 failed")), "{}", run.stderr);
    assert!(
        run.stderr.contains("ECS (the deployment circuit breaker) or another deploy replaced it"),
        "{}",
        run.stderr
    );
}

#[test]
fn throttling_that_does_not_stop_is_reported_before_anything_changes() {
    let s = servers();
    let p = project();
    p.create_ecs(s.moto_port, &["app"]);
    let proxy = Proxy::start(s.moto_port);
    proxy.inject("DescribeServices", 5, Fault::aws_error("ThrottlingException", "Rate exceeded"));
    let run = p.xtask(&["release", "--env", "dev", "--service", "app"], proxy.port).failure();
    assert!(run.stderr.starts_with("error: cannot start, nothing was changed:\n"), "{}", run.stderr);
    assert!(
        run.stderr.contains("AWS kept throttling requests after 5 tries (Rate exceeded); try again shortly"),
        "{}",
        run.stderr
    );
    assert_eq!(proxy.injected(), 5);
    assert_eq!(p.running_revision(s.moto_port, "app"), 1);
}

#[test]
fn a_missing_cluster_or_service_is_named_before_anything_is_built() {
    let moto = servers().moto_port;
    let p = project();
    let run = p.xtask(&["release", "--env", "dev"], moto).failure();
    assert!(run.stderr.contains("cannot start, nothing was changed"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("ECS cluster {} does not exist", p.prefix)), "{}", run.stderr);
    let built = crate::tools::tool("docker")
        .args(["image", "inspect", &format!("{}:{}", p.image("app"), p.repo.short_sha())])
        .output()
        .unwrap();
    assert!(!built.status.success(), "an image was built although the release could not start");

    ecs(moto, "CreateCluster", serde_json::json!({ "clusterName": p.prefix }));
    let run = p.xtask(&["deploy", "--env", "dev"], moto).failure();
    assert!(
        run.stderr.contains(&format!("ECS service app does not exist in cluster {}; create it", p.prefix)),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("ECS service worker does not exist"), "{}", run.stderr);
}

#[test]
fn a_service_in_a_cluster_of_its_own_is_checked_locked_deployed_and_shown_there() {
    let s = servers();
    let p = project();
    let jobs = format!("{}-jobs", p.prefix);
    p.repo.write(
        "services/worker/service.toml",
        &format!("repository = \"{}/worker\"\ncluster = \"{jobs}\"\n", p.prefix),
    );
    p.repo.commit();
    p.create_ecs(s.moto_port, &["app"]);
    // The worker's cluster is checked before anything changes.
    let run = p.xtask(&["release", "--env", "dev"], s.moto_port).failure();
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot start, nothing was changed:\n  ECS cluster {jobs} does not exist (in this account and \
             region); check `cluster` in the environment file (or the service's service.toml), the region, and \
             AWS_PROFILE\n"
        )
    );
    assert_eq!(
        p.running_revision(s.moto_port, "app"),
        1,
        "app was deployed although the release could not start"
    );

    create_ecs(s.moto_port, &jobs, &["worker"]);
    let locks = tempfile::tempdir().unwrap();
    let lock_dir = locks.path().to_str().unwrap();
    let fast = ["release", "--env", "dev", "--poll-interval", "100ms", "--timeout", "30s"];
    let run = p.xtask_with(&fast, s.moto_port, &[("XTASK_LOCK_DIR", lock_dir)]).success();
    assert!(
        run.stdout
            .contains(&format!("ECS service worker in cluster {jobs}, unless it runs the revision already")),
        "{}",
        run.stdout
    );
    let worker = ecs(s.moto_port, "DescribeServices", json!({ "cluster": jobs, "services": ["worker"] }));
    let running = worker["services"][0]["taskDefinition"].as_str().unwrap();
    assert!(running.ends_with(&format!("/{}-worker:1", p.prefix)), "{running}");
    assert_eq!(p.running_revision(s.moto_port, "app"), 2);
    let mut held: Vec<String> = std::fs::read_dir(locks.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    held.sort();
    assert_eq!(
        held,
        [format!("123456789012-us-east-1-{jobs}.lock"), format!("123456789012-us-east-1-{}.lock", p.prefix)]
    );

    let status = p.xtask(&["status", "--env", "dev", "--service", "worker"], s.moto_port).success();
    assert!(
        status.stdout.contains(&format!(
            "worker (ECS service worker, cluster {jobs})\n  revision  {}-worker:1\n",
            p.prefix
        )),
        "{}",
        status.stdout
    );
    let doctor = p.xtask(&["doctor", "--env", "dev"], s.moto_port);
    assert!(
        doctor.stdout.contains(&format!("ecs cluster       {jobs} in us-east-1: ACTIVE")),
        "{}",
        doctor.stdout
    );
    assert!(doctor.stdout.contains("ecs services      2 found: app, worker"), "{}", doctor.stdout);
    let second = p.xtask(&fast, s.moto_port).success();
    assert!(
        second.stdout.contains("nothing to do: 2 services deployed as this commit wants them"),
        "{}",
        second.stdout
    );
    // Rollback looks in the worker's cluster too: it finds the service and its one release.
    let rollback = p.xtask(&["rollback", "--env", "dev", "--service", "worker"], s.moto_port).failure();
    assert_eq!(
        rollback.stderr,
        format!(
            "error: worker: no good release older than {}-worker:1 (#1) is recorded, so there is nothing to roll \
             back to; `cargo xtask history` lists the releases, and --to picks any revision or commit\n",
            p.prefix
        )
    );
}
