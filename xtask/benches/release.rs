//! `release` end to end, measured against the real Docker Engine, a local
//! registry and moto for ECR and ECS: `cargo bench --bench release`
//! (`-- --quick` for a smoke run).
//!
//! For a project of 3 services, then of 20, each with 2 MiB of content and a
//! Fargate task definition, three cases:
//! 1. full release: every service has fresh content (a new commit), so
//!    every image is built, pushed, registered, deployed and waited for;
//! 2. no-op release: the same commit again, which must change nothing;
//! 3. one service changed: a new commit changes one service's content.
//!
//! Each case is also done the way the replaced Makefile does it, in the same
//! run: per service `docker build`, `docker push`, `aws ecs
//! register-task-definition` and `aws ecs update-service
//! --force-new-deployment`, one after the other, and no wait (what such
//! scripts skip). The script knows nothing of what changed, so it does all
//! of it every time; the docker build cache is its only shortcut.
//!
//! The tool's own overhead is the CPU time (user and system) of the `xtask`
//! process as a share of its wall time: the rest is waiting on the engine,
//! the registry and the AWS endpoint.

// Each benchmark uses part of what the benchmarks share.
#[allow(dead_code)]
#[path = "support/pipeline.rs"]
mod pipeline;
#[allow(dead_code)]
#[path = "../tests/it/servers.rs"]
mod servers;
#[path = "support/mod.rs"]
mod support;
#[path = "../tests/it/tools.rs"]
mod tools;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use pipeline::{aws_env, command, docker_login, median, refresh_payloads, run_measured, Measured};
use support::git;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `--small`: the 3-service project only, e.g. to compare builders
    // (`XTASK_BUILDER=classic cargo bench -p xtask --bench release -- --small`).
    let small_only = std::env::args().any(|a| a == "--small");
    let s = servers::servers();
    let docker_config = docker_login(s.registry_port, servers::ECR_USER, servers::ECR_PASSWORD);
    let bench = Bench {
        binary: env!("CARGO_BIN_EXE_xtask"),
        registry_port: s.registry_port,
        moto_port: s.moto_port,
        docker_config: docker_config.path(),
        env: aws_env(s.moto_port),
    };
    println!("| services | case | runs | median | min | max | own CPU | script median | tool / script |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let small = bench.project(3, if quick { 1 } else { 5 }, true);
    // Quick mode proves the 20-service case runs; its script, 20 builds in
    // turn, adds minutes and nothing the 3-service case does not exercise.
    let large = if small_only { Vec::new() } else { bench.project(20, if quick { 1 } else { 3 }, !quick) };
    println!();
    for (n, results) in [(3, &small), (20, &large)] {
        for case in results {
            if let Some(ratio) = case.ratio() {
                println!("{n} services, {}: tool / script {ratio:.2}", case.name);
            }
        }
    }
    if quick {
        // CI runs this in the test profile: the verdicts below only prove the benchmark runs.
        let build = if cfg!(debug_assertions) { ", in a debug build" } else { "" };
        println!("quick mode: one run per case{build}; these figures are not the benchmark's");
    }
    let full = small[0].ratio();
    let noop = median(&small[1].tool.iter().map(|m| m.wall).collect::<Vec<_>>());
    verdict("full release of 3 services at least 2x faster than the script", full.is_some_and(|r| r <= 0.5));
    verdict("no-op release of 3 services under 300 ms", noop < Duration::from_millis(300));
    let share =
        large.first().map_or(small[0].own_share(), |large| small[0].own_share().max(large.own_share()));
    verdict(&format!("own overhead under 5% of a full release (worst: {:.1}%)", share * 100.0), share < 0.05);
    println!("a one-service change rebuilt, pushed, registered and deployed only that service: met (checked every run)");
}

fn verdict(target: &str, met: bool) {
    println!("{target}: {}", if met { "met" } else { "MISSED" });
}

struct Bench<'a> {
    binary: &'a str,
    registry_port: u16,
    moto_port: u16,
    docker_config: &'a Path,
    env: Vec<(String, String)>,
}

/// One case of one project: the tool's runs and the script's.
struct Case {
    name: &'static str,
    tool: Vec<Measured>,
    script: Vec<Duration>,
}

impl Case {
    fn ratio(&self) -> Option<f64> {
        if self.script.is_empty() {
            return None;
        }
        let tool: Vec<Duration> = self.tool.iter().map(|m| m.wall).collect();
        Some(median(&tool).as_secs_f64() / median(&self.script).as_secs_f64())
    }

    /// The median share of the tool's wall time it spent on the CPU itself.
    fn own_share(&self) -> f64 {
        let mut shares: Vec<f64> =
            self.tool.iter().map(|m| m.cpu.as_secs_f64() / m.wall.as_secs_f64()).collect();
        shares.sort_by(f64::total_cmp);
        shares[shares.len() / 2]
    }

    fn print(&self, services: usize) {
        let wall: Vec<Duration> = self.tool.iter().map(|m| m.wall).collect();
        let mut sorted = wall.clone();
        sorted.sort();
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
        let (script, ratio) = match self.ratio() {
            Some(ratio) => (ms(median(&self.script)), format!("{ratio:.2}")),
            None => ("not run".to_string(), "-".to_string()),
        };
        println!(
            "| {services} | {} | {} | {} | {} | {} | {:.1}% | {script} | {ratio} |",
            self.name,
            wall.len(),
            ms(median(&wall)),
            ms(sorted[0]),
            ms(sorted[sorted.len() - 1]),
            self.own_share() * 100.0
        );
    }
}

impl Bench<'_> {
    /// Measures the three cases on a fresh project of `n` services.
    fn project(&self, n: usize, rounds: usize, with_script: bool) -> Vec<Case> {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let prefix = format!("rel{}x{n}", std::process::id());
        let names: Vec<String> = (0..n).map(|i| format!("svc{i:02}")).collect();
        let services: Vec<&str> = names.iter().map(String::as_str).collect();
        write_project(root, self.registry_port, &prefix, &services);
        servers::create_ecs(self.moto_port, &prefix, &services);
        let release = ["release", "--env", "dev", "--poll-interval", "200ms"];
        let mut full = Case { name: "full release", tool: Vec::new(), script: Vec::new() };
        let mut noop = Case { name: "no-op release", tool: Vec::new(), script: Vec::new() };
        let mut one = Case { name: "one service changed", tool: Vec::new(), script: Vec::new() };
        for round in 0..rounds {
            refresh_payloads(root, &services, &format!("tool-{round}"));
            full.tool.push(run_measured(self.binary, root, &release, &self.env).measured);
            let again = run_measured(self.binary, root, &release, &self.env);
            assert_nothing_changed(&again.stdout);
            noop.tool.push(again.measured);
            refresh_payloads(root, &services[..1], &format!("one-{round}"));
            let changed = run_measured(self.binary, root, &release, &self.env);
            assert_only_first_changed(&changed.stdout, &services);
            one.tool.push(changed.measured);
            if with_script {
                refresh_payloads(root, &services, &format!("script-{round}"));
                full.script.push(self.script(root, &prefix, &services));
                noop.script.push(self.script(root, &prefix, &services));
                refresh_payloads(root, &services[..1], &format!("script-one-{round}"));
                one.script.push(self.script(root, &prefix, &services));
            }
        }
        let cases = vec![full, noop, one];
        for case in &cases {
            case.print(n);
        }
        cases
    }

    /// The replaced Makefile: every step of every service, in turn.
    fn script(&self, root: &Path, prefix: &str, services: &[&str]) -> Duration {
        let sha = git(root, &["rev-parse", "--short=12", "HEAD"]);
        let full_sha = git(root, &["rev-parse", "HEAD"]);
        let config = self.docker_config;
        let env = &self.env;
        let start = Instant::now();
        for service in services {
            let image = format!("127.0.0.1:{}/{prefix}/{service}:{sha}", self.registry_port);
            let revision = format!("org.opencontainers.image.revision={full_sha}");
            let context = format!("services/{service}");
            command(
                "docker",
                config,
                &["build", "-q", "--label", &revision, "-t", &image, &context],
                root,
                &[],
            );
            command("docker", config, &["push", "-q", &image], root, &[]);
            let definition = task_definition(prefix, service, &image);
            let register = ["ecs", "register-task-definition", "--cli-input-json", &definition];
            command("aws", config, &register, root, env);
            let family = format!("{prefix}-{service}");
            let update = ["ecs", "update-service", "--cluster", prefix, "--service", service];
            let update = [&update[..], &["--task-definition", &family, "--force-new-deployment"]].concat();
            command("aws", config, &update, root, env);
        }
        start.elapsed()
    }
}

/// A release of the same commit again built, pushed, registered and
/// deployed nothing (against moto answering like today's ECS, whose
/// defaults would otherwise register every definition again).
fn assert_nothing_changed(stdout: &str) {
    // Step results start at the margin; the plan printed before them is indented.
    let results = stdout.lines().filter(|line| !line.starts_with(' '));
    for line in results {
        let did = [" built ", " pushed ", " registered ", " -> "].iter().any(|did| line.contains(did));
        assert!(!did, "a no-op release did something ({line}):\n{stdout}");
    }
}

/// The release after a change to the first service did everything for it
/// and nothing for the others (a correctness check, not a timing one).
fn assert_only_first_changed(stdout: &str, services: &[&str]) {
    for (step, did) in
        [("build", " built "), ("push", " pushed "), ("register", " registered "), ("deploy", " -> ")]
    {
        let changed: Vec<&str> = services
            .iter()
            .copied()
            .filter(|service| {
                let prefix = format!("{step} {service} ");
                stdout.lines().any(|line| line.starts_with(&prefix) && line.contains(did))
            })
            .collect();
        assert_eq!(
            changed,
            [services[0]],
            "`{step}` changed {changed:?} after a change to {}:\n{stdout}",
            services[0]
        );
    }
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

fn write_project(root: &Path, registry_port: u16, prefix: &str, services: &[&str]) {
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
    for service in services {
        write(&format!("services/{service}/service.toml"), &format!("repository = \"{prefix}/{service}\"\n"));
        write(&format!("services/{service}/Dockerfile"), "FROM scratch\nCOPY payload /payload\n");
        write(&format!("templates/{service}.env.j2"), "GREETING=hello\n");
        write(&format!("templates/{service}.task.json.j2"), TEMPLATE);
    }
    write(".gitignore", "/services/*/*.env\n");
    git(root, &["init", "-q"]);
}
