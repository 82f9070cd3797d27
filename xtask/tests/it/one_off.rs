//! One-off tasks against moto's ECS, which the test server makes behave as
//! ECS does for them (ecs_today.py says how: a task stops at once with the
//! exit code its command says, an image that does not exist never starts,
//! and the lines go where the awslogs driver puts them): `run`, and a
//! release's `before_deploy` migrations, which deploy nothing when they fail.

use serde_json::json;

use crate::ecs_project::*;
use crate::servers::{ecs, servers};

#[test]
fn run_starts_a_task_of_the_service_and_exits_with_its_code() {
    let moto = servers().moto_port;
    let p = project_of(&["app"], servers().registry_port);
    p.create_ecs(moto, &["app"]);
    let run = |args: &[&str]| {
        p.xtask(&[&["run", "--env", "dev", "--service", "app", "--current"][..], args].concat(), moto)
    };
    let ok = run(&["--", "sh", "-c", "echo hi"]).success();
    assert!(ok.stdout.contains("run app            `sh -c echo hi` exited 0 ("), "{}", ok.stdout);
    let failed = run(&["--", "sh", "-c", "exit 3"]).exit(3);
    assert!(
        failed.stderr.contains("run app            FAILED: `sh -c exit 3` exited with 3 (task "),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.ends_with("error: run app failed; the other steps finished\n"),
        "{}",
        failed.stderr
    );

    // A revision whose image does not exist never starts: the reasons say why.
    let registered = ecs(
        moto,
        "RegisterTaskDefinition",
        json!({ "family": p.family("app"), "containerDefinitions": [
            { "name": "app", "image": "127.0.0.1:5000/does-not-exist:1", "memory": 512 }
        ] }),
    );
    let arn = registered["taskDefinition"]["taskDefinitionArn"].as_str().unwrap();
    ecs(moto, "UpdateService", json!({ "cluster": p.prefix, "service": "app", "taskDefinition": arn }));
    let unstarted = run(&["--", "migrate"]).exit(1);
    assert!(
        unstarted.stderr.contains(
            "could not start `migrate`: CannotPullContainerError: pull image manifest has been retried 7 time(s): \
             127.0.0.1:5000/does-not-exist:1: not found"
        ),
        "{}",
        unstarted.stderr
    );
    assert!(
        unstarted.stderr.contains(&format!(" of {}:2 could not start", p.family("app"))),
        "{}",
        unstarted.stderr
    );
}

#[test]
fn before_deploy_runs_between_register_and_deploy_and_a_failure_deploys_nothing() {
    let moto = servers().moto_port;
    let template = with_logs();
    let p = project_with(&[("app", template.as_str())], servers().registry_port);
    let toml = |exit: u8| {
        format!("repository = \"{}/app\"\nbefore_deploy = [\"sh\", \"-c\", \"exit {exit}\"]\n", p.prefix)
    };
    p.repo.write("services/app/service.toml", &toml(0));
    p.repo.commit();
    p.create_ecs(moto, &["app"]);
    let plan = p.xtask(&["release", "--env", "dev", "--dry-run"], moto).success().stdout;
    assert!(
        plan.contains(
            "  before-deploy app  run `sh -c exit 0` as a one-off task of the registered revision; a failure deploys \
             nothing\n"
        ),
        "{plan}"
    );
    let fast = ["--poll-interval", "100ms", "--timeout", "30s"];
    let good = p.xtask(&[&["release", "--env", "dev"][..], &fast].concat(), moto).success();
    let lines: Vec<&str> = good.stdout.lines().filter(|l| l.starts_with("before-deploy app")).collect();
    assert_eq!(lines.len(), 3, "{}", good.stdout);
    assert_eq!(lines[0], "before-deploy app  | running sh -c exit 0");
    assert_eq!(lines[1], "before-deploy app  | exited with 0");
    assert!(lines[2].starts_with("before-deploy app  `sh -c exit 0` exited 0 ("), "{}", lines[2]);
    // The migration ran before the deploy, on the revision then deployed.
    let order = |step: &str| good.stdout.find(&format!("\n{step} ")).unwrap_or_else(|| panic!("no {step}"));
    assert!(
        order("register app") < order("before-deploy app")
            && order("before-deploy app") < order("deploy app")
    );
    assert_eq!(p.running_revision(moto, "app"), 2);

    // A migration that fails: its own exit code, its last lines, nothing deployed.
    p.repo.write("services/app/service.toml", &toml(4));
    p.repo.write("env/dev.toml", &p.repo.read("env/dev.toml").replace("\"hello\"", "\"bonjour\""));
    p.repo.commit();
    let bad = p.xtask(&[&["release", "--env", "dev"][..], &fast].concat(), moto).exit(5);
    assert!(
        bad.stderr.contains("before-deploy app  FAILED: `sh -c exit 4` exited with 4 (task ")
            && bad.stderr.contains(
                "), so nothing was deployed; its last lines:\n  running sh -c exit 4\n  exited with 4\n"
            ),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.ends_with(
            "error: before-deploy app failed; not started because of it: deploy app, wait app; the other steps \
             finished. Nothing was deployed: fix the command or what it needs, commit and release again\n"
        ),
        "{}",
        bad.stderr
    );
    assert_eq!(p.running_revision(moto, "app"), 2, "the service still runs the revision before");
}
