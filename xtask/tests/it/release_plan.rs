use crate::harness::Repo;

/// `api` is built FROM `base`; `api` and `web` deploy, `base` does not.
fn project_with_base() -> Repo {
    let repo = Repo::project();
    repo.write("services/base/Dockerfile", "FROM scratch\n");
    repo.write("services/base/service.toml", "prebuild = [\"sh\", \"rootfs.sh\"]\n");
    repo.write(
        "services/api/service.toml",
        "repository = \"demo/api\"\nafter = [\"base\"]\n\n[build_args]\nBASE = \"{{ images.base }}\"\n",
    );
    for service in ["api", "web"] {
        repo.write(
            &format!("templates/{service}.task.json.j2"),
            &crate::harness::minimal_task_definition(service),
        );
    }
    repo.commit();
    repo
}

#[test]
fn dry_run_prints_the_plan_in_stages() {
    let repo = project_with_base();
    let sha = repo.short_sha();
    // The last commit left web alone, so its image keeps the tag of the commit before.
    let web = repo.short_sha_of("HEAD~1");
    let run = repo.xtask(&["release", "--env", "dev", "--dry-run"]).success();
    // The api is built FROM the base: its tag carries the digest of that argument.
    let api = Repo::tag_with_args(&sha, &[("BASE", &format!("127.0.0.1:5000/base:{sha}"))]);
    let expected = format!(
        "release plan: env dev, commit {sha}, 3 services: api, base, web
region us-east-1, cluster local, registry 127.0.0.1:5000
stage 1 (3 in parallel)
  prebuild base     run `sh rootfs.sh` in services/base
  build web         services/web/Dockerfile (context services/web) for linux/amd64 -> 127.0.0.1:5000/web:{web}
  registry-auth     token for 127.0.0.1:5000
stage 2 (4 in parallel)
  build base        services/base/Dockerfile (context services/base) for linux/amd64 -> 127.0.0.1:5000/base:{sha}
  ensure-repo api   repository demo/api in us-east-1
  ensure-repo base  repository base in us-east-1
  ensure-repo web   repository web in us-east-1
stage 3 (3 in parallel)
  build api         services/api/Dockerfile (context services/api) for linux/amd64, --build-arg BASE -> 127.0.0.1:5000/demo/api:{api}
  push base         127.0.0.1:5000/base:{sha}, unless the registry has it
  push web          127.0.0.1:5000/web:{web}, unless the registry has it
stage 4 (2 in parallel)
  push api          127.0.0.1:5000/demo/api:{api}, unless the registry has it
  register web      task definition family demo-web (from templates/web.task.json.j2), image pinned to its digest, unless unchanged
stage 5 (2 in parallel)
  register api      task definition family demo-api (from templates/api.task.json.j2), image pinned to its digest, unless unchanged
  deploy web        ECS service web in cluster local, unless it runs the revision already
stage 6 (2 in parallel)
  deploy api        ECS service api in cluster local, unless it runs the revision already
  wait web          until the rollout completes with every task running, else roll back
stage 7
  wait api          until the rollout completes with every task running, else roll back
dry run: nothing was changed
"
    );
    assert_eq!(run.stdout, expected);
    assert_eq!(run.stderr, "");
}

/// `build`, `push` and `deploy` show their plans as `release` does, and
/// change nothing (no engine, registry or AWS is asked: none is running for
/// this test's project).
#[test]
fn build_push_and_deploy_print_their_plans_with_dry_run() {
    let repo = project_with_base();
    let sha = repo.short_sha();
    let web = repo.short_sha_of("HEAD~1");
    let api = Repo::tag_with_args(&sha, &[("BASE", &format!("127.0.0.1:5000/base:{sha}"))]);
    let head = |command: &str, services: &str| {
        format!(
            "{command} plan: env dev, commit {sha}, {services}\nregion us-east-1, cluster local, registry 127.0.0.1:5000\n"
        )
    };
    let build = repo.xtask(&["build", "--dry-run", "--service", "api"]).success();
    assert_eq!(
        build.stdout,
        head("build", "2 services: api, base")
            + &format!(
                "stage 1
  prebuild base  run `sh rootfs.sh` in services/base
stage 2
  build base     services/base/Dockerfile (context services/base) for linux/amd64 -> 127.0.0.1:5000/base:{sha}
stage 3
  build api      services/api/Dockerfile (context services/api) for linux/amd64, --build-arg BASE -> 127.0.0.1:5000/demo/api:{api}
dry run: nothing was changed
"
            )
    );
    let push = repo.xtask(&["push", "--env", "dev", "--dry-run", "--service", "web"]).success();
    assert_eq!(
        push.stdout,
        head("push", "1 service: web")
            + &format!(
                "stage 1 (2 in parallel)
  build web        services/web/Dockerfile (context services/web) for linux/amd64 -> 127.0.0.1:5000/web:{web}
  registry-auth    token for 127.0.0.1:5000
stage 2
  ensure-repo web  repository web in us-east-1
stage 3
  push web         127.0.0.1:5000/web:{web}, unless the registry has it
dry run: nothing was changed
"
            )
    );
    let deploy = repo.xtask(&["deploy", "--env", "dev", "--dry-run", "--service", "web"]).success();
    assert_eq!(
        deploy.stdout,
        head("deploy", "1 service: web")
            + &format!(
                "stage 1
  registry-auth  token for 127.0.0.1:5000
stage 2
  locate web     127.0.0.1:5000/web:{web} must be in the registry
stage 3
  register web   task definition family demo-web (from templates/web.task.json.j2), image pinned to its digest, unless unchanged
stage 4
  deploy web     ECS service web in cluster local, unless it runs the revision already
stage 5
  wait web       until the rollout completes with every task running, else roll back
dry run: nothing was changed
"
            )
    );
    let json = repo.xtask(&["deploy", "--env", "dev", "--dry-run", "--json"]).success();
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (plan["command"].as_str(), plan["services"].as_array().map(Vec::len)),
        (Some("deploy"), Some(2))
    );
}

#[test]
fn run_prints_its_plan_with_dry_run() {
    let repo = project_with_base();
    let web = repo.short_sha_of("HEAD~1");
    let run =
        repo.xtask(&["run", "--env", "dev", "--service", "web", "--dry-run", "--", "migrate"]).success();
    assert_eq!(
        run.stdout,
        format!(
            "run plan: env dev, commit {}, 1 service: web\nregion us-east-1, cluster local, registry 127.0.0.1:5000
stage 1
  registry-auth  token for 127.0.0.1:5000
stage 2
  locate web     127.0.0.1:5000/web:{web} must be in the registry
stage 3
  register web   task definition family demo-web (from templates/web.task.json.j2), image pinned to its digest, unless unchanged
stage 4
  run web        a one-off task of the service's task definition, followed until it stops
dry run: nothing was changed
",
            repo.short_sha(),
        )
    );
}

#[test]
fn dry_run_json_is_the_plan_the_text_shows() {
    let repo = project_with_base();
    repo.git(&["tag", "v1.4.0"]);
    let text = repo.xtask(&["release", "--env", "dev", "--dry-run"]).success().stdout;
    let head = format!(
        "release plan: env dev, commit {} (tags v1.4.0), 3 services: api, base, web\n",
        repo.short_sha()
    );
    assert!(text.starts_with(&head), "{text}");
    let json = repo.xtask(&["release", "--env", "dev", "--dry-run", "--json"]).success();
    assert_eq!(json.stderr, "");
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!((plan["version"].as_u64(), plan["command"].as_str()), (Some(1), Some("release")));
    assert_eq!((plan["dry_run"].as_bool(), plan["env"].as_str()), (Some(true), Some("dev")));
    assert_eq!(plan["services"], serde_json::json!(["api", "base", "web"]));
    assert_eq!(plan["tags"], serde_json::json!(["v1.4.0"]));
    assert_eq!(plan["images"]["base"], format!("127.0.0.1:5000/base:{}", repo.short_sha()));
    // Stage by stage, the same steps with the same words as the plain plan.
    let mut from_json = String::new();
    for (number, stage) in plan["stages"].as_array().unwrap().iter().enumerate() {
        from_json += &format!("stage {}\n", number + 1);
        for step in stage.as_array().unwrap() {
            from_json +=
                &format!("{} | {}\n", step["step"].as_str().unwrap(), step["detail"].as_str().unwrap());
        }
    }
    let mut from_text = String::new();
    for line in text.lines().filter(|l| l.starts_with("stage ") || l.starts_with("  ")) {
        match line.strip_prefix("  ") {
            Some(step) => {
                let (name, detail) = step.split_once("  ").unwrap();
                from_text += &format!("{} | {}\n", name.trim(), detail.trim());
            }
            None => from_text += &format!("{}\n", line.split(" (").next().unwrap()),
        }
    }
    assert_eq!(from_json, from_text);
    let build_api = plan["stages"][2].as_array().unwrap().iter().find(|s| s["step"] == "build api").unwrap();
    assert_eq!((build_api["verb"].as_str(), build_api["service"].as_str()), (Some("build"), Some("api")));
    assert_eq!(build_api["after"], serde_json::json!(["build base"]));
    // --json shows a plan, so it goes with --dry-run only.
    let alone = repo.xtask(&["release", "--env", "dev", "--json"]).exit(2);
    assert!(alone.stderr.contains("required arguments were not provided:\n  --dry-run"), "{}", alone.stderr);
}

#[test]
fn one_service_brings_its_base_image_but_deploys_alone() {
    let repo = project_with_base();
    let run = repo.xtask(&["release", "--env", "dev", "--service", "api", "--dry-run"]).success();
    assert!(run.stdout.starts_with(&format!(
        "release plan: env dev, commit {}, 2 services: api, base\n",
        repo.short_sha()
    )));
    assert!(run.stdout.contains("  build base "));
    assert!(run.stdout.contains("  deploy api "));
    assert!(!run.stdout.contains(" web"), "{}", run.stdout);
}

#[test]
fn cycle_between_services_is_reported_with_its_path() {
    let repo = Repo::project();
    repo.write("services/api/service.toml", "after = [\"web\"]\n");
    repo.write("services/web/service.toml", "after = [\"api\"]\n");
    let run = repo.xtask(&["release", "--env", "dev", "--dry-run"]).failure();
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: dependency cycle: build api -> build web -> build api; check `after` in the services' service.toml\n"
    );
}

#[test]
fn dry_run_reports_template_problems_before_any_plan() {
    let repo = project_with_base();
    repo.write(
        "services/api/service.toml",
        "after = [\"base\"]\n\n[build_args]\nBASE = \"{{ images.bsae }}\"\n",
    );
    let run = repo.xtask(&["release", "--env", "dev", "--dry-run"]).failure();
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: 1 template problem found, nothing was written:\n  \
         services/api/service.toml: build_args.BASE: undefined value: `images.bsae` is undefined\n"
    );
}

#[test]
fn a_protected_environment_needs_consent_and_a_dirty_tree_needs_saying_so() {
    let repo = Repo::project();
    // A deployed service, so that rollback gets as far as asking for consent.
    repo.write("templates/api.task.json.j2", &crate::harness::minimal_task_definition("api"));
    repo.write(
        "env/prod.toml",
        &crate::harness::DEV_TOML.replace("cluster = \"local\"", "cluster = \"prod\"\nprotected = true"),
    );
    repo.commit();
    let run = repo.xtask(&["release", "--env", "prod"]).failure();
    assert!(
        run.stderr.ends_with(
            "error: env prod is protected (`protected = true` in env/prod.toml): pass --yes to go ahead; in CI, \
             CI=true counts as yes\n"
        ),
        "{}",
        run.stderr
    );
    let run = repo.xtask(&["rollback", "--env", "prod", "--service", "api"]).failure();
    assert!(run.stderr.contains("env prod is protected"), "{}", run.stderr);

    repo.write("services/api/notes.txt", "uncommitted\n");
    let run = repo.xtask(&["release", "--env", "dev"]).failure();
    assert_eq!(
        run.stderr,
        format!(
            "error: the working tree has uncommitted changes that reach the image of api ({}-dirty), tagged with \
             no commit that explains them; commit or stash them, or pass --allow-dirty\n",
            repo.short_sha()
        )
    );
    // A change that reaches no image (a template) is refused too, and says so.
    repo.git(&["checkout", "--", "."]);
    std::fs::remove_file(repo.path().join("services/api/notes.txt")).unwrap();
    repo.write("templates/web.env.j2", "API_IMAGE={{ images.api }}\nMODE=x\n");
    let run = repo.xtask(&["release", "--env", "dev"]).failure();
    assert_eq!(
        run.stderr,
        "error: the working tree has uncommitted changes (to no image's inputs: templates, settings or other \
         files), which would be released without a commit that explains them; commit or stash them, or pass \
         --allow-dirty\n"
    );
}

#[test]
fn an_image_is_tagged_with_the_last_commit_that_changed_what_it_is_built_from() {
    // The API is built from the whole project (context "../.."), web from its folder.
    let repo = Repo::project();
    repo.write(
        "services/api/service.toml",
        "context = \"../..\"\ndockerfile = \"services/api/Dockerfile\"\n",
    );
    repo.commit();
    repo.write("notes.txt", "a file outside both service folders\n");
    repo.commit();
    let plan = repo.xtask(&["release", "--env", "dev", "--dry-run"]).success().stdout;
    let line = |step: &str| plan.lines().find(|l| l.trim_start().starts_with(step)).unwrap().to_string();
    assert!(line("build api ").ends_with(&format!("/api:{}", repo.short_sha())), "{plan}");
    assert!(line("build web ").ends_with(&format!("/web:{}", repo.short_sha_of("HEAD~2"))), "{plan}");
}

#[test]
fn a_release_renders_an_env_template_only_when_a_task_definition_reads_it() {
    // The env file reads a value from a developer's machine that CI does not have.
    let repo = project_with_base();
    repo.write(
        "templates/api.env.j2",
        "GREETING={{ values.greeting }}\nLOCAL_USER={{ env(\"LOCAL_USER\") }}\n",
    );
    repo.commit();
    let run = repo.xtask(&["release", "--env", "dev", "--dry-run"]).success();
    assert!(run.stdout.contains("demo-api (from templates/api.task.json.j2), image"), "{}", run.stdout);

    // Once the task definition reads it (`service_env`), the release needs it.
    repo.write(
        "templates/api.task.json.j2",
        "{\"family\": \"demo-api\", \"containerDefinitions\": [{\"name\": \"api\", \"image\": \"{{ image }}\", \
         \"memory\": 128, \"environment\": {{ service_env | tojson }}}]}\n",
    );
    repo.commit();
    let run = repo.xtask(&["release", "--env", "dev", "--dry-run"]).failure();
    assert_eq!(
        run.stderr,
        "error: 1 template problem found, nothing was written:\n  process variable LOCAL_USER is not set \
         (required by templates/api.env.j2); export it, or give the template a default: env(\"LOCAL_USER\", \
         default=\"...\")\n"
    );
    let run = repo.xtask_with(&["release", "--env", "dev", "--dry-run"], &[("LOCAL_USER", "dev-user")]);
    let run = run.success();
    assert!(
        run.stdout.contains("demo-api (from templates/api.env.j2, templates/api.task.json.j2), image"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_long_step_says_it_is_still_running_when_there_is_no_terminal() {
    let repo = Repo::project();
    repo.write("services/api/service.toml", "prebuild = [\"sh\", \"-c\", \"sleep 2.6\"]\n");
    repo.commit();
    let run = repo.xtask_with(&["build", "--service", "api"], &[("XTASK_HEARTBEAT", "1s")]).success();
    // The build itself may take long enough to say so too; the prebuild's lines are checked.
    let beats: Vec<&str> =
        run.stdout.lines().filter(|l| l.starts_with("prebuild api       still ")).collect();
    // When each beat lands depends on the machine's load; their shape does not.
    assert!(!beats.is_empty(), "no heartbeat:\n{}", run.stdout);
    for beat in &beats {
        let seconds = beat
            .strip_prefix("prebuild api       still running its prebuild (")
            .and_then(|r| r.strip_suffix("s)"));
        assert!(seconds.is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)), "{beat}");
    }
    assert!(beats.len() <= 3, "one heartbeat a second, not more: {beats:?}");
    let finished = run.stdout.lines().position(|l| l.starts_with("prebuild api       ran ")).unwrap();
    let first_beat = run.stdout.lines().position(|l| l.starts_with("prebuild api       still ")).unwrap();
    assert!(first_beat < finished, "{}", run.stdout);
}
