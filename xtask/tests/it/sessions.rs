//! What a command finds before it changes anything: the AWS session and its
//! account, endpoints that do not answer, images the release does not build;
//! and the CI stages and doctor against the servers.

use serde_json::json;

use crate::ecs_project::*;
use crate::proxy::{Fault, Proxy};
use crate::servers::{create_ecs, ecs, servers, Moto};

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
