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

#[allow(dead_code)]
#[path = "../tests/it/servers.rs"]
mod servers;
#[path = "support/mod.rs"]
mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    create_ecs(s.moto_port, &prefix);

    let docker_config = tempfile::tempdir().unwrap();
    let mut login = Command::new("docker")
        .args(["--config", docker_config.path().to_str().unwrap(), "login", "--username", servers::ECR_USER])
        .args(["--password-stdin", &format!("127.0.0.1:{}", s.registry_port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(login.stdin.as_mut().unwrap(), servers::ECR_PASSWORD.as_bytes()).unwrap();
    drop(login.stdin.take());
    assert!(login.wait().unwrap().success(), "docker login to the bench registry");

    let release = ["release", "--env", "dev", "--poll-interval", "200ms"];
    let (mut tool, mut script) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        refresh_payloads(root, &format!("tool-{round}"));
        let start = Instant::now();
        run(binary, root, &release, &env);
        tool.push(start.elapsed());

        refresh_payloads(root, &format!("script-{round}"));
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

    println!("{:<60} {:>6} {:>10} {:>10} {:>10}", "case", "runs", "median", "min", "max");
    row("xtask release, 3 services, fresh content (with the wait)", &tool);
    row("docker build/push + aws register/update-service, in turn", &script);
    println!(
        "tool / script: {:.2} (target: at most 0.5)",
        median(&tool).as_secs_f64() / median(&script).as_secs_f64()
    );
    row("xtask release, nothing changed", &noop);
    println!("no-op release median: {:.0} ms (budget: under 1000 ms)", median(&noop).as_secs_f64() * 1e3);
}

fn aws_env(moto_port: u16) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), format!("http://127.0.0.1:{moto_port}")),
        ("AWS_ACCESS_KEY_ID".into(), "bench".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "bench".into()),
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
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

/// The cluster and, per service, a bootstrap definition and a Fargate
/// service, as infrastructure code would have created them.
fn create_ecs(port: u16, prefix: &str) {
    let env = aws_env(port);
    let aws = |args: &[&str]| -> serde_json::Value {
        let out = Command::new("aws")
            .args(args)
            .args(["--output", "json"])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run the AWS CLI");
        assert!(out.status.success(), "aws {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    aws(&["ecs", "create-cluster", "--cluster-name", prefix]);
    let subnet = aws(&["ec2", "describe-subnets"])["Subnets"][0]["SubnetId"].as_str().unwrap().to_string();
    let group = aws(&["ec2", "describe-security-groups"])["SecurityGroups"][0]["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    for service in SERVICES {
        let definition = task_definition(prefix, service, "bootstrap:1");
        aws(&["ecs", "register-task-definition", "--cli-input-json", &definition]);
        let network = format!("awsvpcConfiguration={{subnets=[{subnet}],securityGroups=[{group}]}}");
        let family = format!("{prefix}-{service}");
        aws(&[
            "ecs",
            "create-service",
            "--cluster",
            prefix,
            "--service-name",
            service,
            "--task-definition",
            &family,
            "--desired-count",
            "1",
            "--launch-type",
            "FARGATE",
            "--network-configuration",
            &network,
        ]);
    }
}

/// Gives every service 2 MiB of content no image has yet, and commits it.
fn refresh_payloads(root: &Path, salt: &str) {
    for service in SERVICES {
        let mut payload = Vec::with_capacity(2 << 20);
        let mut state = salt
            .bytes()
            .chain(service.bytes())
            .fold(0x9e37_79b9_7f4a_7c15u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        while payload.len() < 2 << 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            payload.extend_from_slice(&state.to_le_bytes());
        }
        fs::write(root.join(format!("services/{service}/payload")), payload).unwrap();
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", salt]);
}

fn run(binary: &str, root: &Path, args: &[&str], env: &[(String, String)]) {
    let out = Command::new(binary)
        .args(args)
        .current_dir(root)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xtask {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the docker or AWS CLI the way a script does, failing loudly.
fn command(program: &str, docker_config: &Path, args: &[&str], root: &Path, env: &[(String, String)]) {
    let mut command = Command::new(program);
    if program == "docker" {
        command.arg("--config").arg(docker_config);
    }
    let out = command.args(args).current_dir(root).envs(env.iter().map(|(k, v)| (k, v))).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn row(case: &str, times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
    println!(
        "{case:<60} {:>6} {:>10} {:>10} {:>10}",
        times.len(),
        ms(median(times)),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1])
    );
}
