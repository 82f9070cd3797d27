//! `release`, `deploy`, `diff`, `status` and `rollback` against the real
//! Docker Engine, the local registry and moto for ECR and ECS: what lands,
//! what a second run skips, and a change to one service.

use crate::ecs_project::*;
use crate::servers::{ecs, servers};

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
        &ecs(moto, "DescribeTaskDefinition", serde_json::json!({ "taskDefinition": format!("{app}:2") }))
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
    let tags = ecs(moto, "ListTagsForResource", serde_json::json!({ "resourceArn": arn }))["tags"].clone();
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

    // A dry run prints the rollback's program: where it would go, and that
    // its images are there. It changes nothing.
    let plan = p.xtask(&["rollback", "--env", "dev", "--service", "app", "--dry-run"], moto).success();
    let registry = p.image("app").split('/').next().unwrap().to_string();
    assert_eq!(
        plan.stdout,
        format!(
            "rollback plan: env dev, commit {head}, 1 service: app\nregion us-east-1, cluster {cluster}, registry \
             {registry}\nstage 1\n  deploy app  ECS service app in cluster {cluster}: {app}:3 -> {app}:2 (image commit \
             {short}), whose images are in their registry\nstage 2\n  wait app    until the rollout completes with \
             every task running; record it in the history\ndry run: nothing was changed\n",
            head = &p.sha()[..12],
            cluster = p.prefix
        )
    );
    let json =
        p.xtask(&["rollback", "--env", "dev", "--service", "app", "--dry-run", "--json"], moto).success();
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (document["command"].as_str(), document["images"].clone()),
        (Some("rollback"), serde_json::json!({}))
    );
    assert_eq!(document["stages"][1][0]["after"], serde_json::json!(["deploy app"]));
    let forced =
        p.xtask(&["rollback", "--env", "dev", "--service", "app", "--dry-run", "--force"], moto).success();
    assert!(forced
        .stdout
        .contains(&format!("{app}:2 (image commit {short}), its images not looked for (--force)\n")));
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
        let found = ecs(moto, "DescribeTaskDefinition", serde_json::json!({ "taskDefinition": revision }));
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
