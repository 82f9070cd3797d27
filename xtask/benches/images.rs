//! Build and push, measured against the real Docker Engine, a local registry
//! and moto: `cargo bench --bench images` (`-- --quick` for a smoke run).
//!
//! Cases:
//! 1. `xtask push` of three services with fresh content, against the same
//!    builds and pushes done by the docker CLI one after the other (what a
//!    Makefile does), in the same run; the ratio is tool / CLI. The tool is
//!    also run with `--jobs 1`, one step at a time like the CLI, which
//!    isolates its own overhead from what parallelism gains.
//! 2. `xtask push` again with nothing changed (the no-op rerun).
//! 3. Peak resident memory of `xtask build` on a 1 GiB build context.

// Each benchmark uses part of what the benchmarks share.
#[allow(dead_code)]
#[path = "support/pipeline.rs"]
mod pipeline;
// Shared with the tests, which use more of it than this benchmark does.
#[allow(dead_code)]
#[path = "../tests/it/servers.rs"]
mod servers;
#[path = "support/mod.rs"]
mod support;
#[path = "../tests/it/tools.rs"]
mod tools;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipeline::{aws_env, command, docker_login, header, median, refresh_payloads, row, run};
use support::git;

const SERVICES: [&str; 3] = ["alpha", "beta", "gamma"];

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 5 };
    let big_context_mib: usize = if quick { 16 } else { 1024 };
    let s = servers::servers();
    let binary = env!("CARGO_BIN_EXE_xtask");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let prefix = format!("bench{}", std::process::id());
    project(root, s.registry_port, &prefix);
    let env = aws_env(s.moto_port);

    let docker_config = docker_login(s.registry_port, servers::ECR_USER, servers::ECR_PASSWORD);

    let (mut tool, mut sequential, mut cli) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Fresh content and a fresh commit: every image is new to the engine and the registry.
        refresh_payloads(root, &SERVICES, &format!("tool-{round}"));
        let start = Instant::now();
        run(binary, root, &["push", "--env", "dev"], &env);
        tool.push(start.elapsed());

        // One step at a time, like the CLI below: the tool's own overhead.
        refresh_payloads(root, &SERVICES, &format!("sequential-{round}"));
        let start = Instant::now();
        run(binary, root, &["push", "--env", "dev", "--jobs", "1"], &env);
        sequential.push(start.elapsed());

        refresh_payloads(root, &SERVICES, &format!("cli-{round}"));
        let sha = git_short_sha(root);
        let full_sha = git(root, &["rev-parse", "HEAD"]);
        let start = Instant::now();
        for service in SERVICES {
            let image = format!("127.0.0.1:{}/{prefix}/{service}:{sha}", s.registry_port);
            // The same build the tool asks for: platform and OCI labels included.
            let revision = format!("org.opencontainers.image.revision={full_sha}");
            let created = format!("org.opencontainers.image.created={}", rfc3339_now());
            let context = format!("services/{service}");
            command(
                "docker",
                docker_config.path(),
                &[
                    "build",
                    "-q",
                    "--platform",
                    "linux/amd64",
                    "--label",
                    &revision,
                    "--label",
                    &created,
                    "-t",
                    &image,
                    &context,
                ],
                root,
                &[],
            );
        }
        for service in SERVICES {
            let image = format!("127.0.0.1:{}/{prefix}/{service}:{sha}", s.registry_port);
            command("docker", docker_config.path(), &["push", "-q", &image], root, &[]);
        }
        cli.push(start.elapsed());
    }

    let noop_runs = if quick { 3 } else { 20 };
    let noop: Vec<Duration> = (0..noop_runs)
        .map(|_| {
            let start = Instant::now();
            run(binary, root, &["push", "--env", "dev"], &env);
            start.elapsed()
        })
        .collect();

    let (tool_median, cli_median) = (median(&tool), median(&cli));
    header();
    row(&format!("xtask push, {} services, fresh content", SERVICES.len()), &tool);
    row(&format!("xtask push --jobs 1, {} services, fresh content", SERVICES.len()), &sequential);
    row("docker build + docker push, one after the other", &cli);
    println!("tool / CLI: {:.2} (budget: at most 1.2)", tool_median.as_secs_f64() / cli_median.as_secs_f64());
    println!("tool --jobs 1 / CLI: {:.2}", median(&sequential).as_secs_f64() / cli_median.as_secs_f64());
    row("xtask push, nothing changed", &noop);

    let peak = big_context_peak(binary, root, big_context_mib, s.registry_port, &env);
    println!(
        "peak memory of xtask build, {big_context_mib} MiB context: {:.1} MiB (budget: under 150)",
        peak as f64 / 1024.0
    );
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
            "region = \"us-east-1\"\naccount_id = \"123456789012\"\ncluster = \"bench\"\n\
             registry = \"127.0.0.1:{registry_port}\"\n"
        ),
    );
    for service in SERVICES {
        write(&format!("services/{service}/service.toml"), &format!("repository = \"{prefix}/{service}\"\n"));
        write(&format!("services/{service}/Dockerfile"), "FROM scratch\nCOPY payload /payload\n");
    }
    git(root, &["init", "-q"]);
}

/// Peak resident set of `xtask build` on a service whose context is `mib` MiB.
fn big_context_peak(
    binary: &str,
    root: &Path,
    mib: usize,
    registry_port: u16,
    env: &[(String, String)],
) -> u64 {
    let dir = root.join("services/big");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("Dockerfile"), "FROM scratch\nCOPY . /data/\n").unwrap();
    fs::write(dir.join("service.toml"), format!("repository = \"bench{}/big\"\n", std::process::id()))
        .unwrap();
    let chunk = vec![7u8; 1 << 20];
    for file in 0..mib.div_ceil(64) {
        let mut data = Vec::with_capacity(64 << 20);
        for _ in 0..64.min(mib - file * 64) {
            data.extend_from_slice(&chunk);
        }
        fs::write(dir.join(format!("part{file:02}")), data).unwrap();
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "big"]);
    let mut child = Command::new(binary)
        .args(["build", "--service", "big"])
        .current_dir(root)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // VmHWM is the kernel's own high-water mark of the resident set, so the
    // last reading before the process ends is its peak.
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    loop {
        if let Ok(status) = fs::read_to_string(&status_file) {
            if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
                peak_kib = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(child.wait().unwrap().success(), "xtask build of the big context failed");
    let image = format!("127.0.0.1:{registry_port}/bench{}/big:{}", std::process::id(), git_short_sha(root));
    let _ = Command::new("docker").args(["image", "rm", "-f", &image]).output();
    fs::remove_dir_all(&dir).unwrap();
    peak_kib
}

fn git_short_sha(root: &Path) -> String {
    git(root, &["rev-parse", "--short=12", "HEAD"])
}

fn rfc3339_now() -> String {
    let out = Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
