//! `release` end to end, measured against the real Docker Engine, a local
//! registry and moto for ECR and ECS: `cargo bench --bench release`
//! (`-- --quick` for a smoke run).
//!
//! Cases, three services each with a Fargate task definition:
//! 1. `xtask release` with fresh content (a new commit): build, push,
//!    register, deploy and wait for every service;
//! 2. the same done the way the replaced Makefile does it, one step after the
//!    other: `docker build`, `docker push`, `aws ecs register-task-definition`
//!    and `aws ecs update-service --force-new-deployment` per service (and no
//!    wait, which is what such scripts skip), measured in the same run;
//! 3. `xtask release` again with nothing changed (the no-op release).

#[path = "support/pipeline.rs"]
mod pipeline;
#[allow(dead_code)]
#[path = "../tests/it/servers.rs"]
mod servers;
#[path = "support/mod.rs"]
mod support;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use pipeline::{aws_env, command, docker_login, header, median, refresh_payloads, row, run};
use support::git;

const SERVICES: [&str; 3] = ["alpha", "beta", "gamma"];

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 5 };
    let s = servers::servers();
    let binary = env!("CARGO_BIN_EXE_xtask");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let prefix = format!("rel{}", std::process::id());
    project(root, s.registry_port, &prefix);
    let env = aws_env(s.moto_port);
    servers::create_ecs(s.moto_port, &prefix, &SERVICES);

    let docker_config = docker_login(s.registry_port, servers::ECR_USER, servers::ECR_PASSWORD);

    let release = ["release", "--env", "dev", "--poll-interval", "200ms"];
    let (mut tool, mut script) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        refresh_payloads(root, &SERVICES, &format!("tool-{round}"));
        let start = Instant::now();
        run(binary, root, &release, &env);
        tool.push(start.elapsed());

        refresh_payloads(root, &SERVICES, &format!("script-{round}"));
        let sha = git(root, &["rev-parse", "--short=12", "HEAD"]);
        let full_sha = git(root, &["rev-parse", "HEAD"]);
        let start = Instant::now();
        for service in SERVICES {
            let image = format!("127.0.0.1:{}/{prefix}/{service}:{sha}", s.registry_port);
            let revision = format!("org.opencontainers.image.revision={full_sha}");
            let context = format!("services/{service}");
            let config = docker_config.path();
            command(
                "docker",
                config,
                &["build", "-q", "--label", &revision, "-t", &image, &context],
                root,
                &[],
            );
            command("docker", config, &["push", "-q", &image], root, &[]);
            let definition = task_definition(&prefix, service, &image);
            command(
                "aws",
                config,
                &["ecs", "register-task-definition", "--cli-input-json", &definition],
                root,
                &env,
            );
            let family = format!("{prefix}-{service}");
            command(
                "aws",
                config,
                &[
                    "ecs",
                    "update-service",
                    "--cluster",
                    &prefix,
                    "--service",
                    service,
                    "--task-definition",
                    &family,
                ]
                .into_iter()
                .chain(["--force-new-deployment"])
                .collect::<Vec<_>>(),
                root,
                &env,
            );
        }
        script.push(start.elapsed());
    }
    // The tool's release of the last commit, so the no-op runs find it done.
    run(binary, root, &release, &env);
    let noop: Vec<Duration> = (0..if quick { 3 } else { 20 })
        .map(|_| {
            let start = Instant::now();
            run(binary, root, &release, &env);
            start.elapsed()
        })
        .collect();

    header();
    row("xtask release, 3 services, fresh content (with the wait)", &tool);
    row("docker build/push + aws register/update-service, in turn", &script);
    println!(
        "tool / script: {:.2} (target: at most 0.5)",
        median(&tool).as_secs_f64() / median(&script).as_secs_f64()
    );
    row("xtask release, nothing changed", &noop);
    println!("no-op release median: {:.0} ms (budget: under 1000 ms)", median(&noop).as_secs_f64() * 1e3);
}

const TEMPLATE: &str = r#"{
  "family": "{{ values.prefix }}-{{ service.name }}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [{ "name": "{{ service.name }}", "image": "{{ image }}", "environment": {{ service_env | tojson }} }]
}
"#;

/// What the replaced scripts send: the same definition, filled in by hand.
fn task_definition(prefix: &str, service: &str, image: &str) -> String {
    serde_json::json!({
        "family": format!("{prefix}-{service}"),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": service,
            "image": image,
            "environment": [{ "name": "GREETING", "value": "hello" }]
        }]
    })
    .to_string()
}

fn project(root: &Path, registry_port: u16, prefix: &str) {
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(
        "env/dev.toml",
        &format!(
            "region = \"us-east-1\"\naccount_id = \"123456789012\"\ncluster = \"{prefix}\"\n\
             registry = \"127.0.0.1:{registry_port}\"\n\n[values]\nprefix = \"{prefix}\"\n"
        ),
    );
    for service in SERVICES {
        write(&format!("services/{service}/service.toml"), &format!("repository = \"{prefix}/{service}\"\n"));
        write(&format!("services/{service}/Dockerfile"), "FROM scratch\nCOPY payload /payload\n");
        write(&format!("templates/{service}.env.j2"), "GREETING=hello\n");
        write(&format!("templates/{service}.task.json.j2"), TEMPLATE);
    }
    write(".gitignore", "/services/*/*.env\n");
    git(root, &["init", "-q"]);
}
