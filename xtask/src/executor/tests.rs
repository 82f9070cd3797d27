//! The executor's decisions on the scripted backend (`fake.rs`): what a
//! release skips, what it changes, when it rolls back and what it records.
//! A real project (templates, Dockerfiles, a git commit) in a temporary
//! folder; only the engine, the registry and ECS are scripted.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::fake::{Fake, Rollout, World};
use super::{Executor, Needs, Options, Parts, Summary};
use crate::git::Git;
use crate::plan;
use crate::program::Program;
use crate::project::Project;
use crate::render::{Scope, Secrets};
use crate::report::{Level, Reporter};
use crate::rollout::WaitOptions;
use crate::workspace::Workspace;

const ENV: &str = "region = \"eu-west-1\"\naccount_id = \"123456789012\"\ncluster = \"main\"\n";

/// A task definition template whose container reserves `memory` MiB.
fn template(name: &str, memory: u32) -> String {
    format!(
        r#"{{"family": "demo-{name}", "containerDefinitions": [{{"name": "{name}", "image": "{{{{ image }}}}",
        "essential": true, "memory": {memory}}}]}}"#
    )
}

/// A committed project of services, each deployed unless its service.toml says otherwise.
fn project(services: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("env/test.toml", ENV);
    for (name, settings) in services {
        write(&format!("services/{name}/Dockerfile"), "FROM scratch\nCOPY . /\n");
        write(&format!("services/{name}/service.toml"), settings);
        write(&format!("templates/{name}.task.json.j2"), &template(name, 512));
    }
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "first"]);
    dir
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn workspace(dir: &Path) -> Workspace {
    let project = Project::load(dir.to_path_buf()).unwrap();
    let environment = project.environment("test").unwrap();
    let git = Git::open(dir).unwrap();
    let revision = crate::identity::for_environment(&project, &environment, &git.revision(&project).unwrap());
    Workspace { project, environment, git, revision }
}

/// `cargo xtask release` of every service, on the scripted backend.
fn release(dir: &Path, fake: &Fake) -> anyhow::Result<Summary> {
    release_saying(dir, fake).0
}

/// A release, and every line it printed.
fn release_saying(dir: &Path, fake: &Fake) -> (anyhow::Result<Summary>, Vec<String>) {
    release_stopped_after(dir, fake, None)
}

/// A release that a Ctrl-C stops after `stop` (never with `None`), and every line it printed.
fn release_stopped_after(
    dir: &Path,
    fake: &Fake,
    stop: Option<Duration>,
) -> (anyhow::Result<Summary>, Vec<String>) {
    let workspace = workspace(dir);
    let services: Vec<_> = workspace.project.services.iter().collect();
    let plan = plan::release(&services, &services);
    let rendered = workspace.render(&services, Scope::Release, Secrets::Reveal).unwrap();
    let out = Reporter::recording(Level::Normal);
    let result = run(&workspace, &plan, rendered, fake, &out, stop);
    (result, out.lines())
}

/// A stop that comes after a pause, as Ctrl-C would; never without one.
struct StopAfter(Option<Duration>);

impl super::scheduler::Stop for StopAfter {
    async fn recv(&mut self) -> (&'static str, u8) {
        match self.0 {
            Some(pause) => tokio::time::sleep(pause).await,
            None => std::future::pending().await,
        }
        ("SIGINT", 130)
    }
}

fn run(
    workspace: &Workspace,
    plan: &plan::Plan,
    rendered: Vec<(&crate::project::Service, crate::render::Rendered)>,
    fake: &Fake,
    out: &Reporter,
    stop: Option<Duration>,
) -> anyhow::Result<Summary> {
    let program = Program::resolve(plan, workspace, &rendered)?;
    let needs = Needs::of(&program);
    let running: BTreeMap<(String, String), String> = needs
        .ecs_services
        .iter()
        .map(|(cluster, name)| {
            ((cluster.clone(), name.clone()), fake.world().services[name].task_definition.clone())
        })
        .collect();
    let parts = Parts {
        backend: fake.clone(),
        engine: needs.engine.then(|| fake.clone()),
        ecr: needs.registry.then(|| fake.clone()),
        ecs: needs.ecs.then(|| fake.clone()),
        running,
        located: BTreeMap::new(),
    };
    let options = Options {
        jobs: 4,
        force: false,
        force_deploy: false,
        wait: WaitOptions { timeout: Duration::from_secs(5), poll: Duration::from_millis(1) },
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let executor = Executor::assemble(&program, options, parts, None, out);
        executor.run_until(StopAfter(stop)).await
    })
}

/// The lines a run printed, its commit written `<commit>` and tag `<tag>`.
fn said(lines: &[String], dir: &Path) -> Vec<String> {
    let sha = workspace(dir).revision.sha;
    lines.iter().map(|l| l.replace(&sha, "<commit>").replace(&sha[..12], "<tag>")).collect()
}

/// The exit code a failed run ends with.
fn exit_code(error: &anyhow::Error) -> Option<u8> {
    error.downcast_ref::<crate::exit::Failed>().map(|f| f.code)
}

fn change_memory(dir: &Path, service: &str, memory: u32) {
    std::fs::write(dir.join(format!("templates/{service}.task.json.j2")), template(service, memory)).unwrap();
}

#[test]
fn a_first_release_builds_pushes_registers_and_deploys_each_service() {
    let dir = project(&[("api", ""), ("web", "")]);
    let fake = Fake::new(World::with_services(&["api", "web"]));
    let summary = release(dir.path(), &fake).unwrap();
    let world = fake.world();
    let mut calls = world.calls.clone();
    calls.sort();
    let tag = workspace(dir.path()).revision.image("api").image_tag.clone();
    let registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    assert_eq!(
        calls,
        [
            "build api".to_string(),
            "build web".to_string(),
            format!("push {registry}/api:{tag}"),
            format!("push {registry}/web:{tag}"),
            "register demo-api:1".to_string(),
            "register demo-web:1".to_string(),
            "update api demo-api:1".to_string(),
            "update web demo-web:1".to_string(),
        ]
    );
    assert_eq!(world.running("api"), "demo-api:1");
    assert_eq!(world.history("web"), ["demo-web:1 good"]);
    // The registered definition runs the pushed image by its digest.
    let image = world.task_definitions["demo-api"][0]["containerDefinitions"][0]["image"].as_str().unwrap();
    assert_eq!(image, format!("{registry}/api@{}", world.registry[&format!("{registry}/api:{tag}")]));
    assert!(summary.changed >= 8, "{summary:?}");
}

#[test]
fn releasing_the_same_commit_again_changes_nothing() {
    let dir = project(&[("api", ""), ("web", "")]);
    let fake = Fake::new(World::with_services(&["api", "web"]));
    release(dir.path(), &fake).unwrap();
    let calls_before = fake.world().calls.len();
    let (summary, lines) = release_saying(dir.path(), &fake);
    assert_eq!(summary.unwrap().changed, 0);
    assert_eq!(fake.world().calls.len(), calls_before, "{:?}", fake.world().calls);
    let registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    let digest = |n: u32| format!("sha256:{n:064x}");
    assert_eq!(
        said(&lines, dir.path()),
        [
            format!("build api          skipped: {registry}/api:<tag> exists (--force rebuilds it)"),
            format!("build web          skipped: {registry}/web:<tag> exists (--force rebuilds it)"),
            format!("registry-auth      token for {registry}"),
            "ensure-repo api    skipped: repository api exists".to_string(),
            "ensure-repo web    skipped: repository web exists".to_string(),
            format!("push api           skipped: {registry}/api:<tag> is in the registry ({})", digest(1)),
            format!("push web           skipped: {registry}/web:<tag> is in the registry ({})", digest(2)),
            "register api       skipped: demo-api:1 is identical".to_string(),
            "register web       skipped: demo-web:1 is identical".to_string(),
            "deploy api         skipped: api runs demo-api:1 already".to_string(),
            "deploy web         skipped: web runs demo-web:1 already".to_string(),
            "wait api           skipped: api runs demo-api:1 with 1/1 tasks, stable".to_string(),
            "wait web           skipped: web runs demo-web:1 with 1/1 tasks, stable".to_string(),
            "13 steps done in 0.0s".to_string(),
        ]
    );
}

#[test]
fn a_fresh_machine_reuses_the_images_the_registry_has_and_builds_nothing() {
    let dir = project(&[("api", ""), ("web", "")]);
    let fake = Fake::new(World::with_services(&["api", "web"]));
    release(dir.path(), &fake).unwrap();
    fake.world().engine_images.clear();
    fake.world().calls.clear();
    let summary = release(dir.path(), &fake).unwrap();
    assert_eq!(fake.world().calls, Vec::<String>::new());
    assert_eq!(summary.changed, 0);
}

#[test]
fn a_changed_task_definition_registers_and_deploys_only_its_service() {
    let dir = project(&[("api", ""), ("web", "")]);
    let fake = Fake::new(World::with_services(&["api", "web"]));
    release(dir.path(), &fake).unwrap();
    fake.world().calls.clear();
    change_memory(dir.path(), "api", 1024);
    release(dir.path(), &fake).unwrap();
    let world = fake.world();
    assert_eq!(world.calls, ["register demo-api:2", "update api demo-api:2"]);
    assert_eq!(world.running("web"), "demo-web:1");
    assert_eq!(world.history("api"), ["demo-api:1 good", "demo-api:2 good"]);
}

#[test]
fn a_failed_build_stops_only_the_steps_that_need_its_image() {
    let dir = project(&[("api", ""), ("web", "")]);
    let fake = Fake::new(World::with_services(&["api", "web"]));
    fake.world().failing_builds.insert("web".into());
    let error = release(dir.path(), &fake).unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.starts_with(
            "build web failed; not started because of it: push web, register web, deploy web, wait web"
        ),
        "{message}"
    );
    assert_eq!(exit_code(&error), None);
    let world = fake.world();
    assert_eq!(world.running("api"), "demo-api:1");
    assert_eq!(world.running("web"), "bootstrap-web:1");
}

#[test]
fn a_failing_before_deploy_command_deploys_nothing() {
    let dir = project(&[("api", "before_deploy = [\"migrate\", \"up\"]\n")]);
    let fake = Fake::new(World::with_services(&["api"]));
    fake.world().task_exit_codes = vec![1];
    let (result, lines) = release_saying(dir.path(), &fake);
    assert!(
        lines.contains(
            &"stderr: before-deploy api  FAILED: `migrate up` exited with 1 (task 0f3c9a1e), so nothing was deployed"
                .to_string()
        ),
        "{lines:#?}"
    );
    let error = result.unwrap_err();
    assert_eq!(exit_code(&error), Some(crate::exit::BEFORE_DEPLOY), "{error:#}");
    let message = format!("{error:#}");
    assert!(
        message.starts_with("before-deploy api failed; not started because of it: deploy api, wait api"),
        "{message}"
    );
    let world = fake.world();
    let ecs_calls: Vec<&String> =
        world.calls.iter().filter(|c| !c.starts_with("build") && !c.starts_with("push")).collect();
    assert_eq!(ecs_calls, ["register demo-api:1", "run-task api demo-api:1 migrate up"]);
    assert_eq!(world.running("api"), "bootstrap-api:1");
}

#[test]
fn a_passing_before_deploy_command_runs_between_register_and_deploy() {
    let dir = project(&[("api", "before_deploy = [\"migrate\"]\n")]);
    let fake = Fake::new(World::with_services(&["api"]));
    release(dir.path(), &fake).unwrap();
    let world = fake.world();
    let ecs_calls: Vec<&String> =
        world.calls.iter().filter(|c| !c.starts_with("build") && !c.starts_with("push")).collect();
    assert_eq!(
        ecs_calls,
        ["register demo-api:1", "run-task api demo-api:1 migrate", "update api demo-api:1"]
    );
}

#[test]
fn an_expired_registry_token_is_renewed_and_the_push_goes_on() {
    let dir = project(&[("api", "")]);
    let fake = Fake::new(World::with_services(&["api"]));
    fake.world().expired_tokens = 1;
    release(dir.path(), &fake).unwrap();
    let world = fake.world();
    let registry: Vec<&String> =
        world.calls.iter().filter(|c| c.starts_with("renew") || c.starts_with("push")).collect();
    assert_eq!(registry.len(), 2, "{:?}", world.calls);
    assert_eq!(registry[0], "renew");
    assert_eq!(world.running("api"), "demo-api:1");
}

#[test]
fn a_task_definition_running_another_services_image_waits_for_its_push_and_pins_it() {
    let dir = project(&[("api", ""), ("web", "")]);
    // web runs api's image beside its own (a sidecar), and api is the slower to build.
    let sidecar = r#"{"family": "demo-web", "containerDefinitions": [
        {"name": "web", "image": "{{ image }}", "essential": true, "memory": 512},
        {"name": "sidecar", "image": "{{ images['api'] }}", "essential": false, "memory": 128}]}"#;
    std::fs::write(dir.path().join("templates/web.task.json.j2"), sidecar).unwrap();
    git(dir.path(), &["commit", "-q", "-am", "web runs api beside it"]);
    let fake = Fake::new(World::with_services(&["api", "web"]));
    fake.world().slow_builds.insert("api".into());
    release(dir.path(), &fake).unwrap();
    let world = fake.world();
    let at = |call: &str| world.calls.iter().position(|c| c.starts_with(call)).unwrap();
    assert!(at("push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:") < at("register demo-web"));
    let containers = &world.task_definitions["demo-web"][0]["containerDefinitions"];
    let api_digest = world.registry.iter().find(|(r, _)| r.contains("/api:")).unwrap().1;
    assert_eq!(
        containers[1]["image"].as_str().unwrap(),
        format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/api@{api_digest}")
    );
}

mod rollbacks;
mod stops;
