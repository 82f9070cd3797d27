//! `release`, `deploy`, `diff`, `status` and `rollback` against the real
//! Docker Engine, the local registry and moto for ECR and ECS, checked with
//! the AWS CLI and skopeo; faults come from the proxy.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

use crate::harness::{Repo, Run};
use crate::proxy::{Fault, Proxy};
use crate::servers::{aws, create_ecs, ecs, servers, Moto, ECR_PASSWORD, ECR_USER};

/// A project of deployable services, each a tiny image FROM scratch with an
/// env file and a Fargate task definition. Names (repositories, families,
/// cluster) are unique per test, so tests share the servers.
pub struct Project {
    pub repo: Repo,
    pub prefix: String,
    registry_port: u16,
}

const TASK_TEMPLATE: &str = r#"{
  "family": "{{ values.prefix }}-{{ service.name }}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [{
    "name": "{{ service.name }}",
    "image": "{{ image }}",
    "environment": {{ service_env | tojson }},
    "secrets": [{ "name": "API_KEY", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/{{ values.prefix }}/api-key" }]
  }]
}
"#;

/// Two services, `app` and `worker`, pushed straight to the test registry.
fn project() -> Project {
    project_of(&["app", "worker"], servers().registry_port)
}

/// The services named, pushed to the registry at `registry_port` (a proxy's, say).
pub fn project_of(services: &[&str], registry_port: u16) -> Project {
    let services: Vec<(&str, &str)> = services.iter().map(|s| (*s, TASK_TEMPLATE)).collect();
    project_with(&services, registry_port)
}

/// Services each with their own task-definition template.
pub fn project_with(services: &[(&str, &str)], registry_port: u16) -> Project {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("d{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    let repo = Repo::empty();
    repo.write(".gitignore", "/services/*/*.env\n");
    repo.write(
        "env/dev.toml",
        &format!(
            "region = \"us-east-1\"\naccount_id = \"123456789012\"\ncluster = \"{prefix}\"\n\
             registry = \"127.0.0.1:{registry_port}\"\n\n[values]\nprefix = \"{prefix}\"\ngreeting = \"hello\"\n"
        ),
    );
    for (service, task_template) in services {
        repo.write(
            &format!("services/{service}/service.toml"),
            &format!("repository = \"{prefix}/{service}\"\n"),
        );
        repo.write(&format!("services/{service}/Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
        repo.write(&format!("services/{service}/hello.txt"), &format!("{service}\n"));
        repo.write(&format!("templates/{service}.env.j2"), "GREETING={{ values.greeting }}\n");
        repo.write(&format!("templates/{service}.task.json.j2"), task_template);
    }
    repo.commit();
    Project { repo, prefix, registry_port }
}

impl Project {
    pub fn xtask(&self, args: &[&str], aws_port: u16) -> Run {
        self.repo.xtask_aws(args, aws_port)
    }

    fn xtask_with(&self, args: &[&str], aws_port: u16, vars: &[(&str, &str)]) -> Run {
        self.repo.xtask_aws_with(args, aws_port, vars)
    }

    fn family(&self, service: &str) -> String {
        format!("{}-{service}", self.prefix)
    }

    pub fn create_ecs(&self, aws_port: u16, services: &[&str]) {
        create_ecs(aws_port, &self.prefix, services);
    }

    fn service(&self, aws_port: u16, service: &str) -> Value {
        let found =
            ecs(aws_port, "DescribeServices", json!({ "cluster": self.prefix, "services": [service] }));
        found["services"][0].clone()
    }

    /// The revision number the service runs.
    fn running_revision(&self, aws_port: u16, service: &str) -> u32 {
        let arn = self.service(aws_port, service)["taskDefinition"].as_str().unwrap().to_string();
        arn.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn revisions(&self, aws_port: u16, service: &str) -> usize {
        let listed = ecs(aws_port, "ListTaskDefinitions", json!({ "familyPrefix": self.family(service) }));
        listed["taskDefinitionArns"].as_array().unwrap().len()
    }

    fn sha(&self) -> String {
        String::from_utf8(self.repo.git(&["rev-parse", "HEAD"]).stdout).unwrap().trim().to_string()
    }

    fn image(&self, service: &str) -> String {
        format!("127.0.0.1:{}/{}/{service}", self.registry_port, self.prefix)
    }
}

fn registry_digest(image: &str) -> String {
    let out = crate::tools::tool("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", &format!("{ECR_USER}:{ECR_PASSWORD}")])
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo inspect {image}: {}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["Digest"].as_str().unwrap().to_string()
}

#[test]
fn release_deploys_pinned_digests_then_does_nothing_then_rolls_back_to_the_last_good_release() {
    let moto = servers().moto_port;
    let p = project();
    p.create_ecs(moto, &["app", "worker"]);
    let app = p.family("app");
    let fast = ["--poll-interval", "100ms", "--timeout", "30s"];

    let first = p.xtask(&[&["release", "--env", "dev"][..], &fast].concat(), moto).success();
    for service in ["app", "worker"] {
        assert!(first.stdout.contains(&format!("registered {}:2 (", p.family(service))), "{}", first.stdout);
        assert!(
            first.stdout.contains(&format!("-> {}:2 (deployment ", p.family(service))),
            "{}",
            first.stdout
        );
        assert!(
            first.stdout.contains(&format!("runs {}:2 with 1/1 tasks", p.family(service))),
            "{}",
            first.stdout
        );
        assert_eq!(p.running_revision(moto, service), 2);
    }
    // What ECS holds is the pushed image by digest, the commit as a label,
    // the env file's values and the secret as a reference only.
    let short = p.repo.short_sha();
    let definition =
        &aws(moto, &["ecs", "describe-task-definition", "--task-definition", &format!("{app}:2")])
            ["taskDefinition"];
    let container = &definition["containerDefinitions"][0];
    let digest = registry_digest(&format!("{}:{short}", p.image("app")));
    assert_eq!(container["image"], format!("{}@{digest}", p.image("app")));
    assert_eq!(container["dockerLabels"]["org.opencontainers.image.revision"], p.sha());
    assert_eq!(container["environment"], serde_json::json!([{ "name": "GREETING", "value": "hello" }]));
    assert_eq!(
        container["secrets"][0]["valueFrom"],
        format!("arn:aws:ssm:us-east-1:123456789012:parameter/{}/api-key", p.prefix)
    );
    let arn = p.service(moto, "app")["serviceArn"].as_str().unwrap().to_string();
    let tags = aws(moto, &["ecs", "list-tags-for-resource", "--resource-arn", &arn])["tags"].clone();
    assert!(tags
        .as_array()
        .unwrap()
        .contains(&serde_json::json!({ "key": "xtask:last-good-commit", "value": p.sha() })));

    // The same commit again: nothing registered, nothing deployed, and it says so.
    let again = p.xtask(&[&["release", "--env", "dev"][..], &fast].concat(), moto).success();
    assert!(
        again.stdout.contains(&format!(
            "nothing to do: 2 services deployed as this commit wants them (app at {short}, worker at {short})"
        )),
        "{}",
        again.stdout
    );
    assert!(again.stdout.contains(&format!("skipped: {app}:2 is identical")), "{}", again.stdout);
    assert!(again.stdout.contains(&format!("skipped: app runs {app}:2 already")), "{}", again.stdout);
    assert_eq!((p.revisions(moto, "app"), p.revisions(moto, "worker")), (2, 2));
    let diff = p.xtask(&["diff", "--env", "dev"], moto).success();
    assert!(diff.stdout.contains(&format!("app: no changes from {app}:2")), "{}", diff.stdout);
    let json = p.xtask(&["diff", "--env", "dev", "--service", "app", "--json"], moto).success();
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!((report["version"].as_u64(), report["command"].as_str()), (Some(1), Some("diff")));
    assert_eq!(
        report["services"],
        serde_json::json!([{
            "name": "app", "family": app, "registered": format!("{app}:2"),
            "image": format!("{}:{short}", p.image("app")), "image_compared_by": "digest",
            "differs": false, "changes": []
        }])
    );

    // A new commit that changes a value: diff names the field, release ships it.
    p.repo.write("env/dev.toml", &p.repo.read("env/dev.toml").replace("\"hello\"", "\"bonjour\""));
    p.repo.commit();
    let diff = p.xtask(&["diff", "--env", "dev", "--service", "app"], moto).success();
    assert!(
        diff.stdout
            .contains("~ containerDefinitions[app].environment[GREETING].value: \"hello\" -> \"bonjour\""),
        "{}",
        diff.stdout
    );
    let json = p.xtask(&["diff", "--env", "dev", "--service", "app", "--json"], moto).success();
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["services"][0]["differs"], true);
    assert_eq!(
        report["services"][0]["changes"],
        serde_json::json!([{
            "path": "containerDefinitions[app].environment[GREETING].value",
            "registered": "hello", "rendered": "bonjour"
        }])
    );
    p.xtask(&[&["release", "--env", "dev"][..], &fast].concat(), moto).success();
    assert_eq!(p.running_revision(moto, "app"), 3);
    let status = p.xtask(&["status", "--env", "dev"], moto).success();
    assert!(status.stdout.contains(&format!("revision  {app}:3")), "{}", status.stdout);
    // The image did not change, so the commit shown is the one it was built from.
    assert!(status.stdout.contains(&format!("commit    {short}")), "{}", status.stdout);
    assert!(status.stdout.contains("rollout   COMPLETED, 1/1 tasks running"), "{}", status.stdout);
    assert!(status.stdout.contains(&format!("before it {app}:2 ({short})")), "{}", status.stdout);
    let json = p.xtask(&["status", "--env", "dev", "--json"], moto).success();
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!((report["version"].as_u64(), report["command"].as_str()), (Some(1), Some("status")));
    assert_eq!(report["env"], "dev");
    let shown = &report["services"][0];
    assert_eq!((shown["name"].as_str(), shown["kind"].as_str()), (Some("app"), Some("deployed")));
    assert_eq!(shown["revision"], format!("{app}:3"));
    assert_eq!(shown["commit"], short);
    assert_eq!(shown["images"], serde_json::json!([format!("{}@{digest}", p.image("app"))]));
    assert_eq!((shown["rollout"].as_str(), shown["running"].as_i64()), (Some("COMPLETED"), Some(1)));
    assert_eq!(shown["last_good"], serde_json::json!({ "revision": format!("{app}:3"), "commit": short }));
    assert_eq!(
        shown["previous_good"],
        serde_json::json!({ "revision": format!("{app}:2"), "commit": short })
    );
    assert_eq!(report["services"][1]["name"], "worker");

    // A dry run says where a rollback would go, and changes nothing.
    let plan = p.xtask(&["rollback", "--env", "dev", "--service", "app", "--dry-run"], moto).success();
    assert_eq!(
        plan.stdout,
        format!(
            "rollback plan: env dev, ECS service app in cluster {cluster}\n  update  app: {app}:3 -> {app}:2 (image \
             commit {short})\n  check   its images are in their registry\n  wait    until the rollout completes with \
             every task running; record it in the history\ndry run: nothing was changed\n",
            cluster = p.prefix
        )
    );
    assert_eq!(p.running_revision(moto, "app"), 3);

    // Back to the release before, then forward again by commit, then by revision.
    let back =
        p.xtask(&[&["rollback", "--env", "dev", "--service", "app"][..], &fast].concat(), moto).success();
    assert!(back.stdout.contains(&format!("rolling app back: {app}:3 -> {app}:2")), "{}", back.stdout);
    assert_eq!(p.running_revision(moto, "app"), 2);
    // A second rollback goes further back, never forward: here there is nothing older.
    let again =
        p.xtask(&[&["rollback", "--env", "dev", "--service", "app"][..], &fast].concat(), moto).failure();
    assert_eq!(
        again.stderr,
        format!(
            "error: app: no good release older than {app}:2 (#1) is recorded, so there is nothing to roll back to; \
             `cargo xtask history` lists the releases, and --to picks any revision or commit\n"
        )
    );
    assert_eq!(p.running_revision(moto, "app"), 2);
    // The bootstrap revision runs an image no registry here has: refused unless forced.
    let imageless =
        p.xtask(&[&["rollback", "--env", "dev", "--service", "app", "--to", "1"][..], &fast].concat(), moto);
    assert_eq!(
        imageless.failure().stderr,
        format!(
            "error: {app}:1 runs bootstrap:1, which cannot be found in its registry, so its tasks could not start; \
             pass --force to roll back to it anyway\n"
        )
    );
    assert_eq!(p.running_revision(moto, "app"), 2);
    let newest = p.repo.short_sha();
    p.xtask(
        &[&["rollback", "--env", "dev", "--service", "app", "--to", &newest[..7]][..], &fast].concat(),
        moto,
    )
    .success();
    assert_eq!(p.running_revision(moto, "app"), 3);
    p.xtask(&[&["rollback", "--env", "dev", "--service", "app", "--to", "2"][..], &fast].concat(), moto)
        .success();
    assert_eq!(p.running_revision(moto, "app"), 2);
    // The worker was never touched by the rollbacks.
    assert_eq!(p.running_revision(moto, "worker"), 3);
    // The history every machine reads: two releases, then three rollbacks, newest first.
    let history = p.xtask(&["history", "--env", "dev", "--service", "app"], moto).success().stdout;
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(
        lines[0],
        format!("app (ECS service app, cluster {}): 5 releases recorded, newest first", p.prefix)
    );
    let shown: Vec<(String, String)> = lines[1..]
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[0].to_string(), format!("{} {}", fields[2], fields[4..].join(" ")))
        })
        .collect();
    let expected = [
        ("#5", format!("{app}:2 rollback <- runs now")),
        ("#4", format!("{app}:3 rollback")),
        ("#3", format!("{app}:2 rollback")),
        ("#2", format!("{app}:3 good")),
        ("#1", format!("{app}:2 good")),
    ];
    assert_eq!(shown, expected.map(|(n, rest)| (n.to_string(), rest)), "{history}");

    // Releasing the commit that runs after the rollback: the newest revision
    // (3) differs, the one the service runs (2) is identical, so nothing is
    // registered and nothing deployed.
    p.repo.git(&["checkout", "-q", "HEAD~1"]);
    let same =
        p.xtask(&[&["release", "--env", "dev", "--service", "app"][..], &fast].concat(), moto).success();
    assert!(
        same.stdout.contains(&format!("skipped: {app}:2 is identical and runs already")),
        "{}",
        same.stdout
    );
    assert!(same.stdout.contains(&format!("skipped: app runs {app}:2 already")), "{}", same.stdout);
    assert_eq!((p.revisions(moto, "app"), p.running_revision(moto, "app")), (3, 2));
}

/// The last line about a step, found by its step name: the step's result
/// after a run, its plan line after a dry run.
fn step_line<'a>(stdout: &'a str, step: &str) -> &'a str {
    stdout
        .lines()
        .rev()
        .find(|line| line.trim_start().strip_prefix(step).is_some_and(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no `{step}` line:\n{stdout}"))
}

#[test]
fn a_commit_that_changes_one_service_rebuilds_and_redeploys_only_that_service() {
    let moto = servers().moto_port;
    let p = project();
    p.create_ecs(moto, &["app", "worker"]);
    let release = ["release", "--env", "dev", "--poll-interval", "100ms", "--timeout", "30s"];
    p.xtask(&release, moto).success();
    let first = p.repo.short_sha();

    // An uncommitted change reaches the worker's image only.
    p.repo.write("services/worker/hello.txt", "worker, changed\n");
    let plan = p.xtask(&["release", "--env", "dev", "--dry-run"], moto).success();
    let app_image = format!("{}:{first}", p.image("app"));
    assert!(step_line(&plan.stdout, "push app").contains(&format!("{app_image}, unless")), "{}", plan.stdout);
    assert!(
        step_line(&plan.stdout, "push worker")
            .contains(&format!("{}:{first}-dirty, unless", p.image("worker"))),
        "{}",
        plan.stdout
    );

    p.repo.commit();
    let second = p.repo.short_sha();
    let run = p.xtask(&release, moto).success();
    let out = &run.stdout;
    assert_eq!(
        step_line(out, "build app"),
        format!("build app          skipped: {app_image} exists (--force rebuilds it)")
    );
    assert!(
        step_line(out, "push app")
            .starts_with(&format!("push app           skipped: {app_image} is in the registry")),
        "{out}"
    );
    assert_eq!(
        step_line(out, "register app"),
        format!("register app       skipped: {}:2 is identical", p.family("app"))
    );
    assert_eq!(
        step_line(out, "deploy app"),
        format!("deploy app         skipped: app runs {}:2 already", p.family("app"))
    );
    assert!(
        step_line(out, "build worker")
            .starts_with(&format!("build worker       built {}:{second} (", p.image("worker"))),
        "{out}"
    );
    assert!(
        step_line(out, "push worker")
            .starts_with(&format!("push worker        pushed {}@sha256:", p.image("worker"))),
        "{out}"
    );
    assert!(
        step_line(out, "register worker")
            .starts_with(&format!("register worker    registered {}:3 (", p.family("worker"))),
        "{out}"
    );
    assert!(
        step_line(out, "deploy worker").contains(&format!(
            "{}:2 -> {}:3",
            p.family("worker"),
            p.family("worker")
        )),
        "{out}"
    );
    assert_eq!((p.revisions(moto, "app"), p.running_revision(moto, "app")), (2, 2));
    assert_eq!((p.revisions(moto, "worker"), p.running_revision(moto, "worker")), (3, 3));

    // Each definition records the commit its image was built from.
    let commit_label = |revision: &str| {
        let found = aws(moto, &["ecs", "describe-task-definition", "--task-definition", revision]);
        found["taskDefinition"]["containerDefinitions"][0]["dockerLabels"]
            ["org.opencontainers.image.revision"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(commit_label(&format!("{}:2", p.family("app"))).starts_with(&first));
    assert!(commit_label(&format!("{}:3", p.family("worker"))).starts_with(&second));
    // No image of the app was made for the second commit.
    let tagged = crate::tools::tool("docker")
        .args(["image", "inspect", &format!("{}:{second}", p.image("app"))])
        .output()
        .unwrap();
    assert!(!tagged.status.success(), "the app was rebuilt for a commit that did not change it");

    // A machine without the app's image (a fresh CI runner) finds it in the registry.
    let removed = crate::tools::tool("docker").args(["rmi", &app_image]).output().unwrap();
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    p.repo.write("services/worker/hello.txt", "worker, changed again\n");
    p.repo.commit();
    let run = p.xtask(&release, moto).success();
    assert_eq!(
        step_line(&run.stdout, "build app"),
        format!("build app          skipped: {app_image} is in the registry (--force rebuilds it)")
    );
    assert_eq!((p.revisions(moto, "app"), p.revisions(moto, "worker")), (2, 4));
}

#[test]
fn a_rollout_that_never_completes_times_out_and_is_rolled_back() {
    // On this server, services never get a task running.
    let moto = Moto::start(&[("MOTO_ECS_SERVICE_RUNNING", "0")]);
    let p = project();
    p.create_ecs(moto.port, &["app"]);
    let app = p.family("app");
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

    aws(moto, &["ecs", "create-cluster", "--cluster-name", &p.prefix]);
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

#[test]
fn ci_stages_build_publish_and_deploy_the_commit_and_summarise_each_step() {
    let moto = servers().moto_port;
    let p = project();
    p.create_ecs(moto, &["app", "worker"]);
    // Outside the checkout, as on GitHub: a file inside would make the tree dirty.
    let outside = tempfile::tempdir().unwrap();
    let summary = outside.path().join("summary.md");
    let summary_var = summary.display().to_string();
    let ci = [("CI", "true"), ("GITHUB_STEP_SUMMARY", summary_var.as_str())];
    let short = p.repo.short_sha();

    let built = p.xtask_with(&["ci", "build", "--env", "dev"], moto, &ci).success();
    assert!(built.stdout.contains(&format!("built {}:{short}", p.image("app"))), "{}", built.stdout);
    assert!(!built.stderr.contains('\r'), "a live status line in CI:\n{:?}", built.stderr);
    let inspect = crate::tools::tool("docker")
        .args(["image", "inspect", &format!("{}:{short}", p.image("worker"))])
        .output();
    assert!(inspect.unwrap().status.success(), "ci build left no image");

    let published = p.xtask_with(&["ci", "publish", "--env", "dev"], moto, &ci).success();
    let digest = registry_digest(&format!("{}:{short}", p.image("app")));
    assert!(
        published.stdout.contains(&format!("pushed {}@{digest}", p.image("app"))),
        "{}",
        published.stdout
    );

    let deployed = p
        .xtask_with(
            &["ci", "deploy", "--env", "dev", "--poll-interval", "100ms", "--timeout", "30s"],
            moto,
            &ci,
        )
        .success();
    assert!(
        deployed.stdout.contains(&format!("runs {}:2 with 1/1 tasks", p.family("app"))),
        "{}",
        deployed.stdout
    );
    assert_eq!((p.running_revision(moto, "app"), p.running_revision(moto, "worker")), (2, 2));

    let text = std::fs::read_to_string(&summary).unwrap();
    let headings: Vec<&str> =
        text.lines().filter(|l| l.starts_with("### ")).map(|l| &l[..l.find(": ").unwrap()]).collect();
    assert_eq!(
        headings,
        ["### `cargo xtask ci build`", "### `cargo xtask ci publish`", "### `cargo xtask ci deploy`"]
    );
    assert_eq!(text.matches("passed in ").count(), 3, "{text}");
    for row in [
        format!("| build app | built {}:{short} (", p.image("app")),
        format!("| push app | pushed {}@{digest} (", p.image("app")),
        format!("| register app | registered {}:2 (", p.family("app")),
        format!("| wait worker | worker runs {}:2 with 1/1 tasks", p.family("worker")),
    ] {
        assert!(text.contains(&row), "missing {row:?} in the summary:\n{text}");
    }

    // A stage that cannot start says so as an annotation, and in the summary.
    let lost = project();
    let failed = lost.xtask_with(&["ci", "deploy", "--env", "dev"], moto, &ci).failure();
    let expected = format!(
        "::error title=cargo xtask ci deploy::cannot start, nothing was changed:%0A  ECS cluster {} does not exist",
        lost.prefix
    );
    assert!(failed.stdout.contains(&expected), "no annotation {expected:?} in\n{}", failed.stdout);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("### `cargo xtask ci deploy`: failed in "), "{text}");
}

#[test]
fn doctor_checks_aws_ecr_and_ecs_for_an_environment_and_names_what_is_missing() {
    let moto = servers().moto_port;
    let p = project();
    p.create_ecs(moto, &["app", "worker"]);
    let registry = format!("127.0.0.1:{}", p.registry_port);
    let run =
        p.xtask(&["doctor", "--env", "dev", "--reach", &format!("http://{registry}/v2/")], moto).success();
    let cluster = &p.prefix;
    for line in [
        "ok    templates         every template renders for env dev\n".to_string(),
        "ok    variables         every process variable env dev needs is set\n".to_string(),
        "ok    generated files   git ignores the 2 env files of env dev\n".to_string(),
        "ok    aws credentials   found (long-lived keys)\n".to_string(),
        format!("ok    aws endpoint      http://127.0.0.1:{moto} answers (127.0.0.1:{moto}, "),
        format!("ok    registry          {registry} answers (127.0.0.1:{}, ", p.registry_port),
        "ok    aws account       123456789012, as env/dev.toml says\n".to_string(),
        format!("ok    ecr               token for {registry} obtained (kept in memory only)\n"),
        format!("ok    ecs cluster       {cluster} in us-east-1: ACTIVE\n"),
        "ok    ecs services      2 found: app, worker\n".to_string(),
        format!("ok    reach             http://{registry} answers ("),
    ] {
        assert!(run.stdout.contains(&line), "missing {line:?} in\n{}", run.stdout);
    }
    assert!(run.stdout.ends_with("doctor: 15 checks, no problem found\n"), "{}", run.stdout);
    assert!(!run.stdout.contains("testing-secret-value"), "a credential was printed");

    // A cluster with one of the two services: the other is named.
    let half = project();
    half.create_ecs(moto, &["app"]);
    let run = half.xtask(&["doctor", "--env", "dev"], moto).failure();
    let expected = format!(
        "FAIL  ecs services      1 of 2 not found\n\
         \x20                      worker: ECS service worker does not exist in cluster {}\n\
         \x20                      fix: create them with your infrastructure code, or set `ecs_service` in the \
         service's service.toml\n",
        half.prefix
    );
    assert!(run.stdout.contains(&expected), "missing\n{expected}\nin\n{}", run.stdout);
    assert!(run.stderr.starts_with("error: doctor: 1 of 14 checks failed:\n"), "{}", run.stderr);

    // No cluster at all: the services are not looked for.
    let none = project();
    let run = none.xtask(&["doctor", "--env", "dev"], moto).failure();
    assert!(
        run.stdout
            .contains(&format!("FAIL  ecs cluster       {} does not exist in us-east-1\n", none.prefix)),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("ecs services"), "{}", run.stdout);
}

#[test]
fn an_image_of_the_registry_that_the_release_does_not_build_is_looked_up_before_anything_is_built() {
    let s = servers();
    // The worker runs the app's image as a sidecar; a release of the worker alone does not build it.
    let with_sidecar = TASK_TEMPLATE.replace(
        "\"image\": \"{{ image }}\",",
        "\"image\": \"{{ image }}\"\n  }, {\n    \"name\": \"sidecar\",\n    \"image\": \"{{ images.app }}\",\n    \"essential\": false,",
    );
    let p = project_with(&[("app", TASK_TEMPLATE), ("worker", &with_sidecar)], s.registry_port);
    p.create_ecs(s.moto_port, &["app", "worker"]);
    let app_image = format!("{}:{}", p.image("app"), p.repo.short_sha());
    let worker_only = ["release", "--env", "dev", "--service", "worker", "--poll-interval", "100ms"];
    let run = p.xtask(&worker_only, s.moto_port).failure();
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot start, nothing was changed:\n  the task definition of worker runs {app_image}, which is \
             not in the registry and which this run does not build; push it first, or release the service that \
             builds it too\n"
        )
    );
    let built = crate::tools::tool("docker")
        .args(["image", "inspect", &format!("{}:{}", p.image("worker"), p.repo.short_sha())])
        .output()
        .unwrap();
    assert!(!built.status.success(), "the worker was built although the release could not start");

    p.xtask(&["push", "--env", "dev", "--service", "app"], s.moto_port).success();
    p.xtask(&worker_only, s.moto_port).success();
    let running = p.service(s.moto_port, "worker")["taskDefinition"].as_str().unwrap().to_string();
    let definition = ecs(s.moto_port, "DescribeTaskDefinition", json!({ "taskDefinition": running }));
    let sidecar = &definition["taskDefinition"]["containerDefinitions"][1];
    assert_eq!(sidecar["image"], format!("{}@{}", p.image("app"), registry_digest(&app_image)));
    assert_eq!(sidecar["dockerLabels"]["xtask.image.tag"], app_image.as_str());
}

#[test]
fn an_aws_endpoint_that_never_answers_or_refuses_ends_the_command_with_its_name() {
    let s = servers();
    let p = project();
    p.create_ecs(s.moto_port, &["app", "worker"]);
    let one_second = [("XTASK_AWS_TIMEOUT", "1s")];

    // Accepted and never answered: each try ends after a second, the call after three.
    let proxy = Proxy::start(s.moto_port);
    proxy.inject("DescribeServices", 100, Fault::Hang(std::time::Duration::from_secs(20)));
    let started = std::time::Instant::now();
    let run = p.xtask_with(&["release", "--env", "dev"], proxy.port, &one_second).failure();
    let took = started.elapsed();
    let hung = format!(
        "cannot describe ECS service {{}}: http://127.0.0.1:{} did not answer within 1s (each try; the endpoint \
         is stopped or unreachable); check the network (VPN, proxy, security group), AWS_ENDPOINT_URL and the \
         region; `cargo xtask doctor --env ENV` diagnoses the endpoint",
        proxy.port
    );
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot start, nothing was changed:\n  {}\n  {}\n",
            hung.replace("{}", "app"),
            hung.replace("{}", "worker")
        )
    );
    assert!(took < std::time::Duration::from_secs(10), "it took {took:?}");

    // A frozen moto (SIGSTOP): the kernel accepts connections, nothing answers.
    let frozen = Moto::start(&[]);
    create_ecs(frozen.port, &p.prefix, &["app", "worker"]);
    frozen.signal("STOP");
    let started = std::time::Instant::now();
    let run = p.xtask_with(&["release", "--env", "dev"], frozen.port, &one_second).failure();
    frozen.signal("CONT");
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot start, nothing was changed:\n  cannot get an ECR token: http://127.0.0.1:{} did not \
             answer within 1s (each try; the endpoint is stopped or unreachable); check the network (VPN, proxy, \
             security group), AWS_ENDPOINT_URL and the region; `cargo xtask doctor --env ENV` diagnoses the \
             endpoint\n",
            frozen.port
        )
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "it took {:?}", started.elapsed());

    // Nothing listens: refused (retried a few times by the SDK, as a restart
    // would be ridden out), then named.
    let dead = [("AWS_ENDPOINT_URL", "http://127.0.0.1:9")];
    let run = p.xtask_with(&["rollback", "--env", "dev", "--service", "app"], s.moto_port, &dead);
    assert_eq!(
        run.failure().stderr,
        "error: cannot describe ECS service app: could not connect to http://127.0.0.1:9 (nothing listens there); \
         check the network (VPN, proxy, security group), AWS_ENDPOINT_URL and the region; `cargo xtask doctor --env \
         ENV` diagnoses the endpoint\n"
    );
}

#[test]
fn status_shows_whether_a_build_only_service_is_in_the_registry() {
    let s = servers();
    let p = project();
    p.repo.write("services/base/Dockerfile", "FROM scratch\nCOPY hello.txt /\n");
    p.repo.write("services/base/hello.txt", "base\n");
    p.repo.write("services/base/service.toml", &format!("repository = \"{}/base\"\n", p.prefix));
    p.repo.commit();
    let image = format!("{}:{}", p.image("base"), p.repo.short_sha());
    let status = |expected: &str| {
        let run = p.xtask(&["status", "--env", "dev", "--service", "base"], s.moto_port).success();
        assert_eq!(
            run.stdout,
            format!(
                "env dev, cluster {}, region us-east-1\nbase (built, not deployed: no task definition template)\n  \
                 image     {image}, {expected}\n",
                p.prefix
            )
        );
    };
    status("not in the registry yet");
    p.xtask(&["push", "--env", "dev", "--service", "base"], s.moto_port).success();
    status(&format!("in the registry ({})", registry_digest(&image)));
}

#[test]
fn a_step_that_takes_a_second_or_more_says_how_long() {
    let s = servers();
    let p = project();
    p.create_ecs(s.moto_port, &["app", "worker"]);
    let proxy = Proxy::start(s.moto_port);
    proxy.inject("RegisterTaskDefinition", 1, Fault::Delay(std::time::Duration::from_millis(1500)));
    let fast = ["--service", "app", "--poll-interval", "100ms", "--timeout", "30s"];
    let run = p.xtask(&[&["release", "--env", "dev"][..], &fast].concat(), proxy.port).success();
    let register = run.stdout.lines().find(|l| l.starts_with("register app ")).unwrap_or_default();
    let took: f64 =
        register.rsplit_once(" (").and_then(|(_, t)| t.strip_suffix("s)")).unwrap().parse().unwrap();
    assert!(
        register.starts_with(&format!("register app       registered {}-app:2 (", p.prefix)),
        "{register}"
    );
    assert!(took >= 1.5, "{register}");
    // A quick step says nothing of its time.
    let deploy = run.stdout.lines().find(|l| l.starts_with("deploy app ")).unwrap_or_default();
    assert!(deploy.contains("(deployment ") && !deploy.ends_with("s)"), "{deploy}");
}

#[test]
fn a_session_of_another_account_is_refused_and_endpoints_and_region_resolve_as_the_sdk_does() {
    let s = servers();
    let p = project();
    p.create_ecs(s.moto_port, &["app", "worker"]);
    let env = p.repo.read("env/dev.toml");
    p.repo.write("env/dev.toml", &env.replace("123456789012", "210987654321"));
    p.repo.commit();
    let run = p.xtask(&["release", "--env", "dev"], s.moto_port).failure();
    assert_eq!(
        run.stderr,
        "error: cannot start, nothing was changed:\n  the AWS session is for account 123456789012, but env dev is \
         account 210987654321 (`account_id` in env/dev.toml); export the AWS_PROFILE of account 210987654321, or \
         correct `account_id`\n"
    );
    let built = crate::tools::tool("docker")
        .args(["image", "inspect", &format!("{}:{}", p.image("app"), p.repo.short_sha())])
        .output()
        .unwrap();
    assert!(!built.status.success(), "an image was built although the release could not start");
    let doctor = p.xtask(&["doctor", "--env", "dev"], s.moto_port).failure();
    let expected = "FAIL  aws account       the AWS session is for account 123456789012, but env dev is account \
                    210987654321 (`account_id` in env/dev.toml)\n\
                    \x20                      fix: export the AWS_PROFILE of account 210987654321, or correct \
                    `account_id`\n\
                    skip  ecr, ecs          need a session of the environment's account\n";
    assert!(doctor.stdout.contains(expected), "missing\n{expected}\nin\n{}", doctor.stdout);
    p.repo.write("env/dev.toml", &env);
    p.repo.commit();

    // The general endpoint is dead; each service's own variable names moto.
    // The region of the environment file wins over AWS_REGION (moto keeps
    // each region apart, so the services are only found in us-east-1).
    let moto = format!("http://127.0.0.1:{}", s.moto_port);
    let per_service = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_ENDPOINT_URL_ECS", moto.as_str()),
        ("AWS_ENDPOINT_URL_ECR", moto.as_str()),
        ("AWS_ENDPOINT_URL_STS", moto.as_str()),
        ("AWS_REGION", "eu-west-3"),
    ];
    let status = p.xtask_with(&["status", "--env", "dev", "--service", "app"], s.moto_port, &per_service);
    assert!(status.success().stdout.contains("  revision  "), "the service was not found");
    let doctor = p.xtask_with(&["doctor", "--env", "dev"], s.moto_port, &per_service);
    let doctor = doctor.success().stdout;
    assert!(doctor.contains(&format!("ok    aws endpoint      {moto} answers (")), "{doctor}");
    assert!(doctor.contains("ok    aws account       123456789012"), "{doctor}");

    // A profile's `endpoint_url`, with no variable naming one.
    let config = p.repo.path().join(".home/aws-config");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, format!("[default]\nendpoint_url = {moto}\n")).unwrap();
    let mut command = p.repo.xtask_aws_command(&["doctor", "--env", "dev"], s.moto_port);
    command.env_remove("AWS_ENDPOINT_URL").env("AWS_CONFIG_FILE", &config);
    let doctor = crate::harness::Run::from(command.output().unwrap()).success().stdout;
    assert!(doctor.contains(&format!("ok    aws endpoint      {moto} answers (")), "{doctor}");
    assert!(doctor.contains("ok    ecs services      2 found: app, worker"), "{doctor}");
}

/// Every file below `root` (`.git` left out) with its contents, except the
/// generated env files, which are meant to hold secrets and are 0600.
fn files_outside_env_files(root: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() == ".git" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            if path.extension().is_some_and(|e| e == "env") && mode == 0o600 {
                continue;
            }
            out.push((path.clone(), String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned()));
        }
    }
    out
}

#[test]
fn secrets_never_appear_in_what_any_command_prints_or_writes() {
    let moto = servers().moto_port;
    let p = project();
    p.create_ecs(moto, &["app", "worker"]);
    // A local-only secret in the compose env file, kept out of ECS as the README says.
    p.repo.write(
        "templates/app.env.j2",
        "GREETING={{ values.greeting }}\n{% if target == \"compose\" %}STRIPE_SECRET={{ secret(\"STRIPE_SECRET\") }}\n{% endif %}",
    );
    p.repo.commit();
    let secret = "zq-stripe-secret-4242";
    // The AWS secret key the harness passes, and the ECR password moto's token carries.
    // And a database password holding the characters that end a URL's host.
    let url_password = "pw-9f8e7d";
    let watched = [secret, "testing-secret-value", ECR_PASSWORD, url_password];
    let outside = tempfile::tempdir().unwrap();
    let summary = outside.path().join("summary.md");
    let summary_var = summary.display().to_string();
    let vars = [("STRIPE_SECRET", secret), ("CI", "true"), ("GITHUB_STEP_SUMMARY", summary_var.as_str())];
    let fast = ["--poll-interval", "100ms", "--timeout", "30s"];

    let mut runs = Vec::new();
    let mut run_at = |args: &[&str], port: u16| runs.push((args.join(" "), p.xtask_with(args, port, &vars)));
    let mut run = |args: &[&str]| run_at(args, moto);
    run(&["dev-env"]);
    run(&["render", "--env", "dev"]);
    run(&["release", "--env", "dev", "--dry-run"]);
    run(&["pre-push"]);
    run(&["doctor", "--env", "dev"]);
    run(&[&["release", "--env", "dev"][..], &fast].concat());
    run(&["diff", "--env", "dev"]);
    run(&["status", "--env", "dev"]);
    run(&[&["ci", "deploy", "--env", "dev", "--force-new-deployment"][..], &fast].concat());
    run(&[&["rollback", "--env", "dev", "--service", "app", "--to", "1", "--force"][..], &fast].concat());
    // Failing paths: a release refused by another run's lock, an expired AWS
    // session on push, an unreachable engine, a template error beside the
    // secret, and a service that does not exist.
    let lock_path =
        std::env::temp_dir().join(format!("xtask-locks/123456789012-us-east-1-{}.lock", p.prefix));
    let held = std::fs::File::open(&lock_path).unwrap();
    held.lock().unwrap();
    run(&["release", "--env", "dev"]);
    drop(held);
    let proxy = Proxy::start(moto);
    proxy.inject("GetAuthorizationToken", 1, Fault::aws_error("ExpiredTokenException", "expired"));
    run_at(&["push", "--env", "dev", "--force"], proxy.port);
    let no_engine = [&vars[..], &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]].concat();
    runs.push(("build --env dev".to_string(), p.xtask_with(&["build", "--env", "dev"], moto, &no_engine)));
    let mut run = |args: &[&str]| runs.push((args.join(" "), p.xtask_with(args, moto, &vars)));
    p.repo.write("templates/worker.env.j2", "GREETING={{ values.nope }}\n");
    run(&["render", "--env", "dev"]);
    run(&["release", "--env", "dev"]);
    run(&["deploy", "--env", "dev", "--service", "nope"]);
    // An AWS endpoint where nothing listens, and one that never answers.
    let dead =
        [&vars[..], &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9"), ("XTASK_AWS_TIMEOUT", "1s")]].concat();
    runs.push(("status (dead endpoint)".to_string(), p.xtask_with(&["status", "--env", "dev"], moto, &dead)));
    let hang = Proxy::start(moto);
    hang.inject("AmazonEC2ContainerServiceV20141113", 100, Fault::Hang(std::time::Duration::from_secs(10)));
    let slow = [&vars[..], &[("XTASK_AWS_TIMEOUT", "1s")]].concat();
    runs.push((
        "diff (hanging endpoint)".to_string(),
        p.xtask_with(&["diff", "--env", "dev"], hang.port, &slow),
    ));
    let mut run = |args: &[&str]| runs.push((args.join(" "), p.xtask_with(args, moto, &vars)));
    // Passwords with `#`, `?` and `/` (not percent-encoded), shown nowhere,
    // CI annotations included; an encoded one parses and is dropped.
    for url in [
        format!("postgres://admin:a#{url_password}@127.0.0.1:1/db"),
        format!("postgres://admin:a?{url_password}@127.0.0.1:1/db"),
        format!("postgres://admin:a/{url_password}@127.0.0.1:1/db"),
        format!("postgres://admin:a%23{url_password}@127.0.0.1:1/db"),
    ] {
        run(&["doctor", "--reach", &url]);
    }

    let dev_env = p.repo.read("services/app/dev.env");
    assert!(dev_env.contains(&format!("STRIPE_SECRET={secret}")), "the secret did not reach the env file");
    for (command, r) in runs.iter().take(10) {
        assert_eq!(r.code, 0, "`{command}` failed: {}{}", r.stdout, r.stderr);
    }
    assert!(runs.iter().skip(10).all(|(_, r)| r.code != 0), "a failing path succeeded");
    for (command, r) in &runs {
        for value in watched {
            assert!(!r.stdout.contains(value) && !r.stderr.contains(value), "`{command}` printed {value:?}");
        }
        // Errors are sentences, never a Rust Debug dump of an SDK's error.
        let dump = r.stderr.lines().chain(r.stdout.lines()).find(|line| looks_like_debug(line));
        assert!(dump.is_none(), "`{command}` printed a Debug dump: {}", dump.unwrap_or_default());
    }
    let mut written = files_outside_env_files(p.repo.path());
    written.push((summary.clone(), std::fs::read_to_string(&summary).unwrap()));
    written.push((lock_path.clone(), std::fs::read_to_string(&lock_path).unwrap()));
    for (path, text) in &written {
        for value in watched {
            assert!(!text.contains(value), "{} holds {value:?}", path.display());
        }
    }
    assert!(written.len() > 10, "too few files were scanned: {}", written.len());
}

/// Whether a line shows Rust's Debug formatting: `Error(`, `Some(`, or a
/// struct such as `DispatchFailure { source: ConnectorError {`.
fn looks_like_debug(line: &str) -> bool {
    if ["Error(", "Some(", "Ok(", "Err("].iter().any(|p| line.contains(p)) {
        return true;
    }
    line.match_indices(" { ").any(|(at, _)| {
        let before = line[..at].chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
        let field = line[at + 3..].split(' ').next().unwrap_or_default();
        before
            && field.len() > 1
            && field.ends_with(':')
            && field[..field.len() - 1].chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[test]
fn debug_dumps_are_recognised() {
    assert!(looks_like_debug("DispatchFailure(DispatchFailure { source: ConnectorError { kind: Io"));
    assert!(looks_like_debug("error: ConnectorError { kind: Timeout, source: hyper::Error(Connect) }"));
    assert!(!looks_like_debug("use `{{ image }}` (or `{{ images.<service> }}`), tagged with the commit"));
    assert!(!looks_like_debug("{ \"name\": \"API_KEY\", \"valueFrom\": \"arn:aws:ssm:...\" }"));
}

/// A release started in the background, its output collected as it comes.
struct Background {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Background {
    fn start(p: &Project, aws_port: u16, args: &[&str]) -> Background {
        Background::start_with(p, aws_port, args, &[])
    }

    fn start_with(p: &Project, aws_port: u16, args: &[&str], vars: &[(&str, &str)]) -> Background {
        let mut child = p
            .repo
            .xtask_aws_command(args, aws_port)
            .envs(vars.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stdout.take().unwrap();
        let sink = std::sync::Arc::clone(&stdout);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut pipe, &mut buffer) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Background { child, stdout }
    }

    /// Waits until a line of its output starts with `prefix`.
    fn wait_for_line(&self, prefix: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.stdout.lock().unwrap().lines().any(|l| l.starts_with(prefix)) {
            assert!(
                std::time::Instant::now() < deadline,
                "no line `{prefix}`:\n{}",
                self.stdout.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
    }

    fn finish(mut self) -> (Option<i32>, String, String) {
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let stdout = self.stdout.lock().unwrap().clone();
        (status.code(), stdout, stderr)
    }
}

#[test]
fn concurrent_releases_are_refused_interruptions_stop_cleanly_and_a_rerun_finishes() {
    let moto = servers().moto_port;
    let p = project();
    p.create_ecs(moto, &["app", "worker"]);
    let release = ["release", "--env", "dev", "--verbose", "--poll-interval", "100ms", "--timeout", "30s"];

    // Interrupted (Ctrl-C) while the app's image builds: the engine is
    // reached through a relay that holds every build once it has started.
    let engine = crate::proxy::EngineOnTcp::start(crate::proxy::EngineMode::StallBuilds);
    let docker_host = format!("tcp://127.0.0.1:{}", engine.port);
    let first = Background::start_with(&p, moto, &release, &[("DOCKER_HOST", &docker_host)]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while engine.stalled_builds.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "no build started:\n{}", first.stdout.lock().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Meanwhile a second release of the same cluster is refused, naming the first.
    let second = p.xtask(&release, moto).failure();
    assert!(
        second.stderr.contains(&format!(
            "cluster {} (env dev) is being changed by another run: pid {} (`cargo xtask release --env dev",
            p.prefix,
            first.child.id()
        )),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("or pass --wait-for-lock 10m to wait"), "{}", second.stderr);
    first.signal("-INT");
    let (code, _, stderr) = first.finish();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("error: interrupted by SIGINT: "), "{stderr}");
    assert!(stderr.contains("; stopped: build app"), "{stderr}");
    assert!(
        stderr.contains(
            "No service was pointed at an image that was not fully pushed; run the same command again"
        ),
        "{stderr}"
    );
    // Nothing was deployed, and the app's image did not reach the registry.
    assert_eq!((p.running_revision(moto, "app"), p.running_revision(moto, "worker")), (1, 1));
    let image = format!("docker://{}:{}", p.image("app"), p.repo.short_sha());
    let creds = format!("{ECR_USER}:{ECR_PASSWORD}");
    let inspect = crate::tools::tool("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", &creds, &image])
        .output();
    assert!(!inspect.unwrap().status.success(), "the interrupted push left {image} in the registry");

    // SIGTERM (what CI runners send) stops it the same way.
    let second = Background::start(&p, moto, &release);
    second.wait_for_line("revision ");
    second.signal("-TERM");
    let (code, _, stderr) = second.finish();
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("error: interrupted by SIGTERM: "), "{stderr}");

    // A run killed outright leaves its lock file behind but not its lock:
    // the next run takes it, says so, and finishes the job.
    let third = Background::start(&p, moto, &release);
    third.wait_for_line("revision ");
    let killed = third.child.id();
    third.signal("-KILL");
    assert_eq!(third.finish().0, None);
    let rerun = p.xtask(&release, moto).success();
    assert!(
        rerun
            .stdout
            .contains(&format!("note: an earlier run did not finish (pid {killed} (`cargo xtask release")),
        "{}",
        rerun.stdout
    );
    assert_eq!((p.running_revision(moto, "app"), p.running_revision(moto, "worker")), (2, 2));
}
